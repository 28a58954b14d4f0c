"""The RBAC evaluator against the real authorizer: SubjectAccessReview is the oracle.

Random Roles, ClusterRoles (aggregated ones included), RoleBindings and ClusterRoleBindings
go into a real kube-apiserver; the tool reads them back through the live source and must
give SubjectAccessReview's answer for every sampled (identity, request). No
kube-controller-manager runs here, so the test plays the aggregation controller: it writes
each aggregated ClusterRole's rules as the tool computes them (auditor.rbac.aggregate is
tested against fixtures in tests/unit/test_rbac.py), and the read-back must be a fixed point.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from harness.apiserver import ApiServer

from auditor import rbac
from auditor.live.cluster import load_cluster
from auditor.rbac import Identity, Request

pytestmark = [pytest.mark.apiserver, pytest.mark.slow]

RBAC_API = "/apis/rbac.authorization.k8s.io/v1"
SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate",
         "bind", "escalate", "approve", "proxy"]
GROUPS = ["", "apps", "rbac.authorization.k8s.io", "certificates.k8s.io"]
# (group, resource, subresource) that requests name
TARGETS = [
    ("", "pods", ""),
    ("", "pods", "exec"),
    ("", "pods", "log"),
    ("", "secrets", ""),
    ("apps", "deployments", ""),
    ("apps", "deployments", "scale"),
    ("", "nodes", ""),
    ("", "nodes", "proxy"),
    ("", "serviceaccounts", "token"),
    ("", "users", ""),
    ("rbac.authorization.k8s.io", "clusterroles", ""),
    ("certificates.k8s.io", "certificatesigningrequests", "approval"),
    ("", "replicationcontrollers", "scale"),
]
# what rules say: the targets plus every pattern form (`*/x` is one; `pods/*` is not)
RULE_RESOURCES = sorted({r + (f"/{s}" if s else "") for _, r, s in TARGETS} | {"*", "*/scale", "*/exec", "pods/*"})
RULE_URLS = ["/healthz", "/metrics", "/api/*", "/apis*", "*", "/logs/*", "/version"]
PATHS = [
    "/healthz",
    "/healthz/etcd",
    "/metrics",
    "/api",
    "/api/v1",
    "/apis",
    "/apis/apps",
    "/logs/",
    "/logs/x",
    "/version",
    "/openapi/v2",
    "/",
]
NAMES = ["", "x", "y", "z"]


@dataclass(frozen=True)
class World:
    namespaces: list[str]
    users: list[str]
    groups: list[str]
    accounts: list[tuple[str, str]]
    objects: list[tuple[str, dict]]  # (collection path, body), in creation order
    aggregated: list[str]  # ClusterRoles with an aggregationRule


def _rule(rng: random.Random, namespaced: bool) -> dict:
    verbs = rng.sample(VERBS + ["*"], rng.choice([1, 1, 2, 3]))
    if not namespaced and rng.random() < 0.15:
        return {"verbs": verbs, "nonResourceURLs": rng.sample(RULE_URLS, rng.choice([1, 2]))}
    rule = {
        "verbs": verbs,
        "apiGroups": rng.sample(GROUPS + ["*"], rng.choice([1, 1, 2])),
        "resources": rng.sample(RULE_RESOURCES, rng.choice([1, 2, 3])),
    }
    if rng.random() < 0.25:
        rule["resourceNames"] = rng.sample(["x", "y"], rng.choice([1, 2]))
    return rule


def _subject(rng: random.Random, world: World, namespaced: bool) -> dict:
    pick = rng.random()
    if pick < 0.25:
        return {"kind": "User", "name": rng.choice(world.users), "apiGroup": "rbac.authorization.k8s.io"}
    if pick < 0.45:
        group = rng.choice(
            world.groups
            + ["system:serviceaccounts", "system:authenticated"]
            + [f"system:serviceaccounts:{ns}" for ns in world.namespaces]
        )
        return {"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}
    ns, name = rng.choice(world.accounts)
    if namespaced and rng.random() < 0.3:
        return {"kind": "ServiceAccount", "name": name}  # defaults to the binding's namespace
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def generate(seed: int, prefix: str) -> World:
    rng = random.Random(seed)
    namespaces = [f"{prefix}-{n}" for n in "abc"]
    world = World(
        namespaces,
        [f"{prefix}-u{i}" for i in range(4)],
        [f"{prefix}-g{i}" for i in range(3)],
        [(ns, f"sa{i}") for ns in namespaces for i in range(2)],
        [],
        [],
    )
    objects = world.objects
    for ns in namespaces:
        objects.append(("/api/v1/namespaces", {"metadata": {"name": ns}}))
    for ns, name in world.accounts:
        objects.append((f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": name}}))
    cluster_roles = []
    for i in range(10):
        name = f"{prefix}-cr{i}"
        labels = {f"{prefix}-agg": rng.choice(["x", "y", "z"])}
        cluster_roles.append(name)
        objects.append(
            (
                f"{RBAC_API}/clusterroles",
                {
                    "metadata": {"name": name, "labels": labels},
                    "rules": [_rule(rng, False) for _ in range(rng.choice([1, 2, 3]))],
                },
            )
        )
    key = f"{prefix}-agg"
    for name, selectors, labels in (
        (f"{prefix}-agg-x", [{"matchLabels": {key: "x"}}], {key: "z"}),  # picked by agg-xy below: a chain
        (f"{prefix}-agg-xy", [{"matchExpressions": [{"key": key, "operator": "In", "values": ["y", "z"]}]}], {}),
    ):
        world.aggregated.append(name)
        cluster_roles.append(name)
        objects.append(
            (
                f"{RBAC_API}/clusterroles",
                {"metadata": {"name": name, "labels": labels}, "aggregationRule": {"clusterRoleSelectors": selectors}},
            )
        )
    # the bootstrap aggregated roles, once the test has aggregated them
    cluster_roles += ["view", "edit"]
    for ns in namespaces:
        for i in range(2):
            objects.append(
                (
                    f"{RBAC_API}/namespaces/{ns}/roles",
                    {"metadata": {"name": f"r{i}"}, "rules": [_rule(rng, True) for _ in range(2)]},
                )
            )
    for i in range(6):
        ref = rng.choice(cluster_roles + [f"{prefix}-missing"])
        objects.append(
            (
                f"{RBAC_API}/clusterrolebindings",
                {
                    "metadata": {"name": f"{prefix}-crb{i}"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ref},
                    "subjects": [_subject(rng, world, False) for _ in range(rng.choice([1, 2, 3]))],
                },
            )
        )
    for ns in namespaces:
        for i in range(4):
            kind, ref = rng.choice(
                [("Role", "r0"), ("Role", "r1"), ("Role", "missing"), ("ClusterRole", rng.choice(cluster_roles))]
            )
            objects.append(
                (
                    f"{RBAC_API}/namespaces/{ns}/rolebindings",
                    {
                        "metadata": {"name": f"rb{i}"},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": ref},
                        "subjects": [_subject(rng, world, True) for _ in range(rng.choice([1, 2, 3]))],
                    },
                )
            )
    return world


def identities(world: World) -> list[Identity]:
    found = [Identity.service_account(ns, name) for ns, name in world.accounts]
    found.append(Identity.service_account(world.namespaces[0], "unknown"))  # bound only through its groups
    rng = random.Random(7)
    for user in world.users:
        found.append(
            Identity(user, frozenset(rng.sample(world.groups, rng.choice([0, 1, 2])) + ["system:authenticated"]))
        )
    found.append(Identity("system:anonymous", frozenset({"system:unauthenticated"})))
    found.append(Identity(f"{world.users[0]}-root", frozenset({"system:masters", "system:authenticated"})))
    return found


def requests(world: World, rules: list[dict], count: int, seed: int) -> list[Request]:
    """Half at random, half built from the generated rules so many requests are allowed."""
    rng = random.Random(seed)
    scopes = [""] + world.namespaces + ["elsewhere"]
    found = []
    while len(found) < count:
        if rng.random() < 0.15:
            found.append(Request(rng.choice(VERBS + ["*"]), path=rng.choice(PATHS)))
            continue
        group, resource, subresource = rng.choice(TARGETS)
        verb, name = rng.choice(VERBS), rng.choice(NAMES)
        if rng.random() < 0.5:
            rule = rng.choice(rules)
            verb = rng.choice([v for v in rule["verbs"] if v != "*"] or VERBS)
            if "resources" in rule:
                picked = rng.choice(rule["resources"]).split("/", 1)
                if picked[0] != "*":
                    group = rng.choice([g for g in rule["apiGroups"] if g != "*"] or GROUPS)
                    resource, subresource = picked[0], (picked[1] if len(picked) > 1 and picked[1] != "*" else "")
                name = rng.choice(rule.get("resourceNames", NAMES))
        found.append(Request(verb, rng.choice(scopes), group, resource, subresource, name))
    return found


def ask(apiserver, identity: Identity, request: Request) -> bool:
    spec: dict = {"user": identity.user, "groups": sorted(identity.groups)}
    if request.path is not None:
        spec["nonResourceAttributes"] = {"verb": request.verb, "path": request.path}
    else:
        spec["resourceAttributes"] = {
            "verb": request.verb,
            "namespace": request.namespace,
            "group": request.group,
            "resource": request.resource,
            "subresource": request.subresource,
            "name": request.name,
        }
    status, resp = apiserver.request(
        "POST", SAR_PATH, {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
    )
    assert status == 201, resp
    return bool(resp["status"].get("allowed"))


def create(apiserver, world: World) -> None:
    for path, body in world.objects:
        status, resp = apiserver.request("POST", path, body)
        assert status == 201, (path, status, resp)


def play_aggregation_controller(apiserver) -> None:
    """Write every aggregated ClusterRole's rules as kube-controller-manager would."""
    status, listed = apiserver.request("GET", f"{RBAC_API}/clusterroles")
    assert status == 200
    roles = [r for r in load_rbac_resources(apiserver) if r.kind == "ClusterRole"]
    computed = rbac.aggregate(roles)
    for item in listed["items"]:
        if "aggregationRule" in item:
            item["rules"] = [g.rule.as_dict() for g in computed[item["metadata"]["name"]].grants]
            status, resp = apiserver.request("PUT", f"{RBAC_API}/clusterroles/{item['metadata']['name']}", item)
            assert status == 200, resp


