"""Forecast of every modelled city 2024-2030 with uncertainty bands.

Uncertainty comes from two sources at once: parameters (``draws`` draws from a weighted ABC
posterior sample, resampled by weight) and chance (``seeds`` seeds per draw). The scenario is
usually the calibrated baseline, i.e. current policy carried forward. ``forecast(...)`` writes
into its own folder: ``forecast.csv`` (year, city, metric, p05, p25, p50, p75, p95),
``forecast_<focus city>.png``, ``run.json`` (the provenance record) and, when the focus city has
a published plan in the plans file (``load_plans``), ``plan.csv`` / ``plan.md``: the probability
that it reaches each goal. ``publish(out, dest)`` copies them where the committed forecast lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import InputError, shorten
from ..core.params import RANGES, Params
from ..files import copy_atomic, write_json_atomic, write_text_atomic
from ..provenance import code_provenance, record
from .executor import run_in_folder
from .inputs import PATH_MAX, read_toml
from .manifest import Job
from .plots import pyplot, save
from .scenarios import load_scenario
from .seeds import seeds_from
from .validate import check_out, identity

FIRST_YEAR, LAST_YEAR = 2024, 2030
METRICS = ("firms", "new_firms", "employment", "output_cny", "tax_cny")
QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
OUTPUTS = ("forecast.csv", "plan.csv", "plan.md", "run.json")


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CityPlan:
    """A city's published plan: goal levels of city-year columns, to be reached by ``year``."""

    city: str
    name: str
    source: str
    year: int
    goals: dict[str, float]


def load_plans(path: Path | None) -> dict[str, CityPlan]:
    """The plans file (one table per city, see experiments/plans.toml); {} when ``path`` is None."""
    if path is None:
        return {}
    raw = read_toml(path, "--plans")
    out = {}
    for city, t in raw.items():
        where = f"--plans: {shorten(city)}"
        if not isinstance(t, dict) or not isinstance(t.get("goals"), dict) or not t["goals"]:
            raise InputError(f"{where}: expected a table with name, source, year and [{city}.goals]")
        year = t.get("year", LAST_YEAR)
        if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
            raise InputError(f"{where}.year: expected a year {FIRST_YEAR} to {LAST_YEAR}, got {shorten(repr(year))}")
        goals = {}
        for col, v in t["goals"].items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise InputError(f"{where}.goals.{shorten(col)}: expected a number, got {shorten(repr(v))}")
            goals[str(col)] = float(v)
        out[city] = CityPlan(city, str(t.get("name", "plan")), str(t.get("source", "")), year, goals)
    return out


def _read_posterior(path: Path) -> pd.DataFrame:
    """The posterior sample, or an InputError naming the file: missing, a folder, empty, binary,
    not a CSV."""
    import io

    shown = shorten(path, PATH_MAX)
    try:
        if path.is_dir():
            raise InputError(f"--posterior: {shown} is a folder, not a file")
        if not path.is_file():
            raise InputError(f"--posterior: file not found: {shown} (run `outsourcing-abm calibrate` first)")
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"--posterior: cannot read {shown} ({e.strerror or e})") from None
    if not data.strip():
        raise InputError(f"--posterior: {shown} is empty (expected a CSV with a weight column)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise InputError(f"--posterior: {shown} is not UTF-8 text (a binary file?)")
    try:
        return pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"--posterior: {shown} is not a readable CSV ({shorten(' '.join(str(e).split()))})") from None


