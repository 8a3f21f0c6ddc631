# ruff: noqa: E501, SIM905 - the patterns and word lists read better whole than split
"""Does a reply revoke consent? (47 CFR 64.1200(a)(10)-(12), in force since 2025-04-11.)

A reply that uses stop, quit, end, revoke, opt out, cancel or unsubscribe as its request is a
revocation (``KEYWORD``: only the person can undo it, with START); other wording a reasonable
person would read as one, in English, Spanish, French or Portuguese, misspellings included, is
too (``WORDS``: recorded at once, and an agent may reverse a misread with a written reason).
A word used in another sense ("how do I cancel one order?", "stop by the office") is neither.

Matching works on ``normalise``'s form of the reply (case, accents, full-width letters,
punctuation, emoji, repeated words, phone signatures), one clause at a time, so "Stop.\\n\\nSent
from my iPhone" and "no thanks, STOP" are caught and a question around the word is not. Pure
Python, no database: a plain reply costs nothing more to receive.
"""

import re
import unicodedata
from dataclasses import dataclass

from sms.keywords import OPT_OUT

KEYWORD = "keyword"
WORDS = "words"

# The FCC's words and the carriers' (Twilio/CTIA) opt-out keywords, as ``normalise`` writes
# them ("opt-out" and "opt out" become "optout").
KEYWORDS = frozenset(word.lower() for word in OPT_OUT)

# Words that add nothing to the request around a keyword: "please stop", "STOP ALL", "stop it
# now, thanks".
_FILLER = frozenset(
    "please pls plz plez plse pleas kindly just now all it ok okay k thanks thank you thx ty tyvm "
    "sorry right away immediately asap already again seriously guys yall yes yeah ya yep so "
    "for good forever lol ugh omg man dude sir maam".split()
)
# What may follow a keyword when the clause asks to stop the texts: "stop texting me", "cancel
# these texts", "unsubscribe me from all messages", "stop sending me these promotions".
_ABOUT_TEXTS = (
    frozenset(
        "me us my number this phone cell line here from of to with on at for and the these this those "
        "that your ur you u any more anymore all every everything them it its list mailing sms smss "
        "text texts txt txts texting txting message messages msg msgs messaging msging sending send "
        "getting receiving contacting contact calling calls spamming spam bothering harassing "
        "reminders reminder notifications notification alerts alert promos promo promotions "
        "promotional offers marketing ads updates stuff crap company business number numbers "
        "consent".split()
    )
    | _FILLER
)
# What may come before a keyword in a clause that asks for it: "i want to opt out", "can you
# stop", "how do i unsubscribe", "i said stop".
_LEAD_IN = re.compile(
    r"^(?:(?:please|pls|plz|kindly|just|ok|okay|so|hey|hi|hello|yes|well|um|uh|now|guys|sir|maam"
    r"|i said|i say|like i said|as i said|i already said|i asked you to|i told you to|i need you to"
    r"|i want you to|i would like you to|id like you to|can you|could you|would you|will you|can u"
    r"|could u|you can|you need to|you should|u can|i want to|i wanna|i would like to|id like to"
    r"|i wish to|i need to|i have to|i want|i would like|let me|help me|how do i|how can i|how to"
    r"|how do you|where do i|where can i|i|id|im|we|want to|need to|go ahead and|i am going to"
    r"|im going to|im gonna|i will) )*"
)
_KW = "(?P<kw>" + "|".join(sorted(KEYWORDS)) + ")"
# "not interested, stop" / "i'm done stop" / "i said stop": a keyword that ends the clause
# after words that leave no doubt.
_CLOSING = re.compile(
    r"\b(?:interested|thanks|thank you|no|done|said|told you|asked you|again|seriously|just|please"
    rf"|pls|plz|ok|okay|so|already|guys|now|annoying|spam|enough|sorry|bye) (?:to )?{_KW}$"
)
# A keyword asking to stop the texts anywhere in a clause: "who gave you my number? stop
# messaging me", "can you please stop sending these".
_KEYWORD_ABOUT_TEXTS = re.compile(
    rf"\b{_KW} (?:(?:all|the|these|this|your|ur|those|of these|with the|getting|receiving|sending|"
    r"sending me|sending us|me|us|from|to) )*(?:texting|txting|messaging|msging|spamming|contacting|"
    r"bothering|harassing|texts?|txts?|messages?|msgs?|sms|reminders?|notifications?|alerts?|promos?|"
    r"promotions|marketing)\b"
)
# Words that undo what follows: "please don't remove me", "i won't unsubscribe".
_NEGATION = re.compile(
    r"\b(?:dont|do not|does not|doesnt|didnt|did not|never|not|wont|will not|cant|cannot|shouldnt|"
    r"wouldnt|no need to|nao|jamais)(?: (?:ever|want to|need to|going to|gonna|wanna|you|u|please|to|"
    r"want you to|need you to))*$"
)

