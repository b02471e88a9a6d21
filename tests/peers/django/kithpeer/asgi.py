# Why: the ASGI entry point daphne serves: plain Django (DRF views, test control)
# for HTTP, and the Channels URLRouter wrapped in our JWT query-string middleware
# for WebSockets.
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kithpeer.settings")

# Must run before anything imports models (it calls django.setup()).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from presence.middleware import JWTQueryAuthMiddleware  # noqa: E402
from presence.routing import websocket_urlpatterns  # noqa: E402

# No AllowedHostsOriginValidator: the Kith desktop client sends no Origin header,
# which that validator would reject.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": JWTQueryAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
