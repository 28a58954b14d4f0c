"""LineIndex implementations for the two input syntaxes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Mapping

from ..model import LineIndex
from .json_lines import Layout, json_lines, layout_lines, split_pointer
from .yaml_loader import Node, line_of

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

    __slots__ = ("_path", "_text", "_doc", "_layout")

    def __init__(self, path: Path | None = None, text: str | None = None, doc: Any = None,
                 layout: Layout | None = None) -> None:
        self._path, self._text, self._doc, self._layout = path, text, doc, layout

    def resolve(self, pointers: Collection[str]) -> Mapping[str, int]:
        if self._layout is not None:
            found = layout_lines(self._doc, self._layout, pointers)
            if found is not None:
                return found
        text = self._text
        if text is None:
            assert self._path is not None
            text = self._path.read_text(encoding="utf-8-sig")
        try:
            return json_lines(text, pointers)
        except (ValueError, IndexError, StopIteration):
            return {p: 1 for p in pointers}  # the file changed under us; the object is still right
