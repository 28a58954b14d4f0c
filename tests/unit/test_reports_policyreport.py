"""Policy reports: valid against the CRDs' own schemas, as the API server would check and prune them.

tests/data/policyreport/ holds the openAPIV3Schema of each CRD version the renderer writes,
copied from the CRD YAML its `source` names (wg-policy-prototypes and openreports/reports-api).
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import Coverage, Finding, Location, Severity, Skipped
from auditor.reports import renderer
from auditor.reports.policyreport import APIS, LABELS, MAX_RESULTS, SOURCE, render, to_list

DATA = Path(__file__).resolve().parents[1] / "data" / "policyreport"
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NOW = 1_764_000_000.25


def _structural(schema):
    """The CRD schema as the API server applies it: unknown fields are pruned, so a field the
    schema does not name would be lost silently. Here it is an error."""
    if isinstance(schema, dict):
        out = {k: _structural(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out and out.get("type") == "object":
            out["additionalProperties"] = False
        if out.get("format") == "int32":
            out.update(minimum=-(2**31), maximum=2**31 - 1)
        if out.get("format") == "int64":
            out.update(minimum=-(2**63), maximum=2**63 - 1)
        return out
    if isinstance(schema, list):
        return [_structural(v) for v in schema]
    return schema


def _crds():
    crds = {}
    for path in DATA.glob("*.json"):
        doc = json.loads(path.read_text())
        assert doc["source"].startswith("https://github.com/")
        crds[(f"{doc['group']}/{doc['version']}", doc["kind"])] = (doc["scope"], _structural(doc["openAPIV3Schema"]))
    return crds


CRDS = _crds()


def check(document: dict) -> None:
    """Valid against the CRD of its kind, with names and labels Kubernetes accepts."""
    assert document["apiVersion"] == "v1" and document["kind"] == "List"
    for item in document["items"]:
        scope, schema = CRDS[(item["apiVersion"], item["kind"])]
        jsonschema.Draft7Validator(schema).validate(item)
        meta = item["metadata"]
        assert ("namespace" in meta) == (scope == "Namespaced")
        assert len(meta["name"]) <= 253 and DNS1123_SUBDOMAIN.match(meta["name"])
        if "namespace" in meta:
            assert DNS1123_LABEL.match(meta["namespace"])
        assert meta["labels"] == LABELS and all(LABEL_VALUE.match(v) for v in meta["labels"].values())
    names = [(i["kind"], i["metadata"].get("namespace"), i["metadata"]["name"]) for i in document["items"]]
    assert len(names) == len(set(names))


@pytest.fixture(scope="module")
def rules():
    from auditor.cli import _load_rules

    return _load_rules([])[0].rules


def test_every_api_the_renderer_offers_has_its_crds_vendored():
    for api, kinds in APIS.items():
        for kind in kinds:
            assert (api, kind) in CRDS


@pytest.mark.parametrize("api", sorted(APIS))
def test_demo_reports_are_valid_against_the_crds(demo, rules, api):
    document = json.loads(render(demo, rules, api=api, now=NOW))
    check(document)
    namespaced, cluster = APIS[api]
    items = document["items"]
    assert sum(1 for i in items if i["kind"] == cluster) == 1
    namespaces = {i["metadata"]["namespace"] for i in items if i["kind"] == namespaced}
    assert namespaces == {f.namespace for f in demo.findings if f.namespace}
    results = [r for i in items for r in i["results"]]
    assert len(results) == len(demo.findings)
    assert {r["source"] for r in results} == {SOURCE}
    assert all(r["timestamp"] == {"seconds": 1_764_000_000, "nanos": 250_000_000} for r in results)
    for item in items:
        assert item["summary"]["fail"] + item["summary"]["warn"] == len(item["results"])
        if api.startswith("openreports.io/"):
            assert item["source"] == SOURCE


def test_results_follow_the_scans_gate(demo, rules):
    results = [r for i in to_list(demo, rules, now=NOW)["items"] for r in i["results"]]
    failing = sum(1 for r in results if r["result"] == "fail")
    assert failing == len(demo.failing()) > 0
    assert sum(1 for r in results if r["result"] == "warn") == len(demo.findings) - failing
    ungated = to_list(replace(demo, fail_on=None), rules, now=NOW)["items"]
    assert {r["result"] for i in ungated for r in i["results"]} == {"warn"}


def test_a_finding_names_its_rule_resource_and_properties(demo, rules):
    finding = next(f for f in demo.findings if f.rule_id == "IA101" and f.namespace == "analytics")
    items = to_list(replace(demo, findings=(finding,)), rules, now=NOW)["items"]
    (result,) = [r for i in items for r in i["results"]]
    assert result["policy"] == "IA101" and result["rule"] == "host-pid" and result["severity"] == "critical"
    assert result["resources"] == [{"kind": finding.kind, "name": finding.name, "namespace": "analytics"}]
    props = result["properties"]
    assert props["tenant"] == "analytics" and "cis-k8s:5.2.3" in props["controls"]
    assert props["evidence /spec/template/spec/hostPID"] == "true"
    assert len(props["fingerprint"]) == 32


def test_inputs_not_audited_are_error_results_in_the_cluster_report(demo, rules):
    partial = replace(demo, coverage=replace(demo.coverage, skipped=(Skipped("bad.yaml", "not YAML", 3),)))
    document = to_list(partial, rules, now=NOW)
    check(document)
    (cluster,) = [i for i in document["items"] if i["kind"] == "ClusterPolicyReport"]
    errors = [r for r in cluster["results"] if r["result"] == "error"]
    assert len(errors) == 1 and cluster["summary"]["error"] == 1
    assert errors[0]["message"] == "not audited: bad.yaml:3: not YAML"


def test_an_empty_scan_still_writes_the_cluster_report(rules):
    from auditor.model import Report

    empty = Report("0", {"type": "files", "inputs": []}, (), Coverage((), 0, 0, 0, ()))
    document = to_list(empty, rules, now=NOW)
    check(document)
    assert [i["kind"] for i in document["items"]] == ["ClusterPolicyReport"]


def test_many_findings_split_into_reports_that_fit_etcd(demo, rules):
    base = next(f for f in demo.findings if f.namespace == "shop-web")
    many = tuple(replace(base, name=f"pod-{i}") for i in range(2 * MAX_RESULTS + 1))
    document = to_list(replace(demo, findings=many), rules, now=NOW)
    check(document)
    names = [i["metadata"]["name"] for i in document["items"] if i["kind"] == "PolicyReport"]
    assert names == [SOURCE, f"{SOURCE}-2", f"{SOURCE}-3"]
    assert all(len(i["results"]) <= MAX_RESULTS for i in document["items"])
    assert len(json.dumps(document)) < 1_500_000 * 3


def test_a_scan_of_several_clusters_names_each_clusters_reports_apart(demo, rules):
    base = next(f for f in demo.findings if f.namespace == "shop-web")
    findings = (replace(base, cluster="prod eu/1"), replace(base, cluster="stage"), replace(base, namespace=None))
    document = to_list(replace(demo, findings=findings), rules, now=NOW)
    check(document)
    reports = {(i["metadata"].get("annotations", {}).get("isolation-audit.io/cluster"), i["kind"]): i
               for i in document["items"]}
    assert set(reports) == {("prod eu/1", "PolicyReport"), ("stage", "PolicyReport"), (None, "ClusterPolicyReport")}
    assert reports[(None, "ClusterPolicyReport")]["metadata"]["name"] == SOURCE
    assert len({i["metadata"]["name"] for i in document["items"] if i["kind"] == "PolicyReport"}) == 2


def test_a_lone_surrogate_still_gives_utf8_json():
    finding = Finding("IA101", Severity.HIGH, "t", "m\ud800", None, "ns", "Pod", "p\udfff", None, None, (), {},
                      None, "r", cluster="c\ud800")
    text = render(_report((finding,)), now=NOW)
    text.encode("utf-8")
    check(json.loads(text))


def test_registered_as_a_format(demo):
    assert json.loads(renderer("policyreport")(demo, now=NOW))["kind"] == "List"


def test_the_output_is_deterministic(demo, rules):
    assert render(demo, rules, now=NOW) == render(demo, rules, now=NOW)


NAMES = st.text(st.characters(codec="utf-8"), max_size=300)


@settings(max_examples=60, deadline=None)
@given(namespace=NAMES, name=NAMES, tenant=NAMES, evidence=st.dictionaries(NAMES, st.one_of(NAMES, st.integers()),
                                                                           max_size=3))
def test_hostile_names_give_valid_objects(namespace, name, tenant, evidence):
    """Whatever a manifest names its namespace, the objects can be applied: a namespace that
    is not a valid one puts its findings in the cluster report, the name still in the result."""
    finding = Finding("IA101", Severity.HIGH, "t", name, tenant, namespace, "Pod", name, None, None, ("x:1",),
                      evidence, Location(name, 1), "r")
    report = _report((finding,))
    for api in APIS:
        document = to_list(report, None, api, NOW)
        check(document)
        (result,) = [r for i in document["items"] for r in i["results"]]
        if namespace:
            assert result["resources"][0]["namespace"] == namespace


def _report(findings):
    from auditor.model import Report

    return Report("0", {"type": "files", "inputs": []}, findings, Coverage((), 1, 1, 1, ()))
