"""Intent patterns are written by admins and run inside the inbound webhook, so a pattern must
never hold a request. They run on RE2 (google-re2: linear time, whatever the pattern), except
those using what RE2 lacks (look-arounds), which run on the ``regex`` engine with a time budget.
On save a pattern is refused when it nests an unbounded repetition around another repetition,
an alternation or a back-reference (``^(a+)+$``, ``(a|aa)*``): the shapes that backtrack
exponentially on a backtracking engine."""

import logging
import re
import re._constants as sre
import re._parser as sre_parse
import time
from functools import lru_cache

import re2
import regex
from django.core.exceptions import ValidationError

logger = logging.getLogger(__name__)

# Every rule of one reply together; past it the remaining rules are skipped and logged.
MATCH_BUDGET_SECONDS = 0.2
MAX_PATTERN_CHARS = 500
# A repetition bounded this low ({0,2}) cannot blow up, whatever it contains.
_SMALL_REPEAT = 10
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT}


def _explosive(items, inside_unbounded: bool = False) -> bool:
    for op, av in items:
        if op in _REPEATS:
            _low, high, sub = av
            if inside_unbounded and high > 1:
                return True
            if _explosive(sub, inside_unbounded or high > _SMALL_REPEAT):
                return True
        elif op == sre.BRANCH:
            if inside_unbounded or any(_explosive(branch, inside_unbounded) for branch in av[1]):
                return True
        elif op == sre.SUBPATTERN:
            if _explosive(av[3], inside_unbounded):
                return True
        elif op == sre.ATOMIC_GROUP:
            if _explosive(av, inside_unbounded):
                return True
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            if _explosive(av[1], inside_unbounded):
                return True
        elif op == sre.GROUPREF:
            return True  # a back-reference makes matching NP-hard
    return False


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be an intent rule, or None."""
    if not pattern.strip():
        return "The pattern is empty."
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"The pattern is longer than {MAX_PATTERN_CHARS} characters."
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE)
        regex.compile(pattern, regex.IGNORECASE)
    except (re.error, regex.error, OverflowError, RecursionError) as exc:
        return f"Not a valid regular expression: {exc}."
    if _explosive(parsed):
        return (
            "The pattern repeats a repetition, an alternation or a back-reference without a small "
            "bound (like (a+)+ or (a|b)*): such patterns can take minutes on a short reply. "
            "Write the inner part once, e.g. a+ instead of (a+)+."
        )
    return None


def validate_intent_pattern(pattern: str) -> None:
    """A model field validator: the admin and every form refuse a pattern with the reason."""
    problem = pattern_problem(pattern)
    if problem:
        raise ValidationError(problem, code="pattern")


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.log_errors = False


@lru_cache(maxsize=2048)
def compile_pattern(pattern: str):
    """RE2 when it can express the pattern, else ``regex``. Raises ``regex.error``.

    Keyed on the pattern text itself, so an edited rule compiles afresh and the cache can never
    serve a stale pattern; failures are not cached and are reported on every use."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        return regex.compile(pattern, regex.IGNORECASE)


class Deadline:
    """The time left for one reply's rules."""

    def __init__(self, seconds: float = MATCH_BUDGET_SECONDS):
        self.until = time.monotonic() + seconds

    def search(self, pattern, text: str) -> bool | None:
        """Whether ``pattern`` occurs in ``text``; None when the budget ran out first."""
        if isinstance(pattern, re2._Regexp):
            return pattern.search(text) is not None  # linear time: needs no budget
        left = self.until - time.monotonic()
        if left <= 0:
            return None
        try:
            return pattern.search(text, timeout=left) is not None
        except TimeoutError:
            return None
