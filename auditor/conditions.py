"""Rule conditions compiled to plain Python predicates.

A condition is a JSON Schema (draft 2020-12). The keywords rule packs use are compiled
once into nested closures, which evaluate many times faster than a general validator and
spare a scan importing one. A condition with any other keyword, or a `$ref` leaving it, is
evaluated by `jsonschema` instead; a property test holds both to the same answers.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .schema_walk import is_local, resolve_ref

Predicate = Callable[[Any], bool]

_IGNORED = frozenset({"$schema", "$id", "$defs", "definitions", "$comment", "title", "description",
                      "default", "examples", "deprecated", "readOnly", "writeOnly"})


class Unsupported(Exception):
    """The condition uses something this compiler leaves to jsonschema."""


def compile_condition(schema: Any, root: Any = None) -> Predicate:
    """A predicate equal to `Draft202012Validator(schema).is_valid`; a part of a condition
    resolves its `$ref`s in `root`, the whole condition."""
    root = schema if root is None else root
    try:
        return _Compiler(root).compile(schema)
    except Unsupported:
        from jsonschema import Draft202012Validator

        if schema is not root and isinstance(schema, dict) and isinstance(root, dict):
            schema = {**schema, "$defs": root.get("$defs", {})}  # where a pack's references point
        return Draft202012Validator(schema).is_valid


def equal(one: Any, two: Any) -> bool:
    """JSON equality as JSON Schema defines it: `true` is not `1`, `1` is `1.0`."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    if isinstance(one, (list, dict)) or isinstance(two, (list, dict)):
        return False
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return bool(one == two)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: Mapping[str, Predicate] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or v.is_integer()),
}


def _regex(pattern: Any) -> Callable[[str], Any]:
    try:
        return re.compile(pattern).search
    except (re.error, TypeError):
        raise Unsupported("pattern") from None


class _Compiler:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, Predicate] = {}

    def compile(self, schema: Any) -> Predicate:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported
        checks = [self._keyword(k, v) for k, v in schema.items() if k not in _IGNORED]
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(check(v) for check in checks)

    def _keyword(self, keyword: str, value: Any) -> Predicate:
        name = "ref" if keyword == "$ref" else keyword
        method: Callable[[Any], Predicate] | None = getattr(self, "_k_" + name, None) if name.isalpha() else None
        if method is None:
            raise Unsupported(keyword)
        return method(value)

    def _k_type(self, value: Any) -> Predicate:
        names = value if isinstance(value, list) else [value]
        if not all(isinstance(n, str) and n in _TYPES for n in names):
            raise Unsupported("type")
        tests = [_TYPES[n] for n in names]
        return tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests))

    def _k_properties(self, value: Any) -> Predicate:
        subs = [(name, self.compile(sub)) for name, sub in value.items()]
        return lambda v: not isinstance(v, dict) or all(check(v[name]) for name, check in subs if name in v)

    def _k_required(self, value: Any) -> Predicate:
        names = list(value)
        return lambda v: not isinstance(v, dict) or all(name in v for name in names)

    def _k_const(self, value: Any) -> Predicate:
        return lambda v: equal(v, value)

    def _k_enum(self, value: Any) -> Predicate:
        options = list(value)
        return lambda v: any(equal(v, option) for option in options)

    def _k_not(self, value: Any) -> Predicate:
        sub = self.compile(value)
        return lambda v: not sub(v)

    def _k_anyOf(self, value: Any) -> Predicate:
        subs = [self.compile(s) for s in value]
        return lambda v: any(sub(v) for sub in subs)

    def _k_allOf(self, value: Any) -> Predicate:
        subs = [self.compile(s) for s in value]
        return lambda v: all(sub(v) for sub in subs)

    def _k_oneOf(self, value: Any) -> Predicate:
        subs = [self.compile(s) for s in value]
        return lambda v: sum(1 for sub in subs if sub(v)) == 1

    def _k_ref(self, value: Any) -> Predicate:
        if not is_local(value):
            raise Unsupported("$ref")
        if value not in self.refs:
            found, target = resolve_ref(self.root, value)
            if not found:
                raise Unsupported("$ref")
            compiled: list[Predicate] = []
            self.refs[value] = lambda v: compiled[0](v)  # a recursive reference meets itself
            compiled.append(self.compile(target))
        return self.refs[value]

    def _k_minLength(self, value: Any) -> Predicate:
        return lambda v: not isinstance(v, str) or len(v) >= value

    def _k_maxLength(self, value: Any) -> Predicate:
        return lambda v: not isinstance(v, str) or len(v) <= value

    def _k_pattern(self, value: Any) -> Predicate:
        search = _regex(value)
        return lambda v: not isinstance(v, str) or search(v) is not None

    def _k_minItems(self, value: Any) -> Predicate:
        return lambda v: not isinstance(v, list) or len(v) >= value

    def _k_maxItems(self, value: Any) -> Predicate:
        return lambda v: not isinstance(v, list) or len(v) <= value

    def _k_contains(self, value: Any) -> Predicate:
        sub = self.compile(value)
        return lambda v: not isinstance(v, list) or any(sub(item) for item in v)

    def _k_items(self, value: Any) -> Predicate:
        sub = self.compile(value)
        return lambda v: not isinstance(v, list) or all(sub(item) for item in v)

    def _k_propertyNames(self, value: Any) -> Predicate:
        sub = self.compile(value)
        return lambda v: not isinstance(v, dict) or all(sub(name) for name in v)

    def _k_patternProperties(self, value: Any) -> Predicate:
        subs = [(_regex(pattern), self.compile(sub)) for pattern, sub in value.items()]
        return lambda v: not isinstance(v, dict) or all(
            check(item) for name, item in v.items() for search, check in subs if search(name))

    def _k_minimum(self, value: Any) -> Predicate:
        return lambda v: not _is_number(v) or v >= value

    def _k_maximum(self, value: Any) -> Predicate:
        return lambda v: not _is_number(v) or v <= value
