"""Retry policy for API calls: bounded tries, exponential backoff with jitter, Retry-After.

Pure: no I/O, no sleeping, so the policy is unit-tested without a server.
"""
from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    tries: int = 5  # attempts in all, the first one included
    base: float = 0.25  # seconds before the first retry (before jitter)
    cap: float = 8.0  # never back off longer than this
    max_retry_after: float = 30.0  # a server asking for longer is obeyed only up to this
    jitter: float = 0.5  # delay is scaled by a uniform factor in [1 - jitter, 1]
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.tries < 1:
            raise ValueError("tries must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def retryable(self, status: int) -> bool:
        """429 Too Many Requests and 5xx (but not 501 Not Implemented, which never changes)."""
        return status in RETRY_STATUSES or (500 <= status <= 599 and status != 501)

    def delay(self, attempt: int, retry_after: str | None = None, now: float | None = None) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1-based), or None when the
        tries are used up. A Retry-After header (seconds or an HTTP date) wins over backoff,
        bounded by `max_retry_after`."""
        if attempt >= self.tries:
            return None
        asked = parse_retry_after(retry_after, now)
        if asked is not None:
            return min(asked, self.max_retry_after)
        backoff = min(self.cap, self.base * 2 ** (attempt - 1))
        return backoff * (1 - self.jitter * self.rng.random())


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: an integer, or an HTTP date; None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # nan
        return None
    return max(0.0, seconds)
