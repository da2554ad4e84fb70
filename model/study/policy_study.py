"""The policy-lever study: loading a finished arms sweep and comparing its arms with the
counterfactual.

The study is one sweep design (``experiments/policy_levers.toml``, method ``arms``) whose arms
carry a ``group``: ``counterfactual`` (no city policy anywhere), ``historical`` (the documented
policy package), ``lever`` (one lever alone in the focus city, at several intensities) and
``wage_gap`` (the historical run with the focus city's SO wage pinned at a multiple of its
reference cities' mean, ``focus_wage_ratio_pin``). The focus city, its reference cities and so its
neighbours (the other cities of its province) are read from the study's base scenario.

Every arm is compared with the counterfactual replication by replication (with common random
numbers replication r of every arm has the same seed), as mean and 95% confidence half-width.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError

YEARS = (2025, 2030)
WAGE_PARAMETER = "focus_wage_ratio_pin"
VALUE_COLS = ("employment", "firms", "tax_cny", "policy_spend_cny", "entries", "relocations_in", "new_firms")


def province_neighbours(focus: str, references: tuple[str, ...] | list[str]) -> list[str]:
    """The other modelled cities of the focus city's province, without its reference cities
    (in the order of the city table)."""
    from ..core.data import load_cities

    df = load_cities()
    df = df.reset_index() if "city" not in df.columns else df
    province = dict(zip(df["city"], df["province"]))
    if focus not in province:
        return []
    return [c for c in df["city"] if province[c] == province[focus] and c != focus and c not in references]


@dataclass
class Study:
    runs: Any            # runs.parquet (pandas)
    cube: Any            # DataFrame indexed by (point, replication, city, year) with VALUE_COLS
    meta: dict[str, Any]
    years: list[int]
    crn: bool
    report: dict[str, Any]
    cities: list[str]
    focus: str = ""
    references: list[str] = field(default_factory=list)
    neighbours: list[str] = field(default_factory=list)
    report_years: list[int] = field(default_factory=list)

    def points(self, group: str) -> Any:
        r = self.runs[self.runs["group"] == group]
        return r.drop_duplicates("point").sort_values("point")

    @property
    def counterfactual(self) -> int:
        cf = self.points("counterfactual")
        if cf.empty:
            raise InputError("report policy: the study has no arm with group = \"counterfactual\"")
        return int(cf["point"].iloc[0])

    @property
    def others(self) -> list[str]:
        """Every modelled city but the focus city."""
        return [c for c in self.cities if c != self.focus]


def load_study(d: Path) -> Study:
    import pandas as pd

    for f in ("runs.parquet", "city_year.parquet", "sweep.json"):
        if not (d / f).is_file():
            raise InputError(f"report policy: {d / f} is missing (run the study first)")
    meta = json.loads((d / "sweep.json").read_text(encoding="utf-8"))
    runs = pd.read_parquet(d / "runs.parquet")
    if "group" not in runs.columns:
        raise InputError(f"report policy: {d} holds a {meta['design']['method']} sweep, not an arms study")
    cy = pd.read_parquet(d / "city_year.parquet")
    if cy.empty:
        raise InputError(f"report policy: {d} holds no successful runs")
    cy["year"] = cy["year"].astype("int64")
    cols = [c for c in VALUE_COLS if c in cy.columns]
    cube = cy.set_index(["point", "replication", "city", "year"])[cols].sort_index()
    report = dict(meta.get("design", {}).get("raw", {}).get("report", {}))
    base = meta.get("base_params") or {}
    if not base.get("focus_city"):
        raise InputError(f"report policy: {d / 'sweep.json'} names no focus city (base_params.focus_city)")
    focus, refs = base["focus_city"], list(base.get("reference_cities") or [])
    cities = list(dict.fromkeys(cy["city"]))
    return Study(runs=runs, cube=cube, meta=meta, years=sorted(int(y) for y in cy["year"].unique()),
                 crn=bool(meta.get("common_random_numbers")), report=report, cities=cities, focus=focus,
                 references=refs, neighbours=[c for c in province_neighbours(focus, refs) if c in cities])


def series(study: Study, point: int, cities: list[str], col: str) -> Any:
    """(replication x year) table of ``col`` summed over ``cities`` at one design point."""
    sub = study.cube.loc[point]
    sub = sub[sub.index.get_level_values("city").isin(cities)]
    return sub[col].groupby(level=["replication", "year"]).sum().unstack("year").sort_index()


def _diff(study: Study, point: int, cities: list[str], col: str, cumulative: bool = False) -> Any:
    """Per-replication difference to the counterfactual (replication x year).

    With common random numbers replication r is compared with the counterfactual's
    replication r; otherwise with the counterfactual's mean."""
    a = series(study, point, cities, col)
    b = series(study, study.counterfactual, cities, col)
    if cumulative:
        a, b = a.cumsum(axis=1), b.cumsum(axis=1)
    if study.crn:
        common = a.index.intersection(b.index)
        return a.loc[common] - b.loc[common]
    return a - b.mean(axis=0)


