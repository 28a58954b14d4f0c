"""Line numbers for JSON pointers, found after the fact and only for the pointers asked.

JSON is parsed with orjson, which keeps no positions. When findings need lines, one pass
over the text descends only into the members on a requested path and skips every other
value with the standard library's C scanner.
"""
from __future__ import annotations

import json
import re
from typing import Collection

_WS = re.compile(r"[ \t\n\r]*")
_COLON = re.compile(r"[ \t\n\r]*:[ \t\n\r]*")
_scan_value = json.JSONDecoder().scan_once
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
                token = token.replace("~1", "/").replace("~0", "~")
            child = node.get(token)
            node = child if child is not None else node.setdefault(token, {None: pointer[:end]})
    return root


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def split_pointer(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


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
