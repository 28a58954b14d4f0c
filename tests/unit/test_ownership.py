"""Ownership cannot hide a pod: an object is audited through its owner only when the owner is
present and its template is what the object runs, up to what the cluster writes into pods."""
from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scan_helpers import DEMO, audit_inventory

from auditor.model import Inventory, Resource
from auditor.sources.manifests import load
from auditor.workloads import top_level_workloads

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from generate import generate  # noqa: E402


def resource(obj: dict) -> Resource:
    meta = obj["metadata"]
    return Resource(obj["kind"], obj["apiVersion"], meta.get("namespace"), meta["name"], obj)


def demo_objects() -> list[dict]:
    return [r.obj for r in load([str(DEMO / "cluster")]).resources]


def generated_objects() -> list[dict]:
    return generate(pods=24, namespaces=4, policies=8, nodes=3, seed=11)["items"]


SOURCES = {"demo": demo_objects(), "generated": generated_objects()}


def own_copies(objects: list[dict]) -> list[dict]:
    """Deep copies sharing nothing (the generator's pods share their Deployment's containers)."""
    return [copy.deepcopy(o) for o in objects]


def owned_pods(objects: list[dict]) -> list[int]:
    return [i for i, o in enumerate(objects) if o["kind"] == "Pod" and o["metadata"].get("ownerReferences")]


def audited(objects: list[dict]) -> set[tuple[str, str, str]]:
    return {v.resource.key for v in top_level_workloads([resource(o) for o in objects])}


def findings(objects: list[dict]) -> set[tuple[str, str, str, str | None]]:
    report = audit_inventory(Inventory(resources=tuple(resource(o) for o in objects)))
    return {(f.rule_id, f.kind, f.name, f.container) for f in report.findings}


