"""Money on the analytics dashboard is compact, in the team's currency, signed in intervals, and
an interval that cannot tell a loss from a gain says so in words."""

import pytest
from django.template import Context, Template

from crm.templatetags.crm_ui import compact_amount, money_interval, too_wide_to_tell

WJ = "\u2060"
MINUS = "\u2212"


def plain(text: str) -> str:
    return text.replace(WJ, "")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1_712_345, "$1.7M"),
        (-1_712_345, "\u2212$1.7M"),
        (552_400, "$552k"),
        (-4136, "\u2212$4.1k"),
        (15_817, "$15.8k"),
        (999_950, "$1M"),
        (795, "$795"),
        (3.13, "$3.13"),
        (0, "$0"),
        ("0.004", "$0"),
        (None, "—"),
    ],
)
def test_compact_amounts(value, shown):
    assert plain(compact_amount(value)) == shown


def test_the_opt_out_leakage_interval_reads_compact_and_says_it_is_too_wide():
    # The figures of the issue: "-1.7M to 552k" around an estimate of 0.
    assert plain(money_interval(-1_712_345, 552_400, 0)) == "\u2212$1.7M to +$552k: too wide to tell yet"
    # Spanning 0 but not further than the estimate on one side: no such words.
    assert plain(money_interval(-5, 205, 100)) == "\u2212$5 to +$205"
    assert plain(money_interval(4100, 29_900, 14_800)) == "+$4.1k to +$29.9k"
    assert money_interval(None, 5, 0) == "—"
    assert too_wide_to_tell(-4136, -75_245, 231_905) and not too_wide_to_tell(100, -5, 205)


def test_the_currency_comes_from_the_setting(settings):
    settings.CURRENCY = "EUR"
    text = Template("{% load crm_ui %}{{ v|money_short }} ({% money_interval lo hi v %})").render(
        Context({"v": -4136, "lo": -1_712_345, "hi": 552_400})
    )
    assert plain(text) == "\u2212€4.1k (\u2212€1.7M to +€552k: too wide to tell yet)"
    settings.CURRENCY = "CHF"
    assert plain(compact_amount(-2500)) == "\u2212CHF 2.5k"


@pytest.mark.django_db
def test_the_dashboard_renders_the_leakage_and_value_intervals_compact(web, monkeypatch):
    """The dashboard's own answers, with the programme's leakage set to the issue's figures (an
    estimate of $0, 95% CI -1,712,345 to 552,400) and the net to -4,136 (-492,161 to
    1,611,680): the page reads them compact, signed, in dollars, and says they are too wide."""
    from analytics import views

    answers = views._answers

    def with_figures(request):
        results = answers(request)
        totals = results["roi"]["totals"]
        totals.update(
            opt_out_leakage="0.00", opt_out_leakage_low="-1712345.00", opt_out_leakage_high="552400.00"
        )
        totals.update(net="-4136.00", net_low="-492161.00", net_high="1611680.00")
        results["roi"]["opt_out_leakage"].update(value="0.00", low="-1712345.00", high="552400.00")
        return results

    monkeypatch.setattr(views, "_answers", with_figures)
    page = plain(web.get("/analytics/").content.decode())
    leakage = page.split('data-testid="roi-leakage">')[1].split("</dd>")[0]
    assert leakage == f"$0 (95% CI {MINUS}$1.7M to +$552k: too wide to tell yet)"
    total = page.split('data-testid="leakage-total">')[1].split(";")[0]
    assert total == f"$0 in all (95% CI {MINUS}$1.7M to +$552k: too wide to tell yet)"
    net = page.split('data-testid="roi-net-value">')[1].split("</dd>")[0]
    assert net == f"{MINUS}$4.1k (95% CI {MINUS}$492k to +$1.6M: too wide to tell yet)"
    stat = page.split('data-testid="roi-net">')[1].split("</span>")[0]
    assert stat == f"{MINUS}$4.1k"
