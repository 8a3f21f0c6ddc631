"""A simulated Twilio on 127.0.0.1: the part of the Messages API our provider calls, over real
HTTP, so that other processes (a worker we kill) can send to it through the real SDK with
``TWILIO_API_BASE_URL`` pointing here.

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (To, Body, From or
  MessagingServiceSid, StatusCallback, MediaUrl): 201 with a fresh ``SM...`` SID; every accepted
  text is kept in ``accepted``.
- ``GET .../Messages.json`` with ``To``, ``DateSent>``/``DateSent<`` and ``PageSize``: the
  accepted texts, newest first, on one page (what ``find_sent`` reads).
- ``GET .../Messages/{Sid}.json``: one text, or 404 (code 20404).

Requests must carry the account's Basic credentials (401, code 20003, otherwise). ``hold_at(n)``
makes the n-th accepted text's answer wait (until ``release()``, at most ``HOLD_SECONDS``): a
worker killed then has had the text accepted without hearing back, the worst moment for it."""

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOLD_SECONDS = 30.0  # a held answer never outlives this, whatever the test does
API = "/2010-04-01/Accounts/"


@dataclass
class Accepted:
    sid: str
    to: str
    body: str
    sender: str
    status_callback: str
    media_urls: list[str]
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def resource(self, account_sid: str) -> dict:
        stamp = format_datetime(self.date_created)  # RFC 2822, as Twilio writes dates
        service = self.sender if self.sender.startswith("MG") else None
        return {
            "sid": self.sid,
            "account_sid": account_sid,
            "to": self.to,
            "from": None if service else self.sender,
            "messaging_service_sid": service,
            "body": self.body,
            "status": "accepted" if service else "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": str(len(self.media_urls)),
            "date_created": stamp,
            "date_updated": stamp,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "uri": f"{API}{account_sid}/Messages/{self.sid}.json",
            "subresource_uris": {},
        }


class SimulatedTwilio:
    """Use as a context manager: serves on a free loopback port until the block ends."""

    def __init__(self, *, account_sid: str, auth_token: str):
        self.account_sid = account_sid
        self._credentials = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.accepted: list[Accepted] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self._lock = threading.Lock()
        self._hold_at: int | None = None
        self.held = threading.Event()  # set once the n-th text is accepted and its answer waits
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="simulated-twilio", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "SimulatedTwilio":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def hold_at(self, n: int) -> None:
        self._hold_at = n

    def release(self) -> None:
        self._release.set()

    def sends_per_body(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for text in self.accepted:
                counts[text.body] = counts.get(text.body, 0) + 1
        return counts

    # --- the Messages resource ---------------------------------------------------------------

    def create(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        if not form.get("To") or not (form.get("Body") or form.get("MediaUrl")):
            return 400, _error(21604, "A 'To' phone number and a 'Body' or 'MediaUrl' are required.", 400)
        sender = (form.get("MessagingServiceSid") or form.get("From") or [""])[0]
        if not sender:
            return 400, _error(21603, "A 'From' or 'MessagingServiceSid' parameter is required", 400)
        text = Accepted(
            sid="SM" + uuid.uuid4().hex,
            to=form["To"][0],
            body=(form.get("Body") or [""])[0],
            sender=sender,
            status_callback=(form.get("StatusCallback") or [""])[0],
            media_urls=form.get("MediaUrl", []),
        )
        with self._lock:
            self.accepted.append(text)
            hold = self._hold_at is not None and len(self.accepted) == self._hold_at
        if hold:
            self.held.set()
            self._release.wait(HOLD_SECONDS)
        return 201, text.resource(self.account_sid)

    def fetch(self, sid: str) -> tuple[int, dict]:
        with self._lock:
            found = next((t for t in self.accepted if t.sid == sid), None)
        if found is None:
            return 404, _error(
                20404,
                f"The requested resource {API}{self.account_sid}/Messages/{sid}.json was not found",
                404,
            )
        return 200, found.resource(self.account_sid)

    def list(self, query: dict[str, list[str]]) -> tuple[int, dict]:
        to = (query.get("To") or [None])[0]
        after = _date_filter(query.get("DateSent>"))
        before = _date_filter(query.get("DateSent<"))
        page_size = int((query.get("PageSize") or ["50"])[0])
        with self._lock:
            found = [
                t
                for t in reversed(self.accepted)
                if (to is None or t.to == to)
                and (after is None or t.date_created >= after)
                and (before is None or t.date_created < before)
            ][:page_size]
        uri = f"{API}{self.account_sid}/Messages.json"
        return 200, {
            "messages": [t.resource(self.account_sid) for t in found],
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "start": 0,
            "end": max(len(found) - 1, 0),
            "uri": uri,
        }


def _error(code: int, message: str, status: int) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _date_filter(values: list[str] | None) -> datetime | None:
    """Twilio takes a date (YYYY-MM-DD) or an ISO 8601 date-time (the SDK sends ...Z)."""
    if not values:
        return None
    value = datetime.fromisoformat(values[0].replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages(?:/(?P<sid>SM\w+))?\.json$")


def _handler_for(twilio: SimulatedTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet: the test reports what matters
            pass

        def do_POST(self) -> None:
            self._answer("POST")

        def do_GET(self) -> None:
            self._answer("GET")

        def _answer(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            with twilio._lock:
                twilio.requests.append((method, url.path))
            match = MESSAGES.match(url.path)
            if self.headers.get("Authorization") != twilio._credentials:
                status, payload = 401, _error(20003, "Authenticate", 401)
            elif match is None or match["account"] != twilio.account_sid:
                status, payload = 404, _error(20404, "The requested resource was not found", 404)
            elif method == "POST" and not match["sid"]:
                status, payload = twilio.create(parse_qs(body))
            elif method == "GET" and match["sid"]:
                status, payload = twilio.fetch(match["sid"])
            elif method == "GET":
                status, payload = twilio.list(parse_qs(url.query))
            else:
                status, payload = 405, _error(20004, "Method not allowed", 405)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the caller is gone (a killed worker): Twilio has the text all the same

    return Handler