def pod_key(pod: dict) -> tuple[str, str, str]:
    return ("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])


# -- what the cluster writes into a running pod --------------------------------------------------

def _token_volume(spec: dict) -> None:
    spec.setdefault("volumes", []).append(
        {
            "name": "kube-api-access-x7k2p",
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for field in ("initContainers", "containers"):
        for c in spec.get(field, []):
            c.setdefault("volumeMounts", []).append({"name": "kube-api-access-x7k2p", "readOnly": True,
                                                     "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})


def _pod_defaults(spec: dict) -> None:
    for key, value in (("dnsPolicy", "ClusterFirst"), ("schedulerName", "default-scheduler"),
                       ("terminationGracePeriodSeconds", 30), ("enableServiceLinks", True), ("securityContext", {}),
                       ("serviceAccountName", "default"), ("serviceAccount", "default"), ("priority", 0),
                       ("preemptionPolicy", "PreemptLowerPriority")):
        spec.setdefault(key, value)
    spec.setdefault("restartPolicy", "Always")


def _container_defaults(spec: dict) -> None:
    for field in ("initContainers", "containers"):
        for c in spec.get(field, []):
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            tail = c.get("image", "").rsplit("/", 1)[-1]
            c.setdefault(
                "imagePullPolicy", "IfNotPresent" if ":" in tail and not tail.endswith(":latest") else "Always"
            )
            for port in c.get("ports", []):
                port.setdefault("protocol", "TCP")


def _condition_tolerations(spec: dict) -> None:
    spec.setdefault("tolerations", []).extend(
        {"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        for k in ("not-ready", "unreachable"))


def _controller_labels(pod: dict) -> None:
    pod["metadata"].setdefault("labels", {})["pod-template-hash"] = "7d9f8b6c5d"
    pod["metadata"].setdefault("annotations", {})["cni.projectcalico.org/podIP"] = "10.0.0.7/32"


def _scheduled(pod: dict) -> None:
    pod["spec"].setdefault("nodeName", "some-node")
    pod["spec"]["hostname"] = pod["metadata"]["name"]
    # the PodTopologyLabels admission plugin copies the node's zone and region onto the pod
    pod["metadata"].setdefault("labels", {})["topology.kubernetes.io/zone"] = "zone-a"


def _requests_from_limits(pod: dict) -> None:
    """A Pod's defaulting (not a template's) sets each missing request to its limit."""
    for container in pod["spec"]["containers"]:
        resources = container.get("resources")
        if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
            requests = resources.setdefault("requests", {})
            for name, limit in resources["limits"].items():
                requests.setdefault(name, limit)


CLUSTER_WRITES: dict[str, Callable[[dict], None]] = {
    "token volume": lambda pod: _token_volume(pod["spec"]),
    "pod defaults": lambda pod: _pod_defaults(pod["spec"]),
    "container defaults": lambda pod: _container_defaults(pod["spec"]),
    "condition tolerations": lambda pod: _condition_tolerations(pod["spec"]),
    "controller labels": _controller_labels,
    "scheduled": _scheduled,
    "requests from limits": _requests_from_limits,
}


# -- what a pod may carry that its owner's template does not -------------------------------------

def _first_container(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


def _context(pod: dict) -> dict:
    return _first_container(pod).setdefault("securityContext", {})


MUTATIONS: dict[str, Callable[[dict], None]] = {
    "privileged": lambda pod: _context(pod).update(privileged=True),
    "hostPID": lambda pod: pod["spec"].update(hostPID=True),
    "hostNetwork": lambda pod: pod["spec"].update(hostNetwork=True),
    "hostIPC": lambda pod: pod["spec"].update(hostIPC=True),
    "capability": lambda pod: _context(pod).setdefault("capabilities", {}).setdefault("add", []).append("SYS_ADMIN"),
    "hostPath": lambda pod: pod["spec"].setdefault("volumes", []).append(
        {"name": "root", "hostPath": {"path": "/"}}),
    "hostPort": lambda pod: _first_container(pod).setdefault("ports", []).append(
        {"containerPort": 2222, "hostPort": 2222}),
    "runAsUser 0": lambda pod: _context(pod).update(runAsUser=0, runAsNonRoot=False),
    "escalation": lambda pod: _context(pod).update(allowPrivilegeEscalation=True),
    "seccomp off": lambda pod: _context(pod).update(seccompProfile={"type": "Unconfined"}),
    "injected container": lambda pod: pod["spec"]["containers"].append(
        {"name": "sidecar", "image": "registry.example.com/mesh/proxy:1.0", "securityContext": {"privileged": True}}),
    "debug container": lambda pod: pod["spec"].setdefault("ephemeralContainers", []).append(
        {"name": "debugger", "image": "busybox:1.36", "securityContext": {"privileged": True}}),
    "hostPath named like the token volume": lambda pod: pod["spec"].setdefault("volumes", []).append(
        {"name": "kube-api-access-abcde", "hostPath": {"path": "/var/run"}}),
}


def _alone(pod: dict) -> dict:
    """The pod as an object of its own: no owner to stand for it."""
    pod = copy.deepcopy(pod)
    pod["metadata"].pop("ownerReferences", None)
    return pod


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(sorted(SOURCES)), data=st.data(), mutation=st.sampled_from(sorted(MUTATIONS)),
       writes=st.sets(st.sampled_from(sorted(CLUSTER_WRITES))))
def test_a_pod_that_differs_from_its_owner_is_audited_and_its_findings_appear(source, data, mutation, writes):
    objects = own_copies(SOURCES[source])
    index = data.draw(st.sampled_from(owned_pods(objects)))
    pod = objects[index]
    for write in sorted(writes):
        CLUSTER_WRITES[write](pod)
    before = copy.deepcopy(pod)
    MUTATIONS[mutation](pod)
    assume(pod != before)  # the demo's nightly-etl pod already runs with hostPID
    key = pod_key(pod)
    assert key in audited(objects), f"{mutation} hidden behind the pod's owner"
    new = {(rule, container) for rule, _, _, container in findings([_alone(pod)]) - findings([_alone(before)])}
    report = {(rule, container) for rule, kind, name, container in findings(objects) if (kind, name) == key[::2]}
    assert new <= report


HARDENED_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app-1", "namespace": "t"}, "spec": {
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "app", "image": "registry.example.com/app@sha256:" + "0" * 64,
                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}}}]}}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_mutation_is_one_the_rules_see(mutation):
    """So the property above, which looks for the mutation's findings, cannot pass vacuously."""
    pod = copy.deepcopy(HARDENED_POD)
    MUTATIONS[mutation](pod)
    assert findings([pod]) - findings([HARDENED_POD])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(sorted(SOURCES)), writes=st.sets(st.sampled_from(sorted(CLUSTER_WRITES)), min_size=1))
