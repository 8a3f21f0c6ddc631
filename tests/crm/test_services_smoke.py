import pytest

from crm import services
from crm.models import ActivityKind, Contact
from tests.factories import AccountFactory, ContactFactory, DealFactory, stage


@pytest.mark.django_db
def test_contact_create_parses_phone_and_infers_timezone():
    contact = services.contact_create(first_name="Ann", email="Ann@Example.COM", phone="(415) 555-2671")
    assert contact.email == "ann@example.com"
    assert contact.phone == "+14155552671"
    assert contact.phone_raw == "(415) 555-2671"
    assert contact.phone_valid is True
    assert contact.timezone == "America/Los_Angeles"


@pytest.mark.django_db
def test_deal_stage_change_lands_on_timeline():
    deal = DealFactory()
    services.deal_update(deal=deal, stage=stage("closed-won"))
    deal.refresh_from_db()
    assert deal.closed_at is not None
    kinds = list(deal.account.activities.values_list("kind", flat=True))
    # The factory bypasses services, so only the update is on the timeline.
    assert kinds.count(ActivityKind.DEAL_STAGE_CHANGE) == 1


@pytest.mark.django_db
def test_factories_build_related_records():
    contact = ContactFactory(account=AccountFactory(name="Acme"))
    assert Contact.objects.get(pk=contact.pk).account.name == "Acme"
