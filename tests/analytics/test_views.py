"""Analytics pages: the dashboard renders every chart and table, filters are validated, CSV
exports match the tables (and guard against formulas), and only managers change assumptions."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client

from analytics.models import Assumption
from analytics.views import _safe
from tests.analytics.test_api import book
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHARTS = ("chart-lift", "chart-nrr", "chart-ltv", "chart-retention", "chart-cohort-nrr", "chart-leakage")


def test_dashboard_renders_charts_tables_and_snapshot_time(web):
    book(5)
    response = web.get("/analytics/")
    assert response.status_code == 200
    html = response.content.decode()
    for testid in CHARTS:
        assert f'data-testid="{testid}"' in html
    assert html.count("<svg") >= len(CHARTS)
    assert 'data-testid="snapshot-time"' in html
    for name in ("lift", "roi", "leakage", "ltv_cac", "cohorts", "sms_health", "maturity"):
        assert f"/analytics/export/{name}.csv" in html


def test_dashboard_shows_one_leakage_label_and_roi_only_over_a_complete_cost_base(web):
    book(5)
    html = web.get("/analytics/").content.decode()
    assert "Opt-out leakage (incremental, vs holdout)" in html and "lost in all" not in html
    assert "all opt-outs after texts (not incremental)" in html
    assert "ROI not shown: cost base incomplete (missing: the tool&#x27;s monthly cost" in html


def test_dashboard_escapes_play_names_in_charts_and_tables(web):
    play = book(3)
    play.name = "<script>alert(1)</script>"
    play.save()
    html = web.get("/analytics/?refresh=1").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_dashboard_rejects_bad_filters_with_400_and_says_why(web):
    response = web.get("/analytics/?start=soon&acquisition_channel=tv")
    assert response.status_code == 400
    html = response.content.decode()
    assert "start" in html and "not a date" in html and "acquisition_channel" in html


def test_dashboard_needs_login():
    assert Client().get("/analytics/").status_code == 302


def test_dashboard_query_count_is_bounded(web, django_assert_max_num_queries):
    book(3)
    with django_assert_max_num_queries(165) as small:  # 12 answers, each computed afresh
        web.get("/analytics/?refresh=1")
    book(25)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert web.get("/analytics/?refresh=1").status_code == 200
    # Served from the snapshots: one lookup per answer plus the page's own few queries, and the
    # health model's latest report (stored by its daily job, read apart from the 30-minute ones).
    with django_assert_max_num_queries(17):
        assert web.get("/analytics/").status_code == 200


def test_csv_export_streams_the_table_with_current_filters(web):
    book(4)
    response = web.get("/analytics/export/lift.csv?window=60")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["Play", "Design", "Outcome"]
    assert any(row[2] == "renewed (primary)" for row in rows[1:])
    assert web.get("/analytics/export/nope.csv").status_code == 404
    assert web.get("/analytics/export/lift.csv?end=bad").status_code == 400


def test_csv_cells_that_look_like_formulas_are_defused():
    assert _safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _safe("@SUM") == "'@SUM" and _safe("-0.25") == "-0.25" and _safe("Renewal") == "Renewal"


def test_only_managers_and_admins_change_assumptions_in_the_ui():
    agent = Client()
    agent.force_login(UserFactory(username="agent", role="agent"))
    agent_page = agent.get("/analytics/assumptions/")
    assert agent_page.status_code == 200 and 'name="value"' not in agent_page.content.decode()
    assert agent.post("/analytics/assumptions/gross_margin/", {"value": "0.5"}).status_code == 403
    manager = Client()
    manager.force_login(UserFactory(username="boss", role="manager"))
    assert manager.post("/analytics/assumptions/gross_margin/", {"value": "0.5"}).status_code == 302
    assert Assumption.objects.get(key="gross_margin").value == Decimal("0.5")
    page = manager.get("/analytics/assumptions/").content.decode()
    assert "0.75 → 0.5" in page
    bad = manager.post("/analytics/assumptions/gross_margin/", {"value": "lots"})
    assert bad.status_code == 400 and "not a number" in bad.content.decode()
    assert manager.post("/analytics/assumptions/gross_margin/", {"value": "3"}).status_code == 400
    assert Assumption.objects.get(key="gross_margin").value == Decimal("0.5")


def test_admin_edits_assumptions_through_the_service(admin_client):
    from analytics.assumptions import assumption_list

    gross = next(a for a in assumption_list() if a.key == "gross_margin")
    form = {"value": "0.55", "changes-TOTAL_FORMS": "0", "changes-INITIAL_FORMS": "0"}
    response = admin_client.post(f"/admin/analytics/assumption/{gross.pk}/change/", form)
    assert response.status_code == 302
    gross.refresh_from_db()
    assert gross.value == Decimal("0.55") and gross.changes.get().new_value == Decimal("0.55")
    assert admin_client.get("/admin/analytics/snapshot/").status_code == 200
