"""ABC-SMC estimation of the free parameters on Dask (``outsourcing-abm calibrate``).

Approximate Bayesian computation with sequential Monte Carlo against the targets of a targets
file: uniform priors from its ``[calibration.priors]`` table, a distance that is the weighted
mean squared deviation of each target from the centre of its tolerance band in half-widths
(``model.study.targets.distance``), and several seeds per particle (the distance uses the mean
of their target values). The sampler (``model.study.abc_smc``) keeps equal weights and moves
particles by MCMC; each of its batches of particles runs on the executor
(``model.study.executor.run_jobs``), in job order, so a calibration gives the same posterior on
any number of workers. Each finished generation is saved in the output folder
(``abc_generations.json``), so ``resume`` continues an interrupted calibration from there.

Everything goes into the output folder: ``posterior.csv`` (final population with weights),
``populations.csv`` (every generation), ``convergence.png``, ``calibration.json`` (the provenance
record: settings, wall time, model runs, estimate), ``calibrated.toml`` (the point estimate, a
scenario file) and ``rescore/`` (the rescoring runs). ``publish`` copies them to where the
committed calibration lives, atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import InputError, shorten
from ..core.params import RANGES, Params
from ..files import check_writable, copy_atomic, write_json_atomic, write_text_atomic
from ..provenance import code_provenance, record
from . import abc_smc
from .calibration_record import effective_sample_size, record_performance, write_calibrated
from .executor import run_jobs
from .inputs import PATH_MAX, read_toml
from .manifest import Job, RunFolder, jobs_digest
from .plots import pyplot, save
from .scenarios import load_scenario
from .seeds import particle_seeds, seeds_from
from .targets import Fit, Target, distance, evaluate, fit, load_targets

#: Names that mark a folder as a calibration's (which --resume may continue).
CALIBRATION_FILES = ("abc_generations.json", "calibration.json", "inputs.json")

#: Where a calibration saves each finished generation (positions in the unit cube, distances), for --resume.
STATE_FILE = "abc_generations.json"

SAMPLER = ("replenishment ABC-SMC with MCMC moves (Drovandi & Pettitt 2011), equal weights, "
           "on the prior's unit cube")

# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def load_settings(path: Path) -> dict[str, Any]:
    """The ``[calibration]`` table of the targets file, checked (InputError names the file and field)."""
    raw = read_toml(path, "--targets").get("calibration")
    try:
        return _settings(raw)
    except InputError as e:
        raise InputError(f"--targets {shorten(path, PATH_MAX)}: {e}") from None


def _settings(raw: Any) -> dict[str, Any]:
    if not raw:
        raise InputError("calibration: the file has no [calibration] table")
    if not isinstance(raw, dict):
        raise InputError("calibration: expected a table [calibration]")
    priors = raw.get("priors") or {}
    if not isinstance(priors, dict) or not priors:
        raise InputError("calibration.priors: expected a table naming one or more free parameters")
    for name, bounds in priors.items():
        if name not in RANGES:
            raise InputError(f"calibration.priors.{shorten(name)}: unknown parameter (see `outsourcing-abm params`)")
        lo, hi = RANGES[name]
        if (not isinstance(bounds, list) or len(bounds) != 2 or not all(_number(b) for b in bounds)
                or not lo <= bounds[0] < bounds[1] <= hi):
            raise InputError(f"calibration.priors.{name}: expected [low, high] with {lo} <= low < high <= {hi}, "
                             f"got {shorten(repr(bounds))}")
    for key in ("population", "generations", "seeds"):
        v = raw.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"calibration.{key}: expected a whole number of at least 1, got {shorten(repr(v))}")
    for key, default, least in (("rescore_particles", 0, 0), ("rescore_seeds", 20, 1),
                                ("refine_sweeps", 3, 0), ("refine_seeds", 4, 1)):
        v = raw.setdefault(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise InputError(f"calibration.{key}: expected a whole number of at least {least}, got {shorten(repr(v))}")
    for key, default, least in (("moves", 4, 1),):
        v = raw.setdefault(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise InputError(f"calibration.{key}: expected a whole number of at least {least}, got {shorten(repr(v))}")
    for key, default, lo, hi in (("move_scaling", 1.0, 0.05, 4), ("keep_fraction", 0.5, 0.1, 0.9),
                                 ("refine_step", 0.25, 0.01, 0.5),
                                 ("refine_min_gain", 0.02, 0.0, 1.0)):
        v = raw.setdefault(key, default)
        if not _number(v) or not lo <= v <= hi:
            raise InputError(f"calibration.{key}: expected a number from {lo} to {hi}, got {shorten(repr(v))}")
    if not isinstance(raw.get("scenario", "baseline.toml"), str):
        raise InputError(f"calibration.scenario: expected a file name, got {shorten(repr(raw['scenario']))}")
    if not isinstance(raw.get("fixed", {}), dict):
        raise InputError("calibration.fixed: expected a table of parameter = value")
    return raw


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


# ---------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------

@dataclass
class Setup:
    """What one calibration runs: settings, targets, priors, sizes, the base parameters."""

    settings: dict[str, Any]
    targets: list[Target]
    priors: dict[str, list[float]]
    population: int
    generations: int
    seeds: int
    root_seed: int
    base: Params
    overrides: list[str]

    def identity(self) -> dict[str, Any]:
        """What a calibration folder is started with and resumed only with (generations may grow)."""
        from .. import __version__

        key = json.dumps([self.priors, self.population, self.seeds, self.root_seed, self.base.to_dict(),
                          [t.__dict__ for t in self.targets],
                          {k: v for k, v in self.settings.items() if k != "generations"}],
                         sort_keys=True, default=str)
        return {"kind": "calibration", "digest": hashlib.sha256(key.encode()).hexdigest(), "version": __version__,
                "overrides": self.overrides, "differs": "the targets, priors, population, seeds or scenario"}


def setup(targets_path: Path, *, overrides: list[str] | None = None, population: int | None = None,
          generations: int | None = None, seeds: int | None = None,
          priors: dict[str, list[float]] | None = None, targets: list[Target] | None = None) -> Setup:
    """The calibration a targets file (and the command line's choices) asks for, checked."""
    settings = load_settings(targets_path)
    if "scenario" not in settings:
        raise InputError("calibration.scenario: missing (the scenario to calibrate, relative to the targets file)")
    fixed = [f"{k}={v}" for k, v in settings.get("fixed", {}).items()]
    overrides = list(overrides or [])
    return Setup(settings, targets if targets is not None else load_targets(targets_path),
                 priors or settings["priors"], population or settings["population"],
                 generations or settings["generations"], seeds or settings["seeds"],
                 int(settings.get("root_seed", 0)),
                 load_scenario(targets_path.parent / settings["scenario"], [*fixed, *overrides]), overrides)


def check_out(out: Path, s: Setup, resume: bool) -> None:
    """An InputError before anything runs unless ``out`` is new, empty, or (with ``resume``) a
    calibration started with the same inputs."""
    check_writable(out, owned=CALIBRATION_FILES)
    if (out / STATE_FILE).exists() and not resume:
        raise InputError(f"--out: {out} already holds a calibration ({STATE_FILE}); use --resume to continue it or another folder")
    RunFolder(out).check(s.identity(), resume, what="a calibration")


def evaluator(s: Setup, client: Any, progress: bool) -> abc_smc.Evaluate:
    """Unit-cube positions -> ABC distance of each, every particle's seeds run as one batch on the
    executor (in job order, so the distances do not depend on the number of workers)."""
    from dataclasses import replace

    from ..run import region_year_table

    names = list(s.priors)

    def evaluate_units(unit: np.ndarray, label: str) -> np.ndarray:
        thetas = [from_unit({k: float(u[i]) for i, k in enumerate(names)}, s.priors) for u in unit]
        jobs = [Job(f"{label}-p{p:03d}-s{j}", replace(s.base, **theta), seed)
                for p, theta in enumerate(thetas) for j, seed in enumerate(particle_seeds(theta, s.root_seed, s.seeds))]
        tables = run_jobs(client, jobs, label=f"calibration {label}", progress=progress).tables(f"calibration {label}")
        values = pd.DataFrame([evaluate(s.targets, cy, region_year_table(cy)) for cy in tables])
        n = s.seeds
        return np.array([distance(s.targets, mean_targets(values.iloc[p * n:(p + 1) * n])) for p in range(len(unit))])

    return evaluate_units


def _generations(s: Setup, out: Path, client: Any, progress: bool) -> list[abc_smc.Generation]:
    """Run (or continue from ``out``'s saved generations) the sampler to ``s.generations``
    generations after the prior; each finished generation is saved at once."""
    state = out / STATE_FILE
    done = ([abc_smc.Generation.from_dict(g) for g in json.loads(state.read_text(encoding="utf-8"))["generations"]]
            if state.exists() else [])

    def save(gens: list[abc_smc.Generation]) -> None:
        write_json_atomic(state, {"parameters": list(s.priors), "generations": [g.to_dict() for g in gens]})

    return abc_smc.run(evaluator(s, client, progress), n=s.population, dim=len(s.priors),
                       generations=s.generations, root_seed=s.root_seed, done=done[:s.generations + 1],
                       keep_fraction=float(s.settings["keep_fraction"]), moves=int(s.settings["moves"]),
                       move_scaling=float(s.settings["move_scaling"]), on_generation=save)


def _populations(gens: list[abc_smc.Generation], priors: dict[str, list[float]]) -> list[pd.DataFrame]:
    pops = []
    for g in gens:
        df = pd.DataFrame(from_unit({k: g.unit[:, i] for i, k in enumerate(priors)}, priors))
        pops.append(df.assign(weight=1.0 / len(df), distance=g.distance, generation=g.t))
    return pops


def calibrate(targets_path: Path, out: Path, *, client: Any, resume: bool = False,
              overrides: list[str] | None = None, population: int | None = None,
              generations: int | None = None, seeds: int | None = None,
              write: Path | None = None, posterior_copy: Path | None = None,
              priors: dict[str, list[float]] | None = None,
              targets: list[Target] | None = None, command: str | None = None,
              rescore: bool = True, progress: bool = True) -> dict[str, Any]:
    """Run (or continue) ABC-SMC; write the outputs into ``out`` (and the point estimate also to
    ``write``, the final population also to ``posterior_copy``, where given); return the summary
    (also calibration.json). ``client``: a Dask client to simulate on, or None to simulate in
    this process. ``rescore=False``: the point estimate is the posterior median, not rescored
    (for a backtest, which uses only the posterior)."""
    code = code_provenance()
    s = setup(targets_path, overrides=overrides, population=population, generations=generations, seeds=seeds,
              priors=priors, targets=targets)
    if not rescore:
        s.settings = {**s.settings, "rescore_particles": 0}
    check_out(out, s, resume)
    folder = RunFolder(out)
    folder.start(s.identity())
    folder.close()
    gens = _generations(s, out, client, progress)
    # Wall time of the finished generations as each recorded it, so that it survives interruptions and resumes.
    seconds = float(sum(g.wall_time_s for g in gens))
    pops = _populations(gens, s.priors)
    populations = pd.concat(pops, ignore_index=True)
    write_text_atomic(out / "populations.csv", populations.to_csv(index=False, float_format="%.6g"))
    final = pops[-1]
    posterior = final.drop(columns=["generation", "distance"]).to_csv(index=False, float_format="%.6g")
    write_text_atomic(out / "posterior.csv", posterior)
    if posterior_copy is not None:
        write_text_atomic(posterior_copy, posterior)
    w = final["weight"].to_numpy()
    median = {k: weighted_quantile(final[k].to_numpy(), w, 0.5) for k in s.priors}
    intervals = {k: [weighted_quantile(final[k].to_numpy(), w, q) for q in (0.05, 0.95)] for k in s.priors}
    estimate, point = point_estimate(final[[*s.priors, "distance"]], median, s.priors, s.base, s.targets, s.settings,
                                     s.root_seed, client, folder=out / "rescore", resume=resume)
    sims = int(sum(g.evaluations for g in gens))
    summary = record(
        code=code, command=command, scenario=s.settings["scenario"], params=s.base, overrides=s.overrides,
        seeds=point.get("seeds", []), targets_file=str(targets_path), fixed=s.settings.get("fixed", {}),
        fitted_targets=[t.id for t in s.targets if t.weight > 0],
        priors=s.priors, sampler=SAMPLER, population=s.population, generations=gens[-1].t,
        seeds_per_particle=s.seeds, keep_fraction=float(s.settings["keep_fraction"]), moves=int(s.settings["moves"]),
        move_scaling=float(s.settings["move_scaling"]), root_seed=s.root_seed, particles_simulated=sims,
        model_runs=sims * s.seeds, wall_time_s=round(seconds, 1),
        epsilons=[g.epsilon for g in gens[1:]],
        move_acceptance=[g.acceptance for g in gens[1:]],
        distinct_particles=[g.distinct for g in gens],
        estimate=estimate, posterior_median=median, point_estimate=point, interval_90=intervals,
        effective_sample_size=effective_sample_size(w),
        effective_sample_sizes=[effective_sample_size(g["weight"].to_numpy()) for g in pops])
    write_json_atomic(out / "calibration.json", summary)
    plot_convergence(populations, gens, s.priors, out / "convergence.png")
    write_calibrated(out / "calibrated.toml", summary)
    if write is not None:
        write_calibrated(write, summary)
    return summary


def publish(out: Path, *, calibrated: Path, posterior: Path, record_file: Path, convergence: Path,
            performance_doc: Path | None, where: str) -> list[Path]:
    """Copy a finished calibration from ``out`` to where the committed one lives, each file
    atomically; and rewrite the "## Calibration" section of ``performance_doc``."""
    written = [copy_atomic(out / "calibrated.toml", calibrated), copy_atomic(out / "posterior.csv", posterior),
               copy_atomic(out / "calibration.json", record_file), copy_atomic(out / "convergence.png", convergence)]
    if performance_doc is not None:
        record_performance(json.loads((out / "calibration.json").read_text(encoding="utf-8")), where, performance_doc)
        written.append(performance_doc)
    return written


def point_estimate(scored: pd.DataFrame, median: dict[str, float],
                   priors: dict[str, list[float]], base: Params, targets: list[Target], settings: dict[str, Any],
                   root_seed: int, client: Any, folder: Path | None = None,
                   resume: bool = False) -> tuple[dict[str, float], dict[str, Any]]:
    """The parameter set the calibrated scenario runs with, and how it was chosen.

    The weighted marginal medians need not fit: with a posterior that is broad in several
    directions at once, their combination can sit between the good regions. So the
    ``rescore_particles`` final particles (rows of ``scored``: parameter values and ``distance``)
    with the smallest ABC distance and the medians are each
    run again over the same ``rescore_seeds`` seeds (common random numbers, so that the
    comparison is not seed luck), and the one whose mean targets miss the fewest fitted bands,
    and of those lie closest, is taken. With
    ``rescore_particles = 0`` the medians are the estimate. ``folder``: where the rescoring
    runs are recorded (and, with ``resume``, kept from an interrupted calibration)."""
    k = int(settings["rescore_particles"])
    if k == 0:
        return median, {"method": "weighted posterior median"}
    distances = scored["distance"].to_numpy()
    best = np.argsort(distances, kind="stable")[:k]
    candidates = [{n: float(scored[n].iloc[i]) for n in priors} for i in best]
    candidates.append({n: float(v) for n, v in median.items()})
    # [root_seed, 1]: a stream of its own, apart from the particles' seeds (particle_seeds).
    seeds = seeds_from([root_seed, 1], settings["rescore_seeds"])
    scores = rescore(candidates, base, targets, seeds, client, folder=folder, resume=resume)
    chosen = min(range(len(scores)), key=scores.__getitem__)
    labels = [f"particle {int(i)}" for i in best] + ["weighted posterior median"]
    return candidates[chosen], {
        "method": (f"fewest fitted targets missed, then lowest distance, of the mean targets over {len(seeds)} "
                   f"common seeds among the {len(best)} final "
                   "particles with the smallest ABC distance and the weighted posterior median"),
        "chosen": labels[chosen], "seeds": seeds,
        "candidates": [{"candidate": lab, "abc_distance": float(distances[i]) if j < len(best) else None,
                        "rescored_misses": sc.misses, "rescored_distance": sc.distance}
                       for j, (lab, i, sc) in enumerate(zip(labels, [*best, -1], scores))],
    }


def rescore(candidates: list[dict[str, float]], base: Params, targets: list[Target], seeds: list[int],
            client: Any, folder: Path | None = None, resume: bool = False) -> list[Fit]:
    """Fit (targets missed, distance) of each candidate's mean target values over ``seeds``, run on the
    executor (in this process when ``client`` is None). With ``folder`` the runs are recorded
    there; a resumed calibration keeps those of the same candidates and seeds."""
    from dataclasses import replace

    from .. import __version__
    from ..run import region_year_table

    jobs = [Job(f"c{c:03d}-s{j:03d}", replace(base, **theta), seed)
            for c, theta in enumerate(candidates) for j, seed in enumerate(seeds)]
    rf = None
    if folder is not None:
        ident = {"kind": "rescore", "digest": jobs_digest(jobs), "version": __version__, "overrides": []}
        rf = RunFolder(folder)
        if rf.holds_runs() and (not resume or (rf.recorded() or {}).get("digest") != ident["digest"]):
            # other candidates than an interrupted calibration's: their runs do not count
            import shutil

            shutil.rmtree(folder)
        rf.start(ident)
    try:
        tables = run_jobs(client, jobs, folder=rf, label="rescore", progress=False).tables("rescore", folder)
    finally:
        if rf is not None:
            rf.close()
    values = pd.DataFrame([evaluate(targets, cy, region_year_table(cy)) for cy in tables])
    n = len(seeds)
    return [fit(targets, mean_targets(values.iloc[j * n:(j + 1) * n])) for j in range(len(candidates))]


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x)
    x, w = x[order], w[order]
    cw = np.cumsum(w) / w.sum()
    return float(x[min(np.searchsorted(cw, q), len(x) - 1)])


