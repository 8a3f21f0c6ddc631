"""Lifecycle velocity: Kaplan-Meier and RMST by hand and against lifelines, the interval's
coverage in a seeded simulation, the answer from enrollments and orders, and the API."""

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import time_machine
from scipy import stats as sps

from analytics import survival
from analytics.metrics import velocity
from analytics.metrics.velocity import play_velocity, plays_velocity
from analytics.scope import Scope
from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus
from tests.factories import AccountFactory, ContactFactory, OrderFactory

# Treatment: outcome on days 2, 5, 5; censored on days 3 and 8. Control: outcome on days 1, 4, 7;
# censored on 4 and 9. Horizon 6 days.
TREATMENT = ([2, 3, 5, 5, 8], [1, 0, 1, 1, 0])
CONTROL = ([1, 4, 4, 7, 9], [1, 1, 0, 1, 0])


def test_kaplan_meier_and_rmst_by_hand():
    """Treatment: S = 4/5 after day 2 (5 at risk, 1 event), x (1 - 2/3) after day 5 (3 at risk:
    5, 5, 8) = 0.26667. RMST(6) = 2 x 1 + 3 x 0.8 + 1 x 0.26667 = 4.66667. Variance: day 2,
    A = 2.4 + 0.26667 = 2.66667, A^2 x 1 / (5 x 4) = 0.355556; day 5, A = 0.26667,
    A^2 x 2 / (3 x 1) = 0.047407; sum 0.402963.
    Control: S = 0.8 after day 1, x 3/4 after day 4 (4 at risk: 4, 4, 7, 9; the censoring on day
    4 comes after the event) = 0.6; day 7 is past the horizon. RMST(6) = 1 + 3 x 0.8 + 2 x 0.6 =
    4.6. Variance: day 1, A = 2.4 + 1.2 = 3.6, 12.96 / 20 = 0.648; day 4, A = 1.2, 1.44 / 12 =
    0.12; sum 0.768. Difference 0.066667, SE sqrt(1.170963) = 1.082110; Welch-Satterthwaite df
    1.170963^2 / (0.402963^2 / 4 + 0.768^2 / 4) = 7.2914, t(0.975, 7.2914) = 2.3456 (scipy), 95%
    interval 0.066667 -/+ 2.3456 x 1.082110 = (-2.4715, 2.6049)."""
    treatment, control = survival.kaplan_meier(*TREATMENT), survival.kaplan_meier(*CONTROL)
    assert list(treatment.times) == [2, 5] and list(treatment.at_risk) == [5, 3]
    assert treatment.survival == pytest.approx([0.8, 0.8 / 3])
    assert list(control.at_risk) == [5, 4, 2] and control.at(6) == pytest.approx(0.6)
    t, c = survival.rmst(treatment, 6), survival.rmst(control, 6)
    assert (t.estimate, t.variance) == (pytest.approx(14 / 3), pytest.approx(0.402963, abs=1e-6))
    assert (c.estimate, c.variance) == (pytest.approx(4.6), pytest.approx(0.768))
    diff = survival.rmst_difference(treatment, control, 6)
    assert diff.difference == pytest.approx(0.066667, abs=1e-6)
    assert diff.se == pytest.approx(1.082110, abs=1e-6)
    df = 1.170963**2 / (0.402963**2 / 4 + 0.768**2 / 4)
    assert df == pytest.approx(7.2914, abs=1e-4)
    half = sps.t.ppf(0.975, df) * 1.082110
    assert diff.ci_low == pytest.approx(0.066667 - half, abs=1e-5) == pytest.approx(-2.4715, abs=1e-4)
    assert diff.ci_high == pytest.approx(0.066667 + half, abs=1e-5) == pytest.approx(2.6049, abs=1e-4)


def test_kaplan_meier_and_rmst_match_lifelines():
    lifelines = pytest.importorskip("lifelines")
    from lifelines.utils import restricted_mean_survival_time

    rng = np.random.default_rng(4)
    # Whole days, so ties of events and censorings are common.
    durations = np.floor(rng.exponential(20, 300))
    observed = rng.random(300) < 0.7
    ours = survival.kaplan_meier(durations, observed)
    theirs = lifelines.KaplanMeierFitter().fit(durations, observed)
    for day in (0, 3, 10, 25.5, 60):
        assert ours.at(day) == pytest.approx(float(theirs.survival_function_at_times(day).iloc[0]), abs=1e-12)
    for horizon in (10, 30, 45.5):
        expected = restricted_mean_survival_time(theirs, t=horizon)
        assert survival.rmst(ours, horizon).estimate == pytest.approx(expected, rel=1e-9)


def _simulated_rmst(rate: float, horizon: float) -> float:
    return (1 - math.exp(-rate * horizon)) / rate