# Plain-words revocations: (rule name, pattern) searched in each normalised clause. A match
# right after a negation ("please don't remove me") does not count.
_T = (
    r"(?:texts?|txts?|messages?|msgs?|sms|reminders?|notifications?|alerts?|promos?|promotions|offers|"
    r"mensajes|textos|mensagens)"
)
_ME = r"(?:me|us|my (?:number|phone|cell|info|name|contact)|this (?:number|phone|cell))"
_LIST = r"(?:(?:this|the|your|ur|that|ya|yall|y all|my) )?(?:\w+ )?list"
_NOT_NOW = (
    r"(?! (?:back|until|till|before|after|when|if|tomorrow|today|tonight|later|yet|now|during|at|on|about))"
)
_WORD_RULES: tuple[tuple[str, str], ...] = (
    # English
    (
        "remove me",
        rf"\b(?:remove|delete|drop|erase|scratch|cross) {_ME}\b(?! (?:as|from the (?:meeting|call|cc|email|invite|account)))",
    ),
    (
        "remove from the list",
        rf"\b(?:remove|delete|take|get)(?: me| us)? (?:off|out of|from) {_LIST}\b|^remove$",
    ),
    (
        "take me off",
        rf"\b(?:take|get|put|scratch) {_ME} off(?: (?:of )?(?:{_LIST}|your (?:system|records|database)|(?:the|your|this|ur) "
        r"(?:texts?|texting|sms|messages|list))\b|$| (?:please|pls|now|asap|thanks)$)",
    ),
    (
        "off the list",
        rf"\b(?:i want|want|wanna|get me|let me|put me) off (?:{_LIST}|this|these|it|$)|\boff (?:of )?{_LIST}\b",
    ),
    (
        "don't text me",
        r"\b(?:dont|do not|never|no longer|stop) (?:ever |again |evr )?(?:text|txt|message|msg|contact|sms|"
        rf"call|spam|bother|email)(?:ing)? (?:me|us|this (?:number|phone|cell)){_NOT_NOW}\b"
        r"|\b(?:dont|do not|never) (?:ever )?(?:text|txt|message|msg|sms)(?: again| anymore| any more)?$",
    ),
    (
        "don't send any more",
        r"\b(?:dont|do not|never) send (?:me |us )?(?:any ?more|more|anything|these|this|them|texts|messages)\b",
    ),
    (
        "no more texts",
        rf"\bno (?:more |further )?{_T}\b|^no more$|\bno more (?:of )?(?:this|these|them|please|pls|thanks)\b",
    ),
    (
        "don't want texts",
        r"\b(?:dont|do not|no longer|never) (?:want|wish|need|like)(?: to)?(?: (?:get|receive|hear from|see|getting|receiving))?"
        rf"(?: (?:any|more|anymore|these|this|your|the|those|them|any of|ur|text|from you|from your company))* {_T}\b"
        r"|\b(?:dont|do not|no longer) (?:want|wish|need)(?: to (?:get|receive))?(?: any more| anymore| any| more)?(?: of)? (?:these|this|them)(?: anymore| any more)?$"
        r"|\b(?:dont|do not|no longer) (?:want|wish) to hear from (?:you|u|yall|your)\b",
    ),
    (
        "discontinue the texts",
        rf"\b(?:discontinue|cease|halt|enough with|done with|sick of|tired of|quit with) "
        rf"(?:(?:all|the|these|this|your|my|those|of these|getting|receiving) )*(?:{_T}|texting|messaging)\b",
    ),
    ("leave me alone", r"\bleave (?:me|us) alone\b"),
    (
        "lose my number",
        r"\b(?:lose|forget|delete|erase|purge) (?:my|this|our) (?:number|contact|info|details|data)\b",
    ),
    ("cease and desist", r"\bcease and desist\b"),
    (
        "wrong number",
        r"\b(?:wrong|not my) (?:number|person|phone|#)\b|\bnot (?:the|your) (?:right )?person\b",
    ),
    (
        "never signed up",
        r"\b(?:never|didnt|did not) (?:sign(?:ed)? up|subscribe[d]?|opt(?:ed)? ?in|agree[d]? to)\b",
    ),
    ("knock it off", r"\b(?:knock it off|cut it out|quit it|enough already|back off)\b"),
    (
        "still texting",
        r"\bwhy (?:are|r|do|does) (?:you|u|your company) (?:still |keep )?(?:texting|messaging|sending)\b"
        r"|\bwhy do i keep getting (?:these|this|your|texts)",
    ),
    (
        "unsubscribe",
        r"\b(?:un ?sub\w*|unsusbscribe|unsuscrib\w*|unscribe|unsubcrib\w*|unsubscib\w*|desubscribe)\b"
        r"(?! from (?:the |your |my )?(?:newsletter|emails?|email list|mailing list))",
    ),
    ("opt out", r"\bopt(?:ing|ed)? (?:me |us )?out\b|\boptout\w+"),
    (
        "block or report",
        r"\b(?:i will|ill|im going to|gonna|going to) (?:block|report)\b|\bthis is (?:spam|harassment)\b",
    ),
    ("do not contact list", r"\b(?:dnc|do not (?:call|contact|text) list)\b"),
    # Spanish
    (
        "es: baja",
        r"^(?:baja|de baja)(?: por favor| porfa| gracias)?$|\b(?:dar|darme|dame|denme|deme|doy|darnos|dar de) de baja\b"
        r"|\bde baja (?:por favor|porfa|este numero|mi numero)\b",
    ),
    (
        "es: no más",
        r"^no mas(?: por favor| porfa| gracias)?$|\bno (?:mas|quiero mas) (?:mensajes|textos|mensajitos|sms|notificaciones)\b",
    ),
    (
        "es: no me escriban",
        r"\bno (?:me |nos )(?:escrib|envi|mand|contact|llam|molest|text)\w*(?: \w+)?(?: mas| nunca| otra vez| mensajes| textos|$)",
    ),
    (
        "es: ya no quiero",
        r"\bya no (?:quiero|deseo|me interesa)(?: (?:recibir|sus|tus|los|mas))* (?:mensajes|textos|sms|nada|notificaciones)\b"
        r"|\bno (?:quiero|deseo) (?:recibir )?(?:mas )?(?:sus |tus |los )?(?:mensajes|textos)\b",
    ),
    (
        "es: dejen de",
        r"\b(?:deja|dejen|dejar|deje|paren|pare|parar) de (?:enviar|mandar|escribir|textear|contactar|molestar|llamar)\w*\b",
    ),
    (
        "es: sáquenme de la lista",
        r"\b(?:eliminar|eliminen|elimina|borra|borren|borrar|saca|sacar|quita|quiten|quitar)(?:me|nos)? (?:de (?:la|su|tu|esta) lista|mi numero|este numero)\b"
        r"|\b(?:sacame|quitame|borrame|eliminame|eliminenme|borrenme|saquenme|quitenme|quiteme)\b",
    ),
    (
        "es: cancelar suscripción",
        r"\b(?:cancelar|cancela|anular|anula) (?:la |mi )?(?:suscripcion|subscripcion) (?:a los |de )?(?:mensajes|sms|textos)\b|\bdesuscrib\w*|\bdesinscrib\w*",
    ),
    ("es: déjame en paz", r"\b(?:dejame|dejenme|dejeme) en paz\b"),
    (
        "es/pt: stop word",
        r"^(?:alto|parar|pare|paren|basta|detener|deten|cancelar|para ya|ya basta|alto ya|sair|chega|parem)(?: por favor| porfa| gracias| ya)?$",
    ),
    # French
    (
        "fr: arrêtez",
        r"^arret(?:e|ez|er)?(?: svp| s il vous plait| merci)*$|\barret(?:e|ez|er)? (?:d|de) (?:m|me|nous) ?(?:envoy|ecri|text|contact)\w*",
    ),
    ("fr: désabonner", r"\b(?:desabonn|desinscri|desinscriv)\w*"),
    (
        "fr: ne plus envoyer",
        r"\bne (?:m|me|nous) ?(?:envoyez|ecrivez|contactez|textez|appelez)\w* plus\b|\bplus de (?:messages|sms|textos)\b",
    ),
    ("fr: retirez-moi", r"\b(?:retirez|enlevez|supprimez)(?: moi| mon numero)\b|\blaissez moi tranquille\b"),
    # Portuguese
    (
        "pt: não quero mais",
        r"\bnao (?:quero|desejo) (?:mais )?(?:receber )?(?:mais )?(?:mensagens|sms|textos)\b",
    ),
    ("pt: não me mande", r"\bnao (?:me )?(?:mande|mandem|envie|enviem|contate|contatem)\w* mais\b"),
    ("pt: parem de", r"\b(?:parem|pare|para|parar) de (?:enviar|mandar|me mandar|me enviar)\b"),
    (
        "pt: descadastrar",
        r"\b(?:descadastr|descredenci)\w*|\b(?:me )?(?:tire|tirem|remova|removam)(?:me)? (?:da lista|meu numero|deste numero)\b",
    ),
    (
        "misspelt keyword",
        r"^(?:stopp+|sotp|stpo|stp|st0p|stoop|cancle|cancell|quitt|revok|unsubscrib|optuot|opout|unsubscrib\w*)$"
        r"|^(?:stopp+|sotp|stpo|st0p|cancle|unsubscrib\w*) (?:please|pls|plz|now|me|all|it|thanks)$",
    ),
)
_WORD_PATTERNS = tuple((name, re.compile(pattern)) for name, pattern in _WORD_RULES)

