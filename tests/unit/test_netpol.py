"""The class-based NetworkPolicy evaluator: upstream truth tables, and equal to brute force."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netpol_conformance import Namespace, Pod, fixture_paths, load_fixture
from netpol_reference import allowed as reference_allowed
from netpol_reference import resolve_port

from auditor.netpol import ALL_PORTS, Endpoint, Evaluator, PortSet

PATHS = fixture_paths()


def endpoint(pod: Pod) -> Endpoint:
    return Endpoint(pod.namespace, pod.name, pod.labels, tuple(pod.ports), pod.ip, pod.host_network)


def evaluator(namespaces, pods, policies, nodes=None) -> Evaluator:
    return Evaluator([endpoint(p) for p in pods], {n.name: n.labels for n in namespaces.values()}, policies, nodes)


def class_allows(ev: Evaluator, src: Pod, dst: Pod, protocol: str, port) -> bool:
    if src.key == dst.key:
        return True  # a pod cannot block access to itself
    number = resolve_port(dst, protocol, port)
    if number is None:
        return False
    return ev.ports(ev.class_of(endpoint(src)), ev.class_of(endpoint(dst))).allows(protocol, number)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_upstream_truth_table(path):
    fixture = load_fixture(path)
    ev = evaluator(fixture.namespaces, fixture.pods, fixture.policies)
    pods = {p.key: p for p in fixture.pods}
    wrong = [
        (case.protocol, case.port, frm, to, want)
        for case in fixture.cases
        for (frm, to), want in sorted(case.asserted().items())
        if class_allows(ev, pods[frm], pods[to], case.protocol, case.port) != want
    ]
    assert not wrong, f"{fixture.name} ({fixture.source}): {wrong[:10]}"


def test_port_sets():
    web = PortSet.of([("TCP", 80, 80), ("TCP", 81, 90), ("UDP", 53, 53)])
    assert web.ranges == (("TCP", 80, 90), ("UDP", 53, 53))
    assert (web & PortSet.of([("TCP", 85, 100)])).describe() == ["TCP/85-90"]
    assert (web | ALL_PORTS) == ALL_PORTS and ALL_PORTS.describe() == ["all"]
    assert not (web & PortSet.of([("SCTP", 80, 80)]))


def test_replicas_share_one_class():
    eps = [Endpoint("shop", f"web-{i}", {"app": "web"}, (("http", 8080, "TCP"),)) for i in range(100)]
    ev = Evaluator(eps, {"shop": {}}, [])
    assert len(ev.classes) == 1 and len(ev.classes[0].members) == 100


# -- property: the class-based evaluator equals brute force on random small clusters ----

LABEL_KEYS = ["app", "tier", "team"]
LABEL_VALUES = ["a", "b"]
labels = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=2)
expression = st.fixed_dictionaries({
    "key": st.sampled_from(LABEL_KEYS),
    "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
}).flatmap(lambda e: st.just(e) if e["operator"] in ("Exists", "DoesNotExist")
           else st.lists(st.sampled_from(LABEL_VALUES), min_size=1, max_size=2).map(lambda v: {**e, "values": v}))
selector = st.one_of(
    st.just({}),
    st.builds(lambda m: {"matchLabels": m}, labels),
    st.builds(lambda e: {"matchExpressions": [e]}, expression),
)
port = st.one_of(
    st.builds(lambda n, p: {"port": n, "protocol": p}, st.sampled_from([80, 81, 443]), st.sampled_from(["TCP", "UDP"])),
    st.builds(lambda n: {"port": n, "endPort": n + 1}, st.sampled_from([80, 442])),
    st.just({"port": "http"}),
    st.just({"protocol": "UDP"}),
)
peer = st.one_of(
    st.builds(lambda s: {"podSelector": s}, selector),
    st.builds(lambda s: {"namespaceSelector": s}, selector),
    st.builds(lambda a, b: {"podSelector": a, "namespaceSelector": b}, selector, selector),
    st.builds(
        lambda c: {"ipBlock": {"cidr": c, "except": ["10.0.1.0/28"]}}, st.sampled_from(["10.0.0.0/16", "10.0.1.0/24"])
    ),
)
rule = st.fixed_dictionaries({}, optional={"peers": st.lists(peer, max_size=2), "ports": st.lists(port, max_size=2)})


@st.composite
def cluster(draw):
    namespaces = {f"ns{i}": Namespace(f"ns{i}", {**draw(labels), "kubernetes.io/metadata.name": f"ns{i}"})
                  for i in range(draw(st.integers(1, 3)))}
    pods = []
    for i in range(draw(st.integers(1, 6))):
        ns = draw(st.sampled_from(sorted(namespaces)))
        http = draw(st.sampled_from([80, 443]))
        pods.append(Pod(ns, f"p{i}", draw(labels), f"10.0.{draw(st.integers(0, 2))}.{i + 1}",
                        [("http", http, "TCP")], draw(st.booleans()) and i == 0))
    policies = []
    for j in range(draw(st.integers(0, 4))):
        spec = {"podSelector": draw(selector)}
        types = draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
        if types is not None:
            spec["policyTypes"] = types
        for direction, key in (("ingress", "from"), ("egress", "to")):
            if draw(st.booleans()):
                rules = draw(st.lists(rule, max_size=2))
                spec[direction] = [{**({key: r["peers"]} if "peers" in r else {}),
                                    **({"ports": r["ports"]} if "ports" in r else {})} for r in rules]
        policies.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": {"name": f"np{j}", "namespace": draw(st.sampled_from(sorted(namespaces)))},
                         "spec": spec})
    return namespaces, pods, policies


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster())
def test_class_based_equals_brute_force(world):
    namespaces, pods, policies = world
    assert_agrees(namespaces, pods, policies)


def assert_agrees(namespaces, pods, policies, nodes=None):
    ev = evaluator(namespaces, pods, policies, nodes)
    for src in pods:
        for dst in pods:
            for protocol, number in (("TCP", 80), ("TCP", 81), ("TCP", 443), ("UDP", 80), ("UDP", 443)):
                want = reference_allowed(src, dst, protocol, number, namespaces, policies, nodes=nodes)
                assert class_allows(ev, src, dst, protocol, number) == want, (src.key, dst.key, protocol, number)


# -- the same, with cluster-wide policies of every kind and tier mixed in ----------------

NODES = {"n1": ({"role": "a"}, ["10.0.0.1"]), "n2": ({"role": "b"}, ["10.0.2.2"])}
namespaced_pod = st.builds(lambda a, b: {"namespaceSelector": a, "podSelector": b}, selector, selector)
admin_peer = st.one_of(
    st.builds(lambda s: {"namespaces": s}, selector),
    st.builds(lambda p: {"pods": p}, namespaced_pod),
    st.builds(lambda c: {"networks": c}, st.lists(st.sampled_from(["10.0.0.0/24", "10.0.1.0/28", "10.0.2.2/32"]),
                                                  min_size=1, max_size=2, unique=True)),
    st.builds(lambda s: {"nodes": s}, st.builds(lambda m: {"matchLabels": m}, st.dictionaries(
        st.just("role"), st.sampled_from(["a", "b"]), max_size=1))),
    st.just({"domainNames": ["example.com"]}),
    st.just({"unknownPeer": {}}),
)
v1_port = st.one_of(
    st.builds(
        lambda n, p: {"portNumber": {"port": n, "protocol": p}},
        st.sampled_from([80, 443]),
        st.sampled_from(["TCP", "UDP"]),
    ),
    st.builds(lambda n: {"portRange": {"start": n, "end": n + 1}}, st.sampled_from([80, 442])),
    st.just({"namedPort": "http"}),
)
v2_protocol = st.one_of(
    st.builds(
        lambda p, n: {p: {"destinationPort": {"number": n}}},
        st.sampled_from(["tcp", "udp"]),
        st.sampled_from([80, 443]),
    ),
    st.builds(
        lambda n: {"tcp": {"destinationPort": {"range": {"start": n, "end": n + 1}}}}, st.sampled_from([80, 442])
    ),
    st.just({"udp": {}}),
    st.just({"destinationNamedPort": "http"}),
)
subject = st.one_of(st.builds(lambda s: {"namespaces": s}, selector), st.builds(lambda p: {"pods": p}, namespaced_pod))


@st.composite
def admin_policy(draw, index):
    kind = draw(st.sampled_from(["AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"]))
    v2 = kind == "ClusterNetworkPolicy"
    tier = draw(st.sampled_from(["Admin", "Baseline"])) if v2 else None
    actions = ["Allow", "Deny"] + (["Pass"] if kind != "BaselineAdminNetworkPolicy" else [])
    if v2:
        actions = ["Accept" if a == "Allow" else a for a in actions]
    spec = {"subject": draw(subject)}
    if kind != "BaselineAdminNetworkPolicy":
        spec["priority"] = draw(st.integers(0, 3))
    if v2:
        spec["tier"] = tier
    for direction, key in (("ingress", "from"), ("egress", "to")):
        rules = []
        for _ in range(draw(st.integers(0, 3))):
            peers = draw(st.lists(admin_peer if direction == "egress" else admin_peer.filter(
                lambda p: not {"networks", "nodes", "domainNames"} & set(p)), min_size=1, max_size=2))
            rule = {"action": draw(st.sampled_from(actions)), key: peers}
            if draw(st.booleans()):
                rule["protocols" if v2 else "ports"] = draw(
                    st.lists(v2_protocol if v2 else v1_port, min_size=1, max_size=2)
                )
            rules.append(rule)
        if rules:
            spec[direction] = rules
    name = "default" if kind == "BaselineAdminNetworkPolicy" else f"cnp{index}"
    api = "policy.networking.k8s.io/" + ("v1alpha2" if v2 else "v1alpha1")
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": spec}


@st.composite
def mixed_cluster(draw):
    namespaces, pods, policies = draw(cluster())
    admin = [draw(admin_policy(i)) for i in range(draw(st.integers(1, 4)))]
    singletons = [p for p in admin if p["kind"] == "BaselineAdminNetworkPolicy"][1:]
    return namespaces, pods, policies + [p for p in admin if not any(p is s for s in singletons)]


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_cluster())
def test_class_based_equals_brute_force_with_cluster_wide_policies(world):
    namespaces, pods, policies = world
    assert_agrees(namespaces, pods, policies, NODES)


# -- the same, with Cilium's policies mixed in -------------------------------------------

def _prefixed(sel):
    if "matchLabels" not in sel:
        return sel
    return {**sel, "matchLabels": {f"k8s:{k}": v for k, v in sel["matchLabels"].items()}}


cilium_selector = st.one_of(
    selector,
    selector.map(_prefixed),
    st.builds(lambda n: {"matchLabels": {"io.kubernetes.pod.namespace": n}}, st.sampled_from(["ns0", "ns1"])),
    st.builds(lambda v: {"matchLabels": {"io.cilium.k8s.namespace.labels.team": v}}, st.sampled_from(LABEL_VALUES)),
)
cilium_port = st.sampled_from([
    {"port": "80", "protocol": "TCP"}, {"port": "80"}, {"port": "http"}, {"port": "http", "protocol": "UDP"},
    {"port": "0", "protocol": "UDP"}, {"port": "80", "endPort": 81, "protocol": "TCP"}, {"port": 443},
])


def cilium_entry(side):
    return st.fixed_dictionaries({}, optional={
        side + "Endpoints": st.lists(cilium_selector, max_size=2),
        side + "Entities": st.lists(st.sampled_from(["all", "cluster", "host", "world", "kube-apiserver"]),
                                    max_size=2),
        side + "CIDR": st.just(["10.0.0.0/16"]),
        "toPorts": st.lists(st.fixed_dictionaries({}, optional={"ports": st.lists(cilium_port, max_size=2)}),
                            max_size=2),
    })


@st.composite
def cilium_policy(draw, index, namespaces):
    def rule():
        found = {"endpointSelector": draw(cilium_selector)}
        for key, side in (("ingress", "from"), ("egress", "to"), ("ingressDeny", "from"), ("egressDeny", "to")):
            if draw(st.booleans()):
                found[key] = draw(st.lists(cilium_entry(side), max_size=2))
        if draw(st.booleans()):
            found["enableDefaultDeny"] = draw(st.fixed_dictionaries({}, optional={
                "ingress": st.booleans(), "egress": st.booleans()}))
        return found
    clusterwide = draw(st.booleans())
    meta = {"name": f"cilium{index}"} | ({} if clusterwide else {"namespace": draw(st.sampled_from(namespaces))})
    kind = "CiliumClusterwideNetworkPolicy" if clusterwide else "CiliumNetworkPolicy"
    body = {"spec": rule()} if draw(st.booleans()) else {"specs": [rule() for _ in range(draw(st.integers(1, 2)))]}
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": meta, **body}


@st.composite
def cilium_cluster(draw):
    namespaces, pods, policies = draw(mixed_cluster())
    cilium = [draw(cilium_policy(i, sorted(namespaces))) for i in range(draw(st.integers(1, 3)))]
    return namespaces, pods, policies + cilium



# -- the same, with Calico's policies and tiers mixed in ---------------------------------

calico_selector = st.sampled_from([
    "app == 'a'", "has(tier)", "team in {'a', 'b'}", "app != 'b'", "all()", "!has(app)", "pcns.team == 'a'",
    "projectcalico.org/namespace == 'ns0'", "app == 'a' || tier == 'b'",
])
calico_namespace_selector = st.sampled_from(["team == 'a'", "all()", "projectcalico.org/name == 'ns1'", "has(team)"])
calico_entity = st.fixed_dictionaries({}, optional={
    "selector": calico_selector, "notSelector": calico_selector, "namespaceSelector": calico_namespace_selector,
    "nets": st.sampled_from([["10.0.0.0/16"], ["10.0.1.0/24", "10.0.2.0/24"]]), "notNets": st.just(["10.0.1.0/28"]),
})


@st.composite
def calico_rule(draw):
    rule = {"action": draw(st.sampled_from(["Allow", "Deny", "Pass", "Log"]))}
    protocol = draw(st.sampled_from([None, "TCP", "UDP", 6, "ICMP"]))
    if protocol is not None:
        rule["protocol"] = protocol
    elif draw(st.booleans()):
        rule["notProtocol"] = "UDP"
    if draw(st.booleans()):
        rule["source"] = draw(calico_entity)
    destination = dict(draw(st.one_of(st.just({}), calico_entity)))  # often no narrowing: rules decide more
    if protocol in ("TCP", "UDP", 6):
        ports = draw(st.lists(st.sampled_from([80, "80:81", "http", 443, "443"]), max_size=2))
        if ports:
            destination["ports"] = ports
        if draw(st.booleans()):
            destination["notPorts"] = [81]
    if destination:
        rule["destination"] = destination
    return rule


@st.composite
def calico_policy(draw, index, namespaces):
    spec = {"selector": draw(calico_selector)}
    tier = draw(st.sampled_from([None, "default", "security"]))
    if tier is not None:
        spec["tier"] = tier
    order = draw(st.sampled_from([None, 100, 1000, 2000]))
    if order is not None:
        spec["order"] = order
    types = draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    if types is not None:
        spec["types"] = types
    for direction in ("ingress", "egress"):
        if draw(st.booleans()):
            spec[direction] = draw(st.lists(calico_rule(), max_size=3))
    glob = draw(st.booleans())
    if glob and draw(st.booleans()):
        spec["namespaceSelector"] = draw(calico_namespace_selector)
    meta = {"name": f"cal{index}"} | ({} if glob else {"namespace": draw(st.sampled_from(namespaces))})
    api = draw(st.sampled_from(["projectcalico.org/v3", "crd.projectcalico.org/v1"]))
    return {"apiVersion": api, "kind": "GlobalNetworkPolicy" if glob else "NetworkPolicy", "metadata": meta,
            "spec": spec}


@st.composite
def calico_cluster(draw):
    # half the clusters have only NetworkPolicies beside Calico's, so Calico decides often
    namespaces, pods, policies = draw(st.one_of(cluster(), cilium_cluster()))
    calico = [draw(calico_policy(i, sorted(namespaces))) for i in range(draw(st.integers(1, 4)))]
    if draw(st.booleans()):
        calico.append({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
                       "spec": {"order": draw(st.sampled_from([300, 2_000_000, 20_000_000])),
                                "defaultAction": draw(st.sampled_from(["Deny", "Pass"]))}})
    return namespaces, pods, policies + calico


@pytest.mark.slow
@pytest.mark.parametrize("clusters", [cilium_cluster(), calico_cluster()], ids=["cilium", "every_kind"])
def test_class_based_equals_brute_force_with_engine_policies(clusters):
    @settings(max_examples=400, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # the admin peers' filter
    @given(clusters)
    def agrees(world):
        namespaces, pods, policies = world
        assert_agrees(namespaces, pods, policies, NODES)
    agrees()


# -- the answers' masks: kept in two's complement, every class as -1 ------------------------

@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_cluster())
def test_an_answers_verdicts_partition_the_classes(world):
    """Whatever form a mask takes ("every class but these" is negative), the verdicts of an
    answer each hold some class, hold no class twice, and together hold every class."""
    namespaces, pods, policies = world
    ev = evaluator(namespaces, pods, policies, NODES)
    for c in ev.classes:
        for direction in ("ingress", "egress"):
            verdicts = ev.verdicts(direction, c.id)
            held = [set(ev.members_ids(v.mask)) for v in verdicts]
            assert all(held)
            assert sum(map(len, held)) == len(set().union(*held)) == len(ev.classes)
            assert [ev.size(v.mask) for v in verdicts] == [len(h) for h in held]
