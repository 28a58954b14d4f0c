"""What the real-node tests share: running the CLI inside the cluster's namespace or in a pod
of the cluster, helm as the cluster's admin, the machine's own facts (to compare the probes'
with), and the clean-up checks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.live.probes.manifests import MANAGED_BY, TOOL

REPO = Path(__file__).resolve().parents[2]
SELECTOR = f"labelSelector={MANAGED_BY}%3D{TOOL}"


def ok(result: tuple[int, Any], *codes: int) -> Any:
    status, body = result
    assert status in (codes or (200, 201)), body
    return body


def run_cli(cluster, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`k8s-isolation-audit ARGS` from this tree, inside the cluster's network namespace."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run(cluster.wrap([sys.executable, "-m", "auditor", *args]), capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def scan_probe(cluster, out: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = run_cli(cluster, "scan", "--kubeconfig", cluster.api.kubeconfig, "--probe",
                   "--probe-image", cluster.probe.ref, "--probe-timeout", "240", "--format", "json",
                   "-o", str(out), "--fail-on", "none", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


# --- pods -----------------------------------------------------------------------------------

PORT = 8080
# Accepts and closes connections until killed: the pod's whole job is to be a target.
SERVER = ("import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          f"s.bind(('0.0.0.0', {PORT}))\ns.listen(64)\nwhile True:\n    c, _ = s.accept()\n    c.close()\n")
# the restricted Pod Security Standard's container fields
RESTRICTED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def server_pod(image: str, node: str) -> dict:
    return {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {
        "nodeName": node, "terminationGracePeriodSeconds": 1, "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "containers": [{"name": "web", "image": image, "imagePullPolicy": "Never",
                        "command": ["/usr/local/bin/python3", "-c", SERVER],
                        "ports": [{"containerPort": PORT}], "securityContext": RESTRICTED,
                        "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 1}}]}}


def serve_in(cluster, *namespaces: str) -> None:
    """Create each namespace with a `web` server pod on the first node."""
    node = cluster.nodes[0].spec.name
    for ns in namespaces:
        ok(cluster.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}))
        ok(cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", server_pod(cluster.probe.ref, node)))


def wait_ready(cluster, namespace: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = ok(cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/web"))
        if any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])):
            return
        time.sleep(1)
    raise AssertionError(f"web in {namespace} not ready: {pod['status']}")


# --- in-cluster runs ------------------------------------------------------------------------

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# What the in-cluster chart mounts instead of the automatic token: a kubelet-requested,
# expiring token for the pod's ServiceAccount, the cluster's CA, and the pod's namespace.
SERVICE_ACCOUNT_VOLUME = {"name": "kube-api-access", "projected": {"sources": [
    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
]}}


@dataclass(frozen=True)
class PodRun:
    """A finished Job's pod: its exit code and its container's two streams."""

    exit_code: int
    stdout: str
    stderr: str


def run_job(cluster, namespace: str, name: str, service_account: str, args: list[str],
            timeout: float = 300) -> PodRun:
    """Run `k8s-isolation-audit ARGS` from the probe image as a Job in `namespace`, as
    `service_account`, with the token volume the chart mounts; wait for it to finish."""
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {
        "backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "serviceAccountName": service_account,
            "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
            "volumes": [SERVICE_ACCOUNT_VOLUME],
            "containers": [{"name": "audit", "image": cluster.probe.ref, "imagePullPolicy": "Never",
                            "args": args, "securityContext": RESTRICTED,
                            "volumeMounts": [{"name": "kube-api-access", "mountPath": SERVICE_ACCOUNT_DIR,
                                              "readOnly": True}]}]}}}}
    ok(cluster.request("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", job))
    return finished_job(cluster, namespace, name, timeout)


def finished_job(cluster, namespace: str, name: str, timeout: float = 300) -> PodRun:
    """Wait for a one-pod, one-container Job (backoffLimit 0) to complete or fail; its run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ok(cluster.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"))["status"]
        if any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in status.get("conditions", [])):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"job {namespace}/{name} did not finish: {status}")
    (pod,) = ok(cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=job-name%3D{name}"))["items"]
    (container,) = pod["status"]["containerStatuses"]
    return PodRun(container["state"]["terminated"]["exitCode"], *container_streams(cluster, pod, container["name"]))


def container_streams(cluster, pod: dict, container: str) -> tuple[str, str]:
    """(stdout, stderr) of a pod's container, from the kubelet's CRI log file on its node:
    the API's log endpoint mixes the two streams."""
    meta = pod["metadata"]
    (node,) = [n for n in cluster.nodes if n.spec.name == pod["spec"]["nodeName"]]
    log = node.spec.directory / "pod-logs" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}" / container / "0.log"
    streams = {"stdout": "", "stderr": ""}
    for line in log.read_text().splitlines():
        # "<time> <stream> <P|F> <text>": F ends a line, P is a part of a longer one
        _, stream, tag, text = (line.split(" ", 3) + [""])[:4]
        streams[stream] += text + ("\n" if tag == "F" else "")
    return streams["stdout"], streams["stderr"]


