# Why: the loopback-only /__test__/ control API the Kith test harness drives:
# set a user's status (broadcast to their friends' groups before answering) and
# read the in-memory counters. Guarded by the X-Test-Control: kith header.
import ipaddress
import json

from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_POST

from presence import state
from presence.consumers import group_for
from presence.friends import friends_of

CONTROL_HEADER = "X-Test-Control"
CONTROL_VALUE = "kith"


def _allowed(request):
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        loopback = False
    return loopback and request.headers.get(CONTROL_HEADER) == CONTROL_VALUE


def _forbidden():
    return JsonResponse({"detail": "test control is loopback-only and needs X-Test-Control: kith"}, status=403)


@require_POST
async def set_status(request):
    """POST {"username": "alice", "status": "online"} -> {"ok": true} after group_send."""
    if not _allowed(request):
        return _forbidden()
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"detail": "body must be JSON"}, status=400)
    username = body.get("username") if isinstance(body, dict) else None
    new_status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(username, str) or not isinstance(new_status, str) or not new_status:
        return JsonResponse({"detail": "need string fields username and status"}, status=400)

    User = get_user_model()
    try:
        user = await User.objects.aget(username=username)
    except User.DoesNotExist:
        return JsonResponse({"detail": f"unknown user {username!r}"}, status=404)

    last_seen = state.set_status(user.username, new_status)
    event = {
        "type": "status.update",
        "user_id": user.id,
        "username": user.username,
        "status": new_status,
        "last_seen": last_seen,
    }
    layer = get_channel_layer()
    for friend_id, _name in await friends_of(user.id):
        await layer.group_send(group_for(friend_id), event)
    return JsonResponse({"ok": True})


@require_GET
async def counters(request):
    """GET -> {"logins", "refreshes", "refresh_reuse", "connects", "rejected_connects", "friend_lists"}."""
    if not _allowed(request):
        return _forbidden()
    return JsonResponse(state.counters())
