"""Text from inputs, made safe to write on a terminal: one escaping function for every writer.

A name, file name, message or rule title may hold characters that end a line (LF, CR, NEL,
LS, PS), move the cursor or restyle the screen (ESC, CSI and the other C0/C1 controls), or
reorder what is shown (bidi overrides and isolates). Any of them would let an input start
a line of its own — a forged "Gate: 0 findings", a hidden finding. Each is written as a
visible escape instead (`\\n`, `\\x1b`, `\\u202e`), so the text stays readable and unambiguous.
"""
from __future__ import annotations

import re

_UNSAFE = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f"  # C0 (tab and newline included), DEL, C1 (NEL, CSI...)
    "\u061c\u200e\u200f"  # bidi marks
    "\u2028\u2029"  # line and paragraph separators
    "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
    "]"
)
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(value: object) -> str:
    """`value` as one line of inert text: nothing in it can end the line or drive the terminal."""
    return _UNSAFE.sub(_escaped, str(value))


def escape_lines(text: str) -> str:
    """Text the tool laid out in lines (its own line breaks), with each line escaped."""
    return "\n".join(escape(line) for line in text.split("\n"))
