"""The contact page's live counter (static/js/app.js) counts exactly like sms/segments.py."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sms.segments import GSM7_BASIC, GSM7_EXTENDED, count_segments

APP_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "app.js"
BODIES = [
    "",
    "a" * 160,
    "a" * 161,
    "Price: 5€ [promo] {now}",
    "a" * 152 + "{" + "a" * 152,
    "ç" * 70,
    "ç" * 71,
    "ç" * 66 + "🙂" + "ç" * 10,
    "Hi Ana 👋 your renewal is on Friday",
    "Grüße aus Köln",
]

HARNESS = """
const fs = require("fs");
global.document = { addEventListener() {}, documentElement: { classList: { add() {} } } };
global.window = {};
eval(fs.readFileSync(process.argv[1], "utf8"));
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const basic = new Set(Array.from(input.basic)), extended = new Set(Array.from(input.extended));
console.log(JSON.stringify(input.bodies.map((b) => window.lifecycleCountSegments(b, basic, extended))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_counter_matches_the_server():
    payload = {"basic": "".join(GSM7_BASIC), "extended": "".join(GSM7_EXTENDED), "bodies": BODIES}
    result = subprocess.run(
        [shutil.which("node"), "-e", HARNESS, str(APP_JS)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    from_js = json.loads(result.stdout)
    expected = [{"encoding": i.encoding, "segments": i.segments} for i in map(count_segments, BODIES)]
    assert [{"encoding": r["encoding"], "segments": r["segments"]} for r in from_js] == expected
