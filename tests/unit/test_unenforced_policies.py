"""Policies nothing enforces: every policy kind on a plugin that enforces none (IA410), and
kinds the detected plugins do not implement (IA411), over every plugin x kind pair."""
from __future__ import annotations

import json

import pytest
from scan_helpers import audit_inventory, write

from auditor import cni
from auditor.sources.manifests import load

IMAGES = {
    "calico": "docker.io/calico/node:v3.28.1",
    "cilium": "quay.io/cilium/cilium:v1.16.1",
    "antrea": "antrea/antrea-agent-ubuntu:v2.1.0",
    "ovn-kubernetes": "ghcr.io/ovn-org/ovn-kubernetes/ovn-kube-ubuntu:master",
    "kube-router": "docker.io/cloudnativelabs/kube-router:v2.1.0",
    "weave": "weaveworks/weave-npc:2.8.1",
    "flannel": "docker.io/flannel/flannel:v0.25.6",
    "kube-network-policies": "registry.k8s.io/networking/kube-network-policies:v0.7.0",
}
# what each engine is documented to leave unenforced (cni.py cites the documentation)
IGNORED = {
    "calico": {"cilium.io"},
    "cilium": {"projectcalico.org", "crd.projectcalico.org", "policy.networking.k8s.io"},
    "flannel": {"networking.k8s.io", "policy.networking.k8s.io", "cilium.io", "projectcalico.org",
                "crd.projectcalico.org"},
}
OWN_KIND_GROUPS = {"cilium.io", "projectcalico.org", "crd.projectcalico.org"}


def daemonset(engine):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": f"{engine}-ds", "namespace": "kube-system"},
            "spec": {"template": {"metadata": {"labels": {"app": engine}},
                                  "spec": {"containers": [{"name": "agent", "image": IMAGES[engine]}]}}}}


def policy_object(kind: cni.PolicyKind, namespace="bank", name="wall"):
    version = {"networking.k8s.io": "v1", "policy.networking.k8s.io": "v1alpha1", "cilium.io": "v2",
               "projectcalico.org": "v3", "crd.projectcalico.org": "v1"}[kind.group]
    if kind.kind == "ClusterNetworkPolicy":
        version = "v1alpha2"
    namespaced = kind.kind in ("NetworkPolicy", "CiliumNetworkPolicy")
    meta = {"name": name, **({"namespace": namespace} if namespaced else {})}
    return {"apiVersion": f"{kind.group}/{version}", "kind": kind.kind, "metadata": meta, "spec": {}}


def findings(tmp_path, objects, rule):
    write(tmp_path, "cluster.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    return audit_inventory(load([str(tmp_path / "cluster.json")]), select=[rule]).findings


@pytest.mark.parametrize("engine", sorted(IMAGES))
def test_every_policy_kind_on_every_plugin(tmp_path, engine):
    """IA410 fires for every kind on flannel; IA411 exactly for the kinds a plugin is documented
    to leave unenforced (its rivals' own kinds; the cluster-wide kinds on Cilium), never both."""
    base = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bank"}}, daemonset(engine)]
    for kind in cni.POLICY_KINDS:
        objects = base + [policy_object(kind)]
        ia410 = findings(tmp_path, objects, "IA410")
        ia411 = findings(tmp_path, objects, "IA411")
        ignored = kind.group in IGNORED.get(engine, set()) or (
            kind.group in OWN_KIND_GROUPS and kind.only != (engine,) and engine != "flannel")
        assert [f.kind for f in ia410] == ([kind.kind] if engine == "flannel" else []), (engine, kind)
        assert [f.kind for f in ia411] == ([kind.kind] if ignored and engine != "flannel" else []), (engine, kind)
        for f in ia411:
            assert kind.label in f.message and engine in f.message and f.evidence["engines"] == [engine]


def test_an_unidentified_plugin_is_not_judged(tmp_path):
    objects = [policy_object(k, name=f"p{i}") for i, k in enumerate(cni.POLICY_KINDS)]
    assert findings(tmp_path, objects, "IA411") == () and findings(tmp_path, objects, "IA410") == ()


def test_a_plugin_is_found_by_the_crds_it_installs(tmp_path):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "felixconfigurations.crd.projectcalico.org"},
           "spec": {"group": "crd.projectcalico.org", "names": {"kind": "FelixConfiguration"}}}
    cnp = policy_object(cni.policy_kind("cilium.io/v2", "CiliumNetworkPolicy"))
    [found] = findings(tmp_path, [crd, cnp], "IA411")
    assert found.evidence["evidence"] == ["calico: CustomResourceDefinition felixconfigurations.crd.projectcalico.org"]


def test_one_finding_per_namespace_and_group_and_per_cluster_wide_policy(tmp_path):
    kinds = {(k.group, k.kind): k for k in cni.POLICY_KINDS}
    objects = [daemonset("calico"),
               policy_object(kinds[("cilium.io", "CiliumNetworkPolicy")], "bank", "b"),
               policy_object(kinds[("cilium.io", "CiliumNetworkPolicy")], "bank", "a"),
               policy_object(kinds[("cilium.io", "CiliumNetworkPolicy")], "shop", "c"),
               policy_object(kinds[("cilium.io", "CiliumClusterwideNetworkPolicy")], name="x"),
               policy_object(kinds[("cilium.io", "CiliumClusterwideNetworkPolicy")], name="y")]
    found = {(f.namespace, f.name): f for f in findings(tmp_path, objects, "IA411")}
    assert sorted(found, key=str) == sorted([("bank", "a"), ("shop", "c"), (None, "x"), (None, "y")], key=str)
    assert "and 1 more in its namespace" in found[("bank", "a")].message
    assert found[("bank", "a")].evidence["policies"] == 2


def test_policy_kinds_are_told_apart_by_group():
    assert cni.policy_kind("projectcalico.org/v3", "NetworkPolicy").only == ("calico",)
    assert cni.policy_kind("networking.k8s.io/v1", "NetworkPolicy").only == ()
    assert cni.policy_kind("v1", "Service") is None and cni.policy_kind("example.com/v1", "NetworkPolicy") is None
