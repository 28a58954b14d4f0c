"""Files, directories and stdin: manifests, `kubectl get -o json|yaml` output, snapshots,
and repositories as they are: Helm charts and kustomizations rendered (see `render`), files
that hold no object named as such (see `not_objects`).

Every input is read on its own: a broken file becomes a `Skipped` entry with its name (and
line where known) while the other files are still loaded.
"""
from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..model import Inventory, NotObject, Resource, Skipped
from .files import walk
from .json_lines import Layout
from .json_stream import streamed_list
from .lines import JsonLines, YamlSpans
from .not_objects import set_aside, unparsed_json_with_comments
from .objects import extract
from .parsing import Limits, ParseError, TooLarge, json_document, read_input, yaml_documents
from .render import MARKERS, Unit, is_unit, render, unit_at
from .sharing import Shared

__all__ = ["Limits", "load", "SUFFIXES"]

SUFFIXES = (".yaml", ".yml", ".json")
_BOM = b"\xef\xbb\xbf"
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")


def load(paths: Iterable[str], stdin: BinaryIO | None = None, limits: Limits = Limits()) -> Inventory:
    resources: list[Resource] = []
    skipped: list[Skipped] = []
    not_objects: list[NotObject] = []
    inputs: list[str] = []
    rendered: set[Path] = set()
    shared = Shared()
    for display, source in _expand(paths, skipped):
        if isinstance(source, Unit):
            if source.directory.resolve() in rendered:
                continue  # named twice (the directory and its Chart.yaml, say): audited once
            rendered.add(source.directory.resolve())
            items = render(source, limits)
        else:
            items = _load_one(display, source, stdin, limits, shared)
        inputs.append(display)
        for item in items:
            if isinstance(item, Resource):
                resources.append(item)
            elif isinstance(item, Skipped):
                skipped.append(item)
            else:
                not_objects.append(item)
    return Inventory(resources=tuple(resources), inputs=tuple(inputs), skipped=tuple(skipped),
                     not_objects=tuple(not_objects))


def _expand(paths: Iterable[str], skipped: list[Skipped]) -> Iterator[tuple[str, Path | Unit | None]]:
    """(display name, source) per input: a file's path, a chart or kustomization to render,
    or None for stdin. A named path that is not a regular file is still yielded: `read_input`
    refuses it, without opening it, by name. A named file inside a chart or kustomization
    stands for that directory (see `_enclosing`)."""
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
            unit = _enclosing(path)
            yield (unit.display, unit) if unit is not None else (raw, path)
            continue
        named = len(skipped)
        found = _walk(path, skipped)
        if not found and len(skipped) == named:
            skipped.append(Skipped(raw, "directory holds no .yaml, .yml or .json file"))
        for file in found:
            unit = unit_at(file, str(file)) if file.is_dir() else None
            yield str(file), unit or file


def _enclosing(path: Path) -> Unit | None:
    """The chart or kustomization a named file belongs to: its own directory for a Chart.yaml
    or kustomization file, else the outermost such directory among those written in a relative
    path. So a template or a patch named on its own (pre-commit names changed files) is
    audited as its tool renders it, as when its directory is scanned; an absolute path or one
    that climbs with `..` is not looked above, where another project may begin."""
    if path.name in MARKERS:
        return unit_at(path.parent, str(path.parent))
    if path.is_absolute() or ".." in path.parts:
        return None
    for directory in reversed(path.parents[:-1]):  # the outermost first, without "."
        unit = unit_at(directory, str(directory))
        if unit is not None:
            return unit
    return None


# Version-control metadata, never a checkout's content. Other hidden names are read:
# `kubectl apply -f DIR` (and `-R`) filters by extension only, so `.evil.yaml` is applied.
_VCS_DIRECTORIES = frozenset({".git", ".hg", ".svn"})


def _walk(root: Path, skipped: list[Skipped]) -> list[Path]:
    return walk(root, skipped, suffixes=SUFFIXES, passed_over=_VCS_DIRECTORIES.__contains__, follow_links=True,
                whole=is_unit)


def _load_one(
    display: str, path: Path | None, stdin: BinaryIO | None, limits: Limits, shared: Shared
) -> Iterator[Resource | Skipped | NotObject]:
    # A List laid out one member per line (a snapshot, `kubectl get -o json`) is read an item
    # at a time, its equal subtrees held once: never its whole text and whole tree at once.
    streamed = streamed_list(path, limits, shared) if path is not None else None
    if streamed is not None:
        doc, layout = streamed
        yield from _json_objects(display, path, None, doc, layout)
        return
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
                yield (_not_utf8(display, data) or (path and unparsed_json_with_comments(display))
                       or Skipped(display, str(exc), exc.line))
                return
        else:
            _share_items(doc, shared)
            yield from _json_objects(display, path, data if path is None else None, doc, Layout.of(data))
            return
    problem = _not_utf8(display, data)
    if problem is not None:
        yield problem
        return
    text = data.decode()
    del data  # this generator lives as long as the file's documents: not the bytes as well
    yield from _yaml(display, path, text, bom, limits)


def _json_objects(
    display: str, path: Path | None, data: bytes | None, doc: Any, layout: Layout
) -> Iterator[Resource | Skipped | NotObject]:
    """`data`: the bytes of an input that cannot be read again for lines (stdin)."""
    aside = set_aside(display, doc, None) if path is not None else None
    if aside is not None:
        yield aside
        return
    yield from extract(doc, display, JsonLines(path=path, data=data, doc=doc, layout=layout))


def _share_items(doc: Any, shared: Shared) -> None:
    items = doc.get("items") if isinstance(doc, dict) else None
    for item in items if isinstance(items, list) else ():
        if type(item) is dict:
            shared.members(item)


def _not_utf8(display: str, data: bytes) -> Skipped | None:
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        return Skipped(display, f"not UTF-8 text (byte {exc.start})")
    return None


def _yaml(
    display: str, path: Path | None, text: str, bom: int, limits: Limits
) -> Iterator[Resource | Skipped | NotObject]:
    spans = YamlSpans(text, path, bom)
    for item in yaml_documents(text, limits):
        if isinstance(item, ParseError):
            yield Skipped(display, str(item), item.line)
            continue
        aside = set_aside(display, item.data, item.node.start_mark.line + 1) if path is not None else None
        yield from (aside,) if aside is not None else extract(item.data, display, spans.lines(item))


def _looks_like_json(display: str, data: bytes) -> bool:
    if display.endswith(".json"):
        return True
    start = _LEADING_SPACE.match(data).end()  # type: ignore[union-attr]
    return data[start : start + 1] in (b"{", b"[")
