"""SIGTERM and Ctrl-C around a probe run: both unwind the run so its clean-up runs, and
neither cuts the clean-up short."""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable


class Terminated(KeyboardInterrupt):
    """SIGTERM during a probe run: unwinds like Ctrl-C, so clean-up runs."""


def trap_sigterm() -> Callable[[], None]:
    """SIGTERM unwinds like Ctrl-C (so `finally` cleans up); returns the restorer."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_term(_signum, _frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except (ValueError, OSError):
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def without_signals(action: Callable[[], None]) -> None:
    """Run clean-up without letting Ctrl-C or SIGTERM cut it short; a signal that arrives
    meanwhile is delivered (raised) once clean-up is done."""
    if threading.current_thread() is not threading.main_thread():
        action()
        return
    saved = {}
    arrived: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            saved[sig] = signal.signal(sig, lambda s, f: arrived.append(s))
        except (ValueError, OSError):
            pass
    try:
        action()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if arrived:
        raise Terminated() if arrived[0] == signal.SIGTERM else KeyboardInterrupt()
