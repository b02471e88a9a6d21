# Why: HTTP routes of the test peer: the SimpleJWT-based auth API and the friend list
# the Kith client talks to, plus the loopback-only /__test__/ control API the test
# harness drives.
from django.urls import path, re_path

from presence import testcontrol, views

urlpatterns = [
    path("api/auth/login/", views.LoginView.as_view(), name="login"),
    path("api/auth/token/refresh/", views.CountingTokenRefreshView.as_view(), name="token_refresh"),
    path("api/auth/token/verify/", views.VerifyView.as_view(), name="token_verify"),
    path("api/auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("api/friends/", views.FriendListView.as_view(), name="friends"),
    re_path(r"^__test__/status/?$", testcontrol.set_status, name="test_status"),
    re_path(r"^__test__/counters/?$", testcontrol.counters, name="test_counters"),
]
