# Why: the presence socket of the django-channels-presence peer, a synchronous
# WebsocketConsumer as the library's README writes it: an authenticated socket
# (JWT in ?token=, the Django peer's middleware) joins the "friends" room with
# Room.objects.add on connect, leaves it with @remove_presence on disconnect, touches
# its presence on every message (@touch_presence), and forwards the room's
# broadcasts. Unauthenticated sockets are closed with 4001.
from channels.generic.websocket import WebsocketConsumer
from channels_presence.decorators import remove_presence, touch_presence
from channels_presence.models import Room
from presence import state

ROOM = "friends"
AUTH_FAILED_CLOSE_CODE = 4001


class RoomConsumer(WebsocketConsumer):
    def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first so the client sees 4001 rather than a bare 403.
            self.accept()
            state.incr("rejected_connects")
            self.close(code=AUTH_FAILED_CLOSE_CODE)
            return
        self.accept()
        state.incr("connects")
        Room.objects.add(ROOM, self.channel_name, user)

    @remove_presence
    def disconnect(self, close_code):
        pass

    @touch_presence
    def receive(self, text_data=None, bytes_data=None):
        pass

    def forward_message(self, event):
        """Group event {"type": "forward.message", "message": <JSON text>}."""
        self.send(text_data=event["message"])
