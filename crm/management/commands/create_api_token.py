from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from crm.models import ApiToken


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print its key. The key is shown only this once: "
        "only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the integration acts as.")
        parser.add_argument("--name", default="API token", help="A label to tell keys apart.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; its tokens would not authenticate.")
        token, key = ApiToken.issue(user=user, name=name)
        # The key alone on stdout, so scripts can capture it; the note goes to stderr.
        self.stdout.write(key)
        self.stderr.write(f"Created {token.name!r} ({token.prefix}…) for {username}. Store the key now.")
