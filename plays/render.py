"""Filling a play's texts for a batch of contacts: names, account, owner, renewal, tracked link.
Shared by a play's entry (``engine``) and a journey's send steps (``journey``); a fixed number
of queries per batch."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q

from core import bulk
from crm.models import Account, Contact, Renewal, RenewalStatus
from plays import templates, triggers
from plays.models import Outcome, Play
from sms import governance, links


@dataclass
class Decided:
    contact_id: int
    account_id: int | None
    occurrence: str
    arm: str
    outcome: str
    reason: str = ""
    send_at: datetime | None = None
    body: str = ""
    to_number: str = ""
    message_id: int | None = None
    # The text to fill; empty: the play's template.
    template: str = ""


def texts_render(play: Play, sending: list[Decided], *, now, dry_run: bool, owners: dict[int, str]) -> None:
    """Fill the template for each text about to go; a text that cannot be filled fails.
    A {link} becomes a tracked short link per contact (a placeholder in a dry run).

    Reads plain values, not model instances: at 10^4 texts per run building a Contact, an
    Account and a User per text costs more than rendering them."""
    if not sending:
        return
    people = {
        row[0]: row
        for row in Contact.objects.filter(bulk.in_ids("pk", {item.contact_id for item in sending}))
        .order_by()
        .values_list("pk", "first_name", "last_name", "phone", "account_id", "owner_id")
    }
    # Accounts on their own: joined to 2,000 contacts, PostgreSQL would scan every account.
    accounts = {
        pk: (name, owner_id)
        for pk, name, owner_id in Account.objects.filter(
            bulk.in_ids("pk", {row[4] for row in people.values()} - {None})
        )
        .order_by()
        .values_list("pk", "name", "owner_id")
    }
    missing = (
        {accounts.get(row[4], ("", None))[1] or row[5] for row in people.values()} - set(owners) - {None}
    )
    if missing:
        for user in get_user_model().objects.filter(pk__in=missing):  # a handful per run
            owners[user.pk] = user.get_full_name() or user.username
    by_id, by_account = renewals_for(play, sending, people, now=now)
    short_links: dict[int, str] = {}
    linked = [item for item in sending if "{link}" in (item.template or play.template)]
    if linked:
        if dry_run:
            short_links = {item.contact_id: links.short_url("preview") for item in linked}
        else:
            short_links = links.links_create_bulk(
                target_url=play.link_url,
                contacts=[Contact(pk=item.contact_id) for item in linked],
                source=governance.play_source(play.pk),
            )
    for item in sending:
        _, first_name, last_name, phone, account_id, owner_id = people[item.contact_id]
        account_name, account_owner_id = accounts.get(account_id, ("", None))
        renewal = by_id.get(triggers.renewal_id(play.trigger, item.occurrence)) or by_account.get(account_id)
        context = templates.MessageContext(
            first_name=first_name,
            last_name=last_name,
            account=account_name or "",
            owner=owners.get(account_owner_id or owner_id, ""),
            renewal_date=renewal[0] if renewal else None,
            renewal_acv=renewal[1] if renewal else None,
            link=short_links.get(item.contact_id, ""),
        )
        item.to_number = phone
        try:
            item.body = templates.render(item.template or play.template, context)
        except templates.RenderError as error:
            item.outcome, item.reason, item.send_at = Outcome.FAILED, error.reason, None


def renewals_for(play: Play, sending: list[Decided], people: dict[int, tuple], *, now) -> tuple:
    """Renewals by id (the one a renewal trigger fired for) and by account (its next term),
    each as its (date, ACV) as the template shows them."""
    used = {item.template or play.template for item in sending}
    if not any(templates.placeholders_of(text) & templates.RENEWAL_PLACEHOLDERS for text in used):
        return {}, {}
    account_ids = {people[item.contact_id][4] for item in sending} - {None}
    renewal_ids = {triggers.renewal_id(play.trigger, item.occurrence) for item in sending} - {None}
    today = now.date()
    upcoming = Q(bulk.in_ids("account_id", account_ids), status=RenewalStatus.UPCOMING, end_date__gte=today)
    by_id, by_account = {}, {}
    for pk, account_id, status, end_date, acv in (
        Renewal.objects.filter(Q(bulk.in_ids("pk", renewal_ids)) | upcoming)
        .order_by("-end_date", "-id")
        .values_list("pk", "account_id", "status", "end_date", "acv")
    ):
        shown = (templates.format_date(end_date), templates.format_money(acv))
        by_id[pk] = shown
        if status == RenewalStatus.UPCOMING and end_date >= today:
            by_account[account_id] = shown  # descending: the earliest term is written last
    return by_id, by_account
