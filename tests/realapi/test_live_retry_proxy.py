"""429 and 5xx are retried with backoff, honouring Retry-After, a bounded number of times:
exercised through a fault-injecting HTTP proxy on 127.0.0.1 in front of the real apiserver."""
from __future__ import annotations

import base64
import http.client
import json
import ssl
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from auditor.live.cluster import load_cluster
from auditor.live.errors import ClusterError
from auditor.live.retry import RetryPolicy

pytestmark = pytest.mark.apiserver


class FaultProxy:
    """Plain HTTP on 127.0.0.1 -> HTTPS to the apiserver as admin. `faults[path]` is a list of
    (status, Retry-After or None) answered instead of forwarding, one per request, in order;
    `always[path]` is answered to every request for that path."""

    def __init__(self, apiserver) -> None:
        admin = json.loads(Path(apiserver.kubeconfig).read_text())["users"][0]["user"]
        self._dir = tempfile.TemporaryDirectory(prefix="fault-proxy-")
        cert, key = Path(self._dir.name, "c.pem"), Path(self._dir.name, "k.pem")
        cert.write_bytes(base64.b64decode(admin["client-certificate-data"]))
        key.write_bytes(base64.b64decode(admin["client-key-data"]))
        self.ctx = ssl.create_default_context(cafile=apiserver.ca_file)
        self.ctx.load_cert_chain(str(cert), str(key))
        up = urlsplit(apiserver.url)
        self.upstream = (up.hostname, up.port)
        self.faults: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
        self.always: dict[str, int] = {}
        self.seen: list[tuple[float, str, str, int]] = []  # (time, method, path, status answered)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _any(self):
                proxy.handle(self)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self._dir.cleanup()

    def kubeconfig(self, directory: Path) -> str:
        path = directory / "proxy.json"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "proxy",
            "clusters": [{"name": "proxy", "cluster": {"server": self.url}}],
            "users": [{"name": "proxy", "user": {}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
        }))
        return str(path)

    def count(self, method: str, path: str) -> int:
        return sum(1 for _, m, p, _ in self.seen if (m, p) == (method, path))

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        with self.lock:
            fault = self.faults[path].pop(0) if self.faults[path] else None
            if fault is None and path in self.always:
                fault = (self.always[path], None)
        if fault is not None:
            status, retry_after = fault
            payload = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "message": f"injected {status}", "reason": "Injected", "code": status}).encode()
            h.send_response(status)
            if retry_after is not None:
                h.send_header("Retry-After", retry_after)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        else:
            conn = http.client.HTTPSConnection(*self.upstream, context=self.ctx, timeout=30)
            headers = {k: v for k, v in h.headers.items() if k.lower() in ("content-type", "accept")}
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            conn.close()
            status = resp.status
            h.send_response(status)
            h.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        with self.lock:
            self.seen.append((time.monotonic(), h.command, path, status))


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
