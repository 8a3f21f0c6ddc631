"""Browser end-to-end tests: Playwright drives Debian's chromium against pytest-django's live server.

Playwright's own browser download cannot be used (no network but the package registries), so the
session looks for Debian's ``chromium``, installs it with apt-get when it is missing and it can
(root), and otherwise skips these tests with the reason. CI sets LCRM_REQUIRE_BROWSER=1: there a
missing browser fails the run instead of skipping it.

Every page a test opens is watched: a console error (a Content-Security-Policy violation logs one),
an uncaught exception or a 5xx answer (an htmx poll included) fails the test. Each step saves a
full-page screenshot under LCRM_E2E_ARTIFACTS (default test-artifacts/e2e/)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

from sms.providers import _provider


class _OneRequestAtATime(WSGIServer):
    """The live server for an in-memory SQLite test database: its threads share one connection
    (Django's ``connections_override``), and two requests on it at once (a page's panels and the
    notification bell load together) hung the suite twice in the whole SQLite run, each request
    stuck inside SQLite. Served one at a time, they cannot; PostgreSQL keeps Django's threaded
    server (each request its own connection)."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections_override = connections_override


if connection.vendor == "sqlite":
    LiveServerThread.server_class = _OneRequestAtATime

REQUIRE_BROWSER_ENV = "LCRM_REQUIRE_BROWSER"
ARTIFACTS_ENV = "LCRM_E2E_ARTIFACTS"
PROJECT_DIR = Path(__file__).resolve().parents[2]
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# No sandbox: CI and containers run as root, where chromium refuses its sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
APT_TIMEOUT = 900  # seconds; a cold install of chromium with its libraries takes a few minutes
PASSWORD = "pw-for-tests"  # UserFactory's password
EXPECT_TIMEOUT_MS = 10_000

# Chromium already logs a violation as a console error; the event adds which directive and what.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


# --- Finding (or installing) the browser -----------------------------------------------------


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return next((path for path in CHROMIUM_PATHS if os.access(path, os.X_OK)), None)


def _apt_get(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [shutil.which("apt-get") or "/usr/bin/apt-get", *args],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        timeout=APT_TIMEOUT,
        check=False,
    )


def install_chromium() -> str:
    """Install Debian's chromium; returns why it could not ("" when it worked)."""
    if not shutil.which("apt-get"):
        return "there is no apt-get on this machine"
    if os.geteuid() != 0:
        return "installing it needs root (run: sudo apt-get install -y --no-install-recommends chromium)"
    install = ("install", "-y", "--no-install-recommends", "chromium")
    try:
        result = _apt_get(*install)
        if result.returncode != 0:  # a new machine has no package lists yet
            _apt_get("update")
            result = _apt_get(*install)
    except subprocess.TimeoutExpired:
        return f"apt-get did not finish within {APT_TIMEOUT} s"
    if result.returncode != 0:
        return "apt-get install chromium failed: " + (result.stderr.strip().splitlines() or ["?"])[-1]
    return ""


def browser_unavailable(reason: str):
    message = f"Browser end-to-end tests need Debian's chromium: {reason}."
    if os.environ.get(REQUIRE_BROWSER_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_BROWSER_ENV}=1 forbids skipping them.)", pytrace=False)
    pytest.skip(f"{message} Set {REQUIRE_BROWSER_ENV}=1 to make this a failure.")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        reason = install_chromium()
        path = find_chromium()
        if path is None:
            browser_unavailable(reason or "apt-get installed chromium but it is not on the PATH")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path, django_db_setup):
    """One browser per test module.

    The sync Playwright API marks an event loop as running in this thread while it lives. Django,
    seeing it, would refuse every ORM call as if it came from async code (allowed for exactly that
    long), and its connection handler keeps async connections apart from the thread's: the tests
    get a second set of connections to the same test database. That set is given the snapshot
    that serialized_rollback restores, and closed before the browser goes (PostgreSQL cannot drop
    a test database someone is still connected to)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable('the playwright package is missing (pip install -e ".[dev]")')
    from django.db import connections
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    snapshots = {
        alias: getattr(connections[alias], "_test_serialized_contents", None) for alias in connections
    }
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        for alias, snapshot in snapshots.items():
            if snapshot is not None:
                connections[alias]._test_serialized_contents = snapshot
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        connections.close_all()


# --- Watching the pages ----------------------------------------------------------------------


class PageProblems:
    """What went wrong in the browser that a person might not see: console errors (CSP
    violations among them), uncaught exceptions, server errors (also on background requests)."""

    def __init__(self, page):
        self.found: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.found.append(f"uncaught exception: {error}"))
        page.on("response", self._response)

    def _console(self, message):
        if message.type == "error":
            self.found.append(f"console error: {message.text} (at {message.location.get('url', '?')})")

    def _response(self, response):
        if response.status >= 500:
            self.found.append(f"server error {response.status} for {response.request.method} {response.url}")

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found


class Browsing:
    """One browser tab on the live server, with a screenshot and a problem check per step."""

    def __init__(self, page, base_url: str, artifacts: Path, test_name: str):
        self.page = page
        self.base_url = base_url
        self.artifacts = artifacts
        self.test_name = test_name
        self.problems = PageProblems(page)
        self.steps = 0

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str):
        response = self.page.goto(self.url(path))
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        return response

    def screenshot(self, name: str) -> Path:
        self.steps += 1
        path = self.artifacts / f"{self.test_name}-{self.steps:02d}-{name}.png"
        # caret="initial": hiding the caret leaves style="" on inputs, and htmx copying that
        # attribute onto a swapped-in input is then refused by the CSP: a false alarm.
        self.page.screenshot(path=str(path), full_page=True, caret="initial")
        return path

    def step(self, name: str) -> Path:
        """Screenshot the page as it is now, then fail if anything went wrong on it so far."""
        path = self.screenshot(name)
        problems = self.problems.take()
        assert not problems, f"step {name!r} ({self.page.url}):\n" + "\n".join(problems)
        return path

    def log_in(self, username: str, password: str = PASSWORD) -> None:
        from playwright.sync_api import expect

        self.goto("/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.get_by_role("navigation", name="Main")).to_be_visible()
        assert self.page.url == self.url("/"), self.page.url


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(os.environ.get(ARTIFACTS_ENV) or PROJECT_DIR / "test-artifacts" / "e2e")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def e2e_settings(settings):
    """Sends are simulated (console provider) and never wait for the clock or a rate."""
    settings.SMS_PROVIDER = "console"
    settings.SMS_QUIET_HOURS_START = 0
    settings.SMS_QUIET_HOURS_END = 24
    settings.SMS_SEGMENTS_PER_SECOND = 0
    settings.SMS_CONSOLE_DELIVERY_DELAY = (0, 0)
    _provider.cache_clear()
    yield settings
    _provider.cache_clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


@pytest.fixture
def browsing(request, browser, live_server, e2e_settings, artifacts_dir):
    """A fresh browser context (no cookies) on the live server. A failed test leaves a
    screenshot of where it stopped."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)
    session = Browsing(page, live_server.url, artifacts_dir, name)
    yield session
    failed = getattr(request.node, "e2e_failed", False)
    if failed:
        session.screenshot("FAILED")
    late = session.problems.take()  # after the last step, e.g. from a poll
    context.close()
    assert failed or not late, "after the last step:\n" + "\n".join(late)