def load_rbac_resources(apiserver):
    inventory = load_cluster(apiserver.kubeconfig)
    assert not inventory.skipped
    return [r for r in inventory.resources if r.kind in rbac.RBAC_KINDS]


def wait_until_effective(apiserver, world: World) -> None:
    """The authorizer reads informer caches; each kind's cache applies events in order, so once
    the last object of each kind is effective, every earlier one is."""
    prefix = world.namespaces[0].rsplit("-", 1)[0]
    ns = world.namespaces[0]
    sentinel_rule = {"verbs": ["get"], "apiGroups": [""], "resources": ["sentinel"]}
    user = {"kind": "User", "name": f"{prefix}-sentinel", "apiGroup": "rbac.authorization.k8s.io"}
    for path, body in [
        (f"{RBAC_API}/clusterroles", {"metadata": {"name": f"{prefix}-sentinel"}, "rules": [sentinel_rule]}),
        (
            f"{RBAC_API}/clusterrolebindings",
            {
                "metadata": {"name": f"{prefix}-sentinel"},
                "subjects": [user],
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"{prefix}-sentinel",
                },
            },
        ),
        (
            f"{RBAC_API}/namespaces/{ns}/roles",
            {"metadata": {"name": "sentinel"}, "rules": [dict(sentinel_rule, resources=["ns-sentinel"])]},
        ),
        (
            f"{RBAC_API}/namespaces/{ns}/rolebindings",
            {
                "metadata": {"name": "sentinel"},
                "subjects": [user],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sentinel"},
            },
        ),
    ]:
        status, resp = apiserver.request("POST", path, body)
        assert status == 201, resp
    who = Identity(f"{prefix}-sentinel")
    deadline = time.monotonic() + 30
    while not (
        ask(apiserver, who, Request("get", ns, "", "sentinel"))
        and ask(apiserver, who, Request("get", ns, "", "ns-sentinel"))
    ):
        assert time.monotonic() < deadline, "RBAC caches did not catch up"
        time.sleep(0.2)


