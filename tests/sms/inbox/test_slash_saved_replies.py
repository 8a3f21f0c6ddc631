"""The reply box's "/" list of saved replies: what the page gives the script (the browser test in
tests/e2e/test_inbox_comforts.py drives it)."""

import re

import pytest

from sms.models import SavedReply
from tests.sms.inbox.test_views import inbox_url, make_conversation

pytestmark = pytest.mark.django_db


def test_the_reply_box_lists_saved_replies_by_name_filled_in(web):
    SavedReply.objects.create(name="Thanks", body="Thanks {first_name} <3", position=1)
    SavedReply.objects.create(name="call", body="Can I call?", position=2)
    conversation = make_conversation(first_name="Dana")
    html = web.get(inbox_url(conversation=conversation.pk)).content.decode()
    menu = html[html.index('id="inbox-slash-menu"') :].split("</ul>")[0]
    assert 'role="listbox"' in html[html.index('<ul class="inbox-slash"') :].split(">")[0]
    options = re.findall(r'role="option"[^>]*data-name="([^"]*)" data-body="([^"]*)"', menu)
    assert options == [("thanks", "Thanks Dana &lt;3"), ("call", "Can I call?")]
    textarea = html[html.index('<textarea name="body" id="inbox-reply-body"') :].split(">")[0]
    assert 'aria-controls="inbox-slash-menu"' in textarea and "/ for saved replies" in textarea


def test_no_saved_replies_no_list(web):
    conversation = make_conversation()
    html = web.get(inbox_url(conversation=conversation.pk)).content.decode()
    assert "inbox-slash-menu" not in html
