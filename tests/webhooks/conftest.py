"""A real HTTP receiver on loopback, and admins to manage endpoints."""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from crm.models import ApiToken
from tests.factories import UserFactory


class Receiver:
    """Records every request; answers with the queued statuses (then ``default_status``),
    after ``delay`` seconds."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: deque[int] = deque()
        self.default_status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(
                    {"headers": dict(self.headers.items()), "body": body, "path": self.path}
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.statuses.popleft() if receiver.statuses else receiver.default_status
                answer = json.dumps({"ok": status < 300}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender gave up (timeout)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def loopback_allowed(settings):
    """The test receiver is plain http on 127.0.0.1, which production refuses."""
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    return settings


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", role="admin", email="ada@example.com")


@pytest.fixture
def admin_api(admin_user):
    _, key = ApiToken.issue(user=admin_user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def web_admin(client, admin_user):
    client.force_login(admin_user)
    return client
