"""The one executor of the study layer: simulations on Dask, with retries, a manifest and resume.

Sweeps, sensitivity analyses, the policy study, validation, forecasts, the calibration's
particles and its point-estimate rescoring all run their simulations through ``run_jobs``: a list of jobs
(parameters and seed) goes to a Dask cluster (``connect``: a LocalCluster of worker processes,
or an existing scheduler), a failed run is retried, every finished attempt is written to a
``RunFolder`` at once (so a killed job continues with resume), and the results come back in job
order whatever order the runs finished in. Without a client the jobs run one after another in
this process (exactly reproducible, for tests).
"""

from __future__ import annotations

import importlib
import logging
import os
import platform
import re
import socket
import sys
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..core.errors import InputError
from ..core.params import Params
from .manifest import Job, RunFolder, read_run_table
from .signals import Interrupted, interrupts_deferred

#: Where the worker finds the model: "module:function". Only developers change it.
SIMULATE_ENV = "OABM_SIMULATE"
DEFAULT_SIMULATE = "model.run:simulate"

#: Configuration of local workers. Memory: results leave a worker as soon as they are done,
#: so there is nothing to spill; pausing a worker never frees memory a model run has leaked
#: and would stall the sweep, so a worker over 95% of its limit is restarted instead (by its
#: nanny; the run it was doing runs again elsewhere, with the same seed).
WORKER_CONFIG = {
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.memory.terminate": 0.95,
    # Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers; any explicit value switches off
    # glibc's dynamic mmap threshold, so every large numpy temporary becomes an mmap/munmap pair
    # with fresh page faults. The model allocates many per step; unset, it runs as fast as bare.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # Fewer wake-ups of the worker's event-loop thread, each of which takes the GIL from the run:
    # the blocked-loop tick (default every 20 ms), the memory monitor (100 ms), the dashboard's
    # system monitor (500 ms) and the statistical profiler (samples the run's stack every 10 ms).
    # A sweep reads none of them; one-second memory checks still restart a runaway worker.
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.profile.enabled": False,
}
_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss)://[^\s/:]+:\d{1,5}/?$")


# ---------------------------------------------------------------------------------------
# Worker side
# ---------------------------------------------------------------------------------------

def simulate_fn() -> Callable[..., Any]:
    spec = os.environ.get(SIMULATE_ENV, DEFAULT_SIMULATE)
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn or "simulate")


def run_task(params: Params, seed: int) -> dict[str, Any]:
    """Run the model once (on a worker). Never raises: failures come back with their error."""
    t0 = time.perf_counter()
    info = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        res = simulate_fn()(params, seed)
        metrics = {str(k): float(v) for k, v in dict(res.metrics).items()}
        return {"ok": True, "city_year": res.city_year, "metrics": metrics,
                "seconds": time.perf_counter() - t0, **info}
    except Exception as e:  # noqa: BLE001 - a failed run is data, not a crash
        msg = " ".join(f"{type(e).__name__}: {e}".split())
        return {"ok": False, "error": msg[:2000], "traceback": traceback.format_exc()[-8000:],
                "seconds": time.perf_counter() - t0, **info}


def worker_info() -> dict[str, Any]:
    """What a worker runs: package version and whether it can import the model."""
    from .. import __version__

    out: dict[str, Any] = {"version": __version__, "python": platform.python_version()}
    try:
        simulate_fn()
        out["simulate"] = "ok"
    except Exception as e:  # noqa: BLE001
        out["simulate"] = f"{type(e).__name__}: {e}"
    return out


# ---------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------

def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_worker_memory(workers: int) -> int:
    """Bytes per local worker: 80% of this machine's memory shared among the workers."""
    import psutil

    return int(0.8 * psutil.virtual_memory().total / max(workers, 1))


def parse_memory(text: str) -> int:
    from dask.utils import parse_bytes

    try:
        n = parse_bytes(text)
    except (ValueError, TypeError):
        raise InputError(f"--worker-memory: expected a size such as 4GB or 800MB, got {text!r}") from None
    if n < 100 * 2**20:
        raise InputError(f"--worker-memory: {text} is too small (allowed: 100MB or more)")
    return int(n)


def connect(scheduler: str | None, workers: int, timeout: float = 5.0,
            worker_memory: int | None = None) -> tuple[Any, Any]:
    """(client, cluster): a LocalCluster of ``workers`` processes, or a client of an existing
    scheduler (address or scheduler JSON file). Unreachable schedulers are an InputError.
    SIGTERM or Ctrl-C while the cluster starts takes effect once it is up: it is closed again
    and ``Interrupted`` raised (a cluster cut off half-built leaves processes and tracebacks)."""
    client = cluster = None
    try:
        with interrupts_deferred() as hit:
            client, cluster = _connect(scheduler, workers, timeout, worker_memory)
    except BaseException:
        close(client, cluster)
        raise
    if hit:
        close(client, cluster)
        raise Interrupted()
    return client, cluster


