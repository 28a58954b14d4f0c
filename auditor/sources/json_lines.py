"""Line numbers for JSON pointers, found after the fact and only for the pointers asked.

JSON is parsed with orjson, which keeps no positions. When findings need lines, one pass
over the text descends only into the members on a requested path and skips every other
value with the standard library's C scanner.
"""
from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

import orjson

from ..pointer import unescape

_WS = re.compile(r"[ \t\n\r]*")
_COLON = re.compile(r"[ \t\n\r]*:[ \t\n\r]*")
# Both are set or defined by the json module at run time but absent from typeshed.
_scan_value = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_scan_string = json.decoder.scanstring  # type: ignore[attr-defined]


def _trie(pointers: Collection[str]) -> dict:
    """Nested dicts by token; key None holds the pointer of the node itself."""
    root: dict = {None: ""}
    for pointer in pointers:
        node = root
        end = 0
        # A pointer's prefixes are the pointers of its parents, already escaped.
        for token in pointer[1:].split("/") if pointer else ():
            end += len(token) + 1
            if "~" in token:
                token = unescape(token)
            child = node.get(token)
            node = child if child is not None else node.setdefault(token, {None: pointer[:end]})
    return root


class _Walker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.line = 1
        self.line_pos = 0
        self.found: dict[str, int] = {}

    def line_at(self, pos: int) -> int:
        # Positions are visited in increasing order, so counting is incremental.
        self.line += self.text.count("\n", self.line_pos, pos)
        self.line_pos = pos
        return self.line

    def ws(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]

    def value(self, pos: int, trie: dict, key_line: int) -> int:
        """Visit the value at `pos`; record lines for requested pointers; return its end."""
        self.found[trie[None]] = key_line
        if len(trie) == 1:
            return _scan_value(self.text, pos)[1]
        char = self.text[pos]
        if char == "{":
            return self._object(pos + 1, trie)
        if char == "[":
            return self._array(pos + 1, trie)
        return _scan_value(self.text, pos)[1]

    def _object(self, pos: int, trie: dict) -> int:
        text = self.text
        pos = self.ws(pos)
        if text[pos] == "}":
            return pos + 1
        while True:
            key, pos = _scan_string(text, pos + 1)
            key_line = self.line_at(pos)
            pos = _COLON.match(text, pos).end()  # type: ignore[union-attr]
            sub = trie.get(key)
            pos = self.value(pos, sub, key_line) if sub else _scan_value(text, pos)[1]
            pos = self.ws(pos)
            if text[pos] == "}":
                return pos + 1
            pos = self.ws(pos + 1)  # the ','

    def _array(self, pos: int, trie: dict) -> int:
        text = self.text
        pos = self.ws(pos)
        if text[pos] == "]":
            return pos + 1
        index = 0
        while True:
            sub = trie.get(str(index))
            pos = self.value(pos, sub, self.line_at(pos)) if sub else _scan_value(text, pos)[1]
            pos = self.ws(pos)
            if text[pos] == "]":
                return pos + 1
            pos = self.ws(pos + 1)
            index += 1


def json_lines(text: str, pointers: Collection[str]) -> dict[str, int]:
    """Map each pointer to the line of its member, or of its deepest existing parent."""
    walker = _Walker(text)
    start = walker.ws(0)
    walker.value(start, _trie(pointers), walker.line_at(start))
    found = walker.found
    return {p: found[p] if p in found else _nearest(found, p) for p in pointers}


def _nearest(found: dict[str, int], pointer: str) -> int:
    while pointer:
        pointer = pointer[: pointer.rfind("/")]
        if pointer in found:
            return found[pointer]
    return found.get("", 1)


# -- one member per line: lines from the parsed document --------------------------------------


_SUMMED = 1024  # members past which a container's span is summed rather than serialised


class Layout:
    """What the loader saw of a JSON file's line structure, kept instead of its text."""

    __slots__ = ("newlines", "bare_start", "trailing_newline")

    def __init__(self, newlines: int, bare_start: bool, trailing_newline: bool) -> None:
        self.newlines, self.bare_start, self.trailing_newline = newlines, bare_start, trailing_newline

    @classmethod
    def of(cls, data: bytes) -> Layout:
        return cls(data.count(b"\n"), data[:1] in (b"{", b"["), data.endswith(b"\n"))


def layout_lines(doc: Any, layout: Layout, pointers: Collection[str]) -> dict[str, int] | None:
    """Lines computed from the parsed document, when the file is laid out one member per line
    (kubectl, jq, `json.dumps(indent=...)`: empty `{}` and `[]` inline), or is all one line.

    A value then spans as many lines as orjson's indented form of it, so a member's line is
    its parent's plus the spans of the siblings before it. The model must account for every
    line of the file, else None: the caller walks the text instead.
    """
    if layout.newlines == int(layout.trailing_newline):
        return {p: 1 for p in pointers}  # compact: one line
    if not layout.bare_start:
        return None
    spans: dict[int, int] = {}
    starts: dict[int, tuple[dict | None, Any, list[int]]] = {}

    def span(value: Any, split: bool = False) -> int:
        """Lines the value takes. A long container (a List's items) is summed member by
        member, so no single buffer of its whole indented form is ever made."""
        if not isinstance(value, (dict, list)) or not value:
            return 1
        found = spans.get(id(value))
        if found is None:
            if split or len(value) > _SUMMED:
                found = 2 + sum(map(span, value.values() if isinstance(value, dict) else value))
            else:
                found = orjson.dumps(value, option=orjson.OPT_INDENT_2).count(b"\n") + 1
            spans[id(value)] = found
        return found

    def offset(container: Any, key: Any) -> int | None:
        """Lines from the container's first line to its member's: only the members before it
        are measured, so the branch a pointer descends into is never serialised."""
        entry = starts.get(id(container))
        if entry is None:
            is_dict = isinstance(container, dict)
            entry = starts[id(container)] = (
                {k: i for i, k in enumerate(container)} if is_dict else None,
                list(container.values()) if is_dict else container, [1])
        index, members, lines = entry
        i = index.get(key) if index is not None else key
        if i is None:
            return None
        while len(lines) <= i:
            lines.append(lines[-1] + span(members[len(lines) - 1]))
        return lines[i]

    # Pointers share most of their prefixes: each prefix is located once.
    located: dict[str, tuple[Any, int, bool]] = {"": (doc, 1, True)}

    def locate(pointer: str) -> tuple[Any, int, bool]:
        """(value, line, found); a missing member keeps its deepest existing parent's line."""
        hit = located.get(pointer)
        if hit is None:
            cut = pointer.rfind("/")
            node, line, exists = locate(pointer[:cut])
            token = pointer[cut + 1 :]
            if "~" in token:
                token = unescape(token)
            hit = (None, line, False)
            if exists and isinstance(node, dict) and token in node:
                hit = (node[token], line + offset(node, token), True)  # type: ignore[operator]
            elif exists and isinstance(node, list) and token.isdigit() and int(token) < len(node):
                hit = (node[int(token)], line + offset(node, int(token)), True)  # type: ignore[operator]
            located[pointer] = hit
        return hit

    try:
        if span(doc, split=True) != layout.newlines + (not layout.trailing_newline):
            return None
        return {pointer: locate(pointer)[1] for pointer in pointers}
    except (orjson.JSONEncodeError, TypeError):  # integers past 64 bits and the like
        return None
    finally:  # `locate` holds itself, a cycle the scan's collector (off) would never free, nor these
        spans.clear()
        starts.clear()
        located.clear()
