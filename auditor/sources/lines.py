"""LineIndex implementations for the two input syntaxes."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ..model import LineIndex
from ..pointer import line_of, split_pointer
from .json_lines import Layout, json_lines, layout_lines
from .parsing import YamlDocument
from .yaml_loader import LineTable, YAMLError, document_root

__all__ = ["LineIndex", "YamlLines", "ComposedYamlLines", "YamlSpans", "JsonLines"]


class YamlLines:
    """Lines of one YAML document from the LineTable its loader recorded. A member's place in
    the table is found by stepping over the members before it, so no node tree (a few hundred
    bytes a node, marks included) outlives loading; the table takes 8 bytes a value."""

    __slots__ = ("_data", "_table")

    def __init__(self, data: Any, table: LineTable) -> None:
        self._data, self._table = data, table

    def resolve(self, pointers: Collection[str]) -> Mapping[str, int]:
        # Pointers share prefixes and containers: each container's members are placed once.
        places: dict[int, dict[Any, int] | list[int]] = {}
        return {p: self._table.lines[self._index(split_pointer(p), places)] + 1 for p in pointers}

    def _index(self, tokens: list[str], places: dict[int, dict[Any, int] | list[int]]) -> int:
        """The table index of the deepest value on the path."""
        value, index = self._data, 0
        for token in tokens:
            if isinstance(value, dict) and token in value:
                found = places.get(id(value))
                if found is None:
                    found = places[id(value)] = dict(zip(value, self._members(index, len(value)), strict=True))
                index, value = found[token], value[token]  # type: ignore[call-overload]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                found = places.get(id(value))
                if found is None:
                    found = places[id(value)] = self._members(index, len(value))
                index, value = found[int(token)], value[int(token)]
            else:
                break
        return index

    def _members(self, index: int, count: int) -> list[int]:
        """Table indexes of the `count` members of the container at `index`."""
        ends = self._table.ends
        found = [index + 1]
        for _ in range(count - 1):
            found.append(ends[found[-1]])
        return found


class ComposedYamlLines:
    """Lines of a YAML document built by ruamel's constructor (aliases, merge keys, tags),
    whose data need not follow its nodes: found by composing the document again when asked."""

    __slots__ = ("_source", "_start", "_end", "_line")

    def __init__(self, source: Path | str, start: int, end: int, line: int) -> None:
        """`source` is the file, read again from byte `start` to `end`, or the document's
        own text (stdin); `line` is the 0-based line of its first character."""
        self._source, self._start, self._end, self._line = source, start, end, line

    def resolve(self, pointers: Collection[str]) -> Mapping[str, int]:
        root = None
        try:
            root = document_root(self._text())
        except (OSError, UnicodeDecodeError, YAMLError):
            pass  # the file changed under us; the object is still right
        if root is None:
            return {p: self._line + 1 for p in pointers}
        return {p: self._line + line_of(root, split_pointer(p)) for p in pointers}

    def _text(self) -> str:
        if isinstance(self._source, str):
            return self._source
        with self._source.open("rb") as f:
            f.seek(self._start)
            return f.read(self._end - self._start).decode()


class YamlSpans:
    """Makes the line index of each document of one text, in order."""

    __slots__ = ("_text", "_path", "_ascii", "_char", "_byte")

    def __init__(self, text: str, path: Path | None, skipped_bytes: int) -> None:
        """`skipped_bytes` precede the text in the file (a byte-order mark)."""
        self._text, self._path, self._ascii = text, path, text.isascii()
        self._char, self._byte = 0, skipped_bytes

    def lines(self, document: YamlDocument) -> YamlLines | ComposedYamlLines:
        if document.lines is not None:
            return YamlLines(document.data, document.lines)
        start, end = document.node.start_mark, document.node.end_mark
        first = start.index - start.column  # from the start of its line: indentation stays right
        if self._path is None:
            return ComposedYamlLines(self._text[first:end.index], 0, 0, start.line)
        return ComposedYamlLines(self._path, self._offset(first), self._offset(end.index), start.line)

    def _offset(self, index: int) -> int:
        """The byte offset of character `index`; indexes come in increasing order."""
        if self._ascii:
            return self._byte + index
        self._byte += len(self._text[self._char:index].encode())
        self._char = index
        return self._byte


class JsonLines:
    """Lines of a JSON file: from the parsed document when the file is laid out one member per
    line (or on one line); else by walking the text again, read anew only then."""

    __slots__ = ("_path", "_data", "_doc", "_layout")

    def __init__(self, path: Path | None = None, data: bytes | None = None, doc: Any = None,
                 layout: Layout | None = None) -> None:
        """`data` stands in for a file that cannot be read again (stdin)."""
        self._path, self._data, self._doc, self._layout = path, data, doc, layout

    def resolve(self, pointers: Collection[str]) -> Mapping[str, int]:
        if self._layout is not None:
            found = layout_lines(self._doc, self._layout, pointers)
            if found is not None:
                return found
        if self._data is not None:
            text = self._data.decode()
        else:
            assert self._path is not None
            text = self._path.read_text(encoding="utf-8-sig")
        try:
            return json_lines(text, pointers)
        except (ValueError, IndexError, StopIteration):
            return {p: 1 for p in pointers}  # the file changed under us; the object is still right