def _connect(scheduler: str | None, workers: int, timeout: float, worker_memory: int | None) -> tuple[Any, Any]:
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        if _ADDRESS.match(scheduler):
            kw: dict[str, Any] = {"address": scheduler}
        elif scheduler.endswith(".json"):
            if not Path(scheduler).is_file():
                raise InputError(f"--scheduler: scheduler file not found: {scheduler}")
            kw = {"scheduler_file": scheduler}
        else:
            raise InputError(f"--scheduler: expected an address like tcp://host:8786 or a scheduler JSON file, got {scheduler!r}")
        try:
            client = Client(**kw, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise InputError(f"--scheduler: cannot reach {scheduler} ({' '.join(str(e).split())})") from None
        cluster = None
    else:
        if workers < 1:
            raise InputError(f"--workers: expected a whole number of at least 1, got {workers}")
        # no dashboard; the scheduler's small HTTP service on a free port, so that several
        # sweeps on one machine do not compete for 8787
        with dask.config.set(WORKER_CONFIG):  # nannies read it now and pass it to their workers
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   memory_limit=worker_memory or default_worker_memory(workers),
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   # a run's failure reaches the user through the manifest and the
                                   # summary line; worker logs would only add shutdown races
                                   # (heartbeats to a scheduler that closed first) as tracebacks
                                   silence_logs=logging.CRITICAL)
        client = Client(cluster, set_as_default=False)
    try:
        check_workers(client, scheduler or "the local cluster", "--scheduler" if scheduler else "--workers")
    except BaseException:
        close(client, cluster)
        raise
    return client, cluster


def close(client: Any, cluster: Any) -> None:
    """Close a client and its local cluster; errors while closing are not the user's problem."""
    for thing in (client, cluster):
        if thing is not None:
            try:
                thing.close(timeout=10)
            except Exception:  # noqa: BLE001
                pass


@contextmanager
def cluster(scheduler: str | None, workers: int, timeout: float = 5.0,
            worker_memory: int | None = None) -> Iterator[Any]:
    """``connect`` as a context manager: yields the client, closes everything afterwards."""
    client, local = connect(scheduler, workers, timeout, worker_memory)
    try:
        yield client
    finally:
        close(client, local)


def check_workers(client: Any, where: str, field: str = "--scheduler") -> None:
    """Every connected worker imports the model (warming it up) and runs this package version.

    Workers that join later (an adaptive cluster) are not checked here."""
    from .. import __version__

    try:
        infos = client.run(worker_info)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{field}: workers of {where} cannot run the model "
                         f"({' '.join(f'{type(e).__name__}: {e}'.split())})") from None
    for addr, info in sorted(infos.items()):
        if info.get("simulate") != "ok":
            raise InputError(f"{field}: worker {addr} of {where} cannot import the model ({info.get('simulate')})")
        if info.get("version") != __version__:
            raise InputError(f"{field}: worker {addr} runs outsourcing-abm {info.get('version')}, "
                             f"this client {__version__} (install the same version everywhere)")