def test_what_the_cluster_writes_into_pods_does_not_audit_them_twice(source, writes):
    objects = own_copies(SOURCES[source])
    for index in owned_pods(objects):
        for write in sorted(writes):
            CLUSTER_WRITES[write](objects[index])
    assert audited(objects) == audited(SOURCES[source])


def test_the_demo_and_generated_pods_are_audited_through_their_owners():
    for objects in SOURCES.values():
        assert not {pod_key(objects[i]) for i in owned_pods(objects)} & audited(objects)


def _deployment_and_pod(pod_owner: dict[str, Any], present: tuple[str, ...] = ("Deployment",)) -> list[dict]:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1.0"}]}}
    objects = {
        "Deployment": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "t"},
                       "spec": {"template": copy.deepcopy(template)}},
        "ReplicaSet": {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                       "metadata": {"name": "web-5d4f", "namespace": "t", "ownerReferences": [
                           {"kind": "Deployment", "name": "web", "controller": True}]},
                       "spec": {"template": copy.deepcopy(template)}},
        "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-5d4f", "namespace": "t"}},
    }
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-5d4f-x1", "namespace": "t", "labels": {"app": "web"},
                        "ownerReferences": [{"controller": True, **pod_owner}]},
           "spec": copy.deepcopy(template["spec"])}
    return [objects[k] for k in present] + [pod]


@pytest.mark.parametrize("owner, present", [
    ({"kind": "ReplicaSet", "name": "api-5d4f"}, ("Deployment",)),  # no owner by that name, nor a parent
    ({"kind": "ReplicaSet", "name": "web-5d4f"}, ()),  # neither the ReplicaSet nor its Deployment
    ({"kind": "StatefulSet", "name": "web"}, ("Deployment",)),  # same name, other kind
    ({"kind": "ConfigMap", "name": "web-5d4f"}, ("ConfigMap",)),  # present, but runs no pods
    ({"kind": "Pod", "name": "web-5d4f-x1"}, ()),  # owns itself
])
def test_a_pod_naming_an_absent_owner_is_audited(owner, present):
    objects = _deployment_and_pod(owner, present)
    assert pod_key(objects[-1]) in audited(objects)


def test_a_pod_whose_owner_is_present_and_the_same_is_folded():
    for present in (("Deployment",), ("Deployment", "ReplicaSet")):
        objects = _deployment_and_pod({"kind": "ReplicaSet", "name": "web-5d4f"}, present)
        assert audited(objects) == {("Deployment", "t", "web")}


def test_a_replicaset_that_differs_from_its_deployment_is_audited_with_its_pods_folded_into_it():
    objects = _deployment_and_pod({"kind": "ReplicaSet", "name": "web-5d4f"}, ("Deployment", "ReplicaSet"))
    replicaset, pod = objects[1], objects[2]
    for template in (replicaset["spec"]["template"], pod):
        template["spec"]["hostNetwork"] = True
    assert audited(objects) == {("Deployment", "t", "web"), ("ReplicaSet", "t", "web-5d4f")}
    # Scaled to zero it runs nothing (its Deployment keeps old ReplicaSets there); its pods still differ.
    replicaset["spec"]["replicas"] = 0
    assert audited(objects) == {("Deployment", "t", "web"), pod_key(pod)}


def test_owner_loops_and_long_chains_end_with_an_audited_object():
    chain = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"rs-{i}",
                "namespace": "t",
                "ownerReferences": [{"kind": "ReplicaSet", "name": f"rs-{(i + 1) % 5000}", "controller": True}],
            },
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}},
        }
        for i in range(5000)
    ]
    assert len(audited(chain)) == 1
    chain[-1]["metadata"].pop("ownerReferences")
    assert audited(chain) == {("ReplicaSet", "t", "rs-4999")}


