"""The policy-lever study report: ``build_report(study folder, doc)`` writes a Markdown page and
its figures (in a folder named like the page) from a finished study (``model.study.policy_study``).

One function per section: the introduction, the historical package against no policy, each lever
alone in the focus city, the wage gap, failed runs, how to reproduce it. The focus city, its
reference and neighbour cities come from the study's base scenario; a lever's intensity is
written by its LeverSpec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.levers import LEVERS
from ..files import write_text_atomic
from ..provenance import short_commit
from .plots import pyplot, save
from .policy_study import (WAGE_PARAMETER, YEARS, Study, arrivals, effects, intensity_of, load_study, series)


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


def intensity_text(lever: str, v: float | None) -> str:
    """A lever intensity in words, as the lever's spec writes it ("70% of rent")."""
    if lever in LEVERS:
        return LEVERS[lever].describe(v)
    return "as in scenario" if v is None else f"{v:g}"


def _refs(study: Study) -> str:
    return " & ".join(study.references) or "its reference cities"


# ---------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------

def _plot_levers(study: Study, rows: list[dict[str, Any]], year: int, path: Path) -> None:
    plt = pyplot()
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
    ax.set_ylabel(f"{study.focus} SO jobs vs no policy, {year}")
    ax.set_title(f"Each lever alone in {study.focus}: SO jobs added by {year} (bars: 95% CI of the total)", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, path)


