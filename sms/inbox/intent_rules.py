"""The standard intent rules, installed by a data migration and editable in the admin afterwards.

How the rules combine (see ``sms.inbox.intents.classify``): every rule whose pattern is found in the
normalised reply (case-insensitive) is a candidate; the highest confidence wins, ties go to the
lower position. The confidences therefore encode precedence, roughly:

    0.99  iMessage/Android reactions ("Liked “…”"): the quoted text is our own message
    0.97  opt-out in plain words: a compliance matter beats everything else in the reply
    0.96  negated needs ("don't need help anymore", "no need to call")
    0.93  deferral that says "not now" outright ("not right now", "too busy", "hold off")
    0.92  billing problems that mention a plan or a discount ("refund the difference")
    0.90  pricing and upgrade interest; visits ("stop by")
    0.88  concrete support problems (login, errors, invoices, orders that never arrived)
    0.86  problem solved ("that fixed it", "all set"); "not ... this year"
    0.85  deferral to a later date ("next month", "in 2 weeks", "after the holidays"); meetings
    0.80  who-is-this and not-the-right-contact replies; generic help wording
    0.70  acknowledgements, positive emoji; near-term dates ("next week")
    0.60  bare how-to questions; "which account?" / "what do you mean"
    0.45-0.55  weak single-word cues, only when nothing specific matched

A reply no rule matches is "other". The module has no model imports so the data migration can
use it with the historical model.
"""

from collections.abc import Iterable

# Reusable fragments; the stored patterns are the expanded strings.
_NEG = r"(?:don'?t|do\s+not|doesn'?t|does\s+not|no\s+longer|never)"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_SEASON = r"(?:spring|summer|fall|autumn|winter)"
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri)(?:day)?|saturday|sunday)"
_CANT = r"(?:can'?t|cannot|can\s+not|unable\s+to|couldn'?t|won'?t|doesn'?t|didn'?t|isn'?t|aren'?t|not)"


def _rules(intent: str, *rules: tuple[float, str, str]) -> list[dict]:
    return [
        {"intent": intent, "confidence": confidence, "pattern": pattern, "description": description}
        for confidence, pattern, description in rules
    ]


