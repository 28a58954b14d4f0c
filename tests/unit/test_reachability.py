"""Intended tenant reachability from NetworkPolicies, and its findings."""
from __future__ import annotations

import json

from scan_helpers import audit_inventory, write

import checks.reachability as reach
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
