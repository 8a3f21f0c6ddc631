"""One HTTP POST to a receiver, with the address checked at connect time.

The URL is checked when an endpoint is saved, but a name can resolve elsewhere later (DNS
rebinding), so every connection resolves the host itself and refuses private, loopback,
link-local and reserved addresses unless WEBHOOKS_ALLOW_PRIVATE_URLS says otherwise. Redirects
are not followed (a 3xx is a failed attempt), and only the start of the answer is read."""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

RESPONSE_KEPT = 2000  # characters of the answer kept in the log


class TransportError(Exception):
    """The request did not get an HTTP answer (refused, timed out, address not allowed)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    duration_ms: int


def address_refusal(address: str) -> str | None:
    """Why a receiver may not be at ``address``, or None."""
    if settings.WEBHOOKS_ALLOW_PRIVATE_URLS:
        return None
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        return f"{address} is a private, loopback or reserved address"
    return None


# The resolver (one name to patch in tests, which have no DNS).
_lookup = socket.getaddrinfo


def resolve(host: str, port: int) -> list[tuple]:
    try:
        return _lookup(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TransportError(f"cannot resolve {host}: {exc}") from exc


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    last_error: Exception | None = None
    for family, kind, proto, _, sockaddr in resolve(host, port):
        refusal = address_refusal(sockaddr[0])
        if refusal:
            raise TransportError(refusal)
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    raise TransportError(f"cannot connect to {host}:{port}: {last_error}")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = _connect(self.host, self.port, self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        sock = _connect(self.host, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: str, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST ``body`` to ``url``; an Answer whatever the status, TransportError without one."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if parts.scheme == "https":
        connection = _CheckedHTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = _CheckedHTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request("POST", path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        text = response.read(RESPONSE_KEPT * 4).decode("utf-8", "replace")[:RESPONSE_KEPT]
        return Answer(response.status, text, int((time.monotonic() - started) * 1000))
    except TransportError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}"[:300]) from exc
    finally:
        connection.close()
