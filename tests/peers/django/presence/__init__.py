# Why: the "presence" app: friendships, in-memory statuses and counters, the JWT
# WebSocket middleware, the FriendStatusConsumer and the auth/test-control views.
