# Why: the ASGI entry point daphne serves: plain Django (auth views, test control)
# for HTTP, and the Channels URLRouter wrapped in the Django peer's JWT query-string
# middleware for WebSockets.
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "roompeer.settings")

# Must run before anything imports models (it calls django.setup()).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402
from presence.middleware import JWTQueryAuthMiddleware  # noqa: E402

from rooms.consumers import RoomConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": JWTQueryAuthMiddleware(
            URLRouter([re_path(r"^ws/presence/?$", RoomConsumer.as_asgi())])
        ),
    }
)
