"""Load the upstream Kubernetes NetworkPolicy e2e scenarios in fixtures/netpol-conformance/.

The fixtures are generated (fixtures/netpol-conformance/generator/generate.sh) from
k8s.io/kubernetes test/e2e/network/netpol/network_policy.go: the upstream scenario code runs
unchanged against an in-memory cluster, and every `ValidateOrFail` records the cluster state
and the truth table the scenario asserts. This module holds no pytest code.

Fixture format (one YAML document per file)
-------------------------------------------

    name: should support a 'default-deny-ingress' policy    # the upstream It text
    context: NetworkPolicy between server and client          # its ginkgo.Context
    source: network_policy.go line 121                        # where the It starts
    stage: 1                  # only for scenarios that change the cluster between validations:
    stages: 2                 #   one file per cluster state, `<name>--stage-N.yaml`
    setup: [CreatePolicy x/deny-ingress]   # every change since the scenario began (informative)
    model: {base: default, protocols: [TCP], ports: [80]}     # see "Model" below
    ignore_loopback: true     # pod-to-itself cells are not asserted (upstream: ignoreLoopback)
    notes: [...]              # optional free text: assumptions, e.g. the pod IPs behind ipBlock
    policies:                 # full networking.k8s.io/v1 NetworkPolicy objects, metadata.namespace set
      - apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny-ingress, namespace: x}
        spec: {podSelector: {}, policyTypes: [Ingress]}
    cases:                    # one per (protocol, port) the scenario probes in this state
      - protocol: TCP
        port: 80              # what the probe connects to (upstream always probes a number;
                              # a named port string is accepted and resolved on the destination)
        expect: |             # rows = from, columns = to; "." = allowed, "X" = blocked
          -    x/a  x/b  x/c  y/a  y/b  y/c  z/a  z/b  z/c
          x/a  X    X    X    .    .    .    .    .    .
          ...

Every pod appears in the table header and as a row, in model order.

Model
-----
`model: default`, or a mapping `{base: default, ...}` with any of these overrides:

  protocols: [TCP, UDP, SCTP]   # each pod serves every (port, protocol) pair, one container
  ports: [80, 81]               #   each, container port named serve-<port>-<protocol lowercase>
  namespace_labels: {y: {...}}  # the namespace's COMPLETE label set (replaces the default)
  pod_labels: {x/b: {...}}      # the pod's COMPLETE label set (replaces the default)
  pod_ips: {x/a: 10.9.9.9}
  host_network: [x/a]           # pods with spec.hostNetwork: true

The default model is upstream's: namespaces x, y, z (upstream appends a random suffix, e.g.
netpol-x-4f2kq; the fixtures use the bare base names everywhere, selectors included) with
labels kubernetes.io/metadata.name: <name>, e2e-run: e2e-run-id and
pod-security.kubernetes.io/{enforce,warn,audit}: baseline (what the e2e framework puts on its
namespaces; there is no `ns: x` label upstream); pods a, b, c in each, labelled pod: <name>.
Pod IPs are not fixed upstream; here pod <n> of namespace <m> (1-based, x=1 .. c=3) has IP
10.0.<m>.<n>, which is what the ipBlock scenarios' CIDRs are computed from.

An explicit model is a mapping with `namespaces:` only:

  model:
    namespaces:
      - name: x
        labels: {kubernetes.io/metadata.name: x}
        pods:
          - {name: a, labels: {pod: a}, ip: 10.0.1.1, host_network: false,
             ports: [{name: http, port: 8080, protocol: TCP}]}
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS.parent / "fixtures" / "netpol-conformance"

DEFAULT_NAMESPACES = ("x", "y", "z")
DEFAULT_PODS = ("a", "b", "c")
DEFAULT_PORTS = (80, 81)
DEFAULT_PROTOCOLS = ("TCP", "UDP", "SCTP")
PROTOCOLS = ("TCP", "UDP", "SCTP")

FIXTURE_KEYS = {"name", "context", "source", "stage", "stages", "setup", "model", "ignore_loopback",
                "notes", "policies", "cases"}
REQUIRED_KEYS = {"name", "source", "model", "policies", "cases"}
BASE_MODEL_KEYS = {"base", "protocols", "ports", "namespace_labels", "pod_labels", "pod_ips", "host_network"}


class FixtureError(ValueError):
    pass


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: dict[str, str]
    ip: str
    ports: list[tuple[str, int, str]]  # (name, containerPort, protocol)
    host_network: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


Cell = tuple[str, str]  # (from pod key, to pod key)


@dataclass
class Case:
    protocol: str
    port: int | str
    expect: dict[Cell, bool]
    ignore_loopback: bool = True

    def asserted(self) -> dict[Cell, bool]:
        """The cells upstream actually checks (pod-to-itself dropped when ignore_loopback)."""
        return {cell: v for cell, v in self.expect.items() if not (self.ignore_loopback and cell[0] == cell[1])}


@dataclass
class Fixture:
    path: Path
    name: str
    source: str
    namespaces: dict[str, Namespace]
    pods: list[Pod]
    policies: list[dict[str, Any]]
    cases: list[Case]
    context: str = ""
    stage: int | None = None
    stages: int | None = None
    setup: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ignore_loopback: bool = True

    @property
    def id(self) -> str:
        return self.path.stem

    def pod(self, key: str) -> Pod:
        for p in self.pods:
            if p.key == key:
                return p
        raise KeyError(key)

    @property
    def expectations(self) -> dict[tuple[str, int | str], dict[Cell, bool]]:
        return {(c.protocol, c.port): c.expect for c in self.cases}


# -------------------------------------------------------------------------------------- model

def default_namespace_labels(name: str) -> dict[str, str]:
    return {
        "e2e-run": "e2e-run-id",
        "kubernetes.io/metadata.name": name,
        "pod-security.kubernetes.io/audit": "baseline",
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "baseline",
    }


def _default_model(spec: dict[str, Any], where: str) -> tuple[dict[str, Namespace], list[Pod]]:
    unknown = set(spec) - BASE_MODEL_KEYS
    if unknown:
        raise FixtureError(f"{where}: unknown model keys {sorted(unknown)}")
    if spec.get("base", "default") != "default":
        raise FixtureError(f"{where}: unknown model base {spec.get('base')!r}")
    protocols = list(spec.get("protocols", DEFAULT_PROTOCOLS))
    ports = [int(p) for p in spec.get("ports", DEFAULT_PORTS)]
    for proto in protocols:
        if proto not in PROTOCOLS:
            raise FixtureError(f"{where}: unknown protocol {proto!r}")
    ns_labels = spec.get("namespace_labels") or {}
    pod_labels = spec.get("pod_labels") or {}
    pod_ips = spec.get("pod_ips") or {}
    host_network = set(spec.get("host_network") or [])
    namespaces: dict[str, Namespace] = {}
    pods: list[Pod] = []
    for m, ns in enumerate(DEFAULT_NAMESPACES, 1):
        namespaces[ns] = Namespace(ns, dict(ns_labels.get(ns, default_namespace_labels(ns))))
        for n, name in enumerate(DEFAULT_PODS, 1):
            key = f"{ns}/{name}"
            pods.append(Pod(
                namespace=ns,
                name=name,
                labels=dict(pod_labels.get(key, {"pod": name})),
                ip=str(pod_ips.get(key, f"10.0.{m}.{n}")),
                ports=[(f"serve-{port}-{proto.lower()}", port, proto) for port in ports for proto in protocols],
                host_network=key in host_network,
            ))
    keys = {p.key for p in pods}
    for what, table in (("namespace_labels", {k: 0 for k in ns_labels}), ("pod_labels", pod_labels),
                        ("pod_ips", pod_ips), ("host_network", {k: 0 for k in host_network})):
        valid = namespaces if what == "namespace_labels" else keys
        stray = set(table) - set(valid)
        if stray:
            raise FixtureError(f"{where}: {what} names unknown {sorted(stray)}")
    return namespaces, pods


def _explicit_model(spec: dict[str, Any], where: str) -> tuple[dict[str, Namespace], list[Pod]]:
    if set(spec) != {"namespaces"}:
        raise FixtureError(f"{where}: an explicit model has only `namespaces`")
    namespaces: dict[str, Namespace] = {}
    pods: list[Pod] = []
    for ns in spec["namespaces"]:
        name = ns["name"]
        namespaces[name] = Namespace(name, dict(ns.get("labels") or {}))
        for p in ns.get("pods") or []:
            ports = []
            for port in p.get("ports") or []:
                proto = port.get("protocol", "TCP")
                if proto not in PROTOCOLS:
                    raise FixtureError(f"{where}: unknown protocol {proto!r}")
                ports.append((port.get("name", ""), int(port["port"]), proto))
            pods.append(Pod(name, p["name"], dict(p.get("labels") or {}), str(p["ip"]), ports,
                            bool(p.get("host_network", False))))
    return namespaces, pods


def build_model(spec: Any, where: str = "model") -> tuple[dict[str, Namespace], list[Pod]]:
    if spec == "default":
        return _default_model({}, where)
    if isinstance(spec, dict) and "namespaces" in spec:
        return _explicit_model(spec, where)
    if isinstance(spec, dict):
        return _default_model(spec, where)
    raise FixtureError(f"{where}: model must be 'default' or a mapping")


# ------------------------------------------------------------------------------ truth tables

def parse_table(text: str, pod_keys: list[str], where: str) -> dict[Cell, bool]:
    rows = [line.split() for line in text.strip().splitlines() if line.strip()]
    if not rows or rows[0][0] != "-":
        raise FixtureError(f"{where}: the table must start with a '-' header row")
    header = rows[0][1:]
    if header != pod_keys:
        raise FixtureError(f"{where}: header {header} != model pods {pod_keys}")
    froms = [r[0] for r in rows[1:]]
    if froms != pod_keys:
        raise FixtureError(f"{where}: rows {froms} != model pods {pod_keys}")
    cells: dict[Cell, bool] = {}
    for row in rows[1:]:
        marks = row[1:]
        if len(marks) != len(header):
            raise FixtureError(f"{where}: row {row[0]} has {len(marks)} cells, want {len(header)}")
        for to, mark in zip(header, marks, strict=True):
            if mark not in (".", "X"):
                raise FixtureError(f"{where}: cell {row[0]}->{to} is {mark!r}, want '.' or 'X'")
            cells[(row[0], to)] = mark == "."
    return cells


def format_table(pod_keys: list[str], cells: dict[Cell, bool], mark=None) -> str:
    """The inverse of parse_table; `mark(cell)` may override a cell's character."""
    width = max(map(len, pod_keys)) + 2
    out = ["-".ljust(width) + "".join(k.ljust(width) for k in pod_keys).rstrip()]
    for frm in pod_keys:
        chars = []
        for to in pod_keys:
            ch = mark((frm, to)) if mark else None
            chars.append((ch or ("." if cells[(frm, to)] else "X")).ljust(width))
        out.append(frm.ljust(width) + "".join(chars).rstrip())
    return "\n".join(out)


