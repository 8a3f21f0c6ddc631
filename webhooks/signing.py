"""Standard Webhooks signatures: ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``
keyed with the secret's bytes (the ``whsec_`` prefix stripped, the rest base64-decoded). Several
keys (a secret being rotated) give several signatures, space-separated, as the specification
allows: a receiver accepts the request when any of them verifies with its secret."""

import base64
import hashlib
import hmac


def signature(key: bytes, message_id: str, timestamp: int, body: str) -> str:
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(keys: list[bytes], message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, message_id, timestamp, body) for key in keys),
        "content-type": "application/json",
        "user-agent": "LifecycleCRM-Webhooks/1",
    }
