"""LineIndex implementations for the two input syntaxes."""
from __future__ import annotations

from pathlib import Path
from typing import Collection, Mapping

from ..model import LineIndex
from .json_lines import json_lines, split_pointer
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
    """Lines found by re-reading the JSON text; a file is read again only if needed."""

    __slots__ = ("_path", "_text")

    def __init__(self, path: Path | None = None, text: str | None = None) -> None:
        self._path, self._text = path, text

    def resolve(self, pointers: Collection[str]) -> Mapping[str, int]:
        text = self._text
        if text is None:
            assert self._path is not None
            text = self._path.read_text(encoding="utf-8-sig")
        try:
            return json_lines(text, pointers)
        except (ValueError, IndexError, StopIteration):
            return {p: 1 for p in pointers}  # the file changed under us; the object is still right
