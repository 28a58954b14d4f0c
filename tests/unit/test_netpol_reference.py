"""The brute-force NetworkPolicy evaluator against the upstream e2e truth tables, plus edge cases."""
from __future__ import annotations

import pytest
from netpol_conformance import (
    Case,
    Namespace,
    Pod,
    build_model,
    fixture_paths,
    format_table,
    load_all,
    load_fixture,
)
from netpol_reference import allowed, selector_matches

PATHS = fixture_paths()


def test_the_upstream_scenarios_are_all_here():
    fixtures = list(load_all())
    assert len(fixtures) >= 40
    scenarios = {(f.context, f.name) for f in fixtures}
    # network_policy.go v1.35.4 has 48 truth-table Its; all are expressible as static data.
    assert len(scenarios) == 48
    for f in fixtures:
        if f.stages:
            siblings = [g for g in fixtures if (g.context, g.name) == (f.context, f.name)]
            assert sorted(g.stage for g in siblings) == list(range(1, f.stages + 1)), f.id


def _diff(fixture, case: Case) -> list[str]:
    pods = {p.key: p for p in fixture.pods}
    wrong = []
    for (frm, to), want in sorted(case.asserted().items()):
        got = allowed(pods[frm], pods[to], case.protocol, case.port, fixture.namespaces, fixture.policies)
        if got != want:
            wrong.append((frm, to, want, got))
    if not wrong:
        return []
    bad = {(frm, to) for frm, to, _, _ in wrong}
    table = format_table(list(pods), case.expect, mark=lambda cell: "!" if cell in bad else None)
    lines = [f"{case.protocol}/{case.port}: {len(wrong)} cell(s) differ from upstream "
             "(marked ! below; the rest of the table is upstream's expectation)"]
    lines += [f"  {frm} -> {to}: upstream {'allowed' if want else 'blocked'}, "
              f"reference {'allowed' if got else 'blocked'}" for frm, to, want, got in wrong]
    lines.append(table)
    return lines


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_reference_reproduces_upstream_truth_table(path):
    fixture = load_fixture(path)
    problems = []
    for case in fixture.cases:
        problems += _diff(fixture, case)
    assert not problems, f"{fixture.name} ({fixture.source})\n" + "\n".join(problems)


def test_upstream_self_cells_are_policy_applied_though_never_asserted():
    """Upstream's tables (ignoreLoopback, so never checked) put pod-to-itself under policy like
    any other pair; with loopback_always_allowed=False the reference reproduces them too. The
    docs say "a pod cannot block access to itself", which is the evaluator's default."""
    blocked_self = 0
    for fixture in load_all():
        for case in fixture.cases:
            for p in fixture.pods:
                want = case.expect[(p.key, p.key)]
                blocked_self += not want
                got = allowed(p, p, case.protocol, case.port, fixture.namespaces, fixture.policies,
                              loopback_always_allowed=False)
                assert got == want, (fixture.id, case.protocol, case.port, p.key)
                assert allowed(p, p, case.protocol, case.port, fixture.namespaces, fixture.policies)
    assert blocked_self > 0  # so the default really differs from upstream's unasserted cells


# ------------------------------------------------------------------------ hand-written edges

def ns(name, **labels):
    return Namespace(name, {"kubernetes.io/metadata.name": name, **labels})


def pod(namespace, name, ip, ports=(("http", 80, "TCP"),), host_network=False, **labels):
    return Pod(namespace, name, {"app": name, **labels}, ip, list(ports), host_network)


