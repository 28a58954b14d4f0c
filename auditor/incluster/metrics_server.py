"""`serve-metrics`: the last run's metrics, read from the state ConfigMap, over HTTP.

GET /metrics and GET /healthz only; every other path is 404, every other method 501 (http.server's answer).
Read-only: one GET of one ConfigMap, at most once per CACHE_SECONDS however often it is
scraped (a failed read is cached too, so a scrape storm never becomes an API storm). Bounded:
at most MAX_CONNECTIONS connections are open at once (more are closed as soon as they are
accepted, so idle sockets cannot pile up threads), every connection is cut CLIENT_TIMEOUT
after it was accepted (a client trickling a byte at a time keeps no slot longer), a request
of more than MAX_REQUEST_BYTES (request line and headers) is refused with 431 unread, and a
body larger than the ConfigMap may hold is not served. Nothing a client sends is logged.
"""
from __future__ import annotations

import io
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..live.errors import ClusterError
from ..reports.prometheus import CONTENT_TYPE, PREFIX
from .state import MAX_DATA_BYTES, METRICS_KEY, Location, StateError, read_configmap

CACHE_SECONDS = 15.0
CLIENT_TIMEOUT = 10.0
MAX_CONNECTIONS = 16
MAX_REQUEST_BYTES = 16 * 1024  # a scrape's request is a few hundred bytes
AVAILABLE = f"{PREFIX}state_available"

Source = Callable[[], str | None]  # the metrics text, None when there is no state yet; raises StateError


def configmap_source(api, where: Location) -> Source:
    def read() -> str | None:
        configmap = read_configmap(api, where)
        if configmap is None:
            return None
        text = (configmap.get("data") or {}).get(METRICS_KEY)
        if not isinstance(text, str) or len(text.encode("utf-8", "surrogatepass")) > MAX_DATA_BYTES:
            raise StateError(f"{where}: {METRICS_KEY} is not text of at most {MAX_DATA_BYTES} bytes")
        return text

    return read


class CachedMetrics:
    """The body of /metrics, read from `source` at most once per `ttl` seconds."""

    def __init__(self, source: Source, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._source, self._ttl, self._clock = source, ttl, clock
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self._read_at = 0.0

    def body(self) -> bytes:
        with self._lock:  # one read at a time: concurrent scrapes share it
            now = self._clock()
            if self._body is None or now - self._read_at >= self._ttl:
                self._body, self._read_at = self._fresh(), now
            return self._body

    def _fresh(self) -> bytes:
        try:
            text = self._source()
        except (StateError, ClusterError):
            text = None
        if text and not text.endswith("\n"):
            text += "\n"
        gauge = (f"# HELP {AVAILABLE} 1 when the state ConfigMap held a run's metrics.\n"
                 f"# TYPE {AVAILABLE} gauge\n{AVAILABLE} {0 if text is None else 1}\n")
        return ((text or "") + gauge).encode("utf-8", "replace")


class _Capped(io.BufferedIOBase):
    """The request's input, of which at most `budget` bytes are read: the server answers GET
    only, so nothing past the headers is ever wanted."""

    def __init__(self, stream: io.BufferedIOBase, budget: int) -> None:
        super().__init__()
        self._stream, self.left = stream, budget

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.readline, size)

    def read(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.read, size)

    def _take(self, read: Callable[[int], bytes], size: int | None) -> bytes:
        if self.left <= 0:
            return b""
        data = read(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self._stream.close()
        super().close()


class _BoundedServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client gone mid-answer, or cut at its deadline
            super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], connections: int) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(connections)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the bound: closed unanswered
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(address: str, port: int, metrics: CachedMetrics, *, client_timeout: float = CLIENT_TIMEOUT,
                connections: int = MAX_CONNECTIONS) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        timeout = client_timeout
        server_version = "k8s-isolation-audit"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            self.capped = _Capped(self.rfile, MAX_REQUEST_BYTES + 1)
            self.rfile = self.capped

        def handle(self) -> None:
            # the socket timeout bounds each read, not the request: a byte every few seconds
            # would hold a slot for ever
            deadline = threading.Timer(client_timeout, self._cut)
            deadline.start()
            try:
                super().handle()
            finally:
                deadline.cancel()

        def _cut(self) -> None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:  # closed already
                pass

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            if self.capped.left <= 0:
                self.send_error(431, "Request too large")
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.body(), CONTENT_TYPE)
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
            pass  # request lines are the client's bytes: not echoed to the terminal

    return _BoundedServer((address, port), Handler, connections)
