# Why: package marker so Django finds `manage.py seed`.
