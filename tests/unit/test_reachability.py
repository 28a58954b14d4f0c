"""Intended tenant reachability from NetworkPolicies, and its findings."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from scan_helpers import audit_inventory, write

import checks.reachability as reach
from auditor.model import Fact
from auditor.reports import renderer
from auditor.sources.manifests import load


def ns(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def deploy(namespace, name, labels, port=8080):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "x",
                                                           "ports": [{"name": "http", "containerPort": port}]}]}}}}


def policy(namespace, name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def run(tmp_path, objects, select=("IA4",)):
    write(tmp_path, "cluster.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return audit_inventory(load([str(tmp_path / "cluster.json")]), select=select)


def test_matrix_follows_policies(tmp_path):
    objects = [
        ns("shop"),
        ns("bank"),
        ns("open"),
        deploy("shop", "web", {"app": "web"}),
        deploy("bank", "api", {"app": "api"}),
        deploy("open", "svc", {"app": "svc"}),
        policy("bank", "deny", DENY_ALL),
        # bank admits shop's web pods on the named port only
        policy(
            "bank",
            "from-shop",
            {
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
                                "podSelector": {"matchLabels": {"app": "web"}},
                            }
                        ],
                        "ports": [{"port": "http"}],
                    }
                ],
            },
        ),
    ]
    report = run(tmp_path, objects)
    intended = {(r["from_tenant"], r["to_tenant"]): r["ports"] for r in report.sections["reachability"]["intended"]}
    assert intended == {("shop", "bank"): ["TCP/8080"], ("shop", "open"): ["all"], ("open", "shop"): ["all"]}
    by_rule = {}
    for f in report.findings:
        by_rule.setdefault(f.rule_id, set()).add(f.namespace)
    assert by_rule["IA403"] == {"bank", "open", "shop"}
    assert by_rule["IA405"] == {"shop", "open"}  # bank's egress is denied
    assert "IA404" not in by_rule  # bank cannot reach anything, so nothing is open to every tenant


def test_reachable_from_every_tenant(tmp_path):
    objects = [ns("a"), ns("b"), ns("c"), deploy("a", "x", {"app": "x"}), deploy("b", "y", {"app": "y"}),
               deploy("c", "db", {"app": "db"})]
    report = run(tmp_path, objects, select=["IA404"])
    assert sorted(f.name for f in report.findings) == ["db", "x", "y"]


def test_wildcard_keeps_an_open_cluster_small(tmp_path, monkeypatch):
    monkeypatch.setattr(reach, "WILDCARD_THRESHOLD", 4)
    objects = [o for i in range(4) for o in (ns(f"t{i}"), deploy(f"t{i}", "w", {"app": "w"}))]
    report = run(tmp_path, objects, select=["IA403"])
    rows = report.sections["reachability"]["intended"]
    assert [r["from_tenant"] for r in rows] == ["*"] * 4 and len(report.findings) == 4


def test_host_network_and_platform_pods_are_outside_the_matrix(tmp_path):
    hostnet = deploy("shop", "agent", {"app": "agent"})
    hostnet["spec"]["template"]["spec"]["hostNetwork"] = True
    objects = [ns("shop"), ns("kube-system"), hostnet, deploy("kube-system", "dns", {"k8s-app": "dns"})]
    assert run(tmp_path, objects).sections["reachability"]["intended"] == []


def test_each_pair_says_which_policy_and_rule_decided(tmp_path):
    objects = [
        ns("shop"),
        ns("bank"),
        ns("open"),
        deploy("shop", "web", {"app": "web"}),
        deploy("bank", "api", {"app": "api"}),
        deploy("open", "svc", {"app": "svc"}),
        policy("bank", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        policy(
            "bank",
            "from-shop",
            {
                "podSelector": {},
                "ingress": [
                    {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}]}
                ],
            },
        ),
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "wall"},
            "spec": {
                "tier": "Admin",
                "priority": 7,
                "subject": {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "open"}}},
                "ingress": [
                    {
                        "action": "Deny",
                        "from": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}],
                        "protocols": [{"tcp": {"destinationPort": {"number": 22}}}],
                    }
                ],
            },
        },
    ]
    report = run(tmp_path, objects)
    section = report.sections["reachability"]
    allowed = {(r["from_tenant"], r["to_tenant"]): r for r in section["intended"]}
    assert allowed[("shop", "bank")]["decided_by"] == [
        {
            "kind": "NetworkPolicy",
            "name": "bank/from-shop",
            "rule": "ingress[0]",
            "tier": "NetworkPolicy",
            "action": "Allow",
        }
    ]
    assert allowed[("bank", "shop")]["decided_by"] == []  # no policy at either end: allowed by default
    denied = {(r["from_tenant"], r["to_tenant"]): r for r in section["denied"]}
    assert set(denied) == {("open", "bank"), ("shop", "open")}
    assert [d["name"] for d in denied[("open", "bank")]["decided_by"]] == ["bank/deny", "bank/from-shop"]
    assert denied[("open", "bank")]["decided_by"][0]["rule"] == "isolation"
    assert denied[("shop", "open")] == {
        "from_tenant": "shop", "to_tenant": "open", "allowed": False, "ports": ["TCP/22"],
        "decided_by": [{"kind": "ClusterNetworkPolicy", "name": "wall", "rule": "ingress[0]", "tier": "Admin",
                        "priority": 7, "action": "Deny"}]}
    assert allowed[("shop", "open")]["ports"] == ["SCTP/1-65535", "TCP/1-21", "TCP/23-65535", "UDP/1-65535"]
    # the matrices say it too: the HTML cell's title, the terminal's "decided by" column
    html = renderer("html")(report)
    assert "decided by NetworkPolicy bank/from-shop ingress[0] (NetworkPolicy)" in html
    assert "decided by NetworkPolicy bank/deny isolation (NetworkPolicy)" in html
    assert "bank/from-shop" in renderer("table")(report)  # the column folds at 80 columns
    # a rule that admits everyone still decided: the row names it
    everyone = policy("bank", "from-shop", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})
    rows = run(tmp_path, objects[:6] + [everyone]).sections["reachability"]["intended"]
    assert [r["decided_by"] for r in rows if r["to_tenant"] == "bank"] == [
        [
            {
                "kind": "NetworkPolicy",
                "name": "bank/from-shop",
                "rule": "ingress[0]",
                "tier": "NetworkPolicy",
                "action": "Allow",
            }
        ]
    ] * 2
    schema = json.loads((Path(reach.__file__).parents[1] / "auditor" / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(json.loads(renderer("json")(report)), schema)


def test_a_denial_of_many_classes_names_every_other_tenant_as_star(tmp_path, monkeypatch):
    monkeypatch.setattr(reach, "DENIED_DETAIL", 1)
    objects = [ns("a"), ns("b"), ns("c"), deploy("a", "x", {"app": "x"}), deploy("b", "y", {"app": "y"}),
               deploy("c", "z", {"app": "z"}), policy("a", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})]
    denied = run(tmp_path, objects).sections["reachability"]["denied"]
    assert [(r["from_tenant"], r["to_tenant"]) for r in denied] == [("*", "a")]


def _daemonset(namespace, name, *images):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": {
                "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}}}}


def test_the_network_plugin_is_named_and_flannel_alone_enforces_nothing(tmp_path):
    flannel = _daemonset("kube-flannel", "kube-flannel-ds", "docker.io/flannel/flannel:v0.25.6")
    canal = _daemonset("kube-system", "canal", "docker.io/calico/node:v3.28.1", "quay.io/coreos/flannel:v0.15.1")
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "annotations": {
        "io.cilium.network.ipv4-pod-cidr": "10.0.0.0/24"}}}
    deny = policy("bank", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    cases = {
        "flannel": ([flannel, deny], ["flannel"], True),
        "canal": ([canal, deny], ["calico"], False),
        "cilium by its node annotation": ([node, deny], ["cilium"], False),
        "nothing known": ([deny], [], False),
    }
    for what, (objects, engines, fires) in cases.items():
        report = run(tmp_path, [ns("bank"), ns("shop"), deploy("bank", "api", {}), deploy("shop", "web", {})] + objects,
                     select=["IA410"])
        enforcer = report.sections["reachability"]["enforcer"]
        assert enforcer["engines"] == engines and enforcer["enforces_none"] is fires, what
        assert [f.name for f in report.findings] == (["deny"] if fires else []), what
        assert ("network plugin: " + ", ".join(engines) if engines else "network plugin not identified") \
            in renderer("html")(report), what


# -- observed drift from the tool's own reach pod (`scan --probe`) ------------------------------------

def _probe_pod_fact(labels, network=None, result="reachable"):
    """A reach fact from the tool's Job pod in shop: created after the inventory was listed,
    so only its labels (and the addresses it reports) say what the policies make of it."""
    report = {"reach": [{"tenant": "bank", "address": "10.0.9.9", "port": 8080, "protocol": "TCP",
                         "namespace": "bank", "pod": "api-7d9f-x2", "result": result}]}
    if network is not None:
        report["network"] = network
    return Fact(probe_id="reach-shop", node="n1", namespace="shop", pod="ia-r1-reach-shop-abcde", report=report,
                pod_labels=labels)


def _drift_cluster():
    """bank admits only shop's web pods and addresses in 10.1.0.0/16; shop may open anything in bank."""
    return [
        ns("shop"), ns("bank"),
        deploy("shop", "web", {"app": "web"}), deploy("bank", "api", {"app": "api"}),
        policy("bank", "from-web", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
             "podSelector": {"matchLabels": {"app": "web"}}},
            {"ipBlock": {"cidr": "10.1.0.0/16"}}]}]}),
        policy("shop", "to-bank", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "bank"}}}]}]}),
    ]


