"""Saved replies filled in for one conversation.

Placeholders: ``{first_name}``, ``{last_name}`` (the contact), ``{account}`` (its account's
name), ``{owner}`` (the account's CSM, else the contact's owner) and ``{agent}`` (whoever is
answering). People are named by their first name, else as the CRM names them. A placeholder
whose value is unknown becomes empty; anything else in braces is left exactly as written, so a
template never loses text because of a typo."""

import re
from dataclasses import dataclass

from crm.models import Contact
from sms.models import SavedReply

PLACEHOLDER = re.compile(r"\{(\w+)\}")
FIELDS = ("first_name", "last_name", "account", "owner", "agent")


@dataclass(frozen=True)
class RenderedReply:
    id: int
    name: str
    body: str


def _person(user) -> str:
    if user is None:
        return ""
    return (user.first_name or "").strip() or str(user)


def saved_reply_fields(*, contact: Contact, agent=None) -> dict[str, str]:
    """The placeholder values for a contact (whose account and owners should be loaded)."""
    account = contact.account if contact.account_id else None
    owner = None
    if account is not None and account.owner_id:
        owner = account.owner
    elif contact.owner_id:
        owner = contact.owner
    return {
        "first_name": contact.first_name.strip(),
        "last_name": contact.last_name.strip(),
        "account": account.name if account is not None else "",
        "owner": _person(owner),
        "agent": _person(agent),
    }


def saved_reply_render(body: str, fields: dict[str, str]) -> str:
    """Fill the known placeholders of ``body``; leave unknown ones untouched."""
    return PLACEHOLDER.sub(lambda match: fields.get(match.group(1), match.group(0)), body)


def saved_replies_for(*, contact: Contact, agent=None) -> list[RenderedReply]:
    """Every saved reply, in picker order, filled in for ``contact`` (one query)."""
    fields = saved_reply_fields(contact=contact, agent=agent)
    return [
        RenderedReply(id=reply.pk, name=reply.name, body=saved_reply_render(reply.body, fields))
        for reply in SavedReply.objects.all()
    ]
