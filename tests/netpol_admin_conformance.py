"""Load the network-policy-api conformance cases in fixtures/netpol-admin-conformance/.

The fixtures restate, as data, the conformance tests of kubernetes-sigs/network-policy-api
(conformance/tests/*.go with the policies of conformance/base/): AdminNetworkPolicy and
BaselineAdminNetworkPolicy (v1alpha1, the last commit before the suite moved to v1alpha2) and
ClusterNetworkPolicy (v1alpha2). Upstream mutates policies between probes (swaps rules,
changes an action or a priority, deletes a NetworkPolicy, relabels a namespace); each file is
one cluster state and the probes upstream makes in it. This module holds no pytest code.

    test: CNPAdminTierIngressTCP          # the upstream ConformanceTest
    name: Should support ...              # the t.Run the probes belong to
    api: v1alpha2
    source: conformance/tests/...go (kubernetes-sigs/network-policy-api <commit>)
    manifests: [base/admin_tier/standard-ingress-tcp-rules.yaml]
    stage: 3                              # this state's place among the test's states
    stages: 6
    namespace_labels: {ns: {...}}         # optional: complete label sets replacing the model's
    policies: [...]                       # every policy object in this state
    pokes:                                # upstream's PokeServer calls and their verdicts
      - {from: ns/pod, to: ns/pod, protocol: TCP, port: 80, allowed: true}

model.yaml is the cluster (conformance/base/manifests.yaml) with assumed pod and node IPs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from netpol_conformance import Namespace, Pod

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "netpol-admin-conformance"
KEYS = {"test", "name", "api", "source", "manifests", "stage", "stages", "namespace_labels", "policies", "pokes"}


@dataclass(frozen=True)
class Poke:
    src: str
    dst: str
    protocol: str
    port: int
    allowed: bool


@dataclass(frozen=True)
class Case:
    path: Path
    test: str
    name: str
    namespaces: dict[str, Namespace]
    pods: dict[str, Pod]
    nodes: dict[str, tuple[dict[str, str], list[str]]]
    policies: list[dict[str, Any]]
    pokes: list[Poke]


def _model() -> tuple[dict[str, Namespace], dict[str, Pod], dict[str, tuple[dict[str, str], list[str]]]]:
    doc = yaml.safe_load((FIXTURES / "model.yaml").read_text())
    namespaces, pods = {}, {}
    for ns in doc["namespaces"]:
        namespaces[ns["name"]] = Namespace(ns["name"], dict(ns["labels"]))
        for p in ns["pods"]:
            pod = Pod(ns["name"], p["name"], dict(p["labels"]), p["ip"],
                      [(port["name"], port["port"], port["protocol"]) for port in p["ports"]], p["host_network"])
            pods[pod.key] = pod
    nodes = {n["name"]: (dict(n["labels"]), list(n["addresses"])) for n in doc["nodes"]}
    return namespaces, pods, nodes


def load(path: Path) -> Case:
    doc = yaml.safe_load(path.read_text())
    unknown = set(doc) - KEYS
    if unknown:
        raise ValueError(f"{path.name}: unknown keys {sorted(unknown)}")
    namespaces, pods, nodes = _model()
    for name, labels in (doc.get("namespace_labels") or {}).items():
        namespaces[name] = replace(namespaces[name], labels=dict(labels))
    pokes = [Poke(p["from"], p["to"], p["protocol"], int(p["port"]), bool(p["allowed"])) for p in doc["pokes"]]
    for poke in pokes:
        if poke.src not in pods or poke.dst not in pods:
            raise ValueError(f"{path.name}: a poke names a pod the model lacks")
    return Case(path, doc["test"], doc["name"], namespaces, pods, nodes, list(doc["policies"]), pokes)


def case_paths() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.yaml") if p.name != "model.yaml")
