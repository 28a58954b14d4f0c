"""Calico's label selector language (projectcalico.org/v3 `selector`, `namespaceSelector`,
`serviceAccountSelector`, rule `selector`/`notSelector`), parsed and evaluated as Calico does.

The grammar, as Calico's own tokenizer and parser accept it (libcalico-go lib/selector):

    selector   := blank | or
    or         := and ('||' and)*            -- '&&' binds tighter than '||'
    and        := unary ('&&' unary)*
    unary      := '!'* operation             -- '!' negates the next operation only
    operation  := 'all()' | 'global()' | 'has(' key ')' | '(' or ')'
                | key ('==' | '!=' | 'contains' | 'starts with' | 'ends with') string
                | key ('in' | 'not in') '{' [string (',' string)* [',']] '}'
    key        := [A-Za-z0-9_./-]{1,512}     -- prefixes such as example.com/tier included
    string     := '...' | "..."              -- no escapes; anything but its own quote

Whitespace is a space or a tab, nowhere else (a newline is an error, as in Calico). A blank
selector is `all()`. Keywords are recognised only where Calico looks for them: a key may be
called `in` or `has`; after a key, `startswith` and `notin` are accepted as Calico accepts them.

`k != 'v'` and `k not in {...}` are true when `k` is absent. `global()` and `all()` both match
any labels in a plain selector (Calico's evaluator); in a namespaceSelector they split the
endpoints, see `CalicoSelector.selects_namespace`.

Inputs are bounded (MAX_LENGTH characters, MAX_DEPTH nested parentheses) so a hostile
selector costs little and can never exhaust the stack. Errors name the problem and its column
and never repeat the input: labels and their values may be secrets.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from .terminal import escape

MAX_LENGTH = 65_536
MAX_DEPTH = 32
MAX_KEY_LENGTH = 512  # Calico's own limit on a label key in a selector
# The label Calico gives each namespace, holding its name, for namespaceSelectors.
NAMESPACE_NAME_LABEL = "projectcalico.org/name"

_KEY = re.compile(r"[A-Za-z0-9_./-]+")
_BLANK = " \t"


class CalicoSelectorError(ValueError):
    """A selector Calico would reject: the problem and its 1-based column, never the input."""

    def __init__(self, column: int | None, problem: str) -> None:
        self.column = column
        self.problem = problem
        super().__init__(problem if column is None else f"column {column}: {problem}")


class Op(Enum):
    """Comparisons of one label's value with a string."""

    EQ = "=="
    NE = "!="
    CONTAINS = "contains"
    STARTS_WITH = "starts with"
    ENDS_WITH = "ends with"


def _check_key(key: str) -> None:
    if not _KEY.fullmatch(key) or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a label key is 1 to {MAX_KEY_LENGTH} letters, digits and _ . / - only")


def _check_value(value: str) -> None:
    if '"' in value and "'" in value:
        raise ValueError("a selector string cannot hold both quote characters")


def _quoted(value: str) -> str:
    quote = "'" if '"' in value else '"'
    return f"{quote}{value}{quote}"


@dataclass(frozen=True)
class All:
    def __str__(self) -> str:
        return "all()"


@dataclass(frozen=True)
class Global:
    def __str__(self) -> str:
        return "global()"


@dataclass(frozen=True)
class Has:
    key: str

    def __post_init__(self) -> None:
        _check_key(self.key)

    def __str__(self) -> str:
        return f"has({self.key})"


@dataclass(frozen=True)
class Compare:
    key: str
    op: Op
    value: str

    def __post_init__(self) -> None:
        _check_key(self.key)
        _check_value(self.value)

    def __str__(self) -> str:
        return f"{self.key} {self.op.value} {_quoted(self.value)}"


@dataclass(frozen=True)
class InSet:
    """`key in {...}`, or `key not in {...}` when `negated`. `values` sorted and unique, so
    equal sets compare equal."""

    key: str
    values: tuple[str, ...]
    negated: bool = False

    def __post_init__(self) -> None:
        _check_key(self.key)
        for value in self.values:
            _check_value(value)
        if list(self.values) != sorted(set(self.values)):
            raise ValueError("set values must be sorted and unique")

    def __str__(self) -> str:
        members = ", ".join(_quoted(v) for v in self.values)
        return f"{self.key} {'not in' if self.negated else 'in'} {{{members}}}"


