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