def posterior_draws(path: Path, n: int, seed: int) -> pd.DataFrame:
    """``n`` parameter sets resampled from the weighted posterior sample."""
    post = _read_posterior(Path(path))
    if "weight" not in post.columns or len(post) == 0:
        raise InputError(f"--posterior: {shorten(path, PATH_MAX)} has no weight column or no rows")
    unknown = [c for c in post.columns if c != "weight" and c not in RANGES]
    if unknown:
        raise InputError(f"--posterior: column {shorten(repr(unknown[0]))} is not a model parameter "
                         "(see `outsourcing-abm params`)")
    w = pd.to_numeric(post["weight"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise InputError(f"--posterior: weights in {shorten(path, PATH_MAX)} must be finite, non-negative and not all zero")
    values = post.drop(columns="weight").apply(pd.to_numeric, errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).all():
        raise InputError(f"--posterior: {shorten(path, PATH_MAX)} holds a value that is not a finite number")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(post), size=n, replace=True, p=w / w.sum())
    return post.drop(columns="weight").iloc[idx].reset_index(drop=True)


@dataclass
class Plan:
    """The runs of a forecast: posterior draws x seeds of one scenario."""

    scenario: Path
    base: Params
    overrides: list[str]
    posterior: Path
    root_seed: int
    draws: int
    seeds_per_draw: int
    distinct: int
    seeds: list[int]
    jobs: list[Job] = field(default_factory=list)


def plan(scenario: Path, overrides: list[str] | tuple[str, ...], posterior: Path, draws: int, seeds: int,
         root_seed: int) -> Plan:
    """Check the inputs and lay out the runs (nothing runs here)."""
    base = load_scenario(scenario, overrides)
    if base.end_year < LAST_YEAR:
        raise InputError(f"end_year: the forecast runs to {LAST_YEAR}, got {base.end_year}")
    d = posterior_draws(Path(posterior), draws, root_seed)
    seed_list = seeds_from(root_seed, draws * seeds)
    jobs = [Job(f"d{i:03d}-s{j:03d}", base.replace(**{k: float(v) for k, v in row.items()}), seed_list[i * seeds + j])
            for i, row in d.iterrows() for j in range(seeds)]
    return Plan(Path(scenario), base, list(overrides), Path(posterior), root_seed, draws, seeds,
                len(d.drop_duplicates()), seed_list, jobs)


# ---------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------

def bands(cy: pd.DataFrame) -> pd.DataFrame:
    """Long table of quantiles over runs: year, city, metric, p05..p95."""
    sub = cy[cy["year"].between(FIRST_YEAR, LAST_YEAR)]
    long = sub.melt(id_vars=["run", "year", "city"], value_vars=list(METRICS), var_name="metric")
    q = long.groupby(["year", "city", "metric"], sort=False)["value"].quantile(list(QUANTILES.values())).unstack()
    q.columns = list(QUANTILES)
    q = q.reset_index()
    order = {c: i for i, c in enumerate(dict.fromkeys(cy["city"]))}
    m_order = {m: i for i, m in enumerate(METRICS)}
    return q.sort_values(["year", "city", "metric"], key=lambda s: s.map(order) if s.name == "city"
                         else (s.map(m_order) if s.name == "metric" else s)).reset_index(drop=True)


def plan_probability(cy: pd.DataFrame, city_plan: CityPlan) -> pd.DataFrame:
    """Median level and probability of reaching each goal of ``city_plan`` (and all at once)."""
    at = cy[(cy["city"] == city_plan.city) & (cy["year"] == city_plan.year)]
    rows = [{"goal": col, "plan": goal, f"p50_{city_plan.year}": float(at[col].median()),
             "probability": float((at[col] >= goal).mean())} for col, goal in city_plan.goals.items()]
    every = np.ones(len(at), dtype=bool)
    for col, goal in city_plan.goals.items():
        every &= at[col].to_numpy() >= goal
    rows.append({"goal": f"all {len(city_plan.goals)}" if len(city_plan.goals) != 4 else "all four", "plan": np.nan,
                 f"p50_{city_plan.year}": np.nan, "probability": float(every.mean())})
    return pd.DataFrame(rows)


def plot(cy: pd.DataFrame, city: str, path: Path, goals: dict[str, float] | None = None) -> None:
    plt = pyplot()
    fc = cy[(cy["city"] == city) & (cy["year"] >= 2015)]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, col, scale, title in zip(axes, ["firms", "employment", "output_cny", "tax_cny"], [1, 1, 1e8, 1e8],
                                     ["SO establishments", "SO employment (persons)",
                                      "SO output (100 million CNY)", "SO tax (100 million CNY)"]):
        q = fc.groupby("year")[col].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack() / scale
        ax.fill_between(q.index, q[0.05], q[0.95], alpha=0.2, color="tab:blue", lw=0, label="90%")
        ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.4, color="tab:blue", lw=0, label="50%")
        ax.plot(q.index, q[0.5], color="tab:blue", lw=2, label="median")
        ax.axvline(FIRST_YEAR - 0.5, color="grey", ls=":", lw=1)
        goal = (goals or {}).get(col)
        if goal:
            ax.axhline(goal / scale, color="crimson", ls="--", lw=1, label="plan")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(f"{city} forecast under current policy: posterior draws x seeds (calibrated to {FIRST_YEAR - 1} data)")
    save(fig, path)


