"""`scan --probe`: run the probe inside the cluster as Jobs, collect the reports, clean up.

What a run creates, every object labelled `app.kubernetes.io/managed-by: k8s-isolation-audit`
and `isolation-audit.io/run-id: <run id>`:

- the tool's namespace `isolation-audit` (pod-security enforce=privileged), unless it already
  exists without our label (then it is used, and left in place);
- a ServiceAccount there (no API token is mounted: the probe needs no Kubernetes access);
- one Job per node, pinned with `nodeName` and tolerating every taint: `probe --active`;
- one Job per tenant namespace, *in that namespace* (a NetworkPolicy decides by the source
  pod's namespace, so only a pod there sees what that tenant can reach): `probe --reach`
  against other tenants' pods, the targets in a ConfigMap owned by the Job.

Every container is non-root, drops all capabilities, has a read-only root filesystem and
bounded resources; every Job has backoffLimit 0, activeDeadlineSeconds and
ttlSecondsAfterFinished. Reports are read from pod logs as each Job finishes.

Clean-up always runs (try/finally, on errors, KeyboardInterrupt and SIGTERM): Jobs are deleted
with background propagation, then their pods and ConfigMaps, the ServiceAccount, and the
namespace if the run created it. A run first removes what an interrupted earlier run left
(found by the managed-by label), so nothing accumulates.
"""
from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import orjson

from .. import __version__
from ..model import Fact, Inventory, Origin, Resource, Skipped
from ..tenancy import TenancyConfig, resolve_tenancy
from .errors import ApiStatusError, ClusterError

TOOL = "k8s-isolation-audit"
MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_ID = "isolation-audit.io/run-id"
PROBE_KIND = "isolation-audit.io/probe"  # node | reach
JOB_LABEL = "isolation-audit.io/job"
TARGET_ANNOTATION = "isolation-audit.io/target"
TOOL_NAMESPACE = "isolation-audit"
SERVICE_ACCOUNT = "isolation-audit-probe"
DEFAULT_IMAGE = f"ghcr.io/k8s-isolation-audit/k8s-isolation-audit:{__version__}"
TARGETS_DIR = "/etc/isolation-audit"
TARGETS_FILE = "targets.json"
PROBE_UID = 65532  # the image's non-root user (see Dockerfile)

JOBS = "/apis/batch/v1"
CORE = "/api/v1"


@dataclass(frozen=True)
class ProbeOptions:
    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    namespace: str = TOOL_NAMESPACE
    timeout: float = 300.0  # the whole wait for Jobs, from the last one created
    active_deadline: int = 180  # activeDeadlineSeconds of each Job
    ttl_after_finished: int = 600  # ttlSecondsAfterFinished: the cluster's own backstop
    poll_interval: float = 2.0
    nodes: Sequence[str] | None = None  # None: every node
    namespaces: Sequence[str] | None = None  # tenant namespaces to probe reach from; None: all
    node_probes: bool = True
    reach_probes: bool = True
    max_targets: int = 256  # per reach Job; targets are equivalence classes, not all pods
    reach_timeout: float = 1.0
    cleanup_timeout: float = 60.0
    namespace_wait: float = 60.0  # for a namespace of an earlier run to finish terminating


@dataclass(frozen=True)
class ProbeSpec:
    """One probe Job to run."""

    probe_id: str  # node-<node> | reach-<namespace>
    kind: str  # node | reach
    namespace: str  # where the Job runs
    job: str
    node: str | None = None
    targets: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    probe_id: str
    kind: str
    namespace: str
    pod: str
    node: str | None
    report: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class NotRun:
    probe_id: str
    reason: str

    def one_line(self) -> str:
        return f"{self.probe_id}: {self.reason}"


@dataclass(frozen=True)
class ProgressUpdate:
    phase: str  # leftovers | create | wait | cleanup | done
    done: int
    total: int
    message: str = ""


Progress = Callable[[ProgressUpdate], None]


