"""Cluster-wide policies against the network-policy-api conformance verdicts: the brute-force
reference and the class-based evaluator must both give every verdict upstream states."""
from __future__ import annotations

import pytest
from netpol_admin_conformance import case_paths, load
from netpol_reference import allowed
from test_netpol import class_allows, evaluator

PATHS = case_paths()


def test_every_upstream_conformance_test_is_here():
    tests = {load(p).test for p in PATHS}
    # 24 ConformanceTests per API version (v1alpha1 ANP/BANP, v1alpha2 CNP), each with >= 1 state
    assert len([t for t in tests if t.startswith("CNP")]) == 24
    assert len([t for t in tests if not t.startswith("CNP")]) == 24
    assert sum(len(load(p).pokes) for p in PATHS) == 590


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_reference_gives_upstream_verdicts(path):
    case = load(path)
    wrong = [poke for poke in case.pokes
             if allowed(case.pods[poke.src], case.pods[poke.dst], poke.protocol, poke.port, case.namespaces,
                        case.policies, nodes=case.nodes) != poke.allowed]
    assert not wrong, f"{case.test}: {case.name}: {wrong}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_class_based_evaluator_gives_upstream_verdicts(path):
    case = load(path)
    ev = evaluator(case.namespaces, list(case.pods.values()), case.policies, case.nodes)
    wrong = [poke for poke in case.pokes
             if class_allows(ev, case.pods[poke.src], case.pods[poke.dst], poke.protocol, poke.port) != poke.allowed]
    assert not wrong, f"{case.test}: {case.name}: {wrong}"
