"""A deterministic, realistic cluster for benchmarks, shaped as the API server returns it.

    python benchmarks/generate.py --pods 150000 --namespaces 10000 --policies 20000 --nodes 5000 -o big.json
    python benchmarks/generate.py --pods 15000 --format yaml-dir -o cluster/
    python benchmarks/generate.py --deployments 2000 --format yaml -o deployments.yaml
    python benchmarks/generate.py --repository 50 --format yaml-dir -o repo/

Nodes of both substrates, tenant namespaces, Deployments with their ReplicaSets' Pods bound
to nodes, NetworkPolicies (a default deny and allow rules per namespace, every tenth
namespace left open) and RuntimeClasses. Objects carry what `kubectl get -o json` shows:
defaulted fields, managedFields, uids, status. `json` is a `List` indented like kubectl's
output; `yaml-dir` is one manifest file per namespace plus one for cluster-scoped objects;
`--deployments N` gives N Deployments alone, as a manifest repository holds them (no
server-side fields); `--repository N` gives N teams' manifests of every common kind
(workloads of each controller kind, Services, NetworkPolicies, RBAC, disruption budgets,
autoscalers), also without server-side fields. Same seed, same bytes.
"""
from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

IMAGES = ["nginx:1.27", "registry.example.com/api:4.2.1", "postgres:16.4", "redis:7.2", "envoyproxy/envoy:v1.30"]
TIERS = ["web", "api", "db"]
CREATED = "2026-11-01T10:00:00Z"


def managed_fields(manager: str) -> list[dict]:
    return [{"manager": manager, "operation": "Update", "apiVersion": "v1", "time": CREATED,
             "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                                                   "f:spec": {"f:containers": {'k:{"name":"app"}': {
                                                       ".": {}, "f:image": {}, "f:name": {}, "f:ports": {},
                                                       "f:resources": {}, "f:securityContext": {}}}}}}]


