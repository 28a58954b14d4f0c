"""Cilium and Calico policies: the verdicts their documentation states, through the brute-force
reference and the class-based evaluator alike."""
from __future__ import annotations

import pytest
from netpol_engine_cases import case_paths, load
from netpol_reference import allowed
from test_netpol import class_allows, evaluator

PATHS = case_paths()


def test_both_engines_have_cases():
    assert {p.parent.name for p in PATHS} >= {"netpol-cilium"}


@pytest.mark.parametrize("path", PATHS, ids=[f"{p.parent.name}/{p.stem}" for p in PATHS])
def test_reference_gives_documented_verdicts(path):
    case = load(path)
    wrong = [x for x in case.expect
             if allowed(case.pods[x.src], case.pods[x.dst], x.protocol, x.port, case.namespaces, case.policies,
                        nodes=case.nodes) != x.allowed]
    assert not wrong, wrong


@pytest.mark.parametrize("path", PATHS, ids=[f"{p.parent.name}/{p.stem}" for p in PATHS])
def test_class_based_evaluator_gives_documented_verdicts(path):
    case = load(path)
    ev = evaluator(case.namespaces, list(case.pods.values()), case.policies, case.nodes)
    wrong = [x for x in case.expect
             if class_allows(ev, case.pods[x.src], case.pods[x.dst], x.protocol, x.port) != x.allowed]
    assert not wrong, wrong


# -- through the reachability plugin: which engine decided -------------------------------

def cilium(kind, name, spec, namespace=None):
    meta = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": meta, "spec": spec}


