"""The contact list's remaining bulk actions owned by crm (issue 20): add a task to each selected
contact, export the selection as CSV; each one set-based whatever the number of rows."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Activity, ActivityKind, Task
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def _add_tasks(web, ids, **fields):
    data = {"ids": ids, "action": "add_task", "confirm": "on", "next": "/contacts/", **fields}
    return web.post(reverse("contacts_bulk"), data)


def test_add_task_first_asks_what_task(web):
    contacts = ContactFactory.create_batch(2)
    page = web.post(reverse("contacts_bulk"), {"ids": [c.pk for c in contacts], "action": "add_task"})
    assert page.status_code == 200 and b"Add a task to 2 contacts" in page.content
    assert not Task.objects.exists()


def test_add_task_gives_each_selected_contact_a_task_for_the_owner_on_its_timeline(web, user):
    bob = UserFactory(username="bob")
    chosen = ContactFactory.create_batch(3)
    other = ContactFactory()
    response = _add_tasks(
        web, [c.pk for c in chosen], title="Call about renewal", owner=bob.pk, due_at="2030-01-15T09:00"
    )
    assert response.status_code == 302 and response.url == "/contacts/"
    tasks = Task.objects.order_by("contact_id")
    assert [t.contact_id for t in tasks] == [c.pk for c in chosen]
    assert {(t.owner_id, t.title, t.status) for t in tasks} == {(bob.pk, "Call about renewal", "open")}
    assert tasks[0].due_at == datetime(2030, 1, 15, 9, tzinfo=UTC)
    assert tasks[0].account_id == chosen[0].account_id  # filed on the contact's account
    assert not Task.objects.filter(contact=other).exists()
    entries = Activity.objects.filter(kind=ActivityKind.TASK_CREATED)
    assert sorted(entries.values_list("contact_id", flat=True)) == sorted(c.pk for c in chosen)
    assert set(entries.values_list("actor_id", flat=True)) == {user.pk}


@pytest.mark.parametrize("fields", [{"title": ""}, {"title": "x" * 201}, {"owner": ""}, {"due_at": "soon"}])
def test_a_bad_task_is_a_400_naming_the_problem_and_adds_nothing(web, user, fields):
    contact = ContactFactory()
    response = _add_tasks(web, [contact.pk], **{"title": "Call", "owner": user.pk, **fields})
    assert response.status_code == 400
    assert b"field-error" in response.content
    assert not Task.objects.exists()


def _queries_to_add_tasks(web, user, count: int) -> int:
    ids = [c.pk for c in ContactFactory.create_batch(count)]
    with CaptureQueriesContext(connection) as queries:
        _add_tasks(web, ids, title="Follow up", owner=user.pk)
    assert Task.objects.filter(contact_id__in=ids).count() == count
    return len(queries)


def test_add_task_is_a_constant_number_of_queries(web, user):
    assert _queries_to_add_tasks(web, user, 2) == _queries_to_add_tasks(web, user, 30)


def _exported(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_export_downloads_the_selection_with_the_list_export_columns(web):
    chosen = ContactFactory.create_batch(2)
    ContactFactory()
    response = web.post(reverse("contacts_bulk"), {"ids": [c.pk for c in chosen], "action": "export"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "contacts-selected" in response["Content-Disposition"]
    rows = _exported(response)
    assert [int(row["Contact id"]) for row in rows] == [c.pk for c in chosen]
    assert rows[0]["Account name"] == chosen[0].account.name
    whole_list = web.get(reverse("contact_export"))
    assert list(rows[0]) == list(_exported(whole_list)[0])  # the same columns as the list's export


def _queries_to_export(web, count: int) -> int:
    ids = [c.pk for c in ContactFactory.create_batch(count)]
    with CaptureQueriesContext(connection) as queries:
        assert len(_exported(web.post(reverse("contacts_bulk"), {"ids": ids, "action": "export"}))) == count
    return len(queries)


def test_export_is_a_constant_number_of_queries(web):
    assert _queries_to_export(web, 2) == _queries_to_export(web, 30)


def test_too_many_rows_are_refused_with_a_message(web):
    response = web.post(
        reverse("contacts_bulk"), {"ids": list(range(1, 502)), "action": "export"}, follow=True
    )
    assert any("at most 500" in str(m) for m in response.context["messages"])


def test_the_bulk_bar_offers_every_action(web):
    ContactFactory()
    page = web.get(reverse("contact_list")).content.decode()
    for value in ("assign_owner", "add_task", "opt_out", "export", "delete"):
        assert f'value="{value}"' in page
    assert 'value="opt_in"' not in page  # never an opt-in in bulk


def test_signed_out_people_cannot_use_bulk_actions(client):
    contact = ContactFactory()
    response = client.post(reverse("contacts_bulk"), {"ids": [contact.pk], "action": "export"})
    assert response.status_code == 302 and "login" in response.url
