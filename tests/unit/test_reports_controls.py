"""Control reports per framework: fail / pass / not-tested / manual, with findings, evidence, waivers."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from auditor.cli import _load_rules
from auditor.config import Config, load_config
from auditor.model import Finding, Severity
from auditor.reports.controls import FRAMEWORKS, MANUAL, SEGMENTATION, build, render_json, render_markdown

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
OBSERVED = [{"from_tenant": "shop", "to_tenant": "ledger", "allowed": False, "ports": ["TCP/8080"],
             "result": "filtered", "probe": "p1"}]


@pytest.fixture(scope="module")
def config():
    return load_config(str(DEMO / "config.yaml"))


@pytest.fixture(scope="module")
def rules(config):
    return [r for r in _load_rules([])[0].rules if config.active(r)]


def control(data, cid):
    scheme = cid.split(":", 1)[0]
    fw = next(f for f in data["frameworks"] if f["id"] == scheme)
    return next(c for c in fw["controls"] if c["id"] == cid)


def test_one_report_per_framework_with_statuses(demo, rules):
    data = build(demo, rules)
    assert [f["id"] for f in data["frameworks"]] == list(FRAMEWORKS)
    for fw in data["frameworks"]:
        assert sum(fw["summary"].values()) == len(fw["controls"])
        for c in fw["controls"]:
            assert c["status"] in ("pass", "fail", "not-tested", "manual") and c["reason"] and c["title"]


def test_fail_when_an_active_finding_maps_to_the_control(demo, rules):
    data = build(demo, rules)
    c = control(data, "cis-k8s:5.2.3")  # hostPID: the demo has two
    assert c["status"] == "fail"
    assert {f["rule_id"] for f in c["findings"]} == {"IA101"}
    assert all(f["location"] and f["evidence"] for f in c["findings"])


def test_pass_when_its_rules_ran_and_found_nothing(demo, rules):
    c = control(build(demo, rules), "cis-k8s:5.2.4")  # hostIPC: nothing in the demo
    assert c["status"] == "pass" and c["findings"] == [] and c["rules"]
    assert any("workload" in e for e in c["evidence"])


def test_not_tested_when_no_rule_mapping_to_it_ran(demo, rules):
    without = [r for r in rules if "cis-k8s:5.2.4" not in r.controls]
    c = control(build(demo, without, catalog=rules), "cis-k8s:5.2.4")
    assert c["status"] == "not-tested" and "IA102" in c["reason"]
    assert c["rules"] and not any(r["ran"] for r in c["rules"])
    ids = {c["id"] for fw in build(demo, without)["frameworks"] for c in fw["controls"]}
    assert "cis-k8s:5.2.4" not in ids  # without the catalog the tool cannot know the control


def test_rules_that_need_probes_do_not_pass_without_probes(demo, rules):
    probe_only = [r for r in rules if r.target == "probe"]
    data = build(replace(demo, findings=()), probe_only, probes_ran=False)
    statuses = {c["status"] for fw in data["frameworks"] for c in fw["controls"] if c["rules"]}
    assert statuses == {"not-tested"}
    data = build(replace(demo, findings=()), probe_only, probes_ran=True)
    assert {c["status"] for fw in data["frameworks"] for c in fw["controls"] if c["rules"]} == {"pass"}


def test_manual_controls_are_listed(demo, rules):
    data = build(demo, rules)
    for cid in MANUAL:
        c = control(data, cid)
        assert c["status"] == "manual" and c["reason"] == MANUAL[cid]


def _ia407(demo) -> Finding:
    rule = next(r for r in _load_rules([])[0].rules if r.id == "IA407")
    return Finding(rule_id="IA407", severity=Severity.CRITICAL, title=rule.title, message="shop -> ledger connected",
                   tenant="ledger", namespace="ledger", kind="Deployment", name="api", container=None, node=None,
                   controls=rule.controls, evidence={"from": "shop/web-0", "to": "ledger/api-0", "port": "TCP/8080"},
                   location=None, remediation=rule.remediation)


def test_pci_segmentation_testing_follows_the_observed_reachability(demo, rules):
    assert control(build(demo, rules), SEGMENTATION)["status"] == "not-tested"  # no probe --reach in the demo
    probed = replace(
        demo, sections={**demo.sections, "reachability": dict(demo.sections["reachability"], observed=OBSERVED)}
    )
    passed = control(build(probed, rules), SEGMENTATION)
    assert passed["status"] == "pass" and any("shop -> ledger: filtered" in e for e in passed["evidence"])
    broken = replace(probed, findings=(*probed.findings, _ia407(demo)))
    failed = control(build(broken, rules), SEGMENTATION)
    assert failed["status"] == "fail" and "IA407" in failed["reason"]
    assert any(f["rule_id"] == "IA407" for f in failed["findings"])


def test_waivers_are_shown_on_their_controls(demo, rules):
    data = build(demo, rules)
    c = control(data, "nsa-cisa:resource-policies")  # IA110 is waived for trading in the demo config
    assert any(w["rule"].startswith("IA110") and w["status"] == "active" for w in c["waivers"])


def test_json_and_markdown_renderings(demo, rules):
    data = build(demo, rules)
    assert json.loads(render_json(data)) == json.loads(json.dumps(data, default=str))
    md = render_markdown(data)
    for title in FRAMEWORKS.values():
        assert f"## {title}" in md
    assert "| 5.2.3 |" in md and "❌ fail" in md and "✅ pass" in md and "📝 manual" in md
    assert "➖ not tested" in md  # PCI 11.4.5 without probes


def test_a_config_that_selects_nothing_tests_nothing(demo):
    catalog = _load_rules([])[0].rules
    data = build(replace(demo, findings=()), [r for r in catalog if Config(select=("IA999",)).active(r)],
                 catalog=catalog)
    statuses = [c["status"] for fw in data["frameworks"] for c in fw["controls"]]
    assert set(statuses) == {"manual", "not-tested"} and statuses.count("not-tested") > 20
