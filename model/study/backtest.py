"""Temporal backtest: calibrate on the targets dated at or before a cutoff year, run posterior
draws x seeds forward with the policies that were in force (a forecast conditional on the
inputs: policies, national demand, known entries), and score every fitted target dated after the
cutoff against its predictive distribution.

``backtest(...)`` writes into its own folder ``out``: for every cutoff ``calibration-<cutoff>/``
(the reduced ABC-SMC run, its record ``calibration.json``) and ``runs-<cutoff>/`` (the forward
runs); ``backtest.csv`` (target, year, observed, p05, p25, p50, p75, p95, then cutoff, horizon,
inside_50, inside_90, ...), ``backtest.md`` (first line "N of M held-out targets inside the 90%
band" for the first cutoff), ``img/backtest<cutoff>_*.png`` and ``run.json``. ``publish`` copies
them where the committed backtest lives.

The observed value of a target is its ``point`` where the targets file gives one (the number the
source states), else the centre of its tolerance band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..files import copy_atomic, write_json_atomic, write_text_atomic
from ..provenance import code_provenance, record, short_commit
from .calibrate import STATE_FILE, calibrate, setup
from .calibration_record import effective_particles, sampler_of
from .executor import run_in_folder
from .forecast import posterior_draws
from .manifest import Job
from .seeds import seeds_from
from .targets import Target, evaluate, load_targets
from .validate import fmt_value, identity
from .validation_figures import make_figures

DEFAULT_CUTOFFS = (2019, 2015)
QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
REPORT, TABLE, IMG = "backtest.md", "backtest.csv", "img"
#: Confidence of the intervals reported around the coverage counts.
INTERVAL = 0.90


@dataclass(frozen=True)
class Split:
    cutoff: int
    fitted: list[Target]      # dated at or before the cutoff: what the reduced calibration sees
    held_out: list[Target]    # fitted targets (weight > 0) dated after it: what is scored


def split(targets: list[Target], cutoff: int) -> Split:
    """The targets on either side of ``cutoff``, or an InputError when a side has no fitted target."""
    fitted = [t for t in targets if t.year <= cutoff]
    held = [t for t in targets if t.year > cutoff and t.weight > 0]
    years = sorted({t.year for t in targets if t.weight > 0})
    if not any(t.weight > 0 for t in fitted):
        raise InputError(f"--cutoff: {cutoff} leaves no fitted target dated at or before it to calibrate on "
                         f"(fitted targets are dated {years[0]} to {years[-1]})")
    if not held:
        raise InputError(f"--cutoff: {cutoff} leaves no fitted target dated after it to score "
                         f"(fitted targets are dated {years[0]} to {years[-1]})")
    return Split(cutoff, fitted, held)


def observed_value(t: Target) -> float:
    return t.point if np.isfinite(t.point) else t.centre


def score(held_out: list[Target], per_run: pd.DataFrame, cutoff: int) -> pd.DataFrame:
    """One row per held-out target: observed, predictive quantiles over runs, inside the 50% and
    90% bands (a quantity undefined in every run scores as outside)."""
    rows = []
    for t in held_out:
        v = per_run[t.id].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        q = {k: float(np.quantile(v, p)) if len(v) else np.nan for k, p in QUANTILES.items()}
        obs = observed_value(t)
        rows.append({"target": t.id, "year": t.year, "observed": obs, **q, "cutoff": cutoff,
                     "horizon": t.year - cutoff, "inside_50": bool(q["p25"] <= obs <= q["p75"]),
                     "inside_90": bool(q["p05"] <= obs <= q["p95"]), "band_low": t.low, "band_high": t.high,
                     "defined_runs": len(v), "runs": len(per_run), "city": t.city or "all modelled cities",
                     "what": t.what, "gap": t.gap})
    return pd.DataFrame(rows)


def coverage_interval(k: int, m: int, confidence: float = INTERVAL) -> tuple[float, float]:
    """Clopper-Pearson interval of a coverage observed as ``k`` of ``m``."""
    from scipy.stats import beta

    a = (1 - confidence) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, m - k + 1))
    hi = 1.0 if k == m else float(beta.ppf(1 - a, k + 1, m - k))
    return lo, hi


def honest_range(m: int, nominal: float, confidence: float = INTERVAL) -> tuple[int, int]:
    """Counts of ``m`` targets inside a band of ``nominal`` coverage that honest bands give with
    ``confidence`` (binomial; targets taken as independent, which flatters the check)."""
    from scipy.stats import binom

    a = (1 - confidence) / 2
    return int(binom.ppf(a, m, nominal)), int(binom.ppf(1 - a, m, nominal))


def verdict(scores: pd.DataFrame) -> str:
    """Overconfident, uninformative or consistent with honest bands, from the two coverages."""
    m = len(scores)
    k90, k50 = int(scores["inside_90"].sum()), int(scores["inside_50"].sum())
    lo90, _ = honest_range(m, 0.9)
    lo50, hi50 = honest_range(m, 0.5)
    if k90 < lo90:
        return "overconfident: the 90% bands are too narrow (or the predictions biased)"
    if k50 > hi50:
        return "too wide to be informative: more targets fall inside the 50% band than honest bands give"
    if k50 < lo50:
        return "the 50% bands are too narrow (the 90% bands are consistent with honest ones)"
    return "consistent with honest bands"


@dataclass
class CutoffResult:
    split: Split
    scores: pd.DataFrame
    calibration: dict[str, Any]
    city_year: pd.DataFrame
    seeds: list[int]


def run_cutoff(targets_path: Path, out: Path, cutoff: int, *, client: Any, population: int, generations: int,
               seeds: int, draws: int, seeds_per_draw: int, root_seed: int, overrides: list[str], command: str,
               progress: bool, resume: bool) -> CutoffResult:
    """Reduced calibration on the targets dated at or before ``cutoff``, then its posterior forward."""
    from ..run import region_year_table

    sp = split(load_targets(targets_path), cutoff)
    cal_dir = out / f"calibration-{cutoff}"
    cal = calibrate(targets_path, cal_dir, client=client, resume=resume and (cal_dir / STATE_FILE).exists(),
                    overrides=overrides, population=population, generations=generations, seeds=seeds,
                    targets=sp.fitted, command=command, rescore=False, progress=progress)
    base = setup(targets_path, overrides=overrides).base
    d = posterior_draws(cal_dir / "posterior.csv", draws, root_seed + cutoff)
    seed_list = seeds_from(root_seed + cutoff, draws * seeds_per_draw)
    jobs = [Job(f"d{i:03d}-s{j:03d}", base.replace(**{k: float(v) for k, v in row.items()}),
                seed_list[i * seeds_per_draw + j]) for i, row in d.iterrows() for j in range(seeds_per_draw)]
    runs_dir = out / f"runs-{cutoff}"
    tables = run_in_folder(client, jobs, runs_dir, identity(f"backtest-{cutoff}", jobs, overrides),
                           label=f"backtest {cutoff}", progress=progress, resume=resume)
    per_run = pd.DataFrame([evaluate(sp.held_out, cy, region_year_table(cy)) for cy in tables])
    write_text_atomic(runs_dir / "targets_per_run.csv", per_run.to_csv(index=False, float_format="%.6g"))
    cy = pd.concat([t.assign(run=i) for i, t in enumerate(tables)], ignore_index=True)
    return CutoffResult(sp, score(sp.held_out, per_run, cutoff), cal, cy, seed_list)


def _coverage_lines(s: pd.DataFrame) -> list[str]:
    m = len(s)
    out = []
    for nominal, col in ((0.9, "inside_90"), (0.5, "inside_50")):
        k = int(s[col].sum())
        lo, hi = coverage_interval(k, m)
        a, b = honest_range(m, nominal)
        out.append(f"- inside the {nominal:.0%} band: **{k} of {m}** ({k / m:.0%}; {INTERVAL:.0%} interval "
                   f"{lo:.0%} to {hi:.0%}); honest bands would give {a} to {b} of {m}")
    return out


def _skill_by_horizon(s: pd.DataFrame) -> list[str]:
    s = s.assign(abs_log_error=np.abs(np.log(s["p50"].clip(lower=1e-12) / s["observed"].clip(lower=1e-12))))
    lines = ["| cutoff | horizon (years) | targets | inside 90% | inside 50% | median abs. log error of the median |",
             "|---|---|---|---|---|---|"]
    for (c, h), g in s.groupby(["cutoff", pd.cut(s["horizon"], [0, 2, 4, 8], labels=["1-2", "3-4", "5-8"])],
                               observed=True):
        lines.append(f"| {c} | {h} | {len(g)} | {int(g['inside_90'].sum())} | {int(g['inside_50'].sum())} | "
                     f"{g['abs_log_error'].median():.2f} |")
    return lines


def write_report(results: list[CutoffResult], doc: Path, *, header: str, figures: dict[int, list[str]]) -> None:
    first = results[0].scores
    lines = [f"{int(first['inside_90'].sum())} of {len(first)} held-out targets inside the 90% band",
             "", "# Temporal backtest", "", header, "",
             "Each cutoff's calibration sees only the targets dated at or before it (the same ABC-SMC and "
             "Dask executor as `outsourcing-abm calibrate`, with a reduced budget: see below). Its posterior "
             "draws x seeds then run forward with the inputs as they were: the documented city policies, "
             "national SO demand, the known entries. So this is a forecast conditional on the inputs, "
             "testing the mechanism, not the demand forecast. Every fitted target dated after the cutoff is "
             "scored against the predictive quantiles of its model quantity. The observed value is the "
             "source's number where the targets file gives it (`point`), else the centre of the tolerance "
             "band. A target is inside the 50% band when p25 <= observed <= p75, inside the 90% band when "
             "p05 <= observed <= p95.", ""]
    for r in results:
        s, c = r.scores, r.calibration
        lines += [f"## Cutoff {r.split.cutoff}: calibrated on {sum(t.weight > 0 for t in r.split.fitted)} fitted "
                  f"targets dated {r.split.cutoff} or earlier, scored on {len(s)} dated later", ""]
        lines += _coverage_lines(s)
        lines += [f"- verdict: **{verdict(s)}**",
                  f"- reduced calibration: {c['population']} particles, {c['generations']} generations after the "
                  f"prior ({sampler_of(c)}), {c['model_runs']} model runs in {c['wall_time_s']:.0f} s, "
                  f"{effective_particles(c):.0f} effective particles in the final population; forward runs: {s['runs'].iloc[0]} "
                  f"(posterior draws x seeds)", "",
                  "| target | year | city | observed | p05 | p25 | p50 | p75 | p95 | in 50% | in 90% |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, x in s.iterrows():
            lines.append(f"| `{x['target']}` | {x['year']} | {x['city']} | {fmt_value(x['observed'])} | {fmt_value(x['p05'])} | "
                         f"{fmt_value(x['p25'])} | {fmt_value(x['p50'])} | {fmt_value(x['p75'])} | {fmt_value(x['p95'])} | "
                         f"{'yes' if x['inside_50'] else 'no'} | {'yes' if x['inside_90'] else 'no'} |")
        missed = s[~s["inside_90"]]
        lines += ["", "Outside the 90% band, with what the targets file knows about why:", ""]
        lines += [f"- `{x['target']}` ({x['what']}): observed {fmt_value(x['observed'])}, predicted median "
                  f"{fmt_value(x['p50'])} (90%: {fmt_value(x['p05'])} to {fmt_value(x['p95'])}), "
                  f"{'above' if x['observed'] > x['p95'] else 'below'} the band."
                  + (f" {x['gap']}" if x["gap"] else "") for _, x in missed.iterrows()] or ["None."]
        lines += [""] + [f"![{f}]({IMG}/{f})" for f in figures.get(r.split.cutoff, [])] + [""]
    lines += ["## Skill by horizon", ""] + _skill_by_horizon(pd.concat([r.scores for r in results])) + [""]
    write_text_atomic(doc, "\n".join(lines) + "\n")


def backtest(targets_path: Path, out: Path, *, cutoffs: tuple[int, ...], client: Any, population: int,
             generations: int, seeds: int, draws: int, seeds_per_draw: int, root_seed: int, overrides: list[str],
             command: str, progress: bool = True, resume: bool = False, root: Path | None = None) -> list[CutoffResult]:
    """Every cutoff's backtest into ``out`` (see the module docstring); the results in cutoff order."""
    targets = load_targets(targets_path)
    for c in cutoffs:  # a cutoff that leaves a side empty fails before anything runs
        split(targets, c)
    code = code_provenance()
    out.mkdir(parents=True, exist_ok=True)
    results = [run_cutoff(targets_path, out, c, client=client, population=population, generations=generations,
                          seeds=seeds, draws=draws, seeds_per_draw=seeds_per_draw, root_seed=root_seed,
                          overrides=overrides, command=command, progress=progress, resume=resume) for c in cutoffs]
    table = pd.concat([r.scores for r in results], ignore_index=True)
    write_text_atomic(out / TABLE, table.to_csv(index=False, float_format="%.6g"))
    base = setup(targets_path, overrides=overrides).base
    figures = {r.split.cutoff: make_figures(r.city_year, r.split.held_out, out / IMG, base.focus_city,
                                            base.reference_cities, prefix=f"backtest{r.split.cutoff}")
               for r in results}
    rec = record(code=code, command=command, scenario=str(targets_path), params=base, overrides=overrides,
                 seeds={r.split.cutoff: r.seeds for r in results}, root_seed=root_seed, cutoffs=list(cutoffs),
                 population=population, generations=generations, seeds_per_particle=seeds, draws=draws,
                 seeds_per_draw=seeds_per_draw,
                 inside_90={r.split.cutoff: int(r.scores["inside_90"].sum()) for r in results},
                 inside_50={r.split.cutoff: int(r.scores["inside_50"].sum()) for r in results},
                 held_out={r.split.cutoff: len(r.scores) for r in results})
    write_json_atomic(out / "run.json", rec)
    shown = targets_path.relative_to(root) if root is not None and targets_path.is_relative_to(root) else targets_path
    ov = ", ".join(f"`{o}`" for o in overrides) or "none"
    header = (f"Generated by `{command}` from `{shown}`, cutoffs {', '.join(map(str, cutoffs))}, root seed {root_seed} "
              f"(every seed is in `run.json`), overrides: {ov}; outsourcing-abm {rec['provenance'].get('version')}, "
              f"commit {short_commit(rec['provenance'].get('git', {}))}. Do not edit by hand.")
    write_report(results, out / REPORT, header=header, figures=figures)
    return results


def publish(out: Path, *, doc: Path, results_dest: Path) -> list[Path]:
    """Copy the report to ``doc`` (figures to img/ beside it) and the table, the run record and
    every cutoff's calibration record to ``results_dest``, each atomically."""
    (doc.parent / IMG).mkdir(parents=True, exist_ok=True)
    results_dest.mkdir(parents=True, exist_ok=True)
    written = [copy_atomic(f, doc.parent / IMG / f.name) for f in sorted((out / IMG).glob("backtest*.png"))]
    written += [copy_atomic(out / TABLE, results_dest / TABLE), copy_atomic(out / "run.json", results_dest / "run.json")]
    for cal in sorted(out.glob("calibration-*/calibration.json")):
        written.append(copy_atomic(cal, results_dest / f"{cal.parent.name}.json"))
    written.append(copy_atomic(out / REPORT, doc))
    return written