@dataclass(frozen=True)
class Not:
    operand: Node

    def __str__(self) -> str:
        return "!" + _grouped(self.operand, (And, Or))


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return " && ".join(_grouped(o, (Or,)) for o in self.operands)


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]

    def __str__(self) -> str:
        # `a || (b && c)`: the parentheses are not needed, but a reader need not know that.
        return " || ".join(_grouped(o, (And,)) for o in self.operands)


Node = All | Global | Has | Compare | InSet | Not | And | Or


def _grouped(node: Node, kinds: tuple[type, ...]) -> str:
    return f"({node})" if isinstance(node, kinds) else str(node)


@dataclass(frozen=True)
class CalicoSelector:
    """A parsed selector. Equal selectors (whatever their spacing, quotes, redundant
    parentheses, double negations or set order) compare and hash equal; `str()` is their one
    canonical Calico text, which parses back to an equal selector."""

    root: Node

    def __str__(self) -> str:
        return str(self.root)

    def describe(self) -> str:
        """The canonical text for evidence: one line, with any control or invisible character
        in a quoted value shown as an escape."""
        return escape(str(self))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Calico's own evaluation, for `selector`, `notSelector` and `serviceAccountSelector`:
        `all()` and `global()` match any labels."""
        return _evaluate(self.root, labels, _Scope(all_value=True, global_value=True))

    def selects_namespace(self, name: str | None, labels: Mapping[str, str] | None = None) -> bool:
        """As a `namespaceSelector`: does it select an endpoint in namespace `name` whose
        labels are `labels`, or, for `name` None, a non-namespaced endpoint (a HostEndpoint or
        a GlobalNetworkSet)?

        Calico gives every namespace the label `projectcalico.org/name` (its name), rewrites
        `all()` to "in some namespace" and `global()` to "in no namespace"; a non-namespaced
        endpoint has no namespace labels at all, so there `k != 'v'` holds and `k == 'v'`
        does not. An absent or blank namespaceSelector is not `all()` at the policy level (a
        NetworkPolicy then means its own namespace): the caller decides that before parsing.
        """
        if name is None:
            return _evaluate(self.root, {}, _Scope(all_value=False, global_value=True))
        namespace_labels = {**(labels or {}), NAMESPACE_NAME_LABEL: name}
        return _evaluate(self.root, namespace_labels, _Scope(all_value=True, global_value=False))


@dataclass(frozen=True)
class _Scope:
    """What `all()` and `global()` mean where the selector is evaluated."""

    all_value: bool
    global_value: bool


def _evaluate(node: Node, labels: Mapping[str, str], scope: _Scope) -> bool:
    # Recursion is bounded: parse() admits at most MAX_DEPTH nested groups, and a group's
    # operands are a flat tuple however many there are.
    if isinstance(node, All):
        return scope.all_value
    if isinstance(node, Global):
        return scope.global_value
    if isinstance(node, Has):
        return node.key in labels
    if isinstance(node, Compare):
        return _compare(node, labels.get(node.key))
    if isinstance(node, InSet):
        value = labels.get(node.key)
        return (value is None or value not in node.values) if node.negated else value in node.values
    if isinstance(node, Not):
        return not _evaluate(node.operand, labels, scope)
    if isinstance(node, And):
        return all(_evaluate(o, labels, scope) for o in node.operands)
    return any(_evaluate(o, labels, scope) for o in node.operands)


def _compare(node: Compare, value: str | None) -> bool:
    if value is None:
        return node.op is Op.NE
    if node.op is Op.EQ:
        return value == node.value
    if node.op is Op.NE:
        return value != node.value
    if node.op is Op.CONTAINS:
        return node.value in value
    if node.op is Op.STARTS_WITH:
        return value.startswith(node.value)
    return value.endswith(node.value)


# --- tokens -------------------------------------------------------------------------------


class _Kind(Enum):
    KEY = "a label key"
    STRING = "a quoted string"
    LBRACE = "'{'"
    RBRACE = "'}'"
    COMMA = "','"
    LPAREN = "'('"
    RPAREN = "')'"
    AND = "'&&'"
    OR = "'||'"
    NOT = "'!'"
    ALL = "all()"
    GLOBAL = "global()"
    HAS = "has()"
    OP = "a comparison"
    IN = "'in'"
    NOT_IN = "'not in'"
    END = "the end of the selector"


@dataclass(frozen=True)
class _Token:
    kind: _Kind
    column: int
    text: str = ""  # a key or a string's content
    op: Op | None = None


_PUNCTUATION = {"{": _Kind.LBRACE, "}": _Kind.RBRACE, ",": _Kind.COMMA, "(": _Kind.LPAREN, ")": _Kind.RPAREN}
_DOUBLED = {"&": _Kind.AND, "|": _Kind.OR}
# After a key Calico looks for these words by prefix (no word boundary), in this order.
_KEY_OPERATORS: tuple[tuple[str, str, _Kind, Op | None], ...] = (
    ("contains", "", _Kind.OP, Op.CONTAINS),
    ("starts", "with", _Kind.OP, Op.STARTS_WITH),
    ("ends", "with", _Kind.OP, Op.ENDS_WITH),
    ("not", "in", _Kind.NOT_IN, None),
    ("in", "", _Kind.IN, None),
)
_CALLS = (("has(", _Kind.HAS), ("all(", _Kind.ALL), ("global(", _Kind.GLOBAL))


def _skip_blank(text: str, at: int) -> int:
    while at < len(text) and text[at] in _BLANK:
        at += 1
    return at


class _Tokenizer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.tokens: list[_Token] = []

    def error(self, problem: str, at: int | None = None) -> CalicoSelectorError:
        return CalicoSelectorError((self.at if at is None else at) + 1, problem)

    def add(self, kind: _Kind, start: int, end: int, text: str = "", op: Op | None = None) -> None:
        self.tokens.append(_Token(kind, start + 1, text, op))
        self.at = end

    def run(self) -> list[_Token]:
        text = self.text
        while True:
            self.at = _skip_blank(text, self.at)
            if self.at == len(text):
                self.tokens.append(_Token(_Kind.END, self.at + 1))
                return self.tokens
            char, start = text[self.at], self.at
            after_key = bool(self.tokens) and self.tokens[-1].kind is _Kind.KEY
            if char in _PUNCTUATION:
                self.add(_PUNCTUATION[char], start, start + 1)
            elif char in "'\"":
                close = text.find(char, start + 1)
                if close < 0:
                    raise self.error("quoted string is never closed")
                self.add(_Kind.STRING, start, close + 1, text[start + 1:close])
            elif char in _DOUBLED:
                if text.startswith(char * 2, start):
                    self.add(_DOUBLED[char], start, start + 2)
                else:
                    raise self.error(f"expected {_DOUBLED[char].value}, found a single character")
            elif char == "=":
                if not text.startswith("==", start):
                    raise self.error("expected '==', found a single '='")
                self.add(_Kind.OP, start, start + 2, op=Op.EQ)
            elif char == "!":
                if text.startswith("!=", start):
                    self.add(_Kind.OP, start, start + 2, op=Op.NE)
                else:
                    self.add(_Kind.NOT, start, start + 1)
            elif char.isspace():
                raise self.error("only a space or a tab may separate tokens")
            elif after_key:
                self.key_operator(start)
            else:
                self.word(start)

    def key_operator(self, start: int) -> None:
        text = self.text
        for first, second, kind, op in _KEY_OPERATORS:
            if not text.startswith(first, start):
                continue
            end = start + len(first)
            if second:
                end = _skip_blank(text, end)
                if not text.startswith(second, end):
                    break
                end += len(second)
            self.add(kind, start, end, op=op)
            return
        raise self.error("expected an operator after the label key", start)

    def word(self, start: int) -> None:
        text = self.text
        for opening, kind in _CALLS:
            if not text.startswith(opening, start):
                continue
            at = _skip_blank(text, start + len(opening))
            key = ""
            if kind is _Kind.HAS:
                found = self.key(at, "expected a label key after has(")
                key = found.group()
                at = _skip_blank(text, found.end())
            if not text.startswith(")", at):
                raise self.error(f"expected ')' to close {opening}", at)
            self.add(kind, start, at + 1, key)
            return
        found = self.key(start, "unexpected character")
        self.add(_Kind.KEY, start, found.end(), found.group())

    def key(self, at: int, missing: str) -> re.Match[str]:
        found = _KEY.match(self.text, at)
        if not found:
            raise self.error(missing, at)
        if found.end() - at > MAX_KEY_LENGTH:
            raise self.error(f"label key longer than {MAX_KEY_LENGTH} characters", at)
        return found


# --- parser -------------------------------------------------------------------------------


def _negated(node: Node) -> Node:
    return node.operand if isinstance(node, Not) else Not(node)


def _joined(kind: type[And] | type[Or], operands: list[Node]) -> Node:
    """One operand stays itself; nested groups of the same kind flatten, as `&&` and `||`
    are associative."""
    flat: list[Node] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else (operand,))
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        if token.kind is not _Kind.END:
            self.at += 1
        return token

    def expect(self, kind: _Kind, after: str) -> _Token:
        token = self.take()
        if token.kind is not kind:
            raise CalicoSelectorError(token.column, f"expected {kind.value} {after}, found {token.kind.value}")
        return token

    def selector(self) -> Node:
        if self.peek().kind is _Kind.END:
            return All()
        node = self.disjunction(0)
        token = self.peek()
        if token.kind is not _Kind.END:
            raise CalicoSelectorError(token.column, f"unexpected {token.kind.value} after a complete expression")
        return node

    def disjunction(self, depth: int) -> Node:
        return self.chain(Or, _Kind.OR, self.conjunction, depth)

    def conjunction(self, depth: int) -> Node:
        return self.chain(And, _Kind.AND, self.unary, depth)

    def chain(self, kind: type[And] | type[Or], separator: _Kind, operand: Callable[[int], Node],
              depth: int) -> Node:
        operands = [operand(depth)]
        while self.peek().kind is separator:
            self.take()
            operands.append(operand(depth))
        return _joined(kind, operands)

    def unary(self, depth: int) -> Node:
        negations = 0
        while self.peek().kind is _Kind.NOT:
            self.take()
            negations += 1
        node = self.operation(depth)
        return _negated(node) if negations % 2 else node

    def operation(self, depth: int) -> Node:
        token = self.take()
        if token.kind is _Kind.ALL:
            return All()
        if token.kind is _Kind.GLOBAL:
            return Global()
        if token.kind is _Kind.HAS:
            return Has(token.text)
        if token.kind is _Kind.LPAREN:
            if depth >= MAX_DEPTH:
                raise CalicoSelectorError(token.column, f"parentheses nested deeper than {MAX_DEPTH}")
            node = self.disjunction(depth + 1)
            self.expect(_Kind.RPAREN, "to close the group")
            return node
        if token.kind is _Kind.KEY:
            return self.comparison(token.text)
        raise CalicoSelectorError(token.column, f"expected an expression, found {token.kind.value}")

    def comparison(self, key: str) -> Node:
        operator = self.take()
        if operator.kind is _Kind.OP and operator.op is not None:
            value = self.expect(_Kind.STRING, "after the comparison")
            return Compare(key, operator.op, value.text)
        if operator.kind in (_Kind.IN, _Kind.NOT_IN):
            self.expect(_Kind.LBRACE, "to open the set")
            values: set[str] = set()
            while self.peek().kind is _Kind.STRING:
                values.add(self.take().text)
                if self.peek().kind is not _Kind.COMMA:
                    break
                self.take()
            self.expect(_Kind.RBRACE, "to close the set")
            return InSet(key, tuple(sorted(values)), negated=operator.kind is _Kind.NOT_IN)
        raise CalicoSelectorError(operator.column, f"expected an operator after the label key, found "
                                                   f"{operator.kind.value}")


def parse(text: str) -> CalicoSelector:
    """The selector `text` means, or CalicoSelectorError naming the problem and its column."""
    if not isinstance(text, str):
        raise CalicoSelectorError(None, f"a selector must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise CalicoSelectorError(MAX_LENGTH + 1, f"selector longer than {MAX_LENGTH} characters")
    return CalicoSelector(_Parser(_Tokenizer(text).run()).selector())
