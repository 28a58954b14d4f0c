"""LineIndex implementations for the two input syntaxes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Mapping

from ..model import LineIndex
from ..pointer import line_of, split_pointer
from .json_lines import Layout, json_lines, layout_lines
from .yaml_loader import Node

__all__ = ["LineIndex", "YamlLines", "JsonLines"]


class YamlLines:
    """Lines from the composed node tree kept from loading (libyaml recorded every mark)."""

    __slots__ = ("_root",)

    def __init__(self, root: Node) -> None:
        self._root = root

    def resolve(self, pointers: Collection[str]) -> Mapping[str, int]:
        return {p: line_of(self._root, split_pointer(p)) for p in pointers}


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
