"""Calico's selector language: the documented examples, random expressions spelled every way
Calico accepts them, and malformed input that must fail with a named, input-free error."""
from __future__ import annotations

import string
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.calico_selector import (
    MAX_DEPTH,
    MAX_KEY_LENGTH,
    MAX_LENGTH,
    All,
    And,
    CalicoSelectorError,
    Compare,
    Global,
    Has,
    InSet,
    Node,
    Not,
    Op,
    Or,
    parse,
)

# Calico's reference table and the examples of its parser's own tests: selector, labels, result.
DOCUMENTED = [
    ("all()", {}, True),
    ("all()", {"a": "b"}, True),
    ("!all()", {"a": "b"}, False),
    ("", {"a": "b"}, True),
    (" ", {}, True),
    ("global()", {"a": "b"}, True),
    ("k == 'v'", {"k": "v"}, True),
    ("k == 'v'", {"k": "w"}, False),
    ("k == 'v'", {}, False),
    ('k == "v"', {"k": "v", "c": "d"}, True),
    ("k != 'v'", {}, True),
    ("k != 'v'", {"k": "w"}, True),
    ("k != 'v'", {"k": "v"}, False),
    ("has(k)", {"k": ""}, True),
    ("has(k)", {"j": "k"}, False),
    ("!has(k)", {"j": "k"}, True),
    ("! has(k)", {"k": "v"}, False),
    ("!!has(k)", {"j": "v"}, False),
    ("!! ! has(k)", {"k": "v"}, False),
    ("k in { 'v1', 'v2' }", {"k": "v2"}, True),
    ("k in { 'v1', 'v2' }", {"k": "v3"}, False),
    ("k in { 'v1', 'v2' }", {}, False),
    ("k not in { 'v1', 'v2' }", {}, True),
    ("k not in { 'v1', 'v2' }", {"k": "v3"}, True),
    ("k not in { 'v1', 'v2' }", {"k": "v1"}, False),
    ("""a in {"'", '"', "c"}""", {"a": '"'}, True),
    ("""a not in {"'", '"', "c"}""", {"a": "'"}, False),
    ("k contains 's'", {"k": "asb"}, True),
    ("k contains 's'", {"k": "ab"}, False),
    ("k contains 's'", {"j": "s"}, False),
    ("k starts with 's'", {"k": "sa"}, True),
    ("k starts with 's'", {"k": "as"}, False),
    ("k ends with 's'", {"k": "as"}, True),
    ("k ends with 's'", {"k": "sa"}, False),
    ("!a in {'a'}", {"a": "b"}, True),
    ("a == 'a1' && b != 'b1'", {"a": "a1", "b": "b1"}, False),
    ("a != 'a1' || b == 'b1'", {"a": "a1", "b": "b1"}, True),
    ("!a == 'a1' && b == 'b1'", {"a": "a1", "b": "b1"}, False),
    ("! a == 'a1' || ! b == 'b1'", {"a": "a1", "b": "b1"}, False),
    ("!(has(b) || !has(a))", {"a": "a"}, True),
    ("example.com/tier == 'db' && app.kubernetes.io/name in {'pg'}",
     {"example.com/tier": "db", "app.kubernetes.io/name": "pg"}, True),
    # The precedence example: `!`, then `&&`, then `||`.
    ("! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}", {}, True),
    ("! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}",
     {"my-label": "prod-1", "role": "business"}, True),
    ("! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}",
     {"my-label": "prod-1", "role": "db"}, False),
    ("! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}",
     {"my-label": "dev", "role": "frontend"}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), DOCUMENTED)
def test_documented_examples(text: str, labels: dict[str, str], expected: bool) -> None:
    selector = parse(text)
    assert selector.matches(labels) is expected
    assert parse(str(selector)).matches(labels) is expected


def test_precedence_is_the_documented_bracketing() -> None:
    assert parse("! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}") == parse(
        "((!(has(my-label))) || ((my-label starts with 'prod') && (role in {'frontend','business'})))")


