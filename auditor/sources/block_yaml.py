"""The part of YAML that manifests are mostly written in, read a line at a time.

libyaml, driven from Python, makes an event, a node and two marks for every scalar, and most
of a manifest scan's time went there. Most manifests use a small part of YAML: block
mappings with simple keys, block sequences, plain and simply quoted scalars, comments. This
parser reads that part only, one regular expression per line, and stops at the first
document that holds anything else (a block scalar, a flow collection, an anchor or alias, a
tag, a tab, an escape, a multi-line scalar, ...): the full loader reads the text from that
document on. So it needs to be right only about what it accepts; the property tests hold it
to the full loader there, document by document, with the same lines.
"""
from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Mark", "Root", "Elsewhere", "readable", "block_documents"]


@dataclass(frozen=True, slots=True)
class Mark:
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Root:
    """Where a document starts: all of its node that the manifest loader reads."""

    start_mark: Mark


# Text libyaml reads without complaint and with line feeds only: no control character, no
# other line break (NEL, LS, PS, CR), no tab, no byte-order mark, no non-character. Any of
# them anywhere and the full loader reads the whole text: libyaml checks characters a buffer
# at a time, so one may end the stream before the document that holds it.
_UNREAD = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


def readable(text: str) -> bool:
    return _UNREAD.search(text) is None


# indentation, a sequence entry's dash, a simple key, and the rest of the line
_LINE = re.compile(r"( *)(?:(-)(?: +|$))?(?:([A-Za-z0-9_][A-Za-z0-9_./-]*):(?: +|$))?(.*)")
# A plain scalar that libyaml reads the same on one line in block context: it starts with no
# indicator ('-' only before a non-space), has no ': ' and no ' #', and no flow brackets.
_PLAIN = re.compile(r"(?:[^-?:,\[\]{}#&*!|>'\"%@` ]|-(?=[^ ]))(?:[^:#\[\]{} ]|:(?=[^ ])|(?<! )#| +(?=[^ #]))*")
_DOUBLE = re.compile(r'"([^"\\]*)"')
_SINGLE = re.compile(r"'([^']*)'")

_KEY, _DASH, _VALUE = 0, 1, 2
_EMPTY, _SCALAR, _MAP, _SEQ = 0, 1, 2, 3
# What a line holds: its tokens, each (type, column, key, value kind, value); or one of these.
_MARKER: tuple = ("---",)
_BEYOND: tuple = ("beyond",)


class _Beyond(Exception):
    """Something this parser does not read: the full loader takes over."""


class Elsewhere(Exception):
    """A document beyond the subset: the full loader reads the text from it on."""

    def __init__(self, read: int) -> None:
        super().__init__(read)
        self.read = read  # the documents before it, all yielded


Table = tuple["array[int]", "array[int]"]  # a LineTable's lines and ends (see yaml_loader.LineTable)


def block_documents(text: str, max_depth: int, plain: Callable[[str], Any]) -> Iterator[tuple[Root, Any, Table]]:
    """(root, data, table) per document while every one so far is in the subset; it raises
    `Elsewhere` when it meets one that is not.
    `plain(text)` is a plain scalar's value; it raises for a scalar only the full loader
    builds. `text` must be `readable`."""
    # Manifests repeat whole lines (`imagePullPolicy: IfNotPresent` at one indentation):
    # each distinct line is read once, up to a bound. Its tokens hold only immutable values.
    read: dict[str, tuple] = {}
    tokens: list[tuple] = []
    # The line of each place in the document's line table after the root's: one a token but
    # for the scalar entries of a sequence (the entry's dash has the place).
    numbers: list[int] = []
    explicit = False  # the current document began with '---'
    done = 0
    number, line = 0, ""
    for number, line in enumerate(_lines(text)):
        found = read.get(line)
        if found is None:
            found = read[line] = _line(line, plain)
        if not found:
            continue
        if found is _MARKER:
            if tokens or explicit:
                yield _document(tokens, numbers, explicit, number, max_depth, done)
                done += 1
            tokens, numbers, explicit = [], [], True
            if len(read) > _MOST_LINES_KEPT:
                read.clear()
        elif found is _BEYOND:
            raise Elsewhere(done)
        else:
            tokens += found
            numbers += (number,) * (len(found) - (found[-1][0] == _VALUE))
    if tokens or explicit:
        if not tokens and line != "":
            raise Elsewhere(done)  # an empty document ending the text without a line break
        yield _document(tokens, numbers, explicit, number, max_depth, done)


_MOST_LINES_KEPT = 50_000


def _lines(text: str, chunk: int = 1 << 20) -> Iterator[str]:
    """What `text.split("\n")` gives, split a chunk at a time: a list of every line of a large
    file would take several times the text's own size."""
    start = 0
    while True:
        end = text.find("\n", start + chunk)
        if end == -1:
            yield from text[start:].split("\n")
            return
        yield from text[start:end].split("\n")
        start = end + 1


def _line(line: str, plain: Callable[[str], Any]) -> tuple:
    if line[:3] in ("---", "...") or line[:1] == "%":
        return _MARKER if line.rstrip(" ") == "---" else _BEYOND
    match = _LINE.fullmatch(line)
    _, dash, key, rest = match.groups()  # type: ignore[union-attr]
    if not dash and not key and (not rest or rest[0] == "#"):
        return ()  # blank or a comment
    try:
        kind, value = _value(rest, plain)
    except _Beyond:
        return _BEYOND
    if key:
        content = (_KEY, match.start(3), key, kind, value)  # type: ignore[union-attr]
    elif kind == _EMPTY:
        return _BEYOND  # an entry whose value is not on its line
    else:
        content = (_VALUE, match.start(4), None, kind, value)  # type: ignore[union-attr]
    return ((_DASH, match.start(2), None, _EMPTY, None), content) if dash else (content,)  # type: ignore[union-attr]