def plot_convergence(populations: pd.DataFrame, gens: list[abc_smc.Generation], priors: dict[str, list[float]],
                     path: Path) -> None:
    plt = pyplot()
    names = list(priors)
    ncol = 3
    nrow = 1 + math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 2.6 * nrow))
    later = gens[1:]
    ax = axes[0, 0]
    ax.plot([g.t for g in later], [g.epsilon for g in later], "o-")
    ax.set_yscale("log")
    ax.set_title("tolerance epsilon")
    ax.set_xlabel("generation")
    ax = axes[0, 1]
    ax.plot([g.t for g in later], [g.acceptance for g in later], "o-")
    ax.set_title("MCMC move acceptance rate")
    ax.set_xlabel("generation")
    ax = axes[0, 2]
    ax.plot([g.t for g in gens], [g.distinct for g in gens], "o-")
    ax.set_ylim(0, max(g.distinct for g in gens) * 1.05)
    ax.set_title("distinct particles")
    ax.set_xlabel("generation")
    ts = sorted(populations["generation"].unique())
    for i, name in enumerate(names):
        ax = axes[1 + i // ncol, i % ncol]
        q = [[weighted_quantile(g[name].to_numpy(), g["weight"].to_numpy(), p) for p in (0.05, 0.5, 0.95)]
             for _, g in populations.groupby("generation")]
        q = np.array(q)
        ax.fill_between(ts, q[:, 0], q[:, 2], alpha=0.3)
        ax.plot(ts, q[:, 1], "o-")
        ax.set_ylim(*priors[name])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("generation")
    for j in range(len(names), (nrow - 1) * ncol):
        axes[1 + j // ncol, j % ncol].axis("off")
    fig.suptitle("ABC-SMC (MCMC moves) convergence: posterior median and 90% band per generation (y axis: prior range)")
    save(fig, path)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

