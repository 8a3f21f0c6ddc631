"""Unread state per conversation and per user: the inbox list, opening, "mark unread", the
Unread filter, the API's ``unread`` and a constant number of queries however long the list."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import ApiToken
from sms.inbox import services
from sms.models import Conversation, ConversationRead
from tests.factories import UserFactory
from tests.sms.inbox.test_views import bulk_conversations, inbox_url, make_conversation, queue_ids

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/sms/conversations/"


def unread_ids(html: str) -> list[int]:
    return [
        int(pk)
        for pk in re.findall(r'class="inbox-row[^"]*is-unread[^"]*" data-conversation-row="(\d+)"', html)
    ]


def a_reply_arrives(conversation: Conversation, *, minutes_later: int = 1) -> None:
    """The customer texts again (what inbound routing writes on the conversation)."""
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() + timedelta(minutes=minutes_later)
    )


def api_for(user) -> APIClient:
    _, key = ApiToken.issue(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_new_reply_is_unread_bold_with_a_dot(web):
    conversation = make_conversation(body="Are you there?")
    html = web.get(inbox_url(view="all")).content.decode()
    assert unread_ids(html) == [conversation.pk]
    row = html[html.index(f'data-conversation-row="{conversation.pk}"') - 80 :]
    assert "inbox-unread-dot" in row.split("</li>")[0]
    assert "Unread: " in row.split("</li>")[0]  # said to screen readers, not only drawn


def test_opening_reads_it_for_me_only_until_the_next_reply(web, user, client):
    conversation = make_conversation()
    other = make_conversation()
    web.get(inbox_url(view="all", conversation=conversation.pk))
    assert unread_ids(web.get(inbox_url(view="all")).content.decode()) == [other.pk]

    colleague = UserFactory()
    client.force_login(colleague)
    assert sorted(unread_ids(client.get(inbox_url(view="all")).content.decode())) == sorted(
        [conversation.pk, other.pk]
    )

    client.force_login(user)
    a_reply_arrives(conversation)
    assert sorted(unread_ids(client.get(inbox_url(view="all")).content.decode())) == sorted(
        [conversation.pk, other.pk]
    )


def test_a_conversation_without_a_reply_from_the_customer_is_not_unread(web):
    conversation = make_conversation()
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=None)
    html = web.get(inbox_url(view="all")).content.decode()
    assert queue_ids(html) == [conversation.pk] and unread_ids(html) == []


def test_mark_unread_makes_it_unread_again_and_closes_the_thread(web, user):
    conversation = make_conversation()
    page = web.get(inbox_url(view="all", conversation=conversation.pk)).content.decode()
    assert reverse("inbox_mark_unread", args=[conversation.pk]) in page
    assert ConversationRead.objects.filter(user=user, conversation=conversation).exists()

    response = web.post(
        reverse("inbox_mark_unread", args=[conversation.pk]) + f"?view=all&conversation={conversation.pk}",
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert unread_ids(html) == [conversation.pk]
    assert "Pick a conversation" in html  # the thread closed: showing it would read it again
    assert f"Marked {conversation.contact} as unread." in html
    assert not ConversationRead.objects.filter(user=user, conversation=conversation).exists()


def test_mark_unread_without_js_redirects_and_is_post_only(web):
    conversation = make_conversation()
    url = reverse("inbox_mark_unread", args=[conversation.pk])
    assert web.get(url).status_code == 405
    response = web.post(url + "?view=all")
    assert response.status_code == 302 and "conversation=" not in response["Location"]
    assert web.post(reverse("inbox_mark_unread", args=[999999])).status_code == 404


def test_mark_unread_needs_a_signed_in_user(client):
    conversation = make_conversation()
    response = client.post(reverse("inbox_mark_unread", args=[conversation.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_unread_filter_shows_only_unread_and_counts_them(web, user):
    read, unread = make_conversation(), make_conversation()
    services.conversation_mark_read(conversation=read, user=user)
    html = web.get(inbox_url(view="all")).content.decode()
    assert sorted(queue_ids(html)) == sorted([read.pk, unread.pk])
    assert re.search(r'inbox-unread-filter"[^>]*>Unread <span class="count">1</span>', html)
    filtered = web.get(inbox_url(view="all", unread=1)).content.decode()
    assert queue_ids(filtered) == [unread.pk]
    # The filter is kept by every link, and the toggle turns it off again.
    assert "unread=1" in filtered.split("data-conversation-row")[1]
    services.conversation_mark_read(conversation=unread, user=user)
    assert "Nothing unread here." in web.get(inbox_url(view="all", unread=1)).content.decode()


def test_unread_state_is_a_constant_number_of_queries(web, user):
    def page_queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            html = web.get(inbox_url(view="all")).content.decode()
        return len(captured.captured_queries), html

    bulk_conversations(5, assignee=user)
    for conversation in Conversation.objects.all()[:2]:
        services.conversation_mark_read(conversation=conversation, user=user)
    small, html = page_queries()
    assert len(unread_ids(html)) == 3

    bulk_conversations(300, assignee=user)
    for conversation in Conversation.objects.order_by("id")[5:40]:
        services.conversation_mark_read(conversation=conversation, user=user)
    services.conversation_mark_read(conversation=Conversation.objects.first(), user=UserFactory())
    large, html = page_queries()
    assert len(queue_ids(html)) == 50 and 0 < len(unread_ids(html)) < 50
    assert large == small


# --- API --------------------------------------------------------------------------------


def test_the_api_says_unread_for_the_caller(api, user):
    conversation = make_conversation()
    assert api.get(CONVERSATIONS).json()["results"][0]["unread"] is True
    services.conversation_mark_read(conversation=conversation, user=user)
    assert api.get(CONVERSATIONS).json()["results"][0]["unread"] is False
    assert api_for(UserFactory()).get(CONVERSATIONS).json()["results"][0]["unread"] is True
    a_reply_arrives(conversation)
    assert api.get(f"{CONVERSATIONS}{conversation.pk}/").json()["unread"] is True


def test_the_api_filters_unread_and_marks_read_and_unread(api, user):
    first, second = make_conversation(), make_conversation()
    response = api.post(f"{CONVERSATIONS}{first.pk}/read/")
    assert response.status_code == 200 and response.json()["unread"] is False
    assert [row["id"] for row in api.get(CONVERSATIONS, {"unread": "true"}).json()["results"]] == [second.pk]
    assert [row["id"] for row in api.get(CONVERSATIONS, {"unread": "false"}).json()["results"]] == [first.pk]
    assert api.get(CONVERSATIONS, {"unread": "maybe"}).status_code == 400
    response = api.post(f"{CONVERSATIONS}{first.pk}/unread/")
    assert response.status_code == 200 and response.json()["unread"] is True
    assert api.post(f"{CONVERSATIONS}999999/read/").status_code == 404


def test_the_api_list_reads_unread_state_in_constant_queries(api, user, django_assert_max_num_queries):
    bulk_conversations(60, assignee=user)
    for conversation in Conversation.objects.all()[:10]:
        services.conversation_mark_read(conversation=conversation, user=user)
    with django_assert_max_num_queries(6):  # token, count, page (unread in the same query)
        rows = api.get(CONVERSATIONS).json()["results"]
    assert {row["unread"] for row in rows} == {True, False}


def test_marking_read_twice_keeps_one_row_with_the_later_time(user):
    conversation = make_conversation()
    earlier = timezone.now() - timedelta(hours=1)
    services.conversation_mark_read(conversation=conversation, user=user, now=earlier)
    services.conversation_mark_read(conversation=conversation, user=user)
    reads = ConversationRead.objects.filter(user=user, conversation=conversation)
    assert reads.count() == 1 and reads.get().read_at > earlier


def test_the_open_conversation_stays_in_the_unread_list_once_read(web, user):
    opened, other = make_conversation(), make_conversation()
    html = web.get(inbox_url(view="all", unread=1, conversation=opened.pk)).content.decode()
    assert sorted(queue_ids(html)) == sorted([opened.pk, other.pk])
    assert unread_ids(html) == [other.pk]
    assert queue_ids(web.get(inbox_url(view="all", unread=1)).content.decode()) == [other.pk]


def test_a_reply_arriving_while_the_conversation_is_open_is_read_by_the_polled_list(web, user):
    conversation = make_conversation()
    now = timezone.now()
    services.conversation_mark_read(conversation=conversation, user=user, now=now - timedelta(minutes=10))
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=now - timedelta(minutes=1))
    assert unread_ids(web.get(reverse("inbox_queue") + "?view=all").content.decode()) == [conversation.pk]
    polled = web.get(reverse("inbox_queue") + f"?view=all&conversation={conversation.pk}").content.decode()
    assert queue_ids(polled) == [conversation.pk] and unread_ids(polled) == []
    assert ConversationRead.objects.get(user=user, conversation=conversation).read_at > now
