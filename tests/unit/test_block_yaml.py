"""The line-at-a-time reader of block YAML against the full loader (libyaml through ruamel):
every text gives the same documents, starts, data, line tables and errors either way."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.sources import yaml_loader
from auditor.sources.block_yaml import Root, _lines
from auditor.sources.yaml_loader import YAMLError, documents, has_alias

GENERATE = Path(__file__).resolve().parents[2] / "benchmarks" / "generate.py"


def outcome(items) -> list[Any]:
    """What a consumer sees of each document, and how the stream ends."""
    seen: list[Any] = []
    try:
        for node, data, table, error in items:
            seen.append((node.start_mark.line, repr(data), table and (list(table.lines), list(table.ends)),
                         error and (type(error).__name__, str(getattr(error, "problem", error)),
                                    getattr(error, "key", None))))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        seen.append(("raised", type(exc).__name__, getattr(exc, "problem", None), mark and (mark.line, mark.column)))
    return seen


def same_as_full_loader(text: str, max_depth: int = 100) -> bool:
    """Asserts the two readers agree; says whether the line reader read any document."""
    fast = outcome(documents(text, 10_000, max_depth))
    assert fast == outcome(yaml_loader._composed(text, 10_000, max_depth, has_alias(text)))
    firsts = list(_nodes(text, max_depth))
    return bool(firsts) and isinstance(firsts[0], Root)


def _nodes(text: str, max_depth: int):
    try:
        for node, *_ in documents(text, 10_000, max_depth):
            yield node
    except YAMLError:
        return


# -- texts made from YAML's sharp edges ------------------------------------------------------------

KEYS = ["a", "b", "name", "y", "on", "No", "0x1F", "010", "1", "a.b/c-d_e", "k8s.io/name", "<<", "a b", "a:b",
        "-a", "'q'", '"d"', "?", "a#b", "é", "null", "~", "[x]"]
SCALARS = ["x", "yes", "No", "ON", "off", "y", "n", "true", "0755", "0o17", "0x1F", "0b101", "1_000", "12", "-3",
           "+4", "007", "0", "1.5", "1e3", "1.0e+3", ".5", "-.inf", ".NaN", "~", "null", "Null", "", "2026-01-01",
           "2026-11-01T10:00:00Z", "10:30", "190:20:30", "a #b", "a#b", "a: b", "a:b", "a:", "it's", "-", "--",
           "---", "...", "- x", "-x", "[]", "{}", "[a]", "{a: 1}", "&a x", "*a", "!tag x", "!!str 1", "|", ">-",
           "%x", "@x", "`x", "?x", ":x", ",x", "x,y", "x]", "é ü", "tab\there", "  lead", "trail  ", "a  b",
           "<<", "=", "\\", "a'b", 'a"b', "#", "x # c", "0.", "._", "0b_", "+.inf", "1:20", "Y", "NO"]
# what manifests mostly hold: the reader's own subset, where a mistake would show
TAME_KEYS = ["a", "b", "name", "y", "on", "0x1F", "010", "a.b/c-d_e", "k8s.io/name", "null"]
TAME_SCALARS = ["x", "yes", "No", "0755", "0x1F", "1_000", "12", "-3", "1.5", "1e3", ".NaN", "~", "", "2026-01-01",
                "10:30", "a#b", "a:b", "--", "-x", "[]", "{}", "é ü", "a  b", "=", "x # c", "._", "0b_"]
SPACE = ["", " ", "  "]
COMMENTS = ["", " # c", "  #c", "#c", " #"]
TAME_COMMENTS = ["", "", " # c", "  #c", " #"]


@st.composite
def scalar_text(draw, tame: bool) -> str:
    value = draw(st.sampled_from(TAME_SCALARS if tame else SCALARS))
    style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
    if style == "single":
        value = f"'{value}'"
    elif style == "double":
        value = f'"{value}"'
    return value + draw(st.sampled_from(TAME_COMMENTS if tame else COMMENTS))


@st.composite
def block(draw, indent: int, depth: int, tame: bool, entry: bool = False) -> list[str]:
    """Lines of a block mapping or sequence at `indent` (a mapping for a sequence `entry` if
    `tame`), well formed or nearly (`tame`: well formed, and in the reader's subset but for
    a few scalars)."""
    lines: list[str] = []
    keys: set[str] = set()
    sequence = depth > 0 and not (tame and entry) and draw(st.booleans())
    for _ in range(draw(st.integers(1, 4))):
        pad = " " * (indent + (0 if tame else draw(st.sampled_from([0, 0, 0, 0, 1, -1]))) if indent else 0)
        if draw(st.integers(0, 9)) == 0 and not tame:
            lines.append(draw(st.sampled_from(["", "   ", "# note", "  # note", "---", "--- x", "...", "%YAML 1.1"])))
        if sequence:
            head = pad + "-" + draw(st.sampled_from([" ", " ", "  "] + ([] if tame else [""])))
            if depth < 4 and draw(st.booleans()):
                inner = draw(block(len(head), depth + 1, tame, entry=True))
                lines.append(head + inner[0].lstrip(" ") if inner and inner[0].strip() else head)
                lines += inner[1:]
            else:
                lines.append(head + draw(scalar_text(tame)))
        else:
            key = draw(st.sampled_from(TAME_KEYS if tame else KEYS))
            if tame and key in keys:
                continue
            keys.add(key)
            if depth < 4 and draw(st.integers(0, 2)) == 0:
                lines.append(pad + key + ":" + draw(st.sampled_from(TAME_COMMENTS if tame else COMMENTS)))
                step = draw(st.sampled_from([2, 2, 4] if tame else [2, 2, 0, 4, 1]))
                lines += draw(block(len(pad) + step, depth + 1, tame))
            else:
                lines.append(pad + key + ":" + draw(st.sampled_from(SPACE[1:] + ([] if tame else [""])))
                             + draw(scalar_text(tame)))
    return lines


@st.composite
def stream(draw, tame: bool = False) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        heads = ["---\n", "---\n", "--- \n", "# top\n---\n", "---\n---\n"]
        head = draw(st.sampled_from(heads + ([] if tame and parts else [""])))
        parts.append(head + "\n".join(draw(block(draw(st.sampled_from([0, 0, 2])), 0, tame))))
    return "\n".join(parts) + draw(st.sampled_from(["\n", "", "\n---\n", "\n---", "\n\n"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream())
def test_any_text_reads_the_same_as_with_the_full_loader(text: str):
    same_as_full_loader(text)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream(tame=True))
def test_texts_in_the_subset_read_the_same_as_with_the_full_loader(text: str):
    same_as_full_loader(text)


@settings(max_examples=200, deadline=None)
@given(stream(tame=True), st.integers(1, 5))
def test_nesting_bounds_are_the_full_loaders(text: str, max_depth: int):
    same_as_full_loader(text, max_depth)


# values one character away from the subset, or out of it; some are not YAML at all
NEAR_MISSES = ["a: b", "a:", "a:  b", "'x'#c", '"x"#c', "'x' y", '"x" y', "'it's'", '"a\\"b"', "[a]", "{a: 1}",
               "[] x", "{}#c", "&a x", "!t x", "|", ">", "-", "- x", "? x", ": x", "%x", "@x", "`x", "*", "x ]",
               "x #", "#x", "x#", ",x", "a, b", "'a''b'", '"x', "'x"]
_VALUE_LINE = re.compile(r"( *(?:- +)?[\w./-]+:) +\S.*")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream(tame=True), st.sampled_from(NEAR_MISSES), st.integers(0, 10_000))
def test_a_value_near_the_subset_reads_the_same_as_with_the_full_loader(text: str, value: str, pick: int):
    lines = text.split("\n")
    keyed = [i for i, line in enumerate(lines) if _VALUE_LINE.fullmatch(line)]
    if keyed:
        at = keyed[pick % len(keyed)]
        lines[at] = _VALUE_LINE.fullmatch(lines[at]).group(1) + " " + value  # type: ignore[union-attr]
    same_as_full_loader("\n".join(lines))


LINE_PIECES = ["", " ", "  ", "- ", "-", "a:", "a: ", "b: 1", "x", "'q'", '"d"', "{}", "[]", "#", " # c", ": ",
               "---", "&a ", "*a", "|", "\t", "\r", "\x85", "\u2028", "\ufeff", "\x01", "é"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.sampled_from(LINE_PIECES), max_size=5).map("".join), max_size=8).map("\n".join))
def test_line_soup_reads_the_same_as_with_the_full_loader(text: str):
    same_as_full_loader(text)


# -- the reader is used: manifests as they are written --------------------------------------------


MANIFEST = """\
# a comment first
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # trailing comment
  labels: {}
  uid:
  annotations:
    note: "a quoted: value # not a comment"
    other: 'single'
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.27
        args:
        - --port=8080
        -   -v
        securityContext:
          privileged: yes
          runAsUser: 0755
        ports:
          - containerPort: 8080
            protocol: TCP
      volumes: []
