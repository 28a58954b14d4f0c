"""IA201 and IA401 split tenant namespaces by what the policy evaluator says of their pods, whatever
the kind of policy: none isolated for ingress is IA201, some isolated and some open is IA401."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scan_helpers import scan, write

WORKLOADS = ("api", "worker", "cache")


def _deployment(name: str, namespace: str = "shop") -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
            f"spec:\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
            f"    spec: {{containers: [{{name: c, image: x}}]}}\n")


def _policy(kind: str, selected: tuple[str, ...]) -> str:
    """A policy of this kind in namespace shop, selecting the workloads named (ingress only)."""
    values = "[" + ", ".join(selected) + "]"
    if kind == "NetworkPolicy":
        return ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\n"
                f"spec:\n  podSelector: {{matchExpressions: [{{key: app, operator: In, values: {values}}}]}}\n"
                "  policyTypes: [Ingress]\n")
    if kind == "CiliumNetworkPolicy":
        return ("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: shop}\n"
                f"spec:\n  endpointSelector: {{matchExpressions: [{{key: app, operator: In, values: {values}}}]}}\n"
                "  ingress: [{fromEndpoints: [{matchLabels: {app: api}}]}]\n")
    assert kind == "CalicoNetworkPolicy"
    return ("apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\n"
            f"spec:\n  selector: app in {{{', '.join(repr(s) for s in selected)}}}\n"
            "  types: [Ingress]\n  ingress: [{action: Allow, source: {selector: app == 'api'}}]\n")


def _findings(tmp_path, *documents: str) -> list[tuple[str, str | None]]:
    path = write(tmp_path, "m.yaml", "---\n".join(documents))
    return sorted((f.rule_id, f.namespace) for f in scan([str(path)], select=["IA201", "IA401"]).findings)


ADMIN_DENY = """apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: wall}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  ingress: [{name: others, action: Deny, from: [{namespaces: {}}]}]
"""
BASELINE_DENY = """apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress: [{name: others, action: Deny, from: [{namespaces: {}}]}]
"""


@pytest.mark.parametrize("policy", [
    _policy("CiliumNetworkPolicy", WORKLOADS[:2]),
    _policy("CalicoNetworkPolicy", WORKLOADS[:2]),
    ADMIN_DENY,
    BASELINE_DENY,
], ids=["cilium", "calico", "admin", "baseline-admin"])
def test_a_namespace_isolated_by_any_kind_of_policy_is_no_ia201(tmp_path, policy):
    assert _findings(tmp_path, _deployment("api"), _deployment("worker"), policy) == []


def test_an_engine_policy_selecting_one_of_two_workloads_is_ia401_only(tmp_path):
    cilium = _policy("CiliumNetworkPolicy", ("api",))
    assert _findings(tmp_path, _deployment("api"), _deployment("worker"), cilium) == [("IA401", "shop")]


def test_a_namespace_without_policy_is_ia201_only(tmp_path):
    assert _findings(tmp_path, _deployment("api"), _deployment("worker")) == [("IA201", "shop")]


@pytest.mark.parametrize("kind", ["NetworkPolicy", "CalicoNetworkPolicy"])
def test_a_policy_selecting_none_of_the_pods_is_ia201_only(tmp_path, kind):
    found = _findings(tmp_path, _deployment("api"), _deployment("worker"), _policy(kind, ("db",)))
    assert found == [("IA201", "shop")]
    (finding,) = scan([str(tmp_path / "m.yaml")], select=["IA201"]).findings
    assert finding.evidence == {"workloads": 2, "policies": 1}


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(["NetworkPolicy", "CiliumNetworkPolicy", "CalicoNetworkPolicy"]),
       selected=st.sets(st.sampled_from(WORKLOADS)))
def test_ia201_and_ia401_partition_the_namespace_by_its_isolated_pods(tmp_path_factory, kind, selected):
    """Whatever the kind and the workloads selected: none isolated is IA201, some is IA401, all is
    neither, and never both; namespace bank, with no policy, is IA201 throughout."""
    # the policy also names a workload that does not exist, so it is there even when it selects none
    documents = [_deployment(w) for w in WORKLOADS] + [_deployment("web", "bank")]
    documents.append(_policy(kind, tuple(sorted(selected | {"db"}))))
    found = _findings(tmp_path_factory.mktemp("m"), *documents)
    expected = [("IA201", "shop")] if not selected else [("IA401", "shop")] if len(selected) < len(WORKLOADS) else []
    assert found == sorted(expected + [("IA201", "bank")])


def test_a_namespace_of_host_network_pods_only_is_no_ia201(tmp_path):
    # no network policy can isolate them: the host-network rules report such pods instead
    host = _deployment("agent").replace("    spec: {", "    spec: {hostNetwork: true, ")
    assert _findings(tmp_path, host) == []
