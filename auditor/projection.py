"""What a set of JSON Schemas can read of an instance: equivalence classes for rule results.

Two pod templates that differ only in labels, names, images or env values get the same
result from every rule that never looks at those fields. `Reads.of(schemas)` collects the
members the schemas can reach; `project` keeps exactly those (scalars whole, objects and
arrays by type and length), so equal projections mean equal rule results. Keywords whose
outcome depends on members not named (`patternProperties`, `const` on an object, an
unresolvable `$ref`, anything unknown) keep the whole value there: unsure means keep.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .schema_walk import ELEMENTS, SAME_INSTANCE, SAME_INSTANCE_ONE, is_local, resolve_ref

# Keywords that read a value only as a scalar, or an array or object only by its type,
# length or named members (kept by `project` in any case).
_SHAPE_ONLY = frozenset({
    "type", "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
})
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "definitions", "$comment", "title", "description",
                          "default", "examples", "deprecated", "readOnly", "writeOnly"})


class Reads:
    __slots__ = ("whole", "members", "elements", "every")

    def __init__(self) -> None:
        self.whole = False
        self.members: dict[str, Reads] = {}
        self.elements: Reads | None = None
        self.every = False  # an object here is read whole: a pointer's `*` walks all its members

    @classmethod
    def of(cls, schemas: Iterable[Any], pointers: Iterable[Sequence[str]] = ()) -> Reads:
        """What the schemas can read, plus whatever lies at the pointers (token lists,
        `*` for every member): a rule's evidence is then a function of the projection too."""
        reads = cls()
        for schema in schemas:
            _mark(schema, schema, reads, frozenset())
        for tokens in pointers:
            node = reads
            for token in tokens:
                if node.whole:
                    break
                if token == "*":  # every member of an object; of a list, each item down the rest of the path
                    node.every = True
                    node = node.element()
                    continue
                if token.isdigit():
                    node.element().whole = True  # a list's item, or a member named by digits
                node = node.member(token)
            node.whole = True
        return reads

    def member(self, name: str) -> Reads:
        found = self.members.get(name)
        if found is None:
            found = self.members[name] = Reads()
        return found

    def element(self) -> Reads:
        if self.elements is None:
            self.elements = Reads()
        return self.elements


_NOTHING = Reads()


def project(value: Any, reads: Reads) -> Any:
    if reads.whole:
        return value
    if isinstance(value, dict):
        if reads.every:
            return value
        return {name: project(value[name], sub) for name, sub in reads.members.items() if name in value}
    if isinstance(value, list):
        sub = reads.elements or _NOTHING
        return [project(v, sub) for v in value]
    return value


def _mark(schema: Any, root: Any, reads: Reads, refs: frozenset[str]) -> None:
    if reads.whole or isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        reads.whole = True
        return
    for keyword, value in schema.items():
        if keyword in _SHAPE_ONLY or keyword in _ANNOTATIONS:
            continue
        if keyword == "required" and isinstance(value, list):
            for name in value:
                reads.member(str(name))
        elif keyword == "properties" and isinstance(value, dict):
            for name, sub in value.items():
                _mark(sub, root, reads.member(name), refs)
        elif keyword in SAME_INSTANCE and isinstance(value, list):
            for sub in value:
                _mark(sub, root, reads, refs)
        elif keyword in SAME_INSTANCE_ONE:
            _mark(value, root, reads, refs)
        elif keyword in ELEMENTS:
            for sub in value if isinstance(value, list) else [value]:
                _mark(sub, root, reads.element(), refs)
        elif keyword == "$ref" and is_local(value) and value not in refs and resolve_ref(root, value)[0]:
            _mark(resolve_ref(root, value)[1], root, reads, refs | {value})
        else:  # includes a recursive `$ref`, which reads to any depth
            reads.whole = True
            return
