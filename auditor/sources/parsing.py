"""The one way from an input's bytes or text to documents, for every file the tool reads:
manifests, snapshots, probe reports, rule packs and config files.

Every loader gets the same bounds (size, alias expansion, nesting) and the same errors.
An error is built from a fixed vocabulary (what is wrong, where, and for a duplicate the
key), never from a library's message: those quote the values they choke on, and a value
may be a secret.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ..schema_errors import quoted_key as _quoted
from .files import open_regular
from .limits import Limits
from .yaml_loader import LineTable, Node, Refused, YAMLError, documents

__all__ = ["Limits", "ParseError", "YamlDocument", "TooLarge", "read_input", "yaml_documents", "json_document"]


@dataclass(frozen=True, slots=True)
class ParseError(Exception):
    """What is wrong with an input, in the tool's own words."""

    syntax: str  # "YAML" or "JSON"
    kind: str
    line: int | None = None
    column: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = f" at column {self.column}" if self.column is not None else ""
        key = f" {_quoted(self.key)}" if self.key is not None else ""
        return f"invalid {self.syntax}{where}: {self.kind}{key}"


class TooLarge(Exception):
    pass


def read_input(path: Path | None, stdin: BinaryIO | None, limit: int) -> bytes:
    """The bytes of a regular file (or of stdin when `path` is None), refused past `limit`.

    A FIFO, device or socket is refused without being opened (see `files.open_regular`)."""
    if path is not None:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise TooLarge(f"file larger than the {limit}-byte input limit")
            data = _read_bounded(f, limit, size)
    else:
        assert stdin is not None, "stdin requested but none given"
        data = _read_bounded(stdin, limit, 0)
    if len(data) > limit:
        raise TooLarge(f"input larger than the {limit}-byte input limit")
    return data


_CHUNK = 1 << 20


def _read_bounded(f: BinaryIO, limit: int, expected: int) -> bytes:
    """At most `limit + 1` bytes, asked for as they are expected: `read(limit + 1)` reserves
    that much memory before reading a byte (2 GiB for every file under the default limit,
    which fails under an address-space limit). Past `expected` (a pipe, or a file that grew),
    the rest comes a chunk at a time."""
    data = f.read(min(expected, limit) + 1)
    if len(data) <= expected or len(data) > limit:
        return data
    parts, total = [data], len(data)
    while total <= limit and (chunk := f.read(min(max(total, _CHUNK), limit + 1 - total))):
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


# -- YAML ---------------------------------------------------------------------------------------

# libyaml's problems are fixed strings in C; anything else (ruamel's constructor, composer)
# may quote the input, so only these pass through, and every other error is a "syntax error".
_LIBYAML_PROBLEMS = frozenset({
    "block sequence entries are not allowed in this context",
    "control characters are not allowed",
    "could not find expected ':'",
    "could not find expected directive name",
    "did not find URI escaped octet",
    "did not find expected '!'",
    "did not find expected ',' or ']'",
    "did not find expected ',' or '}'",
    "did not find expected '-' indicator",
    "did not find expected <document start>",
    "did not find expected alphabetic or numeric character",
    "did not find expected comment or line break",
    "did not find expected digit or '.' character",
    "did not find expected hexdecimal number",
    "did not find expected key",
    "did not find expected node content",
    "did not find expected tag URI",
    "did not find expected version number",
    "did not find expected whitespace",
    "did not find expected whitespace or line break",
    "did not find the expected '>'",
    "found a tab character that violates indentation",
    "found a tab character where an indentation space is expected",
    "found an incorrect leading UTF-8 octet",
    "found an incorrect trailing UTF-8 octet",
    "found an indentation indicator equal to 0",
    "found character that cannot start any token",
    "found duplicate %TAG directive",
    "found duplicate %YAML directive",
    "found extremely long version number",
    "found incompatible YAML document",
    "found invalid Unicode character escape code",
    "found undefined alias",
    "found undefined tag handle",
    "found unexpected ':'",
    "found unexpected document indicator",
    "found unexpected end of stream",
    "found unexpected non-alphabetical character",
    "found unknown directive name",
    "found unknown escape character",
    "invalid Unicode character",
    "invalid leading UTF-8 octet",
    "invalid length of a UTF-8 sequence",
    "invalid trailing UTF-8 octet",
    "incomplete UTF-8 octet sequence",
    "mapping keys are not allowed in this context",
    "mapping values are not allowed in this context",
})


