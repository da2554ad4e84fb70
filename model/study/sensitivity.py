"""Global sensitivity analysis: Sobol indices and Morris screening (SALib) on the sweep machinery.

``run_sensitivity(design file, DIR)`` (``outsourcing-abm sensitivity``) reads one design file
whose ``[parameters]`` give each factor's ``low`` and ``high``. It draws a Sobol' (Saltelli)
sample and a Morris trajectory sample from them, runs both as ordinary sweeps on Dask (so
they are resumable and reproducible exactly like ``outsourcing-abm sweep``), averages each
design point's outcome over its replications, and analyses the outcomes named in
``metrics``. Output in DIR::

    sobol/, morris/            the two sweeps (runs.parquet, city_year.parquet, sweep.json, ...)
    sobol_indices.csv          metric, parameter, S1, S1_conf, ST, ST_conf
    morris_indices.csv         metric, parameter, mu, mu_star, mu_star_conf, sigma
    sobol_<metric>.png         first-order and total indices with confidence intervals
    morris_<metric>.png        mu* (with confidence interval) and sigma
    sensitivity.json           design, sample sizes, skipped metrics, provenance
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.errors import InputError
from ..files import check_writable, write_json_atomic, write_text_atomic
from ..provenance import code_provenance, record
from .design import MAX_RUNS, Design, load_design
from .plots import pyplot, save
from .sweep import check_out_dir, run_sweep

#: Outcomes analysed when the design file names none (the issue's list).
DEFAULT_METRICS = ("focus_employment_2025", "focus_employment_2030", "inland_share_2025",
                   "spend_per_job_added_all_cities")
ANALYSES = ("sobol", "morris")


def design_metrics(design: Design) -> list[str]:
    m = design.raw.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(m, list) or not m or not all(isinstance(x, str) and x for x in m):
        raise InputError("metrics: expected a list of outcome names, e.g. [\"focus_employment_2025\"]")
    return list(dict.fromkeys(m))


def point_means(runs: Any, n_points: int, metric: str) -> np.ndarray:
    """Mean of ``metric`` over each point's successful replications (NaN where none)."""
    ok = runs[runs["status"] == "ok"]
    means = ok.groupby("point")[metric].mean()
    return means.reindex(range(n_points)).to_numpy(dtype=float)


