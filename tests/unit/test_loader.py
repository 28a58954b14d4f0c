"""The manifest loader: YAML as Kubernetes reads it, JSON, Lists, stdin and broken input."""
from __future__ import annotations

import io
import json

import pytest
from scan_helpers import write

from auditor.sources.manifests import Limits, load
from auditor.sources.yaml_loader import load_documents

POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: shop
spec:
  hostPID: {host_pid}
  containers:
  - name: app
    image: nginx
"""


def test_yaml_scalars_follow_kubernetes_yaml_1_1_rules():
    (node, data, error), = load_documents("a: yes\nb: 0755\nc: off\nd: 2024-01-01\ny: 1\ne: '0755'\n")
    assert error is None
    assert data == {"a": True, "b": 493, "c": False, "d": "2024-01-01", "y": 1, "e": "0755"}


def test_duplicate_key_is_an_error_for_that_document_only(tmp_path):
    write(tmp_path, "m.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\na: 1\na: 2\n---\n"
          + POD.format(name="b", host_pid="false"))
    inv = load([str(tmp_path)])
    assert sorted(r.name for r in inv.resources) == ["a", "b"]
    (skip,) = inv.skipped
    assert skip.line == 6 and "duplicate key" in skip.reason


def test_list_expands_and_keeps_pointer_and_line(tmp_path):
    items = [json.loads(json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"n{i}"}}))
             for i in range(3)]
    path = write(tmp_path, "l.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
    inv = load([str(path)])
    assert [r.name for r in inv.resources] == ["n0", "n1", "n2"]
    third = inv.resources[2]
    assert third.origin.pointer == "/items/2"
    line = third.origin.lines.resolve(["/items/2/metadata/name"])["/items/2/metadata/name"]
    assert path.read_text().splitlines()[line - 1].strip() == '"name": "n2"'


def test_helm_output_with_empty_documents_and_comments(tmp_path):
    text = "---\n# Source: chart/templates/a.yaml\n" + POD.format(name="a", host_pid="true") + "---\n---\n# empty\n"
    inv = load([str(write(tmp_path, "helm.yaml", text))])
    assert [r.name for r in inv.resources] == ["a"] and not inv.skipped


def test_stdin_json_and_yaml(tmp_path):
    doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    inv = load(["-"], stdin=io.BytesIO(json.dumps(doc).encode()))
    assert [r.name for r in inv.resources] == ["x"] and inv.inputs == ("-",)
    inv = load(["-"], stdin=io.BytesIO(POD.format(name="p", host_pid="true").encode()))
    assert [r.kind for r in inv.resources] == ["Pod"]


@pytest.mark.parametrize(
    "name, text, reason, line",
    [
        ("trunc.json", '{"apiVersion": "v1", "kind": ', "invalid JSON", 1),
        ("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [\n", "invalid YAML", 5),
        ("scalar.yaml", "just a string\n", "not a Kubernetes object", 1),
        ("nokind.yaml", "apiVersion: v1\nmetadata: {name: a}\n", "'kind'", 1),
        ("badname.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [1]}\n", "metadata.name", 1),
    ],
)
def test_broken_file_is_skipped_with_reason_and_line(tmp_path, name, text, reason, line):
    write(tmp_path, name, text)
    write(tmp_path, "good.yaml", POD.format(name="good", host_pid="true"))
    inv = load([str(tmp_path)])
    assert [r.name for r in inv.resources] == ["good"]
    (skip,) = inv.skipped
    assert skip.source.endswith(name) and reason in skip.reason and skip.line == line


def test_alias_bomb_is_refused(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    inv = load([str(tmp_path)], limits=Limits(max_expanded_nodes=100_000))
    (skip,) = inv.skipped
    assert "alias" in skip.reason


def test_aliases_within_bounds_are_fine(tmp_path):
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: &l {app: a}\n  annotations: *l\n"
    inv = load([str(write(tmp_path, "ok.yaml", text))])
    assert inv.resources[0].obj["metadata"]["annotations"] == {"app": "a"} and not inv.skipped


def test_deep_nesting_is_refused_without_crashing(tmp_path):
    write(tmp_path, "deep.yaml", "a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    inv = load([str(tmp_path)])
    (skip,) = inv.skipped
    assert "nesting deeper" in skip.reason


def test_size_limit_and_missing_path(tmp_path):
    write(tmp_path, "big.yaml", POD.format(name="big", host_pid="true"))
    inv = load([str(tmp_path / "big.yaml"), str(tmp_path / "nope.yaml")], limits=Limits(max_file_bytes=50))
    reasons = sorted(s.reason for s in inv.skipped)
    assert reasons[0].startswith("file larger than the 50-byte") and reasons[1] == "no such file or directory"


def test_not_utf8(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    (skip,) = load([str(tmp_path)]).skipped
    assert "UTF-8" in skip.reason


def test_directory_walk_is_recursive_sorted_and_ignores_other_files(tmp_path):
    write(tmp_path, "b/two.yml", POD.format(name="two", host_pid="false"))
    write(tmp_path, "a/one.yaml", POD.format(name="one", host_pid="false"))
    write(tmp_path, "a/notes.txt", "not yaml: [")
    write(tmp_path, ".git/x.yaml", "broken: [")
    inv = load([str(tmp_path)])
    assert [r.name for r in inv.resources] == ["one", "two"] and not inv.skipped


def test_a_recursive_alias_is_refused_not_expanded_forever(tmp_path):
    write(tmp_path, "cycle.yaml", "a: &a [*a, *a]\n")
    (skip,) = load([str(tmp_path)]).skipped
    assert "alias" in skip.reason


def test_numeric_looking_scalars_that_do_not_parse_stay_strings():
    """Found by the builder property test: `._` matches YAML 1.1's float pattern but is no
    number; go-yaml keeps it a string, and the run must not end on it."""
    from auditor.sources.yaml_loader import load_documents

    docs = [d for _, d, _ in load_documents("a: ._\nb: 0b_\nc: 0x_\nd: 1_0\n")]
    assert docs == [{"a": "._", "b": "0b_", "c": "0x_", "d": 10}]


def test_flow_brackets_are_counted_per_document():
    """Many small documents with `{}` need no event pre-pass; flow nesting split by document
    markers cannot add up, since libyaml stops at a marker inside a flow collection."""
    import subprocess
    import sys

    from auditor.sources.yaml_loader import _COMPOSABLE_DEPTH, _most_brackets_in_a_document, _too_deep_to_compose

    many = "".join(f"---\nkind: Pod\nmetadata: {{name: p{i}}}\nspec: {{}}\n" for i in range(_COMPOSABLE_DEPTH))
    assert _most_brackets_in_a_document(many) == 2 and _too_deep_to_compose(many) is None
    assert _too_deep_to_compose("---\n" + "[\n" * (_COMPOSABLE_DEPTH + 1)) is not None
    split = ("[\n" * 3000 + "---\n") * 12  # 36,000 levels if the markers did not end documents
    done = subprocess.run([sys.executable, "-c", "import sys; from auditor.sources.manifests import load; "
                           "inv = load(['-'], stdin=sys.stdin.buffer); print(len(inv.skipped))"],
                          input=split.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == b"1", done.stderr[-500:]