def _yaml_error(exc: YAMLError, node: Node | None, limits: Limits) -> ParseError:
    if isinstance(exc, Refused):
        kind, key = {
            "too deep": f"nesting deeper than {limits.max_depth} levels",
            "too many nodes": f"aliases expand past {limits.max_expanded_nodes} nodes (an alias bomb?)",
        }.get(exc.kind, exc.kind), exc.key
    else:
        problem = getattr(exc, "problem", None)
        if problem in _LIBYAML_PROBLEMS:
            kind = problem
        elif problem == "second occurrence":
            kind = "an anchor defined twice"
        elif isinstance(problem, str) and problem.startswith("could not determine a constructor"):
            kind = "a tag Kubernetes does not read"
        else:
            kind = "syntax error"
        key = None
    mark = getattr(exc, "problem_mark", None) or (node.start_mark if node is not None else None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return ParseError("YAML", kind, line, column, key)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    node: Node
    data: Any
    lines: LineTable | None  # see yaml_loader.documents


def yaml_documents(text: str, limits: Limits = Limits(), trees: bool = False) -> Iterator[YamlDocument | ParseError]:
    """Each document, or a ParseError for one that cannot be built; loading goes on after
    it. A syntax error ends the stream: it is the last item. `trees`: each document's node
    is its whole node tree (else perhaps only where it starts: see yaml_loader.documents)."""
    try:
        for node, data, lines, error in documents(text, limits.max_expanded_nodes, limits.max_depth, trees):
            yield YamlDocument(node, data, lines) if error is None else _yaml_error(error, node, limits)
    except YAMLError as exc:
        yield _yaml_error(exc, None, limits)


# -- JSON ---------------------------------------------------------------------------------------

# orjson's messages, kept only when they are one of these (none quotes the input today, but
# nothing promises that it never will).
_ORJSON_PROBLEMS = {
    "unexpected character": "unexpected character",
    "unexpected end of data": "unexpected end of data",
    "trailing comma is not allowed": "trailing comma",
    "unexpected character, expected ':' after key": "expected ':' after a key",
    "unexpected character, expected ',' or ']'": "expected ',' or ']'",
    "unexpected character, expected ',' or '}'": "expected ',' or '}'",
    "unexpected character, expected a string key": "a key that is not a string",
    "Input is a zero-length, empty document": "empty document",
    "number with leading zero is not allowed": "invalid number",
    "no digit after sign": "invalid number",
    "number is infinity when parsed as double": "number out of range",
    "no low surrogate in string": "invalid escape in a string",
    "invalid literal, expected 'true'": "invalid literal",
    "invalid literal, expected 'false'": "invalid literal",
    "invalid literal, expected 'null'": "invalid literal",
    "invalid number": "invalid number",
    "no digit after decimal point": "invalid number",
    "no digit after exponent sign": "invalid number",
    "number is too large": "number out of range",
    "invalid escaped sequence in string": "invalid escape in a string",
    "invalid escaped unicode in string": "invalid escape in a string",
    "invalid high surrogate in string": "invalid escape in a string",
    "invalid low surrogate in string": "invalid escape in a string",
    "unexpected control character in string": "control character in a string",
    "unexpected end of string": "unterminated string",
    "unexpected content after document": "content after the document",
    "str is not valid UTF-8: surrogates not allowed": "not UTF-8 text",
}


def json_document(data: bytes, limits: Limits = Limits()) -> Any:
    """The JSON document in `data`; raises ParseError when it is malformed, nests past the
    depth bound or repeats a key in an object (orjson would keep the last silently)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith("depth limit exceeded"):
            raise _too_deep(data, limits) from None
        raise ParseError("JSON", _ORJSON_PROBLEMS.get(exc.msg, "syntax error"), exc.lineno, exc.colno) from None
    written = _written(doc, limits.max_depth)
    if written is None:
        # Too deep, or an integer orjson does not write (past 64 bits): the slow way.
        if _depth(doc, limits.max_depth) > limits.max_depth:
            raise _too_deep(data, limits)
        if _members_in_text(data) != _members_in_doc(doc):
            raise _duplicate(data)
    elif data.count(b":") != written.count(b":") or b"\\u003" in data:
        # Each member has one ':' outside strings, and the strings orjson writes hold the
        # colons of the strings it read. So the counts match unless a member was dropped
        # (a duplicate key), or unless an escaped colon (\u003a) was read: then count exactly.
        if _members_in_text(data) != _members_in_doc(doc):
            raise _duplicate(data)
    return doc


def _deepest_writable() -> int:
    """The deepest nesting orjson.dumps writes (254 in orjson 3), measured, not assumed."""
    low, high = 0, 4096  # writable, not known to be
    while high - low > 1:
        middle = (low + high) // 2
        try:
            orjson.dumps(_nest([], middle - 1))
            low = middle
        except orjson.JSONEncodeError:
            high = middle
    return low


def _nest(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


_DEEPEST_WRITABLE = _deepest_writable()


def _written(doc: Any, max_depth: int) -> bytes | None:
    """orjson's compact form of `doc`, or None when it nests past `max_depth` or orjson
    refuses it. The document is wrapped so that orjson's own depth limit is the bound: no
    walk of the document in Python."""
    if max_depth > _DEEPEST_WRITABLE:
        return None
    try:
        return orjson.dumps(_nest(doc, _DEEPEST_WRITABLE - max_depth))
    except orjson.JSONEncodeError:
        return None


def _depth(doc: Any, limit: int) -> int:
    """Levels of nested collections, stopping once past `limit` (iterative: no recursion)."""
    deepest = 0
    stack = [(doc, 1)] if type(doc) in (dict, list) else []
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        children = value.values() if type(value) is dict else value
        stack.extend((c, depth + 1) for c in children if type(c) in (dict, list))
    return deepest


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _members_in_text(data: bytes) -> int:
    return _STRING.sub(b"", data).count(b":")


def _members_in_doc(doc: Any) -> int:
    count = 0
    stack = [doc]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            count += len(value)
            stack.extend(value.values())
        elif type(value) is list:
            stack.extend(value)
    return count


_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


_KEY_END = re.compile(rb"[ \t\n\r]*:")


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[line_start:offset].decode(errors="replace")) + 1


def _too_deep(data: bytes, limits: Limits) -> ParseError:
    depth = 0
    for token in _TOKEN.finditer(data):
        char = data[token.start()]
        if char in b"[{":
            depth += 1
            if depth > limits.max_depth:
                return ParseError(
                    "JSON", f"nesting deeper than {limits.max_depth} levels", *_position(data, token.start())
                )
        elif char in b"]}":
            depth -= 1
    return ParseError("JSON", f"nesting deeper than {limits.max_depth} levels")


def _duplicate(data: bytes) -> ParseError:
    """The first repeated key, found by walking the text (only once one is known to exist)."""
    stack: list[set[str] | None] = []  # per open collection: the keys seen (None in a list)
    for token in _TOKEN.finditer(data):
        start = token.start()
        char = data[start]
        if char == ord("{"):
            stack.append(set())
        elif char == ord("["):
            stack.append(None)
        elif char in b"]}":
            stack.pop()
        elif stack and stack[-1] is not None and _KEY_END.match(data, token.end()):
            key = orjson.loads(token.group())
            if key in stack[-1]:
                return ParseError("JSON", "duplicate key", *_position(data, start), key=key)
            stack[-1].add(key)
    return ParseError("JSON", "duplicate key")


# -- schema violations --------------------------------------------------------------------------


