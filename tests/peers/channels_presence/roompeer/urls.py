# Why: HTTP routes of the django-channels-presence peer: the Django peer's SimpleJWT
# auth API, and the loopback-only /__test__/ control API that makes friends join and
# leave the room.
from django.urls import path, re_path
from presence import views

from rooms import testcontrol

urlpatterns = [
    path("api/auth/login/", views.LoginView.as_view(), name="login"),
    path("api/auth/token/refresh/", views.CountingTokenRefreshView.as_view(), name="token_refresh"),
    path("api/auth/token/verify/", views.VerifyView.as_view(), name="token_verify"),
    path("api/auth/logout/", views.LogoutView.as_view(), name="logout"),
    re_path(r"^__test__/join/?$", testcontrol.join, name="test_join"),
    re_path(r"^__test__/leave/?$", testcontrol.leave, name="test_leave"),
    re_path(r"^__test__/counters/?$", testcontrol.counters, name="test_counters"),
]
