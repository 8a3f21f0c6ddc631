import pytest

from sms.keywords import HELP, OPT_IN, OPT_OUT, keyword_of


@pytest.mark.parametrize("word", sorted(OPT_OUT))
def test_every_opt_out_word(word):
    assert keyword_of(word) == "opt_out"
    assert keyword_of(f"  {word.lower()}. ") == "opt_out"
    assert keyword_of(f"{word.title()}!!") == "opt_out"


@pytest.mark.parametrize("word", sorted(OPT_IN))
def test_every_opt_in_word(word):
    assert keyword_of(f"\n{word.lower()}\n") == "opt_in"


@pytest.mark.parametrize("word", sorted(HELP))
def test_every_help_word(word):
    assert keyword_of(f"{word}?") == "help"


@pytest.mark.parametrize(
    "body",
    [
        "please stop texting me",
        "stop it",
        "Stopped",
        "unstoppable",
        "yes please",
        "",
        "   ",
        "S.T.O.P",
        "stop 2",
    ],
)
def test_only_a_single_keyword_counts(body):
    assert keyword_of(body) is None
