import pytest

from sms.segments import count_segments


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("Price: 5€", "GSM-7", 1, 10),  # € is an extension character: two septets
        ("[" * 80, "GSM-7", 1, 160),
        ("[" * 81, "GSM-7", 2, 162),
        ("a" * 152 + "{" + "a" * 152, "GSM-7", 3, 306),  # the escape pair is never split
        ("Grüße aus Köln", "GSM-7", 1, 14),
        ("Thanks 🙂", "UCS-2", 1, 9),
        ("ç" * 70, "UCS-2", 1, 70),  # lowercase ç is not in GSM-7
        ("ç" * 71, "UCS-2", 2, 71),
        ("ç" * 134, "UCS-2", 2, 134),
        ("ç" * 135, "UCS-2", 3, 135),
        ("ç" * 66 + "🙂", "UCS-2", 1, 68),
        ("ç" * 69 + "🙂", "UCS-2", 2, 71),
        ("ç" * 66 + "🙂" + "ç" * 10, "UCS-2", 2, 78),  # pair moves to the next segment
    ],
)
def test_segments_and_encoding(body, encoding, segments, units):
    info = count_segments(body)
    assert (info.encoding, info.segments, info.units) == (encoding, segments, units)
