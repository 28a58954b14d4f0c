"""The objects a probe run creates (Namespace, ServiceAccount, Jobs, target ConfigMaps), the
labels that mark them as this tool's and this run's, and the API paths they live under. Pure."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from .options import ProbeOptions
from .plan import ProbeSpec

TOOL = "k8s-isolation-audit"
MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_ID = "isolation-audit.io/run-id"
PROBE_KIND = "isolation-audit.io/probe"  # node | reach
JOB_LABEL = "isolation-audit.io/job"
TARGET_ANNOTATION = "isolation-audit.io/target"
SERVICE_ACCOUNT = "isolation-audit-probe"
TARGETS_DIR = "/etc/isolation-audit"
TARGETS_FILE = "targets.json"
PROBE_UID = 65532  # the image's non-root user (see Dockerfile)

JOBS = "/apis/batch/v1"
CORE = "/api/v1"


def labels(run_id: str, **extra: str) -> dict[str, str]:
    return {MANAGED_BY: TOOL, RUN_ID: run_id, **extra}


def run_selector(run_id: str) -> str:
    """The label selector of everything one run created."""
    return f"{MANAGED_BY}={TOOL},{RUN_ID}={run_id}"


def job_manifest(spec: ProbeSpec, run_id: str, options: ProbeOptions) -> dict:
    probe_labels = labels(run_id, **{PROBE_KIND: spec.kind, JOB_LABEL: spec.job})
    env = [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    container: dict[str, Any] = {
        "name": "probe",
        "image": options.image,
        "imagePullPolicy": options.image_pull_policy,
        "env": env,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {"runAsNonRoot": True, "runAsUser": PROBE_UID, "runAsGroup": PROBE_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    if spec.kind == "node":
        assert spec.node is not None
        container["args"] = ["probe", "--active", "--node", spec.node]
        pod["nodeName"] = spec.node  # pinned: bypasses the scheduler, so cordoned nodes are probed too
        pod["tolerations"] = [{"operator": "Exists"}]  # every taint, every effect
        pod["serviceAccountName"] = SERVICE_ACCOUNT
        annotation = spec.node
    else:
        container["args"] = ["probe", "--reach", f"{TARGETS_DIR}/{TARGETS_FILE}", "--namespace", spec.namespace,
                             "--reach-timeout", f"{options.reach_timeout:g}"]
        container["volumeMounts"] = [{"name": "targets", "mountPath": TARGETS_DIR, "readOnly": True}]
        pod["volumes"] = [{"name": "targets", "configMap": {"name": spec.job}}]
        annotation = spec.namespace
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.job, "namespace": spec.namespace, "labels": probe_labels,
                     "annotations": {TARGET_ANNOTATION: annotation}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(options.active_deadline),
            "ttlSecondsAfterFinished": int(options.ttl_after_finished),
            "template": {"metadata": {"labels": probe_labels, "annotations": {TARGET_ANNOTATION: annotation}},
                         "spec": pod},
        },
    }


def targets_configmap(spec: ProbeSpec, run_id: str, owner: Mapping[str, Any] | None) -> dict:
    meta: dict[str, Any] = {"name": spec.job, "namespace": spec.namespace,
                            "labels": labels(run_id, **{PROBE_KIND: spec.kind, JOB_LABEL: spec.job})}
    if owner is not None and (owner.get("metadata") or {}).get("uid"):
        # owned by its Job: the garbage collector removes it with the Job, even if we cannot
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": spec.job,
                                    "uid": owner["metadata"]["uid"], "blockOwnerDeletion": False}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {TARGETS_FILE: orjson.dumps({"targets": list(spec.targets)}).decode()}}


def namespace_manifest(name: str, run_id: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {
                **labels(run_id),
                # node probes read what the node exposes; the namespace must admit them
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "privileged",
                "pod-security.kubernetes.io/audit": "privileged"}}}


def service_account_manifest(namespace: str, run_id: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": False,
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": namespace, "labels": labels(run_id)}}
