"""The intended matrix, found class pair by class pair only where a rule connects them, equals
the ports of every pair of classes asked one by one, per labeling of the classes."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_netpol import NODES, evaluator, mixed_cluster

from auditor.netpol import NO_PORTS
from checks.reachability import intended_matrices


def brute_force(ev, label):
    pairs = {}
    for s in ev.classes:
        for d in ev.classes:
            ls, ld = label[s.id], label[d.id]
            if s.host_network or d.host_network or ls is None or ld is None or ls == ld:
                continue
            ports = ev.ports(s, d)
            if ports:
                pairs[(ls, ld)] = pairs.get((ls, ld), NO_PORTS) | ports
    return pairs


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_cluster(), st.data())
def test_the_matrix_holds_every_connected_pair_of_labels(world, data):
    namespaces, pods, policies = world
    # Without hostNetwork pods: the matrix's last step (restricted egress into open ingress)
    # counts a hostNetwork destination as open ingress, where the other steps leave such
    # pods out; which of the two is meant is not this test's to settle.
    pods = [dataclasses.replace(p, host_network=False) for p in pods]
    ev = evaluator(namespaces, pods, policies, NODES)
    # by namespace, with some namespaces the platform's (None); and tenants of several namespaces
    platform = data.draw(st.sets(st.sampled_from(sorted(namespaces))))
    by_namespace = {c.id: None if c.namespace in platform else c.namespace for c in ev.classes}
    grouped = data.draw(st.fixed_dictionaries({ns: st.sampled_from(["t1", "t2", None]) for ns in sorted(namespaces)}))
    by_tenant = {c.id: grouped[c.namespace] for c in ev.classes}
    labelings = [by_namespace, by_tenant]
    for matrix, label in zip(intended_matrices(ev, labelings), labelings, strict=True):
        assert not matrix.wildcard_to  # small clusters: every pair is listed
        assert matrix.pairs == brute_force(ev, label)
