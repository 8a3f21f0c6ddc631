"""First-run set-up for `make run`: an admin login and demo data on an empty database."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from crm.models import Account

PASSWORD_FILE = Path(settings.BASE_DIR) / ".local" / "admin-password"


class Command(BaseCommand):
    help = "Create the local admin login and load demo data when the database is empty."

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="Do not load demo data.")

    def handle(self, *args, no_demo=False, **options):
        if not no_demo and not Account.objects.exists():
            self.stdout.write("Empty database: loading demo data (python manage.py seed_demo)…")
            call_command("seed_demo", stdout=self.stdout)
        self._ensure_admin()

    def _ensure_admin(self):
        User = get_user_model()
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(
                username="admin", email="admin@example.com", password=password, role=User.Role.ADMIN
            )
            PASSWORD_FILE.parent.mkdir(exist_ok=True)
            PASSWORD_FILE.write_text(password + "\n")
            PASSWORD_FILE.chmod(0o600)
        stored = PASSWORD_FILE.read_text().strip() if PASSWORD_FILE.exists() else ""
        line = "=" * 64
        self.stdout.write(line)
        if admin is None or (stored and User.objects.get(username="admin").check_password(stored)):
            self.stdout.write(self.style.SUCCESS(f"  Log in at http://127.0.0.1:8000/  as  admin / {stored}"))
            self.stdout.write(f"  (password kept in {PASSWORD_FILE.relative_to(settings.BASE_DIR)})")
        else:
            self.stdout.write("  Log in as 'admin' with the password you set.")
            self.stdout.write("  Forgot it? python manage.py changepassword admin")
        self.stdout.write(line)
