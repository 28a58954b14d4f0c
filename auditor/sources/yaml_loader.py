"""YAML as Kubernetes reads it: libyaml (ruamel's C parser) with YAML 1.1 scalar rules.

kubectl and the API server decode manifests with go-yaml v2 semantics, so `privileged: yes`
is a boolean and `0755` is octal there; a security audit must read them the same way.
Timestamps stay strings, as they do in the JSON the API server stores.
"""
from __future__ import annotations

import re
import warnings
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, cast

from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.cyaml import CParser
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import BaseResolver

from .block_yaml import Elsewhere, block_documents, readable
from .limits import MAX_DEPTH, MAX_EXPANDED_NODES

__all__ = ["Node", "YAMLError", "Refused", "documents", "LineTable", "load_documents", "document_root"]

warnings.filterwarnings("ignore", module=r"ruamel\.yaml.*")


class _KubeResolver(BaseResolver):
    @property
    def processing_version(self) -> Any:
        return (1, 1)


for _tag, _regexp, _first in (
    (
        "tag:yaml.org,2002:bool",
        r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        "yYnNtTfFoO",
    ),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
        r"|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _KubeResolver.add_implicit_resolver_base(_tag, re.compile(_regexp), list(_first))


class Refused(YAMLError):
    """A document the loader will not build, described only by a kind from a fixed vocabulary,
    its position and (for a duplicate) the key: never by text from the input's values."""

    def __init__(self, kind: str, mark: Any, key: str | None = None, key_node: Node | None = None) -> None:
        super().__init__(kind)
        self.kind, self.problem_mark, self.key, self.key_node = kind, mark, key, key_node


class _KubeConstructor(SafeConstructor):
    # A duplicate key could hide a setting from one reader but not another: refuse it.
    allow_duplicate_keys = False

    def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
        # ruamel's own error quotes both values; ours names the key only.
        if key in mapping:
            raise Refused("duplicate key", key_node.start_mark, key, key_node)
        return True

    def construct_as_text(self, node: Node) -> str:
        return self.construct_scalar(node)

    # go-yaml (and so kubectl) keeps a plain scalar that looks numeric but does not parse,
    # such as `._` or `0b_`, as a string.
    def construct_yaml_int(self, node: Node) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            return self.construct_scalar(node)

    def construct_yaml_float(self, node: Node) -> Any:
        try:
            return super().construct_yaml_float(node)
        except ValueError:
            return self.construct_scalar(node)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # JSON object keys are strings: a key `y` or `on` must not become a boolean.
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        merged = getattr(node, "merge", None) or []
        for pairs, check in ((merged, False), (node.value[len(merged):], True)):
            own: dict[Any, Any] = {}
            for key_node, value_node in pairs:
                if isinstance(key_node, ScalarNode):
                    key = key_node.value
                else:
                    raise Refused("a key that is not a scalar", key_node.start_mark)
                value = self.construct_object(value_node, deep=deep)
                if not check or self.check_mapping_key(node, key_node, own, key, value):
                    own[key] = value
            mapping.update(own)
        return mapping


_KubeConstructor.add_constructor("tag:yaml.org,2002:int", _KubeConstructor.construct_yaml_int)
_construct_int = _KubeConstructor.construct_yaml_int
_KubeConstructor.add_constructor("tag:yaml.org,2002:float", _KubeConstructor.construct_yaml_float)
_KubeConstructor.add_constructor("tag:yaml.org,2002:timestamp", _KubeConstructor.construct_as_text)
_KubeConstructor.add_constructor("tag:yaml.org,2002:binary", _KubeConstructor.construct_as_text)
for _tag in ("set", "omap", "pairs"):
    # JSON, and so the API server, has no such types.
    _KubeConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", SafeConstructor.construct_undefined)


_SCALAR_TYPES = frozenset(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "timestamp"))


class _NotPlain(Exception):
    """A document the direct builder leaves to ruamel's constructor."""


