"""JSON pointers (RFC 6901): escaping, splitting, joining, and where one leads.

In data (`at`, `resolve`) and in a YAML document's composed nodes (`line_of`), so every module
that names a place inside a document speaks the same pointers.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def split_pointer(pointer: str) -> list[str]:
    if not pointer:
        return []
    tokens = pointer[1:].split("/")
    return [unescape(t) for t in tokens] if "~" in pointer else tokens


def join(tokens: Iterable[Any]) -> str:
    return "".join("/" + escape(str(t)) for t in tokens)


def at(obj: Any, path: Sequence[str]) -> Any:
    """obj[path[0]][path[1]]..., or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def resolve(root: Any, tokens: Iterable[str]) -> tuple[bool, Any]:
    """(True, the value at the tokens) through mappings and list indexes, else (False, None)."""
    node = root
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False, None
    return True, node


def line_of(root: Node, tokens: list[str]) -> int:
    """1-based line of the deepest node on the path `tokens` (JSON-pointer segments)."""
    node = root
    line: int = root.start_mark.line
    for token in tokens:
        nxt: Node | None = None
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == token:
                    line = key.start_mark.line
                    nxt = value
                    break
        elif isinstance(node, SequenceNode) and token.isdigit() and int(token) < len(node.value):
            nxt = node.value[int(token)]
            line = nxt.start_mark.line
        if nxt is None:
            break
        node = nxt
    return line + 1
