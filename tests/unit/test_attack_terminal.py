"""Attack: invisible format characters (zero-width space, soft hyphen, word joiner, BOM, tag
characters, Hangul fillers...) passed through the terminal escaping, so a namespace
`pro\u200bd` showed as `prod` in the table and on stderr: a finding seemingly about another
tenant. Whatever Python does not call printable is now shown as an escape."""
from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.terminal import BLANK, escape

INVISIBLE = "\u00ad\u034f\u115f\u180e\u200b\u200c\u200d\u2060\u2061\u2064\u3164\ufeff\ufff9\U000e0041\U000e007f"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=20))
def test_escaped_text_is_printable_and_keeps_printable_text(text: str):
    shown = escape(text)
    assert shown.isprintable()
    if text.isprintable() and BLANK.isdisjoint(text):
        assert shown == text


def test_each_invisible_character_is_shown_as_an_escape():
    for char in INVISIBLE:
        assert escape(f"pro{char}d") != "prod" and escape(f"pro{char}d").isprintable()


def test_an_invisible_namespace_character_is_escaped_in_the_table(tmp_path):
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: \"pro\\u200bd\"}\n"
        "spec: {hostPID: true, containers: [{name: c, image: 'x:1'}]}\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "auditor", "scan", str(manifest)],
                         capture_output=True, text=True, timeout=120)
    assert "pro\\u200bd/Pod/web" in run.stdout
    assert "\u200b" not in run.stdout + run.stderr
