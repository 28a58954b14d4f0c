"""Files, directories and stdin: manifests, `kubectl get -o json|yaml` output, snapshots.

Every input is read on its own: a broken file becomes a `Skipped` entry with its name (and
line where known) while the other files are still loaded.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ..model import Inventory, Resource, Skipped
from .json_lines import Layout
from .lines import JsonLines, YamlSpans
from .objects import extract
from .parsing import Limits, ParseError, TooLarge, json_document, read_input, yaml_documents

__all__ = ["Limits", "load", "SUFFIXES"]

SUFFIXES = (".yaml", ".yml", ".json")
_BOM = b"\xef\xbb\xbf"
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")


def load(paths: Iterable[str], stdin: BinaryIO | None = None, limits: Limits = Limits()) -> Inventory:
    resources: list[Resource] = []
    skipped: list[Skipped] = []
    inputs: list[str] = []
    for display, path in _expand(paths, skipped):
        inputs.append(display)
        for item in _load_one(display, path, stdin, limits):
            (resources if isinstance(item, Resource) else skipped).append(item)
    return Inventory(resources=tuple(resources), inputs=tuple(inputs), skipped=tuple(skipped))


def _expand(paths: Iterable[str], skipped: list[Skipped]) -> Iterator[tuple[str, Path | None]]:
    """(display name, path) per input file; None stands for stdin."""
    for raw in paths:
        if raw == "-":
            yield "-", None
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(_walk(path))
            if not found:
                skipped.append(Skipped(raw, "directory holds no .yaml, .yml or .json file"))
            for file in found:
                yield str(file), file
        elif path.exists():
            yield raw, path
        else:
            skipped.append(Skipped(raw, "no such file or directory"))


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(SUFFIXES) and not name.startswith("."):
                yield Path(dirpath, name)


def _load_one(
    display: str, path: Path | None, stdin: BinaryIO | None, limits: Limits
) -> Iterator[Resource | Skipped]:
    try:
        data = read_input(path, stdin, limits.max_file_bytes)
    except TooLarge as exc:
        yield Skipped(display, str(exc))
        return
    except OSError as exc:
        yield Skipped(display, f"cannot read: {exc.strerror or exc}")
        return
    bom = len(_BOM) if data.startswith(_BOM) else 0
    if bom:
        data = data[bom:]
    # JSON is parsed from the bytes (orjson checks UTF-8 itself): a snapshot is never also
    # held as text, which would add its whole size again to the peak.
    if _looks_like_json(display, data):
        try:
            doc = json_document(data, limits)
        except ParseError as exc:
            if display.endswith(".json"):  # else it may be YAML in flow style
                yield _not_utf8(display, data) or Skipped(display, str(exc), exc.line)
                return
        else:
            lines = JsonLines(path=path, data=data if path is None else None, doc=doc, layout=Layout(data))
            yield from extract(doc, display, lines)
            return
    problem = _not_utf8(display, data)
    if problem is not None:
        yield problem
        return
    text = data.decode()
    del data  # this generator lives as long as the file's documents: not the bytes as well
    yield from _yaml(display, path, text, bom, limits)


def _not_utf8(display: str, data: bytes) -> Skipped | None:
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        return Skipped(display, f"not UTF-8 text (byte {exc.start})")
    return None


def _yaml(display: str, path: Path | None, text: str, bom: int, limits: Limits) -> Iterator[Resource | Skipped]:
    spans = YamlSpans(text, path, bom)
    for item in yaml_documents(text, limits):
        if isinstance(item, ParseError):
            yield Skipped(display, str(item), item.line)
        else:
            yield from extract(item.data, display, spans.lines(item))


def _looks_like_json(display: str, data: bytes) -> bool:
    if display.endswith(".json"):
        return True
    start = _LEADING_SPACE.match(data).end()  # type: ignore[union-attr]
    return data[start : start + 1] in (b"{", b"[")