def test_a_cilium_deny_beats_a_networkpolicy_allow_and_says_so(tmp_path):
    from test_reachability import deploy, ns, policy, run
    allow_all = policy("bank", "from-all", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})
    deny = cilium("CiliumClusterwideNetworkPolicy", "wall", {
        "endpointSelector": {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "bank"}},
        "ingressDeny": [{"fromEndpoints": [{"matchLabels": {"io.kubernetes.pod.namespace": "shop"}}],
                         "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}]}]})
    objects = [ns("shop"), ns("bank"), ns("lab"), deploy("shop", "web", {"app": "web"}),
               deploy("bank", "api", {"app": "api"}), deploy("lab", "x", {"app": "x"}), allow_all, deny]
    section = run(tmp_path, objects).sections["reachability"]
    denied = {(r["from_tenant"], r["to_tenant"]): r for r in section["denied"]}
    assert denied[("shop", "bank")]["ports"] == ["TCP/8080"]
    assert denied[("shop", "bank")]["decided_by"] == [{
        "kind": "CiliumClusterwideNetworkPolicy", "name": "wall", "rule": "spec.ingressDeny[0]",
        "tier": "CiliumDeny", "action": "Deny"}]
    allowed = {(r["from_tenant"], r["to_tenant"]): r for r in section["intended"]}
    assert allowed[("lab", "bank")]["ports"] == ["all"]
    # the NetworkPolicy still allows shop the other ports
    assert allowed[("shop", "bank")]["decided_by"][0]["kind"] == "NetworkPolicy"


def test_cilium_allows_add_to_networkpolicy_and_isolate_like_it(tmp_path):
    from test_reachability import deploy, ns, run
    allow = cilium("CiliumNetworkPolicy", "from-shop", {
        "endpointSelector": {}, "ingress": [{"fromEndpoints": [{"matchLabels": {
            "k8s:io.kubernetes.pod.namespace": "shop"}}]}]}, namespace="bank")
    objects = [ns("shop"), ns("bank"), ns("lab"), deploy("shop", "web", {"app": "web"}),
               deploy("bank", "api", {"app": "api"}), deploy("lab", "x", {"app": "x"}), allow]
    section = run(tmp_path, objects).sections["reachability"]
    into_bank = {r["from_tenant"]: r for r in section["intended"] if r["to_tenant"] == "bank"}
    assert set(into_bank) == {"shop"}
    assert into_bank["shop"]["decided_by"] == [{"kind": "CiliumNetworkPolicy", "name": "bank/from-shop",
                                                "rule": "spec.ingress[0]", "tier": "NetworkPolicy", "action": "Allow"}]
    denied = {(r["from_tenant"], r["to_tenant"]): r for r in section["denied"]}
    assert denied[("lab", "bank")]["decided_by"][0]["rule"] == "isolation"
    # opting out of default deny: the allow no longer isolates
    allow["spec"]["enableDefaultDeny"] = {"ingress": False}
    section = run(tmp_path, objects).sections["reachability"]
    assert ("lab", "bank") not in {(r["from_tenant"], r["to_tenant"]) for r in section["denied"]}


# -- what is not evaluated, and bad input -------------------------------------------------

SECRET = "s3cr3t-value"
UNEVALUATED = cilium("CiliumNetworkPolicy", "mixed", None, namespace="bank") | {"specs": [
    {"endpointSelector": {"matchLabels": {"app": SECRET}},
     "egress": [{"toFQDNs": [{"matchName": SECRET}]}, {"toServices": [{"k8sService": {"serviceName": SECRET}}]},
                {"toEntities": ["kube-apiserver"]},
                {"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{"path": SECRET}]}}]}],
     "ingress": [{"fromRequires": [{"matchLabels": {"env": SECRET}}]}]},
    {"nodeSelector": {"matchLabels": {"role": SECRET}}, "ingress": [{}]},
    {"endpointSelector": {"matchExpressions": [{"key": "a", "operator": SECRET}]}},
    SECRET,
]}


def test_what_is_not_evaluated_is_listed_without_values():
    from auditor.netpol import Endpoint, Evaluator
    ev = Evaluator([Endpoint("bank", "a", {"app": "a"})], {"bank": {}}, [UNEVALUATED])
    text = "\n".join(ev.unevaluated)
    for field in ("specs[0].egress[0].toFQDNs", "specs[0].egress[1].toServices",
                  "specs[0].egress[2]: entity kube-apiserver",
                  "specs[0].egress[3].toPorts: L7", "specs[0].ingress[0].fromRequires", "specs[1]: nodeSelector",
                  "specs[2].endpointSelector is missing or malformed", "specs[3] is not a mapping"):
        assert f"CiliumNetworkPolicy bank/mixed: {field}" in text, field
    assert SECRET not in text


def test_wrong_types_in_every_cilium_field_are_tolerated():
    """A malformed Cilium policy never raises; what the reader cannot read is skipped and said."""
    from test_netpol_admin import WRONG, _paths, _set

    from auditor.netpol import Endpoint, Evaluator
    base = cilium("CiliumNetworkPolicy", "p", {
        "endpointSelector": {"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "k", "operator": "In",
                                                                                "values": ["v"]}]},
        "enableDefaultDeny": {"ingress": True, "egress": False},
        "ingress": [{"fromEndpoints": [{"matchLabels": {"k8s:app": "b"}}], "fromEntities": ["host"],
                     "fromCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}],
                     "toPorts": [{"ports": [{"port": "80", "endPort": 90, "protocol": "TCP"}, {"port": "http"}],
                                  "rules": {"http": [{}]}}], "icmps": [{"fields": [{"type": 8}]}]}],
        "egressDeny": [{"toCIDR": ["10.0.0.0/8"], "toEndpoints": [{}]}]}, namespace="bank")
    endpoints = [Endpoint("bank", "a", {"app": "a"}, (("http", 80, "TCP"),), "10.0.0.1"),
                 Endpoint("bank", "b", {"app": "b"}, (), "10.0.0.2"), Endpoint("bank", "h", {}, (), "10.9.0.1", True)]
    cases = [(path, wrong) for path in _paths(base) if path for wrong in WRONG]
    for path, wrong in cases:
        ev = Evaluator(endpoints, {"bank": {}}, [_set(base, path, wrong)], {"n": ({}, ["10.9.0.1"])})
        for src in ev.classes:
            for dst in ev.classes:
                ev.ports(src, dst)
    assert len(cases) > 300


def calico(kind, name, spec, namespace=None, api="projectcalico.org/v3"):
    meta = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def test_a_calico_deny_at_order_100_beats_a_networkpolicy_allow_and_says_so(tmp_path):
    from test_reachability import deploy, ns, policy, run
    allow_all = policy("bank", "from-all", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})
    deny = calico("NetworkPolicy", "no-shop", {"order": 100, "selector": "all()", "ingress": [
        {"action": "Deny", "protocol": "TCP", "source": {"namespaceSelector": "projectcalico.org/name == 'shop'"},
         "destination": {"ports": ["8000:8100"]}}]}, namespace="bank")
    objects = [ns("shop"), ns("bank"), ns("lab"), deploy("shop", "web", {"app": "web"}),
               deploy("bank", "api", {"app": "api"}), deploy("lab", "x", {"app": "x"}), allow_all, deny]
    section = run(tmp_path, objects).sections["reachability"]
    denied = {(r["from_tenant"], r["to_tenant"]): r for r in section["denied"]}
    assert denied[("shop", "bank")]["ports"] == ["TCP/8000-8100"]
    assert denied[("shop", "bank")]["decided_by"] == [{"kind": "CalicoNetworkPolicy", "name": "bank/no-shop",
                                                       "rule": "ingress[0]", "tier": "default", "action": "Deny"}]
    # a tier ahead of the default one that passes: the NetworkPolicy decides again
    tier = {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
            "spec": {"order": 300}}
    passing = calico("GlobalNetworkPolicy", "security.hand-on", {"tier": "security", "selector": "all()",
                                                                 "ingress": [{"action": "Pass"}]})
    section = run(tmp_path, objects[:-1] + [tier, passing]).sections["reachability"]
    assert ("shop", "bank") not in {(r["from_tenant"], r["to_tenant"]) for r in section["denied"]}
    # the same tier ending without a Pass: its implicit deny, said by the policy that applied
    ending = calico("GlobalNetworkPolicy", "security.stop", {"tier": "security", "selector": "all()",
                                                             "ingress": [{"action": "Log"}]})
    section = run(tmp_path, objects[:-1] + [tier, ending]).sections["reachability"]
    denied = {(r["from_tenant"], r["to_tenant"]): r for r in section["denied"]}
    assert denied[("shop", "bank")]["decided_by"] == [{"kind": "GlobalNetworkPolicy", "name": "security.stop",
                                                       "rule": "end of tier security", "tier": "security",
                                                       "action": "Deny"}]


def test_a_bad_calico_selector_is_a_named_value_free_issue_and_the_policy_is_skipped():
    from auditor.netpol import Endpoint, Evaluator
    bad = [calico("NetworkPolicy", "broken", {"selector": f"app == '{SECRET}' &&", "ingress": [{"action": "Deny"}]},
                  namespace="bank"),
           calico("GlobalNetworkPolicy", "rule-broken", {"ingress": [
               {"action": "Deny", "source": {"selector": f"{SECRET} ==="}}]}),
           calico("GlobalNetworkPolicy", "ports-no-protocol", {"ingress": [
               {"action": "Deny", "destination": {"ports": [80]}}]}),
           calico("GlobalNetworkPolicy", "sa", {"serviceAccountSelector": f"name == '{SECRET}'",
                                                "ingress": [{"action": "Deny"}]}),
           calico("NetworkPolicy", "not-a-spec", [SECRET], namespace="bank")]
    eps = [Endpoint("bank", "a", {"app": "a"}), Endpoint("bank", "b", {"app": "b"})]
    ev = Evaluator(eps, {"bank": {}}, bad)
    text = "\n".join(ev.unevaluated)
    assert "CalicoNetworkPolicy bank/broken: spec.selector: column" in text
    assert "GlobalNetworkPolicy rule-broken: spec.ingress[0].source.selector: column" in text
    assert "GlobalNetworkPolicy ports-no-protocol: spec.ingress[0].destination.ports malformed" in text
    assert "GlobalNetworkPolicy sa: spec.serviceAccountSelector is not evaluated" in text
    assert "CalicoNetworkPolicy bank/not-a-spec: spec is not a mapping: skipped" in text
    assert SECRET not in text
    a, b = ev.classes
    assert ev.ports(a, b) == ev.ports(b, a) and ev.ports(a, b).describe() == ["all"]  # nothing applied


def test_wrong_types_in_every_calico_field_are_tolerated():
    from test_netpol_admin import WRONG, _paths, _set

    from auditor.netpol import Endpoint, Evaluator
    bases = [
        calico("GlobalNetworkPolicy", "g", {
            "tier": "security", "order": 10.5, "selector": "app == 'a'", "namespaceSelector": "all()",
            "types": ["Ingress", "Egress"],
            "ingress": [{"action": "Allow", "protocol": "TCP", "notProtocol": "UDP", "http": {"methods": ["GET"]},
                         "source": {"selector": "has(app)", "notSelector": "app == 'x'", "namespaceSelector": "all()",
                                    "nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"], "ports": [1]},
                         "destination": {"ports": [80, "90:99", "http"], "notPorts": [95]}}],
            "egress": [{"action": "Pass", "destination": {"serviceAccounts": {"names": ["x"]}}}]}),
        {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
         "spec": {"order": 300, "defaultAction": "Pass"}},
    ]
    endpoints = [Endpoint("bank", "a", {"app": "a"}, (("http", 80, "TCP"),), "10.0.0.1"),
                 Endpoint("bank", "b", {"app": "b"}, (), "10.0.0.2"), Endpoint("bank", "h", {}, (), "10.9.0.1", True)]
    cases = [(base, path, wrong) for base in bases for path in _paths(base) if path for wrong in WRONG]
    for base, path, wrong in cases:
        ev = Evaluator(endpoints, {"bank": {}}, [_set(b, path, wrong) if b is base else b for b in bases])
        for src in ev.classes:
            for dst in ev.classes:
                ev.ports(src, dst)
    assert len(cases) > 400


def test_the_benchmark_engine_policies_are_read_in_full():
    """The benchmark's Cilium and Calico walls: nothing in them goes unevaluated, and they decide."""
    import importlib.util
    from pathlib import Path

    from auditor.netpol import Endpoint, Evaluator
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "generate.py"
    spec = importlib.util.spec_from_file_location("benchmark_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    items = module.generate(60, 6, 0, 3, seed=7, engine_policies=12)["items"]
    namespaces = {i["metadata"]["name"]: i["metadata"]["labels"] for i in items if i["kind"] == "Namespace"}
    ports = (("ssh", 22, "TCP"), ("http", 8080, "TCP"))
    pods = [Endpoint(i["metadata"]["namespace"], i["metadata"]["name"], i["metadata"]["labels"], ports,
                     i["status"]["podIP"]) for i in items if i["kind"] == "Pod"]
    policies = [i for i in items if i["kind"] in ("CiliumNetworkPolicy", "GlobalNetworkPolicy", "Tier")]
    ev = Evaluator(pods, namespaces, policies)
    assert ev.unevaluated == []
    decided = {(r["kind"], r["action"]) for s in ev.classes for d in ev.classes
               for r in (x.describe() for x in ev.allowed_by("ingress", d.id, s.id).deciders)}
    # Calico walls admit a partner and deny other tenants; Cilium admits the tenant's own traffic
    assert decided == {("GlobalNetworkPolicy", "Deny"), ("GlobalNetworkPolicy", "Allow"),
                       ("CiliumNetworkPolicy", "Allow")}
