# Why: one place for "who are X's friends" and the wire shape of a friend's
# presence, shared by the consumer's snapshot and the test-control broadcast.
from presence import state
from presence.models import Friendship


async def friends_of(user_id):
    """The friends of a user as (id, username) pairs, ordered by username."""
    rows = Friendship.objects.filter(user_id=user_id).select_related("friend").order_by("friend__username")
    return [(f.friend.id, f.friend.username) async for f in rows]


def presence_entry(user_id, username):
    status, last_seen = state.get_status(username)
    return {"user_id": user_id, "username": username, "status": status, "last_seen": last_seen}
