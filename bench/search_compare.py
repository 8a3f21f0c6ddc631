"""Search before and after, in the same run on the same data (issue 20): scenario 5's search
requests, interleaved, with the search of an earlier commit (PostgreSQL: ``crm/search.py`` as
it was at ``--before``, loaded from git) or with the SQLite FTS5 index switched off (the LIKE
scan it replaces), against the current code. Run on a database scenario 5 left at full size:

    python -m bench.scenarios.pages --db postgres --database-url URL --contacts 100000 --out x.json
    python -m bench.search_compare --database-url URL --requests 40

Prints p50/p95 per request and path, and the load average."""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "588ccae"  # the search measured in bench/RESULTS.md before this change
PATCHED = (
    "contact_match",
    "account_match",
    "deal_match",
    "contacts_search",
    "accounts_search",
    "deals_search",
    "contacts_group",
    "accounts_group",
    "deals_group",
)


def _load_before(commit: str):
    command = ["git", "-C", str(ROOT), "show", f"{commit}:crm/search.py"]
    source = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    path = Path(tempfile.mkdtemp()) / "search_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("search_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def before(connection, commit: str):
    """The old search everywhere the new one is called from (the box, lists, API)."""
    from crm import fts, search
    from crm.api import views
    from sms.inbox import search as inbox_search

    saved = {name: getattr(search, name) for name in PATCHED}
    views_saved = {
        v: v.__dict__["search_records"]
        for v in (views.AccountViewSet, views.ContactViewSet, views.DealViewSet)
    }
    inbox_saved, fts_saved = inbox_search.contact_match, fts.fts_available
    if connection.vendor == "sqlite":
        fts.fts_available = lambda connection: False
    else:
        old = _load_before(commit)
        for name in PATCHED:
            setattr(search, name, getattr(old, name))
        inbox_search.contact_match = old.contact_match
    views.AccountViewSet.search_records = staticmethod(search.accounts_search)
    views.ContactViewSet.search_records = staticmethod(search.contacts_search)
    views.DealViewSet.search_records = staticmethod(search.deals_search)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(search, name, value)
        for view, value in views_saved.items():
            view.search_records = value
        inbox_search.contact_match, fts.fts_available = inbox_saved, fts_saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search_compare")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--before", default=BEFORE, help="commit whose crm/search.py is the baseline")
    parser.add_argument("--only", default="", help="only the searches whose label contains this")
    args = parser.parse_args(argv)

    from bench.worker import configure

    configure(args.database_url)
    from django.conf import settings

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    warnings.filterwarnings("ignore", message="No directory at")
    from django.db import connection
    from django.test import Client

    from bench.scenarios.pages import PAGES, _national_phone, _summary
    from crm.models import User

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(User.objects.get(username="bench-pages"))
    searches = [
        (label, path) for label, path in PAGES if ("q=" in path or "search=" in path) and args.only in label
    ]
    load_start = os.getloadavg()
    baseline = "FTS5 off (LIKE)" if connection.vendor == "sqlite" else args.before
    print(f"{connection.vendor}: baseline = {baseline}")
    for label, template in searches:
        times = {"before": [], "after": []}
        for i in range(args.requests + 3):
            path = template.format(phone=_national_phone(i), n=(i * 7919) % 100, account=0)
            for which in ("before", "after"):  # interleaved: both see the same load
                with before(connection, args.before) if which == "before" else _nothing():
                    started = time.perf_counter()
                    response = client.get(path, secure=True)
                    elapsed = time.perf_counter() - started
                assert response.status_code == 200, (path, response.status_code)
                if i >= 3:  # the first three warm up
                    times[which].append(elapsed)
        old, new = _summary(times["before"]), _summary(times["after"])
        print(
            f"| {label} | `{template}` | {old['p50_ms']:.1f} | {old['p95_ms']:.1f} | {new['p50_ms']:.1f} "
            f"| {new['p95_ms']:.1f} | {old['p95_ms'] / new['p95_ms']:.1f}x |",
            flush=True,
        )
    print(f"load average {load_start[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    return 0


@contextmanager
def _nothing():
    yield


if __name__ == "__main__":
    sys.exit(main())
