"""Node substrate classification, and placement verdicts with their arithmetic and sources."""
from __future__ import annotations

import json

import pytest
from scan_helpers import audit_inventory, write

from auditor.config import parse_config
from auditor.model import Fact, Origin, Resource
from auditor.overhead import parse_budget
from auditor.sources.manifests import load
from auditor.substrate import Override, classify


def node(provider_id=None, instance_type=None, name="n1", labels=None):
    labels = dict(labels or {})
    if instance_type:
        labels["node.kubernetes.io/instance-type"] = instance_type
    obj = {"metadata": {"name": name, "labels": labels}, "spec": {"providerID": provider_id} if provider_id else {}}
    return Resource("Node", "v1", None, name, obj)


@pytest.mark.parametrize("provider_id, instance_type, expected", [
    ("aws:///us-east-1a/i-0a1b2c3d4e5f60001", "m6i.2xlarge", "vm"),
    ("aws:///us-east-1a/i-0a1b2c3d4e5f60001", "c6i.metal", "bare-metal"),
    ("aws:///us-east-1a/i-0a1b2c3d4e5f60001", "m7i.metal-24xl", "bare-metal"),
    ("gce://my-project/us-central1-a/gke-pool-1-abcd", "n2-standard-8", "vm"),
    ("azure:///subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks/virtualMachines/0",
     "Standard_D8s_v5", "vm"),
    ("vsphere://42307a9c-8b8e-11ee-b9d1-0242ac120002", None, "vm"),
    ("openstack:///8c3f5e2a-1b4d-4e6f-9a7b-2c1d3e4f5a6b", None, "vm"),
    ("kubevirt://tenant-cluster-worker-abc", None, "vm"),
    ("metal3://openshift-machine-api/worker-0/4c4c4544-0042", None, "bare-metal"),
    ("equinixmetal://4d1a7b0c-2e3f-4a5b-8c6d-7e8f9a0b1c2d", "c3.small.x86", "bare-metal"),
    ("packet://4d1a7b0c-2e3f-4a5b-8c6d-7e8f9a0b1c2d", None, "bare-metal"),
    ("hrobot://1234567", None, "bare-metal"),
    ("oci://ocid1.instance.oc1.iad.abc", "BM.Standard3.64", "bare-metal"),
    ("oci://ocid1.instance.oc1.iad.abc", "VM.Standard.E4.Flex", "vm"),
    ("alicloud://cn-hangzhou.i-bp1", "ecs.ebmg7.32xlarge", "bare-metal"),
    ("kind://docker/kind/kind-worker", None, "unknown"),
    (None, None, "unknown"),
    ("foo://x", None, "unknown"),
])
def test_provider_ids_and_instance_types(provider_id, instance_type, expected):
    result = classify(node(provider_id, instance_type))
    assert result.kind == expected and result.evidence


def probe_fact(hypervisor: bool, node_name="n1") -> Fact:
    report = {
        "host": {
            "hypervisor": hypervisor,
            "hypervisor_evidence": ["/proc/cpuinfo flags: hypervisor"] if hypervisor else [],
        }
    }
    return Fact("node-probe", node_name, None, None, report, Origin(path="p.json"))


def test_observed_beats_declared_and_the_platform_beats_both():
    metal = node("aws:///x/i-1", "c6i.metal")
    seen = classify(metal, [probe_fact(True)])
    assert seen.kind == "vm" and seen.evidence[0].startswith("probe node-probe: hypervisor present")
    overridden = classify(metal, [probe_fact(True)], [Override({"names": ["n1"]}, "bare-metal")])
    assert overridden.kind == "bare-metal" and overridden.evidence[0].startswith("platform config")
    by_label = classify(
        node("aws:///x/i-1", labels={"pool": "hft"}), [], [Override({"matchLabels": {"pool": "hft"}}, "bare-metal")]
    )
    assert by_label.kind == "bare-metal"


def test_budget_parsing():
    assert parse_budget("5us") == 5 and parse_budget("2ms") == 2000 and parse_budget("0.5 ms") == 500
    assert parse_budget("1s") == 1_000_000 and parse_budget("800ns") == pytest.approx(0.8)
    with pytest.raises(ValueError, match="not a latency budget"):
        parse_budget("fast")


CLUSTER = [
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "metal", "labels": {"node.kubernetes.io/instance-type": "c6i.metal"}},
        "spec": {"providerID": "aws:///a/i-1"},
    },
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "vm", "labels": {"node.kubernetes.io/instance-type": "m6i.large"}},
        "spec": {"providerID": "aws:///a/i-2"},
    },
]


