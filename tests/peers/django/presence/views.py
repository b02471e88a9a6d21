# Why: the HTTP API the Kith client uses, built from SimpleJWT's and DRF's own views:
# login (adds "user" to the token pair), refresh with rotation + blacklist (and
# counting reuse of blacklisted tokens), verify, logout (blacklists a refresh), and
# the friend list with statuses that a client resyncs from after a reconnect.
from django.utils.translation import gettext as _
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import (
    TokenBlacklistSerializer,
    TokenObtainPairSerializer,
    TokenVerifySerializer,
)
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from presence import state
from presence.friends import presence_entry
from presence.models import Friendship

# SimpleJWT's message when a blacklisted refresh token is presented. It is only
# raised after the signature has been checked, so it means a genuine reuse.
BLACKLISTED_MESSAGE = "Token is blacklisted"


class LoginSerializer(TokenObtainPairSerializer):
    def validate(self, attrs):
        data = super().validate(attrs)
        data["user"] = {"id": self.user.id, "username": self.user.username}
        return data


class LoginView(TokenObtainPairView):
    """POST {username, password} -> {access, refresh, user}; bad credentials -> 401."""

    serializer_class = LoginSerializer

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.status_code == status.HTTP_200_OK:
            state.incr("logins")
        return response


class CountingTokenRefreshView(TokenRefreshView):
    """POST {refresh} -> {access, refresh}; the old refresh token is blacklisted.

    Counts every request, and separately those presenting a blacklisted token.
    """

    def post(self, request, *args, **kwargs):
        state.incr("refreshes")
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            message = str(exc.args[0]) if exc.args else ""
            if message in (BLACKLISTED_MESSAGE, _(BLACKLISTED_MESSAGE)):
                state.incr("refresh_reuse")
            raise InvalidToken(message) from exc
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


class VerifySerializer(TokenVerifySerializer):
    def validate(self, attrs):
        try:
            return super().validate(attrs)
        except serializers.ValidationError as exc:
            # Stock SimpleJWT answers 400 for a blacklisted token; the client
            # contract is "200 valid | 401 invalid", so turn it into a token error.
            raise TokenError(BLACKLISTED_MESSAGE) from exc


class VerifyView(TokenVerifyView):
    """POST {token} -> 200 {} or 401 (bad, expired or blacklisted token)."""

    serializer_class = VerifySerializer


class LogoutView(APIView):
    """POST {refresh} with Authorization: Bearer <access> -> 205; blacklists the refresh token."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request, *args, **kwargs):
        serializer = TokenBlacklistSerializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        # 205 Reset Content carries no body.
        return Response(status=status.HTTP_205_RESET_CONTENT)


class FriendListView(APIView):
    """GET with Authorization: Bearer <access> -> [{user_id, username, status, last_seen}]
    for the signed-in user's friends, ordered by username; 401 without a valid token."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request, *args, **kwargs):
        state.incr("friend_lists")
        rows = (
            Friendship.objects.filter(user=request.user)
            .select_related("friend")
            .order_by("friend__username")
        )
        return Response([presence_entry(row.friend.id, row.friend.username) for row in rows])
