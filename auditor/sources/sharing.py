"""Equal subtrees of the objects of one input, held once.

A fleet's pods repeat their templates: replicas differ in a name, a uid, a node and an
address, while their containers, volumes, labels and managedFields are equal. Holding each
distinct subtree once keeps the memory of a snapshot near the size of what differs. Objects
are read-only to every consumer (see `model`), so sharing is invisible to them.

Two subtrees are equal when orjson writes them alike: JSON's own equality, so `1`, `1.0`
and `true` stay apart (Python's == would merge them).
"""
from __future__ import annotations

from typing import Any

import orjson


class Shared:
    """The distinct subtrees seen so far, by their compact JSON."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[bytes, Any] = {}

    def members(self, obj: dict) -> dict:
        """`obj`, a freshly parsed object, with each member that repeats an earlier subtree
        replaced by that subtree. The object itself is not kept: it holds its name."""
        for key, value in obj.items():
            if type(value) is dict or type(value) is list:
                obj[key] = self._one(value)
        return obj

    def _one(self, value: dict | list) -> Any:
        try:
            text = orjson.dumps(value)
        except (orjson.JSONEncodeError, TypeError):  # not JSON orjson writes (a 65-bit integer)
            return value
        found = self._seen.get(text)
        if found is not None:
            return found
        # New here, but its parts may not be: the template of a pod whose name is its own.
        for key, child in value.items() if type(value) is dict else enumerate(value):
            if type(child) is dict or type(child) is list:
                value[key] = self._one(child)
        # A copy: orjson's buffer keeps the capacity it grew to, several times the text.
        self._seen[bytes(memoryview(text))] = value
        return value
