"""Progress of a probe run, for a progress bar: a callback that can never break the run."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressUpdate:
    phase: str  # leftovers | create | wait | cleanup | done
    done: int
    total: int
    message: str = ""


Progress = Callable[[ProgressUpdate], None]


def notifier(progress: Progress | None) -> Progress:
    if progress is None:
        return lambda update: None

    def notify(update: ProgressUpdate) -> None:
        try:
            progress(update)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception:  # a broken progress bar never breaks a run (or its clean-up)
            pass

    return notify
