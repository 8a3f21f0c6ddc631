"""The dashboard's tables, built from the answers: the same rows are shown on the page and
exported as CSV, so the export always matches what the user saw."""

from dataclasses import dataclass

from crm.templatetags.crm_ui import MINUS, compact_amount, money_interval


@dataclass
class Table:
    name: str
    title: str
    headers: list[str]
    rows: list[list]


def _pct(value) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _num(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def ltv_cac(ltv: dict) -> Table:
    rows = [
        [
            r["label"],
            r["paying_accounts"],
            r["arpa"],
            _pct(r["annual_churn_rate"]),
            r["churn_source"],
            r["ltv"],
            r["cac"],
            "" if r["ltv_cac"] is None else f"{r['ltv_cac']:.2f}",
            r["band"],
        ]
        for r in ltv["ltv_cac"]
    ]
    headers = [
        "Channel",
        "Paying accounts",
        "ARPA",
        "Annual churn",
        "Churn from",
        "LTV",
        "CAC",
        "LTV:CAC",
        "Band",
    ]
    return Table("ltv_cac", "LTV:CAC by acquisition channel", headers, rows)


def cohorts(answer: dict) -> Table:
    rows = [
        [
            c["cohort"],
            c["size"],
            cell["month"],
            _pct(cell["retained"]),
            cell["revenue"],
            cell["cumulative_revenue_per_customer"],
            _pct(cell["nrr"]),
        ]
        for c in answer["cohorts"]
        for cell in c["cells"]
    ]
    headers = [
        "Cohort",
        "Customers",
        "Months since",
        "Retained",
        "Revenue",
        "Cumulative revenue per customer",
        "NRR",
    ]
    return Table("cohorts", "Cohorts", headers, rows)


def lift(answer: dict) -> Table:
    rows = []
    for play in answer["plays"]:
        for outcome, r in play.get("outcomes", {}).items():
            is_rate = "treatment_rate" in r
            rows.append(
                [
                    play["play"]["name"],
                    play["design"],
                    outcome + (" (primary)" if outcome == play["primary_outcome"] else " (secondary)"),
                    r["treatment_n"],
                    r["control_n"],
                    _pct(r["treatment_rate"]) if is_rate else _num(r["treatment_mean"], 2),
                    _pct(r["control_rate"]) if is_rate else _num(r["control_mean"], 2),
                    _num(r["absolute_lift"]),
                    _num(r["ci_low"]),
                    _num(r["ci_high"]),
                    _num(r["p_value"]),
                    _num(r.get("holm_p_value")),
                    r["required_n_per_arm"] or "",
                    play.get("verdict", {}).get("label", "") if outcome == play["primary_outcome"] else "",
                    r.get("note", ""),
                ]
            )
    headers = [
        "Play",
        "Design",
        "Outcome",
        "Treatment n",
        "Control n",
        "Treatment",
        "Control",
        "Lift",
        "95% CI low",
        "95% CI high",
        "p-value",
        "Holm-adjusted p (secondary)",
        "n per arm to detect",
        "Verdict (primary)",
        "Note",
    ]
    return Table("lift", "Lift per play and outcome", headers, rows)


def lift_summary(answer: dict) -> Table:
    """One row per play: its primary outcome only (the full table has every outcome)."""
    full = lift(answer)
    rows = [row for row in full.rows if row[2].endswith("(primary)")]
    return Table("lift_summary", "Lift per play (primary outcome)", full.headers, rows)


def roi(answer: dict) -> Table:
    rows = [
        [
            r["play"]["name"],
            r["component"],
            r["treated"],
            _num(r.get("lift")),
            r["value"] or "",
            r["low"] or "",
            r["high"] or "",
            r["opt_out_leakage"] or "",
            r.get("opt_out_leakage_low") or "",
            r.get("opt_out_leakage_high") or "",
            r["net"] or "",
            r.get("net_low") or "",
            r.get("net_high") or "",
            r["time_saved"],
            r["sms_cost"],
            r["opt_outs"],
            r.get("note", ""),
        ]
        for r in answer["plays"]
    ]
    headers = [
        "Play",
        "Value from (primary outcome)",
        "Treated",
        "Lift",
        "Value",
        "Value (CI low)",
        "Value (CI high)",
        "Opt-out leakage (incremental, vs holdout)",
        "Leakage (CI low)",
        "Leakage (CI high)",
        "Net value",
        "Net (CI low)",
        "Net (CI high)",
        "Time saved (assumed, not in net)",
        "SMS cost",
        "Opt-outs after texts (not incremental)",
        "Note",
    ]
    return Table("roi", "Value by play", headers, rows)


def _points(value, signed: bool = True) -> str:
    return "" if value is None else f"{value * 100:{'+' if signed else ''}.1f}".replace("-", MINUS)


def lift_summary_page(answer: dict) -> Table:
    """The primary-outcome table as the page shows it: each arm's figure with its n, the lift with
    its 95% interval in one cell and the verdict, so it fits its card; the CSV export
    (``lift_summary``) keeps every column at full precision."""
    rows = []
    for play in answer["plays"]:
        outcome = play.get("primary_outcome")
        r = play.get("outcomes", {}).get(outcome)
        if r is None:
            continue
        if "treatment_rate" in r:
            arms = [f"{_pct(r[f'{arm}_rate'])} of {r[f'{arm}_n']:,}" for arm in ("treatment", "control")]
            lift = _points(r["absolute_lift"])
            if lift and r["ci_low"] is not None:
                lift = f"{lift} pp ({_points(r['ci_low'])} to {_points(r['ci_high'])})"
        else:
            arms = [
                f"{compact_amount(r[f'{arm}_mean'])} per contact of {r[f'{arm}_n']:,}"
                for arm in ("treatment", "control")
            ]
            lift = compact_amount(r["absolute_lift"]) if r["absolute_lift"] is not None else ""
            if lift and r["ci_low"] is not None:
                lift = f"{lift} ({money_interval(r['ci_low'], r['ci_high'])})"
        rows.append(
            [
                play["play"]["name"],
                outcome,
                *arms,
                lift,
                _num(r["p_value"]),
                play.get("verdict", {}).get("label", ""),
                r.get("note", ""),
            ]
        )
    headers = [
        "Play",
        "Primary outcome",
        "Treatment",
        "Control",
        "Lift (95% CI)",
        "p-value",
        "Verdict",
        "Note",
    ]
    return Table("lift_summary", "Lift per play (primary outcome)", headers, rows)


def roi_page(answer: dict) -> Table:
    """The value-by-play table as the page shows it: each estimate with its interval in one
    compact cell in the team's currency ("-$4.1k (-$75k to +$232k)", real minus signs), so it
    fits its card; the CSV export (``roi``) keeps every figure in its own column, full precision."""

    def estimate(value, low, high) -> str:
        if value is None:
            return ""
        if low is None or high is None:
            return compact_amount(value)
        return f"{compact_amount(value)} ({money_interval(low, high, value)})"

    rows = [
        [
            r["play"]["name"],
            r["component"],
            r["treated"],
            estimate(r["value"], r["low"], r["high"]),
            estimate(r["opt_out_leakage"], r.get("opt_out_leakage_low"), r.get("opt_out_leakage_high")),
            estimate(r["net"], r.get("net_low"), r.get("net_high")),
            compact_amount(r["time_saved"]),
            compact_amount(r["sms_cost"]),
            r.get("note", ""),
        ]
        for r in answer["plays"]
    ]
    headers = [
        "Play",
        "Value from",
        "Treated",
        "Value (95% CI)",
        "Leakage (95% CI)",
        "Net (95% CI)",
        "Time saved (assumed)",
        "SMS cost",
        "Note",
    ]
    return Table("roi", "Value by play", headers, rows)


# The leakage table's columns: header, the field of the play's opt_out_leakage block, its format.
LEAKAGE_COLUMNS = (
    ("Treated", "treated", None),
    ("Control", "control", None),
    ("Treatment opt-outs", "treatment_opt_outs", None),
    ("Control opt-outs", "control_opt_outs", None),
    ("Treatment rate", "treatment_rate", _pct),
    ("Control rate", "control_rate", _pct),
    ("Incremental opt-outs", "incremental_opt_outs", lambda v: _num(v, 2)),
    ("95% CI low", "incremental_low", lambda v: _num(v, 2)),
    ("95% CI high", "incremental_high", lambda v: _num(v, 2)),
    ("Note", "note", None),
)


def leakage(answer: dict) -> Table:
    """Incremental opt-outs of each play, treatment vs control, from the lift answer."""
    rows = []
    for play in answer["plays"]:
        block = play.get("opt_out_leakage") or {}
        cells = [
            (fmt or (lambda v: "" if v is None else v))(block.get(key)) for _, key, fmt in LEAKAGE_COLUMNS
        ]
        rows.append([play["play"]["name"], *cells])
    headers = ["Play", *(header for header, _, _ in LEAKAGE_COLUMNS)]
    return Table("leakage", "Opt-out leakage (incremental, vs holdout)", headers, rows)


def sms_health(answer: dict) -> Table:
    groups = [(p["name"], p) for p in answer["plays"]]
    if answer.get("manual"):
        groups.append(("Manual and replies", answer["manual"]))
    groups.append(("All texts", answer["overall"]))
    rows = [
        [
            name,
            g["texts"],
            _pct(g["delivery_rate"]),
            _pct(g["reply_rate"]),
            _pct(g["click_rate"]),
            _pct(g["opt_out_rate"]),
            g["segments"],
        ]
        for name, g in groups
    ]
    headers = ["Texts from", "Texts", "Delivered", "Replied", "Clicked", "Opted out", "Segments"]
    return Table("sms_health", "SMS health", headers, rows)


def maturity(answer: dict) -> Table:
    rows = [
        [
            d["dimension"],
            d["stage"],
            "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in d["evidence"].items()),
            d["next_step"],
        ]
        for d in answer["dimensions"]
    ]
    return Table("maturity", "Program maturity", ["Dimension", "Stage", "Evidence", "Next step"], rows)


def mrr_movements(answer: dict) -> Table:
    kinds = ("new", "expansion", "contraction", "churn", "reactivation")
    rows = [
        [m["month"], m["opening_arr"], *(m[k] for k in kinds), m["net"], m["closing_arr"], m["closing_mrr"]]
        for m in answer["months"]
    ]
    headers = [
        "Month",
        "Opening ARR",
        "New",
        "Expansion",
        "Contraction",
        "Churn",
        "Reactivation",
        "Net",
        "Closing ARR",
        "Closing MRR",
    ]
    return Table("mrr_movements", "ARR movements by month", headers, rows)


def _velocity_verdict(play: dict) -> str:
    """The verdict, or why there is none in a few words (the answer's note has the full reason)."""
    if play["rmst_difference_days"] is not None:
        return play["verdict"]
    note = play.get("note", "")
    if "each arm needs" in note:
        return f"not enough data yet: each arm needs {note.split('each arm needs ')[1].split(' ')[0]}"
    if "follow-up" in note:
        return "not enough follow-up for this horizon"
    return note or play["verdict"]


def velocity(answer: dict) -> Table:
    """One row per play: who reached its primary outcome per arm, days without it up to the
    horizon (RMST) per arm, the difference with its 95% interval, and the verdict (or why there
    is none yet)."""

    def days(play):
        if play["rmst_difference_days"] is None:
            return ""
        return f"{play['rmst_treatment_days']:.1f} / {play['rmst_control_days']:.1f}"

    def difference(play):
        if play["rmst_difference_days"] is None:
            return ""
        return f"{play['rmst_difference_days']:+.1f} ({play['ci_low']:+.1f} to {play['ci_high']:+.1f})"

    rows = [
        [
            play["play"]["name"],
            f"{play['primary_outcome']} in {play['horizon_days']} days",
            f"{play['treatment']['outcomes']} of {play['treatment']['enrollments']}",
            f"{play['control']['outcomes']} of {play['control']['enrollments']}",
            days(play),
            difference(play),
            _velocity_verdict(play),
        ]
        for play in answer["plays"]
    ]
    headers = [
        "Play",
        "Outcome, horizon",
        "Treatment reached",
        "Control reached",
        "Days without (RMST), T / C",
        "Difference, days (95% CI)",
        "Verdict",
    ]
    return Table("velocity", "Lifecycle velocity: days to the primary outcome", headers, rows)


def subscription_clv(answer: dict) -> Table:
    rows = [
        [
            c["cohort"],
            c["method"],
            c["accounts"],
            c["lost"],
            c["active"],
            "" if c["alpha"] is None else f"{c['alpha']:.3f}",
            "" if c["beta"] is None else f"{c['beta']:.3f}",
            " / ".join(_pct(p["retention"]) for p in c["observed"]),
            " / ".join(_pct(p["retention"]) for p in c["projected"][:5]),
            _num(c["expected_lifetime_periods"], 2),
            _num(c["expected_remaining_periods"], 2),
            c["revenue_per_period"],
            c["subscription_ltv"],
            c["residual_value_per_active_account"],
            c["note"],
        ]
        for c in answer["cohorts"]
    ]
    headers = [
        "Cohort",
        "Model",
        "Accounts",
        "Lost",
        "Active",
        "alpha",
        "beta",
        "Observed retention by period",
        "Projected retention, periods 1-5",
        "Expected lifetime, periods",
        "Expected remaining periods (DERL)",
        "Revenue per period",
        "Subscription LTV",
        "Residual value per active account",
        "Note",
    ]
    return Table("subscription_clv", "Subscription LTV by sign-up cohort (sBG)", headers, rows)


SMS_CONVERTED_ROWS = (
    ("Customers", "customers"),
    ("LTV to date", "ltv_to_date"),
    ("Net LTV to date (after refunds)", "net_ltv_to_date"),
    ("Average order value", "aov"),
    ("Repeat purchase rate", "repeat_purchase_rate"),
    ("Churn rate", "churn_rate"),
    ("Refunds", "refunds"),
)


def sms_converted(answer: dict) -> Table:
    def shown(key, value):
        return _pct(value) if key.endswith("_rate") else ("" if value is None else value)

    rows = [
        [
            label,
            shown(key, answer["sms_converted"][key]),
            shown(key, answer["other"][key]),
            shown(key, answer["differences"].get(key)) if key in answer["differences"] else "",
        ]
        for label, key in SMS_CONVERTED_ROWS
    ]
    headers = ["Measure", "SMS-converted", "Other customers", "Difference"]
    return Table("sms_converted", "SMS-converted customers vs the others", headers, rows)


# table name -> (answer it is built from, builder)
TABLES = {
    "ltv_cac": ("ltv", ltv_cac),
    "mrr_movements": ("mrr-movements", mrr_movements),
    "cohorts": ("cohorts", cohorts),
    "lift": ("lift", lift),
    "lift_summary": ("lift", lift_summary),
    "roi": ("roi", roi),
    "leakage": ("lift", leakage),
    "sms_health": ("sms-health", sms_health),
    "maturity": ("maturity", maturity),
    "velocity": ("velocity", velocity),
    "subscription_clv": ("subscription-clv", subscription_clv),
    "sms_converted": ("sms-converted", sms_converted),
}