def _plan_md(p: Plan, city_plan: CityPlan, table: pd.DataFrame) -> str:
    y = city_plan.year
    lines = [f"# {city_plan.city}'s {city_plan.name} by {y} under current policy", "",
             f"{len(p.jobs)} runs ({p.draws} posterior draws x {p.seeds_per_draw} seeds) of `{p.scenario.name}`; "
             f"the draws hold {p.distinct} distinct parameter set{'s' if p.distinct != 1 else ''} (a degenerate "
             "posterior gives few, and then the bands are mostly seed noise). "
             f"Overrides: {', '.join(f'`{o}`' for o in p.overrides) or 'none'}; root seed {p.root_seed}. "
             f"Plan: {city_plan.source}.", "",
             f"| goal | plan | model median {y} | probability of reaching it |", "|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['goal']} | {r['plan']:.4g} | {r[f'p50_{y}']:.4g} | {r['probability']:.0%} |")
    return "\n".join(lines) + "\n"


@dataclass
class Result:
    out: Path
    city_year: pd.DataFrame
    focus: str
    plan_table: pd.DataFrame | None


def forecast(p: Plan, *, client: Any, out: Path, plans: dict[str, CityPlan], command: str,
             progress: bool = True, resume: bool = False) -> Result:
    """Run the forecast ``p`` into ``out`` (see the module docstring)."""
    code = code_provenance()
    check_out(out, "forecast", p.jobs, p.overrides, resume)
    tables = run_in_folder(client, p.jobs, out, identity("forecast", p.jobs, p.overrides), label="forecast",
                           progress=progress, resume=resume)
    cy = pd.concat([t.assign(run=i) for i, t in enumerate(tables)], ignore_index=True)
    write_text_atomic(out / "forecast.csv", bands(cy).to_csv(index=False, float_format="%.6g"))
    focus = p.base.focus_city
    city_plan = plans.get(focus)
    table = None
    if city_plan is not None:
        table = plan_probability(cy, city_plan)
        write_text_atomic(out / "plan.csv", table.to_csv(index=False, float_format="%.6g"))
        write_text_atomic(out / "plan.md", _plan_md(p, city_plan, table))
    plot(cy, focus, out / f"forecast_{focus.lower()}.png", city_plan.goals if city_plan else None)
    write_json_atomic(out / "run.json", record(
        code=code, command=command, scenario=p.scenario, params=p.base, overrides=p.overrides, seeds=p.seeds,
        draws=p.draws, distinct_parameter_sets=p.distinct, seeds_per_draw=p.seeds_per_draw, root_seed=p.root_seed,
        posterior=str(p.posterior), plan=city_plan.__dict__ if city_plan else None))
    return Result(out, cy, focus, table)


def publish(out: Path, dest: Path) -> list[Path]:
    """Copy a forecast's files from ``out`` into ``dest``, each atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    files = [out / f for f in OUTPUTS if (out / f).is_file()] + sorted(out.glob("forecast_*.png"))
    return [copy_atomic(f, dest / f.name) for f in files]
