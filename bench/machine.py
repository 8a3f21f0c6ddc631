"""A description of the machine and software a benchmark ran on."""

import os
import platform
import sqlite3
import subprocess
import sys


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> float | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _postgres(admin_dsn: str | None) -> dict:
    if not admin_dsn:
        return {}
    try:
        import psycopg

        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            info = {"version": conn.execute("SHOW server_version").fetchone()[0]}
            for name in ("shared_buffers", "work_mem", "synchronous_commit", "fsync", "max_wal_size"):
                info[name] = conn.execute(f"SHOW {name}").fetchone()[0]
            return info
    except Exception as exc:  # described in the report, not fatal
        return {"error": str(exc)}


def describe(admin_dsn: str | None = None) -> dict:
    try:
        django_version = subprocess.run(
            [sys.executable, "-c", "import django; print(django.get_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        django_version = "unknown"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django_version,
        "sqlite": sqlite3.sqlite_version,
        "postgres": _postgres(admin_dsn),
    }
