"""The one error type the live source raises: a one-line reason the CLI prints (exit 2)."""
from __future__ import annotations


class ClusterError(Exception):
    """The cluster could not be read at all: no kubeconfig, unknown context, connection
    refused, TLS failure, rejected credentials. `str(exc)` is one line naming the context."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ApiStatusError(Exception):
    """A non-2xx answer from the API after retries; `reason` is the Status reason
    (Forbidden, NotFound, Gone, ...) and `message` the server's own one-line message."""

    def __init__(self, method: str, path: str, status: int, reason: str, message: str) -> None:
        self.method, self.path, self.status, self.reason = method, path, status, reason
        self.message = " ".join(message.split())
        super().__init__(f"{method} {path}: HTTP {status} {reason}: {self.message}")