# ---------------------------------------------------------------------------------------
# Running jobs
# ---------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What became of one job: ok or failed (after its retries), kept from an earlier invocation
    or run now. ``city_year`` is held only when asked for (``keep_tables``)."""

    job: Job
    ok: bool
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    attempts: int = 0
    kept: bool = False
    city_year: Any = None


@dataclass
class Batch:
    outcomes: list[Outcome]     # in job order
    ran: int                    # jobs finished by this call (ok or finally failed)
    failed: int
    run_seconds: float          # the model's own time over the successful runs of this call

    @property
    def kept(self) -> int:
        return sum(o.kept for o in self.outcomes)

    def tables(self, label: str, folder: Path | None = None) -> list[Any]:
        """city_year of every job in order; a RuntimeError (one line) if any job failed."""
        bad = [o for o in self.outcomes if not o.ok]
        if bad:
            keep = f"; finished runs are kept in {folder} (continue with --resume)" if folder else ""
            raise RuntimeError(f"{label}: {len(bad)} of {len(self.outcomes)} runs failed after their retries "
                               f"(first: {bad[0].job.id}: {(bad[0].error or '')[:300]}){keep}")
        return [o.city_year for o in self.outcomes]


def _in_process(fn: Callable[..., Any]) -> Any:
    """A stand-in for a Dask client: runs each submitted task at once, in this process."""
    class _Later:
        def __init__(self, key: str, args: tuple[Any, ...]):
            self.key, self._args = key, args

        def result(self) -> Any:
            return fn(*self._args)

    class _Local:
        loop = None

        def submit(self, f: Callable[..., Any], *args: Any, key: str, pure: bool = False) -> _Later:
            return _Later(key, args)

    return _Local()


def _finished(client: Any, futures: list[Any]) -> Any:
    """Futures as they finish, to which more can be added (Dask's as_completed, or in order)."""
    if getattr(client, "loop", None) is None:
        class _Queue(list):
            def add(self, fut: Any) -> None:
                self.append(fut)

        return _Queue(futures)
    from distributed import as_completed

    return as_completed(futures, loop=client.loop)


def run_jobs(client: Any, jobs: list[Job], *, folder: RunFolder | None = None, label: str = "runs",
             retries: int = 1, progress: bool = True, keep_tables: bool = True, desc: str | None = None) -> Batch:
    """Run ``jobs`` on ``client`` (None: in this process) and return their outcomes in job order.

    Each failed attempt is tried again up to ``retries`` times (a worker that died, a run that
    raised). With a started ``folder``, jobs it already holds are kept, not run again, and every
    finished attempt is recorded there at once."""
    from tqdm import tqdm

    done = folder.completed(jobs) if folder is not None else {}
    outcomes: list[Outcome | None] = [None] * len(jobs)
    for i, j in enumerate(jobs):
        if j.id in done:
            table = read_run_table(folder.path, j) if keep_tables and folder is not None else None
            outcomes[i] = Outcome(j, True, metrics=done[j.id].get("metrics", {}), attempts=done[j.id].get("attempt", 1),
                                  kept=True, city_year=table)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    submitter = client if client is not None else _in_process(run_task)
    token = uuid.uuid4().hex[:8]
    by_key: dict[str, tuple[int, int]] = {}

    def submit(i: int, attempt: int) -> Any:
        key = f"oabm-{label}-{jobs[i].id}-a{attempt}-{token}"
        fut = submitter.submit(run_task, jobs[i].params, jobs[i].seed, key=key, pure=False)
        by_key[key] = (i, attempt)
        return fut

    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="run", desc=desc or label, file=sys.stderr,
               disable=not progress, dynamic_ncols=True, mininterval=0.5, smoothing=0.1)
    ran = failed = 0
    run_seconds = 0.0
    bar.set_postfix(failed=0, refresh=False)
    try:
        pending = _finished(submitter, [])
        for i in todo:
            pending.add(submit(i, 1))
        for fut in pending:
            i, attempt = by_key.pop(fut.key)
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. the worker died (KilledWorker)
                res = {"ok": False, "error": " ".join(f"{type(e).__name__}: {e}".split())[:2000],
                       "seconds": None, "host": None, "pid": None}
            del fut
            if folder is not None:
                folder.record(jobs[i], res, attempt)
            if res["ok"]:
                outcomes[i] = Outcome(jobs[i], True, metrics=res["metrics"], attempts=attempt,
                                      city_year=res["city_year"] if keep_tables else None)
                ran += 1
                run_seconds += res["seconds"] or 0.0
                bar.update(1)
            elif attempt <= retries:
                pending.add(submit(i, attempt + 1))
            else:
                outcomes[i] = Outcome(jobs[i], False, error=res["error"], attempts=attempt)
                failed += 1
                ran += 1
                bar.update(1)
                bar.set_postfix(failed=failed, refresh=False)
                bar.write(f"run {jobs[i].id} failed after {attempt} attempts: {res['error'][:300]}")
    finally:
        bar.close()
    return Batch([o for o in outcomes if o is not None], ran, failed, run_seconds)


def run_in_folder(client: Any, jobs: list[Job], out: Path, identity: dict[str, Any], *, label: str,
                  progress: bool = True, resume: bool = False) -> list[Any]:
    """Run ``jobs`` into the run folder ``out`` (started with ``identity``; with ``resume`` its
    finished runs are kept, otherwise earlier runs there are cleared): their city_year tables in
    job order, or a RuntimeError if any still failed after its retries."""
    folder = RunFolder(out)
    folder.start(identity, fresh=not resume)
    try:
        return run_jobs(client, jobs, folder=folder, label=label, progress=progress).tables(label, out)
    finally:
        folder.close()