def _plot_paths(study: Study, point: int, path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    cf = study.counterfactual
    for ax, (title, cities) in zip(axes, ((study.focus, [study.focus]), ("neighbours (total)", study.neighbours))):
        for p, lab, col in ((point, "historical package", "#c44e52"), (cf, "no policy", "#4c72b0")):
            s = series(study, p, cities, "employment")
            mu, lo, hi = s.mean(axis=0), s.quantile(0.05, axis=0), s.quantile(0.95, axis=0)
            ax.plot(mu.index, mu.values, color=col, label=lab)
            ax.fill_between(mu.index, lo.values, hi.values, color=col, alpha=0.2, lw=0)
        ax.set_title(f"{title}: SO employment", fontsize=10)
        ax.set_xlabel("year")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("persons (mean, 5-95% band over replications)")
    axes[0].legend(fontsize=8)
    save(fig, path)


def _plot_wage(study: Study, rows: list[dict[str, Any]], stop: float | None, path: Path, window: str) -> None:
    plt = pyplot()
    x = [r["ratio"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.errorbar(x, [r["arrivals"][0] for r in rows], yerr=np.nan_to_num([r["arrivals"][1] for r in rows]),
                marker="o", color="#4c72b0", capsize=2, label=f"establishments arriving {window}")
    ax.set_xlabel(f"{study.focus} SO wage / mean SO wage of {_refs(study)} (pinned)")
    ax.set_ylabel("establishments (entries + relocations in)")
    ax2 = ax.twinx()
    ax2.plot(x, [r["jobs"][0] for r in rows], marker="s", color="#c44e52", label="SO employment, last year")
    ax2.set_ylabel(f"{study.focus} SO employment")
    if stop is not None:
        ax.axvline(stop, color="black", ls="--", lw=0.8)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper right")
    ax.set_title(f"Wage-gap experiment: where relocation to {study.focus} stops", fontsize=10)
    save(fig, path)


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------

def _intro(study: Study, d: Path, command: str) -> list[str]:
    runs, meta = study.runs, study.meta
    prov = meta.get("provenance", {})
    ok = runs[runs["status"] == "ok"]
    reps = ok.groupby("point").size()
    last, focus = study.years[-1], study.focus
    rmin, rmax = (int(reps.min()), int(reps.max())) if len(reps) else (0, 0)
    L = [f"# Policy levers: what {focus}'s policies did, lever by lever", "",
         f"_Generated by `{command}` from the sweep in `{d}`; do not edit by hand._", "",
         f"Design `{meta['design']['name']}` ({meta['design']['file']}): {meta['points']} arms/points, "
         f"{rmin if rmin == rmax else f'{rmin}-{rmax}'} successful replications each ({len(ok)} of {len(runs)} runs ok), "
         f"years {study.years[0]}-{last}, root seed {meta['root_seed']}, common random numbers: "
         f"{'yes' if study.crn else 'no'}. outsourcing-abm {prov.get('version', '?')}, git commit "
         f"{short_commit(prov.get('git', {}))}."]
    fixed = {k: str(v) for k, v in (meta.get("fixed") or {}).items()}
    for item in meta.get("design", {}).get("cli_overrides") or []:
        k, _, v = item.partition("=")
        fixed[k.strip()] = v.strip()
    if fixed:
        L.append(f"Fixed for every run: {', '.join(f'`{k}={v}`' for k, v in fixed.items())}.")
    L += ["",
          "Every number compares an arm with the **no-policy counterfactual** (no city lever anywhere; "
          "national demonstration-city funds still flow), replication by replication, and gives the mean "
          "± the half-width of its 95% confidence interval over replications. *Jobs* are SO employment "
          "(persons) at the end of the year, *firms* operating SO establishments. *Spending* is the city's "
          f"cumulative extra policy spending to {last}; *cost per job* divides it by the jobs added in {last}. "
          "*Payback* counts the years from the first year of extra spending until the city's cumulative extra "
          "local tax (its share of SO taxes) covers its cumulative extra spending. *Taken from other cities* "
          f"is the fall in the other {len(study.others)} cities' SO employment, up to the jobs {focus} gained; the "
          f"rest of {focus}'s gain is *newly created*. *Neighbours* are the other modelled cities of {focus}'s "
          f"province but its reference cities ({_refs(study)}): {', '.join(study.neighbours) or 'none'}.", ""]
    return L


def _historical(study: Study, figdir: Path) -> list[str]:
    hist = study.points("historical")
    if hist.empty:
        return []
    hp = int(hist["point"].iloc[0])
    years, last, focus, nb, others = study.report_years, study.years[-1], study.focus, study.neighbours, study.others
    header = ["city"] + [f"jobs {y}" for y in years] + [f"firms {y}" for y in years] + \
             [f"own spending to {last} (CNY)", "cost per job (CNY)", "payback (years)"]
    groups = [(c, [c]) for c in (focus, *nb)]
    groups += [("neighbours (total)", nb), (f"other {len(others) - len(nb)} cities", [c for c in others if c not in nb])]
    rows = []
    for name, cs in groups:
        e = effects(study, hp, cs)
        rows.append([name if name != focus else f"**{name}**"] + [_pm(e[f"jobs_{y}"]) for y in years]
                    + [_pm(e[f"firms_{y}"], 1) for y in years]
                    + [_cny(e["spend_to_end"]), _cny(e["cost_per_job"]), _payback_text(e["payback"], e["repaid_share"])])
    L = ["## The historical package against no policy", "", _table(header, rows), ""]
    e = effects(study, hp, [focus], others)
    y = years[-1]
    note = ("(the historical package includes other cities' own levers, so this is the net of everything; "
            f"the single-lever arms below isolate {focus}'s)")
    if e[f"jobs_{y}"][0] > 0:
        L.append(f"Of {focus}'s {_n(e[f'jobs_{y}'][0])} SO jobs in {y}, {e[f'taken_{y}'][0]:,.0f} were taken "
                 f"from other cities and {e[f'created_{y}'][0]:,.0f} are newly created; the other cities together "
                 f"changed by {_pm(e[f'others_{y}'])} {note}.")
    else:
        L.append(f"{focus} gained no SO jobs by {y} ({_pm(e[f'jobs_{y}'])}); the other cities together changed "
                 f"by {_pm(e[f'others_{y}'])} {note}.")
    _plot_paths(study, hp, figdir / "historical_paths.png")
    L += ["", f"![{focus} and neighbours, historical package vs no policy]({figdir.name}/historical_paths.png)", ""]
    return L


def _lever_rows(study: Study) -> list[dict[str, Any]]:
    out = []
    for _, r in study.points("lever").iterrows():
        col, val = intensity_of(r, study.runs)
        lever = col.split(".")[2] if col else str(r["arm"])
        out.append({"arm": r["arm"], "lever": lever, "intensity": val, "intensity_text": intensity_text(lever, val),
                    "eff": effects(study, int(r["point"]), [study.focus], study.others),
                    "nb": effects(study, int(r["point"]), study.neighbours)})
    return out


def _levers(study: Study, figdir: Path) -> list[str]:
    lever_rows = _lever_rows(study)
    if not lever_rows:
        return []
    years, last, focus = study.report_years, study.years[-1], study.focus
    y = years[-1]
    header = ["lever", "intensity"] + [f"jobs {yy}" for yy in years] + [f"firms {yy}" for yy in years] + \
             [f"spending to {last} (CNY)", "cost per job (CNY)", "payback (years)",
              f"taken from others {y}", f"newly created {y}", f"other cities {y}", f"neighbours {y}"]
    rows = []
    for lr in lever_rows:
        e = lr["eff"]
        rows.append([f"`{lr['lever']}`", lr["intensity_text"]] + [_pm(e[f"jobs_{yy}"]) for yy in years]
                    + [_pm(e[f"firms_{yy}"], 1) for yy in years]
                    + [_cny(e["spend_to_end"]), _cny(e["cost_per_job"]), _payback_text(e["payback"], e["repaid_share"]),
                       f"{e[f'taken_{y}'][0]:,.0f}", f"{e[f'created_{y}'][0]:,.0f}", _pm(e[f"others_{y}"]),
                       _pm(lr["nb"][f"jobs_{y}"])])
    _plot_levers(study, lever_rows, y, figdir / "levers_jobs.png")
    L = [f"## Each lever alone in {focus}", "", _table(header, rows), "",
         f"![Jobs added by each lever]({figdir.name}/levers_jobs.png)", ""]
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
    L += saturated_levers(lever_rows, y)
    idle = sorted({lr["lever"] for lr in lever_rows} - {lr["lever"] for lr in lever_rows if lr["eff"]["spend_to_end"] > 0})
    for lever in idle:
        why = (f" (matching funds multiply national demonstration-city funds, which {focus} does not receive "
               "in the modelled years)") if lever == "matching_funds" else ""
        L.append(f"`{lever}` spends nothing and changes nothing at any intensity: in {focus} it has nothing "
                 f"to act on{why}.")
    return L + [""]


def _wage_rows(study: Study, param: str, start: int) -> list[dict[str, Any]]:
    out = []
    for _, r in study.points("wage_gap").sort_values(param).iterrows():
        out.append({"ratio": float(r[param]), **arrivals(study, int(r["point"]), start)})
    return out


def _historical_ratio(study: Study) -> float | None:
    hist = study.points("historical")
    col = f"focus_wage_ratio_{study.report_years[0]}"
    if hist.empty or col not in study.runs.columns:
        return None
    runs = study.runs
    hr = runs[(runs["point"] == int(hist["point"].iloc[0])) & (runs["status"] == "ok")][col]
    return float(hr.mean()) if len(hr) else None


def _wage_gap(study: Study, figdir: Path) -> list[str]:
    if study.points("wage_gap").empty:
        return []
    param = study.report.get("wage_gap_parameter", WAGE_PARAMETER)
    start = int(study.report.get("arrivals_from", 2019))
    stop_share = float(study.report.get("stop_share", 0.1))
    last, focus, refs = study.years[-1], study.focus, _refs(study)
    window = f"{max(start, study.years[0])}-{last}"
    rows_w = _wage_rows(study, param, start)
    top = rows_w[0]["arrivals"][0] if rows_w else float("nan")
    stop = next((w["ratio"] for w in rows_w if w["arrivals"][0] <= stop_share * top), None) \
        if np.isfinite(top) and top > 0 else None
    half = next((w["ratio"] for w in rows_w if w["arrivals"][0] <= 0.5 * top), None) \
        if np.isfinite(top) and top > 0 else None
    L = ["## The wage gap: where relocation stops", "",
         f"Everything as in the historical run, but {focus}'s SO wage held at a fixed ratio of the mean SO wage of "
         f"{refs} (`{param}`). *Arrivals* are SO establishments opening in or relocating to {focus} in {window} "
         "(entries + relocations in, summed over the years).", "",
         _table([f"{focus} / {refs} wage ratio", f"arrivals {window}", f"of which relocations {window}",
                 f"{focus} SO jobs {last}"],
                [[f"{w['ratio']:.2f}", _pm(w["arrivals"], 1).lstrip("+"), _pm(w["relocations"], 1).lstrip("+"),
                  _pm(w["jobs"]).lstrip("+")] for w in rows_w]), ""]
    lo_r = rows_w[0]["ratio"] if rows_w else float("nan")
    halves = f" (they halve by {half:.2f})" if half is not None else ""
    if stop is not None:
        L.append(f"**Relocation stops at a wage ratio of about {stop:.2f}**: there, arrivals fall below "
                 f"{stop_share:.0%} of those at a ratio of {lo_r:.2f}{halves}.")
    else:
        L.append(f"Arrivals do not fall below {stop_share:.0%} of their level at {lo_r:.2f} anywhere in the "
                 f"swept range{halves}: other advantages (parks, rent, talent) keep firms coming even without a wage gap.")
    ratio = _historical_ratio(study)
    if ratio is not None and np.isfinite(ratio):
        L.append(f"For reference, the unpinned historical run has a {focus} / {refs} SO wage ratio of "
                 f"{ratio:.2f} in {study.report_years[0]}.")
    _plot_wage(study, rows_w, stop, figdir / "wage_gap.png", window)
    return L + ["", f"![Wage-gap experiment]({figdir.name}/wage_gap.png)", ""]


def _failures(study: Study) -> list[str]:
    failed = study.runs[study.runs["status"] != "ok"]
    if not len(failed):
        return []
    return ["## Failed runs", "", _table(["run", "arm", "error"], [[r["run_id"], str(r["arm"]), str(r["error"])[:200]]
                                                                 for _, r in failed.iterrows()]), ""]


def _reproduce(d: Path, figdir: Path, command: str) -> list[str]:
    return ["## Reproduce", "", "```", command, "```", "",
            f"reads (or, when missing, runs) the study in `{d}` and rewrites this page and the figures in "
            f"`{figdir.name}/`. Per-run tables: `{d}/runs.parquet` (one row per run) and `{d}/city_year.parquet`."]


def build_report(d: Path, doc: Path, command: str = "outsourcing-abm report policy DIR") -> Path:
    """Write ``doc`` (Markdown) and its figures (in a folder named like the doc) from study ``d``."""
    study = load_study(d)
    study.report_years = [y for y in YEARS if y in study.years] or [study.years[-1]]
    figdir = doc.with_suffix("")
    figdir.mkdir(parents=True, exist_ok=True)
    lines = (_intro(study, d, command) + _historical(study, figdir) + _levers(study, figdir)
             + _wage_gap(study, figdir) + _failures(study) + _reproduce(d, figdir, command))
    doc.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(doc, "\n".join(lines) + "\n")
    return doc


def publish(doc: Path, dest: Path) -> list[Path]:
    """Copy a report and its figure folder to ``dest`` (and ``dest``'s figure folder), atomically
    file by file."""
    from ..files import copy_atomic

    figs, dest_figs = doc.with_suffix(""), dest.with_suffix("")
    dest_figs.mkdir(parents=True, exist_ok=True)
    written = [copy_atomic(f, dest_figs / f.name) for f in sorted(figs.glob("*.png"))]
    written.append(copy_atomic(doc, dest))
    return written


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
