"""ServiceAccount token automount as Kubernetes decides it (auditor/token_mount.py), through
IA130 and IA615 from every source: manifests, a live cluster (a fake API) and its snapshot."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from scan_helpers import TODAY, audit_inventory

from auditor import __version__
from auditor.cli import _load_rules
from auditor.config import Config
from auditor.engine import audit
from auditor.live.cluster import read_context
from auditor.live.snapshot import write_snapshot
from auditor.model import Inventory, Resource
from auditor.sources.manifests import load

UNSET = "unset"  # the field is left out
RULES, PLUGINS = _load_rules([])  # loaded once: the property test audits hundreds of inventories
IA130_ONLY = Config(select=("IA130",))
FIELD_VALUES = st.sampled_from([UNSET, None, True, False])


def reference(pod: Any, account_seen: bool, account: Any, projected: bool, mirror: bool) -> bool:
    """The Kubernetes rule (ServiceAccount admission plugin), written as plainly as it reads."""
    if mirror:
        return False
    if projected:
        return True
    if pod in (True, False):
        return pod
    if account_seen and account in (True, False):
        return account
    return True


def _pod_spec(pod: Any, name_field: str, projected: bool) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": "a", "image": "x"}]}
    if pod != UNSET:
        spec["automountServiceAccountToken"] = pod
    if name_field == "deprecated":
        spec.update(serviceAccountName="", serviceAccount="app")
    elif name_field == "name":
        spec["serviceAccountName"] = "app"
    if projected:
        spec["volumes"] = [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]
    return spec


def _workload(kind: str, spec: dict, mirror: bool) -> Resource:
    meta: dict[str, Any] = {"name": "w", "namespace": "shop"}
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "x"}
    if kind == "Pod":
        return Resource("Pod", "v1", "shop", "w", {"kind": "Pod", "metadata": meta, "spec": spec})
    template = {"metadata": {k: v for k, v in meta.items() if k == "annotations"}, "spec": spec}
    return Resource(kind, "apps/v1", "shop", "w", {"kind": kind, "metadata": meta, "spec": {"template": template}})


def _account(name: str, namespace: str, value: Any) -> Resource:
    obj: dict[str, Any] = {"kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
    if value != UNSET:
        obj["automountServiceAccountToken"] = value
    return Resource("ServiceAccount", "v1", namespace, name, obj)


@settings(max_examples=300, deadline=None)
@given(pod=FIELD_VALUES, account=FIELD_VALUES, account_seen=st.booleans(), projected=st.booleans(),
       mirror=st.booleans(), name_field=st.sampled_from(["name", "deprecated", "none"]),
       kind=st.sampled_from(["Pod", "Deployment", "StatefulSet"]),
       decoys=st.lists(st.sampled_from([("app", "blog"), ("default", "blog"), ("other", "shop")]), max_size=3))
def test_ia130_reports_exactly_the_pods_kubernetes_gives_a_token(pod, account, account_seen, projected, mirror,
                                                                 name_field, kind, decoys):
    """Decoys (the same name in another namespace, another name in the same one) say false and
    never decide; the mirror annotation counts on Pods only, as the kubelet only mirrors Pods."""
    mirror = mirror and kind == "Pod" and not projected  # the API server refuses a mirror pod with a token volume
    name = "default" if name_field == "none" else "app"
    resources = [_workload(kind, _pod_spec(pod, name_field, projected), mirror)]
    resources += [_account(n, ns, False) for n, ns in decoys if (n, ns) != (name, "shop")]
    if account_seen:
        resources.append(_account(name, "shop", account))
    findings = audit(Inventory(tuple(resources)), RULES, PLUGINS, IA130_ONLY, TODAY, __version__).findings
    assert bool(findings) == reference(pod, account_seen, account, projected, mirror)
    if not findings:
        return
    evidence = findings[0].evidence
    assert evidence["service_account"] == f"shop/{name}"
    # the evidence names what decided, and an unseen account is said to be unseen
    pod_decides = pod in (True, False) and not projected or pod is True
    if pod_decides:
        assert evidence["decided_by"] == "pod" and evidence["pod_field"]["value"] is pod
    elif projected and reference(pod, account_seen, account, False, False) is False:
        assert evidence["decided_by"] == "projected-volume" and evidence["projected_token_sources"]
    elif not account_seen:
        assert evidence["decided_by"] == "default" and "was not among the audited objects" in evidence["assumption"]
        assert "not among the audited objects" in findings[0].message
    else:
        assert evidence["decided_by"] == ("service-account" if account in (True, False) else "default")
        assert "service_account_field" in evidence


def test_a_field_that_is_no_boolean_assumes_a_token_and_never_shows_its_value():
    pod = _workload("Pod", {"serviceAccountName": "app", "automountServiceAccountToken": "hunter2",
                            "containers": [{"name": "a", "image": "x"}]}, mirror=False)
    account = _account("app", "shop", "s3cret")
    for resources in ([pod, _account("app", "shop", False)], [_workload("Pod", _pod_spec(UNSET, "name", False),
                                                                         mirror=False), account]):
        findings = audit_inventory(Inventory(tuple(resources)), select=["IA130"]).findings
        assert len(findings) == 1 and "not a boolean" in findings[0].message
        shown = json.dumps(findings[0].evidence) + findings[0].message
        assert "hunter2" not in shown and "s3cret" not in shown


# -- a live cluster, and its snapshot ---------------------------------------------------------

LIVE_ACCOUNTS = [
    {"metadata": {"name": "default", "namespace": "shop"}},
    {"metadata": {"name": "quiet", "namespace": "shop"}, "automountServiceAccountToken": False},
]
INJECTED = {"name": "kube-api-access-abcde", "projected": {"sources": [
    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}


def _live_pod(name: str, account: str, volumes: list) -> dict:
    return {"metadata": {"name": name, "namespace": "shop"},
            "spec": {"serviceAccountName": account, "containers": [{"name": "a", "image": "x"}], "volumes": volumes}}


class Api:
    """What read_context asks of transport.Api: reviews allowed, lists from a dict."""

    context, server = "prod", "https://127.0.0.1:6443"

    def __init__(self, lists: dict[str, list]) -> None:
        self.lists = lists

    def create(self, path: str, body: dict) -> dict:
        return {"status": {"allowed": True, "userInfo": {"username": "auditor"}}}

    def get(self, path: str, **query: Any) -> dict:
        return {}

    def list_items(self, path: str, page_size: int, *, each_page: Any) -> list:
        return each_page(json.loads(json.dumps(self.lists.get(path.rsplit("/", 1)[-1], []))))


def _live_inventory() -> Inventory:
    # Admitted pods: `web` (default account, no field) got the token volume; `batch` runs as
    # `quiet`, whose false kept it out.
    api = Api({"serviceaccounts": LIVE_ACCOUNTS, "namespaces": [{"metadata": {"name": "shop"}}],
               "pods": [_live_pod("web", "default", [INJECTED]), _live_pod("batch", "quiet", [])]})
    read = read_context(api)
    assert not read.skipped
    return Inventory(tuple(read.resources), cluster="prod")


def test_a_live_cluster_lists_serviceaccounts_and_their_field_decides():
    inventory = _live_inventory()
    assert {r.name for r in inventory.resources if r.kind == "ServiceAccount"} == {"default", "quiet"}
    findings = audit_inventory(inventory, select=["IA130"]).findings
    assert [(f.name, f.evidence["decided_by"]) for f in findings] == [("web", "default")]
    assert findings[0].evidence["service_account_field"] == {"at": "cluster prod", "value": None}


def test_a_snapshot_keeps_the_serviceaccounts_and_points_at_their_field(tmp_path: Path):
    snapshot = tmp_path / "prod.json"
    write_snapshot(_live_inventory(), snapshot)
    inventory = load([str(snapshot)])
    pod = dict(_live_pod("late", "quiet", []), apiVersion="v1", kind="Pod")  # a workload added beside it
    late = Resource("Pod", "v1", "shop", "late", {**pod, "spec": {**pod["spec"], "volumes": [INJECTED]}})
    findings = audit_inventory(Inventory((late, *inventory.resources)), select=["IA130"]).findings
    assert {f.name for f in findings} == {"web", "late"}
    web = next(f for f in findings if f.name == "web")
    path, line = web.evidence["service_account_field"]["at"].rsplit(":", 1)
    lines = snapshot.read_text().splitlines()
    # the account sets no field: the evidence points at the account itself
    assert path == str(snapshot) and lines[int(line) - 1].strip() == "{"
    assert '"name": "default"' in "".join(lines[int(line):int(line) + 5])
    # `late` was admitted with its token before `quiet` said false: the volume decides, and the
    # account's field is shown at its line in the snapshot
    found = next(f for f in findings if f.name == "late").evidence
    path, line = found["service_account_field"]["at"].rsplit(":", 1)
    assert found["decided_by"] == "projected-volume" and found["service_account_field"]["value"] is False
    assert lines[int(line) - 1].strip() == '"automountServiceAccountToken": false'


def test_ia615_takes_the_same_verdict(tmp_path: Path):
    """A ServiceAccount that may read every Secret: its pods are reported exactly when they get a token."""
    rbac = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"},
         "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}]},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "shop"},
         "automountServiceAccountToken": False},
    ]
    pods = {name: {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop"},
                   "spec": _pod_spec(pod, "name", projected)}
            for name, pod, projected in (("quiet", UNSET, False), ("loud", True, False), ("projected", False, True))}
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac + list(pods.values())}))
    report = audit_inventory(load([str(path)]), select=["IA130", "IA615"])
    by_rule = {r: sorted(f.name for f in report.findings if f.rule_id == r) for r in ("IA130", "IA615")}
    assert by_rule == {"IA130": ["loud", "projected"], "IA615": ["loud", "projected"]}
    assert all(f.evidence["token"]["decided_by"] in ("pod", "projected-volume")
               for f in report.findings if f.rule_id == "IA615")


JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.text(max_size=4)),
                       lambda inner: st.one_of(st.lists(inner, max_size=2),
                                               st.dictionaries(st.sampled_from(["serviceAccountToken", "projected",
                                                                                "sources", "name", "x"]),
                                                               inner, max_size=3)), max_leaves=8)
SPOTS = [("spec", "automountServiceAccountToken"), ("spec", "serviceAccountName"), ("spec", "serviceAccount"),
         ("spec", "volumes"), ("metadata", "annotations"), ("account", "automountServiceAccountToken"),
         ("account", "metadata")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SPOTS), JSONISH), min_size=1, max_size=3))
def test_any_value_in_any_field_it_reads_is_audited_and_never_a_silent_pass(changes):
    """Whatever a broken or hostile manifest holds where token_mount reads, the audit runs; a
    verdict of no token needs a false the fields really say (or a mirror pod's annotation)."""
    pod = {"kind": "Pod", "metadata": {"name": "w", "namespace": "shop"},
           "spec": {"serviceAccountName": "app", "containers": [{"name": "a", "image": "x"}]}}
    account = {"kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "shop"}}
    for (where, key), value in changes:
        (account if where == "account" else pod[where])[key] = value
    resources = [Resource("Pod", "v1", "shop", "w", pod), Resource("ServiceAccount", "v1", "shop", "app", account)]
    findings = audit(Inventory(tuple(resources)), RULES, PLUGINS, IA130_ONLY, TODAY, __version__).findings
    spec, annotations = pod["spec"], pod["metadata"].get("annotations")
    mirror = isinstance(annotations, dict) and "kubernetes.io/config.mirror" in annotations
    said_false = spec.get("automountServiceAccountToken") is False or (
        spec.get("automountServiceAccountToken") is None and account.get("automountServiceAccountToken") is False)
    if not findings:
        assert mirror or said_false
