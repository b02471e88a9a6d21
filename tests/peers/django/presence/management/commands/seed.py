# Why: `manage.py seed`, run by run.sh on every start: makes sure the test users
# me, alice, bob and carol exist with password "pw" and that me is friends with
# the other three. Idempotent, so a restart on the same DATA_DIR changes nothing.
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from presence.models import Friendship

USERNAMES = ["me", "alice", "bob", "carol"]
PASSWORD = "pw"
FRIENDS = {"me": ["alice", "bob", "carol"]}


class Command(BaseCommand):
    help = "Create the Kith test users and friendships (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        users = {}
        for name in USERNAMES:
            user, created = User.objects.get_or_create(username=name)
            if created or not user.check_password(PASSWORD) or not user.is_active:
                user.set_password(PASSWORD)
                user.is_active = True
                user.save()
            users[name] = user
        for name, friends in FRIENDS.items():
            for other in friends:
                Friendship.objects.get_or_create(user=users[name], friend=users[other])
                Friendship.objects.get_or_create(user=users[other], friend=users[name])
        if options["verbosity"] >= 1:
            self.stdout.write(f"seeded {len(users)} users")
