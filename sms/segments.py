"""How many SMS segments a body costs, and in which encoding (GSM 03.38 or UCS-2)."""

from dataclasses import dataclass

# GSM 03.38 basic character set (one septet each).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs two septets (escape + char).
GSM7_EXTENDED = set("^{}\\[~]|€\f")
GSM7_ALL = frozenset(GSM7_BASIC | GSM7_EXTENDED)

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
MAX_BODY_CHARS = 1600


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    characters: int
    per_segment: int


def is_gsm7(body: str) -> bool:
    return GSM7_ALL.issuperset(body)  # in C: a play queues texts by the ten thousand


def count_segments(body: str) -> SegmentInfo:
    """Segments as carriers bill them. A concatenated message loses 7 septets (GSM-7) or
    3 characters (UCS-2) per segment to the header, and an escape pair is never split."""
    if is_gsm7(body):
        units = len(body) + sum(body.count(ch) for ch in GSM7_EXTENDED)
        if units <= GSM7_SINGLE:
            return SegmentInfo("GSM-7", 1 if body else 0, units, len(body), GSM7_SINGLE)
        segments, used = 1, 0
        for ch in body:
            cost = 2 if ch in GSM7_EXTENDED else 1
            if used + cost > GSM7_MULTI:
                segments, used = segments + 1, 0
            used += cost
        return SegmentInfo("GSM-7", segments, units, len(body), GSM7_MULTI)
    # UCS-2 as sent today is UTF-16: characters outside the BMP (emoji) take two units and a
    # surrogate pair is never split across segments.
    units_per_char = [2 if ord(ch) > 0xFFFF else 1 for ch in body]
    units = sum(units_per_char)
    if units <= UCS2_SINGLE:
        return SegmentInfo("UCS-2", 1, units, len(body), UCS2_SINGLE)
    segments, used = 1, 0
    for cost in units_per_char:
        if used + cost > UCS2_MULTI:
            segments, used = segments + 1, 0
        used += cost
    return SegmentInfo("UCS-2", segments, units, len(body), UCS2_MULTI)
