"""factory-boy factories for every model. Phones are valid US numbers unless overridden."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from crm import models as crm


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests")
    role = crm.User.Role.AGENT


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Account

    name = factory.Sequence(lambda n: f"Account {n} LLC")
    domain = factory.Sequence(lambda n: f"account{n}.example.com")
    owner = factory.SubFactory(UserFactory)
    plan = "growth"
    seats = 10
    signed_up_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=90))
    timezone = "America/New_York"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Contact

    account = factory.SubFactory(AccountFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    # 212-555-01xx style numbers are reserved for fiction; use valid NANP exchanges instead.
    phone = factory.Sequence(lambda n: f"+1212{2000000 + n:07d}")
    phone_raw = factory.LazyAttribute(lambda c: c.phone)
    phone_valid = True
    timezone = "America/New_York"


def stage(slug: str) -> crm.PipelineStage:
    return crm.PipelineStage.objects.get(slug=slug)


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Deal

    name = factory.Sequence(lambda n: f"Deal {n}")
    account = factory.SubFactory(AccountFactory)
    owner = factory.SelfAttribute("account.owner")
    kind = crm.DealKind.NEW
    stage = factory.LazyFunction(lambda: stage("qualification"))
    amount = Decimal("12000.00")


class RenewalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Renewal

    account = factory.SubFactory(AccountFactory)
    start_date = factory.LazyFunction(lambda: (timezone.now() - timedelta(days=300)).date())
    end_date = factory.LazyAttribute(lambda r: r.start_date + timedelta(days=365))
    acv = Decimal("12000.00")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Order

    contact = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("contact.account")
    amount = Decimal("80.00")
    gross_margin = Decimal("0.6000")
    ordered_at = factory.LazyFunction(timezone.now)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Event

    contact = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("contact.account")
    name = "login"
    occurred_at = factory.LazyFunction(timezone.now)


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Task

    owner = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory)
    title = factory.Sequence(lambda n: f"Follow up {n}")
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Activity

    contact = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("contact.account")
    kind = crm.ActivityKind.NOTE
    summary = "Spoke about onboarding"
