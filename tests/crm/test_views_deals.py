"""The deal pipeline board, moving deals between stages, and the deal forms."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import ActivityKind, Deal, DealKind, PipelineStage
from tests.factories import AccountFactory, ContactFactory, DealFactory, UserFactory, stage

pytestmark = pytest.mark.django_db


def column(response, slug):
    return next(c for c in response.context["board"].columns if c.stage.slug == slug)


def test_board_has_one_column_per_stage_in_order(web):
    response = web.get(reverse("deal_board"))
    assert [c.stage.slug for c in response.context["board"].columns] == list(
        PipelineStage.objects.values_list("slug", flat=True)
    )
    body = response.content.decode()
    positions = [
        body.index(f">{name} <") for name in ("Qualification", "Discovery", "Proposal", "Negotiation")
    ]
    assert positions == sorted(positions)


def test_board_cards_and_column_totals(web, user):
    acme = AccountFactory(name="Acme Corp")
    next_day = timezone.localdate() + timedelta(days=3)
    DealFactory(
        name="Acme seats",
        account=acme,
        owner=user,
        amount=Decimal("10000"),
        stage=stage("proposal"),
        next_step="Send order form",
        next_step_date=next_day,
    )
    DealFactory(name="Acme upsell", account=acme, amount=Decimal("5000"), stage=stage("proposal"))
    DealFactory(name="Early", amount=Decimal("1000"), stage=stage("qualification"))
    response = web.get(reverse("deal_board"))
    proposal = column(response, "proposal")
    assert {d.name for d in proposal.deals} == {"Acme seats", "Acme upsell"}
    assert proposal.total == Decimal("15000")
    assert proposal.weighted_total == Decimal("7500.00")
    assert response.context["board"].open_total == Decimal("16000")
    assert response.context["board"].open_weighted_total == Decimal("7600.00")
    body = response.content.decode()
    for text in ("Acme seats", "Acme Corp", "10,000", "Alice Owner", "Send order form", "15,000", "7,500"):
        assert text in body, text


def test_board_shows_recently_closed_deals_only(web):
    recent = DealFactory(name="Won last week", stage=stage("closed-won"))
    recent.closed_at = timezone.now() - timedelta(days=7)
    recent.save()
    old = DealFactory(name="Won last year", stage=stage("closed-won"))
    old.closed_at = timezone.now() - timedelta(days=365)
    old.save()
    body = web.get(reverse("deal_board")).content.decode()
    assert "Won last week" in body
    assert "Won last year" not in body


def test_board_filters_by_owner_and_kind(web, user):
    bob = UserFactory(username="bob")
    DealFactory(name="Mine new", owner=user, kind=DealKind.NEW)
    DealFactory(name="Mine expansion", owner=user, kind=DealKind.EXPANSION)
    DealFactory(name="Bob renewal", owner=bob, kind=DealKind.RENEWAL)

    def names(**params):
        board = web.get(reverse("deal_board"), params).context["board"]
        return {d.name for c in board.columns for d in c.deals}

    assert names(owner=user.pk) == {"Mine new", "Mine expansion"}
    assert names(kind="renewal") == {"Bob renewal"}
    assert names(owner=user.pk, kind="expansion") == {"Mine expansion"}
    assert names(kind="bogus") == {"Mine new", "Mine expansion", "Bob renewal"}


def test_board_runs_a_constant_number_of_queries(web, django_assert_max_num_queries):
    stages = list(PipelineStage.objects.filter(is_closed=False))

    def add(n):
        for i in range(n):
            DealFactory(owner=UserFactory(), stage=stages[i % len(stages)])

    add(3)
    with django_assert_max_num_queries(5):
        web.get(reverse("deal_board"))
    add(30)
    with django_assert_max_num_queries(5):
        web.get(reverse("deal_board"))


def test_move_changes_the_stage_and_writes_the_timeline(web, user):
    deal = DealFactory(stage=stage("qualification"))
    response = web.post(reverse("deal_move", args=[deal.pk]), {"stage": stage("proposal").pk})
    assert response.status_code == 302
    assert response.url == reverse("deal_board")
    deal.refresh_from_db()
    assert deal.stage.slug == "proposal"
    entry = deal.account.activities.get(kind=ActivityKind.DEAL_STAGE_CHANGE)
    assert entry.actor == user
    assert entry.data["from"] == "qualification" and entry.data["to"] == "proposal"


def test_move_to_a_closed_stage_stamps_closed_at(web):
    deal = DealFactory()
    web.post(reverse("deal_move", args=[deal.pk]), {"stage": stage("closed-won").pk})
    deal.refresh_from_db()
    assert deal.closed_at is not None


def test_move_keeps_the_board_filters(web, user):
    deal = DealFactory(owner=user)
    response = web.post(
        reverse("deal_move", args=[deal.pk]) + f"?owner={user.pk}&kind=new", {"stage": stage("discovery").pk}
    )
    assert response.url == reverse("deal_board") + f"?owner={user.pk}&kind=new"


def test_move_with_htmx_returns_the_board_fragment(web):
    deal = DealFactory(name="Acme seats")
    response = web.post(
        reverse("deal_move", args=[deal.pk]),
        {"stage": stage("negotiation").pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="deal-board"')
    assert "<html" not in body
    assert "Moved “Acme seats” to Negotiation." in body
    assert [d.name for d in column(response, "negotiation").deals] == ["Acme seats"]


def test_move_to_an_unknown_stage_changes_nothing(web):
    deal = DealFactory()
    response = web.post(reverse("deal_move", args=[deal.pk]), {"stage": "999999"}, follow=True)
    assert response.status_code == 200
    assert "Choose a stage" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage.slug == "qualification"
    assert not deal.account.activities.exists()


def test_move_to_the_same_stage_writes_nothing(web):
    deal = DealFactory()
    web.post(reverse("deal_move", args=[deal.pk]), {"stage": deal.stage.pk})
    assert not deal.account.activities.exists()


def test_move_is_post_only(web):
    deal = DealFactory()
    assert web.get(reverse("deal_move", args=[deal.pk])).status_code == 405


def deal_data(account, **overrides) -> dict:
    return {
        "name": "Acme seats",
        "account": account.pk,
        "contact": "",
        "owner": "",
        "kind": "new",
        "stage": stage("discovery").pk,
        "amount": "12000",
        "next_step": "Demo",
        "next_step_date": "2030-01-10",
        "expected_close": "2030-02-01",
        **overrides,
    }


def test_deal_create(web, user):
    account = AccountFactory()
    contact = ContactFactory(account=account)
    response = web.post(reverse("deal_create"), deal_data(account, contact=contact.pk, owner=user.pk))
    assert response.status_code == 302
    deal = Deal.objects.get()
    assert (deal.name, deal.amount, deal.stage.slug, deal.contact, deal.owner) == (
        "Acme seats",
        Decimal("12000"),
        "discovery",
        contact,
        user,
    )
    assert deal.account.activities.filter(kind=ActivityKind.DEAL_STAGE_CHANGE, actor=user).exists()


def test_deal_create_with_negative_amount_shows_a_field_error(web):
    account = AccountFactory()
    response = web.post(reverse("deal_create"), deal_data(account, amount="-5"))
    assert response.status_code == 200
    assert "amount" in response.context["form"].errors
    assert not Deal.objects.exists()


def test_deal_create_requires_name_account_and_stage(web):
    response = web.post(reverse("deal_create"), {"amount": "abc"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) >= {"name", "account", "stage", "amount"}


def test_deal_contact_must_belong_to_the_account(web):
    account = AccountFactory()
    stranger = ContactFactory()
    response = web.post(reverse("deal_create"), deal_data(account, contact=stranger.pk))
    assert "contact" in response.context["form"].errors
    assert not Deal.objects.exists()


def test_deal_edit(web, user):
    deal = DealFactory(name="Old", amount=Decimal("100"))
    assert 'value="Old"' in web.get(reverse("deal_edit", args=[deal.pk])).content.decode()
    response = web.post(
        reverse("deal_edit", args=[deal.pk]),
        deal_data(deal.account, name="New", amount="250.50", stage=stage("negotiation").pk),
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.name, deal.amount, deal.stage.slug) == ("New", Decimal("250.50"), "negotiation")
    assert deal.account.activities.filter(kind=ActivityKind.DEAL_STAGE_CHANGE).count() == 1


def test_deal_edit_with_negative_amount_keeps_the_stored_deal(web):
    deal = DealFactory(amount=Decimal("100"))
    response = web.post(reverse("deal_edit", args=[deal.pk]), deal_data(deal.account, amount="-1"))
    assert response.status_code == 200
    assert "amount" in response.context["form"].errors
    deal.refresh_from_db()
    assert deal.amount == Decimal("100")