class _KubeLoader(CParser, _KubeConstructor, _KubeResolver):
    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        self._parser = self._composer = self
        _KubeConstructor.__init__(self, loader=self)
        _KubeResolver.__init__(self, loadumper=self)
        self._plain_tags: dict[str, Any] = {}
        self._tags: dict[str, Any] = {}
        self._str = self.DEFAULT_SCALAR_TAG
        self._map = self.DEFAULT_MAPPING_TAG
        self._seq = self.DEFAULT_SEQUENCE_TAG
        self._scalars: dict[Any, Any] = {}

    # No path resolvers are registered: skip ruamel's bookkeeping for them on every node.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # Manifests repeat the same plain scalars (keys above all); resolve each once and
        # hand out one Tag per type, so `build` can compare tags by identity.
        if kind is not ScalarNode or not implicit[0]:
            return super().resolve(kind, value, implicit)
        tag = self._plain_tags.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            name = str(tag)
            tag = self._plain_tags[value] = self._tags.setdefault(name, tag)
            if name in _SCALAR_TYPES:
                self._scalars[tag] = self.yaml_constructors[name]
        return tag

    def build(self, node: Node, room: int, lines: list[int], ends: list[int]) -> Any:
        """The document's data without ruamel's general machinery: only untagged maps,
        sequences and scalars, no merge keys, non-scalar or duplicate keys (those documents,
        and any with aliases, go to `construct_document`). `room` is how many more levels of
        collections the document may nest. Each member's line (a map member's key's, a list
        item's own) is appended to `lines` in pre-order, after the root's, and the index just
        past its last descendant to `ends` at the same index."""
        kind = node.__class__
        if kind is ScalarNode:
            return self.scalar(node.ctag, node.value, cast(ScalarNode, node))  # `is` does not narrow
        if not room:
            raise Refused("too deep", node.start_mark)
        if kind is MappingNode:
            if node.ctag is not self._map:
                raise _NotPlain
            mapping = {}
            for key, value in node.value:
                if key.__class__ is not ScalarNode or key.ctag is self._tags.get("tag:yaml.org,2002:merge"):
                    raise _NotPlain
                at = len(lines)
                lines.append(key.start_mark.line)
                ends.append(0)
                mapping[key.value] = self.build(value, room - 1, lines, ends)
                ends[at] = len(lines)
            if len(mapping) != len(node.value):
                raise _NotPlain
            return mapping
        if kind is SequenceNode and node.ctag is self._seq:
            items = []
            for item in node.value:
                at = len(lines)
                lines.append(item.start_mark.line)
                ends.append(0)
                items.append(self.build(item, room - 1, lines, ends))
                ends[at] = len(lines)
            return items
        raise _NotPlain

    def scalar(self, tag: Any, text: str, node: ScalarNode | None) -> Any:
        """The value of a scalar `text` resolved to `tag` (`node` is its node, if there is one)."""
        if tag is self._str:
            return text
        construct = self._scalars.get(tag)
        if construct is None:
            raise _NotPlain
        if construct is _construct_int and text.isdigit() and (text[0] != "0" or len(text) == 1):
            return int(text)  # not octal: plain decimal
        return construct(self, node or ScalarNode(tag, text))

    def plain(self, text: str) -> Any:
        """The value of a plain (unquoted, untagged) scalar; _NotPlain where `build` gives up."""
        return self.scalar(self.resolve(ScalarNode, text, (True, False)), text, None)


# Every line break libyaml accepts. The text pre-checks below see each as a line feed, so
# no break can hide a long line, a document marker or an alias from them.
BREAKS = "\r\n\x85\u2028\u2029"
_OTHER_BREAKS = BREAKS.replace("\n", "")
_AS_LINE_FEED = str.maketrans({c: "\n" for c in _OTHER_BREAKS})


def _with_line_feeds(text: str) -> str:
    """The text with every break a line feed: a copy only when another kind of break occurs."""
    if any(c in text for c in _OTHER_BREAKS):
        return text.translate(_AS_LINE_FEED)
    return text


_SPACE = " \t\v\f" + BREAKS


