"""SIGTERM handled like Ctrl-C: a batch scheduler's or ``kill``'s polite stop keeps the finished
runs, writes nothing half, and ends the command with exit code 130. Imports nothing heavy, so
a command installs it first thing. ``interrupts_deferred`` holds SIGTERM and Ctrl-C back while
something that cannot be cut in the middle is built (a Dask cluster), and raises afterwards."""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator, NoReturn


#: Delay before a swallowed signal is sent again (s): long enough for the hook to have returned.
REDELIVER_AFTER_S = 0.05


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM inside ``sigterm_interrupts``."""


def _raise_interrupted(signum: int, frame: Any) -> None:  # pragma: no cover - signal path
    raise Interrupted()


def _redeliver_swallowed(hook: Any) -> Any:
    """An unraisable hook that re-sends a signal whose exception was swallowed.

    A signal handler runs between any two bytecodes of the main thread, also inside a weakref
    callback or a ``__del__``, where Python prints the exception ("Exception ignored in ...") and
    drops it: the stop would be lost. Sending the signal again, from another thread so that it
    arrives after the hook has returned, lets the handler run outside that callback."""
    def unraisable(u: Any) -> None:
        if isinstance(u.exc_value, KeyboardInterrupt):
            sig = signal.SIGTERM if isinstance(u.exc_value, Interrupted) else signal.SIGINT
            threading.Timer(REDELIVER_AFTER_S, os.kill, (os.getpid(), sig)).start()
            return
        hook(u)
    return unraisable


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Interrupted`` (in the main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupted)
    old_hook, sys.unraisablehook = sys.unraisablehook, _redeliver_swallowed(sys.unraisablehook)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
        sys.unraisablehook = old_hook


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


def exit_now(code: int) -> NoReturn:
    """Flush stdout and stderr and end the process with ``code``, skipping the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, RuntimeError, ValueError):  # closed, or a write in progress (in a signal handler)
            pass
    os._exit(code)


def exit_on_sigterm(code: int) -> None:
    """From now on SIGTERM ends the process at once with ``code``: for the teardown after a
    command has finished, when there is nothing left to clean up or keep."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: exit_now(code))