def _audit_with(tmp_path, facts):
    write(tmp_path, "cluster.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": _drift_cluster()}))
    inventory = replace(load([str(tmp_path / "cluster.json")]), facts=tuple(facts))
    return audit_inventory(inventory, select=("IA4",))


def _interfaces(*addresses):
    return {"interfaces": [{"name": "eth0", "mac": None, "addresses": list(addresses)}], "routes": [],
            "neighbours": []}


@pytest.mark.parametrize("labels, network, denied", [
    ({"app": "probe"}, None, True),  # no policy admits these labels: the connection is drift
    ({"app": "web"}, None, False),  # the allowing policy selects the probe pod
    ({}, _interfaces("127.0.0.1/8", "fe80::1/64", "10.1.4.7/24"), False),  # its address is in the ipBlock
    ({}, _interfaces("10.2.4.7/24"), True),
])
def test_a_reach_pod_missing_from_the_inventory_is_judged_by_its_labels(tmp_path, labels, network, denied):
    without = _audit_with(tmp_path, [])
    report = _audit_with(tmp_path, [_probe_pod_fact(labels, network)])
    drift = [f for f in report.findings if f.rule_id == "IA407"]
    assert [(f.namespace, f.name, f.evidence["from"]) for f in drift] == (
        [("bank", "api", "shop/ia-r1-reach-shop-abcde")] if denied else [])
    # the tool's own pod changes neither the intended matrix nor any other finding
    assert report.sections["reachability"]["intended"] == without.sections["reachability"]["intended"]
    assert report.sections["reachability"]["denied"] == without.sections["reachability"]["denied"]
    assert [f for f in report.findings if f.rule_id != "IA407"] == list(without.findings)


def test_a_filtered_connection_the_policies_allow_the_reach_pod_is_reported(tmp_path):
    report = _audit_with(tmp_path, [_probe_pod_fact({"app": "web"}, result="filtered")])
    assert [(f.rule_id, f.name) for f in report.findings if f.rule_id in ("IA407", "IA408")] == [("IA408", "api")]


def test_a_reach_fact_without_labels_from_an_unknown_pod_is_not_judged(tmp_path):
    report = _audit_with(tmp_path, [_probe_pod_fact(None)])
    assert [f for f in report.findings if f.rule_id in ("IA407", "IA408")] == []
