"""Helpers for scenarios that run the product as separate processes (qcluster, gunicorn) on a
throwaway PostgreSQL database: the environment they get, starting them in their own process
group, waiting for them to be ready, and always stopping them (group kill, bounded waits)."""

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PR_SET_PDEATHSIG = 1


def product_env(database_url: str, *, redis_url: str = "", **extra: str) -> dict[str, str]:
    """The environment of a production-like process: DEBUG off, console provider, quiet hours
    off (the outcome must not depend on the hour), no pacing (SMS_SEGMENTS_PER_SECOND=0: the
    product's own throttle would otherwise cap the outbox at one text a second)."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-not-a-secret",
            "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback
            "SMS_PROVIDER": "console",
            "SMS_SEGMENTS_PER_SECOND": "0",
            "SMS_QUIET_HOURS_START": "0",
            "SMS_QUIET_HOURS_END": "24",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("REDIS_URL", None)
    # This run's own django-q queue name (bench/settings.py), and its own log files.
    env["BENCH_QUEUE"] = f"lcrm-bench-{os.getpid()}"
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def setup_django(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()


def pg_admin(dsn: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def throwaway_postgres(admin_dsn: str, name: str):
    """A new, empty database for the duration of the block; dropped afterwards."""
    pg_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(admin_dsn, f'CREATE DATABASE "{name}"')
    base, _, _ = admin_dsn.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        from django.db import connections

        connections.close_all()
        pg_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    with suppress(OSError):  # not Linux: the try/finally in the parent still stops it
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


_started: list[subprocess.Popen] = []
_reaper: subprocess.Popen | None = None
# Runs in its own session, so it outlives a SIGKILL of this process and its group (bench.run's
# timeout): it reads process-group ids on stdin ("-id" when stopped) and, once its stdin closes
# (this process ended, however), kills the groups still listed.
REAPER = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    pgid = int(line)
    groups.discard(-pgid) if pgid < 0 else groups.add(pgid)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
"""


def _tell_reaper(pgid: int) -> None:
    global _reaper
    if _reaper is None:
        _reaper = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", REAPER], stdin=subprocess.PIPE, text=True, start_new_session=True
        )
    _reaper.stdin.write(f"{pgid}\n")
    _reaper.stdin.flush()


def start(command: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``command`` in its own process group, output appended to ``log``. Its group is
    killed when this process exits (atexit, SIGTERM), and its leader is sent SIGTERM by the
    kernel if this process dies without either."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    _started.append(process)
    _tell_reaper(process.pid)
    return process


@atexit.register
def kill_started() -> None:
    """Last resort: SIGKILL every process group this process started and did not stop."""
    while _started:
        process = _started.pop()
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def stop(process: subprocess.Popen, *, grace: float = 20.0) -> int | None:
    """SIGTERM the process group, SIGKILL what is left after ``grace`` seconds."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived their parent too
    if process in _started:
        _started.remove(process)
        _tell_reaper(-process.pid)
    try:
        return process.wait(5)
    except subprocess.TimeoutExpired:
        return None


def wait_for_log(process: subprocess.Popen, log: Path, text: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{log.name}: exited {process.returncode} before '{text}'")
        time.sleep(0.1)
    raise TimeoutError(f"{log.name}: no '{text}' within {timeout:.0f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so try/finally blocks stop what this process started."""

    def terminate(*_):
        kill_started()
        sys.exit(143)

    signal.signal(signal.SIGTERM, terminate)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {"median": median, "min": ordered[0], "max": ordered[-1], "runs": values}


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_by_process(*, group: int | None = None, postgres_db: str | None = None) -> dict[int, float]:
    """CPU seconds (user + system, with reaped children: recycled workers) used so far by each
    live process of a process group, or of the PostgreSQL backends serving ``postgres_db``
    (their process title names the database). Linux only; empty elsewhere."""
    found = {}
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit():
            continue
        if postgres_db is not None:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    title = cmdline.read().decode(errors="replace")
            except OSError:
                continue
            if not title.startswith("postgres: ") or f" {postgres_db} " not in title:
                continue
        fields = _stat(pid)
        if fields is None or (group is not None and int(fields[2]) != group):
            continue
        found[int(pid)] = sum(int(value) for value in fields[11:15]) / _TICKS
    return found


class CpuMeter:
    """CPU seconds used during a block by the server's process group, the database's backends and
    this process (the load generator or the baseline loop)."""

    def __init__(self, *, group: int | None, postgres_db: str):
        self.group, self.postgres_db = group, postgres_db

    def __enter__(self):
        self._start = self._now()
        self._seen = ({}, {})
        return self

    def sample(self) -> None:
        """Note each database backend's CPU so far: one that ends before the block does (the
        connection of a recycled worker) still counts up to its last sample. The server's group
        needs none: its exited processes are in their parents' reaped-children times."""
        self._seen[1].update(cpu_by_process(postgres_db=self.postgres_db))

    def _now(self) -> tuple[dict, dict, float]:
        server = cpu_by_process(group=self.group) if self.group else {}
        return server, cpu_by_process(postgres_db=self.postgres_db), time.process_time()

    def __exit__(self, *exc):
        (server0, database0, client0), (server1, database1, client1) = self._start, self._now()
        database1 = {**self._seen[1], **database1}
        # Per process, so one that ended meanwhile subtracts nothing from the others; its work
        # after its last sample is lost (an undercount, never negative).
        self.server = round(sum(cpu - server0.get(pid, 0.0) for pid, cpu in server1.items()), 2)
        self.database = round(sum(cpu - database0.get(pid, 0.0) for pid, cpu in database1.items()), 2)
        self.client = round(client1 - client0, 2)
        return False

    def per_item_ms(self, items: int) -> dict:
        return {
            "server_cpu_ms": round(1000 * self.server / items, 2),
            "database_cpu_ms": round(1000 * self.database / items, 2),
            "this_process_cpu_ms": round(1000 * self.client / items, 2),
        }
