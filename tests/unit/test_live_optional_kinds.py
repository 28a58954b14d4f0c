"""Optional kinds (cluster-wide, Cilium and Calico policies, EndpointSlices) through a fake
API server at the HTTP level: a kind the cluster does not serve is "not installed" and keeps
the audit complete; one it serves but will not let the caller list makes the audit partial."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from scan_helpers import audit_inventory
from test_live_retry import _Resp, status_body

from auditor.live.cluster import read_context
from auditor.live.kinds import BY_KIND, SCAN_KINDS
from auditor.live.transport import Api
from auditor.model import Inventory
from auditor.reports import renderer

OPTIONAL = [k for k in SCAN_KINDS if k.optional]
CILIUM = {"ciliumnetworkpolicies.cilium.io", "ciliumclusterwidenetworkpolicies.cilium.io"}


def not_found():
    return _Resp(404, status_body(404, "NotFound", "the server could not find the requested resource"))


def forbidden(what):
    return _Resp(403, status_body(403, "Forbidden", f'{what} is forbidden: User "auditor" cannot list resource'))


class Server:
    """Answers by path: discovery per group version, lists, and the two reviews."""

    class configuration:
        host = "https://fake:6443"

    def __init__(self, served, lists=None, discovery=None):
        self.served = served  # group version prefix -> plurals it serves
        self.lists = lists or {}  # list path -> answer (default: an empty list)
        self.discovery = discovery or {}  # group version prefix -> answer instead of the served list
        self.paths = []

    def param_serialize(self, method, path, header_params=None, body=None, auth_settings=None):
        return method, path, dict(header_params or {}), body, None

    def call_api(self, method, url, header_params=None, body=None, post_params=None, _request_timeout=None):
        path = urlsplit(url).path
        self.paths.append((method, path))
        if path.endswith("/selfsubjectreviews"):
            return _Resp(201, json.dumps({"status": {"userInfo": {"username": "auditor"}}}).encode())
        if path.endswith("/selfsubjectaccessreviews"):
            return _Resp(201, b'{"status": {"allowed": true}}')
        if path in self.discovery:
            return self.discovery[path]
        if path in self.served:
            return _Resp(200, json.dumps({"resources": [{"name": p} for p in self.served[path]]}).encode())
        if path in self.lists:
            return self.lists[path]
        prefix, _, _ = path.rpartition("/")
        if prefix in self.served and path.rsplit("/", 1)[1] in self.served[prefix]:
            return _Resp(200, b'{"items": [], "metadata": {}}')
        if prefix.startswith("/api/v1") or prefix in ("/apis/" + k.group + "/" + k.version for k in SCAN_KINDS
                                                      if not k.optional):
            return _Resp(200, b'{"items": [], "metadata": {}}')
        return not_found()

    def close(self):
        pass


def read(server):
    return read_context(Api("ctx", server, sleep=lambda s: None), kinds=SCAN_KINDS)


def names(kinds):
    return {k.display for k in kinds}


def test_kinds_a_cluster_does_not_serve_are_not_installed_and_the_read_is_complete():
    anp = {"metadata": {"name": "tenants"}, "spec": {"priority": 10, "subject": {"namespaces": {}}}}
    server = Server(
        {"/apis/policy.networking.k8s.io/v1alpha1": ["adminnetworkpolicies"],  # no baseline: not installed
         "/apis/projectcalico.org/v3": ["networkpolicies", "globalnetworkpolicies", "tiers"],
         "/apis/discovery.k8s.io/v1": ["endpointslices"]},
        lists={"/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies":
               _Resp(200, json.dumps({"items": [anp], "metadata": {}}).encode())})
    got = read(server)
    assert got.skipped == []
    assert {s.rsplit(": ", 1)[1] for s in got.not_installed} == CILIUM | {
        "baselineadminnetworkpolicies.policy.networking.k8s.io", "clusternetworkpolicies.policy.networking.k8s.io",
        "networkpolicies.crd.projectcalico.org", "globalnetworkpolicies.crd.projectcalico.org",
        "tiers.crd.projectcalico.org"}
    assert all(s.startswith("cluster ctx: ") for s in got.not_installed)
    [admin] = [r for r in got.resources if r.kind == "AdminNetworkPolicy"]
    assert admin.api_version == "policy.networking.k8s.io/v1alpha1" and admin.obj["kind"] == "AdminNetworkPolicy"
    # a kind found absent in discovery is neither reviewed nor listed
    assert not [p for m, p in server.paths if "cilium.io" in p and p != "/apis/cilium.io/v2"]


def test_an_optional_kind_the_caller_may_not_list_still_makes_the_read_partial():
    server = Server({"/apis/cilium.io/v2": ["ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies"]},
                    lists={"/apis/cilium.io/v2/ciliumnetworkpolicies": forbidden("ciliumnetworkpolicies.cilium.io")})
    got = read(server)
    assert [s.source for s in got.skipped] == ["cluster ctx: ciliumnetworkpolicies.cilium.io"]
    assert "forbidden: user auditor cannot list ciliumnetworkpolicies (cilium.io)" in got.skipped[0].reason
    assert not CILIUM & {s.rsplit(": ", 1)[1] for s in got.not_installed}


def test_unreadable_discovery_decides_nothing_the_list_does():
    """Discovery forbidden: a list that then says 404 is not installed, one that says 403 is partial."""
    server = Server({}, discovery={"/apis/cilium.io/v2": forbidden("discovery")},
                    lists={"/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies": forbidden("ccnp")})
    got = read(server)
    assert [s.source for s in got.skipped] == ["cluster ctx: ciliumclusterwidenetworkpolicies.cilium.io"]
    assert "cluster ctx: ciliumnetworkpolicies.cilium.io" in got.not_installed


def test_a_required_kind_the_cluster_does_not_serve_is_still_partial():
    server = Server({}, lists={BY_KIND["RuntimeClass"].list_path: not_found()})
    got = read(server)
    assert [s.source for s in got.skipped] == ["cluster ctx: runtimeclasses"]
    assert "not served by this cluster" in got.skipped[0].reason


def test_not_installed_kinds_are_in_the_report_coverage_which_stays_complete():
    inventory = Inventory(resources=(), inputs=("cluster ctx",), cluster="ctx",
                          not_installed=("cluster ctx: ciliumnetworkpolicies.cilium.io",))
    report = audit_inventory(inventory)
    assert report.coverage.complete
    coverage = json.loads(renderer("json")(report))["coverage"]
    assert coverage["not_installed"] == ["cluster ctx: ciliumnetworkpolicies.cilium.io"] and coverage["complete"]


def test_optional_kinds_are_the_policy_kinds_and_endpoint_slices():
    assert names(OPTIONAL) == CILIUM | {
        "endpointslices.discovery.k8s.io",
        "adminnetworkpolicies.policy.networking.k8s.io", "baselineadminnetworkpolicies.policy.networking.k8s.io",
        "clusternetworkpolicies.policy.networking.k8s.io",
        *(f"{p}.{g}" for g in ("projectcalico.org", "crd.projectcalico.org")
          for p in ("networkpolicies", "globalnetworkpolicies", "tiers"))}
    assert BY_KIND["NetworkPolicy"].group == "networking.k8s.io"


def test_a_snapshot_records_the_kinds_not_installed():
    from auditor.live.snapshot import NOT_INSTALLED_ANNOTATION, snapshot_document

    absent = ("cluster ctx: tiers.projectcalico.org",)
    doc = snapshot_document(Inventory(resources=(), cluster="ctx", not_installed=absent))
    assert tuple(json.loads(doc["metadata"]["annotations"][NOT_INSTALLED_ANNOTATION])) == absent
    bare = snapshot_document(Inventory(resources=(), cluster="ctx"))
    assert NOT_INSTALLED_ANNOTATION not in bare["metadata"]["annotations"]
