# Why: browsers and the Kith client cannot set headers on a WebSocket handshake, so
# the access token travels as ?token=<access>. This ASGI middleware validates it
# with SimpleJWT's AccessToken once, at connect time, and puts the user in scope;
# the consumer closes unauthenticated sockets with 4001.
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken


@database_sync_to_async
def _load_user(user_id):
    User = get_user_model()
    try:
        user = User.objects.get(**{api_settings.USER_ID_FIELD: user_id})
    except User.DoesNotExist:
        return None
    return user if user.is_active else None


async def user_for_token(raw_token):
    """Return (user, error); user is AnonymousUser when the token is missing or bad."""
    if not raw_token:
        return AnonymousUser(), "missing token"
    try:
        # Checks signature, expiry and token_type == "access".
        token = AccessToken(raw_token)
    except TokenError as exc:
        return AnonymousUser(), str(exc)
    user_id = token.payload.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        return AnonymousUser(), "token has no user id"
    user = await _load_user(user_id)
    if user is None:
        return AnonymousUser(), "unknown or inactive user"
    return user, None


class JWTQueryAuthMiddleware(BaseMiddleware):
    """Authenticate a WebSocket from the `token` query-string parameter."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        raw_token = (query.get("token") or [None])[0]
        scope["user"], scope["auth_error"] = await user_for_token(raw_token)
        return await super().__call__(scope, receive, send)