@dataclass
class ProbeRun:
    run_id: str
    context: str
    namespace: str
    planned: list[ProbeSpec] = field(default_factory=list)
    results: list[ProbeResult] = field(default_factory=list)
    not_run: list[NotRun] = field(default_factory=list)
    leftovers_removed: list[str] = field(default_factory=list)
    cleanup_errors: list[str] = field(default_factory=list)

    def facts(self) -> tuple[Fact, ...]:
        return tuple(
            Fact(probe_id=r.probe_id, node=(r.report.get("probe") or {}).get("node") or r.node,
                 namespace=(r.report.get("probe") or {}).get("namespace") or r.namespace,
                 pod=(r.report.get("probe") or {}).get("pod") or r.pod, report=r.report,
                 origin=Origin(cluster=self.context))
            for r in self.results)

    def skipped(self) -> tuple[Skipped, ...]:
        """Probes that did not run, for the report's coverage ("probes not run: ..."), and a
        clean-up that failed (the objects it could not delete are still in the cluster)."""
        found = tuple(Skipped(f"probe {n.probe_id}", f"not run: {n.reason}") for n in self.not_run)
        if self.cleanup_errors:
            found += (Skipped("probe clean-up", self.cleanup_note()),)
        return found

    def cleanup_note(self) -> str:
        more = f" (and {len(self.cleanup_errors) - 1} more)" if len(self.cleanup_errors) > 1 else ""
        return (f"clean-up incomplete: {self.cleanup_errors[0][:300]}{more}; what is left is labelled "
                f"{RUN_ID}={self.run_id} and the next --probe run removes it")

    def join(self, inventory: Inventory) -> Inventory:
        """`inventory` with the probe facts, the probes that did not run and a failed clean-up."""
        return replace(inventory, facts=inventory.facts + self.facts(),
                       skipped=inventory.skipped + self.skipped(),
                       inputs=inventory.inputs + tuple(f"probe {r.probe_id}" for r in self.results))

    def write_reports(self, directory: str | Path) -> list[Path]:
        """One `<probe id>.json` per report, loadable by `scan --probe-results DIR`."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for r in self.results:
            path = out / f"{_safe(r.probe_id)}.json"
            path.write_bytes(orjson.dumps(r.report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
            written.append(path)
        return written


class Terminated(KeyboardInterrupt):
    """SIGTERM during a probe run: unwinds like Ctrl-C, so clean-up runs."""


# --- planning (pure) ----------------------------------------------------------------------------

def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def plan_probes(resources: Iterable[Resource], run_id: str, options: ProbeOptions = ProbeOptions(),
                tenancy: TenancyConfig | None = None) -> list[ProbeSpec]:
    """The Jobs a run creates, from Nodes, Namespaces and Pods: pure, so it is unit-tested."""
    resources = list(resources)
    specs: list[ProbeSpec] = []
    if options.node_probes:
        nodes = sorted({r.name for r in resources if r.kind == "Node"})
        if options.nodes is not None:
            wanted = set(options.nodes)
            nodes = [n for n in nodes if n in wanted]
        for i, node in enumerate(nodes):
            specs.append(ProbeSpec(f"node-{node}", "node", options.namespace, f"ia-{run_id}-node-{i}", node=node))
    if options.reach_probes:
        config = tenancy or TenancyConfig()
        platform = tuple(config.platform_namespaces) + (options.namespace,)
        resolved = resolve_tenancy(resources, replace(config, platform_namespaces=platform))
        terminating = {r.name for r in resources if r.kind == "Namespace"
                       and ((r.obj.get("status") or {}).get("phase") == "Terminating"
                            or (r.metadata.get("deletionTimestamp")))}
        sources = sorted(ns for ns, tenant in resolved.by_namespace.items()
                         if tenant is not None and ns not in terminating)
        if options.namespaces is not None:
            wanted = set(options.namespaces)
            sources = [ns for ns in sources if ns in wanted]
        classes = _target_classes(resources, resolved)
        for ns in sources:
            tenant = resolved.tenant_of(ns)
            targets = _pick(classes, tenant, options.max_targets)
            if targets:
                specs.append(ProbeSpec(f"reach-{ns}", "reach", ns, f"ia-{run_id}-reach", targets=tuple(targets)))
    return specs


def _target_classes(resources: list[Resource], tenancy) -> dict[str, list[dict]]:
    """tenant -> targets: one per (namespace, pod labels, port, protocol), the first pod by name.
    Pods with the same labels in one namespace are selected alike by every NetworkPolicy."""
    seen: set[tuple] = set()
    by_tenant: dict[str, list[dict]] = {}
    pods = sorted((r for r in resources if r.kind == "Pod" and r.namespace), key=lambda r: (r.namespace, r.name))
    for pod in pods:
        tenant = tenancy.tenant_of(pod.namespace)
        if tenant is None:
            continue
        status = pod.obj.get("status") or {}
        spec = pod.obj.get("spec") or {}
        ip = status.get("podIP")
        if not isinstance(ip, str) or not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        labels = tuple(sorted((str(k), str(v)) for k, v in pod.labels.items()
                              if k not in ("pod-template-hash", "controller-revision-hash",
                                           "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index")))
        for port, protocol in _ports(spec):
            key = (pod.namespace, labels, port, protocol)
            if key in seen:
                continue
            seen.add(key)
            by_tenant.setdefault(tenant, []).append({"tenant": tenant, "address": ip, "port": port,
                                                     "protocol": protocol, "namespace": pod.namespace,
                                                     "pod": pod.name})
    return by_tenant


def _ports(spec: Mapping[str, Any]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for container in spec.get("containers") or ():
        if not isinstance(container, dict):
            continue
        for port in container.get("ports") or ():
            if not isinstance(port, dict):
                continue
            number, protocol = port.get("containerPort"), port.get("protocol") or "TCP"
            if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 65535 \
                    and protocol in ("TCP", "UDP") and (number, protocol) not in found:
                found.append((number, protocol))
    return found


def _pick(classes: dict[str, list[dict]], own: str | None, limit: int) -> list[dict]:
    """Other tenants' targets, round-robin across tenants so a cap never drops a whole tenant."""
    queues = [list(targets) for tenant, targets in sorted(classes.items()) if tenant != own]
    picked: list[dict] = []
    while queues and len(picked) < limit:
        for queue in list(queues):
            if len(picked) >= limit:
                break
            picked.append(queue.pop(0))
            if not queue:
                queues.remove(queue)
    return picked


