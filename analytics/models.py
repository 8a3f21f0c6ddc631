"""Analytics state: the ROI model's editable assumptions (with their change history) and the
snapshots the scheduled job keeps of expensive answers."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


class Assumption(models.Model):
    """One input of the ROI model, editable by managers, every change kept in AssumptionChange."""

    key = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    value = models.DecimalField(max_digits=14, decimal_places=4)
    unit = models.CharField(max_length=20, help_text="e.g. 'fraction', 'USD', 'minutes', 'years'.")
    help_text = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=100)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "key"]

    def __str__(self) -> str:
        return f"{self.label}: {self.value} {self.unit}"


class AssumptionChange(models.Model):
    assumption = models.ForeignKey(Assumption, on_delete=models.CASCADE, related_name="changes")
    old_value = models.DecimalField(max_digits=14, decimal_places=4, null=True)
    new_value = models.DecimalField(max_digits=14, decimal_places=4)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.assumption.key}: {self.old_value} -> {self.new_value}"


class Snapshot(models.Model):
    """A computed analytics answer for one metric and one set of parameters."""

    metric = models.CharField(max_length=40)
    params_key = models.CharField(max_length=64, help_text="SHA-256 of the canonical parameters.")
    params = models.JSONField(default=dict)
    payload = models.JSONField()
    computed_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "params_key"], name="analytics_snapshot_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} at {self.computed_at:%Y-%m-%d %H:%M}"


# The ROI model's inputs and their starting values. `seed_assumptions` creates missing ones;
# existing values (someone's edits) are never overwritten.
DEFAULT_ASSUMPTIONS: tuple[tuple[str, str, Decimal, str, str], ...] = (
    (
        "gross_margin",
        "Gross margin",
        Decimal("0.75"),
        "fraction",
        "Used where orders carry no margin of their own, and for subscription revenue.",
    ),
    (
        "acv",
        "Average contract value",
        Decimal("0"),
        "USD",
        "0 means: use the measured average ACV of the terms in the period.",
    ),
    (
        "attach_rate",
        "Expansion size",
        Decimal("0.25"),
        "fraction",
        "An expansion adds this share of the account's ACV.",
    ),
    (
        "expected_lifespan_years",
        "Expected customer lifespan",
        Decimal("3"),
        "years",
        "For purchase-based LTV, where there is no contract to churn from.",
    ),
    (
        "annual_discount_rate",
        "Discount rate",
        Decimal("0.10"),
        "fraction",
        "Per year; discounts future contract periods in the subscription LTV (sBG).",
    ),
    ("cost_per_hour", "Cost to serve per hour", Decimal("45"), "USD", "Fully loaded CSM cost."),
    (
        "minutes_saved_per_message",
        "Minutes saved per automated text",
        Decimal("4"),
        "minutes",
        "Time a CSM would spend writing and sending the text by hand.",
    ),
    ("price_per_segment", "Price per SMS segment", Decimal("0.0083"), "USD", "Carrier and provider fees."),
    (
        "opt_out_attribution_days",
        "Opt-out attribution window",
        Decimal("7"),
        "days",
        "An opt-out this soon after a play's decision counts against that play (leakage).",
    ),
    (
        "tool_monthly_cost",
        "The tool's monthly cost",
        Decimal("0"),
        "USD",
        "Subscription to this product per month. 0 means not entered: ROI is not shown.",
    ),
    (
        "staff_hours_per_month",
        "Staff hours to build and run plays",
        Decimal("0"),
        "hours",
        "Hours per month, at the cost per hour. 0 means not entered: ROI is not shown.",
    ),
)