---
apiVersion: v1
kind: Service
metadata:
  name: web
"""


def test_a_manifest_in_the_subset_is_read_by_lines_with_the_same_result():
    assert same_as_full_loader(MANIFEST)
    roots = [node for node, *_ in documents(MANIFEST, 10_000, 100)]
    assert [type(r) for r in roots] == [Root, Root] and [r.start_mark.line for r in roots] == [1, 28]


@pytest.mark.parametrize("beyond", ["  script: |\n    echo hi\n", "  a: &x 1\n", "  tag: !!str 1\n",
                                    "  flow: [a, b]\n", "  multi: one\n    two\n", "  dup: 1\n  dup: 2\n"])
def test_from_the_first_document_beyond_the_subset_the_full_loader_reads(beyond: str):
    text = MANIFEST + "---\nspec:\n" + beyond + "---\nkind: Pod\n"
    assert same_as_full_loader(text)
    kinds = [type(node).__name__ for node, *_ in documents(text, 10_000, 100)]
    assert kinds[:2] == ["Root", "Root"] and "Root" not in kinds[2:]


def test_a_text_with_an_alias_is_read_whole_by_the_full_loader():
    # which builds every document of it without line tables: the lines of a document built
    # through ruamel's constructor are found again on demand
    text = MANIFEST + "---\nspec:\n  a: &x 1\n  b: *x\n"
    assert not same_as_full_loader(text)
    assert all(table is None for _, _, table, _ in documents(text, 10_000, 100))


def test_generated_benchmark_manifests_are_read_by_lines_with_the_same_result(tmp_path: Path):
    out = tmp_path / "d.yaml"
    subprocess.run([sys.executable, str(GENERATE), "--deployments", "30", "--format", "yaml", "-o", str(out)],
                   check=True)
    assert same_as_full_loader(out.read_text())
    subprocess.run([sys.executable, str(GENERATE), "--repository", "2", "--format", "yaml-dir", "-o",
                    str(tmp_path / "repo")], check=True)
    for path in (tmp_path / "repo").glob("*.yaml"):
        assert same_as_full_loader(path.read_text()), path.name


@given(st.text("ab\n", max_size=40), st.integers(0, 8))
def test_lines_split_a_chunk_at_a_time_are_the_texts_lines(text: str, chunk: int):
    assert list(_lines(text, chunk)) == text.split("\n")


def test_every_yaml_fixture_of_the_repository_reads_the_same_as_with_the_full_loader():
    repo = Path(__file__).resolve().parents[2]
    paths = [p for d in ("fixtures", "examples", "rules", "deploy") for p in (repo / d).rglob("*.y*ml")]
    assert len(paths) > 100
    read_by_lines = sum(same_as_full_loader(p.read_text(encoding="utf-8-sig")) for p in paths)
    assert read_by_lines > 50
