"""What never leaves the tool: env var and HTTP header values, command lines (`command`, `args`,
exec probes and hooks), Secret and ConfigMap data, CSI volume attributes, flexVolume options and
free-form annotations.

Evidence in findings and the inventory snapshot in evidence bundles both pass through here,
whatever a (possibly third-party) rule pack points its evidence at. What is shown is decided by
the path alone (the member names from the object's root), and applies to whatever value sits
there: an `env` given as a string, an env var's `value` given as a mapping or a `command` given
as a string are hidden as surely as well-typed ones.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

REDACTED = "<redacted>"
SECRET_KEYS = frozenset({"data", "stringData", "binaryData"})
# Command lines carry passwords and tokens as often as env vars do (`--password=...`); `exec`
# is a probe's or lifecycle hook's command line, whatever its inner shape.
COMMAND_LINES = frozenset({"command", "args", "exec"})
# Annotations are free-form (last-applied-configuration holds a whole spec, env values
# included); only the ones that configure isolation keep their values.
SAFE_ANNOTATIONS = ("container.apparmor.security.beta.kubernetes.io/", "seccomp.security.alpha.kubernetes.io/",
                    "container.seccomp.security.alpha.kubernetes.io/", "pod-security.kubernetes.io/",
                    "isolation-audit.io/")


class _Shown(Enum):
    """How much of the value at a path may be shown."""

    ALL = "all"  # nothing secret here; members are decided by their own names
    NOTHING = "nothing"
    KEYS = "keys"  # which members exist is evidence, their values are not (Secret data, volumeAttributes)
    NAMED = "named"  # env or httpHeaders: members are variables or headers
    NAMED_ITEM = "named item"  # one variable or header: its name and reference, never its value
    REFERENCE = "reference"  # a `valueFrom`: its sources by kind, nothing written in it directly
    SOURCE = "source"  # one `valueFrom` source: the scalar fields a reference has
    NAME = "name"  # a scalar name; anything nested under it is hidden
    ANNOTATIONS = "annotations"


_SCALARS_SHOWN = frozenset({_Shown.ALL, _Shown.NAME})
# What a `valueFrom` refers to, and the fields of those references.
_REFERENCE_SOURCES = frozenset({"secretKeyRef", "configMapKeyRef", "fieldRef", "resourceFieldRef", "fileKeyRef"})
_REFERENCE_FIELDS = frozenset({"name", "key", "optional", "apiVersion", "fieldPath", "containerName", "resource",
                               "divisor", "volumeName", "path"})
# Members of a value shown whole that are shown less (`options` only under `flexVolume`).
_SPECIAL = {
    **dict.fromkeys(SECRET_KEYS | {"volumeAttributes"}, _Shown.KEYS),
    **dict.fromkeys(COMMAND_LINES, _Shown.NOTHING),
    "env": _Shown.NAMED, "httpHeaders": _Shown.NAMED, "annotations": _Shown.ANNOTATIONS,
}


def _member(shown: _Shown, name: str, parent: str) -> _Shown:
    """What may be shown of member `name` of a value shown as `shown` (itself member `parent`)."""
    if shown is _Shown.ALL:
        if name == "options" and parent == "flexVolume":
            return _Shown.KEYS
        return _SPECIAL.get(name, _Shown.ALL)
    if shown is _Shown.NAMED:
        return _Shown.NAMED_ITEM
    if shown is _Shown.NAMED_ITEM:
        return _Shown.NAME if name == "name" else _Shown.REFERENCE if name == "valueFrom" else _Shown.NOTHING
    if shown is _Shown.REFERENCE and name in _REFERENCE_SOURCES:
        return _Shown.SOURCE
    if shown is _Shown.SOURCE and name in _REFERENCE_FIELDS:
        return _Shown.NAME
    if shown is _Shown.ANNOTATIONS and name.startswith(SAFE_ANNOTATIONS):
        return _Shown.NAME
    return _Shown.NOTHING


def _at(tokens: Sequence[str]) -> _Shown:
    shown, parent = _Shown.ALL, ""
    for token in tokens:
        shown, parent = _member(shown, token, parent), token
    return shown


def _show(value: Any, shown: _Shown, name: str) -> Any:
    """`value` with what its path hides replaced; iterative, so any nesting depth the loaders
    accept is redacted without recursion."""
    root: list[Any] = [None]
    stack: list[tuple[Any, _Shown, str, Any, Any]] = [(value, shown, name, root, 0)]
    while stack:
        item, shown, name, into, slot = stack.pop()
        if shown is _Shown.NOTHING:
            into[slot] = REDACTED
            continue
        if isinstance(item, dict):
            members: Iterable[tuple[Any, Any]] = item.items()
            out: Any = {}
        elif isinstance(item, list):
            members, out = enumerate(item), [None] * len(item)
        else:
            into[slot] = item if shown in _SCALARS_SHOWN else REDACTED
            continue
        into[slot] = out
        for key, member in members:
            token = key if isinstance(key, str) else str(key)
            child = _member(shown, token, name)
            if isinstance(member, (dict, list)) and child is not _Shown.NOTHING:
                out[key] = None  # keeps the member's place; filled when popped
                stack.append((member, child, token, out, key))
            else:
                out[key] = member if child in _SCALARS_SHOWN else REDACTED
    return root[0]


def shown_path(tokens: Sequence[str]) -> Sequence[str]:
    """The pointer's tokens up to the first whose value is hidden whole: walking further (a
    `*` under `args`, say) would show in the evidence's keys what the value hides."""
    shown, parent = _Shown.ALL, ""
    for index, token in enumerate(tokens):
        shown, parent = _member(shown, token, parent), token
        if shown is _Shown.NOTHING:
            return tokens[: index + 1]
    return tokens


def evidence(tokens: Sequence[str], value: Any) -> Any:
    """The observed value at a pointer (its tokens), as a finding may show it."""
    return _show(value, _at(tokens), tokens[-1] if tokens else "")


def scrub(value: Any) -> Any:
    """A whole object as it may leave the tool."""
    return _show(value, _Shown.ALL, "")


def snapshot(value: Any) -> Any:
    """Objects for a snapshot or evidence bundle: Secrets dropped (wherever they nest), the rest scrubbed."""
    if isinstance(value, list):
        return [snapshot(v) for v in value if not _is_secret(v)]
    if isinstance(value, dict):
        if _is_secret(value):
            return None
        if isinstance(value.get("items"), list):
            return {**scrub({k: v for k, v in value.items() if k != "items"}), "items": snapshot(value["items"])}
        return scrub(value)
    return value


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") == "Secret" and "metadata" in value
