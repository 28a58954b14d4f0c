"""One set of bounds for every loader (issue 18, items 3, 8 and 10).

Manifests (YAML and JSON), probe reports, rule packs and config files are read within the
same nesting and alias bounds; every line break libyaml accepts counts as one in the text
pre-checks; JSON refuses duplicate keys as YAML does; and line numbers come from a table,
not from node trees kept after loading.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml as pyyaml
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.config import ConfigError, load_config
from auditor.pointer import line_of
from auditor.rules import RulePackError, load_pack
from auditor.sources.limits import MAX_DEPTH, Limits
from auditor.sources.lines import YamlLines
from auditor.sources.manifests import load
from auditor.sources.parsing import ParseError, json_document, yaml_documents
from auditor.sources.probe_reports import load_reports
from auditor.sources.yaml_loader import BREAKS, Node

REPO = Path(__file__).resolve().parents[2]
GOOD_POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: fine, namespace: a}\nspec: {containers: [{name: c, image: i}]}\n"
)


def _deep(depth: int) -> dict:
    """A Pod whose deepest path holds exactly `depth` nested collections, root included."""
    inner: object = "leaf"
    for _ in range(depth - 4):  # below the root, spec, containers and the container
        inner = {"x": inner}
    container = {"name": "c", "image": "i", "securityContext": inner}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "deep", "namespace": "a"},
            "spec": {"containers": [container]}}


def _flow(depth: int) -> str:
    return f"[{'[' * (depth - 1)}x{']' * (depth - 1)}]\n"


@pytest.mark.parametrize("syntax", ["yaml", "json", "flow"])
def test_the_depth_bound_is_exact_for_every_syntax(tmp_path, syntax):
    def write(depth: int) -> Path:
        path = tmp_path / f"d{depth}.{'json' if syntax == 'json' else 'yaml'}"
        if syntax == "json":
            path.write_text(json.dumps(_deep(depth), indent=1))
        elif syntax == "yaml":
            path.write_text(pyyaml.safe_dump(_deep(depth)))
        else:
            path.write_text(_flow(depth))
        return path

    good = tmp_path / "good.yaml"
    good.write_text(GOOD_POD)
    inventory = load([str(write(MAX_DEPTH)), str(good)])
    assert not [s for s in inventory.skipped if "nesting" in s.reason]
    inventory = load([str(write(MAX_DEPTH + 1)), str(good)])
    (skipped,) = [s for s in inventory.skipped if "nesting" in s.reason]
    assert skipped.reason.endswith(f"nesting deeper than {MAX_DEPTH} levels") and skipped.line is not None
    assert "fine" in {r.name for r in inventory.resources}  # the other input is still audited


def test_every_loader_refuses_what_manifests_refuse(tmp_path):
    """Config files, rule packs and probe reports: the same depth and alias bounds."""
    too_deep = tmp_path / "deep.yaml"
    too_deep.write_text("select: " + _flow(MAX_DEPTH + 1))
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb("\n", levels=7))
    for path in (too_deep, bomb):
        for loader, error in ((load_config, ConfigError), (load_pack, RulePackError)):
            with pytest.raises(error, match=r"nesting deeper|aliases expand"):
                loader(path)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "deep.json").write_text(_flow(MAX_DEPTH + 1).replace("x", '"x"'))
    (reports / "dup.json").write_text('{"schema_version": "1", "schema_version": "2"}')
    _, skipped, _ = load_reports([str(reports)])
    assert sorted(s.reason for s in skipped) == sorted([
        "invalid JSON at column 25: duplicate key 'schema_version'",
        f"invalid JSON at column {MAX_DEPTH + 1}: nesting deeper than {MAX_DEPTH} levels",
    ])


def _alias_bomb(brk: str, levels: int) -> str:
    """Each level a flow list of ten aliases of the one before, each alias right after `brk`."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join(f"{brk}*l{i - 1}" for _ in range(10)) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("brk", list(BREAKS) + ["\r\n"], ids=repr)