def simulate_rmst(n_t: int, n_c: int, *, rate_t: float, rate_c: float, replications: int, seed: int) -> dict:
    """Exponential times to the outcome (days), enrollment spread over 60 days before the
    observation end (censoring), horizon 30 days; the true RMST of Exp(rate) to tau is
    (1 - exp(-rate tau)) / rate."""
    rng = np.random.default_rng(seed)
    horizon = 30.0
    truth = _simulated_rmst(rate_t, horizon) - _simulated_rmst(rate_c, horizon)
    covered = rejected = 0
    for _ in range(replications):
        curves = []
        for n, rate in ((n_t, rate_t), (n_c, rate_c)):
            times = rng.exponential(1 / rate, n)
            follow_up = rng.uniform(35, 95, n)
            curves.append(survival.kaplan_meier(np.minimum(times, follow_up), times <= follow_up))
        diff = survival.rmst_difference(curves[0], curves[1], horizon)
        covered += diff.ci_low <= truth <= diff.ci_high
        rejected += diff.ci_low > 0 or diff.ci_high < 0
    return {"coverage": covered / replications, "rejections": rejected / replications}


@pytest.mark.simulation
@pytest.mark.parametrize("arms", [(50, 50), (450, 50), (500, 500)])
def test_rmst_difference_interval_holds_its_95_percent_from_the_minimum_arm(arms):
    """1,000 seeded replications per size (a rate's SD 0.7 points at 95%): coverage of the true
    difference at an effect (outcome rate 1/20 vs 1/30 a day) and the false-positive rate with
    none, the smallest arms the answer accepts (MIN_PER_ARM = 50) included. With the normal
    quantile instead of t, 30 per arm covered 92.7% (so the check can fail)."""
    n_t, n_c = arms
    assert min(arms) >= velocity.MIN_PER_ARM
    effect = simulate_rmst(n_t, n_c, rate_t=1 / 20, rate_c=1 / 30, replications=1000, seed=n_t + n_c)
    null = simulate_rmst(n_t, n_c, rate_t=1 / 30, rate_c=1 / 30, replications=1000, seed=7 * (n_t + n_c))
    assert effect["coverage"] >= 0.93, effect
    assert null["rejections"] <= 0.06, null


NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
DECIDED = datetime(2025, 3, 1, 12, tzinfo=UTC)
YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))


def _enroll(play, arm, decided):
    contact = ContactFactory(account=AccountFactory())
    Enrollment.objects.create(
        play=play,
        contact=contact,
        account=contact.account,
        occurrence=f"test:{contact.pk}",
        arm=arm,
        outcome=Outcome.SENT if arm == Arm.TREATMENT else Outcome.SUPPRESSED,
        reason="" if arm == Arm.TREATMENT else "holdout",
        decided_at=decided,
    )
    return contact


def _arm_from(play, arm, data):
    """An enrollment per (day, observed): observed, an order that many days after the decision;
    censored, decided that many days before the observation end (NOW) with no order since."""
    for day, observed in zip(*data, strict=True):
        if observed:
            contact = _enroll(play, arm, DECIDED)
            OrderFactory(contact=contact, amount=Decimal(20), ordered_at=DECIDED + timedelta(days=day))
            # An order before the decision does not count.
            OrderFactory(contact=contact, amount=Decimal(5), ordered_at=DECIDED - timedelta(days=3))
        else:
            contact = _enroll(play, arm, NOW - timedelta(days=day))
            OrderFactory(contact=contact, amount=Decimal(5), ordered_at=NOW - timedelta(days=day + 1))


@pytest.fixture
def reorder_play():
    play = Play.objects.create(
        name="Win back",
        moment="reactivation",
        trigger={"type": "days_since_order", "days": 45},
        template="Hi {first_name}",
        holdout_percent=50,
        status=PlayStatus.ACTIVE,
    )
    _arm_from(play, Arm.TREATMENT, TREATMENT)
    _arm_from(play, Arm.CONTROL, CONTROL)
    return play


@pytest.mark.django_db
def test_velocity_answer_is_the_hand_computed_fixture_from_enrollments_and_orders(reorder_play, monkeypatch):
    monkeypatch.setattr(velocity, "MIN_PER_ARM", 5)
    result = play_velocity(reorder_play, YEAR, horizon_days=6, now=NOW)
    assert result["primary_outcome"] == "reordered"
    assert (result["treatment"]["enrollments"], result["treatment"]["outcomes"]) == (5, 3)
    assert (result["control"]["enrollments"], result["control"]["censored"]) == (5, 2)
    assert result["rmst_treatment_days"] == pytest.approx(14 / 3, abs=1e-4)
    assert result["rmst_control_days"] == pytest.approx(4.6, abs=1e-4)
    assert result["rmst_difference_days"] == pytest.approx(0.0667, abs=1e-4)
    assert (result["ci_low"], result["ci_high"]) == (
        pytest.approx(-2.4715, abs=1e-4),
        pytest.approx(2.6049, abs=1e-4),
    )
    assert result["verdict"].startswith("no measurable difference")
    # The curves: share reached by day, steps at each outcome, to the horizon.
    assert result["treatment"]["curve"] == [
        [0.0, 0.0],
        [2.0, 0.2],
        [5.0, pytest.approx(1 - 0.8 / 3)],
        [6.0, pytest.approx(1 - 0.8 / 3)],
    ]
    assert result["control"]["reached_by_horizon"] == pytest.approx(0.4)