def mean_ci(values: Any) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (t distribution)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def effects(study: Study, point: int, cities: list[str], others: list[str] | None = None) -> dict[str, Any]:
    """Jobs and firms added, spending, cost per job and payback of ``cities`` at ``point``."""
    out: dict[str, Any] = {}
    dj = _diff(study, point, cities, "employment")
    df_ = _diff(study, point, cities, "firms")
    ds = _diff(study, point, cities, "policy_spend_cny")
    dt = _diff(study, point, cities, "tax_cny")
    last = study.years[-1]
    for y in study.report_years:
        out[f"jobs_{y}"] = mean_ci(dj[y])
        out[f"firms_{y}"] = mean_ci(df_[y])
    spend_path, tax_path = ds.mean(axis=0), dt.mean(axis=0)
    cum_spend, cum_tax = spend_path.cumsum(), tax_path.cumsum()
    out["spend_to_end"] = float(cum_spend[last])
    jobs_end = dj[last].mean()
    out["cost_per_job"] = (float(cum_spend[last] / jobs_end) if jobs_end > 0 and cum_spend[last] > 0
                           else float("nan"))
    out["payback"] = payback(spend_path, tax_path)
    out["repaid_share"] = float(cum_tax[last] / cum_spend[last]) if cum_spend[last] > 0 else float("nan")
    if others is not None:
        do = _diff(study, point, others, "employment")
        for y in study.report_years:
            dn, dother = dj[y], do[y]
            taken = np.minimum(np.clip(-dother, 0, None), np.clip(dn, 0, None))
            out[f"others_{y}"] = mean_ci(dother)
            out[f"taken_{y}"] = mean_ci(taken)
            out[f"created_{y}"] = mean_ci(dn - taken)
            out[f"net_{y}"] = mean_ci(dn + dother)
    return out


def payback(spend: Any, tax: Any) -> dict[str, Any]:
    """Years from the first extra spending until cumulative extra local tax covers cumulative
    extra spending (mean paths over replications)."""
    spent = spend[spend > 0]
    if spent.empty:
        return {"status": "no spending"}
    first = int(spent.index[0])
    cs, ct = spend.cumsum(), tax.cumsum()
    for y in spend.index:
        if y >= first and cs[y] > 0 and ct[y] >= cs[y]:
            return {"status": "repaid", "year": int(y), "years": int(y) - first + 1, "first": first}
    return {"status": "not repaid", "first": first, "by": int(spend.index[-1])}


def arrivals(study: Study, point: int, start: int) -> dict[str, tuple[float, float]]:
    """The focus city's establishments arriving from ``start`` on (entries + relocations in), the
    relocations among them, and its SO jobs in the last year, at one point (mean, CI)."""
    last = study.years[-1]
    sub = study.cube.loc[point]
    sub = sub[sub.index.get_level_values("city") == study.focus]
    yrs = sub.index.get_level_values("year")
    cols = [c for c in ("entries", "relocations_in") if c in sub.columns]
    arr = sub[yrs >= start][cols].sum(axis=1).groupby(level="replication").sum()
    reloc = (sub[yrs >= start]["relocations_in"].groupby(level="replication").sum()
             if "relocations_in" in sub.columns else None)
    jobs = sub.xs(last, level="year")["employment"].groupby(level="replication").sum()
    return {"arrivals": mean_ci(arr), "relocations": mean_ci(reloc) if reloc is not None else (float("nan"),) * 2,
            "jobs": mean_ci(jobs)}


def intensity_of(row: Any, runs: Any) -> tuple[str | None, float | None]:
    """The lever column an arm's point varies and its value there (None, None if none)."""
    for c in runs.columns:
        if c.startswith("levers.") and c.endswith(".intensity"):
            v = row[c]
            if v is not None and np.isfinite(v):
                return c, float(v)
    return None, None