# --- the objects ---------------------------------------------------------------------------------

def labels(run_id: str, **extra: str) -> dict[str, str]:
    return {MANAGED_BY: TOOL, RUN_ID: run_id, **extra}


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


# --- running -------------------------------------------------------------------------------------

def run_probes(
    kubeconfig: str | None = None,
    context: str | None = None,
    options: ProbeOptions = ProbeOptions(),
    *,
    inventory: Inventory | None = None,
    tenancy: TenancyConfig | None = None,
    progress: Progress | None = None,
    run_id: str | None = None,
    api: Any = None,
    environ: Mapping[str, str] | None = None,
) -> ProbeRun:
    """Run the probes in one context and return what they reported and what did not run.

    `inventory` (from load_cluster) saves re-reading Nodes, Namespaces and Pods. Raises
    ClusterError (one line) when the run cannot start, or the API fails under it (errors
    after retries, no answer, connection lost); clean-up has run by then, and the message
    says when it could not remove everything (the next run removes the rest).
    """
    own_api = api is None
    if own_api:
        from .kubeconfig import load_kubeconfig, select_contexts
        from .transport import connect

        config = load_kubeconfig(kubeconfig, environ)
        name = select_contexts(config, [context] if context else None, False)[0]
        api = connect(config, name, timeout=min(30.0, max(5.0, options.timeout)))
    run = ProbeRun(run_id or new_run_id(), api.context, options.namespace)
    notify = _notifier(progress)
    restore = _trap_sigterm()
    created_namespace = False
    failure: str | None = None
    try:
        run.leftovers_removed = remove_leftovers(api, options, notify)
        # ours from an interrupted run (labelled): reused, and deleted at the end like a new one
        created_namespace = _namespace_is_ours(api, options.namespace)
        resources = _resources_for(api, inventory)
        run.planned = plan_probes(resources, run.run_id, options, tenancy)
        if not run.planned:
            return run
        created_namespace = _ensure_namespace(api, options, run.run_id) or created_namespace
        if any(s.kind == "node" for s in run.planned):
            _create(api, f"{CORE}/namespaces/{options.namespace}/serviceaccounts",
                    service_account_manifest(options.namespace, run.run_id))
        started = _start_jobs(api, run, options, notify)
        _wait(api, run, started, options, notify)
        return run
    except ApiStatusError as exc:  # the API kept failing (5xx after retries, 403, ...)
        failure = f"context {api.context}: probe run stopped: {exc}"
    except ClusterError as exc:  # no answer, connection lost, credentials rejected
        failure = str(exc)
    finally:
        try:
            _without_sigint(lambda: cleanup(api, options, run, created_namespace, notify))
        finally:
            restore()
            if own_api:
                api.close()
    # one line: what stopped the run and, when clean-up failed through the same API, what is left
    assert failure is not None
    raise ClusterError(failure + (f"; {run.cleanup_note()}" if run.cleanup_errors else ""))


