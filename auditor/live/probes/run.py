"""`run_probes`: start the planned Jobs, wait for them and collect their reports, with
clean-up guaranteed on every way out (errors, Ctrl-C, SIGTERM)."""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ...model import Inventory, Resource
from ...tenancy import TenancyConfig
from ..errors import ApiStatusError, ClusterError
from .cleanup import cleanup, remove_leftovers
from .logs import collect, job_pods
from .manifests import (
    CORE,
    JOBS,
    MANAGED_BY,
    TOOL,
    job_manifest,
    namespace_manifest,
    run_selector,
    service_account_manifest,
    targets_configmap,
)
from .options import ProbeOptions
from .plan import ProbeSpec, new_run_id, plan_probes
from .progress import Progress, ProgressUpdate, notifier
from .results import NotRun, ProbeRun
from .signals import trap_sigterm, without_signals


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
        from ..transport import connect_one

        api = connect_one(kubeconfig, context, min(30.0, max(5.0, options.timeout)), environ)
    run = ProbeRun(run_id or new_run_id(), api.context, options.namespace)
    notify = notifier(progress)
    restore = trap_sigterm()
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
            without_signals(lambda: cleanup(api, options, run, created_namespace, notify))
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
    from ..cluster import read_context
    from ..kinds import BY_KIND

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
    jobs: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    while pending:
        answer = api.get(f"{JOBS}/jobs", labelSelector=run_selector(run.run_id))
        jobs = {((j.get("metadata") or {}).get("namespace"), (j.get("metadata") or {}).get("name")): j
                for j in (answer or {}).get("items") or ()}
        for key in list(pending):
            state = _job_state(jobs.get(key))
            if state is None:
                continue
            spec = pending.pop(key)
            collect(api, run, spec, state, jobs.get(key) or {})
        notify(ProgressUpdate("wait", total - len(pending), total,
                              f"{total - len(pending)}/{total} probes finished"))
        if not pending:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(options.poll_interval, left))
    for spec in pending.values():
        why = _why_not_finished(api, spec, run.run_id, jobs.get((spec.namespace, spec.job)), options.timeout)
        run.not_run.append(NotRun(spec.probe_id, why))


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


def _why_not_finished(api: Any, spec: ProbeSpec, run_id: str, job: dict | None, timeout: float) -> str:
    after = f"timed out after {timeout:g}s"
    if job is None:
        return f"{after}: its Job disappeared"
    try:
        pods = job_pods(api, spec, run_id)
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
