"""Evidence under a `*` pointer token: the list items the condition matched, not every item.

A condition such as `volumes: {contains: S}` fires because of one item; showing every item
under `/spec/volumes/*/hostPath/path` would point the finding at a harmless one. So each
`*` over a list is narrowed by the `contains` schemas the condition applies to that list
(reached through `properties`, `allOf`, `anyOf`, `oneOf` and local `$ref`, never through
`not`, whose items are the ones that do not match): an item is shown when it matches one of
them. A list the condition reads without `contains`, or a mapping, shows every member.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .conditions import Predicate, compile_condition
from .pointer import escape
from .schema_walk import is_local, resolve_ref

_COMBINATORS = ("allOf", "anyOf", "oneOf")


@dataclass(frozen=True, slots=True)
class Scoped:
    """An evidence pointer's tokens, and for each `*` token which list items it shows
    (None: every member)."""

    tokens: tuple[str, ...]
    keep: tuple[Predicate | None, ...]

    def walk(self, value: Any) -> Iterator[tuple[str, Any]]:
        """(pointer, value) of every place the tokens lead, as `pointer.walk`, narrowed."""
        return self._walk(value, 0, 0, "")

    def _walk(self, value: Any, index: int, star: int, path: str) -> Iterator[tuple[str, Any]]:
        if index == len(self.tokens):
            yield path, value
            return
        token = self.tokens[index]
        if token == "*":
            keep = self.keep[star]
            if isinstance(value, list):
                members: Any = ((k, v) for k, v in enumerate(value) if keep is None or keep(v))
            else:
                members = value.items() if isinstance(value, dict) else ()
            for key, item in members:
                yield from self._walk(item, index + 1, star + 1, f"{path}/{escape(str(key))}")
        elif isinstance(value, dict) and token in value:
            yield from self._walk(value[token], index + 1, star, f"{path}/{escape(token)}")
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            yield from self._walk(value[int(token)], index + 1, star, f"{path}/{token}")


def scoped(tokens: Sequence[str], condition: Any) -> Scoped:
    """The tokens with, for each `*`, the items `condition` (a rule condition) matched."""
    here = _applying([condition], condition)
    keep: list[Predicate | None] = []
    for token in tokens:
        if token == "*":
            contains = [s["contains"] for s in here if "contains" in s]
            keep.append(_any(contains, condition))
            here = _applying(contains + [s["items"] for s in here if "items" in s], condition)
        else:
            here = _applying([s["properties"][token] for s in here
                              if isinstance(s.get("properties"), dict) and token in s["properties"]], condition)
    return Scoped(tuple(tokens), tuple(keep))


def _applying(schemas: list[Any], root: Any) -> list[dict[str, Any]]:
    """The schemas that all apply to one value, with their combinators and references opened."""
    found: list[dict[str, Any]] = []
    seen: set[int] = set()
    pending = list(schemas)
    while pending:
        schema = pending.pop()
        if not isinstance(schema, dict) or id(schema) in seen:
            continue
        seen.add(id(schema))
        found.append(schema)
        for keyword in _COMBINATORS:
            if isinstance(schema.get(keyword), list):
                pending.extend(schema[keyword])
        ref = schema.get("$ref")
        if isinstance(ref, str) and is_local(ref):
            ok, target = resolve_ref(root, ref)
            if ok:
                pending.append(target)
    return found


def _any(schemas: list[Any], root: Any) -> Predicate | None:
    if not schemas:
        return None
    checks = [compile_condition(s, root) for s in schemas]
    return lambda item: any(check(item) for check in checks)
