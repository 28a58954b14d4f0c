"""A finished probe's pod and its log: the ProbeReport it printed, or why there is none."""
from __future__ import annotations

from typing import Any

from ..errors import ApiStatusError, ClusterError
from .manifests import CORE, JOB_LABEL, RUN_ID
from .plan import ProbeSpec
from .results import NotRun, ProbeResult, ProbeRun


def job_pods(api: Any, spec: ProbeSpec, run_id: str) -> list[dict]:
    answer = api.get(f"{CORE}/namespaces/{spec.namespace}/pods",
                     labelSelector=f"{RUN_ID}={run_id},{JOB_LABEL}={spec.job}")
    return sorted((answer or {}).get("items") or (),
                  key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")


def collect(api: Any, run: ProbeRun, spec: ProbeSpec, state: str, job: dict) -> None:
    """The report of a finished Job (`state` complete | failed) into `run`: a result, or why not."""
    pods = job_pods(api, spec, run.run_id)
    done = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
    pod = done[-1] if done else pods[-1] if pods else None
    if state == "failed":
        cond: dict[str, Any] = next((c for c in (job.get("status") or {}).get("conditions") or ()
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
    labels = (pod.get("metadata") or {}).get("labels") or {}
    run.results.append(ProbeResult(spec.probe_id, spec.kind, spec.namespace, name,
                                   (pod.get("spec") or {}).get("nodeName") or spec.node, report,
                                   {str(k): str(v) for k, v in labels.items()}))


def parse_report(log: bytes) -> tuple[dict | None, str]:
    """The ProbeReport in a pod log: the whole log, or the JSON object between the first line
    that starts with '{' and the last '}' (stderr lines may surround stdout in a log)."""
    text = log.strip()
    report = None
    from ...sources.parsing import ParseError, json_document
    from ...sources.probe_reports import report_problem

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
