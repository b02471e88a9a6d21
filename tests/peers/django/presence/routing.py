# Why: WebSocket URL routes for Channels' URLRouter (wrapped by the JWT middleware in asgi.py).
from django.urls import re_path

from presence.consumers import FriendStatusConsumer

websocket_urlpatterns = [
    # Trailing slash optional so a client that drops it still reaches the consumer.
    re_path(r"^ws/friends/status/?$", FriendStatusConsumer.as_asgi()),
]
