"""`serve-metrics` over a real 127.0.0.1 socket, with a fake ConfigMap source and a fake clock."""
from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from auditor.incluster.metrics_server import CACHE_SECONDS, CachedMetrics, configmap_source, make_server
from auditor.incluster.state import MAX_DATA_BYTES, Location, StateError
from auditor.live.errors import ApiStatusError

RUN = "# HELP isolation_audit_objects Objects read.\n# TYPE isolation_audit_objects gauge\nisolation_audit_objects 42\n"


class Source:
    """Counts reads; answers what `answer` says (text, None, or an exception to raise)."""

    def __init__(self, answer) -> None:
        self.answer, self.reads = answer, 0

    def __call__(self):
        self.reads += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def serve() -> Iterator:
    servers = []

    def start(metrics: CachedMetrics, **bounds) -> int:
        server = make_server("127.0.0.1", 0, metrics, **bounds)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read().decode()
    finally:
        conn.close()


def samples(text: str) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_metrics_are_the_state_plus_availability_and_reads_are_cached(serve):
    source, clock = Source(RUN), Clock()
    port = serve(CachedMetrics(source, clock=clock))
    status, content_type, body = get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert samples(body) == {"isolation_audit_objects": 42.0, "isolation_audit_state_available": 1.0}
    for _ in range(5):
        get(port, "/metrics")
    clock.now += CACHE_SECONDS - 0.5
    get(port, "/metrics")
    assert source.reads == 1  # scraped seven times within the cache time: read once
    clock.now += 1.0
    get(port, "/metrics")
    assert source.reads == 2


@pytest.mark.parametrize("answer", [None, StateError("configmap a/b: cannot read: HTTP 403 Forbidden")])
def test_no_state_or_an_unreadable_one_is_available_0_and_the_failure_is_cached_too(serve, answer):
    source, clock = Source(answer), Clock()
    port = serve(CachedMetrics(source, clock=clock))
    for _ in range(3):
        status, _, body = get(port, "/metrics")
        assert status == 200 and samples(body) == {"isolation_audit_state_available": 0.0}
    assert source.reads == 1


def test_health_other_paths_and_other_methods(serve):
    source = Source(RUN)
    port = serve(CachedMetrics(source, clock=Clock()))
    assert get(port, "/healthz")[:1] == (200,)
    assert get(port, "/metrics?x=1")[0] == 200
    for path in ("/", "/metrics/", "/../etc/passwd", "/healthz/x"):
        assert get(port, path)[0] == 404
    for method in ("POST", "PUT", "DELETE", "HEAD"):
        assert get(port, "/metrics", method)[0] == 501
    assert source.reads == 1  # only the one GET /metrics read it


def test_idle_connections_beyond_the_bound_are_closed_and_the_slots_come_back(serve):
    # a long client timeout: the idle sockets hold their slots for the whole test
    port = serve(CachedMetrics(Source(RUN), clock=Clock()), client_timeout=600.0, connections=3)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", port)) as extra:
            extra.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            extra.settimeout(30)
            try:
                answer = extra.recv(100)
            except ConnectionResetError:
                answer = b""
            assert answer == b""  # closed unanswered
    finally:
        for sock in idle:
            sock.close()
    # the idle connections' threads see their sockets close and give the slots back
    for _ in range(600):
        try:
            if get(port, "/healthz")[0] == 200:
                break
        except (ConnectionError, http.client.HTTPException):
            threading.Event().wait(0.05)
    else:
        raise AssertionError("the slots never came back")


class FakeApi:
    def __init__(self, answer) -> None:
        self.answer, self.paths = answer, []

    def get(self, path: str):
        self.paths.append(path)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_configmap_source_reads_one_configmap_by_name_and_bounds_it():
    where = Location("audit", "state")
    api = FakeApi({"data": {"metrics": RUN}})
    assert configmap_source(api, where)() == RUN
    assert api.paths == ["/api/v1/namespaces/audit/configmaps/state"]  # a GET by name: no list
    assert configmap_source(FakeApi(ApiStatusError("GET", "/x", 404, "NotFound", "")), where)() is None
    for data in ({"metrics": 5}, {"metrics": "#" * (MAX_DATA_BYTES + 1)}, {}):
        with pytest.raises(StateError) as err:
            configmap_source(FakeApi({"data": data}), where)()
        assert "###" not in str(err.value)


def test_serve_metrics_without_credentials_or_a_port_is_one_line_and_exit_2(tmp_path, capsys):
    from auditor.cli import main

    assert main(["serve-metrics", "--kubeconfig", str(tmp_path / "absent")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve-metrics", "--kubeconfig", str(kubeconfig), "--address", "127.0.0.1",
                     "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == f"k8s-isolation-audit: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