_SIGNATURE = re.compile(
    r"(?im)(?:^|\s)(?:[-_]{2,}\s*)?(?:sent from (?:my|the|yahoo|mail|outlook|aol|samsung|xfinity)\b[^\n]{0,40}"
    r"|get outlook for \w+[^\n]{0,20}|sent via \w+[^\n]{0,20}|enviado desde mi \w+[^\n]{0,20}"
    r"|envoye de mon \w+[^\n]{0,20}|enviado do meu \w+[^\n]{0,20})$"
)
# A keyword spelt out letter by letter: "S.T.O.P", "s t o p".
_SPELT_OUT = re.compile(r"\b[a-z](?:[.\-\s]+[a-z]\b){2,}\.?")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")
_CLAUSE_BREAK = re.compile(r"[.!?;:,\n\r\u3002\uff0c\u00a1\u00bf()\[\]\"]+")
_NOT_A_WORD = re.compile(r"[^a-z0-9\s]+")
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")


@dataclass(frozen=True)
class Revocation:
    """``kind``: ``KEYWORD`` or ``WORDS``; ``rule``: which rule matched; ``matched``: the
    words it matched, in normalised form (shown to the agent and kept as proof)."""

    kind: str
    rule: str
    matched: str

    def as_proof(self) -> dict:
        return {"detection": self.kind, "rule": self.rule, "matched": self.matched}


