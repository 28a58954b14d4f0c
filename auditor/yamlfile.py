"""One-document YAML files the tool itself reads (rule packs, config), checked against a schema."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .sources.parsing import Limits, ParseError, TooLarge, read_input, yaml_documents
from .sources.yaml_loader import Node

# The bounds of every other input; rule conditions are held to the same depth and expansion.
LIMITS = Limits()


def load_one(path: Path, what: str, error: type[Exception]) -> tuple[Node | None, Any]:
    """(node, data) of the file's only document, or (None, None) for an empty file.

    The bounds of every other input apply. Every problem raises `error` with a one-line
    `file[:line]: reason` message.
    """
    try:
        text = read_input(path, None, LIMITS.max_file_bytes).decode("utf-8-sig")
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or type(exc).__name__}") from None
    except TooLarge as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: cannot read {what}: not UTF-8 text (byte {exc.start})") from None
    docs = list(yaml_documents(text, LIMITS, trees=True))  # errors in rule packs and config point into it
    for doc in docs:
        if isinstance(doc, ParseError):
            where = f"{path}:{doc.line}" if doc.line is not None else str(path)
            raise error(f"{where}: {str(doc)}")
    if not docs:
        return None, None
    if len(docs) > 1:
        raise error(f"{path}: a {what} is exactly one YAML document")
    doc = docs[0]
    assert not isinstance(doc, ParseError)
    return doc.node, doc.data
