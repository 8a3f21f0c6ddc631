"""The global control group (issue 17): a stable hash of the contact id and a salt; plays record
its members in their own arm and never text them; governance refuses automated texts to them
(reason global_control) and lets an agent's manual text through."""

from collections import Counter

import pytest

from crm import global_control
from crm.models import SmsConsent
from plays.engine import play_run
from plays.models import Arm, Enrollment, Outcome
from sms.governance import SEND, SUPPRESSED, Candidate, decide
from sms.models import Message, MessageKind
from sms.services.sending import message_send
from tests.factories import ContactFactory
from tests.plays.conftest import make_play
from tests.plays.test_engine import renewing_account

pytestmark = pytest.mark.django_db


def test_membership_is_a_stable_hash_of_the_id_and_the_salt(settings):
    settings.GLOBAL_CONTROL_PERCENT = 0
    assert global_control.global_control_members((pk, None) for pk in range(1, 10_001)) == set()
    settings.GLOBAL_CONTROL_PERCENT = 10
    settings.GLOBAL_CONTROL_SALT = "salt-a"
    members = global_control.global_control_members((pk, None) for pk in range(1, 10_001))
    # 10% of 10,000 ids: binomial SD 30, so 880-1,120 is four SDs.
    assert 880 <= len(members) <= 1120
    assert members == global_control.global_control_members((pk, None) for pk in range(1, 10_001))  # stable
    assert all(global_control.in_global_control(pk) == (pk in members) for pk in range(1, 2001))
    # By hand: the first 8 bytes of SHA-256("salt-a:contact:<id>") mod 10,000 below 1,000.
    import hashlib

    for pk in (1, 2, 3, 500, 9999):
        bucket = int.from_bytes(hashlib.sha256(f"salt-a:contact:{pk}".encode()).digest()[:8], "big") % 10_000
        assert (pk in members) == (bucket < 1000)
    settings.GLOBAL_CONTROL_SALT = "salt-b"
    assert (
        global_control.global_control_members((pk, None) for pk in range(1, 10_001)) != members
    )  # a new salt, a new group


def _member_and_not(contacts):
    inside = [c for c in contacts if global_control.in_global_control(c.pk)]
    outside = [c for c in contacts if not global_control.in_global_control(c.pk)]
    assert inside and outside
    return inside, outside


def test_governance_refuses_automated_texts_to_the_group_and_lets_manual_ones_through(settings):
    settings.GLOBAL_CONTROL_PERCENT = 50
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(12)]
    inside, outside = _member_and_not(contacts)
    automated = decide([Candidate(contact_id=c.pk) for c in inside + outside])
    assert [(d.outcome, d.reason) for d in automated[: len(inside)]] == [
        (SUPPRESSED, "global_control")
    ] * len(inside)
    assert {d.outcome for d in automated[len(inside) :]} == {SEND}
    manual = decide([Candidate(contact_id=c.pk) for c in inside], automated=False)
    assert {d.outcome for d in manual} == {SEND}
    message = message_send(contact=inside[0], body="Hi, answering your question", kind=MessageKind.MANUAL)
    assert message.pk and message.kind == MessageKind.MANUAL
    # Off again: nobody is held out.
    settings.GLOBAL_CONTROL_PERCENT = 0
    assert {d.outcome for d in decide([Candidate(contact_id=c.pk) for c in inside])} == {SEND}


def test_plays_record_the_group_in_its_own_arm_and_never_text_it(settings):
    settings.GLOBAL_CONTROL_PERCENT = 30
    play = make_play(holdout_percent=0)
    _, people = renewing_account(contacts=30)
    inside, outside = _member_and_not(people)
    result = play_run(play)
    held = Enrollment.objects.filter(play=play, arm=Arm.GLOBAL_CONTROL)
    assert set(held.values_list("contact_id", flat=True)) == {c.pk for c in inside}
    assert set(held.values_list("outcome", "reason")) == {(Outcome.SUPPRESSED, "global_control")}
    assert not Message.objects.filter(contact__in=inside).exists()
    assert Message.objects.filter(contact__in=outside).count() == len(outside)
    assert result.arms[Arm.GLOBAL_CONTROL] == len(inside) and result.reasons["global_control"] == len(inside)
    # Decided once: a second run records nothing new for them.
    play_run(play)
    assert (
        Counter(Enrollment.objects.filter(play=play).values_list("contact_id", flat=True)).most_common(1)[0][
            1
        ]
        == 1
    )


# --- GLOBAL_CONTROL_UNIT=account: whole accounts are drawn ------------------------------------


def test_by_account_every_contact_of_an_account_shares_its_draw(settings):
    import hashlib

    settings.GLOBAL_CONTROL_PERCENT = 50
    settings.GLOBAL_CONTROL_SALT = "salt-a"
    settings.GLOBAL_CONTROL_UNIT = "account"
    accounts = global_control.global_control_accounts(range(1, 201))
    assert 70 <= len(accounts) <= 130  # 50% of 200: binomial SD 7
    for account_id in range(1, 201):
        digest = hashlib.sha256(f"salt-a:account:{account_id}".encode()).digest()
        assert (account_id in accounts) == (int.from_bytes(digest[:8], "big") % 10_000 < 5000)
        # Every contact id of the account gets the account's draw, whatever its own hash says.
        assert {global_control.in_global_control(pk, account_id) for pk in range(1, 40)} == {
            account_id in accounts
        }
    # A contact without an account is drawn by its own id, as with the unit contact.
    contacts = global_control.global_control_members((pk, None) for pk in range(1, 201))
    assert all(global_control.in_global_control(pk, None) == (pk in contacts) for pk in range(1, 201))
    assert global_control.global_control_members([(1, 5), (2, 5), (3, None)]) == (
        ({1, 2} if 5 in accounts else set()) | ({3} if 3 in contacts else set())
    )
    # The unit contact ignores the account.
    settings.GLOBAL_CONTROL_UNIT = "contact"
    assert all(global_control.in_global_control(pk, 5) == (pk in contacts) for pk in range(1, 201))


def test_by_account_governance_and_plays_hold_out_whole_accounts(settings):
    settings.GLOBAL_CONTROL_PERCENT = 50
    settings.GLOBAL_CONTROL_SALT = "salt-by-account"
    settings.GLOBAL_CONTROL_UNIT = "account"
    play = make_play(holdout_percent=0)
    booked = [renewing_account(contacts=3) for _ in range(10)]
    drawn = global_control.global_control_accounts(account.pk for account, _ in booked)
    inside = [c for account, people in booked if account.pk in drawn for c in people]
    outside = [c for account, people in booked if account.pk not in drawn for c in people]
    assert inside and outside
    # Each account's three contacts fall on one side: with the unit contact they would be mixed.
    automated = decide([Candidate(contact_id=c.pk) for c in inside + outside])
    assert {(d.outcome, d.reason) for d in automated[: len(inside)]} == {(SUPPRESSED, "global_control")}
    assert {d.outcome for d in automated[len(inside) :]} == {SEND}
    assert {d.outcome for d in decide([Candidate(contact_id=c.pk) for c in inside], automated=False)} == {
        SEND
    }
    result = play_run(play)
    held = Enrollment.objects.filter(play=play, arm=Arm.GLOBAL_CONTROL)
    assert set(held.values_list("contact_id", flat=True)) == {c.pk for c in inside}
    assert not Message.objects.filter(contact__in=inside).exists()
    assert Message.objects.filter(contact__in=outside).count() == len(outside)
    assert result.arms[Arm.GLOBAL_CONTROL] == len(inside)
