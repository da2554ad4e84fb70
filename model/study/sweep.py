"""Parameter sweeps: every run of a design once, on the executor, into tidy tables.

``run_sweep(design, DIR)`` runs every (design point, replication) pair of a design
(``model.study.design``) on a Dask cluster (``model.study.executor``). Seeds come from the
design's root seed (``model.study.seeds``), so a run's seed depends only on its place in the
design. Output folder::

    DIR/inputs.json       the digest of the design, the --set overrides and the package version
                          the folder was started with (--resume refuses other inputs)
    DIR/sweep.json        provenance record: design, parameters, seeds, package, git commit, counts
    DIR/manifest.jsonl    append-only log, one line per finished attempt (fsynced)
    DIR/runs/<id>.parquet one file per finished run (city-year rows), written atomically
    DIR/runs.parquet      one row per run: design values, replication, seed, status, metrics
    DIR/city_year.parquet all runs' city-year rows with run id columns
    DIR/region_year.parquet  employment, firms and output by region (summed from city_year)

A killed sweep continues with ``resume=True``: runs whose Parquet file and manifest entry
both exist are kept, all others (missing or failed) run again. The final tables are built
from the design and the manifest, sorted by (point, replication), so they are byte for
byte the same whatever the number of workers or the order runs finished in.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..core.errors import InputError
from ..files import check_writable, write_atomic, write_json_atomic
from ..provenance import record
from .checks import is_int_key
from .design import Design, run_id
from .executor import close, connect, run_jobs
from .manifest import MANIFEST, Job, RunFolder, now, parquet_whole, read_manifest, run_file
from .seeds import SEEDING
from .signals import sigterm_interrupts

SCHEMA_VERSION = 1
#: Names whose presence marks a folder as a sweep's (which --resume may continue).
SWEEP_FILES = ("sweep.json", MANIFEST, "inputs.json")


@dataclass
class SweepSummary:
    out: Path
    total: int
    ok: int
    failed: int
    ran: int            # runs executed by this call (excluding those resumed from disk)
    skipped: int        # runs found complete on disk
    seconds: float
    run_seconds: float  # sum of the model's own time over the runs executed now
    phases: dict[str, float] = field(default_factory=dict)  # wall s: start-up, runs, shutdown, tables


def identity(design: Design) -> dict[str, Any]:
    """What a sweep folder is started with and resumed only with (see RunFolder.check)."""
    from .. import __version__

    return {"kind": "sweep", "design": design.name, "digest": design.digest, "version": __version__,
            "overrides": list(design.cli_overrides),
            "differs": "the design, its scenarios or --set/--replications"}


def _legacy_identity(out: Path) -> dict[str, Any] | None:
    """The identity of a folder started before inputs.json existed, from its sweep.json."""
    try:
        old = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
        return {"digest": old["digest"], "version": old["provenance"]["version"],
                "overrides": old["design"].get("cli_overrides", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_out_dir(out: Path, design: Design, resume: bool) -> None:
    """An InputError before anything runs unless ``out`` may take this sweep: a new or empty
    folder, or (with ``resume``) a sweep folder started with the same design, --set and package
    version. A folder of other files (``experiments/``, ``docs/``) is never written into."""
    check_writable(out, owned=SWEEP_FILES)
    if not resume and ((out / "sweep.json").exists() or (out / MANIFEST).exists()):
        raise InputError(f"--out: {out} already holds a sweep (use --resume to continue it, or another folder)")
    RunFolder(out).check(identity(design), resume, what="a sweep", legacy=_legacy_identity(out))


def sweep_meta(design: Design, workers: int | None, scheduler: str | None,
               command: str | None) -> dict[str, Any]:
    """sweep.json: the provenance record of the sweep (model.provenance.record)."""
    return record(
        command=command, scenario=design.scenario, params=design.base, overrides=design.cli_overrides,
        schema=SCHEMA_VERSION,
        design={"name": design.name, "file": str(design.path), "description": design.description,
                "method": design.method, "options": design.options, "raw": design.raw,
                "cli_overrides": list(design.cli_overrides)},
        digest=design.digest, root_seed=design.root_seed, seeding=SEEDING[design.common_random_numbers],
        common_random_numbers=design.common_random_numbers, replications=design.replications,
        points=len(design.points), runs=design.n_runs, varied=design.varied, fixed=design.fixed,
        problem=design.problem, base_params=design.base.to_dict() if design.base else None,
        point_table=design.point_table(), workers=workers, scheduler=scheduler)


def jobs_of(design: Design) -> list[Job]:
    return [Job(r.run_id, r.params, r.seed, {"point": r.point, "replication": r.replication})
            for r in design.runs()]


def run_sweep(design: Design, out: str | Path, *, workers: int = 1, scheduler: str | None = None,
              resume: bool = False, progress: bool = True, retries: int = 1,
              connect_timeout: float = 5.0, worker_memory: int | None = None,
              log: Callable[[str], None] | None = None, command: str | None = None) -> SweepSummary:
    """Run every missing run of ``design`` into ``out`` and write the tidy tables."""
    out = Path(out)
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    check_out_dir(out, design, resume)
    jobs = jobs_of(design)
    folder = RunFolder(out, log)
    t0 = time.perf_counter()
    client = cluster = None
    with sigterm_interrupts():  # also for callers of run_sweep other than the command line
        todo = len(jobs) - len(folder.completed(jobs)) if resume else len(jobs)
        if todo:
            client, cluster = connect(scheduler, workers, connect_timeout, worker_memory)
        phases = {"start-up": time.perf_counter() - t0}
        try:
            folder.start(identity(design))
            meta = sweep_meta(design, workers if not scheduler else None, scheduler, command)
            meta["history"] = _history(out)
            meta["history"].append({"started": now(), "workers": meta["workers"], "scheduler": scheduler,
                                    "to_run": todo, "resumed": len(jobs) - todo})
            write_json_atomic(out / "sweep.json", meta)
            t_runs = time.perf_counter()
            batch = run_jobs(client, jobs, folder=folder, label=design.name, retries=retries, progress=progress,
                             keep_tables=False, desc=f"sweep {design.name}")
            phases["runs"] = time.perf_counter() - t_runs
        except KeyboardInterrupt:
            log(f"sweep interrupted; finished runs are kept in {out} (continue with --resume)")
            raise
        finally:
            t_down = time.perf_counter()
            folder.close()
            close(client, cluster)
            phases["shutdown"] = time.perf_counter() - t_down
    t_tables = time.perf_counter()
    counts = assemble(out, design)
    phases["tables"] = time.perf_counter() - t_tables
    meta["history"][-1].update({"finished": now(), "ran": batch.ran, "seconds": round(time.perf_counter() - t0, 3),
                                "phase_seconds": {k: round(v, 3) for k, v in phases.items()},
                                "model_seconds": round(batch.run_seconds, 3)})
    meta["counts"] = counts
    write_json_atomic(out / "sweep.json", meta)
    return SweepSummary(out, len(jobs), counts["ok"], counts["failed"], batch.ran, batch.kept,
                        time.perf_counter() - t0, batch.run_seconds, phases)


def _history(out: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads((out / "sweep.json").read_text(encoding="utf-8")).get("history", []))
    except (OSError, ValueError, AttributeError):
        return []


# ---------------------------------------------------------------------------------------
# Tidy tables
# ---------------------------------------------------------------------------------------

def _run_rows(out: Path, design: Design) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """One row per run from the manifest (design values, seed, status), the metric names and the
    ids of the runs whose file is whole, in (point, replication) order."""
    entries, _ = read_manifest(out / MANIFEST)
    seeds = design.seeds()
    rows = []
    metric_names: set[str] = set()
    ok_ids: list[str] = []
    for p in design.points:
        for r in range(design.replications):
            rid = run_id(p.index, r)
            e = entries.get(rid)
            ok = e is not None and e.get("status") == "ok" and parquet_whole(run_file(out, rid))
            row: dict[str, Any] = {"run_id": rid, "point": p.index, "replication": r, "seed": int(seeds[p.index, r])}
            if design.method == "arms":
                row.update(arm=p.arm, group=p.group)
            row["scenario"] = p.scenario
            row.update({k: p.values.get(k) for k in design.varied})
            if ok:
                row.update(status="ok", error=None)
                row["_metrics"] = e.get("metrics", {})
                metric_names.update(row["_metrics"])
                ok_ids.append(rid)
            elif e is not None:
                row.update(status="failed", error=e.get("error") if e.get("status") != "ok"
                           else "run file unreadable (run the sweep again with --resume)")
                row["_metrics"] = {}
            else:
                row.update(status="missing", error=None)
                row["_metrics"] = {}
            rows.append(row)
    return rows, sorted(metric_names), ok_ids


def assemble(out: Path, design: Design) -> dict[str, int]:
    """Write runs.parquet, city_year.parquet and region_year.parquet from the manifest and the
    per-run files, sorted by (point, replication): identical whatever order runs finished in."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, names, ok_ids = _run_rows(out, design)
    for row in rows:
        m = row.pop("_metrics")
        for n in names:
            row[n] = float(m[n]) if n in m and m[n] is not None else float("nan")
    runs = pd.DataFrame(rows)
    for k in design.varied:
        col = runs[k]
        if is_int_key(k) and col.notna().all():
            runs[k] = col.astype("int64")
        else:
            runs[k] = col.astype("float64")
    for c in ("point", "replication", "seed"):
        runs[c] = runs[c].astype("int64")
    _write_parquet(pa.Table.from_pandas(runs, preserve_index=False), out / "runs.parquet")

    # city_year: concatenate per-run files in (point, replication) order
    tables = []
    for rid in ok_ids:
        t = pq.read_table(run_file(out, rid))
        md = dict(t.schema.metadata or {})
        md.pop(b"oabm.metrics", None)
        tables.append(t.replace_schema_metadata(md))
    if tables:
        cy = pa.concat_tables(tables, promote_options="permissive")
    else:
        cy = pa.table({"run_id": pa.array([], pa.string()), "point": pa.array([], pa.int64()),
                       "replication": pa.array([], pa.int64()), "seed": pa.array([], pa.int64())})
    _write_parquet(cy, out / "city_year.parquet")
    ry = region_year(cy.to_pandas()) if tables else pd.DataFrame()
    _write_parquet(pa.Table.from_pandas(ry, preserve_index=False), out / "region_year.parquet")
    status = runs["status"].value_counts()
    return {"total": len(runs), "ok": int(status.get("ok", 0)), "failed": int(status.get("failed", 0)),
            "missing": int(status.get("missing", 0))}


def region_year(city_year: Any) -> Any:
    """Coastal / central / western totals and shares by (run, year): the model's own
    region_year table (``model.run.region_year_table``), computed run by run."""
    import pandas as pd

    from ..run import region_year_table

    keys = ["run_id", "point", "replication"]
    if city_year.empty or "region" not in city_year.columns:
        return city_year.iloc[0:0]
    parts = []
    for key, g in city_year.groupby(keys, sort=True, observed=True):
        ry = region_year_table(g)
        parts.append(ry.assign(**dict(zip(keys, key)))[keys + list(ry.columns)])
    return pd.concat(parts, ignore_index=True)


def _write_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    write_atomic(path, lambda f: pq.write_table(table, f))


def dry_run_line(design: Design) -> str:
    return (f"{design.name}: {design.method}, {len(design.points)} points x {design.replications} "
            f"replications = {design.n_runs} runs; varied: {', '.join(design.varied) or '-'}")


def require_method(design: Design, method: str, what: str) -> None:
    if design.method != method:
        raise InputError(f"method: {what} needs method = \"{method}\" (got {design.method!r})")
