"""The retry policy (pure) and the transport's retry loop, with a fake client: no server."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from auditor.live.errors import ApiStatusError, ClusterError
from auditor.live.retry import RetryPolicy, parse_retry_after
from auditor.live.transport import Api


def test_backoff_doubles_up_to_the_cap_and_stops_after_the_tries():
    policy = RetryPolicy(tries=6, base=0.5, cap=3.0, jitter=0)
    assert [policy.delay(a) for a in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, None]
    assert RetryPolicy(tries=1).delay(1) is None


def test_jitter_only_shortens_the_delay():
    policy = RetryPolicy(tries=10, base=1.0, cap=100, jitter=0.5, rng=random.Random(7))
    for attempt in range(1, 8):
        full = min(100, 2 ** (attempt - 1))
        assert full * 0.5 <= policy.delay(attempt) <= full


def test_retry_after_wins_over_backoff_and_is_capped():
    policy = RetryPolicy(tries=3, base=0.1, jitter=0, max_retry_after=30)
    assert policy.delay(1, "7") == 7
    assert policy.delay(1, "3600") == 30
    assert policy.delay(1, "0") == 0
    assert policy.delay(1, "soon") == 0.1  # unparsable: ordinary backoff
    assert policy.delay(3, "1") is None  # tries used up, whatever the server asks


def test_retry_after_parses_seconds_and_http_dates():
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 2 ") == 2
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now.timestamp()) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now.timestamp()) == 0
    assert parse_retry_after("-5") == 0
    for bad in (None, "", "nan", "later", "Mon, 99 Foo"):
        assert parse_retry_after(bad) is None


@pytest.mark.parametrize("status,retry", [(429, True), (500, True), (502, True), (503, True), (504, True),
                                          (599, True), (501, False), (400, False), (403, False), (404, False),
                                          (409, False), (410, False)])
def test_which_statuses_are_retried(status, retry):
    assert RetryPolicy().retryable(status) is retry


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(tries=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)


# --- the transport's loop, with a fake kubernetes.client.ApiClient ---------------------------------

class _Raw:
    def release_conn(self):
        pass


class _Resp:
    def __init__(self, status, body=b"{}", headers=None):
        self.status, self._body, self.headers, self.response = status, body, headers or {}, _Raw()

    def read(self):
        return self._body


class FakeClient:
    class configuration:
        host = "https://fake:6443"

    def __init__(self, answers):
        self.answers = list(answers)
        self.urls = []

    def param_serialize(self, method, path, header_params=None, body=None, auth_settings=None):
        return method, path, dict(header_params or {}), body, None

    def call_api(self, method, url, header_params=None, body=None, post_params=None, _request_timeout=None):
        self.urls.append((method, url))
        return self.answers.pop(0)

    def close(self):
        pass


def status_body(code, reason, message):
    import json

    return json.dumps({"kind": "Status", "code": code, "reason": reason, "message": message}).encode()


def test_transport_retries_429_and_5xx_and_sleeps_as_told():
    slept = []
    client = FakeClient([_Resp(429, b"", {"Retry-After": "2"}), _Resp(503), _Resp(200, b'{"items": []}')])
    api = Api("ctx", client, policy=RetryPolicy(tries=5, base=0.25, jitter=0), sleep=slept.append)
    assert api.get("/api/v1/pods", limit=5) == {"items": []}
    assert slept == [2.0, 0.5] and api.retries == 2
    assert client.urls == [("GET", "https://fake:6443/api/v1/pods?limit=5")] * 3
    assert api.calls[("GET", "/api/v1/pods")] == 3


def test_transport_gives_up_after_the_tries():
    slept = []
    client = FakeClient([_Resp(500, status_body(500, "InternalError", "etcd is sad"))] * 3)
    api = Api("ctx", client, policy=RetryPolicy(tries=3, base=0.1, jitter=0), sleep=slept.append)
    with pytest.raises(ApiStatusError) as err:
        api.get("/api/v1/nodes")
    assert (err.value.status, err.value.reason, err.value.message) == (500, "InternalError", "etcd is sad")
    assert slept == [0.1, 0.2] and len(client.urls) == 3


def test_transport_never_retries_client_errors_and_maps_401_to_a_cluster_error():
    api = Api("prod", FakeClient([_Resp(403, status_body(403, "Forbidden", 'pods is forbidden: User "x"'))]),
              sleep=lambda s: pytest.fail("no sleep"))
    with pytest.raises(ApiStatusError) as err:
        api.get("/api/v1/pods")
    assert err.value.status == 403
    api = Api("prod", FakeClient([_Resp(401, status_body(401, "Unauthorized", "Unauthorized"))]),
              sleep=lambda s: pytest.fail("no sleep"))
    with pytest.raises(ClusterError, match=r"^context prod: https://fake:6443 rejected the credentials "
                                           r"\(401 Unauthorized: expired or invalid\): Unauthorized$"):
        api.get("/api/v1/pods")


def test_list_items_follows_continue_tokens_and_restarts_on_410():
    import json

    pages = [
        _Resp(200, json.dumps({"items": [1, 2], "metadata": {"continue": "a b/c"}}).encode()),
        _Resp(410, status_body(410, "Expired", "continue token expired")),
        _Resp(200, json.dumps({"items": [1, 2], "metadata": {"continue": "t2"}}).encode()),
        _Resp(200, json.dumps({"items": [3], "metadata": {"continue": "t3"}}).encode()),
        _Resp(200, json.dumps({"items": [4], "metadata": {}}).encode()),
    ]
    client = FakeClient(pages)
    api = Api("ctx", client, sleep=lambda s: None)
    assert api.list_items("/api/v1/pods", 2) == [1, 2, 3, 4]
    assert client.urls[1] == ("GET", "https://fake:6443/api/v1/pods?limit=2&continue=a%20b%2Fc")
    assert client.urls[2] == ("GET", "https://fake:6443/api/v1/pods?limit=2")
    with pytest.raises(ValueError):
        api.list_items("/api/v1/pods", 0)
