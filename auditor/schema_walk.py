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


# Keywords whose subschemas apply to a member or element of the instance: recursion through
# one of them ends with the instance's own (bounded) nesting.
INSTANCE_MEMBERS = frozenset({"properties", "patternProperties", "additionalProperties", "propertyNames", "items",
                              "prefixItems", "contains", "additionalItems", "unevaluatedItems",
                              "unevaluatedProperties"})


def unbounded(root: Any, limit: int, max_nodes: int) -> str | None:
    """Why evaluating the condition `root` could recurse or branch without the instance
    bounding it, or None: a `$ref` cycle that applies to the same value throughout (it never
    ends), nesting past `limit` levels with each `$ref` counted as one (a long chain of
    `$defs`), or more than `max_nodes` subschemas once each `$ref` is expanded (`$defs` that
    each refer to the next twice: evaluated, they double at every step)."""
    cycle = _same_instance_cycle(root)
    if cycle is not None:
        return f"$ref {cycle!r} refers back to itself on the same value: the condition would never end"
    try:
        nodes = _extent(root, root, 0, limit, {}, set())[1]
    except _TooDeep:
        return f"the condition nests deeper than {limit} levels, counting each $ref as one"
    if nodes > max_nodes:
        return f"the condition expands past {max_nodes} subschemas through its $refs"
    return None


class _TooDeep(Exception):
    pass


def _local_refs(schema: Any, same_instance: bool) -> Iterator[str]:
    """The local `$ref`s below `schema` (not following them); with `same_instance`, only those
    applying to the instance `schema` applies to."""
    pending = [schema]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict):
            continue
        if is_local(node.get("$ref")):
            yield node["$ref"]
        for tokens, sub in children(node):
            if tokens[0] == "$defs" or (same_instance and tokens[0] in INSTANCE_MEMBERS):
                continue
            pending.append(sub)


def _same_instance_cycle(root: Any) -> str | None:
    graph: dict[str, set[str]] = {}
    pending = list(_local_refs(root, same_instance=False))
    while pending:
        ref = pending.pop()
        if ref in graph:
            continue
        found, target = resolve_ref(root, ref)
        graph[ref] = set(_local_refs(target, same_instance=True)) if found else set()
        pending.extend(graph[ref])
        pending.extend(_local_refs(target, same_instance=False) if found else ())
    done: set[str] = set()
    for start in graph:  # iterative depth-first search for a back edge
        if start in done:
            continue
        path, on_path = [(start, iter(sorted(graph[start])))], {start}
        while path:
            ref, nexts = path[-1]
            step = next(nexts, None)
            if step is None:
                path.pop()
                on_path.discard(ref)
                done.add(ref)
            elif step in on_path:
                return step
            elif step not in done:
                path.append((step, iter(sorted(graph.get(step, ())))))
                on_path.add(step)
    return None


def _extent(schema: Any, root: Any, depth: int, limit: int, memo: dict[str, tuple[int, int]],
            active: set[str]) -> tuple[int, int]:
    """(levels, subschemas) below `schema`, `$ref`s expanded (a recursive one, which consumes the
    instance, counts once); raises _TooDeep past `limit` levels from the top."""
    if not isinstance(schema, dict):
        return 0, 0
    if depth > limit:
        raise _TooDeep
    height, nodes = 0, 1
    ref = schema.get("$ref")
    if isinstance(ref, str) and is_local(ref) and ref not in active:
        if ref not in memo:
            active.add(ref)
            found, target = resolve_ref(root, ref)
            memo[ref] = _extent(target, root, depth + 1, limit, memo, active) if found else (0, 0)
            active.discard(ref)
        if depth + 1 + memo[ref][0] > limit:
            raise _TooDeep
        height, nodes = 1 + memo[ref][0], nodes + memo[ref][1]
    for tokens, sub in children(schema):
        if tokens[0] != "$defs":
            below, count = _extent(sub, root, depth + 1, limit, memo, active)
            height, nodes = max(height, 1 + below), nodes + count
    return height, nodes