def _resources_for(api: Any, inventory: Inventory | None) -> list[Resource]:
    if inventory is not None:
        return [r for r in inventory.resources
                if r.kind in ("Node", "Namespace", "Pod") and r.origin.cluster in (None, api.context)]
    from .cluster import read_context
    from .kinds import BY_KIND

    read = read_context(api, kinds=[BY_KIND["Node"], BY_KIND["Namespace"], BY_KIND["Pod"]])
    if read.skipped:
        raise ClusterError(f"context {api.context}: --probe needs to list nodes, namespaces and pods: "
                           + "; ".join(s.reason for s in read.skipped))
    return read.resources


def _namespace_is_ours(api: Any, name: str) -> bool:
    try:
        found = api.get(f"{CORE}/namespaces/{name}")
    except ApiStatusError as exc:
        if exc.status in (403, 404):
            return False
        raise ClusterError(f"context {api.context}: namespace {name}: {exc.message}") from None
    meta = (found or {}).get("metadata") or {}
    return (meta.get("labels") or {}).get(MANAGED_BY) == TOOL and not meta.get("deletionTimestamp")


def _ensure_namespace(api: Any, options: ProbeOptions, run_id: str) -> bool:
    """Create the tool's namespace; True when this run created it (and so deletes it)."""
    path = f"{CORE}/namespaces"
    deadline = time.monotonic() + options.namespace_wait
    while True:
        try:
            api.create(path, namespace_manifest(options.namespace, run_id))
            return True
        except ApiStatusError as exc:
            if exc.status != 409:
                raise ClusterError(f"context {api.context}: cannot create namespace {options.namespace}: "
                                   f"{exc.message}") from None
        try:
            existing = api.get(f"{path}/{options.namespace}")
        except ApiStatusError as exc:
            if exc.status == 404:
                continue  # deleted between the two calls
            raise ClusterError(f"context {api.context}: namespace {options.namespace}: {exc.message}") from None
        terminating = (existing.get("status") or {}).get("phase") == "Terminating" \
            or (existing.get("metadata") or {}).get("deletionTimestamp")
        if not terminating:
            # ours from an interrupted run: reuse, then delete; made by an admin: use, keep
            return ((existing.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY) == TOOL
        if time.monotonic() >= deadline:
            raise ClusterError(f"context {api.context}: namespace {options.namespace} is still terminating "
                               f"from an earlier run after {options.namespace_wait:g}s; try again later or "
                               f"choose another probe namespace")
        time.sleep(min(2.0, max(0.1, options.poll_interval)))


def _create(api: Any, path: str, body: Mapping[str, Any]) -> dict | None:
    """Create; an object of ours that already exists (a retried POST) is fine."""
    try:
        return api.create(path, body)
    except ApiStatusError as exc:
        if exc.status == 409:
            return None
        raise


def _start_jobs(api: Any, run: ProbeRun, options: ProbeOptions, notify: Progress) -> list[ProbeSpec]:
    started: list[ProbeSpec] = []
    total = len(run.planned)
    for i, spec in enumerate(run.planned):
        notify(ProgressUpdate("create", i, total, f"creating {spec.probe_id}"))
        try:
            job = _create(api, f"{JOBS}/namespaces/{spec.namespace}/jobs", job_manifest(spec, run.run_id, options))
            if spec.kind == "reach":
                _create(api, f"{CORE}/namespaces/{spec.namespace}/configmaps",
                        targets_configmap(spec, run.run_id, job))
        except ApiStatusError as exc:
            run.not_run.append(NotRun(spec.probe_id, f"not started: {exc.reason}: {exc.message}"[:400]))
            continue
        started.append(spec)
    notify(ProgressUpdate("create", total, total, f"created {len(started)} probe job(s)"))
    return started


def _wait(api: Any, run: ProbeRun, started: list[ProbeSpec], options: ProbeOptions, notify: Progress) -> None:
    pending = {(s.namespace, s.job): s for s in started}
    total = len(started)
    deadline = time.monotonic() + options.timeout
    jobs: dict[tuple[str, str], dict] = {}
    while pending:
        answer = api.get(f"{JOBS}/jobs", labelSelector=f"{MANAGED_BY}={TOOL},{RUN_ID}={run.run_id}")
        jobs = {((j.get("metadata") or {}).get("namespace"), (j.get("metadata") or {}).get("name")): j
                for j in (answer or {}).get("items") or ()}
        for key in list(pending):
            state = _job_state(jobs.get(key))
            if state is None:
                continue
            spec = pending.pop(key)
            _collect(api, run, spec, state, jobs.get(key) or {})
        notify(ProgressUpdate("wait", total - len(pending), total,
                              f"{total - len(pending)}/{total} probes finished"))
        if not pending:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(options.poll_interval, left))
    for spec in pending.values():
        run.not_run.append(NotRun(spec.probe_id, _why_not_finished(api, spec, run.run_id, jobs.get((spec.namespace, spec.job)),
                                                                   options.timeout)))