def helm(cluster, binary: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`helm ARGS` inside the cluster's network namespace as its admin; helm's own config,
    cache and data live in the cluster's directory (removed at stop)."""
    home = cluster.workdir / "helm"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home), "KUBECONFIG": cluster.api.kubeconfig,
           **{f"HELM_{what}_HOME": str(home / what.lower()) for what in ("CONFIG", "CACHE", "DATA")}}
    return subprocess.run(cluster.wrap([str(binary), *args]), capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


# --- the machine, read directly -------------------------------------------------------------

def machine_boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def machine_pod_cgroup_version() -> str:
    """The cgroup version that limits this machine's pods: v2 when cgroup2 is mounted at
    /sys/fs/cgroup, else v1. A hybrid machine's pods are v1 too: their controllers are the v1
    hierarchies, and runc mounts only those into the container."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/sys/fs/cgroup" and fields[fields.index("-") + 1] == "cgroup2":
                return "v2"
    return "v1"


def machine_is_vm() -> bool:
    with open("/proc/cpuinfo") as f:
        return any(line.startswith("flags") and " hypervisor" in line for line in f)


# --- clean-up -------------------------------------------------------------------------------

def labelled(cluster, path: str) -> list:
    return ok(cluster.request("GET", f"{path}?{SELECTOR}"))["items"]


def tool_objects_left(cluster, tool_namespace: str) -> list[str]:
    left = [f"{kind} {o['metadata']['namespace']}/{o['metadata']['name']}"
            for kind, path in (("job", "/apis/batch/v1/jobs"), ("pod", "/api/v1/pods"),
                               ("configmap", "/api/v1/configmaps"), ("serviceaccount", "/api/v1/serviceaccounts"))
            for o in labelled(cluster, path)]
    status, ns = cluster.request("GET", f"/api/v1/namespaces/{tool_namespace}")
    if status != 404 and ns["status"]["phase"] != "Terminating":
        left.append(f"namespace {tool_namespace}")
    return left


def containers_of(cluster, namespace: str) -> list[str]:
    """containerd's containers (sandboxes included) of pods in `namespace`, on every node."""
    found = []
    for node in cluster.nodes:
        proc = node.ctr("containers", "ls", "-q", f'labels."io.kubernetes.pod.namespace"=={namespace}', check=False)
        found += [f"{node.spec.name}: {c}" for c in proc.stdout.split()]
    return found


def wait_for_no_containers(cluster, namespace: str, timeout: float = 120) -> list[str]:
    """The kubelet removes a deleted pod's containers on its own schedule: wait for it."""
    deadline = time.monotonic() + timeout
    while (left := containers_of(cluster, namespace)) and time.monotonic() < deadline:
        time.sleep(1)
    return left
