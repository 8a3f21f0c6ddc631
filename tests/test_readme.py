import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_every_environment_variable_the_settings_read():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', settings_source))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "PUBLIC_BASE_URL"} <= read
    missing = sorted(name for name in read if f"`{name}`" not in readme)
    assert not missing, f"README does not document: {missing}"


def test_readme_starts_with_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_readme_documents_every_environment_variable_gunicorn_reads():
    config_source = (ROOT / "gunicorn.conf.py").read_text()
    readme = (ROOT / "README.md").read_text()
    read = set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', config_source))
    assert {"WEB_CONCURRENCY", "GUNICORN_THREADS"} <= read
    missing = sorted(name for name in read if f"`{name}`" not in readme)
    assert not missing, f"README does not document: {missing}"


def test_gunicorn_runs_threaded_workers_from_the_project_directory_and_takes_the_environment():
    import os
    import subprocess
    import sys

    env = {**os.environ, "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "6"}
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--print-config", "config.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    config = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    config = {key.strip(): value.strip() for key, value in config.items()}
    assert (config["worker_class"], config["workers"], config["threads"]) == ("gthread", "3", "6")
