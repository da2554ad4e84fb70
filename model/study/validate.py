"""``outsourcing-abm validate``: the calibrated baseline over many seeds, target by target.

Runs ``experiments/baseline.toml`` (which inherits ``calibrated.toml``) over ``--seeds`` seeds
(default 20) on the Dask executor of the sweeps, evaluates every target of
``experiments/targets.toml`` on every run, and writes ``docs/validation.md``: first line
"N of M targets pass", then for every target the observation, the simulated median and 90%
band, pass/fail and, for failures, the reason; plus figures in ``docs/img/validation_*.png``.
Per-run tables go to ``--out`` (default results/validation).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.params import Params
from .scenarios import load_scenario
from .targets import TARGETS_FILE, Target, evaluate, load_targets, summarise

REPO = TARGETS_FILE.parent.parent
DEFAULT_DOC = REPO / "docs" / "validation.md"


# ---------------------------------------------------------------------------------------
# Running many (params, seed) pairs on Dask; shared with forecast
# ---------------------------------------------------------------------------------------

def seeds_from(root: int | list[int], n: int) -> list[int]:
    """``n`` independent run seeds from the entropy ``root`` (numpy SeedSequence children)."""
    return [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(root).spawn(n)]


def run_many(client: Any, jobs: list[tuple[Params, int]], label: str = "runs",
             progress: bool = True) -> list[pd.DataFrame]:
    """city_year tables of every (params, seed) job, in job order. A failed run raises (one line)."""
    from distributed import as_completed
    from tqdm import tqdm

    from .sweep import run_task

    futures = [client.submit(run_task, p, s, pure=False) for p, s in jobs]
    index = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(jobs)
    with tqdm(total=len(jobs), desc=label, unit="run", disable=not progress) as bar:
        for fut in as_completed(futures, loop=client.loop):
            res = fut.result()
            if not res["ok"]:
                raise RuntimeError(f"{label}: a run failed: {res['error']}")
            out[index[fut.key]] = res["city_year"]
            bar.update()
    return out


def add_common_arguments(parser: argparse.ArgumentParser, seeds: int, out: str) -> None:
    parser.add_argument("scenario", nargs="?", default=str(REPO / "experiments" / "baseline.toml"),
                        help="scenario (default: experiments/baseline.toml, which inherits calibrated.toml)")
    parser.add_argument("--seeds", type=int, default=seeds, metavar="N", help=f"seeds (default {seeds})")
    parser.add_argument("--root-seed", type=int, default=20240101, metavar="N",
                        help="every seed derives from this one (numpy SeedSequence)")
    parser.add_argument("--out", default=out, metavar="DIR", help=f"output folder (default {out})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a scenario parameter (repeatable)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes of the local Dask cluster (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:port)")
    parser.add_argument("--connect-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="give up connecting to --scheduler after this long (default 5)")
    parser.add_argument("--worker-memory", metavar="SIZE", default=None, help="memory limit of each local worker")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def scenario_from(args: argparse.Namespace) -> Path:
    """The scenario of a validate/forecast command line, after checking its root seed."""
    from ..cli.paths import resolve_scenario

    if args.root_seed < 0:
        raise InputError(f"--root-seed: expected a whole number of at least 0, got {args.root_seed}")
    return resolve_scenario(args.scenario)


def connect_from(args: argparse.Namespace):
    from .sweep import cli_worker_memory, connect, default_workers

    if args.seeds < 1:
        raise InputError(f"--seeds: expected a whole number of at least 1, got {args.seeds}")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers: expected a whole number of at least 1, got {args.workers}")
    return connect(args.scheduler, args.workers or default_workers(), args.connect_timeout, cli_worker_memory(args))


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------

def failure_reason(row: pd.Series) -> str:
    if row["defined_runs"] == 0:
        return "undefined in every run (the quantity never occurs in the model)"
    side = "above" if row["median"] > row["high"] else "below"
    return f"median {side} the band ({row['in_band_share']:.0%} of runs inside)"


def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    a = abs(x)
    if a >= 1e6:
        return f"{x:.3g}"
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def write_report(summary: pd.DataFrame, doc: Path, *, scenario: Path, seeds: int, command: str,
                 prov: dict[str, Any], figures: list[str], calibrated: Path) -> None:
    n_pass, n = int(summary["pass"].sum()), len(summary)
    lines = [
        f"{n_pass} of {n} targets pass",
        "",
        "# Validation of the calibrated model",
        "",
        f"Generated by `{command}` from `{scenario.relative_to(REPO) if scenario.is_relative_to(REPO) else scenario}` "
        f"(which inherits `{calibrated.relative_to(REPO) if calibrated.is_relative_to(REPO) else calibrated}`), {seeds} seeds, "
        f"outsourcing-abm {prov.get('version')}, commit {prov.get('git_commit')}. Do not edit by hand.",
        "",
        "A target passes when the median over seeds lies inside its tolerance band. Bands and their "
        "justification are in `experiments/targets.toml`; every `kind: target` fact of "
        "`shared/facts/seed_facts.yaml` and every regional pattern of `public_stats.yaml` is listed, "
        "none dropped. *In band* is the share of single runs inside the band. Weight 0 marks a "
        "check the calibration did not fit (it is set by an input).",
        "",
        "| target | model quantity | year | observed | band | median | 90% band | in band | weight | result |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in summary.iterrows():
        result = "pass" if r["pass"] else "**FAIL**"
        lines.append(f"| `{r['id']}` | {r['what']} | {r['year']} | {r['observed']} | {_fmt(r['low'])} to "
                     f"{_fmt(r['high'])} | {_fmt(r['median'])} | {_fmt(r['p05'])} to {_fmt(r['p95'])} | "
                     f"{r['in_band_share']:.0%} | {r['weight']:g} | {result} |")
    failed = summary[~summary["pass"]]
    lines += ["", "## Failures", ""]
    if failed.empty:
        lines.append("None.")
    for _, r in failed.iterrows():
        gap = f" Why the model misses it: {r['gap']}" if r["gap"] else ""
        lines.append(f"- `{r['id']}` ({r['fact']}): {failure_reason(r)}. Band: {r['why']}{gap}")
    lines += ["", "## Figures", ""]
    lines += [f"![{f}](img/{f})" for f in figures]
    lines += _calibration_section(calibrated.parent / "calibration.json")
    lines += ["", "## Tolerance bands", ""]
    lines += [f"- `{r['id']}`: {r['why']}" for _, r in summary.iterrows()]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(lines) + "\n")


def _calibration_section(path: Path) -> list[str]:
    """How the committed calibrated.toml was estimated (experiments/calibration.json)."""
    from .calibrate import describe_point_estimate, is_degenerate

    try:
        c = json.loads(path.read_text())
    except (OSError, ValueError):
        return ["", "## Calibration", "", "No calibration record (experiments/calibration.json) found."]
    lines = ["", "## Calibration", "",
             f"ABC-SMC (pyabc) on Dask: {c['population']} particles, {c['generations']} generations after the prior, "
             f"{c['seeds_per_particle']} seeds per particle, {c['model_runs']} model runs in {c['wall_time_s']:.0f} s "
             f"(commit {c.get('git_commit', '?')}); effective sample size of the final population "
             f"{c.get('effective_sample_size', float('nan')):.1f}; tolerance per generation: "
             + ", ".join(f"{e:.3g}" for e in c["epsilons"]) + f". Fixed for speed: {c.get('fixed', {})}."]
    if is_degenerate(c):
        lines += ["", f"The final population is degenerate (effective sample size "
                  f"{c['effective_sample_size']:.1f} of {c['population']}): the estimate is close to one "
                  "accepted particle and the intervals below understate the uncertainty (docs/performance.md)."]
    point = c.get("point_estimate", {"method": "weighted posterior median"})
    lines += ["", f"Point estimate (what `calibrated.toml` holds): {describe_point_estimate(point)}"
              + " Parameters not listed keep their defaults in `model/params.py` (their docstrings say why)."]
    median = c.get("posterior_median", c["estimate"])
    lines += ["", "| parameter | prior | estimate | weighted posterior median | 90% posterior interval |",
              "|---|---|---|---|---|"]
    for k, v in c["estimate"].items():
        lo, hi = c["interval_90"][k]
        plo, phi = c["priors"][k]
        lines.append(f"| `{k}` | {plo:g} to {phi:g} | {v:.4g} | {median[k]:.4g} | {lo:.4g} to {hi:.4g} |")
    lines += ["", "![calibration convergence](img/calibration_convergence.png)"]
    return lines


def _band(ax, df: pd.DataFrame, col: str, label: str | None = None, color: str = "#444", scale: float = 1.0):
    g = df.groupby("year")[col]
    q = g.quantile([0.05, 0.5, 0.95]).unstack() / scale
    ax.fill_between(q.index, q[0.05], q[0.95], color=color, alpha=0.25, lw=0)
    ax.plot(q.index, q[0.5], color=color, lw=2, label=label)


def _point(ax, year, lo, hi, label, scale=1.0):
    mid = 0.5 * (lo + hi) / scale
    ax.errorbar([year], [mid], yerr=[[mid - lo / scale], [hi / scale - mid]], fmt="o", color="crimson",
                capsize=3, label=label)


def make_figures(cy: pd.DataFrame, targets: list[Target], img: Path, prefix: str = "validation") -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..figures import REGION_COLOURS
    from ..run import region_year_table

    img.mkdir(parents=True, exist_ok=True)
    by_id = {t.id: t for t in targets}
    names = []

    ry = pd.concat([region_year_table(g).assign(run=r) for r, g in cy.groupby("run")])
    fig, ax = plt.subplots(figsize=(7, 4))
    for region, colour in REGION_COLOURS.items():
        _band(ax, ry[ry["region"] == region], "employment_share", region, colour)
    t = by_id.get("east_share_2015")
    if t:
        _point(ax, t.year, t.low, t.high, "coastal 2015 band (east_share_2015)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of SO employment")
    ax.set_title("Regional shift, median and 90% band over seeds")
    ax.legend(fontsize=7)
    fig.tight_layout()
    names.append(f"{prefix}_regional_shift.png")
    fig.savefig(img / names[-1], dpi=110)
    plt.close(fig)

    nj = cy[cy["city"] == "Neijiang"].copy()
    cd = cy[cy["city"] == "Chengdu"].set_index(["run", "year"])["mean_wage_cny"]
    nj["wage_ratio"] = nj["mean_wage_cny"].to_numpy() / cd.loc[list(zip(nj["run"], nj["year"]))].to_numpy()
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    panels = [("firms", 1, "SO establishments", ["nj_firms_2021", "dx_firms_2023"]),
              ("employment", 1, "SO employment (persons)", []),
              ("park_staff", 1, "park staff (persons)", ["nj_park_staff_2021", "nj_park_staff_2023"]),
              ("output_cny", 1e8, "SO output (100 million CNY)", ["nj_volume_2020", "dx_execution_2022"]),
              ("wage_ratio", 1, "SO wage, Neijiang / Chengdu", ["nj_wage_ratio"]),
              ("young_share", 1, "staff shares: young (grey), local (blue)", ["nj_young_share", "nj_local_share"])]
    for ax, (col, scale, title, ids) in zip(axes.ravel(), panels):
        _band(ax, nj, col, scale=scale)
        if col == "young_share":
            _band(ax, nj, "local_share", color="tab:blue")
        for i in ids:
            t = by_id[i]
            _point(ax, t.year, t.low, t.high, f"{i} band", scale)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(2005, nj["year"].max())
        if ids:
            ax.legend(fontsize=6)
    fig.suptitle("Neijiang: model median and 90% band over seeds; observed bands in red")
    fig.tight_layout()
    names.append(f"{prefix}_neijiang.png")
    fig.savefig(img / names[-1], dpi=110)
    plt.close(fig)

    for city, years, ids, fname in [
        ("Nanchang", (2007, 2012), ["nc_new_firms_2010", "nc_new_jobs_2010", "nc_contracts_2010"], "nanchang"),
        ("Wuxi", (2005, 2015), ["wx_top_firms"], "wuxi"),
    ]:
        d = cy[(cy["city"] == city) & cy["year"].between(*years)].copy()
        d = d.sort_values(["run", "year"])
        d["employment_change"] = d.groupby("run")["employment"].diff()
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for ax, (col, scale, title) in zip(axes, [("new_firms", 1, "new SO establishments"),
                                                  ("employment_change" if city == "Nanchang" else "employment", 1,
                                                   "SO employment increase" if city == "Nanchang" else "SO employment"),
                                                  ("output_cny", 1e8, "SO output (100 million CNY)")]):
            _band(ax, d.dropna(subset=[col]), col, scale=scale)
            for i in ids:
                t = by_id[i]
                if (t.column == col or (t.transform == "change" and col == "employment_change")) and years[0] <= t.year <= years[1]:
                    _point(ax, t.year, t.low, t.high, f"{i} band", scale)
            ax.set_title(title, fontsize=9)
            ax.legend(fontsize=6) if ax.get_legend_handles_labels()[0] else None
        fig.suptitle(f"{city} {years[0]}-{years[1]}: model median and 90% band; observed bands in red")
        fig.tight_layout()
        names.append(f"{prefix}_{fname}.png")
        fig.savefig(img / names[-1], dpi=110)
        plt.close(fig)
    return names


def validate(scenario: Path, targets_path: Path, *, client: Any, seeds: int, root_seed: int, out: Path,
             doc: Path, command: str, overrides: list[str] | None = None, progress: bool = True) -> pd.DataFrame:
    from ..provenance import code_provenance as provenance
    from ..run import region_year_table

    targets = load_targets(targets_path)
    params = load_scenario(scenario, overrides or [])
    seed_list = seeds_from(root_seed, seeds)
    tables = run_many(client, [(params, s) for s in seed_list], "validate", progress)
    per_run = pd.DataFrame([evaluate(targets, cy, region_year_table(cy)) for cy in tables])
    per_run.insert(0, "seed", seed_list)
    summary = summarise(targets, per_run)
    out.mkdir(parents=True, exist_ok=True)
    per_run.to_csv(out / "targets_per_run.csv", index=False, float_format="%.6g")
    summary.to_csv(out / "summary.csv", index=False, float_format="%.6g")
    cy = pd.concat([t.assign(run=i) for i, t in enumerate(tables)], ignore_index=True)
    cy.to_parquet(out / "city_year.parquet", index=False)
    prov = provenance()
    (out / "run.json").write_text(json.dumps({"scenario": str(scenario), "overrides": overrides or [],
                                              "seeds": seed_list, "root_seed": root_seed,
                                              "params": params.to_dict(), **prov}, indent=2, default=str))
    figures = make_figures(cy, targets, doc.parent / "img")
    write_report(summary, doc, scenario=scenario, seeds=seeds, command=command, prov=prov, figures=figures,
                 calibrated=REPO / "experiments" / "calibrated.toml")
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, 20, "results/validation")
    parser.add_argument("--targets", default=str(TARGETS_FILE), metavar="FILE", help="targets file")
    parser.add_argument("--doc", default=str(DEFAULT_DOC), metavar="MD", help="report (default docs/validation.md)")


def run_cli(args: argparse.Namespace) -> int:
    scenario = scenario_from(args)
    load_targets(args.targets)
    load_scenario(scenario, args.overrides)
    client, cluster = connect_from(args)
    try:
        s = validate(scenario, Path(args.targets), client=client, seeds=args.seeds, root_seed=args.root_seed,
                     out=Path(args.out), doc=Path(args.doc), command="outsourcing-abm validate",
                     overrides=args.overrides, progress=not args.quiet)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"{int(s['pass'].sum())} of {len(s)} targets pass; wrote {args.doc}")
    for _, r in s[~s["pass"]].iterrows():
        print(f"  FAIL {r['id']}: {failure_reason(r)}")
    return 0
