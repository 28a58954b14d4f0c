"""The live source against a real kube-apiserver: same findings as files, RBAC-aware partial
audits, pagination, kubeconfig resolution, and one-line connection errors."""
from __future__ import annotations

import base64
import copy
import datetime
import json
import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from harness.apiserver import CertAuthority, free_port
from scan_helpers import audit_inventory, scan

from auditor.live.cluster import load_cluster, read_context
from auditor.live.errors import ClusterError
from auditor.live.kinds import BY_KIND, SCAN_KINDS
from auditor.live.kubeconfig import load_kubeconfig
from auditor.live.transport import connect
from auditor.sources.manifests import load

pytestmark = pytest.mark.apiserver

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "fixtures" / "demo" / "cluster"
RBAC = REPO / "deploy" / "rbac.yaml"
PLATFORM = ("kube-system", "default")


def unique(prefix: str) -> str:
    # deleted namespaces stay Terminating without a controller-manager: never reuse a name
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def demo_objects(sfx: str) -> list[dict]:
    """The demo cluster with every namespace, node and RuntimeClass renamed, so each test owns
    its copy in the shared apiserver (objects of kube-system and default are left out)."""
    objects = []
    for r in load([str(DEMO)]).resources:
        obj = copy.deepcopy(r.obj)
        meta = obj["metadata"]
        if obj["kind"] == "Namespace":
            if meta["name"] in PLATFORM:
                continue
            meta["name"] = f"{meta['name']}-{sfx}"
        elif meta.get("namespace"):
            if meta["namespace"] in PLATFORM:
                continue
            meta["namespace"] = f"{meta['namespace']}-{sfx}"
        elif obj["kind"] in ("Node", "RuntimeClass"):
            meta["name"] = f"{meta['name']}-{sfx}"
            if "kubernetes.io/hostname" in meta.get("labels", {}):
                meta["labels"]["kubernetes.io/hostname"] = meta["name"]
        objects.append(_rename_refs(obj, sfx))
    return objects


def _rename_refs(obj, sfx):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("nodeName", "runtimeClassName") and isinstance(v, str):
                out[k] = f"{v}-{sfx}"
            elif k == "nodeSelector" and isinstance(v, dict):
                out[k] = {kk: (f"{vv}-{sfx}" if kk == "kubernetes.io/hostname" else vv) for kk, vv in v.items()}
            else:
                out[k] = _rename_refs(v, sfx)
        return out
    if isinstance(obj, list):
        return [_rename_refs(v, sfx) for v in obj]
    return obj


def create_all(server, objects):
    order = ("Namespace", "Node", "RuntimeClass")
    for obj in sorted(objects, key=lambda o: order.index(o["kind"]) if o["kind"] in order else len(order)):
        kind = BY_KIND[obj["kind"]]
        status, body = server.request("POST", kind.path(obj["metadata"].get("namespace")), obj)
        assert status == 201, (obj["kind"], obj["metadata"], body)


def read_back_as_list(server):
    """What `kubectl get <every kind we read> -A -o json` prints."""
    items = []
    for kind in SCAN_KINDS:
        status, body = server.request("GET", kind.list_path)
        if status == 404 and kind.optional:
            continue  # not installed here: kubectl would say "the server doesn't have a resource type"
        assert status == 200, body
        for item in body["items"]:
            item["metadata"].pop("managedFields", None)
            items.append({"apiVersion": kind.api_version, "kind": kind.kind, **item})
    return {"apiVersion": "v1", "kind": "List", "items": items}


def keys(report, objects=None):
    def namespace(o):
        return o["metadata"]["name"] if o["kind"] == "Namespace" else o["metadata"].get("namespace")

    created = None if objects is None else {(o["kind"], namespace(o), o["metadata"]["name"]) for o in objects}
    return sorted(
        (f.rule_id, f.severity.label, f.tenant or "", f.namespace or "", f.kind, f.name, f.container or "",
         f.node or "", f.message)
        for f in report.findings
        if created is None or (f.kind, f.namespace, f.name) in created
    )