def _value(rest: str, plain: Callable[[str], Any]) -> tuple[int, Any]:
    if not rest or rest[0] == "#":
        return _EMPTY, None
    if rest[0] in "\"'":
        quoted = (_DOUBLE if rest[0] == '"' else _SINGLE).match(rest)
        if quoted is None or not _only_comment(rest, quoted.end()):
            raise _Beyond
        return _SCALAR, quoted.group(1)
    if rest[:2] in ("{}", "[]"):
        if not _only_comment(rest, 2):
            raise _Beyond
        return (_MAP if rest[0] == "{" else _SEQ), None
    comment = rest.find(" #")
    text = (rest if comment == -1 else rest[:comment]).rstrip(" ")
    if not _PLAIN.fullmatch(text):
        raise _Beyond
    try:
        return _SCALAR, plain(text)
    except Exception:
        raise _Beyond from None


def _only_comment(rest: str, end: int) -> bool:
    """Whether nothing but spaces and a comment follows `end` (a comment after a space)."""
    tail = rest[end:]
    stripped = tail.lstrip(" ")
    return not stripped or (stripped[0] == "#" and len(stripped) < len(tail))


def _document(tokens: list[tuple], numbers: list[int], explicit: bool, end_line: int, max_depth: int, done: int
              ) -> tuple[Root, Any, Table]:
    """One document's (root, data, table). An empty one (only after '---') is null and starts
    where the next document marker or the end of the text is, as libyaml places it."""
    if not tokens:
        return Root(Mark(end_line, 0)), None, (array("I", [end_line]), array("I", [1]))
    first = tokens[0]
    if first[0] == _VALUE:
        raise Elsewhere(done)  # a scalar document: the full loader's
    builder = _Builder(tokens)
    try:
        build = builder.mapping if first[0] == _KEY else builder.sequence
        data, at = build(0, first[1], max_depth)
    except _Beyond:
        raise Elsewhere(done) from None
    if at != len(tokens):
        raise Elsewhere(done)
    lines = array("I", [numbers[0]])
    lines.extend(numbers)
    ends = builder.ends
    del ends[len(lines):]
    ends[0] = len(lines)
    return Root(Mark(numbers[0], first[1])), data, (lines, ends)


class _Builder:
    """Builds the data of one document's tokens, and where each value's descendants end in
    its line table: the next place, unless set here for a collection."""

    __slots__ = ("tokens", "ends", "scalar_entries")

    def __init__(self, tokens: list[tuple]) -> None:
        self.tokens = tokens
        self.ends = array("I", range(1, len(tokens) + 2))
        # Tokens so far without a place in the table: token `at` has place
        # `at + 1 - scalar_entries` (the root has place 0).
        self.scalar_entries = 0

    def mapping(self, at: int, column: int, room: int) -> tuple[dict, int]:
        if not room:
            raise _Beyond  # too deep: the full loader says so
        tokens = self.tokens
        count = len(tokens)
        found: dict[str, Any] = {}
        while at < count:
            type_, at_column, key, kind, value = tokens[at]
            if at_column != column or type_ != _KEY:
                break
            if key in found:
                raise _Beyond  # a duplicate key: the full loader names it
            at += 1
            if kind == _EMPTY:
                following = tokens[at] if at < count else None
                if following is None or following[1] < column or following[1] == column and following[0] == _KEY:
                    value = None
                elif following[0] == _KEY and following[1] > column or following[0] == _DASH:
                    place = at - self.scalar_entries  # the member's (see `__init__`)
                    nested = self.mapping if following[0] == _KEY else self.sequence
                    value, at = nested(at, following[1], room - 1)
                    self.ends[place] = at + 1 - self.scalar_entries
                else:
                    raise _Beyond
            elif kind != _SCALAR:
                value = _empty(kind, room - 1)
            found[key] = value
        if at < count and tokens[at][1] >= column:
            raise _Beyond  # more indented than its mapping, or a dash where a key belongs
        return found, at

    def sequence(self, at: int, column: int, room: int) -> tuple[list, int]:
        if not room:
            raise _Beyond
        tokens = self.tokens
        count = len(tokens)
        found: list[Any] = []
        while at < count:
            token = tokens[at]
            if token[1] != column or token[0] != _DASH:
                break
            # A dash's token is followed by its value's, from the same line (see `_line`).
            place = at + 1 - self.scalar_entries
            at += 1
            type_, at_column, _, kind, value = tokens[at]
            if type_ == _KEY:
                value, at = self.mapping(at, at_column, room - 1)
                self.ends[place] = at + 1 - self.scalar_entries
            else:
                if kind != _SCALAR:
                    value = _empty(kind, room - 1)
                at += 1
                self.scalar_entries += 1
            found.append(value)
        if at < count and tokens[at][1] > column:
            raise _Beyond
        return found, at


def _empty(kind: int, room: int) -> Any:
    if not room:
        raise _Beyond
    return {} if kind == _MAP else []
