"""Running the model and turning its DataCollector records into tidy tables.

``simulate(params, seed)`` is the one entry point that the CLI, sweeps, calibration and
tests share; ``write_run`` writes a run folder atomically (a crash leaves no half folder).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .core.data import REGIONS, load_cities
from .core.clock import year_of_step
from .core.model import SOModel
from .core.reporting import CITY_COLUMNS, YEAR_SUMS
from .core.params import Params
from .files import json_default
from .provenance import record

#: city_year.csv columns in order (the issue's required ones first).
CITY_YEAR_COLUMNS = [
    "year", "city", "tier", "region", "firms", "new_firms", "exits", "employment", "output_cny",
    "mean_wage_cny", "tax_cny", "policy_spend_cny", "local_share", "young_share",
]


@dataclass
class RunResult:
    params: Params
    seed: int
    city_year: pd.DataFrame
    region_year: pd.DataFrame
    metrics: dict[str, float]
    wall_time_s: float
    quarterly: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def simulate(params: Params, seed: int, progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Run one simulation. Same (params, seed) gives the same tables, always."""
    t0 = time.perf_counter()
    model = SOModel(params, rng=int(seed))
    total = model.n_steps
    while model.running:
        model.step()
        if progress is not None:
            progress(model.steps, total)
    city_year = city_year_table(model)
    region_year = region_year_table(city_year)
    quarterly = model.datacollector.get_model_vars_dataframe()
    metrics = outcome_metrics(city_year, region_year, params)
    # The yearly tables hold year ends; the initial state (step 0) is the start year's observed stock.
    metrics["inland_share_start"] = 1.0 - float(quarterly.loc[quarterly["step"] == 0, "coastal_share"].iloc[0])
    return RunResult(params, int(seed), city_year, region_year, metrics, time.perf_counter() - t0, quarterly)


def city_year_table(model: SOModel) -> pd.DataFrame:
    """One row per (year, city): flows summed over the year's quarters, stocks at year end."""
    df = model.datacollector.get_agenttype_vars_dataframe(type(next(iter(model.cities))))
    df = df.reset_index()
    cities = load_cities()
    df = df[df["Step"] > 0].copy()
    df["city"] = df["AgentID"].map({a.unique_id: a.name for a in model.cities})
    df["year"] = year_of_step(df["Step"], model.params.start_year)
    sums = df.groupby(["year", "city"], sort=False)[list(YEAR_SUMS)].sum()
    stocks = [c for c in CITY_COLUMNS if c not in YEAR_SUMS]
    ends = df.sort_values("Step").groupby(["year", "city"], sort=False)[stocks].last()
    out = sums.join(ends).reset_index()
    out["tier"] = out["city"].map(cities["tier"])
    out["region"] = out["city"].map(cities["region"])
    out["mean_wage_cny"] = out["so_wage_cny"]
    order = {c: i for i, c in enumerate(cities.index)}
    out = out.sort_values(["year", "city"], key=lambda s: s.map(order) if s.name == "city" else s)
    rest = [c for c in out.columns if c not in CITY_YEAR_COLUMNS]
    out = out[CITY_YEAR_COLUMNS + rest].reset_index(drop=True)
    for c in ("firms", "new_firms", "exits", "entries", "relocations_in", "relocations_out", "firms_setting_up"):
        out[c] = out[c].round().astype(np.int64)
    return out


def region_year_table(city_year: pd.DataFrame) -> pd.DataFrame:
    """Coastal / central / western totals and shares by year."""
    g = city_year.groupby(["year", "region"])[["firms", "employment", "output_cny", "tax_cny",
                                               "policy_spend_cny", "new_firms"]].sum()
    g = g.reindex(pd.MultiIndex.from_product([sorted(city_year["year"].unique()), REGIONS],
                                             names=["year", "region"]), fill_value=0)
    tot = g.groupby(level="year").transform("sum")
    for c in ("employment", "firms", "output_cny"):
        g[f"{c}_share"] = (g[c] / tot[c].where(tot[c] > 0)).astype(float)
    return g.reset_index()