def test_every_line_break_counts_in_the_alias_pre_check(tmp_path, brk):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(brk, levels=5), newline="")
    inventory = load([str(path)], limits=Limits(max_expanded_nodes=1_000))
    assert [s.reason for s in inventory.skipped] == [
        "invalid YAML at column 1: aliases expand past 1000 nodes (an alias bomb?)"
    ]


@pytest.mark.parametrize("brk", list(BREAKS) + ["\r\n"], ids=repr)
def test_every_line_break_ends_a_line_for_the_depth_pre_check(brk):
    """Deep flow nesting split by any break is still found before libyaml composes it."""
    from auditor.sources.yaml_loader import _COMPOSABLE_DEPTH, _too_deep_to_compose

    text = brk.join(["["] * (_COMPOSABLE_DEPTH + 1))
    assert _too_deep_to_compose(text) is not None
    many = "".join(f"---{brk}{{a: [x]}}{brk}" for _ in range(_COMPOSABLE_DEPTH))
    assert _too_deep_to_compose(many) is None


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from("abc"), st.recursive(
    st.none() | st.integers(0, 9) | st.text("xy", max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("pqr"), inner, max_size=3),
    max_leaves=12), max_size=3), st.booleans())
def test_json_duplicate_keys_are_refused_at_any_depth(doc, flow):
    text = json.dumps(doc, indent=None if flow else 2)
    assert json_document(text.encode()) == doc
    # Repeat the first key of every object: each copy must be found.
    for start in range(len(text)):
        if text[start] == "{" and text[start + 1] == '"':
            end = (
                text.index(",", start)
                if "," in text[start:] and text.index(",", start) < text.index("}", start)
                else None
            )
            member = text[start + 1:end] if end is not None else None
            if member and ":" in member and "{" not in member and "[" not in member:
                duplicated = text[:start + 1] + member + ", " + text[start + 1:]
                with pytest.raises(ParseError, match="duplicate key"):
                    json_document(duplicated.encode())


def test_json_duplicate_keys_are_named_with_line_never_value(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{\n "kind": "Pod",\n "apiVersion": "v1",\n "metadata": {"name": "p",\n  "name": "SECRETVALUE"}}\n')
    (skipped,) = load([str(path)]).skipped
    assert skipped.one_line() == f"{path}:5: invalid JSON at column 3: duplicate key 'name'"
    # An escaped colon cannot make the counts agree again.
    sneaky = '{"a": "\\u003a", "b": 1, "b": 2}'
    with pytest.raises(ParseError, match="duplicate key 'b'"):
        json_document(sneaky.encode())
    assert json_document(b'{"a": "\\u003a:", "b": 1}') == {"a": "::", "b": 1}


def test_no_node_tree_outlives_its_document(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(
        "".join(f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec: {{}}\n" for i in range(50))
    )
    gc.collect()
    before = {id(o) for o in gc.get_objects() if isinstance(o, Node)}  # other tests' nodes, if any
    inventory = load([str(path)])
    assert len(inventory.resources) == 50
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, Node) and id(o) not in before]
    assert all(isinstance(r.origin.lines, YamlLines) for r in inventory.resources)


documents = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 500) | st.text("ab: #\n", max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text("kl", min_size=1, max_size=2), inner, max_size=4)
    ),
    max_leaves=25,
)


