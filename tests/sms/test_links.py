import pytest
from django.core.exceptions import ValidationError

from crm.models import Activity, ActivityKind
from sms.links import links_create_bulk
from sms.models import LinkClick, ShortLink
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def make_link(url="https://example.com/renew?plan=pro"):
    contact = ContactFactory()
    short = links_create_bulk(target_url=url, contacts=[contact], source="play:1")[contact.pk]
    return contact, short, ShortLink.objects.get(contact=contact)


def test_a_tracked_link_redirects_anonymously_and_lands_on_the_timeline(client):
    contact, short, link = make_link()
    assert short == f"http://testserver/l/{link.code}"
    response = client.get(f"/l/{link.code}", HTTP_USER_AGENT="Phone")
    assert response.status_code == 302 and response["Location"] == "https://example.com/renew?plan=pro"
    link.refresh_from_db()
    assert link.click_count == 1 and link.first_clicked_at is not None
    entry = Activity.objects.get(kind=ActivityKind.SMS_CLICK)
    assert (entry.contact, entry.data["source"]) == (contact, "play:1")


def test_repeat_clicks_are_counted_but_not_repeated_on_the_timeline(client):
    _, _, link = make_link()
    for _ in range(3):
        client.get(f"/l/{link.code}")
    assert LinkClick.objects.count() == 3
    assert Activity.objects.filter(kind=ActivityKind.SMS_CLICK).count() == 1


def test_unknown_codes_are_404_and_nothing_else_is_ever_a_redirect_target(client):
    _, _, link = make_link()
    assert client.get("/l/nope").status_code == 404
    response = client.get(f"/l/{link.code}?next=https://evil.example/")
    assert response["Location"] == "https://example.com/renew?plan=pro"
    assert client.post(f"/l/{link.code}").status_code == 405


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.com/x", "example.com", ""])
def test_only_http_urls_can_be_tracked(url):
    with pytest.raises(ValidationError):
        links_create_bulk(target_url=url, contacts=[ContactFactory()], source="")
