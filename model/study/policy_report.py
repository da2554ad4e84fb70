"""The policy-lever study: ``outsourcing-abm report policy DIR`` writes docs/policy_levers.md.

The study is one sweep design (``experiments/policy_levers.toml``, method ``arms``) whose
arms carry a ``group``:

* ``counterfactual``: no city policy anywhere (``no_policy.toml``);
* ``historical``: the documented policy package (``baseline.toml``);
* ``lever``: one lever alone in Neijiang, at several intensities (a ``vary`` on
  ``levers.Neijiang.<lever>.intensity``);
* ``wage_gap``: everything as in the historical run but Neijiang's SO wage pinned at a
  ratio of Chengdu's (``pin_neijiang_wage_ratio``), swept from 0.6 to 1.0.

Every arm is compared with the counterfactual replication by replication (the design uses
common random numbers, so replication r of every arm has the same seed). If DIR holds no
results yet the design is run first (resuming whatever is there), so one command rebuilds
the whole report.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.errors import InputError
from .sweep import (REPO_ROOT, _Interrupted, add_design_arguments, cli_worker_memory, default_workers, error_line,
                    load_design, run_sweep)

FOCUS = "Neijiang"
NEIGHBOURS = ("Zigong", "Suining", "Ziyang", "Luzhou", "Yibin", "Leshan")
YEARS = (2025, 2030)
WAGE_PARAMETER = "pin_neijiang_wage_ratio"
DEFAULT_DESIGN = "experiments/policy_levers.toml"
DEFAULT_DOC = "docs/policy_levers.md"
VALUE_COLS = ("employment", "firms", "tax_cny", "policy_spend_cny", "entries", "relocations_in", "new_firms")


def _repo_path(rel: str) -> Path:
    """``rel`` under the working directory if it exists there, else under the source tree."""
    p = Path(rel)
    return p if p.exists() or p.is_absolute() else REPO_ROOT / rel


# ---------------------------------------------------------------------------------------
# Loading and comparing
# ---------------------------------------------------------------------------------------

@dataclass
class Study:
    runs: Any            # runs.parquet (pandas)
    cube: Any            # DataFrame indexed by (point, replication, city, year) with VALUE_COLS
    meta: dict[str, Any]
    years: list[int]
    crn: bool
    report: dict[str, Any]
    cities: list[str]
    report_years: list[int]

    def points(self, group: str) -> Any:
        r = self.runs[self.runs["group"] == group]
        return r.drop_duplicates("point").sort_values("point")

    @property
    def counterfactual(self) -> int:
        cf = self.points("counterfactual")
        if cf.empty:
            raise InputError("report policy: the study has no arm with group = \"counterfactual\"")
        return int(cf["point"].iloc[0])


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
    return Study(runs=runs, cube=cube, meta=meta, years=sorted(int(y) for y in cy["year"].unique()),
                 crn=bool(meta.get("common_random_numbers")), report=report,
                 cities=list(dict.fromkeys(cy["city"])), report_years=[])


def _series(study: Study, point: int, cities: list[str], col: str) -> Any:
    """(replication x year) table of ``col`` summed over ``cities`` at one design point."""
    sub = study.cube.loc[point]
    sub = sub[sub.index.get_level_values("city").isin(cities)]
    return sub[col].groupby(level=["replication", "year"]).sum().unstack("year").sort_index()


def _diff(study: Study, point: int, cities: list[str], col: str, cumulative: bool = False) -> Any:
    """Per-replication difference to the counterfactual (replication x year).

    With common random numbers replication r is compared with the counterfactual's
    replication r; otherwise with the counterfactual's mean."""
    a = _series(study, point, cities, col)
    b = _series(study, study.counterfactual, cities, col)
    if cumulative:
        a, b = a.cumsum(axis=1), b.cumsum(axis=1)
    if study.crn:
        common = a.index.intersection(b.index)
        return a.loc[common] - b.loc[common]
    return a - b.mean(axis=0)


def _mean_ci(values: Any) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (t distribution)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def _at(df: Any, year: int) -> Any:
    return df[year] if year in df.columns else None