def _pointers(value, prefix=""):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _pointers(item, f"{prefix}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _pointers(item, f"{prefix}/{i}")
    yield prefix + "/missing"


@settings(max_examples=60, deadline=None)
@given(st.lists(documents, min_size=1, max_size=3), st.booleans())
def test_the_line_table_agrees_with_the_node_tree(docs, flow):
    text = pyyaml.safe_dump_all(docs, default_flow_style=flow)
    for document, whole in zip(yaml_documents(text), yaml_documents(text, trees=True), strict=True):
        assert not isinstance(document, ParseError) and not isinstance(whole, ParseError)
        if document.lines is None:
            continue
        pointers = set(_pointers(document.data))
        found = YamlLines(document.data, document.lines).resolve(pointers)
        assert found == {p: line_of(whole.node, [t for t in p[1:].split("/")] if p else []) for p in pointers}


@pytest.mark.slow
def test_a_document_at_the_bound_goes_through_every_stage(tmp_path):
    """Every format, the evidence bundle and a baseline: no traceback at exactly MAX_DEPTH;
    one level more is refused with file:line and the rest still audited."""
    at = tmp_path / "at"
    at.mkdir()
    (at / "pod.json").write_text(json.dumps(_deep(MAX_DEPTH)))
    (at / "pod.yaml").write_text(pyyaml.safe_dump(_deep(MAX_DEPTH)).replace("name: deep", "name: deep2"))
    (at / "list.yaml").write_text(pyyaml.safe_dump({"kind": "List", "apiVersion": "v1", "items": [
        {**_deep(MAX_DEPTH - 2), "metadata": {"name": "deep3", "namespace": "a",
                                              "annotations": _deep(MAX_DEPTH - 4)["spec"]}}]}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def scan(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "auditor", "scan", *args], capture_output=True, env=env,
                              cwd=tmp_path, timeout=300)

    baseline = tmp_path / "baseline.json"
    done = scan(str(at), "--format", "json", "-o", str(baseline), "--evidence-dir", str(tmp_path / "bundle"))
    assert done.returncode in (0, 1) and b"error" not in done.stderr, done.stderr[-3000:]
    assert {f["name"] for f in json.loads(baseline.read_text())["findings"]} >= {"deep", "deep2"}
    for fmt in ("json", "sarif", "junit", "markdown", "html", "table"):
        done = scan(str(at), "--format", fmt, "-o", str(tmp_path / f"out.{fmt}"), "--baseline", str(baseline))
        assert done.returncode in (0, 1) and b"error" not in done.stderr, (fmt, done.stderr[-3000:])
    past = tmp_path / "past"
    past.mkdir()
    (past / "deep.yaml").write_text(pyyaml.safe_dump(_deep(MAX_DEPTH + 1)))
    (past / "good.yaml").write_text(GOOD_POD)
    done = scan(str(past), "--format", "json", "-o", str(tmp_path / "past.json"))
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    report = json.loads((tmp_path / "past.json").read_text())
    (skipped,) = report["coverage"]["skipped"]
    assert "deep.yaml" in json.dumps(skipped) and f"nesting deeper than {MAX_DEPTH} levels" in json.dumps(skipped)
    assert any(f["name"] == "fine" for f in report["findings"])


@pytest.mark.parametrize("stdin", [False, True])
def test_documents_with_aliases_find_their_lines_again(tmp_path, stdin):
    """Documents built by ruamel's constructor keep no table: their text is composed again."""
    import io

    from auditor.sources.lines import ComposedYamlLines

    text = ("# é, ü: characters of two bytes before the documents\n"
            "apiVersion: v1\nkind: Pod\nmetadata: {name: first}\n"
            "---\n"
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: second\n  labels: &l {app: x}\n"
            "spec:\n  nodeSelector: *l\n  containers:\n  - name: c\n    image: i\n")
    path = tmp_path / "aliased.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    inventory = load(["-"], stdin=io.BytesIO(path.read_bytes())) if stdin else load([str(path)])
    first, second = inventory.resources
    assert isinstance(second.origin.lines, ComposedYamlLines)
    assert first.origin.lines.resolve(["/metadata/name"]) == {"/metadata/name": 4}
    assert second.origin.lines.resolve(["/spec/containers/0/image", "/metadata/labels/app", "/nope"]) == {
        "/spec/containers/0/image": 15, "/metadata/labels/app": 10, "/nope": 6}


def test_probe_reports_have_the_size_bound_too(tmp_path):
    (tmp_path / "big.json").write_text('{"schema_version": "1.0"}')
    _, skipped, _ = load_reports([str(tmp_path)], Limits(max_file_bytes=10))
    assert [s.reason for s in skipped] == ["file larger than the 10-byte input limit"]
