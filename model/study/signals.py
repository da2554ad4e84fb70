"""SIGTERM handled like Ctrl-C: a batch scheduler's or ``kill``'s polite stop keeps the finished
runs, writes nothing half, and ends the command with exit code 130. Imports nothing heavy, so
a command installs it first thing. ``interrupts_deferred`` holds SIGTERM and Ctrl-C back while
something that cannot be cut in the middle is built (a Dask cluster), and raises afterwards."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM inside ``sigterm_interrupts``."""


def _raise_interrupted(signum: int, frame: Any) -> None:  # pragma: no cover - signal path
    raise Interrupted()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Interrupted`` (in the main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextmanager
def interrupts_deferred() -> Iterator[list[int]]:
    """Within the block SIGTERM and SIGINT are only noted (in the list yielded); the caller
    checks the list afterwards, cleans up and raises ``Interrupted``. Outside the main thread
    nothing is deferred (signals are handled there only)."""
    hit: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield hit
        return
    old = {s: signal.signal(s, lambda signum, frame: hit.append(signum)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield hit
    finally:
        for s, h in old.items():
            signal.signal(s, h)
