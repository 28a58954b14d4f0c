"""`serve-metrics` against hostile clients on a real 127.0.0.1 socket: a client trickling its
request a byte at a time, requests with headers of every size, and request targets that try
to reach /metrics by another spelling or something else by /metrics."""
from __future__ import annotations

import select
import socket
import threading

import pytest
import test_incluster_metrics_server

from auditor.incluster.metrics_server import MAX_REQUEST_BYTES, CachedMetrics

RUN = "isolation_audit_objects 42\n"
serve = test_incluster_metrics_server.serve  # the fixture: a server on 127.0.0.1, shut down after the test


def metrics() -> CachedMetrics:
    return CachedMetrics(lambda: RUN)


def closed_by_server(sock: socket.socket) -> bool:
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True


def test_a_client_trickling_its_request_is_cut_at_its_deadline_however_often_it_sends(serve):
    port = serve(metrics(), client_timeout=0.5)
    trickle = b"GET /healthz HTTP/1.0\r\nX-Slow: " + b"a" * 600
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for byte in trickle:  # every 50 ms: well inside the per-read timeout, 30 s in all: 60 deadlines
            if closed_by_server(sock):
                break
            try:
                sock.sendall(bytes([byte]))
            except ConnectionError:
                break
            threading.Event().wait(0.05)
        else:
            raise AssertionError("the trickling client kept its connection for the whole request")


def answer(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(request)
        except ConnectionError:  # the server answered and closed before reading it all
            pass
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except ConnectionError:
            pass
        return out


@pytest.mark.parametrize("header_bytes", [0, 1_000, MAX_REQUEST_BYTES // 2, MAX_REQUEST_BYTES,
                                          4 * MAX_REQUEST_BYTES, 99 * 1000])
def test_a_request_is_answered_only_within_the_request_bound(serve, header_bytes):
    port = serve(metrics())
    # headers of up to 1000 bytes each: below http.server's own limits of line length and count
    headers = b"".join(b"X-Pad: " + b"p" * 990 + b"\r\n" for _ in range(header_bytes // 1000))
    request = b"GET /metrics HTTP/1.0\r\n" + headers + b"\r\n"
    status = answer(port, request).split(b"\r\n", 1)[0]
    if len(request) <= MAX_REQUEST_BYTES:
        assert status == b"HTTP/1.0 200 OK"
    else:
        assert status.startswith(b"HTTP/1.0 431 ")


@pytest.mark.parametrize(("target", "status"), [
    # http.server folds leading slashes (//metrics is /metrics); nothing else is normalised
    (b"/metrics", 200), (b"/metrics?x=1", 200), (b"/metrics/", 404), (b"//metrics", 200),
    (b"/metrics/../healthz", 404), (b"/x/../metrics", 404), (b"/%6detrics", 404), (b"http://h/metrics", 404),
    (b"*", 404), (b"/metrics#f", 404),
])
def test_only_the_exact_path_is_the_metrics(serve, target, status):
    port = serve(metrics())
    first = answer(port, b"GET " + target + b" HTTP/1.0\r\n\r\n").split(b"\r\n", 1)[0]
    assert first.split(b" ")[1] == str(status).encode()


def test_pipelined_requests_get_one_answer_and_the_connection_closes(serve):
    port = serve(metrics())
    out = answer(port, b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n" * 3)
    assert out.count(b"HTTP/1.0 200 OK") == 1 and out.endswith(RUN.encode() + b"# HELP isolation_audit_state_available"
                                                              b" 1 when the state ConfigMap held a run's metrics.\n"
                                                              b"# TYPE isolation_audit_state_available gauge\n"
                                                              b"isolation_audit_state_available 1\n")
