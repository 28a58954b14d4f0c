"""API faults through the real command line, with a fault-injecting proxy in front of the real
apiserver: the API failing in the middle of a `--probe` run, answers that never come, 429s.

Every fault ends in one clear line and exit 2 (or, for what retries absorb, a normal exit),
and whatever a run could not delete through a failing API is removed by the next run. What is
left behind is checked against the apiserver directly, never through the proxy.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest
from harness.fault_proxy import Fault, FaultProxy
from test_live_cluster import unique
from test_live_probes import assert_nothing_left, labelled, make_tenants

from auditor.live.probes.manifests import RUN_ID

pytestmark = pytest.mark.apiserver

PROG = "k8s-isolation-audit: "
JOBS = "/apis/batch/v1/jobs"


def cli(*argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auditor", *argv], capture_output=True, text=True, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The run ended in exit 2 with exactly one line on stderr and no report; that line."""
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(PROG + "error: "), done.stderr[-3000:]
    assert done.stdout == ""
    return done.stderr.strip()


@pytest.fixture
def proxy(apiserver):
    with FaultProxy(apiserver) as p:
        yield p


def _polls_jobs_of_a_run(method: str, path: str, query: str) -> bool:
    """The wait for probe Jobs: a cluster-wide Job list selected by this run's id (the
    leftover sweep before it selects by the managed-by label alone)."""
    return method == "GET" and path == JOBS and "run-id" in query


# --- (1) the API fails for good after the probe Jobs exist --------------------------------------

@pytest.mark.parametrize("fault", ["http-500", "http-503", "http-401", "connection-refused"])
def test_an_api_failing_mid_probe_is_one_line_and_the_next_run_removes_what_is_left(apiserver, proxy, tmp_path,
                                                                                     fault):
    sfx = unique("mid")
    _, tenants, _ = make_tenants(apiserver, sfx)
    tool = unique("audit")
    created: list[dict] = []
    tripped = threading.Event()

    def on_request(method, path, query):
        if tripped.is_set() or not _polls_jobs_of_a_run(method, path, query):
            return None
        # every probe Job exists now (they are all created before the first wait): from here on the API fails
        created.extend(labelled(apiserver, JOBS))
        tripped.set()
        if fault == "connection-refused":
            proxy.go_away()
            return None
        proxy.broken = int(fault.split("-")[1])
        return Fault(proxy.broken)

    proxy.on_request = on_request
    start = time.monotonic()
    done = cli("scan", "--kubeconfig", proxy.kubeconfig(tmp_path), "--probe", "--probe-timeout", "3",
               "--probe-namespace", tool, "--format", "json")
    elapsed = time.monotonic() - start
    assert tripped.is_set(), done.stderr
    message = one_line_error(done)

    run_ids = {j["metadata"]["labels"][RUN_ID] for j in created}
    assert len(run_ids) == 1 and created, created
    [run_id] = run_ids
    assert {j["metadata"]["namespace"] for j in created} >= {tool, *tenants}
    why = {"http-500": "HTTP 500 Injected", "http-503": "HTTP 503 Injected", "connection-refused": "connection refused",
           "http-401": "rejected the credentials (401 Unauthorized: expired or invalid)"}  # a token expiring mid-run
    assert message.startswith(f"{PROG}error: context proxy: ") and why[fault] in message, message
    # clean-up ran through the same failing API: the line says what is left and who removes it
    assert "clean-up incomplete" in message and f"{RUN_ID}={run_id}" in message, message
    assert "the next --probe run removes" in message, message
    assert elapsed < 60  # retries are bounded: a dead API is not waited on forever

    left = [j for j in labelled(apiserver, JOBS) if j["metadata"]["labels"][RUN_ID] == run_id]
    assert sorted(j["metadata"]["uid"] for j in left) == sorted(j["metadata"]["uid"] for j in created)

    # the next run (the API healthy again) removes the leftovers first, then cleans up after itself
    again = cli("scan", "--kubeconfig", apiserver.kubeconfig, "--probe", "--probe-timeout", "2",
                "--probe-namespace", tool, "--format", "json")
    assert again.returncode == 2, again.stderr[-3000:]  # no kubelet: its own probes time out (partial)
    report = json.loads(again.stdout)
    assert report["summary"]["partial"] is True
    assert all(line.startswith(PROG + "skipped probe ") for line in again.stderr.splitlines()), again.stderr[-3000:]
    assert_nothing_left(apiserver, tool, tenants)


def test_expired_credentials_are_one_line_and_exit_2_before_anything_is_created(apiserver, tmp_path):
    from test_live_cluster import expired_kubeconfig

    kubeconfig = expired_kubeconfig(apiserver, tmp_path / "expired.json")
    tool = unique("audit")
    done = cli("scan", "--kubeconfig", kubeconfig, "--probe", "--probe-namespace", tool)
    message = one_line_error(done)
    assert message.startswith(f"{PROG}error: context stale: {apiserver.url} rejected the credentials "
                              "(401 Unauthorized: expired or invalid)"), message
    assert apiserver.request("GET", f"/api/v1/namespaces/{tool}")[0] == 404


# --- (2) answers that never come -------------------------------------------------------------------

