"""The global control group: contacts that no automated text reaches, so the whole SMS programme
can be measured against them (issue 17).

Membership is a stable hash: SHA-256 of ``GLOBAL_CONTROL_SALT:contact:<contact id>``, its first
8 bytes as an integer, mod 10,000 basis points, below ``GLOBAL_CONTROL_PERCENT`` x 100. The
contact id survives re-imports and updates (imports upsert onto the same row), so a contact
stays in or out; a new salt draws a new group. With the percent at 0 nobody is in it.

``GLOBAL_CONTROL_UNIT=account`` draws accounts instead: the hash of
``GLOBAL_CONTROL_SALT:account:<account id>``, shared by every contact of the account (a contact
without an account falls back to its own contact hash). Accounts are then randomised, so the
programme's NRR and GRR can be compared with the control's (``analytics.metrics.global_control``).

Who asks: ``plays`` at enrollment (the contact is recorded in the ``global_control`` arm, not
texted) and ``sms.governance`` for every automated send (refused, reason ``global_control``);
manual texts by an agent are not affected. ``analytics.metrics.global_control`` compares."""

import hashlib
from collections.abc import Iterable

from django.conf import settings

REASON = "global_control"


CONTACT, ACCOUNT = "contact", "account"
UNITS = (CONTACT, ACCOUNT)


def _bucket(pk: int, salt: str, kind: str = CONTACT) -> int:
    digest = hashlib.sha256(f"{salt}:{kind}:{pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def percent() -> int:
    return int(settings.GLOBAL_CONTROL_PERCENT)


def unit() -> str:
    """``contact`` (each contact drawn on its own) or ``account`` (every contact of an account
    shares the account's draw)."""
    return settings.GLOBAL_CONTROL_UNIT


def _drawn(contact_id: int, account_id: int | None, salt: str, by_account: bool) -> int:
    if by_account and account_id:
        return _bucket(account_id, salt, ACCOUNT)
    return _bucket(contact_id, salt, CONTACT)


def in_global_control(contact_id: int, account_id: int | None = None) -> bool:
    """Whether the contact (of ``account_id``, its account, None without one) is in the group."""
    return bool(global_control_members([(contact_id, account_id)]))


def global_control_members(contacts: Iterable[tuple[int, int | None]]) -> set[int]:
    """The contact ids among (contact id, account id) pairs that are in the group, by the
    configured unit (empty when the group is off)."""
    share = percent()
    if not share:
        return set()
    salt, by_account = settings.GLOBAL_CONTROL_SALT, unit() == ACCOUNT
    return {pk for pk, account_id in contacts if _drawn(pk, account_id, salt, by_account) < share * 100}


def global_control_accounts(account_ids: Iterable[int]) -> set[int]:
    """The accounts among ``account_ids`` drawn into the group (with the unit ``account``)."""
    share = percent()
    if not share:
        return set()
    salt = settings.GLOBAL_CONTROL_SALT
    return {pk for pk in account_ids if _bucket(pk, salt, ACCOUNT) < share * 100}
