"""Evidence a condition matched, not every value at its evidence pointers.

A condition such as `volumes: {contains: S}` fires because of one item; showing every item
under `/spec/volumes/*/hostPath/path` would point the finding at a harmless one. Likewise a
condition `anyOf: [pod-level 0, a container's 0]` that fired on a container must not show
the pod-level value it never matched. So an evidence pointer is walked beside the condition:

- through `properties`, `allOf`, local `$ref`, and the `anyOf` / `oneOf` branches that
  match the value there (never through `not`, which matches by failing);
- a `*` over a list keeps the items that match a `contains` schema met on the way;
- a place the condition reads only through branches that did not match shows nothing;
- where the condition reads no further (a pointer added for context), every value shows;
  a `*` there walks every list item or mapping value.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .conditions import Predicate, compile_condition
from .pointer import escape
from .schema_walk import is_local, resolve_ref

_ANY = object()  # no value: every branch of anyOf / oneOf applies


@dataclass(frozen=True, slots=True)
class Scoped:
    """An evidence pointer's tokens and the rule condition that narrows what they show."""

    tokens: tuple[str, ...]
    condition: Any
    _predicates: dict[int, Predicate] = field(default_factory=dict, compare=False, repr=False)

    def walk(self, value: Any) -> Iterator[tuple[str, Any]]:
        """(pointer, value) of every place the tokens lead that the condition matched."""
        return self._walk(value, 0, "", [self.condition], [self.condition])

    def _walk(self, value: Any, index: int, path: str, static: list[Any], taken: list[Any]
              ) -> Iterator[tuple[str, Any]]:
        """`static`: the schemas the condition applies here whatever the values; `taken`:
        those on branches the values matched (both empty where the condition reads nothing)."""
        if index == len(self.tokens):
            yield path, value
            return
        token = self.tokens[index]
        static, taken = self._open(static), self._open(taken, value)
        if token == "*":
            contains = [s["contains"] for s in taken if "contains" in s]
            static_below = [s[k] for s in static for k in ("contains", "items") if k in s]
            below = contains + [s["items"] for s in taken if "items" in s]
            if static_below and not below:
                return  # read only by branches this value does not match
            if isinstance(value, list):
                members: Any = ((k, v) for k, v in enumerate(value) if not contains or self._any(contains, v))
            else:
                members = value.items() if isinstance(value, dict) else ()
            for key, item in members:
                yield from self._walk(item, index + 1, f"{path}/{escape(str(key))}", static_below, below)
            return
        static_below, below = _members(static, token), _members(taken, token)
        if static_below and not below:
            return
        if isinstance(value, dict) and token in value:
            yield from self._walk(value[token], index + 1, f"{path}/{escape(token)}", static_below, below)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            yield from self._walk(value[int(token)], index + 1, f"{path}/{token}", static_below, below)

    def _open(self, schemas: list[Any], value: Any = _ANY) -> list[dict[str, Any]]:
        """The schemas with `allOf` opened, `$ref`s followed and `anyOf`/`oneOf` opened: every
        branch, or with a value only the branches it matches. Never `not`."""
        found: list[dict[str, Any]] = []
        seen: set[int] = set()
        pending = list(schemas)
        while pending:
            schema = pending.pop()
            if not isinstance(schema, dict) or id(schema) in seen:
                continue
            seen.add(id(schema))
            found.append(schema)
            if isinstance(schema.get("allOf"), list):
                pending.extend(schema["allOf"])
            for keyword in ("anyOf", "oneOf"):
                if isinstance(schema.get(keyword), list):
                    pending.extend(b for b in schema[keyword] if value is _ANY or self._matches(b, value))
            ref = schema.get("$ref")
            if isinstance(ref, str) and is_local(ref):
                ok, target = resolve_ref(self.condition, ref)
                if ok:
                    pending.append(target)
        return found

    def _matches(self, schema: Any, value: Any) -> bool:
        check = self._predicates.get(id(schema))
        if check is None:
            check = self._predicates[id(schema)] = compile_condition(schema, self.condition)
        try:
            return check(value)
        except RecursionError:  # a pack's recursive $ref too deep to decide: show rather than hide
            return True

    def _any(self, schemas: list[Any], value: Any) -> bool:
        return any(self._matches(s, value) for s in schemas)


def _members(schemas: list[dict[str, Any]], name: str) -> list[Any]:
    return [s["properties"][name] for s in schemas if isinstance(s.get("properties"), dict) and name in s["properties"]]