def test_a_list_that_never_answers_is_retried_then_one_line_and_nothing_is_created(apiserver, proxy, tmp_path):
    tool = unique("audit")
    slow = "/apis/apps/v1/deployments"
    asked: list[float] = []

    def on_request(method, path, query):
        if path != slow:
            return None
        asked.append(time.monotonic())
        return Fault(delay=4)

    proxy.on_request = on_request
    start = time.monotonic()
    done = cli("scan", "--kubeconfig", proxy.kubeconfig(tmp_path), "--request-timeout", "1", "--probe",
               "--probe-namespace", tool)
    elapsed = time.monotonic() - start
    message = one_line_error(done)
    assert message == f"{PROG}error: context proxy: {proxy.url}: GET {slow}: no answer within 1s"
    assert len(asked) == 5  # an idempotent call that timed out is retried, a bounded number of times, backing off
    assert all(b - a >= 1 for a, b in pairwise(asked)), asked
    assert elapsed < 40
    # it failed while reading, before any probe: nothing was created
    assert apiserver.request("GET", f"/api/v1/namespaces/{tool}")[0] == 404
    assert_nothing_left(apiserver, tool)


def test_a_context_that_never_answers_is_a_partial_audit_of_the_others(apiserver, proxy, tmp_path):
    proxy.on_request = lambda method, path, query: Fault(delay=4)
    config = json.loads(Path(apiserver.kubeconfig).read_text())
    slow = json.loads(Path(proxy.kubeconfig(tmp_path)).read_text())
    merged = copy.deepcopy(config)
    merged["clusters"] += slow["clusters"]
    merged["users"] += slow["users"]
    merged["contexts"] += slow["contexts"]
    both = tmp_path / "both.json"
    both.write_text(json.dumps(merged))
    done = cli("scan", "--kubeconfig", str(both), "--all-contexts", "--request-timeout", "1", "--format", "json")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["partial"] is True
    skipped = report["coverage"]["skipped"]
    assert [s["source"] for s in skipped] == ["cluster proxy"]
    # the first call, a POST (never retried on a timeout: it may have happened), says it in one line
    assert skipped[0]["reason"] == (f"context proxy: {proxy.url}: "
                                    "POST /apis/authentication.k8s.io/v1/selfsubjectreviews: no answer within 1s")
    assert done.stderr.splitlines() == [f"{PROG}skipped cluster proxy: {skipped[0]['reason']}"]
    assert report["source"]["inputs"] == ["cluster admin", "cluster proxy"] and report["coverage"]["objects"] > 0


def test_a_job_created_whose_answer_never_came_is_still_removed(apiserver, proxy, tmp_path):
    """The server created the Job but the answer timed out: the tool never saw it. Clean-up
    finds it by its labels, so it is not left behind."""
    sfx = unique("late")
    _, tenants, _ = make_tenants(apiserver, sfx)
    tool = unique("audit")
    posts: list[str] = []

    def on_request(method, path, query):
        if method == "POST" and path == f"/apis/batch/v1/namespaces/{tool}/jobs":
            posts.append(path)
            if len(posts) == 2:
                return Fault(delay=8)  # forwarded now, answered after the tool gave up (5 s)
        return None

    proxy.on_request = on_request
    done = cli("scan", "--kubeconfig", proxy.kubeconfig(tmp_path), "--probe", "--probe-timeout", "3",
               "--probe-namespace", tool, "--format", "json")
    assert len(posts) >= 2
    message = one_line_error(done)
    assert message.startswith(f"{PROG}error: context proxy: ") and "no answer within 5s" in message, message
    assert "clean-up incomplete" not in message
    assert_nothing_left(apiserver, tool, tenants)


# --- (3) 429 with Retry-After ----------------------------------------------------------------------

def test_429_with_retry_after_during_a_scan_is_waited_out(apiserver, proxy, tmp_path):
    proxy.faults["/api/v1/pods"] = [(429, "1"), (429, "1")]
    proxy.faults["/apis/networking.k8s.io/v1/networkpolicies"] = [(429, "0")]
    start = time.monotonic()
    done = cli("scan", "--kubeconfig", proxy.kubeconfig(tmp_path), "--format", "json", "--fail-on", "none")
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # retries are quiet: no warnings, no partial audit
    report = json.loads(done.stdout)
    assert report["summary"]["partial"] is False and report["coverage"]["skipped"] == []
    pods = [(t, s) for t, m, p, s in proxy.seen if (m, p) == ("GET", "/api/v1/pods")]
    assert [s for _, s in pods] == [429, 429, 200]
    assert pods[1][0] - pods[0][0] >= 0.9 and pods[2][0] - pods[1][0] >= 0.9 and elapsed >= 1.8
    assert [s for t, m, p, s in proxy.seen if p == "/apis/networking.k8s.io/v1/networkpolicies"] == [429, 200]
    # the same objects as a scan without faults
    direct = cli("scan", "--kubeconfig", apiserver.kubeconfig, "--format", "json", "--fail-on", "none")
    assert json.loads(direct.stdout)["coverage"]["objects"] == report["coverage"]["objects"]


def test_a_429_during_the_probe_run_is_waited_out_too(apiserver, proxy, tmp_path):
    sfx = unique("busy")
    _, tenants, _ = make_tenants(apiserver, sfx)
    tool = unique("audit")
    answered: list[int] = []

    def on_request(method, path, query):
        if _polls_jobs_of_a_run(method, path, query) and len(answered) < 2:
            answered.append(429)
            return Fault(429, "1")
        return None

    proxy.on_request = on_request
    done = cli("scan", "--kubeconfig", proxy.kubeconfig(tmp_path), "--probe", "--probe-timeout", "3",
               "--probe-namespace", tool, "--format", "json")
    assert answered == [429, 429]
    assert done.returncode == 2, done.stderr[-3000:]  # only because no kubelet runs the probes
    report = json.loads(done.stdout)
    reasons = [s["reason"] for s in report["coverage"]["skipped"]]
    assert reasons and all(r.startswith("not run: timed out") for r in reasons), reasons
    assert_nothing_left(apiserver, tool, tenants)
