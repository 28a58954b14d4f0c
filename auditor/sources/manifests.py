"""Files, directories and stdin: manifests, `kubectl get -o json|yaml` output, snapshots.

Every input is read on its own: a broken file becomes a `Skipped` entry with its name (and
line where known) while the other files are still loaded.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import orjson

from ..model import Inventory, Resource, Skipped
from .json_lines import Layout
from .lines import JsonLines, YamlLines
from .files import open_regular, walk
from .objects import extract
from .yaml_loader import MAX_DEPTH, YAMLError, load_documents, too_deep

SUFFIXES = (".yaml", ".yml", ".json")
_BOM = b"\xef\xbb\xbf"
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int = 2 * 1024**3
    # Kubernetes objects are rarely more than a few thousand nodes; a billion-laughs
    # document is billions. Far above the first, far below the second.
    max_expanded_nodes: int = 1_000_000


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
    """(display name, path) per input file; None stands for stdin. A named path that is not
    a regular file is still yielded: `_read` refuses it, without opening it, by name."""
    for raw in paths:
        if raw == "-":
            yield "-", None
            continue
        path = Path(raw)
        try:
            is_dir = stat.S_ISDIR(path.stat().st_mode)
        except FileNotFoundError:
            skipped.append(Skipped(raw, "broken symbolic link" if path.is_symlink() else "no such file or directory"))
            continue
        except OSError as exc:
            skipped.append(Skipped(raw, f"cannot read: {exc.strerror or exc}"))
            continue
        if not is_dir:
            yield raw, path
            continue
        named = len(skipped)
        found = _walk(path, skipped)
        if not found and len(skipped) == named:
            skipped.append(Skipped(raw, "directory holds no .yaml, .yml or .json file"))
        for file in found:
            yield str(file), file


def _walk(root: Path, skipped: list[Skipped]) -> list[Path]:
    return walk(root, skipped, suffixes=SUFFIXES, skip_hidden=True, follow_links=True)


def _load_one(
    display: str, path: Path | None, stdin: BinaryIO | None, limits: Limits
) -> Iterator[Resource | Skipped]:
    try:
        data = _read(path, stdin, limits.max_file_bytes)
    except _TooLarge as exc:
        yield Skipped(display, str(exc))
        return
    except OSError as exc:
        yield Skipped(display, f"cannot read: {exc.strerror or exc}")
        return
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    # JSON is parsed from the bytes (orjson checks UTF-8 itself): a snapshot is never also
    # held as text, which would add its whole size again to the peak.
    if _looks_like_json(display, data):
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if display.endswith(".json"):
                yield _not_utf8(display, data) or Skipped(display, f"invalid JSON: {exc.msg}", exc.lineno)
                return
        else:
            lines = JsonLines(path=path, data=data if path is None else None, doc=doc, layout=Layout(data))
            yield from extract(doc, display, lines)
            return
    problem = _not_utf8(display, data)
    if problem is not None:
        yield problem
        return
    yield from _yaml(display, data.decode(), limits)


def _not_utf8(display: str, data: bytes) -> Skipped | None:
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        return Skipped(display, f"not UTF-8 text (byte {exc.start})")
    return None


def _yaml(display: str, text: str, limits: Limits) -> Iterator[Resource | Skipped]:
    if too_deep(text):
        yield Skipped(display, f"invalid YAML: nesting deeper than {MAX_DEPTH} levels")
        return
    try:
        for node, doc, error in load_documents(text, limits.max_expanded_nodes):
            if error is not None:
                yield Skipped(display, _yaml_problem(error), _yaml_line(error, node))
            else:
                yield from extract(doc, display, YamlLines(node))
    except YAMLError as exc:
        yield Skipped(display, _yaml_problem(exc), _yaml_line(exc, None))


def _yaml_problem(exc: YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    context = getattr(exc, "context", None)
    return f"invalid YAML: {problem}" + (f" ({context})" if context else "")


def _yaml_line(exc: YAMLError, node) -> int | None:
    mark = getattr(exc, "problem_mark", None) or (node.start_mark if node is not None else None)
    return mark.line + 1 if mark is not None else None


class _TooLarge(Exception):
    pass


def _read(path: Path | None, stdin: BinaryIO | None, limit: int) -> bytes:
    if path is not None:
        with open_regular(path) as f:
            if os.fstat(f.fileno()).st_size > limit:
                raise _TooLarge(f"file larger than the {limit}-byte input limit")
            data = f.read(limit + 1)
    else:
        assert stdin is not None, "stdin requested but none given"
        data = stdin.read(limit + 1)
    if len(data) > limit:
        raise _TooLarge(f"input larger than the {limit}-byte input limit")
    return data


def _looks_like_json(display: str, data: bytes) -> bool:
    if display.endswith(".json"):
        return True
    start = _LEADING_SPACE.match(data).end()  # type: ignore[union-attr]
    return data[start : start + 1] in (b"{", b"[")
