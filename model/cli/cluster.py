"""The one set of options of the commands that run simulations on Dask (sweep, sensitivity,
report policy, calibrate, validate, forecast), and what they share when they run."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..core.errors import InputError
from .common import add_overrides

#: Largest design run without --max-runs (model.study.design.MAX_RUNS; the study checks it).
MAX_RUNS_TEXT = "1,000,000"

def add_cluster_arguments(p: argparse.ArgumentParser, *, resume: str) -> None:
    """--workers, --scheduler, --connect-timeout, --worker-memory, --resume, --set and --quiet."""
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the local Dask cluster (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster: tcp://host:port or a scheduler JSON file")
    p.add_argument("--connect-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="give up connecting to --scheduler after this long (default 5)")
    p.add_argument("--worker-memory", metavar="SIZE", default=None,
                   help="memory limit of each local worker, e.g. 4GB; a worker above 95%% of it is "
                        "restarted (default: 80%% of this machine's memory shared among the workers)")
    p.add_argument("--resume", action="store_true", help=resume)
    add_overrides(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_design_arguments(p: argparse.ArgumentParser) -> None:
    """Cluster arguments plus those of commands that run a design (sweep, sensitivity, report)."""
    add_cluster_arguments(p, resume="continue the work in --out: run only what is missing or failed")
    p.add_argument("--replications", type=int, default=None, metavar="N",
                   help="replications per design point (default: the design's)")
    p.add_argument("--max-runs", type=int, default=None, metavar="N",
                   help=f"refuse a design of more runs than this, before building it (default {MAX_RUNS_TEXT})")


def at_least_one(args: argparse.Namespace, *names: str) -> None:
    """An InputError for a count option below 1."""
    for name in names:
        v = getattr(args, name.replace("-", "_"), None)
        if v is not None and v < 1:
            raise InputError(f"--{name}: expected a whole number of at least 1, got {v}")


def worker_memory(args: argparse.Namespace) -> int | None:
    from ..study.executor import parse_memory

    return parse_memory(args.worker_memory) if args.worker_memory else None


def workers(args: argparse.Namespace) -> int:
    from ..study.executor import default_workers

    return args.workers or default_workers()


def design_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of run_sweep/run_sensitivity from the cluster options."""
    return {"workers": workers(args), "scheduler": args.scheduler, "resume": args.resume,
            "progress": not args.quiet, "connect_timeout": args.connect_timeout,
            "worker_memory": worker_memory(args)}


@contextmanager
def dask_client(args: argparse.Namespace) -> Iterator[Any]:
    """A client of the cluster the options ask for (executor.connect), closed afterwards."""
    from ..study.executor import cluster

    at_least_one(args, "workers")
    with cluster(args.scheduler, workers(args), args.connect_timeout, worker_memory(args)) as client:
        yield client


def where(args: argparse.Namespace) -> str:
    """The cluster in words, for performance records."""
    return (f"Dask scheduler {args.scheduler}" if args.scheduler
            else f"LocalCluster of {workers(args)} workers on {os.cpu_count()} cores")


def guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command that reports a full disk or another OS error in one line (exit 1)."""
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except OSError as e:
            sys.stderr.write(f"outsourcing-abm: error: {' '.join(str(e).split())} "
                             "(finished runs are kept; continue with --resume)\n")
            return 1
    run.__doc__ = command.__doc__
    return run