def fold(text: str) -> str:
    """NFKC (full-width letters, ligatures), lower case, accents dropped: a full-width STOP -> "stop",
    "No MÁS" -> "no mas", "ARRÊT" -> "arret"."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(clause: str) -> str:
    """One clause as lower-case words: no apostrophes ("don't" -> "dont"), other punctuation
    and emoji as spaces, "opt-out" as "optout", a word repeated at once kept once, a spelt-out
    "s t o p" joined."""
    text = _APOSTROPHES.sub("", clause)
    text = _NOT_A_WORD.sub(" ", text)
    tokens = text.split()
    if len(tokens) > 1 and all(len(token) == 1 for token in tokens):
        tokens = ["".join(tokens)]
    deduped: list[str] = []
    for token in tokens:
        if not deduped or deduped[-1] != token:
            deduped.append(token)
    text = " ".join(deduped)
    text = re.sub(r"\bopt out\b", "optout", text)
    text = re.sub(r"\bun subscribe\b", "unsubscribe", text)
    return re.sub(r"\b(\w+)(?: \1\b)+", r"\1", text)


def normalise(body: str) -> list[str]:
    """The reply as matching sees it: its clauses (split at sentence punctuation and line
    breaks), each folded to plain lower-case words, phone signatures and empty clauses gone."""
    text = _INVISIBLE.sub("", fold(body))
    text = _SIGNATURE.sub("", text)
    text = _SPELT_OUT.sub(lambda m: re.sub(r"[^a-z]", "", m.group(0)), text)
    clauses = (_words(clause) for clause in _CLAUSE_BREAK.split(text))
    return [clause for clause in clauses if clause]


def _keyword_request(clause: str) -> str | None:
    """The keyword when the clause asks for it: alone or with filler ("stop please", "STOP
    ALL"), after a lead-in ("i want to opt out", "can you stop"), followed only by words about
    the texts ("stop texting me", "cancel these texts"), or closing a clause that leaves no
    doubt ("not interested stop")."""
    rest = _LEAD_IN.sub("", clause).split()
    tokens = [t for t in rest if t not in _FILLER] or rest
    if tokens and tokens[0] in KEYWORDS and all(t in _ABOUT_TEXTS or t in KEYWORDS for t in tokens[1:]):
        return tokens[0]
    for pattern in (_CLOSING, _KEYWORD_ABOUT_TEXTS):
        for match in pattern.finditer(clause):
            if not _negated(clause, match.start("kw")):
                return match.group("kw")
    return None


def _negated(clause: str, start: int) -> bool:
    return bool(_NEGATION.search(clause[:start].rstrip()))


def revocation_of(body: str) -> Revocation | None:
    """The revocation ``body`` makes, or None. A keyword request in any clause wins over plain
    words; otherwise the first plain-words rule that matches (not right after a negation)."""
    clauses = normalise(body)
    for clause in clauses:
        keyword = _keyword_request(clause)
        if keyword:
            return Revocation(KEYWORD, f"keyword: {keyword}", clause)
    for clause in clauses:
        for name, pattern in _WORD_PATTERNS:
            for match in pattern.finditer(clause):
                if not _negated(clause, match.start()):
                    return Revocation(WORDS, name, match.group(0).strip() or clause)
    return None
