"""Scenarios 2 and 3 count what happened, or their throughput numbers mean nothing: on small data
sets from the scenarios' own builders, a correct run counts clean, and the counts notice a text
sent twice, a text never sent, a callback applied twice and a lost inbound text."""

import pytest
from django.test import Client
from django_q.brokers import orm

from bench.scenarios import outbox, webhooks
from crm.models import Activity, ActivityKind
from sms.models import Message, MessageStatus

pytestmark = pytest.mark.django_db


# --- Scenario 2: outbox -------------------------------------------------------------------


@pytest.fixture
def contacts(settings):
    settings.SMS_SEGMENTS_PER_SECOND = 0
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 0, 24
    settings.SMS_PROVIDER = "console"
    return outbox.build_contacts(12)


def test_the_one_at_a_time_baseline_sends_every_text_once_and_counts_it(contacts):
    run = outbox.run_baseline(contacts, orm.ORM(list_key="bench-test"))
    assert run["problems"] == []
    assert (run["provider_calls"], run["sent_twice"], run["never_sent"]) == (12, 0, 0)
    assert run["statuses"] == {MessageStatus.SENT: 12} and run["distinct_sids_on_texts"] == 12
    assert run["timeline"] == {ActivityKind.SMS_SENT: 12}


def test_the_count_notices_a_text_sent_twice_and_one_never_sent(contacts):
    broker = orm.ORM(list_key="bench-test")
    run = outbox.run_baseline(contacts, broker)
    ids = list(Message.objects.filter(source=outbox.SOURCE).order_by("pk").values_list("pk", flat=True))
    text = Message.objects.get(pk=ids[3])
    lines = [f"SMS to {m.to_number} ({m.provider_sid}): {m.body}" for m in Message.objects.order_by("pk")]
    # The provider's log says text 3 went out a second time (a new SID) and text 5 never did.
    lines.append(f"SMS to {text.to_number} (SM{'f' * 32}): {text.body}")
    del lines[5]
    counted = outbox.count(ids, lines, expect_final=False)
    assert (counted["sent_twice"], counted["never_sent"]) == (1, 1)
    assert any("already sent" in p for p in counted["problems"])
    assert any("never reached the provider" in p for p in counted["problems"])
    assert any("carried by no text" in p for p in counted["problems"])
    assert run["problems"] == []


def test_the_count_wants_every_text_delivered_when_the_cluster_ran(contacts):
    run = outbox.run_baseline(contacts, orm.ORM(list_key="bench-test"))
    lines = [f"SMS to {m.to_number} ({m.provider_sid}): {m.body}" for m in Message.objects.order_by("pk")]
    ids = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    counted = outbox.count(ids, lines, expect_final=True)  # no playback ran: still 'sent'
    assert any("12 texts sent" in p or "0 of 12 texts delivered" in p for p in counted["problems"])
    assert run["problems"] == []


def test_the_outbox_report_judges_the_two_worker_budget():
    def cluster(rate):
        return {
            "sent_per_second": {"median": rate, "min": rate, "max": rate},
            "final_per_second": {"median": rate / 2, "min": rate / 2, "max": rate / 2},
            "runs": [{"provider_calls": 100, "sent_twice": 0, "never_sent": 0, "problems": [],
                      "cpu": {"server_cpu_ms": 3.0, "database_cpu_ms": 1.0, "this_process_cpu_ms": 0.1},
                      "load_before": [0.5, 0.5, 0.5]}],
        }  # fmt: skip

    run = {
        "scenario": "outbox",
        "broker": "redis",
        "messages": 100,
        "baseline_messages": 50,
        "baseline": {"median": 50.0, "min": 50.0, "max": 50.0, "all": []},
        "clusters": {"1": cluster(300.0), "2": cluster(520.0)},
    }
    lines = outbox.markdown([run])
    two = next(line for line in lines if line.startswith("| redis | 2 |"))
    assert "✅" in two and "10.4x" in two
    run["clusters"]["2"] = cluster(480.0)
    two = next(line for line in outbox.markdown([run]) if line.startswith("| redis | 2 |"))
    assert "❌" in two


# --- Scenario 3: webhooks -----------------------------------------------------------------


@pytest.fixture
def posted(settings):
    """The scenario's requests, signed as the scenario signs them, through Django's client."""
    settings.TWILIO_AUTH_TOKEN = webhooks.AUTH_TOKEN
    settings.PUBLIC_BASE_URL = "http://testserver"
    data = webhooks.build(30, 20)
    webhooks.reset(data)
    requests = webhooks.sign(webhooks.requests_for(data), settings.PUBLIC_BASE_URL)
    client = Client()
    statuses = [
        client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code
        for path, params, signature in requests
    ]
    return data, requests, statuses


def test_the_request_mix_has_out_of_order_and_repeated_callbacks_and_repeated_inbound(posted):
    _, requests, statuses = posted
    status_posts = [(p["MessageSid"], p["MessageStatus"]) for path, p, _ in requests if "status" in path]
    inbound_posts = [p["MessageSid"] for path, p, _ in requests if "inbound" in path]
    assert len(set(status_posts)) < len(status_posts)  # repeats
    assert {status for _, status in status_posts} == {"sent", "delivered"}
    assert len(set(inbound_posts)) == 20 and len(inbound_posts) >= 20
    assert statuses == [200] * len(requests)  # every signature checks out


def test_a_correct_run_checks_clean_and_every_callback_is_applied_once(posted):
    data, requests, _ = posted
    result = webhooks.check(data, requests)
    assert result["problems"] == []
    assert result["text_statuses"] == {MessageStatus.DELIVERED: 30}
    assert result["inbound_stored"] == 20


def test_the_check_notices_a_callback_applied_twice_and_a_lost_inbound_text(posted):
    data, requests, _ = posted
    Activity.objects.create(
        kind=ActivityKind.SMS_DELIVERED, contact_id=data["contacts"][0][0], summary="again"
    )
    Message.objects.filter(provider_sid__startswith=webhooks.INBOUND_SID_PREFIX).order_by(
        "pk"
    ).first().delete()
    problems = webhooks.check(data, requests)["problems"]
    assert any("'delivered' timeline entries" in p for p in problems)
    assert any("inbound texts stored" in p for p in problems)


def test_the_webhook_report_needs_capacity_latency_and_clean_checks():
    def runs(rps, p99):
        cpu = {"server_cpu_ms": 3.0, "database_cpu_ms": 1.0, "this_process_cpu_ms": 0.5}
        return [{"requests": 10, "requests_per_second": rps, "p50_ms": 5, "p95_ms": 9, "p99_ms": p99,
                 "errors": 0, "problems": [], "load_before": [0.5, 0.5, 0.5], "cpu": cpu}]  # fmt: skip

    def summary(rs):
        keys = ("requests_per_second", "p50_ms", "p95_ms", "p99_ms")
        return {k: {"median": rs[0][k], "min": rs[0][k], "max": rs[0][k]} for k in keys}

    measured = {"sequential": runs(100, 20), "capacity": runs(320, 60), "budget": runs(299, 80)}
    run = {"scenario": "webhooks", "concurrency": 8, "rate": 300.0, "gunicorn_workers": 2, "problems": [],
           "runs": measured, "summary": {k: summary(v) for k, v in measured.items()}}  # fmt: skip
    assert "p99 80 ms at 300/s, 0 errors: ✅" in "\n".join(webhooks.markdown([run]))
    measured["budget"] = runs(299, 120)
    run["summary"]["budget"] = summary(measured["budget"])
    assert "❌" in "\n".join(webhooks.markdown([run]))
