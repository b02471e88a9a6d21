# Why: Django app config for "presence" (needed so its model and management command load).
from django.apps import AppConfig


class PresenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "presence"
