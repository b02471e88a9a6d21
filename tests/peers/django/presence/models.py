# Why: who is friends with whom, stored in SQLite next to Django's users so the
# consumer and the test-control API can find a user's friends.
from django.conf import settings
from django.db import models


class Friendship(models.Model):
    """One direction of a friendship; the seed command stores both directions."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="friendships")
    friend = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "friend"], name="unique_friendship"),
        ]

    def __str__(self):
        return f"{self.user_id} -> {self.friend_id}"
