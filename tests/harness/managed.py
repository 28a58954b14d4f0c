"""One start/stop context manager for every harness that builds something it must tear down."""
from __future__ import annotations

from typing import Self


class Managed:
    """A context manager over start() and stop(): a start that fails half-way still stops what
    it started, and leaving the block always stops."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
