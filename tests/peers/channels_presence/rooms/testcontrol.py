# Why: the loopback-only /__test__/ control API of the django-channels-presence peer,
# guarded by X-Test-Control: kith like the Django peer's. A friend "joins" the room
# through the library's own API, Room.objects.add with a channel name of their own
# (as a socket of theirs would), and "leaves" with Room.objects.remove; both fire
# presence_changed, whose receiver has broadcast the member list before the answer.
import ipaddress
import json

from channels_presence.models import Room
from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_POST
from presence import state

from rooms.consumers import ROOM


def _allowed(request):
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        loopback = False
    return loopback and request.headers.get("X-Test-Control") == "kith"


def _forbidden():
    return JsonResponse({"detail": "test control is loopback-only and needs X-Test-Control: kith"}, status=403)


def _user(request):
    """(user, error response) for a JSON body {"username": …}."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None, JsonResponse({"detail": "body must be JSON"}, status=400)
    username = body.get("username") if isinstance(body, dict) else None
    if not isinstance(username, str):
        return None, JsonResponse({"detail": "need a string field username"}, status=400)
    try:
        return get_user_model().objects.get(username=username), None
    except get_user_model().DoesNotExist:
        return None, JsonResponse({"detail": "unknown user"}, status=404)


def _channel_of(user):
    return f"kith-test.{user.username}"


@require_POST
def join(request):
    """POST {"username"} -> {"ok": true}: the user is present in the room."""
    if not _allowed(request):
        return _forbidden()
    user, error = _user(request)
    if error:
        return error
    Room.objects.add(ROOM, _channel_of(user), user)
    return JsonResponse({"ok": True})


@require_POST
def leave(request):
    """POST {"username"} -> {"ok": true}: the user's presence is removed."""
    if not _allowed(request):
        return _forbidden()
    user, error = _user(request)
    if error:
        return error
    Room.objects.remove(ROOM, _channel_of(user))
    return JsonResponse({"ok": True})


@require_GET
def counters(request):
    """GET -> the Django peer's counters (logins, refreshes, refresh_reuse, connects, …)."""
    if not _allowed(request):
        return _forbidden()
    return JsonResponse(state.counters())