def _at(df: pd.DataFrame, city: str, year: int, col: str) -> float:
    v = df.loc[(df["city"] == city) & (df["year"] == year), col]
    return float(v.iloc[0]) if len(v) else float("nan")


#: Years of the yearly outcome metrics (those a run covers).
METRIC_YEARS = (2010, 2015, 2020, 2021, 2022, 2023, 2025, 2030)


def outcome_metrics(city_year: pd.DataFrame, region_year: pd.DataFrame, params: Params) -> dict[str, float]:
    """Scalar outcomes used by sweeps, sensitivity analysis and reports. ``focus_*`` refer to the
    scenario's focus city; ``focus_wage_ratio_<year>`` is its SO pay over its reference cities' mean;
    ``spend_per_job_added_all_cities`` is every city's policy spending over the run divided by the
    growth of SO employment in all modelled cities from the first to the last year (CNY per job)."""
    focus, refs = params.focus_city, list(params.reference_cities)
    m: dict[str, float] = {}
    years = set(city_year["year"])
    for y in METRIC_YEARS:
        if y not in years:
            continue
        m[f"focus_employment_{y}"] = _at(city_year, focus, y, "employment")
        m[f"focus_firms_{y}"] = _at(city_year, focus, y, "firms")
        m[f"focus_output_{y}"] = _at(city_year, focus, y, "output_cny")
        ry = region_year[region_year["year"] == y].set_index("region")
        m[f"coastal_share_{y}"] = float(ry.loc["coastal", "employment_share"])
        m[f"inland_share_{y}"] = 1.0 - m[f"coastal_share_{y}"]
        ref = float(np.mean([_at(city_year, c, y, "mean_wage_cny") for c in refs]))
        m[f"focus_wage_ratio_{y}"] = _at(city_year, focus, y, "mean_wage_cny") / ref
    spend = float(city_year["policy_spend_cny"].sum())
    first, last = min(years), max(years)
    jobs = float(city_year.loc[city_year["year"] == last, "employment"].sum()
                 - city_year.loc[city_year["year"] == first, "employment"].sum())
    m["policy_spend_total"] = spend
    m["spend_per_job_added_all_cities"] = spend / jobs if jobs > 0 else float("nan")
    first_focus = city_year[(city_year["city"] == focus) & (city_year["firms"] > 0)]["year"]
    m["focus_first_firm_year"] = float(first_focus.min()) if len(first_focus) else float("nan")
    return m


# ----------------------------------------------------------------------------------
# run folders
# ----------------------------------------------------------------------------------
def write_run(result: RunResult, out: str | Path, *, scenario: str | None = None, figures: bool = True,
              overrides: list[str] | tuple[str, ...] = (), command: str | None = None,
              points: dict | None = None, draw: Callable | None = None) -> Path:
    """Write a run folder: city_year.csv, region_year.csv, quarterly.csv, run.json and (with
    ``figures``) regional_shift.png and <focus city>.png, all at once (model/run_folder.py).
    ``draw(result, folder, points)`` draws the figures (default: model.figures in this process)."""
    from .core.world import load_world
    from .run_folder import write_folder

    def fill(tmp: Path) -> None:
        result.city_year.to_csv(tmp / "city_year.csv", index=False, float_format="%.6g")
        result.region_year.to_csv(tmp / "region_year.csv", index=False, float_format="%.6g")
        result.quarterly.to_csv(tmp / "quarterly.csv", index=False, float_format="%.6g")
        meta = record(command=command, scenario=scenario, overrides=overrides, seeds=[result.seed],
                      seed=result.seed, metrics=result.metrics, wall_time_s=round(result.wall_time_s, 3),
                      params=result.params)
        (tmp / "run.json").write_text(json.dumps(meta, indent=2, default=json_default), encoding="utf-8")
        if figures:
            (draw or draw_figures)(result, tmp, points)

    return write_folder(out, fill, set(load_world().names))


def draw_figures(result: RunResult, folder: Path, points: dict | None = None) -> list[str]:
    from .figures import run_figures

    return run_figures(result.city_year, result.region_year, folder, result.params, points)
