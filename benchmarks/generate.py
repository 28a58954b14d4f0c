"""A deterministic, realistic cluster for benchmarks: `kubectl get -A -o json` shaped.

    python benchmarks/generate.py --pods 150000 --namespaces 10000 --policies 20000 -o big.json

Nodes of both substrates, tenant namespaces, Deployments with their ReplicaSets' Pods bound
to nodes (with managedFields, as the API returns them), NetworkPolicies (a default deny and
allow rules per namespace, some namespaces left open) and RuntimeClasses. Same seed, same
bytes.
"""
from __future__ import annotations

import argparse
import json
import random
import sys

IMAGES = ["nginx:1.27", "registry.example.com/api:4.2.1", "postgres:16.4", "redis:7.2", "envoyproxy/envoy:v1.30"]


def managed_fields(manager: str) -> list[dict]:
    return [{"manager": manager, "operation": "Update", "apiVersion": "v1", "time": "2026-11-01T10:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                                                   "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}}}}}}]


def container(rng: random.Random, name: str, hardened: bool) -> dict:
    c = {"name": name, "image": rng.choice(IMAGES), "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
         "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}
    if hardened:
        c["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True}
        c["resources"]["limits"] = {"memory": "256Mi", "cpu": "500m"}
    elif rng.random() < 0.05:
        c["securityContext"] = {"privileged": True}
    return c


def generate(pods: int, namespaces: int, policies: int, nodes: int, seed: int) -> dict:
    rng = random.Random(seed)
    items: list[dict] = []
    for i in range(nodes):
        metal = i % 3 == 0
        items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i}", "labels": {
            "node.kubernetes.io/instance-type": "m6i.metal" if metal else "m6i.2xlarge"}},
            "spec": {"providerID": f"aws:///us-east-1a/i-{i:017x}"},
            "status": {"nodeInfo": {"kernelVersion": "6.1.79", "containerRuntimeVersion": "containerd://1.7.11"}}})
    items.append({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"}, "handler": "runsc"})
    per_ns = max(1, pods // namespaces)
    policy_budget = policies
    pod_index = 0
    for n in range(namespaces):
        ns = f"tenant-{n:05d}"
        items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
            "tenant": f"t{n // 2:05d}", "kubernetes.io/metadata.name": ns}}})
        apps = max(1, per_ns // 3)
        for a in range(apps):
            app = f"app-{a}"
            hardened = rng.random() < 0.7
            template = {"metadata": {"labels": {"app": app, "tier": rng.choice(["web", "api", "db"])}},
                        "spec": {"containers": [container(rng, "app", hardened)]}}
            uid = f"{n:05d}-{a:03d}"
            items.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
                "name": app, "namespace": ns, "uid": f"d-{uid}", "managedFields": managed_fields("kubectl")},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": app}}, "template": template}})
            for r in range(3 if a < apps - 1 else per_ns - 3 * (apps - 1)):
                if pod_index >= pods:
                    break
                pod_index += 1
                items.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
                    "name": f"{app}-7d9f8b6c5d-{r:05d}", "namespace": ns, "labels": dict(template["metadata"]["labels"]),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-7d9f8b6c5d",
                                         "controller": True, "uid": f"rs-{uid}"}],
                    "managedFields": managed_fields("kube-controller-manager")},
                    "spec": {**template["spec"], "nodeName": f"node-{rng.randrange(nodes)}"},
                    "status": {"phase": "Running", "podIP": f"10.{(pod_index >> 16) & 255}.{(pod_index >> 8) & 255}.{pod_index & 255}"}})
        # Most namespaces get a default deny plus an allow; every tenth stays open.
        if policy_budget > 0 and n % 10:
            items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                          "metadata": {"name": "default-deny", "namespace": ns},
                          "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
            policy_budget -= 1
            extra = min(policy_budget, max(1, policies // namespaces))
            for k in range(extra):
                items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                              "metadata": {"name": f"allow-{k}", "namespace": ns},
                              "spec": {"podSelector": {"matchLabels": {"tier": rng.choice(["web", "api", "db"])}},
                                       "policyTypes": ["Ingress"],
                                       "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                           "tenant": f"t{n // 2:05d}"}}}, {"podSelector": {"matchLabels": {"tier": "web"}}}],
                                           "ports": [{"port": "http"}]}]}})
                policy_budget -= 1
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=15_000)
    parser.add_argument("--namespaces", type=int, default=1_000)
    parser.add_argument("--policies", type=int, default=2_000)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-o", "--output", default="-")
    args = parser.parse_args()
    data = json.dumps(generate(args.pods, args.namespaces, args.policies, args.nodes, args.seed), separators=(",", ":"))
    (sys.stdout if args.output == "-" else open(args.output, "w")).write(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
