"""Bugs the browser tests found, pinned down without a browser (so they run everywhere)."""

import pytest
from django.urls import reverse

from sms.services.consent import consent_record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "proof,shown",
    [
        ({"note": "Asked on the call of May 3"}, "Asked on the call of May 3"),
        ({"disclosure": "Texts about your account"}, "Texts about your account"),
        ({"message": "START", "message_sid": "SM1"}, "START"),
    ],
)
def test_the_sms_panel_shows_consent_proof_whatever_keys_it_has(web, proof, shown):
    # The history's proof line chained |default: filters whose arguments were proof keys; any key
    # missing from the proof raised VariableDoesNotExist, so the panel answered 500.
    contact = ContactFactory()
    consent_record(contact=contact, action="opt_in", source="agent", proof=proof)
    response = web.get(reverse("sms_contact_panel", args=[contact.pk]))
    assert response.status_code == 200
    assert f'<div class="muted small">{shown}</div>' in response.content.decode()