def has_alias(text: str) -> bool:
    """A cheap pre-check: alias-free text needs no expansion bound. A `*` starts an alias
    after space, a flow indicator or `:`/`-`, and is followed by a name character."""
    pos = text.find("*")
    while pos != -1:
        before = text[pos - 1] if pos else "\n"
        after = text[pos + 1 : pos + 2]
        if before in _SPACE + "[{,:-" and after and after not in _SPACE + ",[]{}":
            return True
        pos = text.find("*", pos + 1)
    return False


def _measure(root: Node, max_nodes: int, max_depth: int) -> str | None:
    """What makes the document too large once every alias is expanded, or None: "too many
    nodes" past `max_nodes`, "too deep" past `max_depth` levels of collections.

    The composed graph shares aliased nodes, so a billion-laughs document is small in
    memory but explodes for anything that walks it as a tree (schemas, JSON output).
    """
    sizes: dict[int, tuple[int, int]] = {}  # id -> (nodes, collection levels)
    open_: set[int] = set()  # entered, not yet sized: meeting one again is a cycle
    # Iterative post-order: deep nesting must not hit Python's recursion limit.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            if id(node) in open_:
                return "too many nodes"  # an alias inside its own anchor: infinite once expanded
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        open_.discard(id(node))
        nodes = 1 + sum(sizes[id(c)][0] for c in children)
        depth = (not isinstance(node, ScalarNode)) + max((sizes[id(c)][1] for c in children), default=0)
        if nodes > max_nodes:
            return "too many nodes"
        if depth > max_depth:
            return "too deep"
        sizes[id(node)] = (nodes, depth)
    return None


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


# libyaml composes nodes recursively in C: past this nesting the stack, not a bound, ends it.
# Documents past the loader's own (much lower) depth bound are refused after composing; the
# text pre-check keeps deeper ones from being composed at all.
_COMPOSABLE_DEPTH = 5_000


def _has_long_line(text: str, length: int) -> bool:
    """Whether some line holds `length` characters: one search per window, not per line."""
    pos = 0
    while pos + length <= len(text):
        newline = text.rfind("\n", pos, pos + length)
        if newline == -1:
            return True
        pos = newline + 1
    return False


# A document marker at column 0 ends a document even inside a flow collection (there it is a
# syntax error, which stops libyaml before it nests any further).
_DOCUMENT_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\n]|$)", re.MULTILINE)


def _most_brackets_in_a_document(text: str) -> int:
    """Flow nesting is bounded by the opening brackets of one document, not of the file."""
    most, start = 0, 0
    for marker in (*_DOCUMENT_MARKER.finditer(text), None):
        end = len(text) if marker is None else marker.start()
        most = max(most, text.count("[", start, end) + text.count("{", start, end))
        start = end
    return most


def _too_deep_to_compose(text: str) -> Any:
    """The mark where nesting passes what libyaml's recursive composer survives, or None.

    Block nesting needs a column per level, so only flow brackets or a very long line can
    reach it; only then are the parser's events counted, which needs no recursion.
    """
    plain = _with_line_feeds(text)
    if not _has_long_line(plain, _COMPOSABLE_DEPTH) and (
        plain.count("[") + plain.count("{") < _COMPOSABLE_DEPTH  # then so in every document
        or _most_brackets_in_a_document(plain) < _COMPOSABLE_DEPTH
    ):
        return None
    parser = CParser(text)
    depth = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                depth += 1
                if depth > _COMPOSABLE_DEPTH:
                    return event.start_mark
            elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                depth -= 1
    except YAMLError:
        return None  # the loader will report the syntax error itself
    finally:
        parser.dispose()
    return None


@dataclass(frozen=True, slots=True)
class LineTable:
    """Where a document's values are, in pre-order of its data (root first, then each map
    member or list item before its own members): `lines[i]`, the 0-based line of value i (a
    map member's key's line); `ends[i]`, the index just past value i's last descendant."""

    lines: array[int]
    ends: array[int]


def load_documents(
    text: str, max_nodes: int = MAX_EXPANDED_NODES, max_depth: int = MAX_DEPTH
) -> Iterator[tuple[Node, Any, YAMLError | None]]:
    """Yield (node, data, error) per document: `documents` without the line tables."""
    for node, data, _, error in documents(text, max_nodes, max_depth):
        yield node, data, error


