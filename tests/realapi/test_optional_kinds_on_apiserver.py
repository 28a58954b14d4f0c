"""Optional kinds against a real kube-apiserver: CRDs for a Cilium and a Calico kind are
created here, so their listing is real; the kinds no CRD serves are "not installed" and the
audit stays complete; a served kind the caller may not list makes it partial."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from scan_helpers import audit_inventory

from auditor.live.cluster import load_cluster

pytestmark = pytest.mark.apiserver

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
# (group, version, kind, plural, scope): one namespaced Cilium kind, one cluster-wide Calico kind
CRDS = (("cilium.io", "v2", "CiliumNetworkPolicy", "ciliumnetworkpolicies", "Namespaced"),
        ("crd.projectcalico.org", "v1", "GlobalNetworkPolicy", "globalnetworkpolicies", "Cluster"))


def crd(group, version, kind, plural, scope):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": scope,
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                     "versions": [{"name": version, "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def served(apiserver, group, version, plural) -> bool:
    status, body = apiserver.request("GET", f"/apis/{group}/{version}")
    return status == 200 and plural in {r["name"] for r in body.get("resources", [])}


def wait_until_served(apiserver, spec, wanted: bool, timeout: float = 60.0) -> None:
    """Discovery follows a CRD's creation and deletion after a moment."""
    group, version, _, plural, _ = spec
    deadline = time.monotonic() + timeout
    while served(apiserver, group, version, plural) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"{plural}.{group} {'not served' if wanted else 'still served'} after {timeout:.0f}s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def installed(apiserver) -> Iterator[str]:
    """The two CRDs, served, with one object each; removed afterwards so other tests see the
    cluster they expect. Yields the namespace of the namespaced object."""
    for spec in CRDS:
        status, body = apiserver.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd(*spec))
        assert status == 201, body
    for spec in CRDS:
        wait_until_served(apiserver, spec, True)
    namespace = f"optional-{uuid.uuid4().hex[:6]}"
    status, body = apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    assert status == 201, body
    cnp = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "wall"},
           "spec": {"endpointSelector": {}, "ingress": [{"fromEndpoints": [{}]}]}}
    gnp = {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy",
           "metadata": {"name": f"deny-{namespace}"}, "spec": {"selector": "all()", "types": ["Ingress"]}}
    for path, obj in ((f"/apis/cilium.io/v2/namespaces/{namespace}/ciliumnetworkpolicies", cnp),
                      ("/apis/crd.projectcalico.org/v1/globalnetworkpolicies", gnp)):
        status, body = apiserver.request("POST", path, obj)
        assert status == 201, body
    yield namespace
    for group, _, _, plural, _ in CRDS:
        apiserver.request("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.{group}")
    for spec in CRDS:
        wait_until_served(apiserver, spec, False)


def reader_rules():
    return next(doc["rules"] for doc in yaml.safe_load_all(RBAC.read_text())
                if doc and doc["metadata"]["name"] == "k8s-isolation-audit-reader")


def test_installed_kinds_are_listed_and_the_others_are_not_installed(apiserver, installed):
    inventory = load_cluster(apiserver.kubeconfig)
    assert inventory.skipped == ()
    mine = {(r.kind, r.api_version, r.namespace) for r in inventory.resources
            if r.api_version.startswith(("cilium.io/", "crd.projectcalico.org/"))}
    assert ("CiliumNetworkPolicy", "cilium.io/v2", installed) in mine
    assert ("GlobalNetworkPolicy", "crd.projectcalico.org/v1", None) in mine
    absent = {s.rsplit(": ", 1)[1] for s in inventory.not_installed}
    # the group is served, but not this resource: discovery says so
    assert "ciliumclusterwidenetworkpolicies.cilium.io" in absent
    assert {"adminnetworkpolicies.policy.networking.k8s.io", "tiers.projectcalico.org"} <= absent
    assert not {"ciliumnetworkpolicies.cilium.io", "globalnetworkpolicies.crd.projectcalico.org",
                "endpointslices.discovery.k8s.io"} & absent
    report = audit_inventory(inventory)
    assert report.coverage.complete and report.coverage.not_installed == inventory.not_installed


def test_the_reader_role_reads_the_installed_optional_kinds(apiserver, installed):
    kubeconfig = apiserver.make_user(f"optional-reader-{uuid.uuid4().hex[:6]}", reader_rules())
    inventory = load_cluster(kubeconfig)
    assert inventory.skipped == ()
    assert {"CiliumNetworkPolicy", "GlobalNetworkPolicy"} <= {r.kind for r in inventory.resources}


def test_an_installed_kind_the_caller_may_not_list_makes_the_audit_partial(apiserver, installed):
    user = f"no-cilium-{uuid.uuid4().hex[:6]}"
    rules = [r for r in reader_rules() if "cilium.io" not in r["apiGroups"]]
    inventory = load_cluster(apiserver.make_user(user, rules))
    assert [s.source for s in inventory.skipped] == [f"cluster {user}: ciliumnetworkpolicies.cilium.io"]
    assert inventory.skipped[0].reason.startswith(f"forbidden: user {user} cannot list ciliumnetworkpolicies")
    assert not audit_inventory(inventory).coverage.complete
