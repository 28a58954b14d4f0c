"""A JSON List read item by item, so that its text and its tree are never held whole.

`kubectl get -o json`, jq, `json.dumps(indent=...)` and the tool's own snapshots lay a List
out one member per line: each item opens and closes on a line of its own at one indentation,
and a raw newline can only stand between tokens (JSON strings escape theirs). Items are cut
at those closing lines and each is parsed on its own with the same checks as a whole file.

Whatever the cuts, the answer is the whole file's: the head up to the items' `[` is walked
with a real scanner (so `[` is the top-level `items` value), every piece must parse as one
JSON value, pieces are joined by commas, and the List with empty items (the head, `[]` and
the rest) must parse too. JSON's grammar is unambiguous, so such a file parses to that List
holding those items. Any other shape, or any error, gives None: the caller reads the file
whole, and a broken file gets the same error as ever.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .files import open_regular
from .json_lines import Layout
from .parsing import Limits, ParseError, json_document
from .sharing import Shared

_CHUNK = 1 << 24
# An item larger than this is not looked for further: the whole file is read instead.
_MAX_ITEM = 1 << 26
_BOM = b"\xef\xbb\xbf"
_ITEMS = re.compile(rb'"items"[ \t\r\n]*:[ \t\r\n]*\[')
_FIRST_ITEM = re.compile(rb"[ \t\r]*\n([ \t]*)\{")
_WS = re.compile(rb"[ \t\r\n]*")
_TEXT_WS = re.compile(r"[ \t\r\n]*")
_scan_value = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_scan_string = json.decoder.scanstring  # type: ignore[attr-defined]


def streamed_list(path: Path, limits: Limits, shared: Shared) -> tuple[dict, Layout] | None:
    """The List in the file at `path` and its layout, read a chunk at a time, or None when
    the file is not a List laid out one member per line, or cannot be read so (see above)."""
    if limits.max_depth < 3:  # a List's items nest two levels down
        return None
    try:
        with open_regular(path) as f:
            if os.fstat(f.fileno()).st_size > limits.max_file_bytes:
                return None
            return _Reader(f, limits, shared).read()
    except (OSError, ParseError, UnicodeDecodeError, ValueError, StopIteration, IndexError):
        return None


class _Reader:
    """The file's bytes from the current item on: the buffer holds about a chunk."""

    def __init__(self, f: Any, limits: Limits, shared: Shared) -> None:
        self.f, self.limits, self.shared = f, limits, shared
        self.buf = b""
        self.newlines = 0
        self.last = b""

    def chunk(self, size: int = _CHUNK) -> bytes:
        """The next chunk of the file (empty at its end), its lines counted for the layout."""
        chunk = self.f.read(size)
        if chunk:
            self.newlines += chunk.count(b"\n")
            self.last = chunk[-1:]
        return chunk

    def more(self, keep: int) -> int | None:
        """Drop the bytes before `keep` and append the next chunk; returns how many bytes were
        dropped (positions shift by as much), or None at the end of the file."""
        chunk = self.chunk()
        if not chunk:
            return None
        self.buf = self.buf[keep:] + chunk
        return keep

    def read(self) -> tuple[dict, Layout] | None:
        first = self.chunk(len(_BOM) + 1)  # a YAML file is let go after a few bytes
        first = first[len(_BOM):] if first.startswith(_BOM) else first
        if not first.startswith(b"{"):
            return None
        self.buf = first
        self.more(0)
        start = _items_start(self.buf)
        opening = _FIRST_ITEM.match(self.buf, start + 1) if start is not None else None
        if start is None or opening is None:
            return None
        head, pos = self.buf[:start], start + 1
        closing = b"\n" + opening.group(1) + b"}"
        item_limits = Limits(self.limits.max_file_bytes, self.limits.max_expanded_nodes, self.limits.max_depth - 2)
        items: list[Any] = []
        while True:
            end = self.buf.find(closing, pos)
            while end < 0:
                dropped = self.more(pos) if len(self.buf) - pos <= _MAX_ITEM else None
                if dropped is None:
                    return None
                pos -= dropped
                end = self.buf.find(closing, pos)
            end += len(closing)
            items.append(self.shared.members(_item(json_document(self.buf[pos:end], item_limits))))
            after = self._non_space(end)
            if after is None or self.buf[after] not in b",]":
                return None
            pos = after
            if self.buf[pos] == ord("]"):
                break
            pos += 1
        rest = [self.buf[pos + 1:]]
        while chunk := self.chunk():  # normally a line or two: the List's closing brace
            rest.append(chunk)
        envelope = json_document(head + b"[]" + b"".join(rest), self.limits)
        envelope["items"] = items
        return envelope, Layout(self.newlines, True, self.last == b"\n")

    def _non_space(self, pos: int) -> int | None:
        """The position of the first byte at or after `pos` that is not white space."""
        while True:
            found = _WS.match(self.buf, pos).end()  # type: ignore[union-attr]
            if found < len(self.buf):
                return found
            dropped = self.more(pos)
            if dropped is None:
                return None
            pos -= dropped


def _item(value: Any) -> dict:
    if type(value) is not dict:  # only objects are cut; anything else is the whole file's business
        raise ValueError("not an object")
    return value


def _items_start(data: bytes) -> int | None:
    """The offset of the `[` that opens the top-level object's `items`, found in `data`."""
    for candidate in _ITEMS.finditer(data):
        try:
            head = data[: candidate.end()].decode()
        except UnicodeDecodeError:
            return None
        if _is_top_level_items(head):
            return candidate.end() - 1
    return None


def _is_top_level_items(head: str) -> bool:
    """Whether `head` is `{`, whole members, and `"items": [` (the last character)."""
    pos = _TEXT_WS.match(head, 1).end()  # type: ignore[union-attr]
    try:
        while head[pos] == '"':
            key, pos = _scan_string(head, pos + 1)
            pos = _TEXT_WS.match(head, pos).end()  # type: ignore[union-attr]
            if head[pos] != ":":
                return False
            pos = _TEXT_WS.match(head, pos + 1).end()  # type: ignore[union-attr]
            if key == "items":
                return pos == len(head) - 1
            pos = _TEXT_WS.match(head, _scan_value(head, pos)[1]).end()  # type: ignore[union-attr]
            if head[pos] != ",":
                return False
            pos = _TEXT_WS.match(head, pos + 1).end()  # type: ignore[union-attr]
    except (ValueError, IndexError, StopIteration):
        return False
    return False