def documents(
    text: str, max_nodes: int, max_depth: int, trees: bool = False
) -> Iterator[tuple[Node, Any, LineTable | None, YAMLError | None]]:
    """Yield (node, data, lines, error) per document.

    `lines` is the document's LineTable; it is None for a document built by ruamel's
    constructor (aliases, merge keys, tags), whose data need not follow its nodes.

    Documents in the subset of YAML that block_yaml reads come from there, as long as every
    document before them did, and their node is only a block_yaml.Root (where it starts);
    `trees` asks for every node tree whole, which only libyaml's composer makes.

    A document that parses but cannot be constructed (a duplicate key, an unknown tag, more
    than `max_nodes` nodes once aliases are expanded, collections nested past `max_depth`)
    yields its error and loading goes on; a syntax error ends the stream and is raised. The
    expansion bound is checked before construction, since merge keys (`<<: [*a, *a]`) copy
    while constructing.
    """
    deep = _too_deep_to_compose(text)
    if deep is not None:
        raise Refused("too deep", deep)
    read = 0
    aliased = has_alias(text)
    # Alias-free text only: the full loader reads every document of a text with an alias
    # through ruamel's constructor, without line tables.
    if not trees and not aliased and readable(text):
        resolver = _KubeLoader("")
        try:
            for root, data, (lines, ends) in block_documents(text, max_depth, resolver.plain):
                yield root, data, LineTable(lines, ends), None  # type: ignore[misc]
            return
        except Elsewhere as exc:
            read = exc.read
        finally:
            resolver.dispose()
    # The full loader reads the text from the first document the subset does not hold.
    yield from islice(_composed(text, max_nodes, max_depth, aliased), read, None)


def _composed(
    text: str, max_nodes: int, max_depth: int, aliased: bool
) -> Iterator[tuple[Node, Any, LineTable | None, YAMLError | None]]:
    loader = _KubeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            try:
                yield node, *_construct(loader, node, aliased, max_nodes, max_depth), None
            except YAMLError as exc:
                loader.constructed_objects, loader.recursive_objects = {}, {}
                loader.state_generators = []
                yield node, None, None, _unaliased(exc, node)
    finally:
        loader.dispose()


def _unaliased(exc: YAMLError, root: Node) -> YAMLError:
    """The error without its key when the duplicate key is an alias: the key's text is then the
    anchored scalar, which may be a value written elsewhere (an env var's), and its position
    the anchor's."""
    if not isinstance(exc, Refused) or exc.key_node is None:
        return exc
    edges, seen, pending = 0, set(), [root]
    while pending:
        node = pending.pop()
        children = ([n for pair in node.value for n in pair] if isinstance(node, MappingNode)
                    else node.value if isinstance(node, SequenceNode) else [])
        for child in children:
            edges += child is exc.key_node
            if id(child) not in seen and not isinstance(child, ScalarNode):
                seen.add(id(child))
                pending.append(child)
    return exc if edges == 1 else Refused(exc.kind, None)


def _construct(
    loader: _KubeLoader, node: Node, aliased: bool, max_nodes: int, max_depth: int
) -> tuple[Any, LineTable | None]:
    if not aliased:
        lines, ends = [node.start_mark.line], [0]
        try:
            data = loader.build(node, max_depth, lines, ends)
            ends[0] = len(lines)
            return data, LineTable(array("I", lines), array("I", ends))
        except _NotPlain:
            pass
    # ruamel's constructor recurses and expands aliases: bound what it will build first.
    problem = _measure(node, max_nodes, max_depth)
    if problem is not None:
        raise Refused(problem, node.start_mark)
    return loader.construct_document(node), None


def document_root(text: str) -> Node | None:
    """The first document's node tree, for finding lines again (the text holds one document)."""
    loader = _KubeLoader(text)
    try:
        return loader.get_node() if loader.check_node() else None
    finally:
        loader.dispose()

