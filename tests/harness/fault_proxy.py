"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the real test apiserver.

Plain HTTP in, HTTPS to the apiserver as admin out. Faults:
- `faults[path]`: (status, Retry-After or None) answered instead of forwarding, one per
  request, in order; `always[path]`: a status answered to every request for that path;
- `broken`: a status answered to *every* request while set (the API "goes down");
- `on_request(method, path, query)`: called first; may flip the switches above, or return a
  `Fault` for this request (a status to answer, or a delay before the forwarded answer);
- `go_away()`: stop listening and drop every open connection (connection refused from then on).
Every request is recorded in `seen` as (time, method, path, status answered).
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # answer this instead of forwarding
    retry_after: str | None = None
    delay: float = 0.0  # forward, then hold the answer back this long (the server did the work)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client that gave up: expected here
        pass


class FaultProxy:
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
        self.broken: int | None = None
        self.on_request: Callable[[str, str, str], Fault | None] | None = None
        self.seen: list[tuple[float, str, str, int]] = []  # (time, method, path, status answered)
        self.lock = threading.Lock()
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._gone = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with proxy.lock:
                    proxy._connections.add(self.connection)

            def finish(self):
                try:
                    super().finish()
                finally:
                    with proxy.lock:
                        proxy._connections.discard(self.connection)

            def log_message(self, *args):  # quiet
                pass

            def _any(self):
                proxy.handle(self)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _any

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._closing.set()  # wakes held-back answers
        self.go_away()
        self.thread.join(timeout=5)
        self._dir.cleanup()

    def go_away(self) -> None:
        """The server disappears: nothing listens on the port, open connections are cut."""
        with self.lock:
            if self._gone:
                return
            self._gone = True
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

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
        path, _, query = h.path.partition("?")
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        fault = self.on_request(h.command, path, query) if self.on_request is not None else None
        with self.lock:
            if fault is None and self.faults[path]:
                status, retry_after = self.faults[path].pop(0)
                fault = Fault(status, retry_after)
            if fault is None and path in self.always:
                fault = Fault(self.always[path])
            if fault is None and self.broken is not None:
                fault = Fault(self.broken)
        fault = fault or Fault()
        if fault.status is not None:
            status = fault.status
            payload = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "message": f"injected {status}", "reason": "Injected", "code": status}).encode()
            headers = {"Content-Type": "application/json"}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
        else:
            conn = http.client.HTTPSConnection(*self.upstream, context=self.ctx, timeout=30)
            forward = {k: v for k, v in h.headers.items() if k.lower() in ("content-type", "accept")}
            conn.request(h.command, h.path, body=body, headers=forward)
            resp = conn.getresponse()
            payload = resp.read()
            conn.close()
            status = resp.status
            headers = {"Content-Type": resp.getheader("Content-Type", "application/json")}
            if fault.delay:
                self._closing.wait(fault.delay)
        with self.lock:
            self.seen.append((time.monotonic(), h.command, path, status))
        try:
            h.send_response(status)
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except OSError:  # the client gave up waiting
            h.close_connection = True
