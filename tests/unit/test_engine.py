"""The engine: deterministic, tenancy-aware, with waivers, overrides and selection."""
from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date
from pathlib import Path

from scan_helpers import audit_inventory, scan

from auditor.config import Config, Waiver, parse_config
from auditor.model import Inventory, Severity
from auditor.sources.manifests import load

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"


def keys(report):
    return [(f.rule_id, f.namespace, f.kind, f.name, f.container, f.message) for f in report.findings]


def test_order_of_inputs_does_not_change_the_report():
    inventory = load([str(DEMO / "cluster")])
    shuffled = list(inventory.resources)
    random.Random(7).shuffle(shuffled)
    a = audit_inventory(inventory)
    b = audit_inventory(replace(inventory, resources=tuple(shuffled)))
    assert keys(a) == keys(b) and len(a.findings) > 10


def test_list_separate_files_and_stdin_agree(tmp_path):
    doc = json.loads(json.dumps(load([str(DEMO / "cluster")]).resources[0].obj))
    items = [r.obj for r in load([str(DEMO / "cluster")]).resources]
    for i, item in enumerate(items):
        (tmp_path / f"{i:03}.json").write_text(json.dumps(item))
    as_files = scan([str(tmp_path)])
    as_list = scan([str(DEMO / "cluster")])
    assert keys(as_files) == keys(as_list) and doc


def test_owned_pods_are_audited_through_their_controller():
    report = scan([str(DEMO / "cluster")])
    names = {(f.kind, f.name) for f in report.findings}
    assert ("Job", "nightly-etl") in names
    assert not any(k == "Pod" and n.startswith(("nightly-etl-", "frontend-", "order-gateway-")) for k, n in names)


def test_container_inherits_pod_security_context_and_evidence_points_at_the_pod(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: t}\nspec:\n"
        "  securityContext:\n    runAsNonRoot: false\n  containers:\n  - name: a\n    image: x\n"
    )
    (finding,) = scan([str(path)], select=["IA108"]).findings
    assert finding.evidence == {"/spec/securityContext/runAsNonRoot": False}
    assert finding.location.line == 6


def test_tenancy_by_label_and_map():
    config = parse_config({"tenancy": {"label": "tenant", "map": {"quants": ["trading"]}}})
    report = scan([str(DEMO / "cluster")], config=config)
    tenants = {f.namespace: f.tenant for f in report.findings if f.namespace}
    assert tenants["shop-web"] == "shop" and tenants["shop-db"] == "shop"
    assert tenants["kube-system"] is None
    assert all(t != "trading" for t in tenants.values())


def test_severity_override_select_and_ignore():
    config = parse_config({"severity": {"IA107": "critical"}, "ignore": ["IA108"], "select": ["IA1"]})
    report = scan([str(DEMO / "cluster")], config=config)
    ids = {f.rule_id for f in report.findings}
    assert "IA108" not in ids and all(i.startswith("IA1") for i in ids)
    assert {f.severity for f in report.findings if f.rule_id == "IA107"} == {Severity.CRITICAL}


def test_waivers_apply_until_they_expire():
    inventory = load([str(DEMO / "cluster")])
    waiver = Waiver(rule="IA104", reason="sysctl init", expires=date(2026, 12, 31), selector={"namespace": "analytics"})
    active = audit_inventory(inventory, Config(waivers=(waiver,)))
    assert not [f for f in active.findings if f.rule_id == "IA104"]
    assert active.waivers[0].status == "active" and active.waivers[0].matched == 1

    expired = audit_inventory(inventory, Config(waivers=(replace(waiver, expires=date(2026, 1, 1)),)))
    assert [f.name for f in expired.findings if f.rule_id == "IA104"] == ["nightly-etl"]
    (meta,) = [f for f in expired.findings if f.rule_id == "IA001"]
    assert "expired on 2026-01-01" in meta.message and expired.waivers[0].status == "expired"


def test_skipped_inputs_mark_the_report_partial(tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: [\n")
    report = scan([str(tmp_path), str(DEMO / "cluster")])
    assert not report.coverage.complete and report.findings


def test_empty_inventory():
    report = audit_inventory(Inventory(resources=()))
    assert report.findings == () and report.coverage.complete and not report.failing()


def test_custom_kind_with_a_pod_template_is_audited(tmp_path):
    path = tmp_path / "rollout.yaml"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r, namespace: t}\nspec:\n"
        "  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n"
        "        securityContext: {privileged: true}\n"
    )
    (finding,) = scan([str(path)], select=["IA104"]).findings
    assert (finding.kind, finding.container, finding.location.line) == ("Rollout", "a", 10)


def test_memoising_by_projection_changes_no_finding(monkeypatch):
    """Every fixture in the repository, all rules at once: rule results memoised by the
    projection equal results computed on each full target."""
    import auditor.engine as engine

    paths = [str(p) for p in sorted((DEMO.parent).rglob("*.yaml")) if "probe" not in p.parts]
    memoised = scan(paths)
    monkeypatch.setattr(engine, "project", lambda value, reads: value)
    direct = scan(paths)
    assert len(memoised.findings) > 500
    assert memoised.findings == direct.findings


def test_reads_keep_whole_values_where_schemas_look_past_named_members():
    from auditor.projection import Reads, project

    target = {"a": {"x": 1, "y": [1, {"z": 2}]}, "b": {"p": 1, "q": 2}, "c": "dropped"}
    reads = Reads.of([
        {"properties": {"a": {"properties": {"y": {"items": {"required": ["z"]}}}}}},
        {"properties": {"b": {"patternProperties": {"^p": {"const": 1}}}}},
    ])
    assert project(target, reads) == {"a": {"y": [1, {"z": 2}]}, "b": {"p": 1, "q": 2}}
    recursive = Reads.of([{"$defs": {"n": {"properties": {"k": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"}])
    deep = {"k": {"k": {"k": {"other": 1}}}}
    assert project(deep, recursive) == {"k": deep["k"]}
    assert project({"q": 1}, Reads.of([{"$ref": "https://example.com/s.json"}])) == {"q": 1}


def test_reads_keep_what_evidence_pointers_show():
    from auditor.projection import Reads, project

    reads = Reads.of([{"required": ["a"]}], [["a", "b"], ["c", "*", "d"], ["e", "0"]])
    target = {"a": {"b": {"deep": 1}, "x": 2}, "c": [{"d": 1, "y": 2}], "e": ["kept", "also"], "f": 3}
    assert project(target, reads) == {"a": {"b": {"deep": 1}}, "c": [{"d": 1}], "e": ["kept", "also"]}
    members = {"a": {}, "c": {"k": {"d": 1, "y": 2}}}  # `*` over an object: every member, whole
    assert project(members, reads) == {"a": {}, "c": members["c"]}