def disagreements(resources, cases, answers) -> list[tuple[Identity, Request, bool]]:
    """Built afresh each time, so a patched matcher is what decides."""
    model = rbac.build(resources)
    return [
        (who, req, truth)
        for (who, req), truth in zip(cases, answers, strict=True)
        if (model.allows(who, req) is not None) != truth
    ]


@pytest.fixture(scope="module")
def oracle(apiserver):
    prefix = f"o{uuid.uuid4().hex[:5]}"
    world = generate(16, prefix)
    create(apiserver, world)
    play_aggregation_controller(apiserver)
    wait_until_effective(apiserver, world)
    resources = load_rbac_resources(apiserver)
    rules = [r for _, body in world.objects for r in body.get("rules", ())]
    cases = [(who, req) for i, who in enumerate(identities(world)) for req in requests(world, rules, 200, i)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda case: ask(apiserver, *case), cases))
    return world, resources, cases, answers


def test_aggregated_roles_read_back_are_a_fixed_point(oracle):
    world, resources, _, _ = oracle
    stored = {
        r.name: [rbac.PolicyRule.parse(x) for x in r.obj.get("rules") or ()]
        for r in resources
        if r.kind == "ClusterRole" and "aggregationRule" in r.obj
    }
    computed = rbac.aggregate([r for r in resources if r.kind == "ClusterRole"])
    assert set(world.aggregated) <= set(stored)
    for name, rules in stored.items():
        assert [g.rule for g in computed[name].grants] == rules, name
    assert computed[f"{world.namespaces[0].rsplit('-', 1)[0]}-agg-xy"].grants  # the chain aggregated something