def kubeconfig_for(path: Path, server: str, ca_pem: bytes, cert_pem: bytes | None = None,
                   key_pem: bytes | None = None, name: str = "ctx") -> str:
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    user = {} if cert_pem is None else {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }))
    return str(path)


def admin_config(apiserver) -> dict:
    return json.loads(Path(apiserver.kubeconfig).read_text())


# --- same findings ------------------------------------------------------------------------------

def test_load_cluster_gives_the_findings_of_the_same_objects_as_files(apiserver, tmp_path):
    sfx = uuid.uuid4().hex[:6]
    objects = demo_objects(sfx)
    create_all(apiserver, objects)
    fixture = tmp_path / "renamed-demo.json"
    fixture.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=1))

    inventory = load_cluster(apiserver.kubeconfig)
    assert inventory.skipped == () and inventory.cluster == "admin" and inventory.inputs == ("cluster admin",)
    assert all(r.origin.cluster == "admin" and r.origin.path is None for r in inventory.resources)
    assert all(r.obj["kind"] == r.kind and r.obj["apiVersion"] == r.api_version for r in inventory.resources)
    assert not any("managedFields" in r.metadata for r in inventory.resources)
    live = audit_inventory(inventory)
    assert live.coverage.complete
    assert live.source["type"] == "cluster" and live.source["cluster"] == "admin"

    # 1. the objects we created, read back by load_cluster: the findings of the (renamed) demo
    # files, every one (other tests' tenants in this apiserver are left out on both sides)
    created = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}
    ours = replace(inventory, resources=tuple(r for r in inventory.resources if r.key in
                                              {(k, ns or "", n) for k, ns, n in created}))
    assert len(ours.resources) == len(objects)
    from_files = scan([str(fixture)])
    assert len(from_files.findings) > 10
    assert keys(audit_inventory(ours)) == keys(from_files)
    # 2. the whole cluster: the findings of `kubectl get ... -A -o json` of it, as a file
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(read_back_as_list(apiserver), indent=1))
    assert keys(live) == keys(scan([str(dump)]))
    assert all(f.cluster == "admin" and f.location is None for f in live.findings)


# --- permissions first --------------------------------------------------------------------------

def served(apiserver, kinds):
    """The kinds this apiserver serves: every required one, optional ones whose CRD or group exists."""
    return [k for k in kinds if not k.optional or apiserver.request("GET", k.list_path)[0] == 200]


def rbac_roles() -> dict[str, list[dict]]:
    return {doc["metadata"]["name"]: doc["rules"] for doc in yaml.safe_load_all(RBAC.read_text())
            if doc and doc["kind"] == "ClusterRole"}


def test_the_read_only_role_of_deploy_rbac_is_enough_for_a_complete_scan(apiserver):
    rules = rbac_roles()["k8s-isolation-audit-reader"]
    granted = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == {(k.group, k.plural) for k in SCAN_KINDS} | {("authorization.k8s.io", "selfsubjectaccessreviews")}
    assert not any(r in ("secrets", "configmaps") for _, r in granted)
    assert all(set(rule["verbs"]) <= {"get", "list", "create"} for rule in rules)

    user = unique("reader")
    kubeconfig = apiserver.make_user(user, rules)
    as_reader = load_cluster(kubeconfig)
    as_admin = load_cluster(apiserver.kubeconfig)
    assert as_reader.skipped == ()
    assert sorted(r.key for r in as_reader.resources) == sorted(r.key for r in as_admin.resources)
    assert audit_inventory(as_reader).coverage.complete


