"""The lock files pin every dependency of pyproject.toml with hashes, and `make install` uses them."""

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)")


def pins(lock: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for each requirement of a pip-compile lock file."""
    found, current = {}, None
    for line in (ROOT / lock).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            found[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            current = None
    return found


def declared(*extras: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(r).name) for r in requirements}


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ("sentry",)), ("requirements-dev.lock", ("sentry", "dev"))]
)
def test_every_declared_dependency_is_pinned_with_hashes(lock, extras):
    pinned = pins(lock)
    missing = sorted(declared(*extras) - set(pinned))
    assert not missing, f"{lock} lacks {missing}: run `make lock`"
    unhashed = sorted(name for name, (_, hashes) in pinned.items() if hashes == 0)
    assert not unhashed
    text = (ROOT / lock).read_text()
    assert "--extra-index-url" not in text and "--find-links" not in text  # no machine-local paths


def test_the_app_lock_is_the_dev_lock_without_dev_tools():
    app, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {name: version for name, (version, _) in app.items()} == {name: dev[name][0] for name in app}, (
        "the two lock files disagree on a shared package: run `make lock`"
    )
    assert "pytest" in dev and "pytest" not in app


def test_the_virtualenv_was_installed_from_the_dev_lock():
    wrong = {}
    for name, (version, _) in pins("requirements-dev.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed: {wrong}; run `make install`"


def test_make_install_uses_the_lock_with_hashes_and_make_lock_rewrites_it():
    dry = subprocess.run(
        ["make", "-n", "-B", "install", "lock"],  # noqa: S607 -- make from the PATH, as a developer runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in dry
    assert "pip install --quiet --no-deps -e ." in dry
    assert "--generate-hashes" in dry and "--output-file requirements.lock" in dry
    assert "--output-file requirements-dev.lock" in dry
    assert 'pip install --quiet "pip-tools' in dry
