"""One way to report a file that fails its schema: `file:line: field: message`."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
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


def quoted_key(key: str) -> str:
    """A key as it may be shown: short, printable and quoted."""
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in key[:60])
    return f"'{shown}'" + ("..." if len(key) > 60 else "")


def _message(error: Any) -> str:
    """A jsonschema ValidationError in the tool's words. jsonschema's own message quotes the
    offending value, which may be a secret; this names only what the schema asked for (the
    schema is the tool's) and, for an unexpected member, its key."""
    keyword, wanted, instance = error.validator, error.validator_value, error.instance
    if keyword == "type":
        return f"must be of type {' or '.join(wanted) if isinstance(wanted, list) else wanted}"
    if keyword == "required" and isinstance(instance, dict):
        return "missing required field " + ", ".join(quoted_key(k) for k in wanted if k not in instance)
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        extra = [k for k in instance if k not in known][:5]
        return "unexpected field " + ", ".join(quoted_key(str(k)) for k in extra)
    if keyword in ("enum", "const"):
        options = wanted if keyword == "enum" else [wanted]
        return "must be one of " + ", ".join(orjson.dumps(o).decode() for o in options)[:200]
    if keyword in _BOUNDS:
        return f"{_BOUNDS[keyword]} {wanted}"
    if keyword == "pattern":
        return f"must match the pattern {wanted}"
    if keyword == "format":
        return f"must be a valid {wanted}"
    return f"fails the schema's {keyword!r} check"


_BOUNDS = {
    "minimum": "must be at least", "maximum": "must be at most",
    "exclusiveMinimum": "must be more than", "exclusiveMaximum": "must be less than",
    "minLength": "must have at least this many characters:", "maxLength": "must have at most this many characters:",
    "minItems": "must have at least this many items:", "maxItems": "must have at most this many items:",
    "minProperties": "must have at least this many fields:", "maxProperties": "must have at most this many fields:",
}