def _analyse_sobol(design: Design, y: np.ndarray) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from SALib.analyze import sobol

    opts = design.options
    second = bool(opts.get("second_order", False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sobol.analyze(design.problem, y, calc_second_order=second,
                            num_resamples=int(opts.get("num_resamples", 200)),
                            conf_level=float(opts.get("conf_level", 0.95)), seed=design.root_seed % 2**32)
    names = design.problem["names"]
    first = [{"parameter": n, "S1": res["S1"][i], "S1_conf": res["S1_conf"][i],
              "ST": res["ST"][i], "ST_conf": res["ST_conf"][i]} for i, n in enumerate(names)]
    pairs = []
    if second:
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                pairs.append({"parameter_1": names[i], "parameter_2": names[j],
                              "S2": res["S2"][i, j], "S2_conf": res["S2_conf"][i, j]})
    return first, pairs


def _analyse_morris(design: Design, y: np.ndarray) -> list[dict[str, Any]]:
    from SALib.analyze import morris

    opts = design.options
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = morris.analyze(design.problem, design.sample, y, num_levels=int(opts.get("levels", 4)),
                             num_resamples=int(opts.get("num_resamples", 200)),
                             conf_level=float(opts.get("conf_level", 0.95)), seed=design.root_seed % 2**32)
    return [{"parameter": n, "mu": float(res["mu"][i]), "mu_star": float(res["mu_star"][i]),
             "mu_star_conf": float(res["mu_star_conf"][i]), "sigma": float(res["sigma"][i])}
            for i, n in enumerate(design.problem["names"])]


def _plot_sobol(rows: list[dict[str, Any]], metric: str, path: Path) -> None:
    plt = pyplot()
    names = [r["parameter"] for r in rows]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.6))
    h = 0.38
    ax.barh(y - h / 2, [r["S1"] for r in rows], h, xerr=[r["S1_conf"] for r in rows], label="first order S1",
            color="#4c72b0", capsize=2)
    ax.barh(y + h / 2, [r["ST"] for r in rows], h, xerr=[r["ST_conf"] for r in rows], label="total ST",
            color="#dd8452", capsize=2)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("Sobol index (bars: 95% confidence interval)")
    ax.set_title(f"Sobol indices: {metric}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, path)


def _plot_morris(rows: list[dict[str, Any]], metric: str, path: Path) -> None:
    plt = pyplot()
    names = [r["parameter"] for r in rows]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.6))
    h = 0.38
    ax.barh(y - h / 2, [r["mu_star"] for r in rows], h, xerr=[r["mu_star_conf"] for r in rows],
            label="mu* (mean |elementary effect|)", color="#55a868", capsize=2)
    ax.barh(y + h / 2, [r["sigma"] for r in rows], h, label="sigma (interactions / non-linearity)",
            color="#c44e52")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"elementary effect on {metric} (over each factor's whole range)")
    ax.set_title(f"Morris screening: {metric}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, path)


def analyse(design: Design, sweep_dir: Path, out: Path, metrics: list[str],
            log: Callable[[str], None]) -> dict[str, Any]:
    """Indices for one finished sweep (``design.method`` sobol or morris) into ``out``."""
    import pandas as pd

    runs = pd.read_parquet(sweep_dir / "runs.parquet")
    n = len(design.points)
    rows: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for metric in metrics:
        if metric not in runs.columns:
            skipped[metric] = "not produced by the model (check the name and end_year)"
            continue
        y = point_means(runs, n, metric)
        bad = int((~np.isfinite(y)).sum())
        if bad:
            skipped[metric] = f"{bad} of {n} design points have no finite value"
            continue
        if np.nanstd(y) == 0:
            skipped[metric] = "constant over the whole sample"
            continue
        if design.method == "sobol":
            first, s2 = _analyse_sobol(design, y)
            for r in first:
                rows.append({"metric": metric, **r})
            for r in s2:
                pairs.append({"metric": metric, **r})
            _plot_sobol(first, metric, out / f"sobol_{metric}.png")
        else:
            mrows = _analyse_morris(design, y)
            for r in mrows:
                rows.append({"metric": metric, **r})
            _plot_morris(mrows, metric, out / f"morris_{metric}.png")
    for metric, why in skipped.items():
        log(f"sensitivity: {design.method}: {metric} skipped: {why}")
    cols = (["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"] if design.method == "sobol"
            else ["metric", "parameter", "mu", "mu_star", "mu_star_conf", "sigma"])
    table = pd.DataFrame(rows, columns=cols)
    write_text_atomic(out / f"{design.method}_indices.csv", table.to_csv(index=False, float_format="%.6g"))
    if pairs:
        write_text_atomic(out / "sobol_second_order.csv", pd.DataFrame(pairs).to_csv(index=False, float_format="%.6g"))
    return {"points": n, "runs": design.n_runs, "analysed": [m for m in metrics if m not in skipped],
            "skipped": skipped, "table": f"{design.method}_indices.csv"}


def run_sensitivity(path: str | Path, out: str | Path, *, workers: int = 1, scheduler: str | None = None,
                    resume: bool = False, replications: int | None = None, overrides: list[str] | tuple = (),
                    analyses: tuple[str, ...] = ANALYSES, progress: bool = True, connect_timeout: float = 5.0,
                    worker_memory: int | None = None, log: Callable[[str], None] | None = None,
                    command: str | None = None, max_runs: int = MAX_RUNS) -> dict[str, Any]:
    """Run the Sobol and/or Morris sweeps of a design and write index tables and plots."""
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    out = Path(out)
    designs = {}
    for meth in analyses:  # load and check every design before anything runs
        d = load_design(path, method=meth, replications=replications, overrides=overrides, max_runs=max_runs)
        if not d.problem:
            raise InputError(f"parameters: {meth} needs every factor as {{low = .., high = ..}}")
        designs[meth] = d
    code = code_provenance()
    metrics = design_metrics(next(iter(designs.values())))
    check_writable(out, owned=("sensitivity.json", *ANALYSES))
    for meth, d in designs.items():
        check_out_dir(out / meth, d, resume)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"design": str(path), "metrics": metrics, "analyses": {}}
    for meth, d in designs.items():
        s = run_sweep(d, out / meth, workers=workers, scheduler=scheduler, resume=resume, progress=progress,
                      connect_timeout=connect_timeout, worker_memory=worker_memory, log=log, command=command)
        info = analyse(d, out / meth, out, metrics, log)
        info.update(ok=s.ok, failed=s.failed, options=d.options, parameters=d.problem)
        summary["analyses"][meth] = info
    first = next(iter(designs.values()))
    write_json_atomic(out / "sensitivity.json", record(code=code, command=command, scenario=first.scenario,
                                                       params=first.base, overrides=overrides, **summary))
    return summary
