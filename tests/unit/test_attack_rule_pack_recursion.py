"""Attack: a third-party rule pack whose condition recurses without the instance bounding it.
A chain of 2,000 `$defs` each referring to the next, or `a: {anyOf: [{$ref: a}]}`, passed
`rules validate` and then ended every scan with 'internal error: RecursionError' (nothing
audited); `$defs` that each refer to the next twice doubled the evaluation at every step.
Such a pack is now refused when it loads, in one line, like an unresolvable reference."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile_rule_packs import PACK

from auditor.rules import RulePackError, load_pack

REPO = Path(__file__).resolve().parents[2]

# Pack-level $defs are spliced into PACK's own through a second `$defs` document member.
DEFS_PACK = PACK.replace("$defs:\n", "$defs:\n{defs}\n", 1)


def _pack(tmp_path: Path, defs: list[str], match: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(DEFS_PACK.format(defs="\n".join(f"  {d}" for d in defs), match=match))
    return path


def _chain(n: int) -> list[str]:
    return [f"d{i}: {{$ref: '#/$defs/d{i + 1}'}}" for i in range(n)] + [f"d{n}: {{required: [hostPID]}}"]


def _doubling(n: int) -> list[str]:
    return ([f"d{i}: {{allOf: [{{$ref: '#/$defs/d{i + 1}'}}, {{$ref: '#/$defs/d{i + 1}'}}]}}" for i in range(n)]
            + [f"d{n}: {{required: [hostPID]}}"])


REFUSED = {
    "a long chain": (_chain(2000), "{$ref: '#/$defs/d0'}", "nests deeper than 100 levels"),
    "a chain just past the bound": (_chain(120), "{$ref: '#/$defs/d0'}", "nests deeper than 100 levels"),
    "anyOf itself": (["a: {anyOf: [{$ref: '#/$defs/a'}]}"], "{$ref: '#/$defs/a'}", "refers back to itself"),
    "not itself": (["a: {not: {$ref: '#/$defs/a'}}"], "{$ref: '#/$defs/a'}", "refers back to itself"),
    "a mutual pair": (["a: {allOf: [{$ref: '#/$defs/b'}]}", "b: {if: {$ref: '#/$defs/a'}}"], "{$ref: '#/$defs/a'}",
                      "refers back to itself"),
    "a pointer to itself": ([], "{anyOf: [{$ref: '#/properties/spec'}]}", "refers back to itself"),
    "doubling": (_doubling(40), "{$ref: '#/$defs/d0'}", "expands past 1000000 subschemas"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_endless_condition_is_refused_when_the_pack_loads(tmp_path, case):
    defs, match, problem = REFUSED[case]
    path = _pack(tmp_path, defs, match)
    with pytest.raises(RulePackError) as err:
        load_pack(path)
    message = str(err.value)
    assert message.startswith(f"{path}:") and "rules[0].match: " in message and problem in message, message


@pytest.mark.parametrize(("defs", "match"), [
    (_chain(40), "{$ref: '#/$defs/d0'}"),
    (["n: {properties: {spec: {$ref: '#/$defs/n'}}}"], "{$ref: '#/$defs/n'}"),  # consumes the value: bounded
    ([], "{$ref: '#'}"),  # under `spec` in PACK: recursion through a member
    (_doubling(12), "{$ref: '#/$defs/d0'}"),
], ids=["short chain", "recursion through a member", "root through a member", "small doubling"])
def test_bounded_conditions_still_load(tmp_path, defs, match):
    assert [r.id for r in load_pack(_pack(tmp_path, defs, match))] == ["TP001"]


def test_the_scan_refuses_the_pack_in_one_line_and_never_a_recursion_error(tmp_path):
    path = _pack(tmp_path, _chain(2000), "{$ref: '#/$defs/d0'}")
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", str(REPO / "fixtures" / "demo" / "cluster"),
                           "--rules", str(path), "--format", "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "RecursionError" not in done.stderr and "nests deeper" in done.stderr


def test_a_long_recursion_through_members_does_not_end_the_scan(tmp_path):
    defs = ([f"d{i}: {{$ref: '#/$defs/d{i + 1}'}}" for i in range(90)]
            + ["d90: {properties: {x: {$ref: '#/$defs/d0'}}}"])
    path = tmp_path / "deeprec.yaml"
    path.write_text(DEFS_PACK.replace("target: pod", "target: object\n    kinds: [ConfigMap]").format(
        defs="\n".join(f"  {d}" for d in defs), match="{}").replace(
        "match:\n      required: [spec]\n      properties:\n        spec: {}", "match: {$ref: '#/$defs/d0'}"))
    value = "1"
    for _ in range(95):
        value = "{x: " + value + "}"
    manifest = tmp_path / "deep.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: d, namespace: a}}\nx: {value}\n")
    assert [r.id for r in load_pack(path)] == ["TP001"]
    done = subprocess.run([sys.executable, "-m", "auditor", "scan", str(manifest), "--rules", str(path),
                           "--format", "json"], capture_output=True, text=True, timeout=120)
    assert "RecursionError" not in done.stderr, done.stderr
    # the rule that could not be evaluated is named and the audit is partial, never a silent pass
    assert done.returncode == 2, done.stderr
    skipped = json.loads(done.stdout)["coverage"]["skipped"]
    assert any(s["source"] == "rule TP001" and "could not be evaluated" in s["reason"] for s in skipped), skipped
