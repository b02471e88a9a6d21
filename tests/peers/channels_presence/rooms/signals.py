# Why: the receiver of channels_presence's presence_changed signal, as the library's
# API reference shows it: on every addition or removal of a presence, broadcast the
# room's member list to the room, {"type": "presence", "payload": {"channel_name",
# "members": [{"id", "username"}], "lurkers"}}, through a "forward.message" group
# event that each consumer sends on as text.
import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_presence.signals import presence_changed
from django.dispatch import receiver


def serialize(user):
    return {"id": user.id, "username": user.username}


@receiver(presence_changed)
def broadcast_presence(sender, room, **kwargs):
    """Broadcast the new list of present users to the room."""
    message = {
        "type": "presence",
        "payload": {
            "channel_name": room.channel_name,
            "members": [serialize(user) for user in room.get_users().order_by("id")],
            "lurkers": room.get_anonymous_count(),
        },
    }
    async_to_sync(get_channel_layer().group_send)(
        room.channel_name, {"type": "forward.message", "message": json.dumps(message)}
    )
