# Why: Django settings for the Kith integration-test backend peer: DRF + SimpleJWT
# (rotating, blacklisting refresh tokens), Channels with an in-memory layer, and
# a SQLite database under $DATA_DIR so users and the token blacklist survive a restart.
import os
import tempfile
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Where the SQLite database lives; kept across restarts that reuse the same DATA_DIR.
DATA_DIR = Path(os.environ.get("DATA_DIR") or os.path.join(tempfile.gettempdir(), "kith-django-peer"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Fixed key on purpose: this is a throwaway test peer, and a stable key keeps
# refresh tokens valid across a restart. Never reuse it anywhere real.
SECRET_KEY = "kith-test-peer-not-a-secret-3b1f0c6e9a2d4f58b7c1e0d9a8f7e6d5"

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "channels",
    "presence",
]

# API-only peer: no sessions, no CSRF (JWT in headers). CommonMiddleware stays
# so ALLOWED_HOSTS is enforced; slash redirects are off.
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]
APPEND_SLASH = False

ROOT_URLCONF = "kithpeer.urls"
ASGI_APPLICATION = "kithpeer.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "db.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Test passwords are all "pw"; a fast hasher keeps login cheap in the test suite.
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

# Quiet-ish: warnings and errors only, on stderr. Applied when daphne imports the
# ASGI app, so it also silences daphne's INFO start-up lines.
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
        # Expected 4xx answers (bad credentials, reused tokens) are not worth a line.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
    },
}
