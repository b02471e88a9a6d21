# Why: package marker so Django finds the presence app's management commands.
