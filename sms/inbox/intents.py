"""Intent of an inbound reply, from the admin-editable rules in ``IntentRule``.

Carrier keywords (a reply that is exactly STOP, START, HELP...) are handled before this; what
reaches the classifier is free text. The standard rules live in ``sms.inbox.intent_rules``.
"""

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import regex
from django.db import connection
from django.db.models import QuerySet

from sms.inbox.patterns import Deadline, compile_pattern
from sms.models import Intent, IntentLabel, IntentRule

logger = logging.getLogger(__name__)

# What a reply no rule matches gets: "other", with a confidence low enough to sort last.
NO_MATCH_CONFIDENCE = 0.3
# Below this the standard rules are guessing from a single word (they are right about 3 times
# in 4 there, against 99% above it): let a person decide before anything happens on its own,
# such as pausing a contact's texts on a deferral or opening a deal on pricing interest.
AUTOMATION_MIN_CONFIDENCE = 0.8

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)
# Zero-width characters and soft hyphens that phones insert and that would split a word.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Classification:
    intent: str
    confidence: float
    rule: IntentRule | None = None

    @property
    def is_confident(self) -> bool:
        """Sure enough to act on without a person looking first."""
        return self.confidence >= AUTOMATION_MIN_CONFIDENCE


def normalise_reply(body: str) -> str:
    """The text rules are matched against: NFKC (full-width letters, ligatures), straight
    quotes (so "don't" matches whatever apostrophe the phone typed), one space between words."""
    text = unicodedata.normalize("NFKC", body or "")
    text = _INVISIBLE.sub("", text).translate(_QUOTES)
    return _WHITESPACE.sub(" ", text).strip()


def _compiled(rule: IntentRule) -> regex.Pattern | None:
    try:
        return compile_pattern(rule.pattern)
    except (regex.error, OverflowError, RecursionError) as exc:
        logger.warning("Skipping intent rule %s: invalid pattern %r (%s)", rule.pk, rule.pattern, exc)
        return None


def _precedence(rule: IntentRule) -> tuple[float, int, int]:
    return (-rule.confidence, rule.position, rule.pk or 0)


# The active rules in precedence order, with the version of the rule table they were read at.
_rules_cache: tuple[tuple, list[IntentRule]] | None = None
_VERSION_SQL = (
    f"SELECT COUNT(*), MAX({IntentRule._meta.get_field('updated_at').column}) "  # noqa: S608 - names from _meta
    f"FROM {IntentRule._meta.db_table}"
)


def active_rules() -> list[IntentRule]:
    """The rules in force right now, in precedence order. The table's version (how many rules,
    the latest change) is read on every call, so an admin's edit applies to the next reply; the
    rules themselves are read again only when it changed."""
    global _rules_cache
    with connection.cursor() as cursor:  # written out: the ORM's aggregate costs 4x the query
        cursor.execute(_VERSION_SQL)
        version = tuple(cursor.fetchone())
    cached = _rules_cache
    if cached is not None and cached[0] == version:
        return cached[1]
    rules = sorted(IntentRule.objects.filter(is_active=True), key=_precedence)
    _rules_cache = (version, rules)
    return rules


INTENTS = frozenset(Intent.values)


def classify(body: str, rules: Sequence[IntentRule] | None = None) -> Classification:
    """The intent of ``body``: among the active rules whose pattern occurs in the normalised
    text (case-insensitive), the highest confidence wins, ties going to the lower position.
    No match: ``Intent.OTHER`` with ``NO_MATCH_CONFIDENCE``. ``rules`` defaults to the database."""
    text = normalise_reply(body)
    ordered = active_rules() if rules is None else sorted(rules, key=_precedence)
    if text:
        deadline = Deadline()
        # In precedence order, the first rule that matches is the one that wins.
        for rule in ordered:
            if not rule.is_active:
                continue
            if rule.intent not in INTENTS:
                logger.warning("Skipping intent rule %s: unknown intent %r", rule.pk, rule.intent)
                continue
            pattern = _compiled(rule)
            if pattern is None:
                continue
            found = deadline.search(pattern, text)
            if found is None:
                # A pattern saved before validation (or a slow one): the reply goes on unclassified
                # by the rest rather than holding the webhook.
                logger.warning("Intent rules stopped at rule %s: the time budget ran out", rule.pk)
                break
            if found:
                return Classification(intent=Intent(rule.intent), confidence=rule.confidence, rule=rule)
    return Classification(intent=Intent.OTHER, confidence=NO_MATCH_CONFIDENCE, rule=None)


# --- Measuring the classifier --------------------------------------------------------------


def classifier_report(pairs: Iterable[tuple[str, str]]) -> dict:
    """Precision, recall and F1 per intent, and their macro average, from ``(predicted, actual)``
    pairs. Intents that occur in neither column are left out of the report and the average;
    with no pairs at all, ``accuracy`` and ``macro_f1`` are None.

    Returns ``{"total", "accuracy", "macro_f1", "intents": {intent: {"precision", "recall",
    "f1", "support", "predicted"}}}``, intents in ``Intent`` order."""
    predicted_count: Counter[str] = Counter()
    actual_count: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for predicted, actual in pairs:
        for value in (predicted, actual):
            if value not in Intent.values:
                raise ValueError(f"Not an intent: {value!r}")
        predicted_count[predicted] += 1
        actual_count[actual] += 1
        if predicted == actual:
            correct[actual] += 1

    intents = {}
    for intent in Intent.values:
        support, predicted = actual_count[intent], predicted_count[intent]
        if not support and not predicted:
            continue
        precision = correct[intent] / predicted if predicted else 0.0
        recall = correct[intent] / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        intents[intent] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": predicted,
        }
    total = sum(actual_count.values())
    return {
        "total": total,
        "accuracy": sum(correct.values()) / total if total else None,
        "macro_f1": sum(row["f1"] for row in intents.values()) / len(intents) if intents else None,
        "intents": intents,
    }


def intent_label_pairs(labels: QuerySet[IntentLabel] | None = None) -> list[tuple[str, str]]:
    """``(predicted, actual)`` pairs from agents' relabels, for ``classifier_report``: the latest
    label of each message counts; labels without a recorded prediction are left out."""
    labels = IntentLabel.objects.all() if labels is None else labels
    rows = (
        labels.exclude(predicted="")
        .order_by("message_id", "-labelled_at", "-id")
        .values_list("message_id", "predicted", "intent")
    )
    pairs, seen = [], set()
    for message_id, predicted, intent in rows:
        if message_id not in seen:
            seen.add(message_id)
            pairs.append((predicted, intent))
    return pairs
