"""A folder of runs that survives being killed: the inputs record, the manifest, per-run files.

::

    DIR/inputs.json        what the folder was started with (kind, digest of every run's
                           parameters and seed, --set overrides, package version), written
                           before the first run; resuming refuses other inputs, and a folder
                           with runs but no such record
    DIR/manifest.jsonl     append-only log, one line per finished attempt (fsynced)
    DIR/runs/<id>.parquet  one file per successful run (city-year rows), written atomically

A run counts as done when its last readable manifest entry says ``ok`` (with its seed) and its
file is whole. An unreadable manifest line (not UTF-8, not JSON) or a run file cut short is not
an error: the run is simply not done, runs again, and one line says so.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.errors import InputError
from ..core.params import Params
from ..files import clean_stale_temporaries, json_default, write_atomic, write_json_atomic

INPUTS = "inputs.json"
MANIFEST = "manifest.jsonl"
RUNS = "runs"
_PARQUET_MAGIC = b"PAR1"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Job:
    """One simulation: an id unique in its folder, the parameters and the seed; ``tags`` are
    extra integer columns of its run file and manifest entry (a sweep's point and replication)."""

    id: str
    params: Params
    seed: int
    tags: dict[str, int] = field(default_factory=dict)


def jobs_digest(jobs: list[Job]) -> str:
    """Hash of every job's id, parameters and seed: what decides the folder's results."""
    import hashlib

    h = hashlib.sha256()
    for j in jobs:
        h.update(json.dumps([j.id, j.seed, j.params.to_dict()], sort_keys=True, default=json_default).encode())
    return h.hexdigest()


class Manifest:
    """Append-only JSON-lines log of finished attempts; the last readable entry of a run wins."""

    def __init__(self, path: Path):
        self.path = path
        if path.exists():
            self._repair()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # the umask decides

    def _repair(self) -> None:
        """Drop a torn last line left by a kill in the middle of a write."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())

    def append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, sort_keys=True, default=json_default) + "\n").encode()
        try:
            os.write(self._fd, line)
            os.fsync(self._fd)
        except OSError as e:  # a full disk: say which file
            raise OSError(e.errno, e.strerror, str(self.path)) from e

    def close(self) -> None:
        os.close(self._fd)

    @staticmethod
    def read(path: Path) -> dict[str, dict[str, Any]]:
        return read_manifest(path)[0]


def read_manifest(path: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """(last entry of every run, number of unreadable lines). A torn last line (a kill in the
    middle of a write) is not counted: it is the normal trace of an interrupted run."""
    last: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return last, 0
    lines = path.read_bytes().split(b"\n")
    lines.pop()  # after the final newline: b"", or a torn line
    bad = 0
    for raw in lines:
        if not raw.strip():
            continue
        try:
            e = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            bad += 1
            continue
        if isinstance(e, dict) and "run_id" in e:
            last[e["run_id"]] = e
        else:
            bad += 1
    return last, bad


def parquet_whole(path: Path) -> bool:
    """Whether ``path`` ends like a complete Parquet file (magic bytes at both ends, a footer that
    fits); a file cut short by a full disk or a kill does not."""
    try:
        size = path.stat().st_size
        if size < 12:
            return False
        with open(path, "rb") as f:
            if f.read(4) != _PARQUET_MAGIC:
                return False
            f.seek(size - 8)
            tail = f.read(8)
    except OSError:
        return False
    return tail[4:] == _PARQUET_MAGIC and 12 + int.from_bytes(tail[:4], "little") <= size


def run_file(folder: Path, job_id: str) -> Path:
    return folder / RUNS / f"{job_id}.parquet"


def write_run_file(folder: Path, job: Job, city_year: Any, metrics: dict[str, float]) -> Path:
    """The run's city-year rows with its id, tags and seed in front, atomically; the metrics
    ride in the file's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = city_year.reset_index(drop=True).copy()
    front = ["run_id", *job.tags, "seed"]
    df = df.drop(columns=[c for c in front if c in df.columns])
    df.insert(0, "run_id", job.id)
    for i, (k, v) in enumerate(job.tags.items(), start=1):
        df.insert(i, k, np.int64(v))
    df.insert(len(front) - 1, "seed", np.int64(job.seed))
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"oabm.metrics"] = json.dumps(metrics, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    return write_atomic(run_file(folder, job.id), lambda f: pq.write_table(table, f))


def read_run_table(folder: Path, job: Job) -> Any:
    """A run file's city-year rows without the columns ``write_run_file`` put in front."""
    import pandas as pd

    df = pd.read_parquet(run_file(folder, job.id))
    return df.drop(columns=[c for c in ("run_id", *job.tags, "seed") if c in df.columns])


class RunFolder:
    """The inputs record, manifest and run files of one folder (see the module docstring)."""

    def __init__(self, path: str | Path, log: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.log = log or stderr_line
        self.manifest: Manifest | None = None
        self._said: set[str] = set()

    def _say(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self.log(text)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def holds_runs(self) -> bool:
        runs = self.path / RUNS
        return (self.manifest_path.exists() or (self.path / INPUTS).exists()
                or (runs.is_dir() and any(runs.iterdir())))

    def recorded(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / INPUTS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def check(self, identity: dict[str, Any], resume: bool, *, what: str = "runs",
              legacy: dict[str, Any] | None = None) -> None:
        """An InputError unless this folder may take runs of ``identity``: a folder without runs;
        or, with ``resume``, one started with the same inputs (digest), --set overrides and package
        version. ``legacy``: the identity of a folder started before inputs.json existed."""
        if not self.holds_runs():
            return
        if not resume:
            raise InputError(f"--out: {self.path} already holds {what} (use --resume to continue it, or another folder)")
        old = self.recorded() or legacy
        if old is None:
            raise InputError(f"--resume: {self.path} holds runs but no readable record of the inputs that made "
                             f"them ({INPUTS}); start a new folder")
        if old.get("version") != identity["version"]:
            raise InputError(f"--resume: {self.path} was started by outsourcing-abm {old.get('version')}, this is "
                             f"{identity['version']} (finish it with that version, or use another folder)")
        if list(old.get("overrides") or []) != list(identity["overrides"]):
            was = " ".join(f"--set {o}" for o in old.get("overrides") or []) or "no --set"
            now_ = " ".join(f"--set {o}" for o in identity["overrides"]) or "no --set"
            raise InputError(f"--resume: {self.path} was started with {was}, not {now_} "
                             "(rerun with the same inputs, or use another folder)")
        if old.get("digest") != identity["digest"]:
            raise InputError(f"--resume: {identity.get('differs', 'the inputs')} differ from those of {self.path} "
                             "(rerun with the same inputs, or use another folder)")

    def start(self, identity: dict[str, Any], fresh: bool = False) -> None:
        """Create the folder (emptied of earlier runs with ``fresh``), clear temporaries that
        killed writers left, record the inputs (before any run) and open the manifest."""
        import shutil

        if fresh:
            self.manifest_path.unlink(missing_ok=True)
            (self.path / INPUTS).unlink(missing_ok=True)
            shutil.rmtree(self.path / RUNS, ignore_errors=True)
        (self.path / RUNS).mkdir(parents=True, exist_ok=True)
        stale = clean_stale_temporaries(self.path) + clean_stale_temporaries(self.path / RUNS)
        if stale:
            self.log(f"{self.path}: removed {len(stale)} temporary file(s) an interrupted run left behind")
        record = {k: v for k, v in identity.items() if k != "differs"}
        old = self.recorded()
        record["started"] = old.get("started", now()) if old else now()
        write_json_atomic(self.path / INPUTS, record)
        self.manifest = Manifest(self.manifest_path)

    def completed(self, jobs: list[Job]) -> dict[str, dict[str, Any]]:
        """Manifest entries of the jobs that finished successfully and whose file is whole; one
        line says so where a manifest line or a run file could not be read (those run again)."""
        entries, bad = read_manifest(self.manifest_path)
        if bad:
            self._say(f"{self.manifest_path}: {bad} unreadable line(s) ignored; the runs they recorded run again")
        done, broken = {}, []
        for j in jobs:
            e = entries.get(j.id)
            f = run_file(self.path, j.id)
            if e is None or e.get("status") != "ok" or e.get("seed") != j.seed or not f.is_file():
                continue
            if parquet_whole(f):
                done[j.id] = e
            else:
                broken.append(f.name)
        if broken:
            self._say(f"{self.path / RUNS}: {len(broken)} run file(s) are cut short ({', '.join(broken[:3])}"
                      f"{', ...' if len(broken) > 3 else ''}); those runs run again")
        return done

    def record(self, job: Job, res: dict[str, Any], attempt: int) -> dict[str, Any]:
        """Write a finished attempt: its run file (when it succeeded), then its manifest line."""
        assert self.manifest is not None, "start() the folder first"
        entry = {"run_id": job.id, **job.tags, "seed": job.seed, "attempt": attempt,
                 "seconds": res.get("seconds"), "worker": f"{res.get('host')}:{res.get('pid')}", "finished": now()}
        if res["ok"]:
            f = write_run_file(self.path, job, res["city_year"], res["metrics"])
            entry.update(status="ok", file=str(f.relative_to(self.path)), metrics=res["metrics"])
        else:
            entry.update(status="failed", error=res["error"])
        self.manifest.append(entry)
        return entry

    def close(self) -> None:
        if self.manifest is not None:
            self.manifest.close()
            self.manifest = None
