"""Calibration and validation targets: ``experiments/targets.toml`` read, and evaluated on runs.

A target maps one observed fact (``seed_facts.yaml`` or ``public_stats.yaml``, dated 2023 or
earlier) to one number computed from a run's ``city_year`` / ``region_year`` tables, with a
tolerance band ``[low, high]``. Each ``transform`` is a small pure function of those tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..core.errors import InputError, shorten
from .inputs import PATH_MAX, read_toml

#: Latest year a target may refer to: later figures are held out for forecast checks.
LAST_TARGET_YEAR = 2023
TRANSFORMS = ("level", "ratio_to_city", "growth", "change", "change_growth", "first_year_positive",
              "share", "region_employment", "group_share", "group_level", "national_ratio", "growth_ratio",
              "first_year_share_rise")


@dataclass(frozen=True)
class Target:
    id: str
    fact: str                # where the observation comes from (file#id)
    what: str                # plain-words description of the model quantity
    transform: str
    year: int
    low: float
    high: float
    observed: str            # the observation as the source states it
    why: str                 # justification of the tolerance band
    city: str = ""
    region: str = ""
    column: str = ""
    other: str = ""          # the reference city (ratio_to_city), region (growth_ratio) or column (national_ratio)
    cities: tuple[str, ...] = ()   # for group_share and group_level; for ratio_to_city, the reference cities (their mean)
    scale: float = 1.0       # the model value is multiplied by this (a part of the city the source counts)
    base_year: int = 0       # for growth (default: the year before), growth_ratio, first_year_share_rise
    by: float = 0.0          # threshold for first_year_share_rise
    weight: float = 1.0      # weight in the calibration distance (0: validation only)
    gap: str = ""            # what is known about why the model may miss it (shown when it fails)
    point: float = math.nan  # the observed number as the source states it, where it is one (backtest scoring)

    @property
    def centre(self) -> float:
        return 0.5 * (self.low + self.high)

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)

    def passes(self, value: float) -> bool:
        return bool(np.isfinite(value) and self.low <= value <= self.high)


_NUMBER_FIELDS = {f.name for f in fields(Target) if f.type in ("int", "float")}
_TEXT_FIELDS = {f.name for f in fields(Target) if f.type == "str"}


def _check_types(where: str, item: dict[str, Any]) -> None:
    for k, v in item.items():
        if k in _NUMBER_FIELDS and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise InputError(f"{where}.{k}: expected a number, got {shorten(repr(v))}")
        if k in _TEXT_FIELDS and not isinstance(v, str):
            raise InputError(f"{where}.{k}: expected text, got {shorten(repr(v))}")
    if "cities" in item and (not isinstance(item["cities"], list) or not all(isinstance(c, str) for c in item["cities"])):
        raise InputError(f"{where}.cities: expected a list of city names")


def load_targets(path: str | Path) -> list[Target]:
    """Read and check the targets file; InputError (one line, naming the file or the field)
    when it is missing, binary, not TOML or malformed."""
    path = Path(path)
    raw = read_toml(path, "targets")
    try:
        return _targets(raw, path)
    except InputError as e:
        raise InputError(f"targets {shorten(path, PATH_MAX)}: {e}") from None


def _targets(raw: dict[str, Any], path: Path) -> list[Target]:
    items = raw.get("target", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InputError("expected [[target]] tables")
    if not items:
        raise InputError("has no [[target]] entries")
    names = set(Target.__dataclass_fields__)
    out, seen = [], set()
    for i, item in enumerate(items):
        where = f"target[{i}] {shorten(item.get('id', '?'))}"
        unknown = set(item) - names
        if unknown:
            raise InputError(f"{where}: unknown key {shorten(repr(sorted(unknown)[0]))} (allowed: {', '.join(sorted(names))})")
        _check_types(where, item)
        if "cities" in item:
            item = {**item, "cities": tuple(item["cities"])}
        try:
            t = Target(**item)
        except TypeError as e:
            raise InputError(f"{where}: {e}") from None
        if t.id in seen:
            raise InputError(f"{where}: id is used twice")
        seen.add(t.id)
        if t.transform not in TRANSFORMS:
            raise InputError(f"{where}.transform: {shorten(repr(t.transform))} is not one of {', '.join(TRANSFORMS)}")
        if not t.low <= t.high:
            raise InputError(f"{where}.low: {t.low} is above high {t.high}")
        if math.isfinite(t.point) and not t.low <= t.point <= t.high:
            raise InputError(f"{where}.point: {t.point} is outside the band {t.low} to {t.high}")
        if t.year > LAST_TARGET_YEAR or t.base_year > LAST_TARGET_YEAR:
            raise InputError(f"{where}.year: {t.year} is after {LAST_TARGET_YEAR} (later data are held out)")
        out.append(t)
    return out


# ---------------------------------------------------------------------------------------
# Evaluation on one run
# ---------------------------------------------------------------------------------------

def _city(cy: pd.DataFrame, city: str, year: int, col: str) -> float:
    v = cy.loc[(cy["city"] == city) & (cy["year"] == year), col]
    return float(v.iloc[0]) if len(v) else math.nan


def _region_employment(ry: pd.DataFrame, region: str, year: int) -> float:
    sub = ry[ry["year"] == year]
    if region == "inland":
        sub = sub[sub["region"] != "coastal"]
    else:
        sub = sub[sub["region"] == region]
    return float(sub["employment"].sum()) if len(sub) else math.nan


def _share(ry: pd.DataFrame, region: str, year: int) -> float:
    total = _region_employment(ry, "coastal", year) + _region_employment(ry, "inland", year)
    return _region_employment(ry, region, year) / total if total > 0 else math.nan


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(b) else math.nan


def value(t: Target, cy: pd.DataFrame, ry: pd.DataFrame) -> float:
    """The model's value of target ``t`` in one run (NaN where it is undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if t.transform == "level":
            return t.scale * _city(cy, t.city, t.year, t.column)
        if t.transform == "ratio_to_city":
            refs = t.cities or (t.other,)
            ref = float(np.mean([_city(cy, c, t.year, t.column) for c in refs]))
            return _city(cy, t.city, t.year, t.column) / ref if ref else math.nan
        if t.transform == "national_ratio":  # over all modelled cities: sum of column / sum of other
            sub = cy[cy["year"] == t.year]
            den = float(sub[t.other].sum())
            return t.scale * float(sub[t.column].sum()) / den if den > 0 else math.nan
        if t.transform == "group_level":
            sub = cy[(cy["year"] == t.year) & cy["city"].isin(t.cities)]
            return t.scale * float(sub[t.column].sum()) if len(sub) else math.nan
        if t.transform in ("growth", "change"):
            now = _city(cy, t.city, t.year, t.column)
            before = _city(cy, t.city, t.base_year or t.year - 1, t.column)
            if t.transform == "change":
                return now - before
            return now / before - 1.0 if before > 0 else math.nan
        if t.transform == "change_growth":  # growth of a year-on-year increase (e.g. new jobs)
            x = [_city(cy, t.city, t.year - k, t.column) for k in (0, 1, 2)]
            before = x[1] - x[2]
            return (x[0] - x[1]) / before - 1.0 if before > 0 else math.nan
        if t.transform == "first_year_positive":
            sub = cy[(cy["city"] == t.city) & (cy[t.column] > 0)]
            return float(sub["year"].min()) if len(sub) else math.nan
        if t.transform == "share":
            return _share(ry, t.region, t.year)
        if t.transform == "region_employment":
            return _region_employment(ry, t.region, t.year)
        if t.transform == "group_share":
            sub = cy[cy["year"] == t.year]
            total = sub["employment"].sum()
            return float(sub.loc[sub["city"].isin(t.cities), "employment"].sum() / total) if total > 0 else math.nan
        if t.transform == "growth_ratio":
            g = _ratio(_region_employment(ry, t.region, t.year), _region_employment(ry, t.region, t.base_year))
            g0 = _ratio(_region_employment(ry, t.other, t.year), _region_employment(ry, t.other, t.base_year))
            return _ratio(g, g0)
        if t.transform == "first_year_share_rise":
            start = _share(ry, t.region, t.base_year)
            for y in sorted(set(ry["year"])):
                if y > t.base_year and _share(ry, t.region, y) >= start + t.by:
                    return float(y)
            return math.nan
    raise AssertionError(t.transform)  # load_targets checked the name


