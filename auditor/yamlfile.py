"""One-document YAML files the tool itself reads (rule packs, config), checked against a schema."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .sources.yaml_loader import Node, YAMLError, load_documents


def load_one(path: Path, what: str, error: type[Exception]) -> tuple[Node | None, Any]:
    """(node, data) of the file's only document, or (None, None) for an empty file.

    Every problem raises `error` with a one-line `file[:line]: reason` message.
    """
    try:
        docs = list(load_documents(path.read_text(encoding="utf-8-sig")))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise error(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not docs:
        return None, None
    node, data, problem = docs[0]
    if problem is not None or len(docs) > 1:
        raise error(f"{path}: a {what} is exactly one YAML document")
    return node, data
