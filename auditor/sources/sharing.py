"""Equal subtrees of the objects of one input, held once.

A fleet's pods repeat their templates: replicas differ in a name, a uid, a node and an
address, while their containers, volumes, labels and managedFields are equal. Holding each
distinct subtree once keeps the memory of a snapshot near the size of what differs. Objects
are read-only to every consumer (see `model`), so sharing is invisible to them.

Two subtrees are equal when orjson writes them alike: JSON's own equality, so `1`, `1.0`
and `true` stay apart (Python's == would merge them). A long text is known by its BLAKE2b
digest, 256 bits: the text of a pod's spec repeats its containers', and keeping it would
cost more than the spec; finding two texts with one digest is beyond any input's author.
"""
from __future__ import annotations

from hashlib import blake2b
from typing import Any

import orjson

_DIGESTED = 64  # bytes of text past which its digest is kept instead


class Shared:
    """The distinct subtrees seen so far, by their compact JSON, and the distinct strings."""

    __slots__ = ("_seen", "_strings")

    def __init__(self) -> None:
        self._seen: dict[bytes, Any] = {}
        self._strings: dict[str, str] = {}

    def members(self, obj: dict) -> dict:
        """`obj`, a freshly parsed object, with each member that repeats an earlier subtree
        replaced by that subtree. The object itself is not kept: it holds its name."""
        self._parts(obj)
        return obj

    def _one(self, value: dict | list) -> Any:
        try:
            text = orjson.dumps(value)
        except (orjson.JSONEncodeError, TypeError):  # not JSON orjson writes (a 65-bit integer)
            return value
        # A short text is copied: orjson's buffer keeps the capacity it grew to.
        known = bytes(memoryview(text)) if len(text) <= _DIGESTED else blake2b(text, digest_size=32).digest()
        found = self._seen.get(known)
        if found is not None:
            return found
        self._parts(value)  # new here, but its parts may not be: the template of a pod named its own
        self._seen[known] = value
        return value

    def _parts(self, value: dict | list) -> None:
        """Each member of `value` replaced by the equal one seen before, strings too (a
        pod's namespace, node and start time repeat among the members that differ)."""
        for key, child in value.items() if type(value) is dict else enumerate(value):
            if type(child) is dict or type(child) is list:
                value[key] = self._one(child)
            elif type(child) is str:
                value[key] = self._strings.setdefault(child, child)