def effects(study: Study, point: int, cities: list[str], others: list[str] | None = None) -> dict[str, Any]:
    """Jobs and firms added, spending, cost per job and payback of ``cities`` at ``point``."""
    out: dict[str, Any] = {}
    dj = _diff(study, point, cities, "employment")
    df_ = _diff(study, point, cities, "firms")
    ds = _diff(study, point, cities, "policy_spend_cny")
    dt = _diff(study, point, cities, "tax_cny")
    last = study.years[-1]
    for y in study.report_years:
        out[f"jobs_{y}"] = _mean_ci(dj[y])
        out[f"firms_{y}"] = _mean_ci(df_[y])
    spend_path, tax_path = ds.mean(axis=0), dt.mean(axis=0)
    cum_spend, cum_tax = spend_path.cumsum(), tax_path.cumsum()
    out["spend_to_end"] = float(cum_spend[last])
    jobs_end = dj[last].mean()
    out["cost_per_job"] = (float(cum_spend[last] / jobs_end) if jobs_end > 0 and cum_spend[last] > 0
                           else float("nan"))
    out["payback"] = _payback(spend_path, tax_path)
    out["repaid_share"] = float(cum_tax[last] / cum_spend[last]) if cum_spend[last] > 0 else float("nan")
    if others is not None:
        do = _diff(study, point, others, "employment")
        for y in study.report_years:
            dn, dother = dj[y], do[y]
            taken = np.minimum(np.clip(-dother, 0, None), np.clip(dn, 0, None))
            out[f"others_{y}"] = _mean_ci(dother)
            out[f"taken_{y}"] = _mean_ci(taken)
            out[f"created_{y}"] = _mean_ci(dn - taken)
            out[f"net_{y}"] = _mean_ci(dn + dother)
    return out


def _payback(spend: Any, tax: Any) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------

def _n(x: float, digits: int = 0) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+,.{digits}f}"


def _pm(mc: tuple[float, float] | None, digits: int = 0) -> str:
    if mc is None:
        return "n/a"
    m, h = mc
    if not np.isfinite(m):
        return "n/a"
    s = f"{m:+,.{digits}f}"
    return s if not np.isfinite(h) else f"{s} ± {h:,.{digits}f}"


def _cny(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if abs(x) >= 1e9:
        return f"{x / 1e9:,.2f} bn"
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.1f} m"
    return f"{x:,.0f}"


def _payback_text(p: dict[str, Any], repaid_share: float) -> str:
    if p["status"] == "no spending":
        return "no spending"
    if p["status"] == "repaid":
        return f"{p['years']} (in {p['year']})"
    share = (f"; {repaid_share:.0%} repaid" if np.isfinite(repaid_share) and repaid_share > 0
             else "; no extra tax" if np.isfinite(repaid_share) else "")
    return f"not by {p['by']}{share}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _intensity_col(row: Any, runs: Any) -> tuple[str | None, float | None]:
    for c in runs.columns:
        if c.startswith("levers.") and c.endswith(".intensity"):
            v = row[c]
            if v is not None and np.isfinite(v):
                return c, float(v)
    return None, None


def _fmt_intensity(lever: str, v: float | None) -> str:
    if v is None:
        return "as in scenario"
    units = {"rent_relief": lambda x: f"{x:.0%} of rent", "relocation_grant": lambda x: f"{x:,.0f} CNY/seat",
             "talent_subsidy": lambda x: f"{x:,.0f} CNY/hire", "training_subsidy": lambda x: f"{x:,.0f} CNY/hire",
             "talent_apartments": lambda x: f"{x:,.0f} units", "park_capacity": lambda x: f"{x:,.0f} seats",
             "fast_setup": lambda x: f"{x:g} months", "matching_funds": lambda x: f"{x:g} CNY per national CNY"}
    return units.get(lever, lambda x: f"{x:g}")(v)


