"""Raw JSON calls to the API server: the client library's transport and credentials, none of
its model classes (`call_api` returns the undecoded body; orjson parses it).

Every call has a timeout; 429 and 5xx answers are retried with exponential backoff,
honouring Retry-After, a bounded number of times. Connection, TLS and credential failures
become a one-line `ClusterError`.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from .errors import ApiStatusError, ClusterError
from .retry import RetryPolicy

IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})


class Api:
    """One context's API server. Thread-safe: the connection pool is shared."""

    def __init__(self, context: str, client: Any, *, timeout: float = 30.0,
                 policy: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.context = context
        self.client = client  # kubernetes.client.ApiClient
        self.server = str(client.configuration.host)
        self.timeout = float(timeout)
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.calls: Counter[tuple[str, str]] = Counter()  # (method, path) -> attempts, for tests and stats
        self.retries = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a pool never fails a scan
            pass

    # -- calls --

    def request(self, method: str, path: str, query: Sequence[tuple[str, Any]] = (),
                body: Any = None, accept: str = "application/json") -> bytes:
        """The body of a 2xx answer; raises ApiStatusError for other answers (after retries)."""
        attempt = 0
        while True:
            attempt += 1
            status, headers, data = self._once(method, path, query, body, attempt, accept)
            if 200 <= status <= 299:
                return data
            if self.policy.retryable(status):
                wait = self.policy.delay(attempt, headers.get("Retry-After"))
                if wait is not None:
                    with self._lock:
                        self.retries += 1
                    self.sleep(wait)
                    continue
            reason, message = _status_of(data, status)
            if status == 401:
                raise ClusterError(f"context {self.context}: {self.server} rejected the credentials "
                                   f"(401 Unauthorized: expired or invalid): {message}")
            raise ApiStatusError(method, path, status, reason, message)

    def json(self, method: str, path: str, query: Sequence[tuple[str, Any]] = (), body: Any = None) -> Any:
        data = self.request(method, path, query, body)
        try:
            return orjson.loads(data) if data else None
        except orjson.JSONDecodeError as exc:
            raise ClusterError(f"context {self.context}: {method} {path}: the server's answer is not JSON "
                               f"({exc.msg})") from None

    def get(self, path: str, **query: Any) -> Any:
        return self.json("GET", path, [(k, v) for k, v in query.items() if v is not None])

    def create(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.json("POST", path, (), body)

    def delete(self, path: str, **query: Any) -> Any:
        return self.json("DELETE", path, [(k, v) for k, v in query.items() if v is not None])

    def list_items(self, path: str, page_size: int, *, each_page: Callable[[list], list] | None = None,
                   **query: Any) -> list[dict]:
        """Every item of a list call, page by page (`limit` + `continue`). A continue token
        that expired (410 Gone) restarts the list from the beginning, at most twice.

        `each_page` is given each page's items as they arrive and returns what to keep of
        them: a long list is then held in its kept form, never whole as the server sent it."""
        if page_size < 1:
            raise ValueError("page size must be at least 1")
        items: list[dict] = []
        restarts = 0
        token: str | None = None
        while True:
            params = [(k, v) for k, v in query.items() if v is not None]
            params.append(("limit", page_size))
            if token:
                params.append(("continue", token))
            try:
                page = self.json("GET", path, params)
            except ApiStatusError as exc:
                if exc.status == 410 and token and restarts < 2:
                    restarts, token, items = restarts + 1, None, []
                    continue
                raise
            if not isinstance(page, dict) or not isinstance(page.get("items", []), list):
                raise ClusterError(f"context {self.context}: GET {path}: not a list answer")
            got = page.get("items") or []
            items.extend(each_page(got) if each_page is not None else got)
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return items

    # -- one attempt --

    def _once(self, method: str, path: str, query: Sequence[tuple[str, Any]], body: Any,
              attempt: int, accept: str = "application/json") -> tuple[int, Mapping[str, str], bytes]:
        import urllib3.exceptions as u3

        with self._lock:
            self.calls[(method, path)] += 1
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = self.server + _quote_path(path)
        if query:
            url += "?" + "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in query)
        try:
            # param_serialize adds the credentials (bearer token, refreshed exec/OIDC tokens);
            # the URL is built here so paging tokens are never re-encoded by the library.
            _, _, hdrs, ser_body, post = self.client.param_serialize(
                method, "", header_params=headers, body=body, auth_settings=["BearerToken"])
            resp = self.client.call_api(method, url, header_params=hdrs, body=ser_body, post_params=post,
                                        _request_timeout=(min(self.timeout, 15.0), self.timeout))
            try:
                data = resp.read()
            finally:
                resp.response.release_conn()
            return resp.status, resp.headers, data or b""
        except u3.MaxRetryError as exc:
            # urllib3 (retries disabled) wraps a read timeout or a dropped connection of an
            # idempotent request in MaxRetryError; only connection errors are "cannot connect"
            if isinstance(exc.reason, (u3.ReadTimeoutError, u3.ProtocolError)):
                return self._no_answer(method, path, query, body, attempt, accept, exc.reason)
            raise ClusterError(_connection_problem(self.context, self.server, exc.reason)) from None
        except (u3.ReadTimeoutError, u3.ProtocolError) as exc:
            return self._no_answer(method, path, query, body, attempt, accept, exc)
        except u3.HTTPError as exc:
            raise ClusterError(_connection_problem(self.context, self.server, exc)) from None
        except Exception as exc:
            from kubernetes.client.exceptions import ApiException, ApiValueError

            if isinstance(exc, ApiException) and exc.status == 0:  # the library's wrapping of TLS errors
                raise ClusterError(f"context {self.context}: TLS error talking to {self.server}: "
                                   f"{_first_line(exc.reason or exc)}") from None
            if isinstance(exc, ApiValueError):
                raise ClusterError(f"context {self.context}: {_first_line(exc)}") from None
            raise

    def _no_answer(self, method: str, path: str, query: Sequence[tuple[str, Any]], body: Any, attempt: int,
                   accept: str, exc: Exception) -> tuple[int, Mapping[str, str], bytes]:
        """A request sent but not answered: retried with backoff when idempotent (a POST may
        have happened, so it is not repeated), else a one-line ClusterError."""
        import urllib3.exceptions as u3

        if method in IDEMPOTENT:
            wait = self.policy.delay(attempt)
            if wait is not None:
                with self._lock:
                    self.retries += 1
                self.sleep(wait)
                return self._once(method, path, query, body, attempt + 1, accept)
        what = (f"no answer within {self.timeout:g}s" if isinstance(exc, u3.ReadTimeoutError)
                else f"connection broken ({_first_line(exc)})")
        raise ClusterError(f"context {self.context}: {self.server}: {method} {path}: {what}") from None


def _quote_path(path: str) -> str:
    return quote(path, safe="/:@")


def _status_of(data: bytes, status: int) -> tuple[str, str]:
    """(reason, message) from a Status body, or the raw text."""
    try:
        doc = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return str(doc.get("reason") or status), str(doc.get("message") or "")
    text = data.decode("utf-8", "replace").strip()
    return str(status), text.splitlines()[0][:300] if text else f"HTTP {status}"


def _connection_problem(context: str, server: str, reason: BaseException | None) -> str:
    import urllib3.exceptions as u3

    text = _first_line(reason) if reason is not None else "unknown error"
    if isinstance(reason, u3.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return f"context {context}: TLS error talking to {server}: {_tls_detail(text)}"
    if "refused" in text.lower():
        return f"context {context}: cannot connect to {server}: connection refused"
    if isinstance(reason, u3.NameResolutionError) or "Name or service not known" in text:
        return f"context {context}: cannot resolve the host of {server}"
    # NewConnectionError subclasses ConnectTimeoutError: only a real timeout says "timed out"
    if isinstance(reason, u3.ConnectTimeoutError) and "timed out" in text.lower():
        return f"context {context}: timed out connecting to {server}"
    if isinstance(reason, u3.NewConnectionError):
        detail = text.split("]", 1)[-1].strip() if "]" in text else text
        return f"context {context}: cannot connect to {server}: {detail}"
    if isinstance(reason, u3.ProxyError):
        return f"context {context}: proxy error reaching {server}: {text}"
    return f"context {context}: cannot connect to {server}: {text}"


def _tls_detail(text: str) -> str:
    for marker in ("certificate verify failed", "CERTIFICATE_VERIFY_FAILED", "hostname mismatch",
                   "wrong version number", "tlsv1 alert", "sslv3 alert", "unknown ca"):
        at = text.find(marker)
        if at >= 0:
            end = text.find("(_ssl", at)
            return text[at:end if end > 0 else at + 160].rstrip(" (")
    return text[:200]


def _first_line(exc: Any) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(config: Any, context: str, *, timeout: float = 30.0, policy: RetryPolicy | None = None,
            sleep: Callable[[float], None] = time.sleep) -> Api:
    """An Api for `context` of the loaded kubeconfig (see kubeconfig.load_kubeconfig)."""
    from kubernetes.client import ApiClient

    from .kubeconfig import client_configuration

    cfg = client_configuration(config, context)
    client = ApiClient(cfg)
    client.user_agent = "k8s-isolation-audit"
    return Api(context, client, timeout=timeout, policy=policy, sleep=sleep)


def connect_one(kubeconfig: str | None, context: str | None, timeout: float,
                environ: Mapping[str, str] | None = None) -> Api:
    """An Api for one context (the current one unless named), for the commands that write:
    a publish or a probe run acts on exactly one cluster."""
    from .kubeconfig import load_kubeconfig, select_contexts

    config = load_kubeconfig(kubeconfig, environ)
    name = select_contexts(config, [context] if context else None, False)[0]
    return connect(config, name, timeout=timeout)