def container(rng: random.Random, name: str, hardened: bool) -> dict:
    c: dict[str, Any] = {
        "name": name, "image": rng.choice(IMAGES), "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10,
                           "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    if hardened:
        c["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True}
        c["resources"]["limits"] = {"memory": "256Mi", "cpu": "500m"}
    elif rng.random() < 0.05:
        c["securityContext"] = {"privileged": True}
    return c


def pod_spec(rng: random.Random, hardened: bool) -> dict:
    return {"containers": [container(rng, "app", hardened)],
            "volumes": [{"name": "config", "configMap": {"name": "app-config", "defaultMode": 420}}],
            "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "securityContext": {}, "serviceAccountName": "default", "terminationGracePeriodSeconds": 30}


def generate(pods: int, namespaces: int, policies: int, nodes: int, seed: int, admin_policies: int = 0,
             engine_policies: int = 0) -> dict:
    rng = random.Random(seed)
    items: list[dict] = []
    for i in range(nodes):
        metal = i % 3 == 0
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"node-{i}",
                    "uid": f"n-{i:08d}",
                    "labels": {
                        "kubernetes.io/hostname": f"node-{i}",
                        "node.kubernetes.io/instance-type": "m6i.metal" if metal else "m6i.2xlarge",
                    },
                },
                "spec": {"providerID": f"aws:///us-east-1a/i-{i:017x}"},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": f"192.168.{i >> 8}.{i & 255}"}],
                    "nodeInfo": {
                        "kernelVersion": "6.1.79",
                        "containerRuntimeVersion": "containerd://1.7.11",
                        "osImage": "Ubuntu 22.04.4 LTS",
                        "kubeletVersion": "v1.35.4",
                    },
                },
            }
        )
    items.append(
        {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"}, "handler": "runsc"}
    )
    per_ns = max(1, pods // namespaces)
    policy_budget = policies
    pod_index = 0
    for n in range(namespaces):
        ns = f"tenant-{n:05d}"
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "uid": f"ns-{n:08d}",
                    "labels": {"tenant": f"t{n // 2:05d}", "kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        )
        apps = max(1, per_ns // 3)
        for a in range(apps):
            app = f"app-{a}"
            template = {"metadata": {"labels": {"app": app, "tier": rng.choice(TIERS)}},
                        "spec": pod_spec(rng, rng.random() < 0.7)}
            uid = f"{n:05d}-{a:03d}"
            items.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": app,
                        "namespace": ns,
                        "uid": f"d-{uid}",
                        "generation": 1,
                        "creationTimestamp": CREATED,
                        "managedFields": managed_fields("kubectl"),
                    },
                    "spec": {
                        "replicas": 3,
                        "selector": {"matchLabels": {"app": app}},
                        "template": template,
                        "strategy": {
                            "type": "RollingUpdate",
                            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                        },
                        "revisionHistoryLimit": 10,
                        "progressDeadlineSeconds": 600,
                    },
                    "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "observedGeneration": 1},
                }
            )
            for r in range(3 if a < apps - 1 else per_ns - 3 * (apps - 1)):
                if pod_index >= pods:
                    break
                pod_index += 1
                items.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
                    "name": f"{app}-7d9f8b6c5d-{r:05d}", "namespace": ns, "uid": f"p-{pod_index:08d}",
                    "creationTimestamp": CREATED, "labels": dict(template["metadata"]["labels"]),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-7d9f8b6c5d",
                                         "controller": True, "blockOwnerDeletion": True, "uid": f"rs-{uid}"}],
                    "managedFields": managed_fields("kube-controller-manager")},
                    "spec": {**template["spec"], "nodeName": f"node-{rng.randrange(nodes)}"},
                    "status": {"phase": "Running", "qosClass": "Burstable", "startTime": CREATED,
                               "podIP": f"10.{(pod_index >> 16) & 255}.{(pod_index >> 8) & 255}.{pod_index & 255}",
                               "conditions": [{"type": t, "status": "True", "lastTransitionTime": CREATED}
                                              for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                               "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0,
                                                      "image": template["spec"]["containers"][0]["image"],
                                                      "state": {"running": {"startedAt": CREATED}}}]}})
        # Most namespaces get a default deny plus an allow; every tenth stays open.
        if policy_budget > 0 and n % 10:
            items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                          "metadata": {"name": "default-deny", "namespace": ns, "uid": f"np-{n:08d}"},
                          "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
            policy_budget -= 1
            extra = min(policy_budget, max(1, policies // namespaces))
            for k in range(extra):
                items.append(
                    {
                        "apiVersion": "networking.k8s.io/v1",
                        "kind": "NetworkPolicy",
                        "metadata": {"name": f"allow-{k}", "namespace": ns},
                        "spec": {
                            "podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}},
                            "policyTypes": ["Ingress"],
                            "ingress": [
                                {
                                    "from": [
                                        {"namespaceSelector": {"matchLabels": {"tenant": f"t{n // 2:05d}"}}},
                                        {"podSelector": {"matchLabels": {"tier": "web"}}},
                                    ],
                                    "ports": [{"port": "http"}],
                                }
                            ],
                        },
                    }
                )
                policy_budget -= 1
    items += cluster_wide_policies(admin_policies, namespaces)
    items += engine_specific_policies(engine_policies, namespaces)
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def cluster_wide_policies(count: int, namespaces: int) -> list[dict]:
    """A platform team's walls: per-tenant AdminNetworkPolicies (admit one partner, pass the
    tenant's own traffic to its NetworkPolicies, deny the rest), a ClusterNetworkPolicy that
    denies the metadata service, and a baseline that denies what nothing else decided."""
    if count <= 0:
        return []
    api1, api2 = "policy.networking.k8s.io/v1alpha1", "policy.networking.k8s.io/v1alpha2"
    found = [
        {"apiVersion": api2, "kind": "ClusterNetworkPolicy", "metadata": {"name": "no-metadata"},
         "spec": {"tier": "Admin", "priority": 0, "subject": {"namespaces": {"matchExpressions": [
             {"key": "tenant", "operator": "Exists"}]}},
                  "egress": [{"action": "Deny", "to": [{"networks": ["169.254.169.254/32"]}]}]}},
        {"apiVersion": api1, "kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"},
         "spec": {"subject": {"namespaces": {}}, "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}},
    ]
    tenants = max(1, namespaces // 2)
    for i in range(count - 2):
        tenant, partner = f"t{i % tenants:05d}", f"t{(i + 1) % tenants:05d}"
        found.append({"apiVersion": api1, "kind": "AdminNetworkPolicy", "metadata": {"name": f"wall-{i:05d}"},
                      "spec": {"priority": 1 + i % 1000, "subject": {"namespaces": {"matchLabels": {"tenant": tenant}}},
                               "ingress": [
                                   {"action": "Allow", "from": [{"namespaces": {"matchLabels": {"tenant": partner}}}],
                                    "ports": [{"namedPort": "http"}]},
                                   {"action": "Pass", "from": [{"namespaces": {"matchLabels": {"tenant": tenant}}}]},
                                   {"action": "Deny", "from": [{"namespaces": {}}]}]}})
    return found


def engine_specific_policies(count: int, namespaces: int) -> list[dict]:
    """Cilium's and Calico's own policies, half each: per namespace a CiliumNetworkPolicy that
    admits its own tenant but never over SSH from the next tenant's namespaces, and per tenant a
    Calico GlobalNetworkPolicy in a `security` tier that admits one partner tenant on the named
    port http, passes the tenant's own traffic on to the default tier and denies the rest."""
    if count <= 0:
        return []
    tenants = max(1, namespaces // 2)
    found: list[dict] = [{"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
                          "spec": {"order": 300}}]
    for i in range(count // 2):
        n = i % namespaces
        own, following = f"t{(n // 2) % tenants:05d}", f"t{(n // 2 + 1) % tenants:05d}"
        found.append({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                      "metadata": {"name": f"own-tenant-{i:05d}", "namespace": f"tenant-{n:05d}"},
                      "spec": {"endpointSelector": {},
                               "ingress": [{"fromEndpoints": [{"matchLabels": {
                                   "io.cilium.k8s.namespace.labels.tenant": own}}]}],
                               "ingressDeny": [{"fromEndpoints": [{"matchLabels": {
                                   "io.cilium.k8s.namespace.labels.tenant": following}}],
                                   "toPorts": [{"ports": [{"port": "22", "protocol": "TCP"}]}]}]}})
    for i in range(count - count // 2):
        tenant, partner = f"t{i % tenants:05d}", f"t{(i + 1) % tenants:05d}"
        found.append({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                      "metadata": {"name": f"security.wall-{i:05d}"},
                      "spec": {"tier": "security", "order": i, "selector": f"pcns.tenant == '{tenant}'",
                               "types": ["Ingress"],
                               "ingress": [
                                   {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http"]},
                                    "source": {"namespaceSelector": f"tenant == '{partner}'"}},
                                   {"action": "Pass", "source": {"namespaceSelector": f"tenant == '{tenant}'"}},
                                   {"action": "Deny"}]}})
    return found


def deployments(count: int, seed: int) -> list[dict]:
    """Deployments as a manifest repository holds them: no status, uids or managedFields."""
    rng = random.Random(seed)
    found = []
    for i in range(count):
        app = f"app-{i:05d}"
        found.append({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": app, "namespace": f"team-{i % 40:02d}", "labels": {"app": app}},
                      "spec": {"replicas": 3, "selector": {"matchLabels": {"app": app}}, "template": {
                          "metadata": {"labels": {"app": app, "tier": rng.choice(TIERS)}},
                          "spec": pod_spec(rng, rng.random() < 0.7)}}})
    return found


def repository(teams: int, seed: int) -> list[dict]:
    """A platform repository: per team a namespace with Deployments, StatefulSets, a
    DaemonSet, CronJobs, Services in front of the long-running workloads, NetworkPolicies,
    a ServiceAccount with a Role, a disruption budget and an autoscaler; cluster-wide, a
    ClusterRole per team bound to its ServiceAccount (every fifth one too broad)."""
    rng = random.Random(seed)
    found: list[dict] = []

    def meta(name: str, ns: str, app: str | None = None) -> dict:
        return {"name": name, "namespace": ns, **({"labels": {"app": app}} if app else {})}

    def template(app: str) -> dict:
        return {"metadata": {"labels": {"app": app, "tier": rng.choice(TIERS)}},
                "spec": pod_spec(rng, rng.random() < 0.7)}

    for t in range(teams):
        ns = f"team-{t:03d}"
        found.append({"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": ns, "labels": {"tenant": f"t{t // 2:03d}"}}})
        found.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("deployer", ns)})
        served = []
        for i in range(10):
            app = f"web-{i:02d}"
            served.append(app)
            found.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(app, ns, app),
                          "spec": {"replicas": 1 + i % 3, "selector": {"matchLabels": {"app": app}},
                                   "template": template(app)}})
        for i in range(3):
            app = f"store-{i}"
            served.append(app)
            found.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(app, ns, app),
                          "spec": {"replicas": 3, "serviceName": app, "selector": {"matchLabels": {"app": app}},
                                   "template": template(app),
                                   "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                                       "accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "10Gi"}}}}]}})
        agent = template("agent")
        agent["spec"]["hostNetwork"] = t % 4 == 0  # node agents often share the host's network
        agent["spec"]["volumes"].append({"name": "logs", "hostPath": {"path": "/var/log"}})
        found.append({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta("agent", ns, "agent"),
                      "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": agent}})
        for i in range(3):
            job = template(f"report-{i}")
            job["spec"]["restartPolicy"] = "OnFailure"
            found.append({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(f"report-{i}", ns),
                          "spec": {"schedule": f"{i * 10} 3 * * *", "jobTemplate": {"spec": {"template": job}}}})
        for app in served:
            found.append({"apiVersion": "v1", "kind": "Service", "metadata": meta(app, ns, app),
                          "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80,
                                                                        "targetPort": 8080}]}})
        if t % 10:  # every tenth team stays open
            found.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                          "metadata": meta("default-deny", ns),
                          "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
            found.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                          "metadata": meta("allow-web", ns),
                          "spec": {"podSelector": {"matchLabels": {"tier": "web"}}, "policyTypes": ["Ingress"],
                                   "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                       "tenant": f"t{t // 2:03d}"}}}], "ports": [{"port": "http"}]}]}})
        found.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("deployer", ns),
                      "rules": [{"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"],
                                 "verbs": ["get", "list", "watch", "update", "patch"]}]})
        found.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                      "metadata": meta("deployer", ns),
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
                      "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]})
        found.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("web-00", ns),
                      "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web-00"}}}})
        found.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                      "metadata": meta("web-01", ns),
                      "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-01"},
                               "minReplicas": 2, "maxReplicas": 10}})
        broad = t % 5 == 0
        found.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                      "metadata": {"name": f"{ns}-reader"},
                      "rules": [{"apiGroups": ["*"] if broad else [""],
                                 "resources": ["*"] if broad else ["namespaces", "nodes"],
                                 "verbs": ["get", "list", "watch"]}]})
        found.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                      "metadata": {"name": f"{ns}-reader"},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": f"{ns}-reader"},
                      "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]})
    return found