def policy(namespace, spec, name="p"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


NAMESPACES = [ns("prod", team="a"), ns("dev", team="b")]
CLIENT = pod("prod", "client", "10.1.0.1")
OTHER = pod("dev", "other", "10.2.0.1")


def test_end_port_range_is_inclusive_and_per_protocol():
    server = pod("prod", "server", "10.1.0.2", ports=[("p", n, "TCP") for n in (999, 1000, 1500, 2000, 2001)])
    pols = [policy("prod", {"podSelector": {"matchLabels": {"app": "server"}},
                            "ingress": [{"ports": [{"protocol": "TCP", "port": 1000, "endPort": 2000}]}]})]
    got = {n: allowed(CLIENT, server, "TCP", n, NAMESPACES, pols) for n in (999, 1000, 1500, 2000, 2001)}
    assert got == {999: False, 1000: True, 1500: True, 2000: True, 2001: False}
    assert not allowed(CLIENT, server, "UDP", 1500, NAMESPACES, pols)


def test_egress_end_port_range():
    server = pod("dev", "server", "10.2.0.2")
    pols = [policy("prod", {"podSelector": {}, "policyTypes": ["Egress"],
                            "egress": [{"ports": [{"port": 30000, "endPort": 32767}]}]})]
    assert allowed(CLIENT, server, "TCP", 31000, NAMESPACES, pols)
    assert not allowed(CLIENT, server, "TCP", 80, NAMESPACES, pols)


def test_ip_block_except_carves_out_of_the_cidr():
    near = pod("dev", "near", "10.2.0.9")
    far = pod("dev", "far", "10.2.1.9")
    outside = pod("dev", "outside", "192.168.0.1")
    pols = [policy("prod", {"podSelector": {"matchLabels": {"app": "client"}},
                            "egress": [{"to": [{"ipBlock": {"cidr": "10.2.0.0/16", "except": ["10.2.1.0/24"]}}]}]})]
    assert allowed(CLIENT, near, "TCP", 80, NAMESPACES, pols)
    assert not allowed(CLIENT, far, "TCP", 80, NAMESPACES, pols)
    assert not allowed(CLIENT, outside, "TCP", 80, NAMESPACES, pols)
    # policyTypes defaulted to [Ingress, Egress] because the policy has egress rules
    assert allowed(OTHER, CLIENT, "TCP", 80, NAMESPACES, []) and not allowed(OTHER, CLIENT, "TCP", 80, NAMESPACES, pols)


def test_policy_types_default_and_empty_lists():
    server = pod("prod", "server", "10.1.0.2")
    # `egress: []` is no egress rule at all: policyTypes defaults to [Ingress] only
    no_egress = [policy("prod", {"podSelector": {}, "egress": []})]
    assert not allowed(OTHER, server, "TCP", 80, NAMESPACES, no_egress)
    assert allowed(server, OTHER, "TCP", 80, NAMESPACES, no_egress)
    # an explicit Egress type with no rules denies all egress
    deny_egress = [policy("prod", {"podSelector": {}, "policyTypes": ["Egress"]})]
    assert not allowed(server, OTHER, "TCP", 80, NAMESPACES, deny_egress)
    assert allowed(OTHER, server, "TCP", 80, NAMESPACES, deny_egress)
    # `from: []` and `ports: []` mean every peer and every port; a rule `{}` allows everything
    for rule in ({"from": [], "ports": []}, {}):
        pols = [policy("prod", {"podSelector": {}, "ingress": [rule]})]
        assert allowed(OTHER, server, "UDP", 5353, NAMESPACES, pols)
    # policies in another namespace do not select the pod
    assert allowed(OTHER, server, "TCP", 80, NAMESPACES, [policy("dev", {"podSelector": {}})])


def test_ip_block_on_ingress_matches_the_source_ip():
    server = pod("prod", "server", "10.1.0.2")
    pols = [policy("prod", {"podSelector": {"matchLabels": {"app": "server"}},
                            "ingress": [{"from": [{"ipBlock": {"cidr": "10.2.0.0/24"}}]}]})]
    assert allowed(OTHER, server, "TCP", 80, NAMESPACES, pols)
    assert not allowed(CLIENT, server, "TCP", 80, NAMESPACES, pols)


@pytest.mark.parametrize("expr, matches", [
    ({"key": "tier", "operator": "In", "values": ["web", "api"]}, {"web": True, "db": False, "none": False}),
    ({"key": "tier", "operator": "NotIn", "values": ["web"]}, {"web": False, "db": True, "none": True}),
    ({"key": "tier", "operator": "Exists"}, {"web": True, "db": True, "none": False}),
    ({"key": "tier", "operator": "DoesNotExist"}, {"web": False, "db": False, "none": True}),
])
def test_match_expressions(expr, matches):
    for tier, want in matches.items():
        labels = {} if tier == "none" else {"tier": tier}
        assert selector_matches({"matchExpressions": [expr]}, labels) is want, (expr, tier)


def test_match_labels_and_expressions_are_anded():
    sel = {"matchLabels": {"app": "x"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    assert selector_matches(sel, {"app": "x", "tier": "1"})
    assert not selector_matches(sel, {"app": "x"})
    assert not selector_matches(sel, {"tier": "1"})
    assert selector_matches({}, {}) and selector_matches(None, {"a": "b"})


def test_match_expressions_in_a_namespace_selector_peer():
    server = pod("prod", "server", "10.1.0.2")
    pols = [policy("prod", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {
        "matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}}]}]})]
    assert allowed(OTHER, server, "TCP", 80, NAMESPACES, pols)       # dev has team=b
    assert not allowed(CLIENT, server, "TCP", 80, NAMESPACES, pols)  # prod has team=a


def test_named_port_resolves_per_destination_pod():
    # the same port name maps to a different number in each pod
    web1 = pod("prod", "web1", "10.1.0.3", ports=[("web", 8080, "TCP"), ("admin", 9090, "TCP")], role="web")
    web2 = pod("prod", "web2", "10.1.0.4", ports=[("web", 9090, "TCP"), ("admin", 8080, "TCP")], role="web")
    ingress = [policy("prod", {"podSelector": {"matchLabels": {"role": "web"}},
                               "ingress": [{"ports": [{"port": "web"}]}]})]
    assert allowed(CLIENT, web1, "TCP", 8080, NAMESPACES, ingress)
    assert not allowed(CLIENT, web1, "TCP", 9090, NAMESPACES, ingress)
    assert allowed(CLIENT, web2, "TCP", 9090, NAMESPACES, ingress)
    assert not allowed(CLIENT, web2, "TCP", 8080, NAMESPACES, ingress)
    # probing by name goes to each pod's own number
    assert allowed(CLIENT, web1, "TCP", "web", NAMESPACES, ingress)
    assert allowed(CLIENT, web2, "TCP", "web", NAMESPACES, ingress)
    assert not allowed(CLIENT, web2, "TCP", "admin", NAMESPACES, ingress)
    # egress named ports are resolved against the DESTINATION, not the source
    client = pod("dev", "client", "10.2.0.5", ports=[("web", 1, "TCP")])
    egress = [policy("dev", {"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
                             "egress": [{"ports": [{"port": "web"}]}]})]
    assert allowed(client, web1, "TCP", 8080, NAMESPACES, egress)
    assert allowed(client, web2, "TCP", 9090, NAMESPACES, egress)
    assert not allowed(client, web1, "TCP", 9090, NAMESPACES, egress)
    assert not allowed(client, web1, "TCP", 1, NAMESPACES, egress)


def test_named_port_needs_the_matching_protocol():
    dns = pod("prod", "dns", "10.1.0.6", ports=[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")])
    pols = [policy("prod", {"podSelector": {"matchLabels": {"app": "dns"}},
                            "ingress": [{"ports": [{"port": "dns"}]}]})]  # protocol defaults to TCP
    assert not allowed(CLIENT, dns, "UDP", 53, NAMESPACES, pols)
    assert not allowed(CLIENT, dns, "TCP", 53, NAMESPACES, pols)
    pols[0]["spec"]["ingress"][0]["ports"][0]["protocol"] = "UDP"
    assert allowed(CLIENT, dns, "UDP", 53, NAMESPACES, pols)


def test_pod_and_namespace_selector_in_one_peer_is_and_in_two_peers_is_or():
    server = pod("prod", "server", "10.1.0.2")
    dev_client = pod("dev", "client", "10.2.0.3")
    both = {"namespaceSelector": {"matchLabels": {"team": "b"}}, "podSelector": {"matchLabels": {"app": "client"}}}
    and_pol = [policy("prod", {"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{"from": [both]}]})]
    assert allowed(dev_client, server, "TCP", 80, NAMESPACES, and_pol)
    assert not allowed(OTHER, server, "TCP", 80, NAMESPACES, and_pol)
    assert not allowed(CLIENT, server, "TCP", 80, NAMESPACES, and_pol)
    either = [{"namespaceSelector": both["namespaceSelector"]}, {"podSelector": both["podSelector"]}]
    or_pol = [policy("prod", {"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{"from": either}]})]
    assert allowed(OTHER, server, "TCP", 80, NAMESPACES, or_pol)    # namespace dev
    assert allowed(CLIENT, server, "TCP", 80, NAMESPACES, or_pol)   # app=client in the policy's namespace


def test_host_network_pods_are_never_isolated_and_not_selected_as_peers():
    node_agent = pod("prod", "agent", "192.168.1.10", host_network=True)
    deny_all = [policy("prod", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})]
    assert allowed(OTHER, node_agent, "TCP", 80, NAMESPACES, deny_all)
    assert allowed(node_agent, OTHER, "TCP", 80, NAMESPACES, deny_all)
    server = pod("prod", "server", "10.1.0.2")
    from_prod = [policy("prod", {"podSelector": {"matchLabels": {"app": "server"}},
                                 "ingress": [{"from": [{"podSelector": {}}]}]})]
    assert allowed(CLIENT, server, "TCP", 80, NAMESPACES, from_prod)
    assert not allowed(node_agent, server, "TCP", 80, NAMESPACES, from_prod)
    from_node = [policy("prod", {"podSelector": {"matchLabels": {"app": "server"}},
                                 "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.1.0/24"}}]}]})]
    assert allowed(node_agent, server, "TCP", 80, NAMESPACES, from_node)


def test_a_pod_can_always_reach_itself():
    deny_all = [policy("prod", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})]
    assert allowed(CLIENT, CLIENT, "TCP", 80, NAMESPACES, deny_all)
    assert not allowed(CLIENT, pod("prod", "server", "10.1.0.2"), "TCP", 80, NAMESPACES, deny_all)


def test_loader_default_model_matches_upstream():
    namespaces, pods = build_model({"base": "default", "protocols": ["TCP"], "ports": [80, 81],
                                    "pod_labels": {"x/b": {"pod": "b", "extra": "1"}}})
    assert [p.key for p in pods] == ["x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"]
    assert namespaces["y"].labels["kubernetes.io/metadata.name"] == "y"
    xb = pods[1]
    assert xb.ip == "10.0.1.2" and xb.labels == {"pod": "b", "extra": "1"}
    assert xb.ports == [("serve-80-tcp", 80, "TCP"), ("serve-81-tcp", 81, "TCP")]
    assert pods[-1].ip == "10.0.3.3" and pods[-1].labels == {"pod": "c"}
