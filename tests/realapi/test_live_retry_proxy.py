"""429 and 5xx are retried with backoff, honouring Retry-After, a bounded number of times:
exercised through a fault-injecting HTTP proxy on 127.0.0.1 in front of the real apiserver."""
from __future__ import annotations

import time

import pytest
from harness.fault_proxy import FaultProxy

from auditor.live.cluster import load_cluster
from auditor.live.errors import ClusterError
from auditor.live.retry import RetryPolicy

pytestmark = pytest.mark.apiserver


@pytest.fixture
def proxy(apiserver):
    with FaultProxy(apiserver) as p:
        yield p


def test_429_and_503_are_retried_honouring_retry_after(apiserver, proxy, tmp_path):
    proxy.faults["/api/v1/pods"] = [(429, "1"), (429, "1")]
    proxy.faults["/api/v1/namespaces"] = [(503, None)]
    proxy.faults["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"] = [(500, "0")]

    start = time.monotonic()
    inventory = load_cluster(proxy.kubeconfig(tmp_path))
    elapsed = time.monotonic() - start
    direct = load_cluster(apiserver.kubeconfig)

    assert inventory.skipped == ()
    assert sorted(r.key for r in inventory.resources) == sorted(r.key for r in direct.resources)
    pods = [(t, s) for t, m, p, s in proxy.seen if (m, p) == ("GET", "/api/v1/pods")]
    assert [s for _, s in pods][:3] == [429, 429, 200]
    # Retry-After: 1 was obeyed between the attempts
    assert pods[1][0] - pods[0][0] >= 0.9 and pods[2][0] - pods[1][0] >= 0.9
    assert elapsed >= 1.8
    assert [s for t, m, p, s in proxy.seen if (m, p) == ("GET", "/api/v1/namespaces")][:2] == [503, 200]


def test_retries_are_bounded_and_a_kind_that_keeps_failing_is_skipped(proxy, tmp_path):
    proxy.always["/apis/apps/v1/deployments"] = 500
    policy = RetryPolicy(tries=3, base=0.05, cap=0.1)
    inventory = load_cluster(proxy.kubeconfig(tmp_path), policy=policy)
    assert proxy.count("GET", "/apis/apps/v1/deployments") == 3
    assert [s.one_line() for s in inventory.skipped] == [
        "cluster proxy: deployments: cannot list: HTTP 500 Injected: injected 500"]
    assert any(r.kind == "Namespace" for r in inventory.resources)


def test_a_server_that_keeps_answering_503_is_a_one_line_error(proxy, tmp_path):
    proxy.always["/apis/authentication.k8s.io/v1/selfsubjectreviews"] = 503
    with pytest.raises(ClusterError) as err:
        load_cluster(proxy.kubeconfig(tmp_path), policy=RetryPolicy(tries=4, base=0.01, cap=0.02))
    assert proxy.count("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews") == 4
    assert str(err.value) == (f"context proxy: {proxy.url}: POST /apis/authentication.k8s.io/v1/selfsubjectreviews: "
                              "HTTP 503 Injected: injected 503")


def test_a_long_retry_after_is_capped(proxy, tmp_path):
    proxy.faults["/api/v1/nodes"] = [(429, "3600")]
    start = time.monotonic()
    inventory = load_cluster(proxy.kubeconfig(tmp_path), policy=RetryPolicy(max_retry_after=0.3))
    assert time.monotonic() - start < 10
    assert inventory.skipped == ()
    assert [s for _, m, p, s in proxy.seen if (m, p) == ("GET", "/api/v1/nodes")] == [429, 200]
