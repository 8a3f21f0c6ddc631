"""Carrier keywords in inbound texts. Whether a reply revokes consent (these words in any form,
or plain words) is ``sms.revocation``'s call; START and HELP are single words."""

import re
import unicodedata

# The FCC's words (47 CFR 64.1200(a)(12)) and the carriers' opt-out families (Twilio, CTIA).
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ARRET"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})

_EDGES = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)


# Opt-in words that are also everyday answers: they only re-subscribe someone who opted out.
SOFT_OPT_IN = frozenset({"YES"})


def single_word(body: str) -> str:
    """The message as one upper-case word without surrounding whitespace and punctuation,
    or '' when it is not a single word."""
    word = _EDGES.sub("", unicodedata.normalize("NFKC", body or "")).upper()
    return word if word.isalpha() else ""


def keyword_of(body: str) -> str | None:
    """'opt_out', 'opt_in', 'help' when the whole message is one keyword in any case,
    ignoring surrounding whitespace and punctuation ("Stop.", " stop!! "); else None."""
    word = single_word(body)
    if not word:
        return None
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return None