def test_a_restricted_user_gets_a_partial_audit_naming_the_missing_kinds(apiserver):
    user = unique("narrow")
    kubeconfig = apiserver.make_user(user, [
        {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": ["list"]}])
    inventory = load_cluster(kubeconfig)
    readable = {"Pod", "Namespace", "Node"}
    missing = [k for k in served(apiserver, SCAN_KINDS) if k.kind not in readable]
    assert [s.source for s in inventory.skipped] == [
        f"cluster {user}: {k.display if k.optional else k.plural}" for k in missing]
    pods = next(s for s in inventory.skipped if s.source.endswith(": deployments"))
    assert pods.reason == f"forbidden: user {user} cannot list deployments (apps) at cluster scope"
    services = next(s for s in inventory.skipped if s.source.endswith(": services"))
    assert services.reason == f"forbidden: user {user} cannot list services at cluster scope"
    assert {r.kind for r in inventory.resources} <= readable
    report = audit_inventory(inventory)
    assert not report.coverage.complete
    assert len(report.coverage.skipped) == len(missing)


def test_a_forbidden_list_is_skipped_even_when_the_review_cannot_be_asked(apiserver, monkeypatch):
    """When the access review gives no answer, the 403 of the list itself names the user."""
    user = unique("nolist")
    kubeconfig = apiserver.make_user(user, [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}])
    from auditor.live import cluster as live_cluster

    monkeypatch.setattr(live_cluster, "may_list", lambda api, kind: (None, ""))
    api = connect(load_kubeconfig(kubeconfig), user)
    try:
        read = read_context(api, kinds=[BY_KIND["Node"], BY_KIND["Pod"]])
    finally:
        api.close()
    assert [s.one_line() for s in read.skipped] == [
        f"cluster {user}: pods: forbidden: user {user} cannot list pods at cluster scope"]


# --- pagination ---------------------------------------------------------------------------------

def test_lists_are_paged_with_limit_and_continue(apiserver):
    ns = unique("paging")
    assert apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201

    def pod(i):
        body = {"metadata": {"name": f"p-{i:03d}", "labels": {"app": "paging"}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]}}
        status, resp = apiserver.request("POST", f"/api/v1/namespaces/{ns}/pods", body)
        assert status == 201, resp

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(pod, range(300)))
    total = len(apiserver.request("GET", "/api/v1/pods")[1]["items"])
    assert total >= 300

    api = connect(load_kubeconfig(apiserver.kubeconfig), "admin")
    try:
        read = read_context(api, page_size=7, kinds=[BY_KIND["Pod"], BY_KIND["Namespace"]])
    finally:
        api.close()
    pods = [r for r in read.resources if r.kind == "Pod"]
    assert len(pods) == total and len({r.key for r in pods}) == total
    assert sum(r.namespace == ns for r in pods) == 300
    assert api.calls[("GET", "/api/v1/pods")] == math.ceil(total / 7)
    namespaces = len(apiserver.request("GET", "/api/v1/namespaces")[1]["items"])
    assert api.calls[("GET", "/api/v1/namespaces")] == max(1, math.ceil(namespaces / 7))
    # the same through load_cluster, at another page size
    inventory = load_cluster(apiserver.kubeconfig, page_size=50)
    assert sum(r.kind == "Pod" for r in inventory.resources) == total


# --- kubeconfig resolution ----------------------------------------------------------------------

def test_kubeconfig_list_merges_first_wins_and_contexts_are_read_concurrently(apiserver, tmp_path):
    user = unique("nodes-only")
    restricted = json.loads(Path(apiserver.make_user(user, [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}])).read_text())
    admin = admin_config(apiserver)
    # file 1: the admin context (current); file 2: the restricted context, also naming itself current
    # and redefining "admin" (ignored: the first file to define a name wins, as in kubectl)
    first = tmp_path / "one.json"
    first.write_text(json.dumps(admin))
    shadow = copy.deepcopy(admin["contexts"][0])
    shadow["context"]["user"] = user
    second = tmp_path / "two.json"
    second.write_text(json.dumps({**restricted, "contexts": restricted["contexts"] + [shadow],
                                  "current-context": user}))
    env = {"KUBECONFIG": f"{first}:{tmp_path / 'missing.json'}:{second}", "HOME": str(tmp_path)}

    config = load_kubeconfig(None, env)
    assert config.current_context == "admin" and sorted(config.contexts) == sorted(["admin", user])
    single = load_cluster(None, environ=env)
    assert single.cluster == "admin" and single.skipped == ()

    both = load_cluster(None, all_contexts=True, environ=env)
    assert both.inputs == ("cluster admin", f"cluster {user}") and both.cluster == f"admin, {user}"
    clusters = {r.origin.cluster for r in both.resources}
    assert clusters == {"admin", user}
    assert {r.kind for r in both.resources if r.origin.cluster == user} == {"Node"}
    assert all(s.source.startswith(f"cluster {user}: ") for s in both.skipped)
    assert len(both.skipped) == len(served(apiserver, SCAN_KINDS)) - 1
    chosen = load_cluster(None, contexts=[user], environ=env)
    assert chosen.cluster == user and {r.kind for r in chosen.resources} <= {"Node"}


