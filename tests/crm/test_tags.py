"""Tags on contacts (issue 20): set on the contact form and in the API (``tags``), shown on the
contact and in the list, filtered by, and added or removed in bulk from the list in a constant
number of queries, with the change on each contact's timeline."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import services
from crm.merge import contact_merge
from crm.models import Activity, ActivityKind, ContactTag, SavedView, Tag
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _bulk(web, ids, action, tag):
    return web.post(
        reverse("contacts_bulk"), {"ids": ids, "action": action, "tag": tag, "next": "/contacts/"}
    )


def _tags(contact) -> list[str]:
    return sorted(tag.name for tag in contact.tags.all())


def test_bulk_add_tag_tags_the_selection_once_and_notes_it_on_each_timeline(web, user):
    chosen = ContactFactory.create_batch(3)
    other = ContactFactory()
    services.contacts_add_tag(contact_ids=[chosen[0].pk], name="VIP")  # already tagged: left alone
    Activity.objects.all().delete()
    response = _bulk(web, [c.pk for c in chosen], "add_tag", "vip")
    assert response.status_code == 302 and response.url == "/contacts/"
    assert Tag.objects.get().name == "VIP"  # the first spelling is kept, any case matches
    assert all(_tags(c) == ["VIP"] for c in chosen) and _tags(other) == []
    entries = Activity.objects.filter(kind=ActivityKind.TAGS_CHANGED)
    assert sorted(entries.values_list("contact_id", flat=True)) == sorted(c.pk for c in chosen[1:])
    assert {(e.summary, e.actor_id, e.account_id) for e in entries} == {
        ("Tagged “VIP”", user.pk, chosen[1].account_id),
        ("Tagged “VIP”", user.pk, chosen[2].account_id),
    }
    messages = [str(m) for m in web.get("/contacts/").context["messages"]]
    assert "Tagged 2 contacts “vip”." in messages


def test_bulk_remove_tag_untags_those_that_have_it(web):
    tagged = ContactFactory.create_batch(2)
    untagged = ContactFactory()
    services.contacts_add_tag(contact_ids=[c.pk for c in tagged], name="beta")
    services.contacts_add_tag(contact_ids=[tagged[0].pk], name="vip")
    Activity.objects.all().delete()
    _bulk(web, [c.pk for c in (*tagged, untagged)], "remove_tag", "BETA")
    assert [_tags(c) for c in tagged] == [["vip"], []]
    entries = Activity.objects.filter(kind=ActivityKind.TAGS_CHANGED)
    assert sorted(entries.values_list("contact_id", flat=True)) == sorted(c.pk for c in tagged)
    assert set(entries.values_list("summary", flat=True)) == {"Untagged “beta”"}


def test_a_bulk_tag_action_without_a_tag_changes_nothing(web):
    contact = ContactFactory()
    response = _bulk(web, [contact.pk], "add_tag", "  ")
    assert response.status_code == 302
    assert not Tag.objects.exists()
    assert "Type the tag" in " ".join(str(m) for m in web.get("/contacts/").context["messages"])


@pytest.mark.parametrize("action", ["add_tag", "remove_tag"])
def test_bulk_tag_actions_are_a_constant_number_of_queries(web, action):
    def queries(count: int) -> int:
        ids = [c.pk for c in ContactFactory.create_batch(count)]
        if action == "remove_tag":
            services.contacts_add_tag(contact_ids=ids, name="x")
        with CaptureQueriesContext(connection) as captured:
            _bulk(web, ids, action, "x")
        assert ContactTag.objects.filter(contact_id__in=ids).exists() == (action == "add_tag")
        assert Activity.objects.filter(
            contact_id__in=ids, kind=ActivityKind.TAGS_CHANGED
        ).count() == count * (2 if action == "remove_tag" else 1)
        return len(captured)

    assert queries(2) == queries(40)


def test_the_contact_form_sets_tags_and_the_page_and_list_show_them(web, user):
    ann = ContactFactory(first_name="Ann", last_name="Lee")
    ContactFactory(first_name="Bob", last_name="Other")
    url = reverse("contact_edit", args=[ann.pk])
    data = {"first_name": "Ann", "last_name": "Lee", "phone_region": "US", "acquisition_channel": "other"}
    assert web.post(url, {**data, "tags": "vip, beta, VIP"}).status_code == 302
    assert _tags(ann) == ["beta", "vip"]
    entry = Activity.objects.get(kind=ActivityKind.TAGS_CHANGED)
    assert entry.summary == "Tagged “vip”, “beta”" and entry.actor == user
    assert 'value="beta, vip"' in web.get(url).content.decode()
    web.post(url, {**data, "tags": "beta"})
    assert _tags(ann) == ["beta"]
    assert Activity.objects.filter(kind=ActivityKind.TAGS_CHANGED).first().summary == "Untagged “vip”"
    detail = web.get(reverse("contact_detail", args=[ann.pk])).content.decode()
    assert ">beta</a>" in detail
    page = web.get(reverse("contact_list"), {"tag": "Beta"})
    assert [c.first_name for c in page.context["page_obj"]] == ["Ann"]
    assert ">beta</a>" in page.content.decode()


def test_the_api_reads_writes_and_filters_tags(api):
    created = api.post(
        "/api/v1/contacts/", {"email": "a@example.com", "tags": ["vip", "beta"]}, format="json"
    )
    assert created.status_code == 201 and created.json()["tags"] == ["beta", "vip"]
    other = ContactFactory()
    contact_id = created.json()["id"]
    patched = api.patch(f"/api/v1/contacts/{contact_id}/", {"tags": ["beta"]}, format="json")
    assert patched.json()["tags"] == ["beta"]
    assert api.patch(f"/api/v1/contacts/{contact_id}/", {"first_name": "A"}, format="json").json()[
        "tags"
    ] == ["beta"]  # not given: kept
    listed = api.get("/api/v1/contacts/", {"tag": "BETA"}).json()["results"]
    assert [row["id"] for row in listed] == [contact_id]
    assert other.pk not in [
        row["id"] for row in api.get("/api/v1/contacts/", {"tag": "beta"}).json()["results"]
    ]
    too_long = api.patch(f"/api/v1/contacts/{contact_id}/", {"tags": ["x" * 51]}, format="json")
    assert too_long.status_code == 400 and "tags" in too_long.json().get("errors", too_long.json())


def test_a_saved_view_keeps_the_tag_filter(web):
    web.post(reverse("saved_view_save", args=["contacts"]), {"name": "VIPs", "query": "tag=vip&page=2"})
    assert SavedView.objects.get(name="VIPs").query == "tag=vip"


def test_a_merge_keeps_the_tags_of_both_contacts_once():
    survivor, other = ContactFactory(), ContactFactory()
    services.contact_set_tags(contact=survivor, names=["vip", "beta"])
    services.contact_set_tags(contact=other, names=["beta", "churn-risk"])
    contact_merge(survivor=survivor, other=other)
    assert _tags(survivor) == ["beta", "churn-risk", "vip"]
