"""Scenario 5's harness on a small data set: every page it times answers 200 with real rows, and
the queries per request are the same after the data grows (what the benchmark checks at 100k)."""

from bench.data_pages import PagesData
from bench.scenarios import pages


def test_every_page_answers_with_the_same_queries_as_the_data_grows(db, client):
    data = PagesData(seed=3)
    client.force_login(data.user)
    small = data.grow(to=200)
    assert (small["contacts"], small["accounts"], small["open_conversations"]) == (200, 20, 20)
    assert small["messages"] == 60
    before, problems = pages.measure(client, data, requests=3)
    assert problems == []
    data.grow(to=600)
    after, problems = pages.measure(client, data, requests=3)
    assert problems == []
    assert set(after) == {label for label, _ in pages.PAGES}
    for label, page in after.items():
        assert page["queries"] == before[label]["queries"], label
        assert page["requests"] == 3 and page["p95_ms"] > 0
    assert "Pages Account" in client.get("/contacts/").content.decode()  # rows rendered, not an empty list


def test_report_states_the_budget_and_the_query_check():
    run = {
        "scenario": "pages",
        "db": "postgres",
        "contacts": 100_000,
        "requests": 200,
        "sizes": {
            "baseline": {
                "dataset": {"contacts": 1000, "open_conversations": 100},
                "pages": {
                    "inbox": {"path": "/inbox/", "queries": 6, "p50_ms": 10, "p95_ms": 12, "p99_ms": 13}
                },
            },
            "full": {
                "dataset": {"contacts": 100_000, "open_conversations": 10_000},
                "pages": {
                    "inbox": {"path": "/inbox/", "queries": 7, "p50_ms": 90, "p95_ms": 160, "p99_ms": 170}
                },
            },
        },
    }
    row = next(line for line in pages.markdown([run]) if line.startswith("| postgres | inbox"))
    assert "6 / 7 ❌" in row and "❌ p95 < 150 ms" in row and "13.3x" in row