def test_kubeconfig_errors_are_one_line(apiserver, tmp_path):
    with pytest.raises(ClusterError, match=r"^kubeconfig .*nope\.yaml: no such file$"):
        load_cluster(str(tmp_path / "nope.yaml"))
    with pytest.raises(ClusterError, match=r"^no kubeconfig found at .*\.kube/config; give --kubeconfig"):
        load_cluster(None, environ={"HOME": str(tmp_path)})
    with pytest.raises(ClusterError, match=r"^context 'prod' not found in kubeconfig .* \(known: admin\)$"):
        load_cluster(apiserver.kubeconfig, contexts=["prod"])


# --- connection problems ------------------------------------------------------------------------

def test_connection_refused_is_a_one_line_error(apiserver, tmp_path):
    ca = Path(apiserver.ca_file).read_bytes()
    port = free_port()
    kubeconfig = kubeconfig_for(tmp_path / "refused.json", f"https://127.0.0.1:{port}", ca, name="gone")
    with pytest.raises(ClusterError) as err:
        load_cluster(kubeconfig, timeout=5)
    assert str(err.value) == f"context gone: cannot connect to https://127.0.0.1:{port}: connection refused"


def test_an_untrusted_server_certificate_is_a_one_line_tls_error(apiserver, tmp_path):
    admin = admin_config(apiserver)["users"][0]["user"]
    other_ca = CertAuthority().pem
    kubeconfig = kubeconfig_for(tmp_path / "tls.json", apiserver.url, other_ca,
                                base64.b64decode(admin["client-certificate-data"]),
                                base64.b64decode(admin["client-key-data"]), name="mitm")
    with pytest.raises(ClusterError) as err:
        load_cluster(kubeconfig, timeout=5)
    message = str(err.value)
    assert message.startswith(f"context mitm: TLS error talking to {apiserver.url}: ")
    assert "certificate verify failed" in message and "\n" not in message


def expired_kubeconfig(apiserver, path: Path, name: str = "stale") -> str:
    """A kubeconfig whose client certificate the harness's CA signed, valid until yesterday."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca = apiserver._ca  # the certificate is genuine, only expired
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return kubeconfig_for(
        path, apiserver.url, Path(apiserver.ca_file).read_bytes(), cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()), name=name)


def test_expired_credentials_are_a_one_line_error(apiserver, tmp_path):
    kubeconfig = expired_kubeconfig(apiserver, tmp_path / "expired.json")
    with pytest.raises(ClusterError) as err:
        load_cluster(kubeconfig, timeout=5)
    message = str(err.value)
    assert message.startswith(f"context stale: {apiserver.url} rejected the credentials (401 Unauthorized")
    assert "\n" not in message


def test_one_unreachable_context_of_several_is_skipped_not_fatal(apiserver, tmp_path):
    admin = admin_config(apiserver)
    port = free_port()
    dead = copy.deepcopy(admin)
    dead["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    dead["clusters"][0]["name"] = "dead"
    dead["contexts"][0] = {"name": "dead", "context": {"cluster": "dead", "user": "admin"}}
    path = tmp_path / "two.json"
    merged = copy.deepcopy(admin)
    merged["clusters"] += dead["clusters"]
    merged["contexts"] += dead["contexts"]
    path.write_text(json.dumps(merged))
    inventory = load_cluster(str(path), all_contexts=True, timeout=5)
    assert [s.one_line() for s in inventory.skipped] == [
        f"cluster dead: context dead: cannot connect to https://127.0.0.1:{port}: connection refused"]
    assert {r.origin.cluster for r in inventory.resources} == {"admin"}
    with pytest.raises(ClusterError, match="connection refused"):
        load_cluster(str(path), contexts=["dead"], timeout=5)