def test_evaluator_agrees_with_subject_access_review(oracle):
    _, resources, cases, answers = oracle
    # both answers are common, superuser aside, so agreement means something
    allowed = sum(truth for (who, _), truth in zip(cases, answers, strict=True) if "system:masters" not in who.groups)
    assert 100 < allowed < len(cases) - 500, (allowed, len(cases))
    assert any(req.path is not None and truth for (_, req), truth in zip(cases, answers, strict=True))
    wrong = disagreements(resources, cases, answers)
    assert not wrong, "\n".join(
        f"{w.user} {sorted(w.groups)}: {r.describe()} name={r.name!r} apiserver={truth}" for w, r, truth in wrong[:20]
    )


@pytest.mark.parametrize(
    "mutant",
    ["no-subresource-wildcard", "names-ignored", "no-url-prefix", "rolebindings-everywhere", "verb-wildcard-ignored"],
)
def test_oracle_catches_a_broken_evaluator(oracle, monkeypatch, mutant):
    _, resources, cases, answers = oracle
    if mutant == "no-subresource-wildcard":
        monkeypatch.setattr(
            rbac, "resource_matches", lambda rule, combined, sub: any(r in ("*", combined) for r in rule.resources)
        )
    elif mutant == "names-ignored":
        monkeypatch.setattr(rbac, "resource_name_matches", lambda rule, name: True)
    elif mutant == "no-url-prefix":
        monkeypatch.setattr(
            rbac, "non_resource_url_matches", lambda rule, path: any(u in ("*", path) for u in rule.non_resource_urls)
        )
    elif mutant == "rolebindings-everywhere":
        monkeypatch.setattr(rbac.Binding, "in_scope", lambda self, namespace: True)
        monkeypatch.setattr(
            rbac.BindingSet, "__post_init__", lambda self: object.__setattr__(self, "by_namespace", {"": self.bindings})
        )
    else:
        monkeypatch.setattr(rbac, "verb_matches", lambda rule, verb: verb in rule.verbs)
    assert disagreements(resources, cases, answers)


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *argv], capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture
def fresh_apiserver(apiserver_bindir):
    """An apiserver of its own: other tests' bindings (to groups every ServiceAccount is in)
    would give every identity a direct way out, and a direct escape is not a path."""
    with ApiServer(apiserver_bindir) as server:
        yield server


