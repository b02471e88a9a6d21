#!/usr/bin/env bash
# Why: one command the Kith test harness runs to start the django-channels-presence
# peer: migrate the SQLite DB under $DATA_DIR, seed the test users (the Django peer's
# seed command), then exec daphne on 127.0.0.1:$PORT (ready once that port accepts
# TCP). Interpreter: $PYTHON, default python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PY="${PYTHON:-python3}"
: "${PORT:?set PORT to the TCP port to listen on}"
export DATA_DIR="${DATA_DIR:-${TMPDIR:-/tmp}/kith-channels-presence-peer}"
export DJANGO_SETTINGS_MODULE=roompeer.settings
# Don't leave __pycache__ folders in the repo.
export PYTHONDONTWRITEBYTECODE=1
export PYTHONUNBUFFERED=1

mkdir -p "$DATA_DIR"
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py seed -v 0
exec "$PY" -m daphne -b 127.0.0.1 -p "$PORT" roompeer.asgi:application
