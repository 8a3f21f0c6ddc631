"""Finding the browser for the end-to-end tests: on the PATH, else installed with apt-get, else
skipped with the reason, and never skipped where LCRM_REQUIRE_BROWSER=1 (CI)."""

import os
import shutil
import subprocess

import pytest

from tests.e2e import conftest as e2e

INSTALL = ("install", "-y", "--no-install-recommends", "chromium")


def test_a_missing_browser_skips_with_the_reason(monkeypatch):
    monkeypatch.delenv(e2e.REQUIRE_BROWSER_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="need Debian's chromium: there is no apt-get"):
        e2e.browser_unavailable("there is no apt-get on this machine")


def test_where_the_browser_is_required_a_missing_one_fails(monkeypatch):
    monkeypatch.setenv(e2e.REQUIRE_BROWSER_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="LCRM_REQUIRE_BROWSER=1 forbids skipping"):
        e2e.browser_unavailable("there is no apt-get on this machine")


def test_chromium_is_found_on_the_path(monkeypatch, tmp_path):
    browser = tmp_path / "chromium-browser"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert e2e.find_chromium() == str(browser)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(e2e, "CHROMIUM_PATHS", (str(browser),))
    assert e2e.find_chromium() == str(browser)
    monkeypatch.setattr(e2e, "CHROMIUM_PATHS", (str(tmp_path / "missing"),))
    assert e2e.find_chromium() is None


def test_installing_needs_apt_get_and_root(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert e2e.install_chromium() == "there is no apt-get on this machine"
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "needs root" in e2e.install_chromium()


@pytest.fixture
def apt(monkeypatch):
    """apt-get as root, answering from a script of return codes; records the calls."""
    calls, codes = [], []

    def apt_get(*args):
        calls.append(args)
        code = codes.pop(0)
        return subprocess.CompletedProcess(args, code, "", "" if code == 0 else "E: Unable to locate package")

    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(e2e, "_apt_get", apt_get)
    return calls, codes


def test_install_works_at_once_when_the_package_lists_are_there(apt):
    calls, codes = apt
    codes.extend([0])
    assert e2e.install_chromium() == ""
    assert calls == [INSTALL]


def test_a_new_machine_updates_the_package_lists_and_tries_again(apt):
    calls, codes = apt
    codes.extend([100, 0, 0])
    assert e2e.install_chromium() == ""
    assert calls == [INSTALL, ("update",), INSTALL]


def test_a_failed_install_says_why(apt):
    _, codes = apt
    codes.extend([100, 0, 100])
    assert e2e.install_chromium() == "apt-get install chromium failed: E: Unable to locate package"


def test_a_hanging_install_gives_up(apt, monkeypatch):
    def hangs(*args):
        raise subprocess.TimeoutExpired(["apt-get", *args], e2e.APT_TIMEOUT)

    monkeypatch.setattr(e2e, "_apt_get", hangs)
    assert e2e.install_chromium() == f"apt-get did not finish within {e2e.APT_TIMEOUT} s"
