"""Load the demo data set: ~300 SMB accounts with contacts, deals, renewals, orders, usage
events, tasks and a timeline. Deterministic for a seed and day; a second run does nothing
unless --force, which replaces the previous demo rows (and only those)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.seed import seed_demo

CRM_COUNTS = {"accounts", "contacts", "deals", "renewals", "orders", "events", "tasks", "activities", "users"}


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--today expects YYYY-MM-DD, not {value!r}") from None


class Command(BaseCommand):
    help = "Build a believable demo data set (deterministic from --seed); --force replaces it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument("--accounts", type=int, default=300, help="Number of B2B accounts (default 300).")
        parser.add_argument(
            "--force", action="store_true", help="Delete existing demo data (only demo rows) and rebuild it."
        )
        parser.add_argument(
            "--today",
            type=_day,
            default=None,
            help="Reference day (YYYY-MM-DD) the history is relative to; default today (UTC).",
        )

    def handle(self, *args, seed: int, accounts: int, force: bool, today: date | None, **options) -> None:
        if accounts < 1:
            raise CommandError("--accounts must be at least 1.")
        try:
            result = seed_demo(seed=seed, accounts=accounts, force=force, today=today)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not result.created:
            self.stdout.write("Demo data already exists; nothing to do (use --force to rebuild it).")
            return
        if result.deleted:
            self.stdout.write(f"Deleted {result.deleted} previous demo rows.")
        c = result.counts
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {c['accounts']} accounts, {c['contacts']} contacts, {c['deals']} deals, "
                f"{c['renewals']} renewals, {c['orders']} orders, {c['events']} events, "
                f"{c['tasks']} tasks, {c['activities']} activities ({c['users']} staff users)"
                + "".join(f", {n} {key.replace('_', ' ')}" for key, n in c.items() if key not in CRM_COUNTS)
                + f" in {result.elapsed:.1f}s"
            )
        )
