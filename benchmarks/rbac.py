"""RBAC analysis at fleet scale: time and peak memory of the rbac plugin's whole rule family.

    python benchmarks/rbac.py --namespaces 10000 --bindings 50000

Namespaces are grouped four to a tenant. Each namespace has three ServiceAccounts, two Roles,
a pod and its share of RoleBindings (mostly its own accounts; one in fifty names another
namespace's account, one in a hundred a group every account is in); a few percent of the
bindings are ClusterRoleBindings, to ClusterRoles of which some are aggregated.
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RBAC = "rbac.authorization.k8s.io/v1"
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
RESOURCES = ["pods", "configmaps", "secrets", "deployments", "services", "pods/exec", "pods/log", "jobs"]


def _obj(kind: str, name: str, namespace: str | None = None, api: str = RBAC, **body: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {}), **body.pop("meta", {})}
    return {"apiVersion": api, "kind": kind, "metadata": meta, **body}


def _rule(rng: random.Random) -> dict[str, Any]:
    return {"apiGroups": ["", "apps", "batch"], "resources": rng.sample(RESOURCES, 2), "verbs": rng.sample(VERBS, 3)}


def generate(namespaces: int, bindings: int, nodes: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    names = [f"ns-{i:05d}" for i in range(namespaces)]
    items: list[dict[str, Any]] = [_obj("Node", f"node-{i:04d}", api="v1") for i in range(nodes)]
    cluster_roles = [f"cr-{i:03d}" for i in range(300)]
    for i, name in enumerate(cluster_roles):
        if i % 15 == 0:
            items.append(_obj("ClusterRole", name, meta={"labels": {"agg": "top"}}, aggregationRule={
                "clusterRoleSelectors": [{"matchLabels": {"agg": f"g{i % 4}"}}]}))
        else:
            items.append(_obj("ClusterRole", name, meta={"labels": {"agg": f"g{i % 4}"}}, rules=[_rule(rng)]))
    items.append(_obj("ClusterRole", "cluster-admin", rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]))
    for i, ns in enumerate(names):
        labels = {"tenant": f"t-{i // 4:04d}"}
        if i % 3:
            labels["pod-security.kubernetes.io/enforce"] = "baseline"
        items.append(_obj("Namespace", ns, api="v1", meta={"labels": labels}))
        items += [_obj("ServiceAccount", f"sa{j}", ns, api="v1") for j in range(3)]
        items += [_obj("Role", f"r{j}", ns, rules=[_rule(rng)]) for j in range(2)]
        items.append(
            _obj(
                "Pod",
                "app",
                ns,
                api="v1",
                spec={
                    "serviceAccountName": "sa0",
                    "nodeName": f"node-{i % nodes:04d}",
                    "containers": [{"name": "c", "image": "app:1"}],
                },
            )
        )
    cluster_bindings = bindings // 25
    for i in range(bindings - cluster_bindings):
        ns = names[i % namespaces]
        pick = rng.random()
        if pick < 0.02:
            subject = {"kind": "ServiceAccount", "name": "sa1", "namespace": rng.choice(names)}
        elif pick < 0.03:
            subject = {"kind": "Group", "name": "system:serviceaccounts"}
        else:
            subject = {"kind": "ServiceAccount", "name": f"sa{rng.randrange(3)}", "namespace": ns}
        role = (
            {"kind": "Role", "name": f"r{rng.randrange(2)}"}
            if rng.random() < 0.7
            else {"kind": "ClusterRole", "name": rng.choice(cluster_roles)}
        )
        items.append(
            _obj(
                "RoleBinding",
                f"rb-{i}",
                ns,
                roleRef={"apiGroup": "rbac.authorization.k8s.io", **role},
                subjects=[subject],
            )
        )
    for i in range(cluster_bindings):
        role = "cluster-admin" if i % 100 == 0 else rng.choice(cluster_roles)
        items.append(
            _obj(
                "ClusterRoleBinding",
                f"crb-{i}",
                roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                subjects=[{"kind": "ServiceAccount", "name": "sa2", "namespace": rng.choice(names)}],
            )
        )
    return items


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--namespaces", type=int, default=10_000)
    parser.add_argument("--bindings", type=int, default=50_000)
    parser.add_argument("--nodes", type=int, default=500)
    args = parser.parse_args()

    from plugin_context import analysis_context, builtin_rules

    from checks.rbac import RbacAnalysis

    ctx = analysis_context(generate(args.namespaces, args.bindings, args.nodes, seed=16))
    resources, tenancy = ctx.inventory.resources, ctx.tenancy
    rules = builtin_rules("rbac")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = RbacAnalysis().run(ctx, rules)
    elapsed = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counts: dict[str, int] = {}
    for hit in result.hits:
        counts[hit.rule_id] = counts.get(hit.rule_id, 0) + 1
    bindings = sum(1 for r in resources if r.kind in ("RoleBinding", "ClusterRoleBinding"))
    print(f"namespaces={args.namespaces} bindings={bindings} tenants={len(tenancy.tenants())} objects={len(resources)}")
    print(
        f"rbac analysis ({len(rules)} rules): {elapsed:.2f} s, {len(result.hits)} findings "
        f"({', '.join(f'{k}={v}' for k, v in sorted(counts.items()))}), "
        f"{len(result.sections['api_access'])} api_access rows; peak RSS {rss_after / 1024:.0f} MiB "
        f"(before: {rss_before / 1024:.0f} MiB, inputs included)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
