"""``outsourcing-abm forecast``: every modelled city 2024-2030 with uncertainty bands.

Uncertainty comes from two sources at once: parameters (``--draws`` draws from the ABC
posterior in ``experiments/posterior.csv``, resampled by weight) and chance (``--seeds`` seeds
per draw). Scenario: the calibrated baseline, i.e. current policy carried forward. Writes
``OUT/forecast.csv`` (year, city, metric, p05, p25, p50, p75, p95), ``OUT/forecast_neijiang.png``
and ``OUT/plan.csv`` / ``OUT/plan.md``: the probability that Neijiang reaches its park plan
(seed fact ``nj_new_park_plan``: 500 firms, 100,000 people, 1.3e10 CNY output, 1.2e9 CNY tax)
by 2030.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import InputError
from .scenarios import load_scenario
from .validate import REPO, add_common_arguments, connect_from, run_many, scenario_from, seeds_from

POSTERIOR = REPO / "experiments" / "posterior.csv"
FIRST_YEAR, LAST_YEAR = 2024, 2030
METRICS = ("firms", "new_firms", "employment", "output_cny", "tax_cny")
QUANTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
#: Neijiang's park plan at full delivery (seed fact nj_new_park_plan, 2023-05): city-year column -> goal.
PLAN = {"firms": 500, "park_staff": 100_000, "output_cny": 1.3e10, "tax_cny": 1.2e9}


def posterior_draws(path: Path, n: int, seed: int) -> pd.DataFrame:
    """``n`` parameter sets resampled from the weighted posterior sample."""
    if not path.is_file():
        raise InputError(f"--posterior: file not found: {path} (run `outsourcing-abm calibrate` first)")
    post = pd.read_csv(path)
    if "weight" not in post.columns or len(post) == 0:
        raise InputError(f"--posterior: {path} has no weight column or no rows")
    from ..core.params import RANGES

    unknown = [c for c in post.columns if c != "weight" and c not in RANGES]
    if unknown:
        raise InputError(f"--posterior: column {unknown[0]!r} is not a model parameter (see `outsourcing-abm params`)")
    w = pd.to_numeric(post["weight"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise InputError(f"--posterior: weights in {path} must be finite, non-negative and not all zero")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(post), size=n, replace=True, p=w / w.sum())
    return post.drop(columns="weight").iloc[idx].reset_index(drop=True)


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


def plan_probability(cy: pd.DataFrame) -> pd.DataFrame:
    nj = cy[(cy["city"] == "Neijiang") & (cy["year"] == LAST_YEAR)]
    rows = [{"goal": col, "plan": goal, "p50_2030": float(nj[col].median()),
             "probability": float((nj[col] >= goal).mean())} for col, goal in PLAN.items()]
    every = np.ones(len(nj), dtype=bool)
    for col, goal in PLAN.items():
        every &= nj[col].to_numpy() >= goal
    rows.append({"goal": "all four", "plan": np.nan, "p50_2030": np.nan, "probability": float(every.mean())})
    return pd.DataFrame(rows)


def plot(cy: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nj = cy[(cy["city"] == "Neijiang") & (cy["year"] >= 2015)]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, col, scale, title in zip(axes, ["firms", "employment", "output_cny", "tax_cny"], [1, 1, 1e8, 1e8],
                                     ["SO establishments", "SO employment (persons)",
                                      "SO output (100 million CNY)", "SO tax (100 million CNY)"]):
        q = nj.groupby("year")[col].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack() / scale
        ax.fill_between(q.index, q[0.05], q[0.95], alpha=0.2, color="tab:blue", lw=0, label="90%")
        ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.4, color="tab:blue", lw=0, label="50%")
        ax.plot(q.index, q[0.5], color="tab:blue", lw=2, label="median")
        ax.axvline(2023.5, color="grey", ls=":", lw=1)
        goal = {"firms": PLAN["firms"], "output_cny": PLAN["output_cny"], "tax_cny": PLAN["tax_cny"]}.get(col)
        if goal:
            ax.axhline(goal / scale, color="crimson", ls="--", lw=1, label="park plan")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Neijiang forecast under current policy: posterior draws x seeds (calibrated to 2023 data)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, 2, "results/forecast")
    parser.add_argument("--draws", type=int, default=20, metavar="N", help="posterior draws (default 20)")
    parser.add_argument("--posterior", default=str(POSTERIOR), metavar="CSV",
                        help="weighted posterior sample (default experiments/posterior.csv)")


def run_cli(args: argparse.Namespace) -> int:
    from ..provenance import code_provenance as provenance

    if args.draws < 1:
        raise InputError(f"--draws: expected a whole number of at least 1, got {args.draws}")
    scenario = scenario_from(args)
    base = load_scenario(scenario, args.overrides)
    if base.end_year < LAST_YEAR:
        raise InputError(f"end_year: the forecast runs to {LAST_YEAR}, got {base.end_year}")
    draws = posterior_draws(Path(args.posterior), args.draws, args.root_seed)
    distinct = len(draws.drop_duplicates())
    seeds = seeds_from(args.root_seed, args.draws * args.seeds)
    jobs = [(base.replace(**{k: float(v) for k, v in row.items()}), seeds[i * args.seeds + j])
            for i, row in draws.iterrows() for j in range(args.seeds)]
    client, cluster = connect_from(args)
    try:
        tables = run_many(client, jobs, "forecast", not args.quiet)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    cy = pd.concat([t.assign(run=i) for i, t in enumerate(tables)], ignore_index=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bands(cy).to_csv(out / "forecast.csv", index=False, float_format="%.6g")
    plan = plan_probability(cy)
    plan.to_csv(out / "plan.csv", index=False, float_format="%.6g")
    plot(cy, out / "forecast_neijiang.png")
    lines = [f"# Neijiang's park plan by {LAST_YEAR} under current policy", "",
             f"{len(jobs)} runs ({args.draws} posterior draws x {args.seeds} seeds) of `{scenario.name}`; "
             f"the draws hold {distinct} distinct parameter set{'s' if distinct != 1 else ''} (a degenerate "
             "posterior gives few, and then the bands are mostly seed noise). "
             "Plan: seed fact `nj_new_park_plan` (2023-05).", "",
             "| goal | plan | model median 2030 | probability of reaching it |", "|---|---|---|---|"]
    for _, r in plan.iterrows():
        lines.append(f"| {r['goal']} | {r['plan']:.4g} | {r['p50_2030']:.4g} | {r['probability']:.0%} |")
    (out / "plan.md").write_text("\n".join(lines) + "\n")
    (out / "run.json").write_text(json.dumps({"scenario": str(scenario), "overrides": args.overrides,
                                              "draws": args.draws, "distinct_parameter_sets": distinct,
                                              "seeds_per_draw": args.seeds,
                                              "root_seed": args.root_seed, "posterior": str(args.posterior),
                                              **provenance()}, indent=2))
    print(f"wrote {out / 'forecast.csv'} ({len(jobs)} runs)")
    nj = cy[(cy["city"] == "Neijiang") & (cy["year"] == LAST_YEAR)]
    print(f"Neijiang {LAST_YEAR}: employment median {nj['employment'].median():,.0f} "
          f"(90%: {nj['employment'].quantile(0.05):,.0f} to {nj['employment'].quantile(0.95):,.0f}); "
          f"firms median {nj['firms'].median():.0f}")
    for _, r in plan.iterrows():
        print(f"  P(reach plan {r['goal']}) = {r['probability']:.0%}")
    return 0
