"""A script tag typed into every text field, sent through the API, or texted in by a customer
is shown as text everywhere: pages, the inbox, the admin, analytics and CSV exports."""

import pytest
from django.test import Client

from crm.models import DealKind
from plays.models import Play, PlayStatus
from sms.inbound import inbound_receive
from sms.models import Conversation, SavedReply
from tests.factories import ContactFactory, UserFactory, stage

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
RAW_MARKERS = ("<script>alert", "<img src=x onerror")


@pytest.fixture
def hostile(api):
    """Every text field filled with markup, through the public API where there is one."""
    account = api.post(
        "/api/v1/accounts/",
        {"name": XSS, "domain": "evil.example.com", "plan": XSS[:50], "attributes": {"note": XSS}},
        format="json",
    ).json()
    contact = api.post(
        "/api/v1/contacts/",
        {
            "account": account["id"],
            "first_name": XSS[:100],
            "last_name": XSS[:100],
            "phone": "+12125550123",
            "email": "evil@example.com",
            "attributes": {XSS[:30]: XSS},
        },
        format="json",
    ).json()
    assert "id" in contact, contact
    api.post(
        "/api/v1/deals/",
        {
            "name": XSS,
            "account": account["id"],
            "kind": DealKind.EXPANSION,
            "stage": stage("proposal").pk,
            "amount": "100.00",
        },
        format="json",
    )
    api.post("/api/v1/tasks/", {"title": XSS, "account": account["id"]}, format="json")
    api.post(
        "/api/v1/activities/",
        {"contact": contact["id"], "kind": "note", "data": {"text": XSS}, "summary": XSS},
        format="json",
    )
    api.post(
        "/api/v1/events/",
        {
            "account": account["id"],
            "name": "login",
            "properties": {"x": XSS},
            "occurred_at": "2026-01-01T00:00:00Z",
        },
        format="json",
    )
    inbound_receive(provider_sid="SMxss1", from_number="+12125550123", to_number="+15005550006", body=XSS)
    SavedReply.objects.create(name=XSS[:100], body=XSS)
    Play.objects.create(
        name=XSS,
        moment="renewal",
        trigger={"type": "renewal_window", "days": 60},
        template="Hi {first_name}",
        status=PlayStatus.ACTIVE,
    )
    return {"account": account["id"], "contact": contact["id"]}


def _assert_inert(html: str, where: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in html, f"{where}: raw {marker!r}"


def test_markup_is_escaped_on_every_page(hostile, web):
    conversation = Conversation.objects.get(contact_id=hostile["contact"])
    pages = [
        "/",
        "/accounts/",
        f"/accounts/{hostile['account']}/",
        "/contacts/",
        f"/contacts/{hostile['contact']}/",
        "/deals/",
        "/tasks/",
        "/renewals/",
        "/inbox/",
        f"/inbox/?conversation={conversation.pk}",
        f"/inbox/{conversation.pk}/messages/",
        "/inbox/queue/",
        f"/sms/contacts/{hostile['contact']}/panel/",
        "/plays/",
        "/analytics/",
        "/contacts/duplicates/",
    ]
    seen_escaped = 0
    for path in pages:
        response = web.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        _assert_inert(html, path)
        seen_escaped += "&lt;script&gt;" in html
    assert seen_escaped >= 8  # the payload is really shown (as text), not just missing


def test_markup_is_escaped_in_the_admin(hostile):
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    for path in (
        "/admin/crm/account/",
        "/admin/crm/contact/",
        f"/admin/crm/contact/{hostile['contact']}/change/",
        "/admin/sms/message/",
        "/admin/plays/play/",
        "/admin/crm/activity/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_inert(response.content.decode(), path)


def test_csv_exports_defuse_formulas():
    ContactFactory(first_name='=HYPERLINK("http://evil")', last_name="+1", email="a@example.com")
    client = Client()
    client.force_login(UserFactory(username="exporter", role="manager"))
    response = client.get("/contacts/export.csv")
    body = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK" in body and ",=HYPERLINK" not in body