#: Columns whose level targets the focus-city figures draw (park staff on the employment panel).
_POINT_PANELS = {"firms": "firms", "employment": "employment", "park_staff": "employment", "output_cny": "output_cny"}


def observed_points(targets: list[Target], city: str) -> dict[str, list[dict[str, Any]]]:
    """Observed bands of one city for its figures: panel column -> [{year, low, high, label}].
    Level targets of firms, employment, park staff and output, and its SO pay ratio."""
    out: dict[str, list[dict[str, Any]]] = {}
    for t in targets:
        if t.city != city:
            continue
        if t.transform == "level" and t.column in _POINT_PANELS:
            panel = _POINT_PANELS[t.column]
        elif t.transform == "ratio_to_city" and t.column == "mean_wage_cny":
            panel = "pay_ratio"
        else:
            continue
        out.setdefault(panel, []).append({"year": t.year, "low": t.low, "high": t.high,
                                          "label": f"{t.id}: {t.observed}"[:70]})
    return out


def evaluate(targets: list[Target], cy: pd.DataFrame, ry: pd.DataFrame) -> dict[str, float]:
    return {t.id: value(t, cy, ry) for t in targets}


def distance(targets: list[Target], simulated: dict[str, float], missing_penalty: float = 25.0) -> float:
    """Calibration distance: mean squared deviation from each band's centre in half-widths,
    weighted. A value inside its band contributes at most ``weight``; an undefined value (e.g. a
    city with no firm yet) contributes ``missing_penalty`` (= 5 half-widths, squared)."""
    num = den = 0.0
    for t in targets:
        if t.weight <= 0:
            continue
        v = simulated.get(t.id, math.nan)
        z2 = ((v - t.centre) / t.half_width) ** 2 if np.isfinite(v) and t.half_width > 0 else missing_penalty
        num += t.weight * min(z2, missing_penalty)
        den += t.weight
    return num / den


