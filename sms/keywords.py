"""Carrier keywords in inbound texts."""

import re

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})

_EDGES = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)


def keyword_of(body: str) -> str | None:
    """'opt_out', 'opt_in', 'help' when the whole message is one keyword in any case,
    ignoring surrounding whitespace and punctuation ("Stop.", " stop!! "); else None."""
    word = _EDGES.sub("", body or "").upper()
    if not word or not word.isalpha():
        return None
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return None
