"""Drift between runs is a pure function of two run states: property tests over random runs,
and the section as every output renders it (JSON schema, Markdown, Prometheus, policy reports)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from prometheus_client.parser import text_string_to_metric_families

from auditor.baseline import fingerprint
from auditor.incluster.drift import SEVERITIES, RunState, describe, drift, new_fingerprints, run_state, unknown
from auditor.reports import html, markdown, policyreport, prometheus, table
from auditor.reports.json_report import to_dict

SCHEMA = Draft202012Validator(json.loads(
    (Path(__file__).resolve().parents[2] / "auditor" / "schemas" / "report.schema.json").read_text()))
DRIFT_SCHEMA = Draft202012Validator({**SCHEMA.schema["properties"]["drift"], "$defs": SCHEMA.schema["$defs"]})

fingerprints = st.sampled_from([f"{n:032x}" for n in range(12)])  # few: repeats and overlaps are common
findings = st.lists(st.tuples(fingerprints, st.sampled_from(SEVERITIES)), max_size=25).map(lambda xs: tuple(sorted(xs)))
tenants = st.sampled_from("abcd")
pairs = st.sets(st.tuples(tenants, tenants), max_size=10).map(lambda s: tuple(sorted(s)))
states = st.builds(RunState, st.floats(0, 2e9), findings, pairs)


@settings(max_examples=200, deadline=None)
@given(states, states)
def test_new_and_fixed_account_for_every_finding(before, after):
    section = drift(before, after)
    new, fixed = section["findings"]["new"], section["findings"]["fixed"]
    assert section["status"] == "compared" and section["previous_run"] == before.finished
    assert new["count"] - fixed["count"] == len(after.findings) - len(before.findings)
    for side in (new, fixed):
        assert sum(side["by_severity"].values()) == side["count"]
    # a fingerprint is new only where this run has more of it than the last one
    more = Counter(fp for fp, _ in after.findings) - Counter(fp for fp, _ in before.findings)
    assert set(new["fingerprints"]) == set(more)
    assert DRIFT_SCHEMA.is_valid(section) and not DRIFT_SCHEMA.is_valid({**section, "status": "later"})


@settings(max_examples=200, deadline=None)
@given(states, states)
def test_drift_backwards_swaps_new_and_fixed_and_gained_and_lost(before, after):
    forward, backward = drift(before, after), drift(after, before)
    assert forward["findings"]["new"] == backward["findings"]["fixed"]
    assert forward["findings"]["fixed"] == backward["findings"]["new"]
    assert forward["reachability"]["gained"] == backward["reachability"]["lost"]
    gained = {(p["from_tenant"], p["to_tenant"]) for p in forward["reachability"]["gained"]}
    assert gained == set(after.reachable) - set(before.reachable)


@settings(max_examples=100, deadline=None)
@given(states)
def test_a_run_compared_with_itself_has_no_drift_and_a_first_run_claims_nothing(state):
    for section in (drift(state, state), drift(None, state), unknown("why")):
        assert section["findings"]["new"]["count"] == section["findings"]["fixed"]["count"] == 0
        assert section["reachability"] == {"gained": [], "lost": []}
    assert drift(None, state)["status"] == "first_run"


def with_drift(report, previous: RunState | None):
    return replace(report, sections={**report.sections, "drift": drift(previous, run_state(report, 10.0))})


def test_the_demo_with_drift_renders_in_every_output(demo):
    # the previous run had no finding of the first rule and one finding that is gone now
    first = demo.findings[0]
    kept = tuple(f for f in demo.findings if f.rule_id != first.rule_id)
    gone = "f" * 32
    previous = RunState(1.0, tuple(sorted([*((fingerprint(f), f.severity.label) for f in kept), (gone, "high")])),
                        (("nobody", "shop"),))
    report = with_drift(demo, previous)
    section = report.sections["drift"]
    assert section["findings"]["new"]["count"] == len(demo.findings) - len(kept)
    assert section["findings"]["fixed"] == {"count": 1, "by_severity": {**dict.fromkeys(SEVERITIES, 0), "high": 1},
                                            "fingerprints": [gone]}
    assert {"from_tenant": "nobody", "to_tenant": "shop"} in section["reachability"]["lost"]

    assert not list(SCHEMA.iter_errors(json.loads(json.dumps(to_dict(report)))))
    line = describe(section)
    assert line.startswith(f"{section['findings']['new']['count']} new (") and ", 1 fixed (1 high) finding(s); " in line
    assert f"**Drift since the previous run:** {markdown.esc(line, 400)}." in markdown.render(report)
    assert f"<b>Since the previous run:</b> {html.e(line)}</p>" in html.render(report)
    assert "Since the previous run: " + line[:40] in table.render(report, width=400)

    families = {f.name: f for f in text_string_to_metric_families(prometheus.render(report, finished=10.0))}
    samples = {tuple(sorted(s.labels.items())): s.value for s in families["isolation_audit_drift_findings"].samples}
    assert samples[(("change", "fixed"), ("severity", "high"))] == 1
    assert sum(v for k, v in samples.items() if ("change", "new") in k) == section["findings"]["new"]["count"]
    lost = [s.value for s in families["isolation_audit_reachability_drift_pairs"].samples
            if s.labels["change"] == "lost"]
    assert lost == [len(section["reachability"]["lost"])]
    assert families["isolation_audit_drift_compared"].samples[0].value == 1

    items = policyreport.to_list(report, now=10.0)["items"]
    results = [r for item in items for r in item["results"]]
    marked = {r["properties"]["fingerprint"] for r in results if r.get("properties", {}).get("drift") == "new"}
    assert marked == new_fingerprints(report) == {fingerprint(first)} | {fingerprint(f) for f in demo.findings
                                                                        if f.rule_id == first.rule_id}
    (summary,) = [r for r in results if r["policy"] == "drift"]
    assert summary["properties"]["fixed"] == "1" and summary["properties"]["fixed high"] == "1"
    assert summary["result"] == "warn"  # something new appeared


def test_without_a_drift_section_no_output_mentions_drift(demo):
    assert "drift" not in prometheus.render(demo, finished=1.0)
    assert "Drift" not in markdown.render(demo) and 'id="drift"' not in html.render(demo)
    assert "previous run" not in table.render(demo)
    results = [r for item in policyreport.to_list(demo, now=1.0)["items"] for r in item["results"]]
    assert not any(r["policy"] == "drift" or "drift" in r.get("properties", {}) for r in results)


def test_report_merge_accepts_the_reports_the_in_cluster_mode_writes(demo, tmp_path):
    from auditor.fleet import merge
    from auditor.reports.json_report import render

    paths = []
    for n, previous in enumerate((None, RunState(1.0, (), ()))):
        report = with_drift(replace(demo, source={**demo.source, "type": "cluster", "cluster": f"c{n}"}), previous)
        paths.append(tmp_path / f"c{n}.json")
        paths[-1].write_text(render(report))
    fleet = merge([str(p) for p in paths])
    assert fleet.one_lines() == [] and len(fleet.clusters) == 2
