# Why: the FriendStatusConsumer behind ws/friends/status/: closes unauthenticated
# sockets with 4001, joins the user's "user_<id>" group, sends a presence snapshot
# of the user's friends (unless $KITH_PEER_SNAPSHOTS is "off", for a backend whose
# clients resync over HTTP), relays status_update group events, and answers PING.
import json
import os

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from presence import state
from presence.friends import friends_of, presence_entry

AUTH_FAILED_CLOSE_CODE = 4001
SENDS_SNAPSHOTS = os.environ.get("KITH_PEER_SNAPSHOTS", "on") != "off"


def group_for(user_id):
    return f"user_{user_id}"


class FriendStatusConsumer(AsyncJsonWebsocketConsumer):
    group_name = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first so the client sees the 4001 close code instead of a
            # bare 403 on the handshake.
            await self.accept()
            state.incr("rejected_connects")
            await self.close(code=AUTH_FAILED_CLOSE_CODE)
            return

        # Join before accepting so no update sent after the snapshot is missed;
        # group events queue up until connect() returns, i.e. after the snapshot.
        self.group_name = group_for(user.id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        state.incr("connects")

        if not SENDS_SNAPSHOTS:
            return
        friends = await friends_of(user.id)
        await self.send_json(
            {
                "type": "presence_snapshot",
                "friends": [presence_entry(fid, fname) for fid, fname in friends],
            }
        )

    async def disconnect(self, code):
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # Anything that is not a JSON object with type PING is ignored (binary
        # frames and malformed JSON included) rather than killing the socket.
        if text_data is None:
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "PING":
            await self.send_json({"type": "PONG"})

    async def status_update(self, event):
        """Group event {"type": "status.update", ...} -> client status_update."""
        await self.send_json(
            {
                "type": "status_update",
                "user_id": event["user_id"],
                "username": event["username"],
                "status": event["status"],
                "last_seen": event["last_seen"],
            }
        )
