"""Text from inputs, made safe to write on a terminal: one escaping function for every writer.

A name, file name, message or rule title may hold characters that end a line (LF, CR, NEL,
LS, PS), move the cursor or restyle the screen (ESC, CSI and the other C0/C1 controls), or
reorder what is shown (bidi overrides and isolates). Any of them would let an input start
a line of its own — a forged "Gate: 0 findings", a hidden finding. Each is written as a
visible escape instead (`\\n`, `\\x1b`, `\\u202e`), so the text stays readable and unambiguous.
"""
from __future__ import annotations

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Printable to Python, yet drawn as nothing: Hangul fillers, the braille blank, the combining
# grapheme joiner and Khmer's inherent vowels (used to fake blank or look-alike names).
BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")


def _escaped(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(value: object) -> str:
    """`value` as one line of inert text: nothing in it can end the line or drive the terminal.
    What Python calls unprintable is exactly the controls, line breaks, bidi and other format
    characters (zero-width, soft hyphen, tags), spaces other than ' ', and unassigned code
    points: invisible or disruptive, so all shown as escapes; so are the few printable
    characters drawn as nothing."""
    text = str(value)
    if text.isprintable() and BLANK.isdisjoint(text):
        return text
    return "".join(c if c.isprintable() and c not in BLANK else _escaped(c) for c in text)


def escape_lines(text: str) -> str:
    """Text the tool laid out in lines (its own line breaks), with each line escaped."""
    return "\n".join(escape(line) for line in text.split("\n"))
