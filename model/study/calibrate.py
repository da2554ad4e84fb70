"""``outsourcing-abm calibrate``: ABC-SMC estimation of the free parameters on Dask.

Approximate Bayesian computation with sequential Monte Carlo (pyabc) against the targets in
``experiments/targets.toml``: uniform priors from its ``[calibration.priors]`` table, a
distance that is the weighted mean squared deviation of each target from the centre of its
tolerance band in half-widths (``model.targets.distance``), and several seeds per particle
(the distance uses the mean of their target values). Simulations run on the same Dask
executor as sweeps (a LocalCluster, or ``--scheduler``). pyabc keeps every generation in an
SQLite database in the output folder, so ``--resume`` continues an interrupted calibration
from its last finished generation.

Writes ``OUT/posterior.csv`` (final population with weights), ``OUT/populations.csv`` (every
generation), ``OUT/convergence.png``, ``OUT/calibration.json`` (settings, provenance, wall
time, number of model runs) and the point estimate (weighted posterior median) into
``experiments/calibrated.toml``, which ``baseline.toml`` and ``no_policy.toml`` inherit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.params import RANGES, Params
from .scenarios import load_scenario
from .targets import TARGETS_FILE, Target, distance, evaluate, load_targets
from .validate import run_many, seeds_from

EXPERIMENTS = TARGETS_FILE.parent
CALIBRATED = EXPERIMENTS / "calibrated.toml"
POSTERIOR = EXPERIMENTS / "posterior.csv"
CONVERGENCE_PNG = EXPERIMENTS.parent / "docs" / "img" / "calibration_convergence.png"


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

def load_settings(path: Path) -> dict[str, Any]:
    """The ``[calibration]`` table of the targets file, checked (InputError names the field)."""
    raw = tomllib.loads(path.read_text()).get("calibration")
    if not raw:
        raise InputError(f"calibration: {path.name} has no [calibration] table")
    priors = raw.get("priors") or {}
    if not priors:
        raise InputError(f"calibration.priors: {path.name} names no free parameter")
    for name, bounds in priors.items():
        if name not in RANGES:
            raise InputError(f"calibration.priors.{name}: unknown parameter (see `outsourcing-abm params`)")
        lo, hi = RANGES[name]
        if (not isinstance(bounds, list) or len(bounds) != 2 or not lo <= bounds[0] < bounds[1] <= hi):
            raise InputError(f"calibration.priors.{name}: expected [low, high] with {lo} <= low < high <= {hi}, got {bounds!r}")
    for key in ("population", "generations", "seeds"):
        if not isinstance(raw.get(key), int) or raw[key] < 1:
            raise InputError(f"calibration.{key}: expected a whole number of at least 1, got {raw.get(key)!r}")
    for key, default, least in (("rescore_particles", 0, 0), ("rescore_seeds", 20, 1)):
        v = raw.setdefault(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise InputError(f"calibration.{key}: expected a whole number of at least {least}, got {v!r}")
    scaling = raw.setdefault("kernel_scaling", 1.0)
    if isinstance(scaling, bool) or not isinstance(scaling, int | float) or not 0.5 <= scaling <= 10:
        raise InputError(f"calibration.kernel_scaling: expected a number from 0.5 to 10, got {scaling!r}")
    return raw


def particle_seeds(theta: dict[str, float], root_seed: int, n: int) -> list[int]:
    """Seeds for one particle: a function of its parameter values and the root seed only, so a
    particle gives the same simulated targets on any worker."""
    key = json.dumps({k: float(theta[k]) for k in sorted(theta)}, sort_keys=True).encode()
    entropy = int.from_bytes(hashlib.sha256(key).digest()[:8], "little")
    return seeds_from([root_seed, entropy], n)


def simulate_targets(theta: dict[str, float], base: Params, targets: list[Target], n_seeds: int,
                     root_seed: int) -> dict[str, float]:
    """Mean target values over ``n_seeds`` runs at parameters ``base`` with ``theta`` set.
    Undefined values (NaN) stay NaN only if every seed is undefined."""
    from dataclasses import replace

    from ..run import simulate

    theta = {k: float(v) for k, v in dict(theta).items()}
    params = replace(base, **theta)
    rows = []
    for seed in particle_seeds(theta, root_seed, n_seeds):
        res = simulate(params, seed)
        rows.append(evaluate(targets, res.city_year, res.region_year))
    return mean_targets(pd.DataFrame(rows))


def mean_targets(runs: pd.DataFrame) -> dict[str, float]:
    """Mean of each target over runs; NaN only if every run left it undefined."""
    return {k: (float(np.nanmean(v)) if np.isfinite(v).any() else math.nan) for k, v in runs.items()}


def from_unit(unit: dict[str, Any], priors: dict[str, list[float]]) -> dict[str, Any]:
    """Parameter values (numbers or columns) from their positions in the unit cube of the priors."""
    return {k: priors[k][0] + u * (priors[k][1] - priors[k][0]) for k, u in unit.items()}


class _Model:
    """Picklable pyabc model: position in the prior's unit cube -> mean target values.

    ABC-SMC runs on the unit cube so that its Gaussian perturbation kernel is well conditioned:
    on the raw scales (a rate of 1e-4 beside a logit weight of 3) the kernel's density underflows
    to zero and the importance weights break down."""

    def __init__(self, base: Params, targets: list[Target], n_seeds: int, root_seed: int,
                 priors: dict[str, list[float]]):
        self.base, self.targets, self.n_seeds, self.root_seed = base, targets, n_seeds, root_seed
        self.priors = priors

    def __call__(self, unit) -> dict[str, float]:
        theta = from_unit(dict(unit), self.priors)
        return simulate_targets(theta, self.base, self.targets, self.n_seeds, self.root_seed)


class _Distance:
    def __init__(self, targets: list[Target]):
        self.targets = targets

    def __call__(self, x: dict[str, float], x0: dict[str, float]) -> float:
        return distance(self.targets, x)


# ---------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------

def calibrate(targets_path: Path, out: Path, *, client: Any, resume: bool = False,
              overrides: list[str] | None = None, population: int | None = None,
              generations: int | None = None, seeds: int | None = None,
              write: Path | None = CALIBRATED, posterior_copy: Path | None = POSTERIOR,
              priors: dict[str, list[float]] | None = None,
              targets: list[Target] | None = None) -> dict[str, Any]:
    """Run (or continue) ABC-SMC; write the outputs; return the summary (also calibration.json).
    ``client``: a Dask client to simulate on, or None to simulate in this process."""
    import pyabc
    from pyabc.sampler import DaskDistributedSampler, SingleCoreSampler

    settings = load_settings(targets_path)
    targets = targets if targets is not None else load_targets(targets_path)
    priors = priors or settings["priors"]
    population = population or settings["population"]
    generations = generations or settings["generations"]
    seeds = seeds or settings["seeds"]
    root_seed = int(settings.get("root_seed", 0))
    fixed = [f"{k}={v}" for k, v in settings.get("fixed", {}).items()]
    base = load_scenario(targets_path.parent / settings["scenario"], [*fixed, *(overrides or [])])

    out.mkdir(parents=True, exist_ok=True)
    db = out / "abc.db"
    if db.exists() and not resume:
        raise InputError(f"--out: {out} already holds a calibration (abc.db); use --resume to continue it or another folder")
    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("pyabc").setLevel(logging.WARNING)
    np.random.seed(root_seed)  # pyabc draws its proposals from numpy's global generator

    prior = pyabc.Distribution(**{k: pyabc.RV("uniform", 0.0, 1.0) for k in priors})
    # On Dask, particles are accepted in the order they finish, so a calibration is reproducible
    # only in distribution; without a client it runs in this process and is exactly reproducible.
    sampler = DaskDistributedSampler(dask_client=client, batch_size=1) if client is not None else SingleCoreSampler()
    # A wider proposal kernel (pyabc multiplies Silverman's covariance by `scaling`) keeps the
    # importance weights (prior / proposal density) from piling onto a few particles, which in
    # 10+ dimensions they otherwise do.
    transition = pyabc.MultivariateNormalTransition(scaling=float(settings["kernel_scaling"]))
    abc = pyabc.ABCSMC(_Model(base, targets, seeds, root_seed, priors), prior, _Distance(targets),
                       population_size=population, sampler=sampler, transitions=transition)
    observed = {t.id: t.centre for t in targets}
    if db.exists():
        abc.load(f"sqlite:///{db}", 1)
        done = abc.history.max_t + 1
    else:
        abc.new(f"sqlite:///{db}", observed)
        done = 0
    todo = generations + 1 - done  # generation 0 samples the prior
    if todo > 0:
        abc.run(max_nr_populations=todo)
    history = abc.history
    # Wall time of the finished generations as pyabc recorded them, so that it survives
    # interruptions and resumes.
    seconds = float(history.get_all_populations()["wall_time"].sum())

    pops = []
    for t in range(history.max_t + 1):
        df, w = history.get_distribution(m=0, t=t)
        df = df.assign(**from_unit({k: df[k] for k in priors}, priors))
        pops.append(df.assign(weight=w, generation=t).reset_index(drop=True))
    populations = pd.concat(pops, ignore_index=True)
    populations.to_csv(out / "populations.csv", index=False, float_format="%.6g")
    final = pops[-1]
    final.drop(columns="generation").to_csv(out / "posterior.csv", index=False, float_format="%.6g")
    if posterior_copy is not None:
        final.drop(columns="generation").to_csv(posterior_copy, index=False, float_format="%.6g")
    median = {k: weighted_quantile(final[k].to_numpy(), final["weight"].to_numpy(), 0.5) for k in priors}
    intervals = {k: [weighted_quantile(final[k].to_numpy(), final["weight"].to_numpy(), q) for q in (0.05, 0.95)]
                 for k in priors}
    # Each final particle's parameters with its own ABC distance (read together, not lined up by row order).
    scored = pd.DataFrame([{**from_unit(dict(p.parameter), priors), "distance": p.distance}
                           for p in history.get_population(t=history.max_t).particles])
    estimate, point = point_estimate(scored, median, priors, base, targets, settings, root_seed, client)
    pops_info = history.get_all_populations()
    sims = int(history.total_nr_simulations)
    summary = {
        "targets_file": str(targets_path), "scenario": settings["scenario"], "fixed": settings.get("fixed", {}),
        "overrides": overrides or [], "priors": priors, "population": population, "generations": int(history.max_t),
        "seeds_per_particle": seeds, "kernel_scaling": float(settings["kernel_scaling"]), "root_seed": root_seed,
        "particles_simulated": sims,
        "model_runs": sims * seeds, "wall_time_s": round(seconds, 1),
        "epsilons": [float(e) for e in pops_info["epsilon"].tolist() if np.isfinite(e)],
        "estimate": estimate, "posterior_median": median, "point_estimate": point, "interval_90": intervals,
        "effective_sample_size": effective_sample_size(final["weight"].to_numpy()),
        "effective_sample_sizes": [effective_sample_size(g["weight"].to_numpy()) for g in pops],
        **_provenance(),
    }
    (out / "calibration.json").write_text(json.dumps(summary, indent=2, default=float))
    plot_convergence(populations, pops_info, priors, out / "convergence.png")
    if write is not None:
        write_calibrated(write, estimate, intervals, summary)
    return summary


def point_estimate(scored: pd.DataFrame, median: dict[str, float],
                   priors: dict[str, list[float]], base: Params, targets: list[Target], settings: dict[str, Any],
                   root_seed: int, client: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """The parameter set the calibrated scenario runs with, and how it was chosen.

    The weighted marginal medians need not fit: with a posterior that is broad in several
    directions at once, their combination can sit between the good regions. So the
    ``rescore_particles`` final particles (rows of ``scored``: parameter values and ``distance``)
    with the smallest ABC distance and the medians are each
    run again over the same ``rescore_seeds`` seeds (common random numbers, so that the
    comparison is not seed luck), and the one whose mean targets lie closest is taken. With
    ``rescore_particles = 0`` the medians are the estimate."""
    k = int(settings["rescore_particles"])
    if k == 0:
        return median, {"method": "weighted posterior median"}
    distances = scored["distance"].to_numpy()
    best = np.argsort(distances, kind="stable")[:k]
    candidates = [{n: float(scored[n].iloc[i]) for n in priors} for i in best]
    candidates.append({n: float(v) for n, v in median.items()})
    # [root_seed, 1]: a stream of its own, apart from the particles' seeds (particle_seeds).
    seeds = seeds_from([root_seed, 1], settings["rescore_seeds"])
    scores = rescore(candidates, base, targets, seeds, client)
    chosen = int(np.argmin(scores))
    labels = [f"particle {int(i)}" for i in best] + ["weighted posterior median"]
    return candidates[chosen], {
        "method": (f"lowest mean-target distance over {len(seeds)} common seeds among the {len(best)} final "
                   "particles with the smallest ABC distance and the weighted posterior median"),
        "chosen": labels[chosen], "seeds": seeds,
        "candidates": [{"candidate": lab, "abc_distance": float(distances[i]) if j < len(best) else None,
                        "rescored_distance": float(sc)}
                       for j, (lab, i, sc) in enumerate(zip(labels, [*best, -1], scores))],
    }


def rescore(candidates: list[dict[str, float]], base: Params, targets: list[Target], seeds: list[int],
            client: Any) -> list[float]:
    """Calibration distance of each candidate's mean target values over ``seeds``."""
    from dataclasses import replace

    from ..run import region_year_table, simulate

    jobs = [(replace(base, **theta), seed) for theta in candidates for seed in seeds]
    if client is None:
        tables = [simulate(p, seed).city_year for p, seed in jobs]
    else:
        tables = run_many(client, jobs, "rescore", progress=False)
    values = pd.DataFrame([evaluate(targets, cy, region_year_table(cy)) for cy in tables])
    n = len(seeds)
    return [distance(targets, mean_targets(values.iloc[j * n:(j + 1) * n])) for j in range(len(candidates))]


