"""Giving a closed browser session's memory back.

A session (browser tab) holds a model of about 20 MB. Solara frees it when it closes the session's
kernel: at once when the tab says goodbye, else when the kernel has had no page for the cull timeout
(``serve --session-timeout``, default 2 minutes; Solara's own default is 24 hours).

That alone does not free the model in solara 1.58.2: every ``solara.lab.use_task`` (Mesa's
SolaraViz uses one for Play) makes a ``Singleton`` that registers a kernel-start callback in
``solara.lifecycle`` and never removes it, so a module-level list keeps the task's function, and
through it the session's model, for the life of the server; and every kernel that starts later
runs that callback and keeps the cleanup it returns (which holds the same task) until it closes.
``release_on_close()`` (called by ``Page`` once per session) removes this session's callbacks as
soon as its page has rendered, and again when it closes, together with such cleanups held by other
sessions' kernels (they only reset a task's per-kernel store, for hot reloads, which a production
server does not do); after the close it collects the freed cycles and hands the memory back to
the operating system.
"""

from __future__ import annotations

import ctypes
import gc
import threading

import solara
import solara.lifecycle
import solara.tasks

#: Seconds after a session's close before its memory is collected (the session's render context
#: and widgets are torn down first).
COLLECT_DELAY = 2.0
#: Kernel-start callbacks that existed before the first session (module-level singletons): kept.
_before_sessions: set[int] | None = None
_lock = threading.Lock()


def _task_singleton(f) -> bool:
    """Whether the function ``f`` closes over a ``Singleton`` whose factory is solara.tasks'
    ``create_task`` (which functools.wraps the task's function, so only its code object tells)."""
    for cell in getattr(f, "__closure__", None) or ():
        try:
            factory = getattr(getattr(cell.cell_contents, "_storage", None), "factory", None)
        except ValueError:  # an empty cell
            continue
        code = getattr(factory, "__code__", None)
        if code is not None and code.co_name == "create_task" and code.co_filename == solara.tasks.__file__:
            return True
    return False


def _is_task_reset(entry) -> bool:
    """A kernel-start callback that a task's Singleton registered."""
    return (getattr(entry.callback, "__qualname__", "") == "Singleton.__init__.<locals>.reset"
            and _task_singleton(entry.callback))


def _is_task_cleanup(f) -> bool:
    """A kernel-close callback that a task Singleton's kernel-start callback returned."""
    return getattr(f, "__qualname__", "") == "Singleton.__init__.<locals>.reset.<locals>.cleanup" and _task_singleton(f)


def drop_task_callbacks() -> int:
    """Remove the kernel-start callbacks of tasks made by sessions, and their cleanups held by open
    kernels other than the current one; return how many callbacks were removed."""
    from solara.server import kernel_context

    with _lock:
        stale = [e for e in list(solara.lifecycle._on_kernel_start_callbacks)
                 if id(e) not in (_before_sessions or set()) and _is_task_reset(e)]
        for entry in stale:
            try:
                entry.cleanup()
            except ValueError:  # already removed
                pass
        current = kernel_context.get_current_context() if kernel_context.has_current_context() else None
        # (no kernel's lock is taken: a kernel that is closing holds its own while it calls this)
        for ctx in list(kernel_context.contexts.values()):
            if ctx is current or ctx._teardown_done or ctx.closed_event.is_set():
                continue
            callbacks = ctx._on_close_callbacks
            for f in [f for f in list(callbacks) if _is_task_cleanup(f)]:
                try:
                    callbacks.remove(f)
                except ValueError:
                    pass
    return len(stale)


def give_back_memory() -> None:
    """Collect garbage cycles and return free heap pages to the OS (glibc's malloc_trim)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused by the process instead
        pass


def _on_close() -> None:
    drop_task_callbacks()
    timer = threading.Timer(COLLECT_DELAY, give_back_memory)
    timer.daemon = True
    timer.start()


def release_on_close() -> None:
    """Hook for ``Page``: free what this session holds when Solara closes it."""
    global _before_sessions
    with _lock:
        if _before_sessions is None:
            _before_sessions = {id(e) for e in solara.lifecycle._on_kernel_start_callbacks}

    def effect():
        drop_task_callbacks()  # this session's tasks exist now: keep other kernels from picking them up
        return _on_close  # an effect's cleanup runs when the session's page is torn down

    solara.use_effect(effect, [])