class Fit(NamedTuple):
    """How well mean target values fit, ordered as the calibration ranks them: fewer fitted
    targets missed first (the validation's pass/fail), then the distance."""
    misses: int
    distance: float


def fit(targets: list[Target], simulated: dict[str, float]) -> Fit:
    """Fitted targets (weight > 0) whose value lies outside its band, and the distance."""
    missed = sum(1 for t in targets if t.weight > 0 and not t.passes(simulated.get(t.id, math.nan)))
    return Fit(missed, distance(targets, simulated))


def summarise(targets: list[Target], per_run: pd.DataFrame) -> pd.DataFrame:
    """One row per target: observed, band, simulated median and 90% band over runs, pass/fail
    (pass: the median lies in the band)."""
    rows = []
    for t in targets:
        v = per_run[t.id].to_numpy(dtype=float)
        ok = v[np.isfinite(v)]
        q = np.quantile(ok, [0.05, 0.5, 0.95]) if len(ok) else [math.nan] * 3
        rows.append({"id": t.id, "what": t.what, "year": t.year, "observed": t.observed, "low": t.low,
                     "high": t.high, "p05": q[0], "median": q[1], "p95": q[2],
                     "defined_runs": len(ok), "runs": len(v), "pass": t.passes(q[1]),
                     "in_band_share": float(np.mean([t.passes(x) for x in v])) if len(v) else 0.0,
                     "fact": t.fact, "why": t.why, "weight": t.weight, "gap": t.gap})
    return pd.DataFrame(rows)
