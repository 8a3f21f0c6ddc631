"""Run the web server and a django-q2 worker together; one Ctrl-C stops both."""

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


def _stop(proc: subprocess.Popen, deadline: float) -> None:
    """Stop a child and everything it started (runserver's autoreloader runs a second process)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=max(0.5, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            deadline = time.monotonic() + 3


class Command(BaseCommand):
    help = "Start runserver and qcluster side by side (development)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        # Each child gets its own process group so that we can stop it with all its children;
        # we react to Ctrl-C (SIGINT) and to SIGTERM, even if started with SIGINT ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        python = sys.executable
        procs = [
            subprocess.Popen([python, "manage.py", "qcluster"], start_new_session=True),  # noqa: S603
            subprocess.Popen([python, "manage.py", "runserver", addrport], start_new_session=True),  # noqa: S603
        ]
        self.stdout.write(f"Web on http://{addrport}/ and a background worker. Ctrl-C stops both.")
        interrupted = False
        try:
            # Whichever exits first (a crash, a port in use) takes the other one down too.
            while all(p.poll() is None for p in procs):
                time.sleep(0.3)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            deadline = time.monotonic() + 10
            for proc in procs:
                _stop(proc, deadline)
        if not interrupted:
            sys.exit(1)
