"""Admin-editable intent patterns cannot hold the inbound webhook: catastrophic shapes are
refused on save with the reason (admin included), and whatever is already stored runs on a
bounded engine with a time budget per reply."""

import pytest
from django.contrib.admin.sites import site

from sms.inbox.intent_rules import DEFAULT_RULES
from sms.inbox.intents import classify
from sms.inbox.patterns import pattern_problem
from sms.models import Conversation, Intent, IntentRule, Message
from tests.factories import UserFactory
from tests.sms.test_webhooks import INBOUND, inbound_params, signed_post

pytestmark = pytest.mark.django_db

EVIL = r"^(a+)+$"


@pytest.mark.parametrize(
    "pattern", [EVIL, r"(a|aa)*$", r"(\w+\s?)+$", r"(x+)\1", r"(?:a*)*b", "stop(texting"]
)
def test_catastrophic_or_broken_patterns_are_refused_on_save(pattern):
    rule = IntentRule(intent=Intent.HELP, pattern=pattern, confidence=0.9)
    with pytest.raises(Exception) as refused:
        rule.full_clean()
    assert "pattern" in refused.value.message_dict


def test_every_standard_rule_passes_the_check():
    assert [rule["pattern"] for rule in DEFAULT_RULES if pattern_problem(rule["pattern"])] == []


def test_the_admin_refuses_a_catastrophic_pattern_with_the_reason(client):
    client.force_login(UserFactory(username="root", role="admin", is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/sms/intentrule/add/",
        {"intent": "help", "pattern": EVIL, "confidence": "0.9", "position": "1", "is_active": "on"},
    )
    assert response.status_code == 200 and "can take minutes" in response.content.decode()
    assert not IntentRule.objects.filter(pattern=EVIL).exists()
    assert IntentRule in site._registry


def test_a_catastrophic_pattern_already_stored_runs_in_linear_time(client):
    # Written past validation (a migration, the shell): RE2 runs it in linear time. On a
    # backtracking engine this reply takes 2**40 steps: the test would never finish.
    IntentRule.objects.all().delete()
    IntentRule.objects.create(intent=Intent.HELP, pattern=EVIL, confidence=0.99, position=0)
    IntentRule.objects.create(intent=Intent.PRICING, pattern="pricing", confidence=0.5, position=1)
    body = "a" * 40 + "! pricing"
    response = signed_post(client, INBOUND, inbound_params("+14155552671", body))
    assert response.status_code == 200
    assert Message.objects.get().intent == Intent.PRICING


def test_a_stored_look_around_pattern_that_backtracks_is_cut_off_by_the_budget(client, caplog):
    # RE2 has no look-arounds, so this one runs on the backtracking engine, within the budget.
    IntentRule.objects.all().delete()
    IntentRule.objects.create(intent=Intent.HELP, pattern=r"(a|aa)+(?=$)", confidence=0.99, position=0)
    body = "a" * 60 + "!"
    response = signed_post(client, INBOUND, inbound_params("+14155552671", body))
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.body == body and Conversation.objects.filter(contact=message.contact).exists()
    assert "time budget ran out" in caplog.text


def test_ordinary_patterns_still_match_with_the_stdlib_syntax_and_unicode():
    rules = [
        IntentRule(pk=1, intent=Intent.MEETING, pattern=r"\bstop\s+by\b", confidence=0.9, position=1),
        IntentRule(pk=2, intent=Intent.OPT_OUT, pattern=r"^\W*stop\b(?!\s+by\b)", confidence=0.8, position=2),
        IntentRule(pk=3, intent=Intent.HELP, pattern=r"\bcafé\w*", confidence=0.7, position=3),
    ]
    assert classify("Stop by tomorrow?", rules).intent == Intent.MEETING
    assert classify("STOP it", rules).intent == Intent.OPT_OUT
    assert classify("le CAFÉS", rules).intent == Intent.HELP
