"""API faults without a server: what the real-apiserver fault tests (tests/realapi/
test_live_faults_cli.py) found, pinned down where it happens."""
from __future__ import annotations

import pytest
import urllib3.exceptions as u3
from test_live_plan import FakeApi, cluster
from test_live_retry import FakeClient, _Resp

from auditor.live.errors import ApiStatusError, ClusterError
from auditor.live.probes.manifests import RUN_ID
from auditor.live.probes.options import ProbeOptions
from auditor.live.probes.run import run_probes
from auditor.live.retry import RetryPolicy
from auditor.live.transport import Api
from auditor.model import Inventory


class Raising(FakeClient):
    """call_api raises the queued exceptions, then answers."""

    def call_api(self, method, url, **kwargs):
        self.urls.append((method, url))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _wrapped(reason):
    """What urllib3 2.x raises with retries disabled when an idempotent request's answer is lost."""
    return u3.MaxRetryError(None, "https://fake:6443/api/v1/pods", reason=reason)


def _timeout():
    return u3.ReadTimeoutError(None, "https://fake:6443/api/v1/pods", "Read timed out. (read timeout=2)")


def test_a_read_timeout_urllib3_wraps_is_retried_not_called_a_connection_failure():
    slept = []
    client = Raising([_wrapped(_timeout()), _wrapped(u3.ProtocolError("Connection aborted.")),
                      _Resp(200, b'{"items": []}')])
    api = Api("ctx", client, timeout=2, policy=RetryPolicy(tries=5, base=0.1, jitter=0), sleep=slept.append)
    assert api.get("/api/v1/pods") == {"items": []}
    assert slept == [0.1, 0.2] and api.retries == 2 and len(client.urls) == 3


def test_a_read_timeout_after_the_tries_is_one_line_saying_so():
    client = Raising([_wrapped(_timeout())] * 3)
    api = Api("ctx", client, timeout=2, policy=RetryPolicy(tries=3, base=0.01, jitter=0), sleep=lambda s: None)
    with pytest.raises(ClusterError) as err:
        api.get("/api/v1/pods")
    assert str(err.value) == "context ctx: https://fake:6443: GET /api/v1/pods: no answer within 2s"


def test_a_post_without_an_answer_is_not_repeated():
    client = Raising([_timeout()])
    api = Api("ctx", client, timeout=2, sleep=lambda s: pytest.fail("a POST may have happened: never retried"))
    with pytest.raises(ClusterError, match=r"^context ctx: https://fake:6443: POST /apis/batch/v1/namespaces/x/jobs: "
                                           r"no answer within 2s$"):
        api.create("/apis/batch/v1/namespaces/x/jobs", {"metadata": {"name": "j"}})
    assert len(client.urls) == 1


class FailsAfterJobs(FakeApi):
    """The API answers until the probe Jobs exist, then every call fails like a dead server."""

    def __init__(self, error):
        super().__init__(lambda job: ("pending", None))
        self.error, self.failing = error, False

    def _check(self):
        if self.failing:
            raise self.error

    def get(self, path, **query):
        self._check()
        if "run-id" in (query.get("labelSelector") or "") and path.endswith("/jobs"):
            self.failing = True  # the first wait for this run's Jobs: all of them were created
            self._check()
        return super().get(path, **query)

    def delete(self, path, **query):
        self._check()
        return super().delete(path, **query)

    def create(self, path, body):
        self._check()
        return super().create(path, body)


@pytest.mark.parametrize("error", [
    ApiStatusError("GET", "/apis/batch/v1/jobs", 503, "ServiceUnavailable", "etcd is sad"),
    ClusterError("context c1: https://fake:6443: cannot connect: connection refused"),
], ids=["http-503", "connection-refused"])
def test_an_api_failing_mid_run_is_one_line_naming_what_is_left(error):
    api = FailsAfterJobs(error)
    with pytest.raises(ClusterError) as err:
        run_probes(api=api, inventory=Inventory(resources=tuple(cluster())),
                   options=ProbeOptions(timeout=5, poll_interval=0.05), run_id="feedc0de")
    message = str(err.value)
    assert "\n" not in message
    first = "context c1: probe run stopped: GET /apis/batch/v1/jobs: HTTP 503" if isinstance(error, ApiStatusError) \
        else "context c1: https://fake:6443: cannot connect: connection refused"
    assert message.startswith(first), message
    assert message.endswith(f"what is left is labelled {RUN_ID}=feedc0de and the next --probe run removes it")
    assert "clean-up incomplete: " in message
    jobs = [k for k in api.objects if k[0] == "jobs"]
    assert jobs  # really left: the API refused the clean-up too

    # the API is back: the next run removes them before its own probes
    api.failing, api.error = False, None
    api.get = FakeApi.get.__get__(api)
    run = run_probes(api=api, inventory=Inventory(resources=tuple(cluster())),
                     options=ProbeOptions(timeout=0.1, poll_interval=0.05))
    assert {w.split(" ", 1)[0] for w in run.leftovers_removed} >= {"Job", "ServiceAccount"}
    assert run.cleanup_errors == [] and api.objects == {}


def test_a_clean_up_that_fails_after_a_finished_run_is_reported_in_coverage():
    class DeleteForbidden(FakeApi):
        def delete(self, path, **query):
            if "/jobs/" in path:
                raise ApiStatusError("DELETE", path, 403, "Forbidden", "jobs is forbidden")
            return super().delete(path, **query)

    api = DeleteForbidden(lambda job: ("pending", None))
    inventory = Inventory(resources=tuple(cluster()))
    run = run_probes(api=api, inventory=inventory, options=ProbeOptions(timeout=0.1, poll_interval=0.05),
                     run_id="0badcafe")
    assert run.cleanup_errors
    skipped = run.join(inventory).skipped
    [note] = [s for s in skipped if s.source == "probe clean-up"]
    assert note.reason.startswith("clean-up incomplete: Job ") and "Forbidden" in note.reason
    assert note.reason.endswith(f"labelled {RUN_ID}=0badcafe and the next --probe run removes it")
    assert "\n" not in note.one_line()