def describe_point_estimate(point: dict[str, Any]) -> str:
    """How the point estimate was chosen, as one sentence (calibrated.toml, validation.md)."""
    return point["method"] + (f"; chosen: {point['chosen']}." if "chosen" in point else ".")


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights (particles)."""
    w = weights / weights.sum()
    return float(1.0 / np.sum(w ** 2))


def is_degenerate(summary: dict[str, Any]) -> bool:
    """A final population whose effective sample size is under a tenth of its particles."""
    return summary.get("effective_sample_size", 0.0) < 0.1 * summary["population"]


def record_performance(summary: dict[str, Any], where: str) -> None:
    """The "## Calibration" section of docs/performance.md: wall time and model runs."""
    from ..files import replace_section

    runs, secs = summary["model_runs"], summary["wall_time_s"]
    body = (f"Measured by `outsourcing-abm calibrate` (commit {summary.get('git_commit', '?')}, "
            f"Python {summary.get('python', '?')}, {where}): "
            f"ABC-SMC with {summary['population']} particles, {summary['generations']} generations after the prior, "
            f"{summary['seeds_per_particle']} seeds per particle, proposal kernel covariance {summary.get('kernel_scaling', 1.0):g}x "
            f"Silverman's rule, at {summary['fixed']}.\n\n"
            f"| measure | value |\n|---|---|\n"
            f"| model runs | {runs} |\n| wall time | {secs:.0f} s ({secs / 60:.1f} min) |\n"
            f"| model runs per minute | {60 * runs / max(secs, 1e-9):.0f} |\n"
            f"| final tolerance (mean squared half-widths) | {summary['epsilons'][-1]:.3g} |\n"
            f"| effective sample size of the final population | {summary['effective_sample_size']:.1f} |\n")
    point = summary.get("point_estimate", {})
    if "candidates" in point:
        body += (f"\nPoint estimate: {len(point['candidates'])} candidates rerun over {len(point['seeds'])} common seeds "
                 f"({len(point['candidates']) * len(point['seeds'])} more model runs, not counted above); "
                 f"chosen: {point['chosen']}.\n")
    sizes = summary.get("effective_sample_sizes")
    if sizes:
        body += f"\nEffective sample size by generation: {', '.join(f'{e:.1f}' for e in sizes)}.\n"
    if is_degenerate(summary):
        body += ("\n**The final population is degenerate**: its importance weights sit on a few particles, so the "
                 "point estimate is close to a single accepted particle, the 90% intervals understate the "
                 "uncertainty, and forecasts drawn from this posterior carry little parameter uncertainty. "
                 "More particles, or a wider transition kernel, are the remedies.\n")
    replace_section(EXPERIMENTS.parent / "docs" / "performance.md", "## Calibration", body)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x)
    x, w = x[order], w[order]
    cw = np.cumsum(w) / w.sum()
    return float(x[min(np.searchsorted(cw, q), len(x) - 1)])


def _provenance() -> dict[str, Any]:
    from ..provenance import code_provenance as provenance

    return provenance()


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def write_calibrated(path: Path, estimate: dict[str, float], intervals: dict[str, list[float]],
                     summary: dict[str, Any]) -> None:
    """experiments/calibrated.toml: the point estimate, each with its 90% posterior interval."""
    lines = [
        "# Point estimate of the free parameters, written by `outsourcing-abm calibrate`",
        f"# ({summary['model_runs']} model runs, {summary['wall_time_s']:.0f} s, commit {summary.get('git_commit', '?')}).",
        f"# Point estimate: {describe_point_estimate(summary['point_estimate'])}",
        "# Comments give each parameter's 90% interval in the final ABC-SMC population (experiments/posterior.csv).",
        "# baseline.toml and no_policy.toml inherit this file. Targets: experiments/targets.toml.",
        'name = "calibrated"',
        f'description = "ABC-SMC point estimate ({summary["population"]} particles, {summary["generations"]} generations, '
        f'{summary["seeds_per_particle"]} seeds each; final epsilon {summary["epsilons"][-1]:.3g})."',
        "",
    ]
    for k, v in estimate.items():
        lo, hi = intervals[k]
        lines.append(f"{k} = {_sig(v)!r}   # 90%: {_sig(lo)} to {_sig(hi)}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def plot_convergence(populations: pd.DataFrame, pops_info: pd.DataFrame, priors: dict[str, list[float]],
                     path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(priors)
    ncol = 3
    nrow = 1 + math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 2.6 * nrow))
    info = pops_info[pops_info["t"] >= 0]
    ax = axes[0, 0]
    ax.plot(info["t"], info["epsilon"], "o-")
    ax.set_yscale("log")
    ax.set_title("tolerance epsilon")
    ax.set_xlabel("generation")
    ax = axes[0, 1]
    ax.plot(info["t"], info["particles"] / info["samples"], "o-")
    ax.set_title("acceptance rate")
    ax.set_xlabel("generation")
    axes[0, 2].axis("off")
    gens = sorted(populations["generation"].unique())
    for i, name in enumerate(names):
        ax = axes[1 + i // ncol, i % ncol]
        q = [[weighted_quantile(g[name].to_numpy(), g["weight"].to_numpy(), p) for p in (0.05, 0.5, 0.95)]
             for _, g in populations.groupby("generation")]
        q = np.array(q)
        ax.fill_between(gens, q[:, 0], q[:, 2], alpha=0.3)
        ax.plot(gens, q[:, 1], "o-")
        ax.set_ylim(*priors[name])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("generation")
    for j in range(len(names), (nrow - 1) * ncol):
        axes[1 + j // ncol, j % ncol].axis("off")
    fig.suptitle("ABC-SMC convergence: posterior median and 90% band per generation (y axis: prior range)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .sweep import add_cluster_arguments

    parser.add_argument("--targets", default=str(TARGETS_FILE), metavar="FILE",
                        help="targets and calibration set-up (default: experiments/targets.toml)")
    parser.add_argument("--out", default="results/calibration", metavar="DIR",
                        help="output folder: abc.db, posterior, convergence plot (default: results/calibration)")
    parser.add_argument("--population", type=int, metavar="N", help="particles per generation (default: the file's)")
    parser.add_argument("--generations", type=int, metavar="N", help="generations after the prior (default: the file's)")
    parser.add_argument("--seeds", type=int, metavar="N", help="runs per particle (default: the file's)")
    parser.add_argument("--write", default=str(CALIBRATED), metavar="TOML",
                        help="where to write the point estimate (default: experiments/calibrated.toml)")
    add_cluster_arguments(parser)


def run_cli(args: argparse.Namespace) -> int:
    from .sweep import cli_worker_memory, connect, default_workers

    for key in ("population", "generations", "seeds"):
        v = getattr(args, key)
        if v is not None and v < 1:
            raise InputError(f"--{key}: expected a whole number of at least 1, got {v}")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers: expected a whole number of at least 1, got {args.workers}")
    targets_path = Path(args.targets)
    if not targets_path.is_file():
        raise InputError(f"--targets: file not found: {targets_path}")
    load_settings(targets_path)
    load_targets(targets_path)
    if (Path(args.out) / "abc.db").exists() and not args.resume:
        raise InputError(f"--out: {args.out} already holds a calibration (abc.db); use --resume to continue it or another folder")
    client, cluster = connect(args.scheduler, args.workers or default_workers(), args.connect_timeout,
                              cli_worker_memory(args))
    try:
        s = calibrate(targets_path, Path(args.out), client=client, resume=args.resume, overrides=args.overrides,
                      population=args.population, generations=args.generations, seeds=args.seeds,
                      write=Path(args.write))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"calibration: {s['model_runs']} model runs in {s['wall_time_s']:.0f} s, "
          f"{s['generations']} generations, final epsilon {s['epsilons'][-1]:.3g}")
    for k, v in s["estimate"].items():
        lo, hi = s["interval_90"][k]
        print(f"  {k:28s} {v:.4g}   (90%: {lo:.4g} to {hi:.4g})")
    if Path(args.write).resolve() == CALIBRATED.resolve():
        # The committed estimate carries its convergence plot and summary into the docs.
        shutil.copy(Path(args.out) / "convergence.png", CONVERGENCE_PNG)
        shutil.copy(Path(args.out) / "calibration.json", EXPERIMENTS / "calibration.json")
        where = (f"Dask scheduler {args.scheduler}" if args.scheduler
                 else f"LocalCluster of {args.workers or default_workers()} workers on {os.cpu_count()} cores")
        record_performance(s, where)
    print(f"wrote {args.write} and {args.out}/posterior.csv, convergence.png, calibration.json")
    return 0