@pytest.mark.parametrize(("spellings", "canonical"), [
    (["", " ", "all()", " ( all( ) )", "\tall()\t"], "all()"),
    (["! (has( b)||! has(a ))", "!(has(b) || !has(a))", "!((has(b)) || (!!!has(a)))"], "!(has(b) || !has(a))"),
    (["a startswith '\"'", "a starts\twith '\"'", "a starts with'\"'"], "a starts with '\"'"),
    (["a endswith \"'\"", "a ends with \"'\""], "a ends with \"'\""),
    (["a!='x'", 'a != "x"', "!!a != 'x'"], 'a != "x"'),
    (["a in {'z', 'z', 'x', 'a',}", 'a in{"a","x","z"}'], 'a in {"a", "x", "z"}'),
    (["a notin {}", "a not  in {}"], "a not in {}"),
    (["(a == 'b' && c == 'd') && e == 'f'", "a == 'b' && (c == 'd' && e == 'f')"], 'a == "b" && c == "d" && e == "f"'),
    (["a == 'b' || c == 'd' && e == 'f'"], 'a == "b" || (c == "d" && e == "f")'),
])
def test_equal_selectors_share_one_canonical_text(spellings: list[str], canonical: str) -> None:
    parsed = {parse(s) for s in spellings}
    assert len(parsed) == 1
    (selector,) = parsed
    assert str(selector) == canonical
    assert parse(canonical) == selector and hash(parse(canonical)) == hash(selector)


@pytest.mark.parametrize(("text", "labels"), [
    ("in in {'x'}", {"in": "x"}),
    ("not in {'x'}", {"not": "x"}),  # the key `not`, then `in`
    ("has == 'x'", {"has": "x"}),
    ("hasx == 'x'", {"hasx": "x"}),
    ("all == 'x'", {"all": "x"}),
    ("contains contains 'x'", {"contains": "axb"}),
])
def test_keywords_are_label_keys_where_calico_reads_a_key(text: str, labels: dict[str, str]) -> None:
    selector = parse(text)
    assert selector.matches(labels) and not selector.matches({text.split()[0]: "other"})
    assert parse(str(selector)) == selector


BAD = [
    "b == b", "b contains b", "b starts with b", "b ends with b", "'b1' == b", "b", "a b", "!",
    'foo == "bar" &', 'foo == "bar" |', "foo != ||", 'foo in {"", ||', 'foo in ""', '"FOO', "\"FOO'",
    "'FOO", "(", '(a == "foo"', ")", "()", "%", 'a == "b" && %', 'a == "b" || %', "a ", "has(foo) &&",
    "a = 'b'", "has (a)", "has()", "has(a b)", "all(x)", "global(", "a in {,}", "a in {'x' 'y'}",
    "a\n== 'b'", "has(a)\n", "a == 'b' c == 'd'", "a starts 'x'", "a not 'x'",
    "a inx {'y'}", "a contain 'x'", "a == 'b' &| c == 'd'",
]


@pytest.mark.parametrize("text", BAD)
def test_what_calico_rejects_is_an_error_with_a_column(text: str) -> None:
    with pytest.raises(CalicoSelectorError, match=r"^column \d+: ") as caught:
        parse(text)
    assert 1 <= (caught.value.column or 0) <= len(text) + 1


# Edge cases run through Calico's own Go parser (libcalico-go lib/selector, 2026), with its verdicts.
@pytest.mark.parametrize(("text", "accepted"), [
    ("a in{}", True), ("a notin{'x',}", True), ("a == 'x\x00y'", True), ("/ == 'x'", True), ("- == 'x'", True),
    ("a.b/c-d_e == ''", True), ("all( )", True), ("global()&&all()", True), ("a starts  \t with 'b'", True),
    ("héllo == 'x'", False), ("all ( )", False), ("global ( )", False), ("has(a)has(b)", False),
    ("x in {'a'} in", False), ("\xa0all()", False), ("all()\u2028", False), ("a containsx 'b'", False),
    ("has(\na)", False), ("a starts\nwith 'x'", False), ("a in {'x',,}", False), ("all()all()", False),
])
def test_accepts_exactly_what_calicos_parser_accepts(text: str, accepted: bool) -> None:
    try:
        parse(text)
    except CalicoSelectorError:
        assert not accepted
    else:
        assert accepted


def test_a_value_that_is_not_a_string_is_an_error() -> None:
    with pytest.raises(CalicoSelectorError, match="must be a string"):
        parse(42)  # type: ignore[arg-type]


