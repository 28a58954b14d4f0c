"""Third-party rule packs are data: a reference a condition cannot resolve inside the pack is
refused when the pack loads, in one line, never an 'internal error' in the middle of a scan."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditor.rules import RulePackError, load_pack

REPO = Path(__file__).resolve().parents[2]

PACK = """pack: third-party
$defs:
  host_pid: {{required: [hostPID], properties: {{hostPID: {{const: true}}}}}}
rules:
  - id: TP001
    name: the-rule
    title: t
    severity: low
    controls: ["x:1"]
    message: "{{kind}} {{name}}"
    remediation: r
    docs: {{what: w, why: because, bad_example: "", good_example: "", references: []}}
    target: pod
    match:
      required: [spec]
      properties:
        spec: {match}
"""


def pack(tmp_path: Path, match: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(PACK.format(match=match))
    return path


@pytest.mark.parametrize("match, problem", [
    ('{$ref: "https://rules.example/evil.json"}',
     "$ref 'https://rules.example/evil.json' points outside the pack: only '#/...' references inside the rule "
     "pack are allowed (nothing is fetched)"),
    ('{$ref: "other.yaml#/$defs/x"}', "$ref 'other.yaml#/$defs/x' points outside the pack"),
    ('{$ref: "#/$defs/missing"}', "$ref '#/$defs/missing' does not resolve inside the rule pack"),
    ('{anyOf: [{$ref: "#/$defs/host_pid"}, {$ref: "#/$defs/host_ipc"}]}',
     "$ref '#/$defs/host_ipc' does not resolve inside the rule pack"),
    ('{$id: "https://rules.example/x", $ref: "#/$defs/host_pid"}', "$id is not supported in rule conditions"),
    ('{$dynamicRef: "#meta"}', "$dynamicRef is not supported in rule conditions"),
], ids=["remote", "relative-file", "missing-def", "missing-in-anyOf", "id", "dynamic-ref"])
def test_an_unresolvable_reference_is_refused_when_the_pack_loads(tmp_path, match, problem):
    path = pack(tmp_path, match)
    with pytest.raises(RulePackError) as err:
        load_pack(path)
    message = str(err.value)
    assert message.startswith(f"{path}:") and "rules[0].match: " in message and problem in message, message
    assert "\n" not in message
    line = int(message.split(":", 2)[1])
    assert path.read_text().splitlines()[line - 1].strip().startswith("spec: {")  # the line of the reference


@pytest.mark.parametrize("match", [
    '{$ref: "#/$defs/host_pid"}',  # pack-level $defs are the condition's own
    "{properties: {$ref: {const: 1}, $id: {type: string}}}",  # fields named like keywords are just names
    '{const: {$ref: "https://not.a/schema"}}',  # data, not a schema
    '{$ref: "#"}',
], ids=["pack-defs", "field-names", "const-data", "root"])
def test_references_inside_the_pack_and_keyword_like_names_are_fine(tmp_path, match):
    assert [r.id for r in load_pack(pack(tmp_path, match))] == ["TP001"]


def test_the_cli_refuses_such_a_pack_in_one_line_before_scanning(tmp_path):
    path = pack(tmp_path, '{$ref: "http://127.0.0.1:9/evil.json"}')
    for argv in (["rules", "validate", str(path)],
                 ["scan", str(REPO / "fixtures" / "demo" / "cluster"), "--rules", str(path), "--format", "json"]):
        done = subprocess.run([sys.executable, "-m", "auditor", *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stdout == "", (argv, done.stdout[:200])
        assert done.stderr.count("\n") == 1 and "internal error" not in done.stderr, done.stderr
        assert done.stderr.startswith(f"k8s-isolation-audit: error: {path}:"), done.stderr