def _job_state(job: dict | None) -> str | None:
    """complete | failed | None (still running, or gone)."""
    if not job:
        return None
    status = job.get("status") or {}
    for cond in status.get("conditions") or ():
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "complete"
        if cond.get("status") == "True" and cond.get("type") in ("Failed", "FailureTarget"):
            return "failed"
    if status.get("succeeded"):
        return "complete"
    if status.get("failed"):
        return "failed"
    return None


def _pods_of(api: Any, spec: ProbeSpec, run_id: str) -> list[dict]:
    answer = api.get(f"{CORE}/namespaces/{spec.namespace}/pods",
                     labelSelector=f"{RUN_ID}={run_id},{JOB_LABEL}={spec.job}")
    return sorted((answer or {}).get("items") or (),
                  key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")


def _collect(api: Any, run: ProbeRun, spec: ProbeSpec, state: str, job: dict) -> None:
    pods = _pods_of(api, spec, run.run_id)
    done = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
    pod = (done or pods or [None])[-1]
    if state == "failed":
        cond = next((c for c in (job.get("status") or {}).get("conditions") or ()
                     if c.get("type") == "Failed" and c.get("status") == "True"), {})
        why = cond.get("reason") or "failed"
        detail = f": {cond['message']}" if cond.get("message") else ""
        tail = _log_tail(api, spec.namespace, pod) if pod else ""
        run.not_run.append(NotRun(spec.probe_id, f"failed ({why}){detail}{tail}"[:500]))
        return
    if pod is None:
        run.not_run.append(NotRun(spec.probe_id, "completed but its pod is gone (no report to read)"))
        return
    name = pod["metadata"]["name"]
    try:
        log = api.request("GET", f"{CORE}/namespaces/{spec.namespace}/pods/{name}/log",
                          [("container", "probe")], accept="*/*")
    except ApiStatusError as exc:
        run.not_run.append(NotRun(spec.probe_id, f"report unreadable: cannot read the pod log: {exc.message}"))
        return
    report, problem = parse_report(log)
    if report is None:
        run.not_run.append(NotRun(spec.probe_id, f"report unreadable: {problem}"))
        return
    run.results.append(ProbeResult(spec.probe_id, spec.kind, spec.namespace, name,
                                   (pod.get("spec") or {}).get("nodeName") or spec.node, report))


def parse_report(log: bytes) -> tuple[dict | None, str]:
    """The ProbeReport in a pod log: the whole log, or the JSON object between the first line
    that starts with '{' and the last '}' (stderr lines may surround stdout in a log)."""
    text = log.strip()
    report = None
    from ..sources.parsing import ParseError, json_document
    from ..sources.probe_reports import report_problem

    for candidate in _json_candidates(text):
        try:
            doc = json_document(candidate)
        except ParseError:
            continue
        if isinstance(doc, dict):
            report = doc
            break
    if report is None:
        return None, "the pod log holds no JSON report" + (f" (starts {text[:80]!r})" if text else " (empty)")
    problem = report_problem(report)
    return (None, problem) if problem else (report, "")


def _json_candidates(text: bytes) -> list[bytes]:
    found = [text]
    start = 0 if text.startswith(b"{") else text.find(b"\n{") + 1
    end = text.rfind(b"}")
    if start > 0 and end > start:
        found.append(text[start:end + 1])
    elif start == 0 and end > 0 and end < len(text) - 1:
        found.append(text[:end + 1])
    return found


def _log_tail(api: Any, namespace: str, pod: dict) -> str:
    try:
        log = api.request("GET", f"{CORE}/namespaces/{namespace}/pods/{pod['metadata']['name']}/log",
                          [("container", "probe"), ("tailLines", 3)], accept="*/*")
    except (ApiStatusError, ClusterError):
        return ""
    text = " | ".join(line.strip() for line in log.decode("utf-8", "replace").splitlines() if line.strip())
    return f" (log: {text[:200]})" if text else ""


def _why_not_finished(api: Any, spec: ProbeSpec, run_id: str, job: dict | None, timeout: float) -> str:
    after = f"timed out after {timeout:g}s"
    if job is None:
        return f"{after}: its Job disappeared"
    try:
        pods = _pods_of(api, spec, run_id)
    except (ApiStatusError, ClusterError):
        pods = []
    if not pods:
        return f"{after}: no pod was created (is the job controller running? see the Job's events)"
    pod = pods[-1]
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    detail = ""
    for cs in status.get("containerStatuses") or ():
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            detail = f": {waiting['reason']}" + (f" ({waiting['message'][:160]})" if waiting.get("message") else "")
            break
    if not detail:
        cond = next((c for c in status.get("conditions") or () if c.get("status") == "False" and c.get("reason")), None)
        if cond:
            detail = f": {cond['reason']}" + (f" ({cond.get('message', '')[:160]})" if cond.get("message") else "")
    return f"{after}, {phase}{detail}"


# --- clean-up ------------------------------------------------------------------------------------

def remove_leftovers(api: Any, options: ProbeOptions, notify: Progress | None = None) -> list[str]:
    """Delete what earlier runs left behind (any run id), found by the managed-by label.
    The tool's namespace itself is kept for reuse. Returns 'kind ns/name' per deletion."""
    removed: list[str] = []
    errors: list[str] = []
    _delete_labelled(api, f"{MANAGED_BY}={TOOL}", options.namespace, removed, errors)
    if notify is not None:
        notify(ProgressUpdate("leftovers", 1, 1, f"removed {len(removed)} leftover object(s)"))
    if errors:
        raise ClusterError(f"context {api.context}: cannot remove the leftovers of an earlier probe run: {errors[0]}")
    return removed


def cleanup(api: Any, options: ProbeOptions, run: ProbeRun, delete_namespace: bool,
            notify: Progress | None = None) -> None:
    """Delete everything of this run; errors are recorded in run.cleanup_errors, never raised."""
    if notify is not None:
        notify(ProgressUpdate("cleanup", 0, 1, "removing probe jobs"))
    removed: list[str] = []
    try:
        _delete_labelled(api, f"{MANAGED_BY}={TOOL},{RUN_ID}={run.run_id}", options.namespace, removed,
                         run.cleanup_errors, planned=run.planned)
        if delete_namespace:
            _delete(api, f"{CORE}/namespaces/{options.namespace}", f"Namespace {options.namespace}",
                    removed, run.cleanup_errors)
    except (ClusterError, Exception) as exc:  # a dead connection must not hide the original error
        known = isinstance(exc, (ClusterError, ApiStatusError))  # already one line that says what failed
        run.cleanup_errors.append(str(exc) if known else f"{type(exc).__name__}: {exc}")
    if notify is not None:
        notify(ProgressUpdate("cleanup", 1, 1, f"removed {len(removed)} object(s)"))


def _delete_labelled(api: Any, selector: str, tool_namespace: str, removed: list[str], errors: list[str],
                     planned: Sequence[ProbeSpec] = ()) -> None:
    jobs = (api.get(f"{JOBS}/jobs", labelSelector=selector) or {}).get("items") or []
    namespaces = {tool_namespace} | {s.namespace for s in planned}
    configmaps: set[tuple[str, str]] = {(s.namespace, s.job) for s in planned if s.kind == "reach"}
    for job in jobs:
        meta = job.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        namespaces.add(ns)
        for volume in ((job.get("spec") or {}).get("template") or {}).get("spec", {}).get("volumes") or ():
            cm = (volume.get("configMap") or {}).get("name") if isinstance(volume, dict) else None
            if cm:
                configmaps.add((ns, cm))
        # Background: the Job goes now, its pods with the garbage collector (and below)
        _delete(api, f"{JOBS}/namespaces/{ns}/jobs/{name}", f"Job {ns}/{name}", removed, errors,
                propagationPolicy="Background")
    pods = (api.get(f"{CORE}/pods", labelSelector=selector) or {}).get("items") or []
    for pod in pods:
        meta = pod.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        _delete(api, f"{CORE}/namespaces/{ns}/pods/{name}", f"Pod {ns}/{name}", removed, errors,
                gracePeriodSeconds=0)
    for ns, name in sorted(configmaps):
        _delete(api, f"{CORE}/namespaces/{ns}/configmaps/{name}", f"ConfigMap {ns}/{name}", removed, errors)
    account = f"{CORE}/namespaces/{tool_namespace}/serviceaccounts/{SERVICE_ACCOUNT}"
    try:
        found = api.get(account)
    except ApiStatusError as exc:
        found = None
        if exc.status not in (403, 404):
            errors.append(f"ServiceAccount {tool_namespace}/{SERVICE_ACCOUNT}: {exc.reason}: {exc.message}"[:300])
    if found and ((found.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY) == TOOL:
        _delete(api, account, f"ServiceAccount {tool_namespace}/{SERVICE_ACCOUNT}", removed, errors)


def _delete(api: Any, path: str, what: str, removed: list[str], errors: list[str], **query: Any) -> None:
    try:
        api.delete(path, **query)
        removed.append(what)
    except ApiStatusError as exc:
        if exc.status == 404:
            return
        if exc.status == 409 or (exc.status == 403 and "being terminated" in exc.message):
            return  # already going away with its namespace
        errors.append(f"{what}: {exc.reason}: {exc.message}"[:300])


# --- signals -------------------------------------------------------------------------------------

def _trap_sigterm() -> Callable[[], None]:
    """SIGTERM unwinds like Ctrl-C (so `finally` cleans up); returns the restorer."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except (ValueError, OSError):
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _without_sigint(action: Callable[[], None]) -> None:
    """Run clean-up without letting Ctrl-C or SIGTERM cut it short; a signal that arrives
    meanwhile is delivered (raised) once clean-up is done."""
    if threading.current_thread() is not threading.main_thread():
        action()
        return
    saved = {}
    arrived: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            saved[sig] = signal.signal(sig, lambda s, f: arrived.append(s))
        except (ValueError, OSError):
            pass
    try:
        action()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if arrived:
        raise Terminated() if arrived[0] == signal.SIGTERM else KeyboardInterrupt()


def _notifier(progress: Progress | None) -> Progress:
    if progress is None:
        return lambda update: None

    def notify(update: ProgressUpdate) -> None:
        try:
            progress(update)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception:  # a broken progress bar never breaks a run (or its clean-up)
            pass

    return notify


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)