def kubectl_json(doc: Any) -> bytes:
    """JSON indented by four spaces, as `kubectl get -o json` prints it.

    orjson indents by two; each pass turns one more leading pair into a marker byte (a raw
    control character cannot occur in JSON text), so deep lines take a pass per level.
    """
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2).replace(b"\n  ", b"\n\x01")
    while b"\x01  " in data:
        data = data.replace(b"\x01  ", b"\x01\x01")
    return data.replace(b"\x01", b"    ") + b"\n"


def yaml_documents(docs: Iterable[dict]) -> str:
    """Block-style YAML with YAML 1.1's quoting, which Kubernetes reads (`yes` or `0755` as
    strings get quoted), without the `%YAML` directives that says so before each document."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)
    yaml.default_flow_style = False
    yaml.version = (1, 1)
    out = io.StringIO()
    yaml.dump_all(list(docs), out)
    return out.getvalue().replace("%YAML 1.1\n", "")


def write_yaml_dir(doc: dict, root: Path) -> None:
    """One file per namespace, one for cluster-scoped objects."""
    by_file: dict[str, list[dict]] = {}
    for item in doc["items"]:
        namespace = item["metadata"].get("namespace") or (
            item["metadata"]["name"] if item["kind"] == "Namespace" else None
        )
        by_file.setdefault(namespace or "_cluster", []).append(item)
    root.mkdir(parents=True, exist_ok=True)
    for name, docs in by_file.items():
        (root / f"{name}.yaml").write_text(yaml_documents(docs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=15_000)
    parser.add_argument("--namespaces", type=int, default=1_000)
    parser.add_argument("--policies", type=int, default=2_000)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--admin-policies", type=int, default=0,
                        help="AdminNetworkPolicies, a ClusterNetworkPolicy and a baseline mixed in")
    parser.add_argument("--engine-policies", type=int, default=0,
                        help="CiliumNetworkPolicies and Calico GlobalNetworkPolicies mixed in")
    parser.add_argument("--deployments", type=int, help="only this many Deployments, as manifests")
    parser.add_argument("--repository", type=int, metavar="TEAMS",
                        help="only a manifest repository of this many teams, every common kind mixed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=("json", "yaml", "yaml-dir"), default="json")
    parser.add_argument("-o", "--output", default="-")
    args = parser.parse_args()
    if args.deployments is not None:
        doc = {"apiVersion": "v1", "kind": "List", "items": deployments(args.deployments, args.seed)}
    elif args.repository is not None:
        doc = {"apiVersion": "v1", "kind": "List", "items": repository(args.repository, args.seed)}
    else:
        doc = generate(args.pods, args.namespaces, args.policies, args.nodes, args.seed,
                       admin_policies=args.admin_policies, engine_policies=args.engine_policies)
    if args.format == "yaml-dir":
        if args.output == "-":
            parser.error("--format yaml-dir needs -o DIRECTORY")
        write_yaml_dir(doc, Path(args.output))
        return 0
    data = kubectl_json(doc) if args.format == "json" else yaml_documents(doc["items"]).encode()
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(args.output).write_bytes(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