def test_an_escalation_path_end_to_end_through_the_cli_live_and_from_a_snapshot(fresh_apiserver, tmp_path):
    """ci may only create pods in its namespace; operator there is cluster-admin: the scan
    reports the chain ci -> pod as operator -> cluster-admin, and the authorizer agrees with
    every step of it."""
    apiserver = fresh_apiserver
    shop = f"e{uuid.uuid4().hex[:5]}-shop"
    ref = {"apiGroup": "rbac.authorization.k8s.io"}
    for path, body in [
        ("/api/v1/namespaces", {"metadata": {"name": shop}}),
        (f"/api/v1/namespaces/{shop}/serviceaccounts", {"metadata": {"name": "ci"}}),
        (f"/api/v1/namespaces/{shop}/serviceaccounts", {"metadata": {"name": "operator"}}),
        (
            f"{RBAC_API}/namespaces/{shop}/roles",
            {
                "metadata": {"name": "pod-maker"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}],
            },
        ),
        (
            f"{RBAC_API}/namespaces/{shop}/rolebindings",
            {
                "metadata": {"name": "ci-pods"},
                "roleRef": {**ref, "kind": "Role", "name": "pod-maker"},
                "subjects": [{"kind": "ServiceAccount", "name": "ci"}],
            },
        ),
        (
            f"{RBAC_API}/clusterrolebindings",
            {
                "metadata": {"name": f"{shop}-operator"},
                "roleRef": {**ref, "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": shop}],
            },
        ),
    ]:
        status, resp = apiserver.request("POST", path, body)
        assert status == 201, resp
    deadline = time.monotonic() + 30
    while not ask(apiserver, Identity.service_account(shop, "operator"), Request("*", "", "*", "*")):
        assert time.monotonic() < deadline, "RBAC caches did not catch up"
        time.sleep(0.2)
    assert ask(apiserver, Identity.service_account(shop, "ci"), Request("create", shop, "", "pods"))
    assert not ask(apiserver, Identity.service_account(shop, "ci"), Request("get", shop, "", "secrets", name="x"))

    live = cli("scan", "--kubeconfig", apiserver.kubeconfig, "--format", "json", "--fail-on", "none")
    assert live.returncode == 0, live.stderr
    report = json.loads(live.stdout)

    def ours(r):
        return sorted(
            (f["rule_id"], f["kind"], f["name"], json.dumps(f["evidence"], sort_keys=True))
            for f in r["findings"]
            if f["rule_id"].startswith("IA6") and shop in json.dumps(f)
        )

    [path] = [f for f in report["findings"] if f["rule_id"] == "IA614" and f["tenant"] == shop]
    assert path["kind"] == "RoleBinding" and path["name"] == "ci-pods"
    assert path["evidence"]["chain"] == [
        {
            "binding": f"RoleBinding {shop}/ci-pods",
            "role": f"Role {shop}/pod-maker",
            "rule": {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]},
        },
        {"runs_as": f"ServiceAccount {shop}/operator"},
        {
            "binding": f"ClusterRoleBinding {shop}-operator",
            "role": "ClusterRole cluster-admin",
            "rule": {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        },
    ]
    assert ("IA612", "ClusterRoleBinding", f"{shop}-operator") in {t[:3] for t in ours(report)}

    snap = tmp_path / "snapshot.json"
    written = cli("snapshot", "--kubeconfig", apiserver.kubeconfig, "-o", str(snap))
    assert written.returncode == 0, written.stderr
    text = snap.read_text()
    assert '"kind": "RoleBinding"' in text and '"kind": "Secret"' not in text
    offline = cli("scan", str(snap), "--format", "json", "--fail-on", "none")
    assert offline.returncode == 0, offline.stderr
    assert ours(json.loads(offline.stdout)) == ours(report)
