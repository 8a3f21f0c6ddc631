import pytest
from django.urls import reverse

from crm.models import Activity, ActivityKind, ApiToken, Contact, Deal, PipelineStage
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    DealFactory,
    EventFactory,
    OrderFactory,
    RenewalFactory,
    TaskFactory,
    UserFactory,
    stage,
)

pytestmark = pytest.mark.django_db

MODELS = [
    "user",
    "apitoken",
    "account",
    "contact",
    "pipelinestage",
    "deal",
    "renewal",
    "order",
    "event",
    "task",
    "activity",
]


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True, role="admin"))
    return client


def populate(n):
    for _ in range(n):
        account = AccountFactory()
        contact = ContactFactory(account=account)
        DealFactory(account=account, contact=contact)
        RenewalFactory(account=account)
        OrderFactory(contact=contact)
        EventFactory(contact=contact)
        TaskFactory(account=account, contact=contact)
        ActivityFactory(contact=contact)
        ApiToken.issue(user=account.owner)


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_renders_with_constant_queries(admin_client, django_assert_max_num_queries, model):
    url = reverse(f"admin:crm_{model}_changelist")
    populate(2)
    admin_client.get(url)  # warm caches (content types, sessions)
    with django_assert_max_num_queries(12) as small:
        assert admin_client.get(url).status_code == 200
    baseline = len(small)  # read now: every request resets Django's query log
    populate(8)
    with django_assert_max_num_queries(baseline):
        response = admin_client.get(url)
    assert response.status_code == 200


def test_account_change_page_shows_contacts_deals_and_renewals_inline(admin_client):
    account = AccountFactory(name="Inline Co")
    ContactFactory(account=account, first_name="Ina", last_name="Line")
    DealFactory(account=account, name="Inline upsell")
    RenewalFactory(account=account)
    html = admin_client.get(reverse("admin:crm_account_change", args=[account.pk])).content.decode()
    assert "Ina" in html and "Inline upsell" in html and "Renewals" in html


def contact_form(**overrides):
    data = {
        "account": "",
        "first_name": "Pat",
        "last_name": "Lee",
        "email": "Pat@Example.com",
        "owner": "",
        "phone_raw": "(415) 555-2671",
        "phone_region": "US",
        "timezone": "",
        "acquisition_channel": "other",
        "attributes": "{}",
    }
    data.update(overrides)
    return data


def test_admin_contact_add_parses_phone_through_the_service(admin_client):
    response = admin_client.post(reverse("admin:crm_contact_add"), contact_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    contact = Contact.objects.get()
    assert (contact.phone, contact.email, contact.timezone) == (
        "+14155552671",
        "pat@example.com",
        "America/Los_Angeles",
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"phone_raw": "not a phone"}, "is not a phone number"),
        ({"phone_raw": "+1 212 200 0000"}, "already uses +12122000000"),
        ({"email": "TAKEN@example.com"}, "already"),
    ],
)
def test_admin_contact_bad_input_is_a_form_error(admin_client, overrides, message):
    ContactFactory(phone="+12122000000", email="taken@example.com")
    response = admin_client.post(reverse("admin:crm_contact_add"), contact_form(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Contact.objects.count() == 1


def test_admin_deal_stage_change_is_recorded_on_the_timeline(admin_client):
    deal = DealFactory()
    data = {
        "name": deal.name,
        "account": deal.account_id,
        "contact": "",
        "owner": deal.owner_id,
        "kind": deal.kind,
        "stage": stage("negotiation").pk,
        "amount": "12000.00",
        "next_step": "Send redlines",
        "next_step_date": "",
        "expected_close": "",
    }
    response = admin_client.post(reverse("admin:crm_deal_change", args=[deal.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    deal = Deal.objects.get(pk=deal.pk)
    assert deal.stage.slug == "negotiation" and deal.next_step == "Send redlines"
    entry = Activity.objects.get(kind=ActivityKind.DEAL_STAGE_CHANGE)
    assert entry.data["from"] == "qualification" and entry.data["to"] == "negotiation"


def test_timeline_is_read_only_in_admin(admin_client):
    activity = ActivityFactory()
    assert admin_client.get(reverse("admin:crm_activity_add")).status_code == 403
    response = admin_client.post(reverse("admin:crm_activity_delete", args=[activity.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Activity.objects.filter(pk=activity.pk).exists()


def test_revoke_action_revokes_tokens(admin_client):
    token, _ = ApiToken.issue(user=UserFactory())
    response = admin_client.post(
        reverse("admin:crm_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_pipeline_stages_are_seeded_in_order():
    slugs = list(PipelineStage.objects.values_list("slug", flat=True))
    assert slugs == ["qualification", "discovery", "proposal", "negotiation", "closed-won", "closed-lost"]
