"""Cluster-wide policies in the reachability plugin: precedence between kinds through the
real engine, and wrong types in every field the reader reads (never a traceback)."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from test_reachability import deploy, ns, policy, run

from auditor.netpol import Endpoint, Evaluator

ANP = {
    "apiVersion": "policy.networking.k8s.io/v1alpha1",
    "kind": "AdminNetworkPolicy",
    "metadata": {"name": "walls"},
    "spec": {
        "priority": 5,
        "subject": {"namespaces": {"matchLabels": {"tenant": "bank"}}},
        "ingress": [
            {
                "name": "same",
                "action": "Pass",
                "from": [{"namespaces": {"matchLabels": {"tenant": "bank"}}}],
                "ports": [
                    {"portNumber": {"protocol": "TCP", "port": 8080}},
                    {"namedPort": "http"},
                    {"portRange": {"protocol": "UDP", "start": 1, "end": 9}},
                ],
            },
            {"action": "Deny", "from": [{"pods": {"namespaceSelector": {}, "podSelector": {}}}]},
        ],
        "egress": [
            {
                "action": "Allow",
                "to": [
                    {"networks": ["10.0.0.0/8"]},
                    {"nodes": {"matchLabels": {"a": "b"}}},
                    {"domainNames": ["example.com"]},
                ],
            }
        ],
    },
}
CNP = {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy", "metadata": {"name": "base"},
       "spec": {"tier": "Baseline", "priority": 1, "subject": {"pods": {"namespaceSelector": {}, "podSelector": {}}},
                "ingress": [{"action": "Deny", "from": [{"namespaces": {}}],
                             "protocols": [{"tcp": {"destinationPort": {"number": 80}}},
                                           {"udp": {"destinationPort": {"range": {"start": 1, "end": 2}}}},
                                           {"destinationNamedPort": "http"}]}]}}


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _set(obj: Any, path: tuple, value: Any) -> Any:
    obj = copy.deepcopy(obj)
    target = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return obj


WRONG = (None, 7, "x", True, [], {}, [1], {"a": 1})
CASES = [(base, path, wrong) for base in (ANP, CNP) for path in _paths(base) if path for wrong in WRONG]


def test_wrong_types_in_every_field_are_tolerated():
    """A malformed policy never raises: it is read as the API server would never have let
    it be (a rule or peer it cannot read matches nothing, or fails closed)."""
    endpoints = [Endpoint("bank", "a", {"app": "a"}, (("http", 80, "TCP"),), "10.0.0.1"),
                 Endpoint("shop", "b", {"app": "b"}, (), "10.0.0.2"),
                 Endpoint("shop", "h", {}, (), "192.168.0.1", True)]
    namespaces = {"bank": {"tenant": "bank"}, "shop": {"tenant": "shop"}}
    nodes = {"n": ({"a": "b"}, ["192.168.0.1"])}
    for base, path, wrong in CASES:
        ev = Evaluator(endpoints, namespaces, [_set(base, path, wrong)], nodes)
        for src in ev.classes:
            for dst in ev.classes:
                ev.ports(src, dst)
    assert len(CASES) > 400


def test_admin_deny_walls_off_what_no_networkpolicy_restricts(tmp_path):
    objects = [ns("shop", tenant="shop"), ns("bank", tenant="bank"),
               deploy("shop", "web", {"app": "web"}), deploy("bank", "api", {"app": "api"}),
               {**ANP, "spec": {**ANP["spec"], "egress": []}}]
    report = run(tmp_path, objects)
    intended = {(r["from_tenant"], r["to_tenant"]): r["ports"] for r in report.sections["reachability"]["intended"]}
    assert intended == {("bank", "shop"): ["all"]}  # shop -> bank is denied by the admin tier


def test_networkpolicy_cannot_reopen_an_admin_deny_but_decides_after_a_pass(tmp_path):
    allow_shop = policy("bank", "from-shop", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})
    deny = {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "wall"},
            "spec": {"tier": "Admin", "priority": 1, "subject": {"namespaces": {"matchLabels": {"tenant": "bank"}}},
                     "ingress": [{"action": "Deny", "from": [{"namespaces": {"matchLabels": {"tenant": "shop"}}}]}]}}
    base = [ns("shop", tenant="shop"), ns("bank", tenant="bank"), deploy("shop", "web", {"app": "web"}),
            deploy("bank", "api", {"app": "api"}), allow_shop]
    denied = run(tmp_path, base + [deny]).sections["reachability"]["intended"]
    assert ("shop", "bank") not in {(r["from_tenant"], r["to_tenant"]) for r in denied}
    passed = copy.deepcopy(deny)
    passed["spec"]["ingress"][0]["action"] = "Pass"
    rows = run(tmp_path, base + [passed]).sections["reachability"]["intended"]
    assert ("shop", "bank") in {(r["from_tenant"], r["to_tenant"]) for r in rows}
    # with the Pass and no NetworkPolicy, the Baseline tier decides
    baseline = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "BaselineAdminNetworkPolicy",
                "metadata": {"name": "default"},
                "spec": {"subject": {"namespaces": {}}, "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}}
    rows = run(tmp_path, base[:-1] + [passed, baseline]).sections["reachability"]["intended"]
    assert rows == []
