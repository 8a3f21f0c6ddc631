"""Helpers for the journey tests: a journey play on an event trigger and contacts that enter it."""

from datetime import UTC, datetime

import pytest
import time_machine

from plays import engine
from plays import journey as journey_module
from plays.models import Play
from tests.factories import EventFactory
from tests.plays.conftest import make_play, opted_in_contact

# A Wednesday, 15:00 UTC (10:00 in New York): inside every window the tests use.
T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def send(*templates: str, weights=None) -> dict:
    weights = weights or [1] * len(templates)
    return {
        "type": "send",
        "variants": [
            {"name": chr(ord("A") + i), "template": text, "weight": weight}
            for i, (text, weight) in enumerate(zip(templates, weights, strict=True))
        ],
    }


def journey(steps: list[dict], **fields) -> Play:
    return make_play(
        name=fields.pop("name", "Welcome journey"),
        moment=fields.pop("moment", "onboarding"),
        trigger={"type": "event", "event": fields.pop("event", "signed_up")},
        template="Hi {first_name}",
        steps=steps,
        **fields,
    )


def entering(count: int = 1, *, at: datetime = T0, event: str = "signed_up", **contact_fields) -> list:
    """Opted-in contacts, each with a ``signed_up`` event at ``at`` (their own account)."""
    people = []
    for _ in range(count):
        contact = opted_in_contact(**contact_fields)
        EventFactory(contact=contact, name=event, occurred_at=at)
        people.append(contact)
    return people


@pytest.fixture
def clock():
    """The clock pinned at T0; ``run``/``advance`` move it to the moment they act at, so the
    texts' own timestamps (caps, cooldowns) agree with the engine's ``now``."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def run(play: Play, at: datetime = T0, clock=None, **options):
    with time_machine.travel(at, tick=False):
        return engine.play_run(play, now=at, **options)


def advance(play: Play, at: datetime, **options):
    with time_machine.travel(at, tick=False):
        return journey_module.journeys_advance(play, now=at, **options)
