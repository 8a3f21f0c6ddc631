"""Run the web server and a django-q2 worker together; one Ctrl-C stops both."""

import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start runserver and qcluster side by side (development)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        python = sys.executable
        procs = [
            subprocess.Popen([python, "manage.py", "qcluster"]),  # noqa: S603
            subprocess.Popen([python, "manage.py", "runserver", addrport]),  # noqa: S603
        ]
        self.stdout.write(f"Web on http://{addrport}/ and a background worker. Ctrl-C stops both.")
        try:
            # Whichever exits first (a crash, a port in use) takes the other one down too.
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            for proc in procs:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        failed = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGINT, None)]
        if failed and not any(p.returncode == -signal.SIGINT for p in procs):
            sys.exit(1)
