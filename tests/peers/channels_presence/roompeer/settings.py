# Why: Django settings of the django-channels-presence test peer: the Django peer's
# auth (DRF + SimpleJWT with rotation and blacklist, its "presence" app for users,
# the JWT query-string middleware, the auth views and counters) reused from
# tests/peers/django, plus the channels_presence library and the small "rooms" app
# that uses it as its README shows. SQLite under $DATA_DIR, in-memory channel layer.
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# The Django peer's "presence" app (users, friendships, auth views, counters).
sys.path.insert(0, str(BASE_DIR.parent / "django"))

DATA_DIR = Path(os.environ.get("DATA_DIR") or os.path.join(tempfile.gettempdir(), "kith-channels-presence-peer"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Fixed key on purpose: a throwaway test peer, and a stable key keeps refresh tokens
# valid across a restart. Never reuse it anywhere real.
SECRET_KEY = "kith-test-peer-not-a-secret-channels-presence-7c2e9d41"

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "channels",
    "channels_presence",
    "presence",
    "rooms",
]

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]
APPEND_SLASH = False

ROOT_URLCONF = "roompeer.urls"
ASGI_APPLICATION = "roompeer.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "db.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

TEMPLATES = []

CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
}

# The library's default: presences not touched for a minute may be pruned (the peer
# never prunes; Kith's sockets are closed cleanly or the test restarts the peer).
CHANNELS_PRESENCE_MAX_AGE = 60

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.AllowAny",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=int(os.environ.get("ACCESS_TTL_SECONDS") or 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
    },
}
