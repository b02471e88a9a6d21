# Why: the "rooms" app of the django-channels-presence peer; ready() connects the
# presence_changed receiver (rooms/signals.py), as Django apps connect signals.
from django.apps import AppConfig


class RoomsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rooms"

    def ready(self):
        from rooms import signals  # noqa: F401
