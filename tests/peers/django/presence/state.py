# Why: process-local state the tests inspect or drive: each user's presence status
# (everyone starts "offline", or as $KITH_PEER_STATUSES says, e.g. "carol=away") and
# the request/connection counters behind GET /__test__/counters. In memory on
# purpose: it resets on every start.
import os
import threading
from datetime import datetime, timezone

_lock = threading.Lock()

_STARTED_AT = datetime.now(timezone.utc)

# username -> (status, last_seen as an aware UTC datetime)
_statuses = {
    name.strip(): (status.strip(), _STARTED_AT)
    for name, _, status in (
        pair.partition("=") for pair in os.environ.get("KITH_PEER_STATUSES", "").split(",")
    )
    if name.strip() and status.strip()
}

_counters = {
    "logins": 0,
    "refreshes": 0,
    "refresh_reuse": 0,
    "connects": 0,
    "rejected_connects": 0,
    "friend_lists": 0,
}


def format_ts(dt):
    """Fixed-width UTC timestamp: 2026-11-22T09:00:00.123456Z."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def get_status(username):
    """(status, last_seen string) for a user; unknown users are offline since start."""
    with _lock:
        status, last_seen = _statuses.get(username, ("offline", _STARTED_AT))
    return status, format_ts(last_seen)


def set_status(username, status):
    """Record a new status now; returns the last_seen string that goes on the wire."""
    now = datetime.now(timezone.utc)
    with _lock:
        _statuses[username] = (status, now)
    return format_ts(now)


def incr(name):
    with _lock:
        _counters[name] += 1


def counters():
    with _lock:
        return dict(_counters)