# --------------------------------------------------------------------------------- fixtures

def load_fixture(path: Path) -> Fixture:
    where = path.name
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict):
        raise FixtureError(f"{where}: not a mapping")
    unknown = set(doc) - FIXTURE_KEYS
    if unknown:
        raise FixtureError(f"{where}: unknown keys {sorted(unknown)}")
    missing = REQUIRED_KEYS - set(doc)
    if missing:
        raise FixtureError(f"{where}: missing keys {sorted(missing)}")
    namespaces, pods = build_model(doc["model"], f"{where}: model")
    keys = [p.key for p in pods]
    if len(set(keys)) != len(keys):
        raise FixtureError(f"{where}: duplicate pods")
    ignore_loopback = bool(doc.get("ignore_loopback", True))
    policies = list(doc["policies"] or [])
    for i, pol in enumerate(policies):
        if pol.get("kind") != "NetworkPolicy" or not (pol.get("metadata") or {}).get("namespace"):
            raise FixtureError(f"{where}: policies[{i}] is not a NetworkPolicy with metadata.namespace")
        if pol["metadata"]["namespace"] not in namespaces:
            raise FixtureError(f"{where}: policies[{i}] is in unknown namespace {pol['metadata']['namespace']}")
    cases = []
    seen = set()
    for i, c in enumerate(doc["cases"] or []):
        proto = c.get("protocol", "TCP")
        if proto not in PROTOCOLS:
            raise FixtureError(f"{where}: cases[{i}]: unknown protocol {proto!r}")
        port = c["port"]
        if (proto, port) in seen:
            raise FixtureError(f"{where}: cases[{i}]: ({proto}, {port}) appears twice")
        seen.add((proto, port))
        cases.append(Case(proto, port, parse_table(c["expect"], keys, f"{where}: cases[{i}]"), ignore_loopback))
    if not cases:
        raise FixtureError(f"{where}: no cases")
    return Fixture(
        path=path, name=doc["name"], source=doc["source"], namespaces=namespaces, pods=pods,
        policies=policies, cases=cases, context=doc.get("context", ""), stage=doc.get("stage"),
        stages=doc.get("stages"), setup=list(doc.get("setup") or []), notes=list(doc.get("notes") or []),
        ignore_loopback=ignore_loopback,
    )


def fixture_paths(directory: Path = FIXTURES) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_all(directory: Path = FIXTURES) -> Iterator[Fixture]:
    for path in fixture_paths(directory):
        yield load_fixture(path)
