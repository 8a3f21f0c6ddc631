"""Saved replies filled in for a conversation (sms/inbox/replies.py)."""

import pytest

from sms.inbox.replies import saved_replies_for, saved_reply_fields, saved_reply_render
from sms.models import SavedReply
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return UserFactory(username="agent", first_name="Alex", last_name="Agent")


@pytest.fixture
def contact():
    csm = UserFactory(username="csm", first_name="Casey", last_name="Manager")
    return ContactFactory(first_name="Dana", last_name="Doe", account=AccountFactory(name="Acme", owner=csm))


def test_every_placeholder_is_filled(contact, agent):
    fields = saved_reply_fields(contact=contact, agent=agent)
    assert fields == {
        "first_name": "Dana",
        "last_name": "Doe",
        "account": "Acme",
        "owner": "Casey",
        "agent": "Alex",
    }
    body = "Hi {first_name} {last_name}! {agent} here; {owner} looks after {account}."
    assert saved_reply_render(body, fields) == "Hi Dana Doe! Alex here; Casey looks after Acme."


def test_unknown_placeholders_and_other_braces_are_left_untouched(contact, agent):
    fields = saved_reply_fields(contact=contact, agent=agent)
    body = "Hi {first_name}, your code is {code} {FIRST_NAME} { first_name } {{first_name}} {} {first-name}"
    assert saved_reply_render(body, fields) == (
        "Hi Dana, your code is {code} {FIRST_NAME} { first_name } {Dana} {} {first-name}"
    )


def test_missing_values_become_empty():
    contact = ContactFactory(first_name="", last_name="", account=None, owner=None)
    fields = saved_reply_fields(contact=contact, agent=None)
    assert saved_reply_render("[{first_name}|{last_name}|{account}|{owner}|{agent}]", fields) == "[||||]"


def test_owner_falls_back_to_the_contacts_owner_and_to_the_username():
    owner = UserFactory(username="ownerbot", first_name="", last_name="")
    contact = ContactFactory(account=None, owner=owner)
    assert saved_reply_fields(contact=contact)["owner"] == "ownerbot"
    with_account = ContactFactory(account=AccountFactory(owner=None), owner=owner)
    assert saved_reply_fields(contact=with_account)["owner"] == "ownerbot"


def test_values_are_not_reinterpreted(agent):
    contact = ContactFactory(first_name="{last_name}", last_name="<b>Bold</b>", account=None)
    fields = saved_reply_fields(contact=contact, agent=agent)
    assert saved_reply_render("{first_name} {last_name}", fields) == "{last_name} <b>Bold</b>"


def test_saved_replies_for_renders_all_in_picker_order(contact, agent, django_assert_num_queries):
    SavedReply.objects.create(name="Thanks", body="Thanks {first_name}!", position=2)
    SavedReply.objects.create(name="Hello", body="Hello from {agent} at {account}", position=1)
    with django_assert_num_queries(1):
        replies = saved_replies_for(contact=contact, agent=agent)
    assert [(reply.name, reply.body) for reply in replies] == [
        ("Hello", "Hello from Alex at Acme"),
        ("Thanks", "Thanks Dana!"),
    ]
