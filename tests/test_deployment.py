"""Deployment files: compose.yaml (checked structurally here; CI also runs `docker compose config`
when Docker is available), the Dockerfile and the Procfile."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# The fixed configuration names of the integration contract (/work/shared/API.md).
CONTRACT_VARIABLES = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "PUBLIC_BASE_URL",
    "SMS_PROVIDER",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_FROM_NUMBER",
}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def interpolate(value: str, env: dict) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, enough to read the file's values."""

    def one(match):
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise KeyError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return INTERPOLATION.sub(one, str(value))


def test_compose_runs_web_worker_postgres_and_redis(compose):
    services = compose["services"]
    assert {"web", "worker", "db", "redis", "migrate"} <= set(services)
    assert services["web"]["command"] == ["gunicorn", "config.wsgi"]
    assert services["worker"]["command"] == ["python", "manage.py", "qcluster"]
    assert "migrate" in " ".join(services["migrate"]["command"]) and "setup_schedules" in " ".join(
        services["migrate"]["command"]
    )
    for name in ("web", "worker", "migrate"):
        assert services[name]["build"] == "." and services[name]["image"] == services["web"]["image"]
    assert services["db"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")
    assert any(str(port).endswith(":8000") for port in services["web"]["ports"])
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_compose_dependencies_and_volumes_resolve(compose):
    services = compose["services"]
    for name, service in services.items():
        for needed, condition in (service.get("depends_on") or {}).items():
            assert needed in services, (name, needed)
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], needed
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in (compose.get("volumes") or {}), (name, source)
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_passes_the_readmes_variables_and_points_at_its_own_services(compose):
    readme = (ROOT / "README.md").read_text()
    web = compose["services"]["web"]["environment"]
    worker = compose["services"]["worker"]["environment"]
    assert set(web) >= CONTRACT_VARIABLES and set(worker) >= CONTRACT_VARIABLES
    undocumented = sorted(name for name in {*web, *worker} if f"`{name}`" not in readme)
    assert not undocumented, f"README does not document: {undocumented}"
    env = {"SECRET_KEY": "s"}
    assert interpolate(web["DATABASE_URL"], env).startswith("postgres://lcrm:lcrm@db:5432/")
    assert interpolate(web["REDIS_URL"], env) == "redis://redis:6379/0"
    assert {entry["path"] for entry in compose["x-app"]["env_file"]} == {".env"}
    with pytest.raises(KeyError, match="SECRET_KEY"):
        interpolate(web["SECRET_KEY"], {})


def test_the_compose_environment_makes_valid_production_settings(compose):
    values = {
        name: interpolate(value, {"SECRET_KEY": "compose-check-" + "x" * 40})
        for name, value in compose["services"]["web"]["environment"].items()
    }
    clean = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, **values},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_builds_a_slim_non_root_gunicorn_image():
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    instructions = [line.split(None, 1) for line in lines]
    keywords = [parts[0] for parts in instructions if parts[0].isupper()]
    assert dockerfile.count("FROM ") == 1 and "FROM python:3.11-slim" in dockerfile
    user = next(parts[1] for parts in instructions if parts[0] == "USER")
    assert user.strip() not in {"root", "0"}
    assert keywords.index("USER") > keywords.index("RUN")  # installs as root, runs as the user
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "collectstatic" in dockerfile
    assert 'CMD ["gunicorn", "config.wsgi"]' in dockerfile
    assert (ROOT / "gunicorn.conf.py").exists()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".env", "db.sqlite3"} <= set(ignored)


def test_procfile_declares_release_web_and_worker():
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert processes["web"].strip() == "gunicorn config.wsgi"
    assert processes["worker"].strip() == "python manage.py qcluster"
    assert "migrate" in processes["release"] and "setup_schedules" in processes["release"]


def test_ci_validates_compose_with_docker_when_docker_is_there():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "docker info" in ci and "docker compose config" in ci
