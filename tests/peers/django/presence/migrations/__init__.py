# Why: package marker for the presence app's migrations.