def test_the_token_volume_counts_as_the_clusters_only_where_the_cluster_mounts_it():
    objects = _deployment_and_pod({"kind": "ReplicaSet", "name": "web-5d4f"})
    pod = objects[-1]
    _token_volume(pod["spec"])
    assert pod_key(pod) not in audited(objects)
    pod["spec"]["containers"][0]["volumeMounts"][-1]["mountPath"] = "/var/run/secrets"
    assert pod_key(pod) in audited(objects)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 500), st.sampled_from(
        ["", "web", "kube-api-access-x7k2p", "/var/run/secrets/kubernetes.io/serviceaccount", "metadata.name",
         "node.kubernetes.io/not-ready", "ClusterFirst", "default", "TCP", "v1", "data-web-5d4f-x1"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["name", "volumes", "volumeMounts", "mountPath", "readOnly", "projected", "sources", "secret", "secretName",
         "persistentVolumeClaim", "claimName", "tolerations", "key", "affinity", "nodeAffinity", "matchFields",
         "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms", "env", "valueFrom", "fieldRef",
         "apiVersion", "items", "ports", "protocol", "livenessProbe", "httpGet", "image", "imagePullPolicy",
         "containers", "downwardAPI", "configMap", "defaultMode", "hostPath", "type", "serviceAccount"]),
        inner, max_size=4)),
    max_leaves=12)


def shaped_like_a_pod_spec() -> st.SearchStrategy:
    """A pod spec with every field this module looks into holding any value (or a broken shape)."""
    v = json_values
    container = st.fixed_dictionaries(
        {"name": v, "image": v, "imagePullPolicy": v},
        optional={
            "volumeMounts": st.lists(st.fixed_dictionaries({"name": v, "mountPath": v, "readOnly": v}) | v, max_size=2),
            "ports": st.lists(st.fixed_dictionaries({"protocol": v}) | v, max_size=2),
            "env": st.lists(
                st.fixed_dictionaries({"valueFrom": st.fixed_dictionaries({"fieldRef": v}) | v}) | v, max_size=2
            ),
            "livenessProbe": st.fixed_dictionaries({"httpGet": v, "periodSeconds": v}) | v,
        },
    )
    volume = st.fixed_dictionaries({"name": v}, optional={
        "persistentVolumeClaim": st.fixed_dictionaries({"claimName": v}) | v,
        "projected": st.fixed_dictionaries({"sources": v}) | v, "secret": v, "hostPath": v,
        "downwardAPI": st.fixed_dictionaries({"items": st.lists(st.fixed_dictionaries({"fieldRef": v}) | v)}) | v})
    return (
        st.fixed_dictionaries(
            {"containers": st.lists(container | v, max_size=2)},
            optional={
                "volumes": st.lists(volume | v, max_size=3),
                "tolerations": v,
                "serviceAccount": v,
                "serviceAccountName": v,
                "affinity": st.fixed_dictionaries(
                    {
                        "nodeAffinity": st.fixed_dictionaries(
                            {
                                "requiredDuringSchedulingIgnoredDuringExecution": st.fixed_dictionaries(
                                    {
                                        "nodeSelectorTerms": st.lists(
                                            st.fixed_dictionaries({"matchFields": v}) | v, max_size=2
                                        )
                                    }
                                )
                                | v
                            }
                        )
                        | v
                    }
                )
                | v,
            },
        )
        | v
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(owner_kind=st.sampled_from(["ReplicaSet", "StatefulSet"]), spec=shaped_like_a_pod_spec(),
       template=shaped_like_a_pod_spec(), labels=json_values)
def test_any_shape_of_pod_or_template_is_compared_without_error(owner_kind, spec, template, labels):
    owner = {"apiVersion": "apps/v1", "kind": owner_kind, "metadata": {"name": "web-5d4f", "namespace": "t"},
             "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}],
                      "template": {"metadata": {"labels": labels}, "spec": template}}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "web-5d4f-x1", "namespace": "t", "labels": labels,
        "ownerReferences": [{"kind": owner_kind, "name": "web-5d4f", "controller": True}]}, "spec": spec}
    found = audited([owner, pod])
    assert (owner_kind, "t", "web-5d4f") in found
    if isinstance(spec, dict) != isinstance(template, dict):
        assert pod_key(pod) in found
