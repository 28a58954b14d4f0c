"""Load the Cilium and Calico policy cases in fixtures/netpol-cilium/ and fixtures/netpol-calico/.

Each file is one cluster state taken from an example of the engine's documentation, and the
verdicts that documentation states (or that follow from the semantics it states, said in
`says`). This module holds no pytest code.

    source: https://docs.cilium.io/...          # the page (and example file) the case restates
    says: the page's words the verdicts rest on
    namespaces: {ns1: {team: a}}                # labels; kubernetes.io/metadata.name is added
    pods:                                       # ports default to [[http, 80, TCP], [alt, 81, TCP]]
      - {pod: ns1/a, labels: {app: a}, ip: 10.0.1.1, host_network: false}
    nodes: {n1: {labels: {}, addresses: [192.168.0.1]}}   # optional
    policies: [...]                             # full objects
    expect:
      - {from: ns1/a, to: ns1/b, protocol: TCP, port: 80, allowed: true}
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from netpol_conformance import Namespace, Pod

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ENGINES = ("netpol-cilium", "netpol-calico")
KEYS = {"source", "says", "namespaces", "pods", "nodes", "policies", "expect"}
DEFAULT_PORTS = [("http", 80, "TCP"), ("alt", 81, "TCP")]


@dataclass(frozen=True)
class Expect:
    src: str
    dst: str
    protocol: str
    port: int | str
    allowed: bool


@dataclass(frozen=True)
class EngineCase:
    path: Path
    namespaces: dict[str, Namespace]
    pods: dict[str, Pod]
    nodes: dict[str, tuple[dict[str, str], list[str]]]
    policies: list[dict[str, Any]]
    expect: list[Expect]


def load(path: Path) -> EngineCase:
    doc = yaml.safe_load(path.read_text())
    unknown = set(doc) - KEYS
    if unknown or not {"source", "says", "pods", "policies", "expect"} <= set(doc):
        raise ValueError(f"{path.name}: unknown or missing keys")
    namespaces = {name: Namespace(name, {**(labels or {}), "kubernetes.io/metadata.name": name})
                  for name, labels in (doc.get("namespaces") or {}).items()}
    pods = {}
    for p in doc["pods"]:
        namespace, name = p["pod"].split("/")
        namespaces.setdefault(namespace, Namespace(namespace, {"kubernetes.io/metadata.name": namespace}))
        ports = [tuple(x) for x in p["ports"]] if "ports" in p else DEFAULT_PORTS
        pods[p["pod"]] = Pod(namespace, name, dict(p.get("labels") or {}), p["ip"], ports,  # type: ignore[arg-type]
                             bool(p.get("host_network")))
    nodes = {n: (dict(v.get("labels") or {}), list(v["addresses"])) for n, v in (doc.get("nodes") or {}).items()}
    expect = [Expect(e["from"], e["to"], e.get("protocol", "TCP"), e["port"], bool(e["allowed"]))
              for e in doc["expect"]]
    for e in expect:
        if e.src not in pods or e.dst not in pods:
            raise ValueError(f"{path.name}: an expectation names a pod the case lacks")
    return EngineCase(path, namespaces, pods, nodes, list(doc["policies"]), expect)


def case_paths() -> list[Path]:
    return sorted(p for engine in ENGINES for p in (FIXTURES / engine).glob("*.yaml"))
