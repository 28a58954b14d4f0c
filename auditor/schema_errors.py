"""One way to report a file that fails its schema: `file:line: field: message`."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.nodes import Node

from .pointer import line_of


def field_name(tokens: Iterable[Any]) -> str:
    """`rules[3].params.check` for the tokens rules, 3, params, check."""
    out = ""
    for part in tokens:
        out += f"[{part}]" if isinstance(part, int) or str(part).isdigit() else (f".{part}" if out else str(part))
    return out or "(top level)"


def one_line(message: str, limit: int = 160) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def located(path: str | Path, node: Node | None, tokens: Sequence[str], message: str,
            field: Sequence[str] | None = None) -> str:
    """The one-line error at `tokens` (named as `field`, default the tokens) in the file."""
    line = line_of(node, list(tokens)) if node is not None else 1
    return f"{path}:{line}: {field_name(tokens if field is None else field)}: {one_line(message)}"


def schema_error(validator: Any, data: Any, path: str | Path, node: Node | None,
                 prefix: Sequence[str] = ()) -> str | None:
    """`file:line: field: message` of the outermost violation, or None. `prefix`: where
    `data` sits in the file's document."""
    found = _outermost(validator, data)
    if found is None:
        return None
    tokens, message, forbidden = found
    tokens = [*prefix, *tokens]
    if forbidden:  # `not: {required: [...]}`: point at the member that must not be there
        return located(path, node, [*tokens, forbidden], message)
    return located(path, node, tokens, message)


def schema_problem(validator: Any, data: Any) -> str | None:
    """`field: message` of the outermost violation, for data that has no lines (JSON)."""
    found = _outermost(validator, data)
    if found is None:
        return None
    tokens, message, forbidden = found
    return f"{field_name([*tokens, forbidden] if forbidden else tokens)}: {one_line(message)}"


def _outermost(validator: Any, data: Any) -> tuple[list[str], str, str | None] | None:
    """(tokens, message, the member a `not` forbids) of the violation that says the most."""
    errors = list(validator.iter_errors(data))
    if not errors:
        return None
    worst = min(errors, key=lambda e: len(e.absolute_path))
    tokens = [str(p) for p in worst.absolute_path]
    forbidden = _forbidden(worst)
    return tokens, "not allowed here" if forbidden else _message(worst), forbidden


def _forbidden(error: Any) -> str | None:
    if error.validator != "not" or not isinstance(error.instance, dict):
        return None
    names: list[str] = []
    pending = [error.validator_value]
    while pending:
        schema = pending.pop()
        if isinstance(schema, dict):
            names.extend(n for n in schema.get("required", ()) if isinstance(n, str))
            pending.extend(schema.get("anyOf", ()))
    return next((n for n in names if n in error.instance), None)


def _message(error: Any) -> str:
    """jsonschema's message, but a mapping or list is never quoted whole (it may be long, or
    hold a secret): the field already says where it is."""
    instance = error.instance
    message: str = error.message
    if isinstance(instance, (dict, list)) and message.startswith(repr(instance)):
        return f"this {'mapping' if isinstance(instance, dict) else 'list'}{message[len(repr(instance)):]}"
    return message