# ---------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_levers(rows: list[dict[str, Any]], year: int, path: Path) -> None:
    plt = _plt()
    labels = [f"{r['lever']}\n{r['intensity_text']}" for r in rows]
    m = [r["eff"][f"jobs_{year}"][0] for r in rows]
    h = [r["eff"][f"jobs_{year}"][1] for r in rows]
    taken = [r["eff"].get(f"taken_{year}", (0, 0))[0] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(7, 0.55 * len(rows) + 2), 4.8))
    created = [a - b for a, b in zip(m, taken)]
    ax.bar(x, created, color="#4c72b0", label="newly created (net of jobs taken)")
    ax.bar(x, taken, bottom=created, color="#dd8452", label="taken from other cities")
    ax.errorbar(x, m, yerr=np.nan_to_num(h), fmt="none", ecolor="black", capsize=2, lw=0.8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(f"{FOCUS} SO jobs vs no policy, {year}")
    ax.set_title(f"Each lever alone in {FOCUS}: SO jobs added by {year} (bars: 95% CI of the total)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_paths(study: Study, point: int, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    cf = study.counterfactual
    for ax, (title, cities) in zip(axes, ((FOCUS, [FOCUS]), ("neighbours (total)", list(NEIGHBOURS)))):
        for p, lab, col in ((point, "historical package", "#c44e52"), (cf, "no policy", "#4c72b0")):
            s = _series(study, p, cities, "employment")
            mu, lo, hi = s.mean(axis=0), s.quantile(0.05, axis=0), s.quantile(0.95, axis=0)
            ax.plot(mu.index, mu.values, color=col, label=lab)
            ax.fill_between(mu.index, lo.values, hi.values, color=col, alpha=0.2, lw=0)
        ax.set_title(f"{title}: SO employment", fontsize=10)
        ax.set_xlabel("year")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("persons (mean, 5-95% band over replications)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_wage(rows: list[dict[str, Any]], stop: float | None, path: Path, window: str) -> None:
    plt = _plt()
    x = [r["ratio"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.errorbar(x, [r["arrivals"][0] for r in rows], yerr=np.nan_to_num([r["arrivals"][1] for r in rows]),
                marker="o", color="#4c72b0", capsize=2, label=f"establishments arriving {window}")
    ax.set_xlabel(f"{FOCUS} SO wage / Chengdu SO wage (pinned)")
    ax.set_ylabel("establishments (entries + relocations in)")
    ax2 = ax.twinx()
    ax2.plot(x, [r["jobs"][0] for r in rows], marker="s", color="#c44e52", label="SO employment, last year")
    ax2.set_ylabel(f"{FOCUS} SO employment")
    if stop is not None:
        ax.axvline(stop, color="black", ls="--", lw=0.8)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper right")
    ax.set_title(f"Wage-gap experiment: where relocation to {FOCUS} stops", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------

def build_report(d: Path, doc: Path, command: str = "outsourcing-abm report policy DIR") -> Path:
    """Write ``doc`` (Markdown) and its figures (in a folder named like the doc) from study ``d``."""
    study = load_study(d)
    years = [y for y in YEARS if y in study.years] or [study.years[-1]]
    study.report_years = years
    last = study.years[-1]
    figdir = doc.with_suffix("")
    figdir.mkdir(parents=True, exist_ok=True)
    rel = figdir.name
    others = [c for c in study.cities if c != FOCUS]
    runs, meta = study.runs, study.meta
    prov = meta.get("provenance", {})
    ok = runs[runs["status"] == "ok"]
    reps = ok.groupby("point").size()
    L: list[str] = []
    L.append("# Policy levers: what Neijiang's policies did, lever by lever")
    L.append("")
    L.append(f"_Generated by `{command}` from the sweep in `{d}`; do not edit by hand._")
    L.append("")
    rmin, rmax = (int(reps.min()), int(reps.max())) if len(reps) else (0, 0)
    L.append(f"Design `{meta['design']['name']}` ({meta['design']['file']}): {meta['points']} arms/points, "
             f"{rmin if rmin == rmax else f'{rmin}-{rmax}'} successful replications each ({len(ok)} of {len(runs)} runs ok), years {study.years[0]}-{last}, root seed "
             f"{meta['root_seed']}, common random numbers: {'yes' if study.crn else 'no'}. "
             f"outsourcing-abm {prov.get('version', '?')}, git commit {prov.get('git', {}).get('commit', '?')}"
             f"{' (uncommitted changes)' if prov.get('git', {}).get('dirty') else ''}.")
    fixed = {k: str(v) for k, v in (meta.get("fixed") or {}).items()}
    for item in meta.get("design", {}).get("cli_overrides") or []:
        k, _, v = item.partition("=")
        fixed[k.strip()] = v.strip()
    if fixed:
        L.append(f"Fixed for every run: {', '.join(f'`{k}={v}`' for k, v in fixed.items())}.")
    L.append("")
    L.append("Every number compares an arm with the **no-policy counterfactual** (no city lever anywhere; "
             "national demonstration-city funds still flow), replication by replication, and gives the mean "
             "± the half-width of its 95% confidence interval over replications. *Jobs* are SO employment "
             "(persons) at the end of the year, *firms* operating SO establishments. *Spending* is the city's "
             f"cumulative extra policy spending to {last}; *cost per job* divides it by the jobs added in {last}. "
             "*Payback* counts the years from the first year of extra spending until the city's cumulative extra "
             "local tax (its share of SO taxes) covers its cumulative extra spending. *Taken from other cities* "
             "is the fall in the other 25 cities' SO employment, up to the jobs Neijiang gained; the rest of "
             "Neijiang's gain is *newly created*.")
    L.append("")

    # ---- historical package -------------------------------------------------------
    hist = study.points("historical")
    if not hist.empty:
        hp = int(hist["point"].iloc[0])
        L.append("## The historical package against no policy")
        L.append("")
        header = ["city"] + [f"jobs {y}" for y in years] + [f"firms {y}" for y in years] + \
                 [f"own spending to {last} (CNY)", "cost per job (CNY)", "payback (years)"]
        rows = []
        groups = [(c, [c]) for c in (FOCUS, *NEIGHBOURS) if c in study.cities]
        groups += [("neighbours (total)", [c for c in NEIGHBOURS if c in study.cities]),
                   (f"other {len(others) - len(NEIGHBOURS)} cities", [c for c in others if c not in NEIGHBOURS])]
        for name, cs in groups:
            e = effects(study, hp, cs)
            rows.append([name if name != FOCUS else f"**{name}**"] + [_pm(e[f"jobs_{y}"]) for y in years]
                        + [_pm(e[f"firms_{y}"], 1) for y in years]
                        + [_cny(e["spend_to_end"]), _cny(e["cost_per_job"]),
                           _payback_text(e["payback"], e["repaid_share"])])
        L.append(_table(header, rows))
        L.append("")
        e = effects(study, hp, [FOCUS], others)
        y = years[-1]
        note = ("(the historical package includes other cities' own levers, so this is the net of everything; "
                "the single-lever arms below isolate Neijiang's)")
        if e[f"jobs_{y}"][0] > 0:
            L.append(f"Of Neijiang's {_n(e[f'jobs_{y}'][0])} SO jobs in {y}, {e[f'taken_{y}'][0]:,.0f} were taken "
                     f"from other cities and {e[f'created_{y}'][0]:,.0f} are newly created; the other cities together "
                     f"changed by {_pm(e[f'others_{y}'])} {note}.")
        else:
            L.append(f"Neijiang gained no SO jobs by {y} ({_pm(e[f'jobs_{y}'])}); the other cities together changed "
                     f"by {_pm(e[f'others_{y}'])} {note}.")
        L.append("")
        _plot_paths(study, hp, figdir / "historical_paths.png")
        L.append(f"![Neijiang and neighbours, historical package vs no policy]({rel}/historical_paths.png)")
        L.append("")

    # ---- single levers -------------------------------------------------------------
    lev = study.points("lever")
    lever_rows: list[dict[str, Any]] = []
    if not lev.empty:
        L.append(f"## Each lever alone in {FOCUS}")
        L.append("")
        for _, r in lev.iterrows():
            col, val = _intensity_col(r, runs)
            lever = col.split(".")[2] if col else str(r["arm"])
            e = effects(study, int(r["point"]), [FOCUS], others)
            en = effects(study, int(r["point"]), [c for c in NEIGHBOURS if c in study.cities])
            lever_rows.append({"arm": r["arm"], "lever": lever, "intensity": val,
                               "intensity_text": _fmt_intensity(lever, val), "eff": e, "nb": en})
        y = years[-1]
        header = ["lever", "intensity"] + [f"jobs {yy}" for yy in years] + [f"firms {yy}" for yy in years] + \
                 [f"spending to {last} (CNY)", "cost per job (CNY)", "payback (years)",
                  f"taken from others {y}", f"newly created {y}", f"other cities {y}", f"neighbours {y}"]
        rows = []
        for lr in lever_rows:
            e = lr["eff"]
            rows.append([f"`{lr['lever']}`", lr["intensity_text"]] + [_pm(e[f"jobs_{yy}"]) for yy in years]
                        + [_pm(e[f"firms_{yy}"], 1) for yy in years]
                        + [_cny(e["spend_to_end"]), _cny(e["cost_per_job"]),
                           _payback_text(e["payback"], e["repaid_share"]),
                           f"{e[f'taken_{y}'][0]:,.0f}", f"{e[f'created_{y}'][0]:,.0f}", _pm(e[f"others_{y}"]),
                           _pm(lr["nb"][f"jobs_{y}"])])
        L.append(_table(header, rows))
        L.append("")
        _plot_levers(lever_rows, y, figdir / "levers_jobs.png")
        L.append(f"![Jobs added by each lever]({rel}/levers_jobs.png)")
        L.append("")
        best = [lr for lr in lever_rows if np.isfinite(lr["eff"]["cost_per_job"])]
        if best:
            b = min(best, key=lambda lr: lr["eff"]["cost_per_job"])
            L.append(f"Cheapest per job added by {last}: `{b['lever']}` at {b['intensity_text']} "
                     f"(CNY {_cny(b['eff']['cost_per_job'])} per job).")
        zero = sorted({lr["lever"] for lr in lever_rows
                       if abs(lr["eff"][f"jobs_{y}"][0]) <= (lr["eff"][f"jobs_{y}"][1]
                                                            if np.isfinite(lr["eff"][f"jobs_{y}"][1]) else 0)})
        if zero:
            L.append(f"Levers whose effect on {y} jobs is not distinguishable from zero at some intensity: "
                     f"{', '.join(f'`{z}`' for z in zero)}.")
        for text in saturated_levers(lever_rows, y):
            L.append(text)
        idle = sorted({lr["lever"] for lr in lever_rows} - {lr["lever"] for lr in lever_rows if lr["eff"]["spend_to_end"] > 0})
        for lever in idle:
            why = (f" (matching funds multiply national demonstration-city funds, which {FOCUS} does not receive: "
                   "it is a provincial SO city from 2021, fact nj_provincial_designation)") if lever == "matching_funds" else ""
            L.append(f"`{lever}` spends nothing and changes nothing at any intensity: in {FOCUS} it has nothing "
                     f"to act on{why}.")
        L.append("")

    # ---- wage gap -------------------------------------------------------------------
    wg = study.points("wage_gap")
    wage_info: dict[str, Any] = {}
    if not wg.empty:
        param = study.report.get("wage_gap_parameter", WAGE_PARAMETER)
        start = int(study.report.get("arrivals_from", 2019))
        stop_share = float(study.report.get("stop_share", 0.1))
        window = f"{max(start, study.years[0])}-{last}"
        L.append("## The wage gap: where relocation stops")
        L.append("")
        L.append(f"Everything as in the historical run, but Neijiang's SO wage held at a fixed ratio of Chengdu's "
                 f"(`{param}`). *Arrivals* are SO establishments opening in or relocating to Neijiang in {window} "
                 "(entries + relocations in, summed over the years).")
        L.append("")
        rows_w = []
        for _, r in wg.sort_values(param).iterrows():
            p = int(r["point"])
            sub = study.cube.loc[p]
            sub = sub[sub.index.get_level_values("city") == FOCUS]
            yrs = sub.index.get_level_values("year")
            cols = [c for c in ("entries", "relocations_in") if c in sub.columns]
            arr = sub[yrs >= start][cols].sum(axis=1).groupby(level="replication").sum()
            reloc = (sub[yrs >= start]["relocations_in"].groupby(level="replication").sum()
                     if "relocations_in" in sub.columns else None)
            jobs = sub.xs(last, level="year")["employment"].groupby(level="replication").sum()
            rows_w.append({"ratio": float(r[param]), "arrivals": _mean_ci(arr),
                           "relocations": _mean_ci(reloc) if reloc is not None else (float("nan"),) * 2,
                           "jobs": _mean_ci(jobs)})
        top = rows_w[0]["arrivals"][0] if rows_w else float("nan")
        stop = next((w["ratio"] for w in rows_w if w["arrivals"][0] <= stop_share * top), None) \
            if np.isfinite(top) and top > 0 else None
        half = next((w["ratio"] for w in rows_w if w["arrivals"][0] <= 0.5 * top), None) \
            if np.isfinite(top) and top > 0 else None
        L.append(_table(["NJ/CD wage ratio", f"arrivals {window}", f"of which relocations {window}",
                         f"NJ SO jobs {last}"],
                        [[f"{w['ratio']:.2f}", _pm(w["arrivals"], 1).lstrip("+"), _pm(w["relocations"], 1).lstrip("+"),
                          _pm(w["jobs"]).lstrip("+")] for w in rows_w]))
        L.append("")
        lo_r = rows_w[0]["ratio"] if rows_w else float("nan")
        if stop is not None:
            L.append(f"**Relocation stops at a wage ratio of about {stop:.2f}**: there, arrivals fall below "
                     f"{stop_share:.0%} of those at a ratio of {lo_r:.2f}"
                     f"{f' (they halve by {half:.2f})' if half is not None else ''}.")
        else:
            L.append(f"Arrivals do not fall below {stop_share:.0%} of their level at {lo_r:.2f} anywhere in the "
                     f"swept range{f' (they halve by {half:.2f})' if half is not None else ''}: other advantages "
                     "(parks, rent, talent) keep firms coming even without a wage gap.")
        hist_ratio = None
        if not hist.empty:
            col = f"focus_wage_ratio_{years[0]}"
            if col in runs.columns:
                hr = runs[(runs["point"] == int(hist["point"].iloc[0])) & (runs["status"] == "ok")][col]
                hist_ratio = float(hr.mean()) if len(hr) else None
        if hist_ratio is not None and np.isfinite(hist_ratio):
            L.append(f"For reference, the unpinned historical run has a Neijiang/Chengdu SO wage ratio of "
                     f"{hist_ratio:.2f} in {years[0]}.")
        L.append("")
        _plot_wage(rows_w, stop, figdir / "wage_gap.png", window)
        L.append(f"![Wage-gap experiment]({rel}/wage_gap.png)")
        L.append("")
        wage_info = {"stop": stop, "half": half}

    failed = runs[runs["status"] != "ok"]
    if len(failed):
        L.append("## Failed runs")
        L.append("")
        L.append(_table(["run", "arm", "error"], [[r["run_id"], str(r["arm"]), str(r["error"])[:200]]
                                                   for _, r in failed.iterrows()]))
        L.append("")
    L.append("## Reproduce")
    L.append("")
    L.append("```")
    L.append(command)
    L.append("```")
    L.append("")
    L.append(f"reads (or, when missing, runs) the study in `{d}` and rewrites this page and the figures in "
             f"`{rel}/`. Per-run tables: `{d}/runs.parquet` (one row per run) and `{d}/city_year.parquet`.")
    doc.parent.mkdir(parents=True, exist_ok=True)
    tmp = doc.with_name(f".{doc.name}.tmp")
    tmp.write_text("\n".join(L) + "\n", encoding="utf-8")
    tmp.replace(doc)
    return doc


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def saturated_levers(lever_rows: list[dict[str, Any]], year: int) -> list[str]:
    """Sentences for levers whose lowest spending intensity clearly adds jobs by ``year`` while
    higher ones, costing at least twice as much, add none beyond it (the gain differs by less
    than the larger confidence half-width): the point past which more of the lever buys nothing."""
    out = []
    by_lever: dict[str, list[dict[str, Any]]] = {}
    for lr in lever_rows:
        if lr["eff"]["spend_to_end"] > 0:
            by_lever.setdefault(lr["lever"], []).append(lr)
    for lever, arms in by_lever.items():
        arms = sorted(arms, key=lambda lr: lr["eff"]["spend_to_end"])
        low = arms[0]
        (m0, h0) = low["eff"][f"jobs_{year}"]
        if not m0 > h0:  # only where the cheapest arm itself clearly adds jobs
            continue
        flat = [lr for lr in arms[1:] if lr["eff"]["spend_to_end"] >= 2 * low["eff"]["spend_to_end"]
                and abs(lr["eff"][f"jobs_{year}"][0] - m0) < max(h0, lr["eff"][f"jobs_{year}"][1])]
        if flat:
            top = flat[-1]
            out.append(f"`{lever}` beyond {low['intensity_text']} adds no jobs by {year} that stand out from noise: "
                       f"{top['intensity_text']} gives {_pm(top['eff'][f'jobs_{year}'])} against {_pm((m0, h0))} "
                       f"for {_cny(top['eff']['spend_to_end'])} instead of {_cny(low['eff']['spend_to_end'])} CNY.")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``outsourcing-abm report policy``."""
    parser.add_argument("dir", metavar="DIR", help="study folder: read if it holds results, else the design is run into it")
    parser.add_argument("--design", default=None, metavar="FILE",
                        help=f"study design used when DIR has no results (default: {DEFAULT_DESIGN})")
    parser.add_argument("--doc", default=None, metavar="FILE",
                        help=f"Markdown report to write, figures go to a folder of the same name (default: {DEFAULT_DOC})")
    add_design_arguments(parser)


def run_cli(args: argparse.Namespace) -> int:
    prog = "outsourcing-abm report policy"
    d = Path(args.dir)
    try:
        if args.workers is not None and args.workers < 1:
            raise InputError(f"--workers: expected a whole number of at least 1, got {args.workers}")
        if args.replications is not None and args.replications < 1:
            raise InputError(f"--replications: expected a whole number of at least 1, got {args.replications}")
        doc = Path(args.doc) if args.doc else _repo_path(DEFAULT_DOC)
        need_run = (not (d / "runs.parquet").is_file() or args.resume or args.replications is not None
                    or bool(args.overrides))
        if need_run:
            design_path = Path(args.design) if args.design else _repo_path(DEFAULT_DESIGN)
            design = load_design(design_path, replications=args.replications, overrides=args.overrides)
            if design.method != "arms":
                raise InputError(f"method: the policy study needs method = \"arms\" (got {design.method!r})")
            s = run_sweep(design, d, workers=args.workers or default_workers(), scheduler=args.scheduler,
                          resume=True, progress=not args.quiet, connect_timeout=args.connect_timeout,
                          worker_memory=cli_worker_memory(args))
            print(f"{design.name}: {s.total} runs ({s.ok} ok, {s.failed} failed) in {s.seconds:.1f} s -> {d}")
        parts = ["outsourcing-abm report policy", str(d)]
        if args.design:
            parts += ["--design", args.design]
        if args.replications is not None:
            parts += ["--replications", str(args.replications)]
        for o in args.overrides:
            parts += ["--set", o]
        if args.doc:
            parts += ["--doc", args.doc]
        build_report(d, doc, " ".join(parts))
    except InputError as e:
        print(error_line(prog, e), file=sys.stderr)
        return 2
    except OSError as e:
        print(error_line(prog, e), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Interrupted):
        return 130
    print(f"wrote {doc} (figures in {doc.with_suffix('')}/)")
    return 0
