"""Prometheus metrics: read back with the official client's parser, hostile names included."""
from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families  # the test extra; the official parser

from auditor.model import Coverage, Finding, Report, Severity, Skipped
from auditor.reports import renderer
from auditor.reports.prometheus import render


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    families = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        families[family.name] = [(s.labels, s.value) for s in family.samples]
    return families


def one(families, name, **labels) -> float:
    (value,) = [v for lab, v in families[name] if lab == labels]
    return value


def test_demo_metrics_parse_and_add_up(demo):
    families = parse(render(demo, started=100.0, finished=112.5))
    by_rule = families["isolation_audit_findings"]
    assert sum(v for _, v in by_rule) == len(demo.findings)
    assert {lab["severity"] for lab, _ in by_rule} <= {s.label for s in Severity}
    shop = sum(v for lab, v in by_rule if lab["tenant"] == "shop")
    assert shop == sum(1 for f in demo.findings if f.tenant == "shop") > 0
    for severity, count in demo.counts().items():
        assert one(families, "isolation_audit_findings_by_severity", severity=severity) == count
    assert one(families, "isolation_audit_failing_findings") == len(demo.failing())
    nodes = demo.sections["nodes"]
    assert sum(v for _, v in families["isolation_audit_nodes"]) == len(nodes)
    shared = sum(1 for n in nodes if n["substrate"] == "bare-metal" and len(n["kernel_shared_by"]) > 1)
    assert one(families, "isolation_audit_nodes", substrate="bare-metal", kernel_shared="true") == shared
    verdicts = families["isolation_audit_placement_verdicts"]
    assert sum(v for _, v in verdicts) == len(demo.sections["placement"])
    assert one(families, "isolation_audit_coverage_complete") == 1
    assert one(families, "isolation_audit_last_run_timestamp_seconds") == 112.5
    assert one(families, "isolation_audit_last_run_duration_seconds") == 12.5


def test_reachability_pairs_and_fully_denied_ones(demo):
    families = parse(render(demo, finished=0.0))
    reach = demo.sections["reachability"]
    allowed = {(r["from_tenant"], r["to_tenant"]) for r in reach["intended"] if r["allowed"]}
    assert one(families, "isolation_audit_reachable_tenant_pairs", source="intended") == len(allowed) > 0
    zero = {(lab["from_tenant"], lab["to_tenant"]) for lab, v in families["isolation_audit_tenant_reachable"]
            if v == 0}
    assert ("analytics", "ledger") in zero  # the ledger's default deny


def test_partial_coverage_shows(demo):
    partial = replace(demo, coverage=replace(demo.coverage, skipped=(Skipped("a.yaml", "not YAML"),)))
    families = parse(render(partial, finished=0.0))
    assert one(families, "isolation_audit_coverage_complete") == 0
    assert one(families, "isolation_audit_skipped_inputs") == 1


def test_without_a_start_time_there_is_no_duration(demo):
    assert "isolation_audit_last_run_duration_seconds" not in parse(render(demo, finished=1.0))


def test_every_severity_substrate_and_verdict_has_a_series_even_at_zero():
    empty = Report("1", {"type": "files", "inputs": []}, (), Coverage((), 0, 0, 0, ()))
    families = parse(render(empty, finished=1.0))
    assert len(families["isolation_audit_findings_by_severity"]) == 5
    assert len(families["isolation_audit_nodes"]) == 6
    assert len(families["isolation_audit_placement_verdicts"]) == 5
    assert families["isolation_audit_findings"] == []


def test_registered_as_a_format(demo):
    assert "isolation_audit_findings" in parse(renderer("prometheus")(demo))


HOSTILE = ['"', "\\", "\n", '\\"', 'a"b\\c\nd', "}", "{x=\"1\"}", "# HELP", "\\n", "\u2028", "é", "\0"]
TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(HOSTILE)


@settings(max_examples=100, deadline=None)
@given(tenant=TEXT, rule=TEXT, cluster=TEXT, node=TEXT, version=TEXT)
def test_hostile_label_values_round_trip(tenant, rule, cluster, node, version):
    """Whatever a manifest names, the parser reads back exactly that name: escaping is right
    and no value can end a line, a label set or a sample."""
    finding = Finding(rule, Severity.HIGH, "t", "m", tenant or None, None, "Node", node, None, node, (), {}, None, "r",
                      cluster=cluster or None)
    nodes = ({"name": node, "substrate": "vm", "kernel_shared_by": [tenant, "b"]},)
    reach = {"intended": [{"from_tenant": tenant, "to_tenant": node, "allowed": True, "ports": []}]}
    report = Report(version, {"type": "files", "inputs": []}, (finding,), Coverage((), 1, 1, 1, ()),
                    sections={"nodes": nodes, "reachability": reach})
    families = parse(render(report, finished=1.0))
    ((labels, value),) = families["isolation_audit_findings"]
    expected = {"tenant": tenant or "(platform)", "rule": rule, "severity": "high"}
    if cluster:
        expected["cluster"] = cluster
    assert labels == expected and value == 1
    assert families["isolation_audit_node_kernel_tenants"] == [({"node": node, "substrate": "vm"}, 2.0)]
    assert families["isolation_audit_info"] == [({"version": version}, 1.0)]
    ((reach_labels, _),) = families["isolation_audit_tenant_reachable"]
    assert reach_labels == {"source": "intended", "from_tenant": tenant, "to_tenant": node}


def test_a_lone_surrogate_does_not_break_the_output():
    finding = Finding("IA101", Severity.LOW, "t", "m", "bad\ud800", None, "Node", "n", None, None, (), {}, None, "r")
    report = Report("1", {"type": "files", "inputs": []}, (finding,), Coverage((), 1, 1, 1, ()))
    text = render(report, finished=1.0)
    text.encode("utf-8")
    ((labels, _),) = parse(text)["isolation_audit_findings"]
    assert labels["tenant"] == "bad?"
