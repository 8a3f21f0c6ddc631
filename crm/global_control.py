"""The global control group: contacts that no automated text reaches, so the whole SMS programme
can be measured against them (issue 17).

Membership is a stable hash: SHA-256 of ``GLOBAL_CONTROL_SALT:contact:<contact id>``, its first
8 bytes as an integer, mod 10,000 basis points, below ``GLOBAL_CONTROL_PERCENT`` x 100. The
contact id survives re-imports and updates (imports upsert onto the same row), so a contact
stays in or out; a new salt draws a new group. With the percent at 0 nobody is in it.

Who asks: ``plays`` at enrollment (the contact is recorded in the ``global_control`` arm, not
texted) and ``sms.governance`` for every automated send (refused, reason ``global_control``);
manual texts by an agent are not affected. ``analytics.metrics.global_control`` compares."""

import hashlib
from collections.abc import Iterable

from django.conf import settings

REASON = "global_control"


def _bucket(contact_id: int, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}:contact:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def percent() -> int:
    return int(settings.GLOBAL_CONTROL_PERCENT)


def in_global_control(contact_id: int) -> bool:
    share = percent()
    return bool(share) and _bucket(contact_id, settings.GLOBAL_CONTROL_SALT) < share * 100


def global_control_ids(contact_ids: Iterable[int]) -> set[int]:
    """The members among ``contact_ids`` (empty when the group is off)."""
    share = percent()
    if not share:
        return set()
    salt = settings.GLOBAL_CONTROL_SALT
    return {pk for pk in contact_ids if _bucket(pk, salt) < share * 100}