def test_nesting_is_bounded_without_recursion_errors() -> None:
    assert parse("(" * MAX_DEPTH + "has(a)" + ")" * MAX_DEPTH).matches({"a": ""})
    for depth in (MAX_DEPTH + 1, MAX_LENGTH // 2 - 4):
        with pytest.raises(CalicoSelectorError, match="nested deeper"):
            parse("(" * depth + "all()" + ")" * depth)
    # Negations and long chains do not nest: no depth to exhaust however many there are.
    assert parse("!" * (MAX_LENGTH - 5) + "all()").matches({}) is ((MAX_LENGTH - 5) % 2 == 0)
    chain = " && ".join(["has(a)"] * 5000)
    assert parse(chain).matches({"a": "x"}) and not parse(chain).matches({})


def test_label_keys_are_bounded_as_calico_bounds_them() -> None:
    key = "k" * MAX_KEY_LENGTH
    assert parse(f"{key} == 'x' && has({key})").matches({key: "x"})
    for text in (f"{key}k == 'x'", f"has( {key}k )"):
        with pytest.raises(CalicoSelectorError, match=f"longer than {MAX_KEY_LENGTH}"):
            parse(text)


def test_length_is_bounded() -> None:
    assert parse(" " * (MAX_LENGTH - 5) + "all()").matches({})
    with pytest.raises(CalicoSelectorError, match=f"longer than {MAX_LENGTH}"):
        parse(" " * (MAX_LENGTH - 4) + "all()")


@pytest.mark.parametrize(("text", "namespace", "expected"), [
    ("all()", ("tenant-a", {"team": "a"}), True),
    ("all()", None, False),          # all(): every namespace, no global endpoint
    ("!all()", None, True),
    ("global()", ("tenant-a", {"team": "a"}), False),
    ("global()", None, True),        # global(): host endpoints and global network sets only
    ("!global()", ("tenant-b", {}), True),
    ("team == 'a'", None, False),
    ("team != 'a'", None, True),     # a global endpoint has no namespace labels at all
    ("team == 'a' || global()", None, True),
    ("team == 'a' || global()", ("tenant-a", {"team": "a"}), True),
    ("team == 'a' || global()", ("tenant-b", {"team": "b"}), False),
    # Calico's automatic label: each namespace's name, whatever its own labels say.
    ('projectcalico.org/name in {"foo", "bar"}', ("bar", {}), True),
    ('projectcalico.org/name == "baz"', ("baz", {"projectcalico.org/name": "other"}), True),
    ('projectcalico.org/name == "baz"', ("foo", {}), False),
    ('has(projectcalico.org/name)', None, False),
])
def test_namespace_selector_splits_namespaced_from_global(
        text: str, namespace: tuple[str, dict[str, str]] | None, expected: bool) -> None:
    selector = parse(text)
    if namespace is None:
        assert selector.selects_namespace(None) is expected
    else:
        assert selector.selects_namespace(*namespace) is expected


def test_describe_is_one_inert_line() -> None:
    selector = parse("a == 'x\x1b[2J\ny\u202e'")
    assert selector.describe() == 'a == "x\\x1b[2J\\ny\\u202e"'
    assert parse(str(selector)) == selector  # str() stays the exact Calico text


@pytest.mark.parametrize("build", [
    lambda: Compare("a", Op.EQ, "both ' and \""),
    lambda: Has("a b"),
    lambda: InSet("a", ("b", "a")),
    lambda: InSet("a", ("a", "a")),
])
def test_a_node_that_could_not_be_written_as_calico_text_is_refused(build) -> None:
    with pytest.raises(ValueError):
        build()


# --- random expressions ------------------------------------------------------------------

KEYS = ["a", "b", "example.com/tier", "x_1-2.z", "in", "not", "has", "all"]
VALUES = ["", "v", "prod", "pro", "prod-1", "'", '"', "a b", "x\ny", "ü"]

values = st.sampled_from(VALUES)
leaves = st.one_of(
    st.just(All()), st.just(Global()),
    st.builds(Has, st.sampled_from(KEYS)),
    st.builds(Compare, st.sampled_from(KEYS), st.sampled_from(list(Op)), values),
    st.builds(lambda k, vs, n: InSet(k, tuple(sorted(set(vs))), n),
              st.sampled_from(KEYS), st.lists(values, max_size=3), st.booleans()),
)
trees = st.recursive(leaves, lambda inner: st.one_of(
    st.builds(Not, inner),
    st.builds(lambda ops: And(tuple(ops)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(lambda ops: Or(tuple(ops)), st.lists(inner, min_size=2, max_size=3)),
), max_leaves=12)
label_maps = st.dictionaries(st.sampled_from(KEYS), values, max_size=4)


def truth(node: Node, labels: Mapping[str, str]) -> bool:
    """The documented meaning of each operator, written out directly."""
    match node:
        case All() | Global():
            return True
        case Has(key=key):
            return key in labels
        case Compare(key=key, op=op, value=value):
            if key not in labels:
                return op is Op.NE
            have = labels[key]
            return {Op.EQ: have == value, Op.NE: have != value, Op.CONTAINS: value in have,
                    Op.STARTS_WITH: have.startswith(value), Op.ENDS_WITH: have.endswith(value)}[op]
        case InSet(key=key, values=vs, negated=negated):
            return (key not in labels or labels[key] not in vs) if negated else (key in labels and labels[key] in vs)
        case Not(operand=operand):
            return not truth(operand, labels)
        case And(operands=operands):
            return all(truth(o, labels) for o in operands)
        case Or(operands=operands):
            return any(truth(o, labels) for o in operands)
    raise AssertionError(node)


def spell(node: Node, draw: st.DrawFn) -> str:
    """`node` as Calico text, choosing among the spellings Calico accepts: blanks, quotes,
    redundant parentheses, operator words run together, duplicate and unordered set members."""
    gap = draw(st.sampled_from(["", " ", "\t", "  "]))
    space = draw(st.sampled_from([" ", "\t", " \t "]))

    def quoted(value: str) -> str:
        quote = "'" if '"' in value else '"' if "'" in value else draw(st.sampled_from("'\""))
        return quote + value + quote

    def group(child: Node, needed: bool) -> str:
        text = spell(child, draw)
        return f"({gap}{text}{gap})" if needed or draw(st.booleans()) else text

    match node:
        case All():
            return f"all({gap})"
        case Global():
            return f"global({gap})"
        case Has(key=key):
            return f"has({gap}{key}{gap})"
        case Compare(key=key, op=op, value=value):
            word = draw(st.sampled_from({Op.STARTS_WITH: ["starts with", "startswith", "starts\t with"],
                                         Op.ENDS_WITH: ["ends with", "endswith"]}.get(op, [op.value])))
            before = gap if op in (Op.EQ, Op.NE) else space
            return f"{key}{before}{word}{gap}{quoted(value)}"
        case InSet(key=key, values=vs, negated=negated):
            members = draw(st.permutations(list(vs) + draw(st.lists(st.sampled_from(vs), max_size=2)) if vs else []))
            body = f"{gap},{gap}".join(quoted(v) for v in members)
            trailing = "," if members and draw(st.booleans()) else ""
            word = draw(st.sampled_from(["not in", "notin", "not \tin"])) if negated else "in"
            return f"{key}{space}{word}{gap}{{{gap}{body}{trailing}{gap}}}"
        case Not(operand=operand):
            return f"!{gap}{group(operand, isinstance(operand, (And, Or)))}"
        case And(operands=operands):
            return f"{gap}&&{gap}".join(group(o, isinstance(o, Or)) for o in operands)
        case Or(operands=operands):
            return f"{gap}||{gap}".join(group(o, False) for o in operands)
    raise AssertionError(node)


@settings(max_examples=200, deadline=None)
@given(tree=trees, data=st.data(), labels=st.lists(label_maps, min_size=1, max_size=6))
def test_any_spelling_of_an_expression_means_what_the_expression_means(
        tree: Node, data: st.DataObject, labels: list[dict[str, str]]) -> None:
    text = spell(tree, data.draw)
    selector = parse(text)
    for label_map in labels:
        assert selector.matches(label_map) is truth(tree, label_map), text
    # Another spelling is the same selector; the canonical text is a fixed point.
    assert parse(spell(tree, data.draw)) == selector
    assert parse(str(selector)) == selector and str(parse(str(selector))) == str(selector)


# Every message is made of these; the fragments below put upper-case and non-ASCII letters
# in keys and values, so a message that repeated any input would show a character outside.
MESSAGE_CHARS = set(string.ascii_lowercase + string.digits + " '(){}!&|=,:-")
fragments = st.sampled_from([
    "(", ")", "{", "}", ",", "!", "!=", "==", "=", "&&", "&", "||", "|", " ", "\t", "\n", "'", '"',
    "has(", "all(", "global(", " in ", " not in ", " contains ", " starts with ", " ends with ",
    " startswith", " not", "QWZ", "J.K/X-", "Æ§", "'¤жQ'", '"QX"', "K",
])


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.lists(fragments, max_size=14).map("".join), st.text(max_size=40)))
def test_malformed_input_fails_only_with_a_message_free_of_the_input(text: str) -> None:
    try:
        parse(text)
    except CalicoSelectorError as error:
        assert set(str(error)) <= MESSAGE_CHARS, str(error)
        assert str(error).startswith("column ")