_RULES: list[dict] = [
    # --- Reactions -----------------------------------------------------------------------
    *_rules(
        "positive",
        (0.99, r'^(?:liked|loved|emphasi[sz]ed|laughed\s+at)\s+"', "Tapback reaction to our message"),
    ),
    *_rules(
        "other",
        (0.99, r'^(?:disliked|questioned)\s+"', "Negative/question tapback on our message"),
    ),
    # --- Opt-out in plain words ----------------------------------------------------------
    # A bare carrier keyword ("STOP") never gets here; these are sentences around it.
    *_rules(
        "opt_out",
        (
            0.97,
            r"\b(?:stop|quit|cease|end)\s+(?:texting|messaging|sending|contacting|spamming|calling|"
            r"bothering|harass\w*)\b",
            "stop texting / quit messaging / stop sending",
        ),
        (
            0.97,
            r"\b(?:stop|end|cancel|discontinue|no\s+more|enough\s+(?:with\s+)?|done\s+with)\s*"
            r"(?:the\s+|these\s+|this\s+|all\s+|your\s+|those\s+|of\s+these\s+|my\s+|our\s+|"
            r"all\s+(?:the|these|your)\s+)?(?:texts?|txts?|messages?|msgs?|sms|reminders?|notifications?)\b",
            "stop these texts / no more messages / cancel the reminders",
        ),
        (0.97, r"\bstop\s+(?:getting|receiving)\b", "how do I stop getting these"),
        (0.95, r"^\W*stop\b(?!\s+by\b)", "A message that starts with 'stop' (but not 'stop by')"),
        (0.95, r"\b(?:please|pls|plz|plse)\s+stop\b(?!\s+by\b)", "please stop"),
        (0.97, r"\bun-?sub\w*", "unsubscribe (me) / unsub / unsubscribing"),
        (0.9, r"^\W*no\s+more\W*$", "A bare 'no more'"),
        (0.97, r"\bopt(?:\s|-)?(?:me\s+)?out\b", "opt me out / opt out"),
        (
            0.97,
            r"\b(?:remove|delete|drop|erase)\s+(?:me|my\s+(?:number|phone|cell|#)|this\s+(?:number|phone|#))\b",
            "remove me / remove my number",
        ),
        (
            0.97,
            r"\b(?:take|get)\s+(?:me|my\s+(?:number|phone|cell|#|info)|this\s+(?:number|#))\s+off\b",
            "take me off the list",
        ),
        (0.97, r"\boff\s+(?:of\s+)?(?:this|the|your|ur)\s+(?:\w+\s+)?list\b", "I want off this list"),
        (
            0.97,
            rf"\b{_NEG}\s+(?:ever\s+)?(?:text|txt|message|msg|contact|sms|call|email)\s+"
            r"(?:me|us|this\s+(?:number|phone))\b",
            "don't text me / do not contact me",
        ),
        (
            0.95,
            r"\b(?:don'?t|do\s+not|never)\s+(?:text|txt|message|msg|sms)\b(?!\s+(?:back|you|u)\b)",
            "don't text / do not message (no object)",
        ),
        (
            0.93,
            r"\bstill\s+(?:texting|messaging|sending|getting\s+(?:these|texts|messages))\b|"
            r"\bkeep\s+(?:texting|messaging|sending\s+(?:me|these)|(?:getting|receiving)\s+(?:these|this|your|the|"
            r"them|texts|messages|sms))\b|"
            r"\bwhy\s+(?:are|r|do)\s+(?:you|u)\s+(?:keep\s+)?(?:texting|messaging)\b",
            "why are you still texting me",
        ),
        (
            0.97,
            rf"\b{_NEG}\s+(?:want|wish)\s+(?:to\s+(?:get|receive)\s+)?"
            r"(?:any\s*more\s+|these\s+|your\s+|any\s+|the\s+|more\s+|this\s+)?"
            r"(?:texts?|txts?|messages?|msgs?|sms|reminders?)\b",
            "I don't want these messages",
        ),
        (
            0.95,
            r"\b(?:don'?t|do\s+not|no\s+longer)\s+(?:want|wish|need)\s+(?:to\s+(?:get|receive)\s+)?(?:any\s+more|"
            r"anymore|any|more)?\s*(?:of\s+)?(?:these|this|them)\b",
            "I don't want any more of these",
        ),
        (
            0.97,
            r"\b(?:don'?t|do\s+not|no\s+longer)\s+(?:want|wish|need)\s+(?:to\s+hear\s+from\s+(?:you|u|y'?all|your)|"
            r"(?:these|the|your|any\s+more)\s+(?:texts?|messages?|reminders?|notifications?))\b|"
            r"\b(?:don'?t|do\s+not|never)\s+send\s+(?:me\s+)?(?:any\s*more|more|anything|these|this|them|texts|"
            r"messages)\b|\bcease\s+and\s+desist\b|^\W*no\s+(?:more\s+)?(?:texts?|txts?|sms|messages?)\b",
            "don't want to hear from you / do not send any more / no texts",
        ),
        (
            0.97,
            r"\b(?:lose|delete|forget|erase|purge)\s+(?:my|this|our)\s+(?:number|contact|#|info|information|"
            r"data|details|phone)\b",
            "lose my number / delete my info",
        ),
        (0.97, r"\bleave\s+me\s+alone\b", "leave me alone"),
        (0.95, r"\b(?:remove|stop)\W*$", "A message that ends with 'remove' or 'stop'"),
        (
            0.9,
            r"\bno\s+longer\s+(?:in\s+service|my\s+number|mine|the\s+right\s+number|a\s+customer)\b|"
            r"\bnot\s+(?:a|your)\s+customer\s+anymore\b",
            "this number is no longer in service / not a customer anymore",
        ),
        (0.9, r"\bwrong\s+(?:number|person|phone|#|guy|girl)\b", "wrong number: stop texting it"),
        (
            0.9,
            r"\b(?:didn'?t|did\s+not|never)\s+(?:sign(?:ed)?\s+up|subscribe[d]?|opt(?:ed)?[\s-]*in|ask(?:ed)?\s+for|"
            r"agree[d]?\s+to)\b",
            "I didn't sign up for this / never opted in",
        ),
        (0.9, r"\bknock\s+it\s+off\b|\bcut\s+it\s+out\b|\bquit\s+it\b", "knock it off"),
        (0.75, r"^\W*not\s+interested\W*$", "A bare 'not interested'"),
    ),
    # --- Negated needs: the customer is fine ---------------------------------------------
    *_rules(
        "positive",
        (
            0.96,
            rf"\b{_NEG}\s+need\s+(?:any\s+)?(?:more\s+)?(?:help|assistance|support|a\s+call|a\s+demo|"
            r"to\s+(?:talk|call|meet))\b",
            "don't need help anymore",
        ),
        (
            0.96,
            r"\bno\s+need\s+(?:to\s+|for\s+(?:a\s+)?)?(?:call|meet|help|demo|follow\s*up|talk|worry)",
            "no need to call",
        ),
    ),
    # --- Deferral: not now ---------------------------------------------------------------
    *_rules(
        "deferral",
        (
            0.93,
            r"\bnot\s+(?:right\s+)?now\b|\bnot\s+(?:at\s+the\s+moment|atm|currently|today|"
            r"this\s+(?:week|month|year|quarter|time))\b",
            "not now / not right now / not this week",
        ),
        (
            0.93,
            r"\b(?:not|bad)\s+(?:a\s+)?(?:good|great|the\s+right|ideal)\s+time\b|\b(?:bad|poor)\s+timing\b|"
            r"\btiming\s+(?:is\s+)?(?:bad|off|not\s+great)\b",
            "not a good time / bad timing",
        ),
        (
            0.93,
            r"\b(?:not|aren'?t|isn'?t)\s+(?:quite\s+)?ready\b|\bnot\s+there\s+yet\b|\btoo\s+(?:early|soon)\b",
            "not ready / too early",
        ),
        (0.88, r"\btry\s+(?:me|us|again|back)\b", "try me tomorrow / try again"),
        (
            0.86,
            r"\b(?:not|no)\b[^.?!]{0,30}\bthis\s+(?:year|quarter|month|season)\b|\bwait\s+and\s+see\b|"
            r"\bsnooze\b",
            "not making changes this year / wait and see / snooze",
        ),
        (
            0.88,
            r"\bpaus(?:e|ing)\s+(?:everything|all|this|it|things|for\s+now)\b|"
            r"\b(?:until|after|once)\s+(?:the|our|we)\b[^.?!]{0,30}\b(?:closes?|done|finish\w*|wraps?|over|"
            r"settles?|approved|signed)\b|\b(?:hiring|budget|spending)\s+freeze\b",
            "pausing everything until the merger closes",
        ),
        (
            0.85,
            r"\bno\s+(?:rush|hurry)\b|\b(?:over|on|this)\s+the\s+weekend\b|\bthis\s+weekend\b|"
            r"\bwhen\s+(?:i|we)\s+(?:get|have|find)\s+(?:a\s+)?(?:chance|minute|moment|sec|time)\b|"
            r"\bwhen\s+(?:i|we)(?:'m|'re|\s+am|\s+are)?\s+(?:run(?:ning)?\s+(?:low|out)|ready|need\s+(?:it|more))\b|"
            r"\bstill\s+have\s+(?:plenty|some|a\s+lot|enough|a\s+few)\b",
            "no rush / over the weekend / when I run low",
        ),
        (0.93, r"\bnot\s+yet\b", "not yet"),
        (
            0.93,
            r"\b(?:maybe|perhaps|possibly|probably|try|ask|text|ping)\s+(?:me\s+)?(?:again\s+)?later\b",
            "maybe later / try me later",
        ),
        (0.93, r"^\W*(?:later|l8r|laterr+)\W*$", "A bare 'later'"),
        (0.93, r"\bhold(?:ing)?\s+off\b", "hold off"),
        (
            0.93,
            r"\b(?:too|really|super|very|crazy|so|pretty)\s+busy\b|\bbusy\s+(?:right\s+now|rn|this|today|"
            r"at\s+the\s+moment|atm|until|till|til)\b|\b(?:swamped|slammed|buried)\b",
            "too busy / busy this week / swamped",
        ),
        (
            0.93,
            r"\b(?:no|don'?t\s+have\s+(?:the\s+|any\s+)?|zero)\s*(?:time|bandwidth|capacity|budget)\b",
            "no time / no bandwidth",
        ),
        (
            0.93,
            r"\b(?:circle|check|come)\s+back\b|\brevisit\b|\bget\s+back\s+to\s+(?:you|u|ya)\b|\breconnect\b|"
            r"\bpick\s+(?:this|it|that)\s+(?:back\s+)?up\b",
            "circle back / revisit / get back to you",
        ),
        (0.93, r"\bremind\s+me\b", "remind me (later)"),
        (
            0.93,
            r"^\W*(?:i\s+)?(?:can'?t|cannot)\s+(?:talk|text|chat)?\s*(?:right\s+)?now\b|"
            r"\bcan'?t\s+(?:talk|chat)\b|\bdriving\b|\bin\s+a\s+meeting\b",
            "can't talk now / driving / in a meeting",
        ),
        (
            0.9,
            r"\bthink\s+(?:about\s+it|it\s+over)\b|\bsleep\s+on\s+it\b|\bmull\s+it\s+over\b|"
            r"\blet\s+(?:you|u|ya)\s+know\b|"
            r"\blet\s+me\s+(?:check|discuss|run\s+it\s+by|talk\s+to\s+(?:my|the|our))\b",
            "I'll think about it / will let you know",
        ),
        (
            0.85,
            r"\b(?:let\s+(?:me|us)|once\s+(?:we|i)|when\s+(?:we|i)(?:'re|\s+are|'m|\s+am)?)\s+"
            r"(?:finish|get\s+through|wrap\s+up|done|settle)\w*|\bonce\s+things\b|"
            r"\bwhen\s+things\s+(?:calm|slow|settle|quiet)",
            "let me finish this first / once things settle",
        ),
        (
            0.93,
            r"\b(?:wait|push|postpone|delay|defer)\s+(?:(?:this|it|that|on\s+(?:this|that|it))\s+)?"
            r"(?:till|until|til|to|for|'til|a\s+bit|a\s+few|a\s+couple)\b|\bpostpone\b",
            "can this wait till / push this to",
        ),
        (
            0.93,
            r"\bout\s+of\s+(?:the\s+)?office\b|\booo\b|\bon\s+(?:vacation|holiday|leave|pto|maternity|"
            r"paternity)\b|\baway\s+(?:until|till|til)\b",
            "out of office / on vacation",
        ),
        (0.93, r"\bnot\s+(?:a\s+|our\s+)?(?:top\s+)?priority\b", "not a priority"),
        (0.93, r"\b(?:good|fine|ok|okay|set|pass)\s+for\s+now\b", "we're good for now"),
        (
            0.93,
            r"\bnot\s+interested\b.{0,40}\b(?:now|rn|yet|at\s+the\s+moment|this\s+\w+|next\s+\w+|later|"
            r"maybe)\b",
            "not interested right now / this year",
        ),
        (
            0.9,
            r"\blater\s+(?:this\s+(?:week|month|quarter|year|season)|next|in|on)\b",
            "later this week / later in the year (not 'later today': that is a meeting time)",
        ),
        (
            0.9,
            r"\b(?:another|some\s+other|other)\s+time\b|\bnext\s+time\b|\bnot\s+(?:any\s*time\s+soon|for\s+a\s+while|"
            r"for\s+(?:a\s+few|a\s+couple|several)\s+\w+)\b|\bwe'?ll\s+see\b",
            "another time / not for a while / we'll see",
        ),
    ),
    # --- Deferral: a later date ----------------------------------------------------------
    *_rules(
        "deferral",
        (
            0.85,
            rf"\b(?:next|nxt|following)\s+(?:month|mo|quarter|qtr|year|yr|{_SEASON}|season|semester|fiscal|"
            rf"{_MONTH})\b",
            "next month / next quarter",
        ),
        (
            0.85,
            r"\bin\s+(?:a|an|one|two|three|four|six|\d+|a\s+few|a\s+couple(?:\s+of)?|couple(?:\s+of)?|few)\s+"
            r"(?:more\s+)?(?:days?|wks?|weeks?|months?|mos?|quarters?|years?)\b",
            "in 2 weeks / in a couple of months",
        ),
        (
            0.85,
            rf"\b(?:in|until|till|til|after|around|mid|early|late|end\s+of|beginning\s+of|start\s+of)[\s-]+"
            rf"(?:the\s+)?(?:{_MONTH}|{_SEASON}|new\s+year|q[1-4])\b",
            "in January / after the spring / in Q3",
        ),
        (
            0.85,
            r"\b(?:after|until|till|til|past)\s+(?:the\s+)?(?:holidays?|christmas|xmas|thanksgiving|break|"
            r"(?:\w+\s+)?season|launch|busy\s+\w+|\d{1,2}(?:st|nd|rd|th)|first)\b",
            "after the holidays / after the 1st / until tax season",
        ),
        (
            0.85,
            r"\b(?:after|until|till|til|past)\s+(?:the\s+)?(?:[\w']+\s+){0,2}(?:day|break|holidays?|weekend)\b",
            "after Labor Day / after spring break / after the long weekend",
        ),
        (
            0.88,
            r"\bgive\s+(?:me|us)\s+(?:a|an|one|two|\d+|a\s+few|a\s+couple(?:\s+of)?|some)\s+(?:more\s+)?"
            r"(?:days?|weeks?|months?|time|bit)\b",
            "give me a month",
        ),
        (
            0.85,
            r"\bafter\s+(?:our|my|the)\s+(?:budget|board|fiscal|audit|move|migration|merger|launch|hire|"
            r"funding|renewal|review|conference|trade\s+show|event|expo|offsite|retreat|trip)\b",
            "after our budget / board / migration",
        ),
        (0.85, r"\bend\s+of\s+(?:the\s+)?(?:month|quarter|year|week)\b", "end of the month"),
        (0.85, r"\bcloser\s+to\b", "closer to the date"),
        (
            0.7,
            r"\b(?:next|later\s+this)\s+week\b|\bnext\s+" + _WEEKDAY + r"\b",
            "next week (weak: also meetings)",
        ),
    ),
    # --- Pricing and upgrade interest ----------------------------------------------------
    *_rules(
        "pricing",
        (0.9, r"\b(?:price[sd]?|pricing|pricng|prcing|priceing|pricin|prices)\b", "price / pricing"),
        (
            0.9,
            r"\bcost(?:s|ing)?\b|\bhow\s+much\b|\bexpensive\b|\bcheap(?:er|est)?\b|\baffordable\b|\binvestment\b|"
            r"\$\s*\$|\$\s*\d",
            "cost / how much / cheaper",
        ),
        (
            0.9,
            r"\bquotes?\b|\bdiscount|\bpromo\b|\bpromo\s*codes?\b|\bcoupons?\b",
            "quote / discount / promo",
        ),
        (0.9, r"\bup-?gr(?:ade|de|aed|ad|ae?d)\w*|\bupgarde\w*|\bdowngrad\w*", "upgrade / downgrade"),
        (
            0.9,
            r"\b(?:more|add|adding|additional|extra|another|\d+\s+more)\s+(?:\d+\s+)?(?:seats?|users?|"
            r"licen[cs]es?|logins?|locations?)\b",
            "more seats / add users",
        ),
        (0.9, r"\bseat\s+(?:limit|count|cap)\b|\bper\s+(?:user|seat|head)\b", "seat limit / per user"),
        (
            0.9,
            r"\b(?:pro|business|enterprise|growth|premium|starter|basic|team|plus|cheaper|bigger|larger|"
            r"higher|lower|annual|monthly|yearly|paid|free)\s+(?:plan|tier|package|version|option|edition|"
            r"subscription|size)s?\b",
            "pro plan / business tier / monthly option",
        ),
        (
            0.9,
            r"\b(?:difference|compare|comparison|vs\.?)\b.{0,30}\b(?:plans?|tiers?|pro|growth|enterprise|"
            r"business|premium|starter)\b",
            "difference between plans",
        ),
        (
            0.85,
            r"\b(?:what|which)\s+(?:are\s+)?(?:the\s+|your\s+)?(?:plans|tiers|packages)\b",
            "what are the plans",
        ),
        (0.9, r"\badd[\s-]?ons?\b", "add-ons"),
        (
            0.9,
            r"\b(?:do|would|will|does\s+it)\s+(?:you|u|y'?all|it)?\s*charge\b|\bcharge\s+(?:for|per)\b",
            "what do you charge",
        ),
        (
            0.88,
            r"\bsav(?:e|ing|ings)\s+(?:if|by|going|with|on)\b|\bgo(?:ing)?\s+(?:annual|yearly)\b|"
            r"\bpay\s+(?:annually|yearly|upfront|up\s+front)\b|\b(?:annual|yearly|monthly)\s+(?:billing|contract|"
            r"payment)\b|\bswitch\s+to\s+(?:annual|yearly|monthly)\b",
            "would we save going annual",
        ),
        (
            0.88,
            r"\bwhat'?s\s+included\b|\bwhat\s+(?:is|do\s+(?:you|we)\s+get)\s+included\b|"
            r"\bwhat'?s\s+the\s+(?:monthly|yearly|annual)\b|\b(?:it|that|this)\s+run\b|\brun\s+(?:us|me)\b|"
            r"\bupsell\b|\b(?:offer|deal|promotion|special)\s+you\s+mentioned\b|"
            r"\b(?:pro|enterprise|premium|business|growth|starter)\s+(?:vs\.?|versus|or)\b",
            "what's included in Pro / Pro vs",
        ),
        (
            0.9,
            r"\b(?:bump|go|move|increase|expand|scale|grow|up)\s+(?:up\s+)?(?:to\s+)?(?:\d+\s+)?"
            r"(?:our\s+|the\s+)?(?:seats?|users?|licen[cs]es?|plan|tier)\b|"
            r"\bto\s+\d+\s+(?:seats|users|licen[cs]es)\b",
            "bump up to 15 seats",
        ),
        (
            0.9,
            r"\b(?:better|lower|special|loyalty|discounted|best|good)\s+(?:rate|deal|price|offer)s?\b|"
            r"\b(?:your|the|ur)\s+rates\b",
            "a better rate",
        ),
        (
            0.88,
            r"\b(?:any|special|good|better)\s+(?:deals?|offers?|specials?)\b|\bdeals?\s+(?:for|on)\b|\bfees?\b|"
            r"\b(?:startup|non-?profit|education(?:al)?|student|small\s+business)\s+(?:program|pricing|plan|rate|"
            r"discount|deal)s?\b",
            "deals / fees / startup program",
        ),
    ),
    # --- Meeting requests ----------------------------------------------------------------
    *_rules(
        "meeting",
        (
            0.9,
            r"\b(?:stop|swing|drop|come|pop)\s+by\b|\bvisit\s+(?:us|our\s+\w+)\b|\bcome\s+(?:to|over\s+to)\s+"
            r"(?:our|the)\s+(?:office|shop|store|site|location|place)\b|\bon-?site\b",
            "stop by / visit our office",
        ),
        (
            0.85,
            r"\b(?:set|put|get)\s+(?:something|some\s+time|a\s+time|time)\s+(?:up|on)\b|"
            r"\bon\s+(?:the|my|our|your)\s+calendar\b|\b(?:get|grab|have)\s+(?:\d+|a\s+few|fifteen|twenty|thirty)\s*"
            r"(?:min\w*|mins)\s+(?:with|of)\b|\b(?:we|us)\s+(?:all\s+)?meet\b",
            "set something up / put it on the calendar / 15 min with",
        ),
        (
            0.85,
            r"\bcall\s+(?:me|us)\b|\bgive\s+(?:me|us)\s+a\s+(?:call|ring|buzz)\b|\bphone\s+(?:me|us)\b|"
            r"\bcall\s+(?:me\s+)?back\b|\bring\s+me\b",
            "call me / give me a ring",
        ),
        (
            0.85,
            r"\b(?:a|the|quick|short|\d+\s*-?\s*min(?:ute)?s?|phone|zoom|video|teams|intro|discovery)\s+"
            r"(?:call|chat|meeting|demo|zoom|session)\b",
            "a quick call / 15 min call / teams meeting",
        ),
        (
            0.85,
            r"\bdemo\b|\bwalk-?\s?through\b|\bcalendly\b|"
            r"\bcalendar\s+link\b|\byour\s+calendar\b|\bbook\s+(?:a\s+)?(?:time|slot|call|meeting)\b|"
            r"\bschedule\s+(?:a|an|some|time)\b|\bset\s*up\s+(?:a\s+)?(?:time|call|meeting)\b|"
            r"\b(?:hop|jump)\s+on\b",
            "demo / calendar link / schedule a / hop on",
        ),
        (
            0.85,
            r"\bmeet(?:ing)?\s+(?:up|with|in\s+person|on|at|today|tomorrow|next|this|"
            + _WEEKDAY
            + r")\b|\b(?:can|could)\s+we\s+meet\b|\bin\s+person\b|\bcoffee\b|\blunch\b|"
            r"\bgrab\s+(?:a\s+)?(?:drink|time|\d+\s*min\w*|a\s+few\s+min\w*)\b",
            "can we meet / meet in person",
        ),
        (
            0.85,
            r"\b(?:talk|speak|chat)\s+(?:to|with)\s+(?:someone|somebody|a\s+(?:person|human|rep|real\s+person)|"
            r"sales|you|u|your\s+\w+|an?\s+(?:manager|rep|agent))\b|\b(?:someone|somebody|person|human)\s+"
            r"(?:i|we)\s+can\s+(?:talk|speak)\b",
            "talk to someone",
        ),
        (0.85, r"\blet'?s\s+(?:talk|chat|meet|connect|hop|jump|set|schedule|catch\s+up)\b", "let's talk"),
        (
            0.85,
            r"\bwhen\s+(?:are|r)\s+(?:you|u)\s+(?:free|available)\b|\bwhat\s+times?\s+(?:work|works|suits?)\b|"
            r"\b(?:are|r)\s+(?:you|u)\s+(?:free|available)\b|\bavailability\b|\bfree\s+(?:on\s+)?(?:"
            + _WEEKDAY
            + r"|today|tomorrow|tmrw|tmr|this|next|at|after|before|in\s+the)\b|\b(?:works?|good|ok|okay)\s+"
            r"for\s+(?:a|the)\s+(?:call|meeting|chat)\b",
            "when are you free / what times work",
        ),
        (
            0.85,
            r"\b(?:on|over)\s+the\s+phone\b|\bzoom\b|\bgoogle\s+meet\b|\bfacetime\b",
            "on the phone / zoom",
        ),
        (
            0.85,
            r"\b(?:do|would|will)\s+(?:you|u)\s+have\s+(?:some\s+|any\s+)?(?:time|a\s+(?:minute|sec|moment)|"
            r"\d+\s+min\w*)\b|\b(?:find|pick)\s+(?:a\s+|some\s+)?(?:time|slot|day)\b|\bget\s+together\b|"
            r"\bcatch\s+up\b|"
            r"\b(?:send|shoot)\s+(?:me\s+|us\s+)?(?:an?\s+|the\s+)?(?:calendar\s+)?invite\b",
            "do you have time / find a time / send an invite",
        ),
        (
            0.85,
            r"\bsit\s+down\s+with\b|\bgo\s+over\s+(?:our|the|it|this|everything)\b|"
            r"\b(?:please|pls|plz|can\s+you|could\s+you|can\s+u|just)\s+call\b|"
            r"\bwhen\s+(?:can|could|should|do)\s+(?:we|i|you|u)\s+(?:talk|chat|meet|speak|call|connect)\b|"
            r"\b(?:to|can\s+we|could\s+we|let'?s|please|pls|i'?d\s+like\s+to)\s+(?:re)?schedule\b",
            "please call / when can we talk / can we schedule / sit down with",
        ),
        (
            0.85,
            r"\bcall\s+(?:you|u)\b|\bcall\s+my\s+(?:cell|phone|mobile|office|number|desk)\b|"
            r"\bcall\s+(?:at|on)\b|\bnumber\s+to\s+call\b|\bby\s+phone\b",
            "call you / call my cell / by phone",
        ),
        (
            0.85,
            r"\b(?:someone|somebody|sales|your\s+(?:rep|team|manager))\s+(?:from\s+\w+\s+)?(?:to\s+)?"
            r"(?:reach\s+out|contact\s+me|get\s+in\s+touch)\b|\bhave\s+(?:someone|somebody|your\s+\w+)\s+"
            r"(?:call|reach|contact|get\s+in\s+touch)",
            "have someone reach out / have your rep call me",
        ),
        (
            0.85,
            r"\b(?:happy|glad|love|like|keen)\s+to\s+(?:meet|chat|talk|connect|hop|jump)\b|"
            r"\bsee\s+(?:it|this|the\s+\w+)\s+(?:in\s+action|live)\b|"
            r"\bshow\s+(?:me|us)\s+(?:around|how\s+it\s+works|the\s+\w+)\b",
            "happy to meet / see it in action",
        ),
        (
            0.8,
            r"\bavailable\s+(?:on\s+)?(?:"
            + _WEEKDAY
            + r"|today|tomorrow|tmrw|tmr|this|next|at|after|before|\d)|\b"
            + _WEEKDAY
            + r"\s+(?:morning|afternoon|evening|am|pm|at\s+\d|@\s*\d|works|is\s+(?:good|fine|open))\b|"
            r"\b(?:today|tomorrow|tmrw|tmr)\s+(?:morning|afternoon|evening|at\s+\d|@\s*\d)|"
            r"\b\d{1,2}(?::\d\d)?\s*(?:am|pm)\b|\b\d{1,2}\s*-\s*\d{1,2}\s*(?:am|pm)?(?!\s*-?\s*\d)",
            "a day and time: friday afternoon / 3pm / 11-12",
        ),
    ),
    # --- Help requests -------------------------------------------------------------------
    *_rules(
        "help",
        (
            0.88,
            r"\b(?:log\s*-?\s*in|login|logon|log\s+on|sign\s*-?\s*in|signin|password|passwd|username|"
            r"user\s*name|locked\s+out|lock(?:ed)?\s+me\s+out|2fa|two[\s-]factor|mfa|verification\s+code|"
            r"logged\s+out|log(?:s|ging)\s+me\s+out|kick(?:s|ed)?\s+(?:me\s+)?out|signed\s+out|"
            r"reset\s+link|sso|single\s+sign[\s-]?on|saml|2[\s-]?step|two[\s-]step)\b",
            "login / password / 2FA",
        ),
        (
            0.88,
            r"\b(?:errors?|bugs?|buggy|crash\w*|broken|glitch\w*|freez(?:es|ing)|frozen|outage|blank|spin(?:s|ning)?|"
            r"forever|hangs?|tim(?:es|ed|ing)\s+out|timeout|expired|suspended|deactivated|disabled|"
            r"not\s+(?:working|loading|syncing|showing|saving|sending|updating|responding|answering)|"
            r"stopped\s+(?:working|syncing|loading|sending|showing|updating)|access\s+denied|permissions?|"
            r"forbidden|unauthori[sz]ed|not\s+authori[sz]ed)\b",
            "errors / crashes / not working / access denied",
        ),
        (
            0.88,
            rf"\b{_CANT}\s+(?:seem\s+to\s+)?(?:work|load|sync|show|save|open|connect|find|see|access|get|"
            r"receive|download|upload|import|export|print|log|sign|answer|apply|go\w*\s+(?:through|out)|"
            r"deliver)\w*|\bgr[ae]yed\s+out\b",
            "can't find / won't load / isn't syncing",
        ),
        (
            0.92,
            r"\brefund\w*|\bovercharg\w*|\b(?:double|twice)[\s-](?:billed|charged)|\bcharged\s+twice\b|"
            r"\bwrong\s+amount\b|\bchargeback\b",
            "refunds and wrong charges: a billing problem even when a plan is mentioned",
        ),
        (
            0.88,
            r"\b(?:invoice[sd]?|receipts?|billing|billed|charged|charges|"
            r"payment\s+method|credit\s+card|declined|statement|contract|bills?)\b",
            "invoices, receipts, charges, cards",
        ),
        (
            0.88,
            r"\bnever\s+(?:arrived|came|got|received|showed|arrives|comes)\b|\b(?:hasn'?t|haven'?t|didn'?t)\s+"
            r"(?:arrived|arrive|come|received|gotten|shown|got|showed)\b|"
            r"\b(?:damaged|defective|leaking|leaked|cracked|crushed|torn|spilled|melted|missing)\b|"
            r"\bwrong\s+(?:flavou?r|size|colou?r|item|product|order|one|address|scent|time\s*zone|date|time|"
            r"name|currency|language|amount|price|total)\b",
            "order never arrived / damaged / missing / wrong item",
        ),
        (
            0.88,
            r"\bstill\s+waiting\b|\bwaiting\s+(?:on|for)\s+(?:my|our|the)\s+(?:order|package|replacement|refund|"
            r"delivery|shipment|response|reply|answer)\b|\breplacement\b|\bback-?order\w*|"
            r"\bship(?:ping)?\s+to\b|\bdo\s+you\s+ship\b|"
            r"\b(?:swap|exchange|return)\s+(?:it|this|them|my|the)\b",
            "still waiting / replacement / shipping to / swap or return",
        ),
        (
            0.92,
            r"\b(?:code|coupon|discount|promo|payment|card|upgrade|checkout|credit|refund)\b[^.?!]{0,30}\b"
            r"(?:didn'?t|doesn'?t|won'?t|isn'?t|hasn'?t|not|never)\s+(?:apply|applied|work|working|go\s+through|"
            r"went\s+through|show\w*|appear\w*|arriv\w*|c[ao]me|saw|see)",
            "the promo code / card / upgrade didn't work: a problem, not pricing interest",
        ),
        (
            0.88,
            r"\btracking\b|\bwhere'?s?\s+(?:is\s+)?my\s+(?:order|package|shipment|delivery|refund)\b|"
            r"\bnot\s+(?:delivered|shipped|received)\b|\bhasn'?t\s+shipped\b|\bsays\s+delivered\b",
            "where is my order / tracking",
        ),
        (0.65, r"\bwhy\s+(?:does|is|did|do|am|was|can'?t|won'?t|isn'?t|doesn'?t)\b", "why does it..."),
        (
            0.88,
            r"\bcancel\s+(?:my|our|the)\s+(?:subscription|account|plan|order|membership|contract)\b",
            "cancel my subscription (not an SMS opt-out)",
        ),
        (
            0.88,
            r"\bis\s+(?:something|it|the\s+\w+|your\s+\w+|\w+)\s+down\b|\b(?:super|so|very|really|too)\s+slow\b|"
            r"\bslow\s+to\s+load\b|\bloads?\s+(?:super\s+|so\s+|really\s+)?slow\w*|\blagg?(?:y|ing)\b",
            "is it down / slow",
        ),
        (
            0.8,
            r"\b(?:need|needs|want|get|some|any)\s+(?:some\s+)?help\b|\bhelp\s+(?:me|us|with|setting|getting|"
            r"please|pls|plz|asap)\b|\b(?:can|could)\s+(?:you|someone|anyone|u|somebody)\s+help\b|"
            r"\bh(?:lep|epl|elpp|alp)\b|\bwalk\s+(?:me|us)\s+(?:thru|through)\b|\bshow\s+me\s+how\s+to\b",
            "need help / can you help / typos",
        ),
        (
            0.85,
            r"\b(?:trouble|issues?|problems?|stuck|confus\w*|figure\s+out|support)\b",
            "trouble / issue / stuck",
        ),
        (
            0.8,
            r"\b(?:change|update|reset)\s+(?:the\s+|my\s+|our\s+)?(?:billing|email|address|shipping|card|"
            r"payment|phone|password)\b",
            "change my email / update my card",
        ),
        (0.75, r"\b(?:integrat\w*|export\w*|import\w*|sync\w*)\b", "integrations, import/export, sync"),
        (
            0.85,
            r"\b(?:is|are|was|were|looks?|seems?)\s+(?:all\s+)?(?:wrong|off|incorrect|messed\s+up)\b|\bincorrect\b",
            "the label is wrong / my bill looks off",
        ),
        (
            0.88,
            r"\blost\s+(?:all\s+)?(?:my|our|the)\b|\b(?:disappeared|vanished)\b|"
            r"\b(?:after|since)\s+(?:the|your)\s+(?:latest\s+|last\s+|new\s+|recent\s+)?update\b",
            "we lost our data / since the update",
        ),
        (
            0.8,
            r"\breset\s+(?:my|the|our)\b|\bsettings?\b|\broles?\b|\badmin\s+(?:rights|access)\b|"
            r"\bdocument(?:ed|ation)\b|\bdocs\b|\btutorials?\b|\b(?:help|support|knowledge\s+base)\s+articles?\b|"
            r"\buser\s+(?:guide|manual)\b|\bhow-?to\s+(?:guide|video)s?\b",
            "reset my... / settings / roles / documentation",
        ),
        (
            0.85,
            r"\b(?:w-?9|tax\s+(?:form|id|exempt\w*)|1099|security\s+questionnaire|questionnaire|dpa|baa|soc\s*2|"
            r"certificate\s+of\s+insurance)\b|\b(?:restore|recover|undelete|retrieve)\b|"
            r"\b(?:account\s+owner|ownership)\b|\btransfer\s+(?:the\s+)?(?:account|ownership|admin)\b",
            "tax forms and compliance paperwork / restore deleted / account ownership",
        ),
        (
            0.7,
            r"\bis\s+there\s+a\s+way\b|\bdoes\s+(?:it|this|the\s+app)\s+(?:work|support|integrate|run)\b|"
            r"^\W*(?:quick\s+)?question\b|\bquick\s+question\b",
            "is there a way / does it work with",
        ),
        (
            0.6,
            r"\bhow\s+(?:do|can|would|should|to|long)\b|\bwhere'?s\b|\bwhere\s+(?:do|can|is|are)\b",
            "how do I / where is",
        ),
    ),
    # --- Problem solved ------------------------------------------------------------------
    *_rules(
        "positive",
        (
            0.86,
            r"\b(?:works|working)\s+now\b|\bthat\s+(?:worked|fixed\s+it|did\s+it|did\s+the\s+trick)\b|"
            r"\bfixed\s+it\b|\bresolved\b|\bfigured\s+it\s+out\b|\ball\s+(?:set|good|sorted)\b|"
            r"\bwe'?re\s+good\b|\bno\s+(?:worries|problem|prob)\b|\bnp\b|\bnvm\b|\bnever\s*mind\b",
            "that fixed it / all set / no worries",
        ),
        (
            0.86,
            r"\bthanks?\s+(?:you\s+)?(?:so\s+much\s+)?for\s+(?:the|your|all\s+the|all\s+your)\s+"
            r"(?:help|call|time|chat|support)\b",
            "thanks for the help",
        ),
    ),
    # --- Who is this / not the right contact ---------------------------------------------
    *_rules(
        "other",
        (
            0.8,
            r"\bwho\s*(?:is|'s|s)\s+(?:this|that|dis)\b|\bwho\s+dis\b|\bwho\s+(?:are|r)\s+(?:you|u)\b|"
            r"\bwhat\s*(?:is|'s|s)\s+this\b|\bwhat\s+this\s+is\b|\bwhat\s+company\b|"
            r"\bwhere\s+(?:are|r)\s+(?:you|u|y'?all)\s+(?:guys\s+)?(?:based|located|from)\b",
            "who is this / what is this",
        ),
        (0.9, r"\bwho\s+(?:sent|is\s+sending|texted)\s+(?:this|that|these|me)\b", "who sent this"),
        (
            0.8,
            r"\bhow\s+did\s+(?:you|u)\s+get\s+(?:my|this)\s+(?:number|#|info)\b",
            "how did you get my number",
        ),
        (
            0.8,
            r"\b(?:real\s+person|a\s+bot|robot)\b|\bis\s+this\s+(?:spam|a\s+scam|legit|real|for\s+real)\b",
            "is this a bot / is this spam?",
        ),
        (
            0.8,
            rf"\b(?:no\s+longer|{_NEG})\s+work\s+(?:at|for|there|here)\b|\bleft\s+the\s+company\b|"
            r"\bnew\s+admin\b|\b(?:handles|manages)\s+(?:this|that|these|our)\b|\b(?:him|her|them)\s+instead\b|"
            r"\bforwarded\b",
            "no longer works there / someone else handles this",
        ),
        (
            0.8,
            r"\bwrong\s+(?:chat|thread|convo|conversation|text|message|window)\b|"
            r"\bsent\s+(?:this|that|it)\s+by\s+mistake\b|\bignore\s+(?:that|this|my\s+last)\b",
            "sent by mistake / wrong chat",
        ),
        (
            0.8,
            r"\bmy\s+(?:new\s+)?(?:email|number|phone|cell|address)\s+(?:is|changed|has\s+changed)\b|"
            r"\b(?:email|number|address)\s+(?:is\s+now|changed)\b",
            "my email changed / my new number is",
        ),
        (
            0.6,
            r"\bnot\s+sure\s+(?:what|who|why)\b|\bwhat\s+do\s+(?:you|u)\s+mean\b|"
            r"\bwhich\s+(?:account|company|product|business|location|one)\b|\bwho\s*(?:is|'s|s)\s+my\b|"
            r"\b(?:email|call)\s+(?:me\s+)?instead\b|\b(?:to|by|via)\s+(?:my\s+)?email\s+instead\b|"
            r"\bwhat'?s\s+(?:your|ur)\s+(?:website|site|address|name|company|email)\b|"
            r"\bcan\s+i\s+(?:send|text|reply|attach)\b[^.?!]{0,20}\b(?:here|email|pics?|photos?|pictures?|images?)\b",
            "which account? / what do you mean / email me instead (beats the weak cues)",
        ),
    ),
    # --- Positive acknowledgements -------------------------------------------------------
    *_rules(
        "positive",
        (
            0.7,
            r"\b(?:thanks?|thx|thnx|thks|tks|ty|tysm|thank\s*u|appreciate\w*|cheers|grateful|kudos)\b",
            "thanks",
        ),
        (
            0.7,
            r"\bthat\s+works\b|\bworks\s+for\s+(?:me|us)\b|\b(?:fine|good|ok)\s+(?:by|with)\s+(?:me|us)\b|"
            r"\b(?:i'?m\s+|we'?re\s+)?on\s+it\b|\bon\s+our\s+end\b",
            "that works / fine by me / on it",
        ),
        (
            0.7,
            r"\b(?:great|awesome|perfect|cool|sweet|nice|excellent|amazing|wonderful|fantastic|love|loving|"
            r"loves|happy|glad|brilliant|neat|lovely|exactly|helpful|useful|excited|yay|woo+|woohoo|hooray)\b",
            "great / awesome / love it",
        ),
        (
            0.7,
            r"^\W*(?:yes|yep|yeah|ya|yup|yea|yess+|sure|ok|okay|k|kk|okk|okie|okey|oki|alright|absolutely|definitely|"
            r"gotcha|"
            r"of\s+course|noted|roger|understood|will\s+do|done)\b|\bsounds\s+(?:good|great|perfect)\b|"
            r"\bgot\s+it\b|\bwill\s+do\b",
            "yes / ok / sounds good",
        ),
        (
            0.7,
            r"\b(?:just\s+)?(?:finished|completed|reordered|re-ordered|renewed|invited|submitted|did\s+it|"
            r"booked|scheduled|confirmed)\b|\bsee\s+(?:you|u|ya)\s+(?:then|there|soon|tomorrow|tmrw)\b",
            "done it (reordered, finished setup)",
        ),
        (
            0.7,
            "[\U0001f44d\U0001f64c\U0001f389\U0001f64f\u2705\U0001f4af\U0001f525\U0001f60a\U0001f642"
            "\U0001f600\U0001f603\U0001f604\U0001f601\u2764\u2665\U0001f4aa\U0001f44c\U0001f973\u2728"
            "\u2b50\U0001f60d\U0001f929]",
            "positive emoji",
        ),
    ),
    # --- Weak cues ---------------------------------------------------------------------
    # Single words that lean one way. They only decide when no specific rule matched, which
    # beats calling everything unrecognised "other"; their low confidence tells automation
    # (snoozing plays on a deferral, say) to leave the call to a person.
    *_rules(
        "opt_out",
        (
            0.55,
            r"\b(?:stop|remove|unsubscribe|block(?:ed|ing)?|spam\w*|harass\w*|dnc)\b",
            "weak cue: stop / remove / block / spam",
        ),
    ),
    *_rules(
        "help",
        (
            0.5,
            r"\b(?:app|account|dashboard|reports?|page|button|screen|site|website|portal|feature|profile|"
            r"emails?|notifications?|orders?|package|shipment|delivery|item|data|contacts?|files?|upload\w*|"
            r"download\w*|links?|access|admin|can'?t|cannot|won'?t|wont|doesn'?t|doesnt|isn'?t|isnt|didn'?t|"
            r"didnt|how|why|is\s+it\s+possible|what\s+happened|can\s+i)\b",
            "weak cue: product nouns, can't / doesn't, how / why",
        ),
    ),
    *_rules(
        "pricing",
        (
            0.52,
            r"\b(?:plans?|tiers?|seats?|licen[cs]es?|users|annual(?:ly)?|yearly|budget|afford\w*|renew(?:al|ing)?|"
            r"subscription|premium|enterprise|bundle|trial|pay(?:ing)?)\b|\$",
            "weak cue: plan / seats / budget / renewal",
        ),
    ),
    *_rules(
        "meeting",
        (
            0.5,
            r"\b(?:call|calls|talk|chat|meet|phone|ring|available|invite|session|training|"
            rf"{_WEEKDAY}|morning|afternoon|evening)\b",
            "weak cue: call / talk / a weekday",
        ),
    ),
    *_rules(
        "deferral",
        (
            0.5,
            r"\b(?:later|soon|busy|wait|weeks?|months?|quarter|weekend|holidays?|vacation|travel\w*|away|"
            r"eventually|someday|sometime|down\s+the\s+road|pause|hold|tomorrow|tmrw)\b",
            "weak cue: later / busy / a period of time",
        ),
    ),
    *_rules(
        "positive",
        (
            0.45,
            r"\b(?:yes|yep|yeah|ya|yup|sure|ok|okay|good|fine|done|right|correct|agreed|absolutely|like|"
            r"best|rock|rocks)\b",
            "weak cue: yes / ok / good",
        ),
    ),
]

DEFAULT_RULES: list[dict] = [{**rule, "position": (i + 1) * 10} for i, rule in enumerate(_RULES)]


def install_default_rules(rule_model, rules: Iterable[dict] = DEFAULT_RULES) -> int:
    """Create the standard rules that are missing, matched by (intent, pattern); rules already
    present keep any confidence, position or active flag an admin gave them. Returns how many
    were created. ``rule_model`` is ``IntentRule`` or the historical model of a migration."""
    existing = set(rule_model.objects.values_list("intent", "pattern"))
    missing = [rule for rule in rules if (rule["intent"], rule["pattern"]) not in existing]
    rule_model.objects.bulk_create(rule_model(**rule) for rule in missing)
    return len(missing)