def workload(name, node, annotations=None, namespace="t"):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
            "spec": {"template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                                           "containers": [{"name": "c", "image": "x"}]}}}}


def placement(tmp_path, objects, config=None):
    write(tmp_path, "c.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER + objects}))
    report = audit_inventory(load([str(tmp_path / "c.json")]), config=config)
    return {p["name"]: p for p in report.sections["placement"]}


A = "isolation-audit.io/"


def test_every_verdict_with_its_arithmetic_and_sources(tmp_path):
    p = placement(tmp_path, [
        workload("hft", "metal", {A + "latency-budget": "5us", A + "workload-class": "hft"}),
        workload("web", "metal", {A + "latency-budget": "10ms"}),
        workload("ledger", "metal", {A + "mandate": "dedicated-hardware"}),
        workload("api", "vm", {A + "latency-budget": "2ms"}),
        workload("feed", "vm", {A + "latency-budget": "30us", A + "latency-dimension": "timer-jitter"}),
        workload("batch", "vm"),
    ])
    assert {n: e["verdict"] for n, e in p.items()} == {
        "hft": "bare-metal-justified", "web": "bare-metal-unjustified", "ledger": "bare-metal-justified",
        "api": "vm-adequate", "feed": "vm-insufficient", "batch": "no-budget"}
    hft = p["hft"]
    assert hft["budget"]["value_us"] == 5 and hft["budget"]["class"] == "hft"
    assert "annotations" in hft["budget"]["source"] and "owner's word" in hft["budget"]["source"]
    assert hft["overhead"] == {
        "node_class": "dedicated-vm",
        "dimension": "network-rtt",
        "value_us": 20,
        "range_us": [2, 20],
        "percentile": "p99.9",
        "source": hft["overhead"]["source"],
        "table": "k8s-isolation-audit built-in defaults",
        "citations": hft["overhead"]["citations"],
    }
    # the figure cites sources a reader can follow, never a file of the repository
    assert "https://blogs.vmware.com/performance/2013/09/" in hft["overhead"]["source"]
    assert all(c["url"].startswith("https://") and c["title"] and c["date"] for c in hft["overhead"]["citations"])
    assert hft["margin_us"] == -15 and hft["sandbox_eligible"] is False
    assert p["web"]["margin_us"] == 9980 and p["web"]["sandbox_eligible"] is True
    # a VM workload is compared with its own VM class (shared by default)
    assert p["feed"]["overhead"]["node_class"] == "shared-vm" and p["feed"]["overhead"]["value_us"] == 3000
    assert p["feed"]["margin_us"] == -2970
    assert any("mandate dedicated-hardware" in r for r in p["ledger"]["reasons"])


def test_the_platforms_word_wins_over_the_owners(tmp_path):
    config = parse_config({"placement": {"compare_with": "shared-vm", "budgets": [
        {"selector": {"namespace": "t", "name": "web"}, "latency_budget": "40us", "dimension": "network-rtt",
         "mandates": []}]}})
    p = placement(tmp_path, [workload("web", "metal", {A + "latency-budget": "10ms"})], config)
    web = p["web"]
    assert web["budget"]["value_us"] == 40 and "config placement.budgets[0]" in web["budget"]["source"]
    assert web["overhead"]["node_class"] == "shared-vm" and web["verdict"] == "bare-metal-justified"


def test_substrate_override_from_config_decides_the_verdict(tmp_path):
    config = parse_config({"substrate": {"overrides": [{"selector": {"names": ["vm"]}, "substrate": "bare-metal"}]}})
    p = placement(tmp_path, [workload("api", "vm", {A + "latency-budget": "2ms"})], config)
    assert p["api"]["node_substrate"] == "bare-metal" and p["api"]["verdict"] == "bare-metal-unjustified"


def test_bad_budget_text_is_reported_not_fatal(tmp_path):
    p = placement(tmp_path, [workload("odd", "metal", {A + "latency-budget": "fast"})])
    assert p["odd"]["verdict"] == "bare-metal-unjustified" and "not a duration" in p["odd"]["reasons"][0]


def latency_report(node_name: str, jitter_p999: float) -> dict:
    """A real `probe --latency` report (recorded on the CI machine) with a chosen jitter tail."""
    from pathlib import Path

    data = json.loads((Path(__file__).resolve().parents[2] / "fixtures/probe/latency-sample.json").read_text())
    data["probe"].update(node=node_name, namespace="t", pod=f"probe-{node_name}")
    data["latency"]["timer_jitter"]["p99_9_us"] = jitter_p999
    return data


def test_measured_overhead_replaces_the_default_and_names_its_probes(tmp_path):
    from auditor.sources.probe_reports import with_reports

    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "m.json").write_text(json.dumps(latency_report("metal", 30.0)))
    (probes / "v.json").write_text(json.dumps(latency_report("vm", 80.0)))
    write(tmp_path, "c.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER + [
        workload("feed", "metal", {A + "latency-budget": "40us", A + "latency-dimension": "timer-jitter"})]}))
    inventory = with_reports(load([str(tmp_path / "c.json")]), [str(probes)])
    assert not inventory.skipped
    feed = {p["name"]: p for p in audit_inventory(inventory).sections["placement"]}["feed"]
    assert feed["overhead"]["value_us"] == 50 and feed["overhead"]["node_class"] == "measured-vm"
    assert "probe v on vm" in feed["overhead"]["source"] and "probe m on metal" in feed["overhead"]["source"]
    assert feed["verdict"] == "bare-metal-justified" and feed["margin_us"] == -10