@pytest.mark.django_db
def test_velocity_needs_enough_enrollments_and_follow_up(reorder_play):
    result = play_velocity(reorder_play, YEAR, horizon_days=6, now=NOW)
    assert result["verdict"] == "not enough data yet" and result["rmst_difference_days"] is None
    assert f"each arm needs {velocity.MIN_PER_ARM}" in result["note"]


@pytest.mark.django_db
def test_velocity_horizon_beyond_follow_up_is_refused(reorder_play, monkeypatch):
    monkeypatch.setattr(velocity, "MIN_PER_ARM", 5)
    result = play_velocity(reorder_play, YEAR, horizon_days=200, now=NOW)
    assert result["rmst_difference_days"] is None and "shorter horizon_days" in result["note"]


@pytest.mark.django_db
def test_a_faster_treatment_arm_is_measured_sooner(monkeypatch):
    """50 treatment contacts reorder on day 3, 50 control contacts on day 20: RMST(30) 3 vs 20,
    difference -17 days with no variance (every enrollment had its outcome: n = d at each step
    contributes 0, survRM2's convention), so the interval is a point."""
    play = Play.objects.create(
        name="Fast", moment="reactivation", trigger={"type": "days_since_order", "days": 45}, template="x"
    )
    _arm_from(play, Arm.TREATMENT, ([3] * 50, [1] * 50))
    _arm_from(play, Arm.CONTROL, ([20] * 50, [1] * 50))
    result = play_velocity(play, YEAR, horizon_days=30, now=NOW)
    assert result["rmst_difference_days"] == pytest.approx(-17.0)
    assert result["significant"] and result["verdict"].startswith("reordered sooner with the play: 17.0 days")


@pytest.mark.django_db
def test_velocity_of_many_plays_is_one_query(reorder_play, django_assert_max_num_queries):
    for index in range(4):
        play = Play.objects.create(
            name=f"Renewal {index}",
            moment="renewal",
            trigger={"type": "renewal_window", "days": 60},
            template="x",
        )
        _enroll(play, Arm.TREATMENT, DECIDED)
        _enroll(play, Arm.CONTROL, DECIDED)
    plays = list(Play.objects.all())
    with django_assert_max_num_queries(1):
        results = plays_velocity(plays, YEAR, now=NOW)
    assert [r["play"]["id"] for r in results] == [p.pk for p in plays]


@pytest.mark.django_db
def test_velocity_api(api, anon_api, reorder_play, django_assert_max_num_queries):
    with time_machine.travel(NOW, tick=False):
        url = "/api/v1/analytics/velocity/"
        with django_assert_max_num_queries(16):
            response = api.get(url, {"play": reorder_play.pk, "horizon_days": 6, "end": "2025-12-31"})
        assert response.status_code == 200, response.content
        (play,) = response.json()["plays"]
        assert play["play"]["id"] == reorder_play.pk and play["horizon_days"] == 6
        assert play["treatment"]["outcomes"] == 3 and "definitions" in play
        for params, field in (
            ({"play": "x"}, "play"),
            ({"play": 999999}, "play"),
            ({"horizon_days": 0}, "horizon_days"),
            ({"horizon_days": "soon"}, "horizon_days"),
        ):
            bad = api.get(url, params)
            assert bad.status_code == 400 and field in bad.json(), (params, bad.content)
        assert anon_api.get(url).status_code == 401


@pytest.mark.django_db
def test_velocity_is_in_the_openapi_schema(api):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/analytics/velocity/"]["get"]
    assert {"play", "horizon_days"} <= {p["name"] for p in operation["parameters"]}


def test_step_chart_draws_right_continuous_steps_and_escapes_names():
    from analytics import charts

    svg = charts.step_chart([("<b>Treatment</b>", [(0, 0), (2, 0.2), (5, 0.5), (6, 0.5)])], title="T")
    assert "&lt;b&gt;Treatment&lt;/b&gt;" in svg and "<b>" not in svg
    # Flat to day 2, up to 20%, flat to day 5, up to 50%, flat to the horizon: H, V, H, V, H.
    path = svg.split(' d="')[1].split('"')[0]
    assert re.findall("[MHVL]", path) == ["M", "H", "V", "H", "V", "H"]
    assert "50.0% by day 6" in svg
    assert charts.step_chart([], title="T").count("No data yet") == 1


@pytest.mark.django_db
def test_dashboard_shows_velocity_curves_and_verdict(web, reorder_play, monkeypatch):
    monkeypatch.setattr(velocity, "MIN_PER_ARM", 5)
    with time_machine.travel(NOW, tick=False):
        page = web.get(
            "/analytics/",
            {"start": "2025-01-01", "end": "2025-12-31", "velocity_play": reorder_play.pk, "horizon_days": 6},
        )
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="chart-velocity"' in html and "Win back: share that reached reordered" in html
    verdict = html.split('data-testid="velocity-verdict"')[1].split("</p>")[0]
    assert "no measurable difference in timing" in verdict and "-2.5 to 2.6" in verdict
    assert "Lifecycle velocity: days to the primary outcome" in html  # the table
