"""Walking the JSON Schemas of rule conditions: their subschemas and their `$ref`s.

Conditions are data from rule packs; nothing is fetched, so a `$ref` is a JSON pointer
(`#` or `#/...`, percent-encoded as a URI fragment) into the condition itself.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

from .pointer import resolve, unescape

# Keywords whose values are data, not subschemas, and those that name their subschemas.
DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
NAMED_SUBSCHEMAS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
# Where a keyword's subschemas apply: to the instance itself (a list of them, or one), or to
# the elements of an array instance.
SAME_INSTANCE = ("allOf", "anyOf", "oneOf")
SAME_INSTANCE_ONE = ("not", "if", "then", "else")
ELEMENTS = ("items", "contains", "prefixItems", "additionalItems")


def children(schema: dict[str, Any]) -> Iterator[tuple[list[str], Any]]:
    """(tokens under `schema`, value) of every value directly below it that may be a schema:
    a keyword's value, each item of a list, each entry of a named map (the names are not
    keywords). Values of other keywords (`type`, `required`, ...) come too; they are no dicts."""
    for key, value in schema.items():
        if key in DATA_KEYWORDS:
            continue
        if key in NAMED_SUBSCHEMAS and isinstance(value, dict):
            for name, sub in value.items():
                yield [key, name], sub
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                yield [key, str(index)], sub
        else:
            yield [key], value


def map_children(schema: dict[str, Any], fn: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of `schema` with `fn` applied to every child `children` yields."""
    out = dict(schema)
    for key, value in schema.items():
        if key in DATA_KEYWORDS:
            continue
        if key in NAMED_SUBSCHEMAS and isinstance(value, dict):
            out[key] = {name: fn(sub) for name, sub in value.items()}
        elif isinstance(value, list):
            out[key] = [fn(sub) for sub in value]
        else:
            out[key] = fn(value)
    return out


def is_local(ref: Any) -> bool:
    return isinstance(ref, str) and (ref == "#" or ref.startswith("#/"))


def resolve_ref(root: Any, ref: str) -> tuple[bool, Any]:
    """(True, the subschema) a local `$ref` names inside `root`, else (False, None)."""
    if not is_local(ref):
        return False, None
    tokens = [unescape(unquote(raw)) for raw in ref[2:].split("/")] if ref != "#" else []
    return resolve(root, tokens)
