"""What causes the inland shift: knock-out experiments and a Shapley decomposition.

A mechanism study (``experiments/mechanisms.toml``) names the model's *driver channels* (the wage
gap, the rent gap, the talent term, policy), what switching each off means (parameter overrides,
and for policy a scenario without city levers), and further single knock-outs (agglomeration,
client access, a doubled wage gap, no city policy). ``explain`` expands it into an arms sweep:
one arm for every combination of channels on and off (2^n arms) plus one per extra knock-out,
all with the same seeds (common random numbers), run on the study executor. Then:

* the 2005-2023 gain in the inland (central + western) share of SO employment of every arm,
  per seed;
* the Shapley value of every channel: its average marginal contribution to the gain over all
  orders in which the channels can be switched on (the values add up to the gain of all channels
  on minus the gain of all off), per seed, with the seed band;
* the focus city's SO employment in each arm, and the city-policy effect on it (baseline minus
  no city policy, paired by seed). One city's employment is far noisier than a national share, so
  that pair of arms runs again over ``policy_replications`` seeds (its first seeds are the main
  sweep's) in a sweep of its own.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..files import write_text_atomic
from .checks import positive_int
from .inputs import read_toml

BASE_YEAR, END_YEAR = 2005, 2023
_SPEC_KEYS = {"name", "description", "scenario", "replications", "policy_replications", "root_seed", "fixed",
              "channels", "extra", "checks"}


@dataclass(frozen=True)
class Channel:
    name: str
    label: str
    off: dict[str, Any]        # overrides that switch it off
    scenario_off: str | None   # scenario used when it is off (None: the study's scenario)


@dataclass(frozen=True)
class Spec:
    path: Path
    name: str
    description: str
    scenario: str
    replications: int
    policy_replications: int   # seeds of the city-policy pair (baseline, no city policy)
    root_seed: int
    fixed: dict[str, Any]
    channels: tuple[Channel, ...]
    extra: tuple[dict[str, Any], ...]   # {label, description, scenario?, set}
    checks: dict[str, Any]


def seed_count(value: Any, field: str) -> int:
    """``value`` as a number of seeds, or an InputError naming ``field``: seed bands need at least 2."""
    return positive_int(field, value, minimum=2)


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    raw = read_toml(path, "mechanisms")
    unknown = set(raw) - _SPEC_KEYS
    if unknown:
        raise InputError(f"{sorted(unknown)[0]}: unknown key (allowed: {', '.join(sorted(_SPEC_KEYS))})")
    chans = []
    for name, c in (raw.get("channels") or {}).items():
        if not isinstance(c, dict) or not isinstance(c.get("off", {}), dict):
            raise InputError(f"channels.{name}: expected a table with off = {{parameter = value}}")
        chans.append(Channel(name, str(c.get("label", name)), dict(c.get("off", {})), c.get("scenario_off")))
    if not 1 <= len(chans) <= 6:
        raise InputError(f"channels: expected 1 to 6 channels (2^n arms are run), got {len(chans)}")
    extra = tuple(dict(e) for e in raw.get("extra", []))
    for i, e in enumerate(extra):
        if not isinstance(e.get("label"), str):
            raise InputError(f"extra[{i}].label: missing (every extra knock-out needs a label)")
    reps = seed_count(raw.get("replications", 10), "replications")
    policy_reps = seed_count(raw.get("policy_replications", reps), "policy_replications")
    return Spec(path, str(raw.get("name", path.stem)), str(raw.get("description", "")), str(raw["scenario"]),
                reps, policy_reps, int(raw.get("root_seed", 0)), dict(raw.get("fixed", {})), tuple(chans), extra,
                dict(raw.get("checks", {})))


def subset_label(on: frozenset[str], channels: tuple[Channel, ...]) -> str:
    """Arm label of a channel combination: 'on:wage+rent' ('on:none' for all off)."""
    names = [c.name for c in channels if c.name in on]
    return "on:" + ("+".join(names) if names else "none")


def design_dict(spec: Spec) -> dict[str, Any]:
    """The arms design that runs every channel combination and every extra knock-out."""
    here = spec.path.parent

    def scen(name: str) -> str:
        return str((here / name).resolve())

    arms = []
    names = [c.name for c in spec.channels]
    for k in range(len(names), -1, -1):
        for on in itertools.combinations(names, k):
            on_set = frozenset(on)
            sets: dict[str, Any] = {}
            scenario = spec.scenario
            for c in spec.channels:
                if c.name not in on_set:
                    sets.update(c.off)
                    scenario = c.scenario_off or scenario
            arms.append({"label": subset_label(on_set, spec.channels), "group": "channels",
                         "scenario": scen(scenario), "set": sets})
    for e in spec.extra:
        arms.append({"label": e["label"], "group": "extra", "scenario": scen(e.get("scenario", spec.scenario)),
                     "set": dict(e.get("set", {}))})
    return {"name": spec.name, "description": spec.description, "scenario": scen(spec.scenario),
            "method": "arms", "replications": spec.replications, "root_seed": spec.root_seed,
            "common_random_numbers": True, "fixed": spec.fixed, "arms": arms}


def policy_design_dict(spec: Spec) -> dict[str, Any] | None:
    """The baseline and no-city-policy arms over ``policy_replications`` seeds (None without a
    ``checks.no_city_policy`` arm). Same root seed and seeding, so its first seeds are the main sweep's."""
    arm = spec.checks.get("no_city_policy")
    if not arm:
        return None
    d = design_dict(spec)
    all_on = subset_label(frozenset(c.name for c in spec.channels), spec.channels)
    return {**d, "name": f"{spec.name}_city_policy", "replications": spec.policy_replications,
            "arms": [a for a in d["arms"] if a["label"] in (all_on, arm)]}


def write_design(design: dict[str, Any], out: Path) -> Path:
    """OUT/design.toml: an expanded arms design (deterministic, so --resume finds the same)."""
    import tomli_w

    out.mkdir(parents=True, exist_ok=True)
    path = out / "design.toml"
    write_text_atomic(path, tomli_w.dumps(design))
    return path


# ---------------------------------------------------------------------------------------
# Analysis
# ---------------------------------------------------------------------------------------

def inland_paths(sweep_dir: Path) -> tuple[Any, Any]:
    """(arm x replication x year) inland share of SO employment, and the runs table."""
    import pandas as pd

    runs = pd.read_parquet(sweep_dir / "runs.parquet")
    ry = pd.read_parquet(sweep_dir / "region_year.parquet")
    inland = ry[ry["region"] != "coastal"].groupby(["point", "replication", "year"])["employment_share"].sum()
    arm = runs.drop_duplicates("point").set_index("point")["arm"]
    df = inland.reset_index().assign(arm=lambda d: d["point"].map(arm))
    return df, runs


def start_shares(runs: Any) -> dict[str, np.ndarray]:
    """Arm -> (replications,) inland share of the initial state (the start of BASE_YEAR)."""
    ok = runs[runs["status"] == "ok"]
    return {arm: g.sort_values("replication")["inland_share_start"].to_numpy(float)
            for arm, g in ok.groupby("arm", sort=False)}


def gains(paths: Any, start: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arm -> (replications,) inland-share gain from the start of BASE_YEAR to the end of END_YEAR.

    The start is the observed stock every arm begins from; a year-end BASE_YEAR baseline would
    leave out the first year's entrants, whom the knock-outs already steer (national demand
    more than doubles in that year)."""
    out = {}
    for arm, g in paths.groupby("arm", sort=False):
        wide = g.pivot(index="replication", columns="year", values="employment_share").sort_index()
        out[arm] = wide[END_YEAR].to_numpy(float) - start[arm]
    return out


def shapley(values: dict[frozenset[str], np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Shapley value of every player from the value of every coalition (arrays over seeds)."""
    n = len(names)
    out = {}
    for i in names:
        others = [x for x in names if x != i]
        total = 0.0
        for k in range(n):
            w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for s in itertools.combinations(others, k):
                s = frozenset(s)
                total = total + w * (values[s | {i}] - values[s])
        out[i] = np.asarray(total, dtype=float)
    return out


def summary(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return {"mean": math.nan, "se": math.nan, "p05": math.nan, "p95": math.nan}
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return {"mean": float(x.mean()), "se": se, "p05": float(np.quantile(x, 0.05)), "p95": float(np.quantile(x, 0.95))}


def focus_employment(sweep_dir: Path, runs: Any, focus: str, years: tuple[int, ...]) -> dict[str, dict[int, np.ndarray]]:
    """Arm -> year -> (replications,) SO employment of the focus city."""
    import pandas as pd

    cy = pd.read_parquet(sweep_dir / "city_year.parquet", columns=["point", "replication", "year", "city", "employment"])
    cy = cy[(cy["city"] == focus) & cy["year"].isin(years)]
    arm = runs.drop_duplicates("point").set_index("point")["arm"]
    out: dict[str, dict[int, np.ndarray]] = {}
    for (point, year), g in cy.groupby(["point", "year"]):
        out.setdefault(arm[point], {})[int(year)] = g.sort_values("replication")["employment"].to_numpy(float)
    return out


def analyse(spec: Spec, sweep_dir: Path, focus: str, policy_dir: Path | None = None) -> dict[str, Any]:
    """Everything the report shows; the city-policy effect from ``policy_dir``'s sweep if given."""
    import pandas as pd

    paths, runs = inland_paths(sweep_dir)
    start = start_shares(runs)
    g = gains(paths, start)
    names = [c.name for c in spec.channels]
    coalition = {frozenset(s): g[subset_label(frozenset(s), spec.channels)]
                 for k in range(len(names) + 1) for s in itertools.combinations(names, k)}
    phi = shapley(coalition, names)
    all_on, all_off = subset_label(frozenset(names), spec.channels), subset_label(frozenset(), spec.channels)
    years = (2021, 2022, 2023)
    fe = focus_employment(sweep_dir, runs, focus, years)
    policy_fe = (focus_employment(policy_dir, pd.read_parquet(policy_dir / "runs.parquet"), focus, years)
                 if policy_dir is not None else fe)
    return {"paths": paths, "start": start, "gains": g, "shapley": phi, "all_on": all_on, "all_off": all_off,
            "focus": focus, "focus_employment": fe, "policy_employment": policy_fe, "names": names}


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

def _pm(s: dict[str, float], digits: int = 3) -> str:
    return f"{s['mean']:+.{digits}f} ± {s['se']:.{digits}f}" if math.isfinite(s["se"]) else f"{s['mean']:+.{digits}f}"


def checks(spec: Spec, a: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """The claims of the mechanism, each with the number that decides it."""
    c, g = spec.checks, a["gains"]
    base = g[a["all_on"]].mean()
    out = []
    if "no_wage_gap" in c:
        v = g[c["no_wage_gap"]].mean()
        limit = float(c.get("no_wage_gap_max_share", 0.4))
        out.append((f"without the wage gap the 2005-2023 inland gain is at most {limit:.0%} of the baseline's",
                    v <= limit * base, f"{v:+.3f} against {base:+.3f} ({v / base:.0%})" if base else f"{v:+.3f}"))
    if "double_wage_gap" in c:
        v = g[c["double_wage_gap"]].mean()
        out.append(("with a doubled wage gap the gain is larger than the baseline's", v > base, f"{v:+.3f} against {base:+.3f}"))
    least = float(c.get("baseline_min_gain", 0.10))
    out.append((f"the baseline gain is at least {least:.2f}", base >= least, f"{base:+.3f}"))
    most = float(c.get("all_off_max_move", 0.03))
    off = g[a["all_off"]].mean()
    out.append((f"with every driver off the inland share moves by at most {most:.2f}", abs(off) <= most, f"{off:+.3f}"))
    phi = {k: v.mean() for k, v in a["shapley"].items()}
    ranked = sorted(phi, key=phi.get, reverse=True)
    wage = c.get("wage_channel", "wage")
    numbers = ", ".join(f"{k} {phi[k]:+.3f}" for k in ranked)
    if len(ranked) > 1:
        # the lead is judged seed by seed: both values come from the same runs
        lead = summary(a["shapley"][ranked[0]] - a["shapley"][ranked[1]])
        numbers += f"; lead of {ranked[0]} over {ranked[1]} {_pm(lead)} (paired by seed)"
    out.append((f"the {wage} channel is the largest single contributor (Shapley)", ranked[0] == wage, numbers))
    return out


def policy_effect(spec: Spec, a: dict[str, Any]) -> list[tuple[int, dict[str, float]]] | None:
    arm = spec.checks.get("no_city_policy")
    fe = a["policy_employment"]
    if not arm or arm not in fe or a["all_on"] not in fe:
        return None
    return [(y, summary(fe[a["all_on"]][y] - fe[arm][y])) for y in sorted(fe[arm])]


def plot_paths(a: dict[str, Any], spec: Spec, path: Path) -> None:
    from .plots import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5))
    show = [a["all_on"], *spec.checks.get("plotted", []), a["all_off"]]
    colours = plt.get_cmap("tab10")
    for k, arm in enumerate(dict.fromkeys(show)):
        d = a["paths"][a["paths"]["arm"] == arm]
        if d.empty:
            continue
        q = d.groupby("year")["employment_share"].quantile([0.05, 0.5, 0.95]).unstack()
        ax.fill_between(q.index, q[0.05], q[0.95], color=colours(k), alpha=0.15, lw=0)
        ax.plot(q.index, q[0.5], color=colours(k), lw=2.2 if arm == a["all_on"] else 1.4, label=arm)
    ax.set_xlim(BASE_YEAR, END_YEAR)
    ax.set_ylabel("inland (central + western) share of SO employment")
    ax.set_title(f"Knock-outs: median and 90% band over {spec.replications} seeds")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    save(fig, path)


def write_report(spec: Spec, a: dict[str, Any], doc: Path, figure: str, header: str) -> None:
    g = a["gains"]
    results = checks(spec, a)
    passed = sum(ok for _, ok, _ in results)
    phi = {k: summary(v) for k, v in a["shapley"].items()}
    labels = {c.name: c.label for c in spec.channels}
    total = summary(g[a["all_on"]] - g[a["all_off"]])
    L = [f"{passed} of {len(results)} mechanism checks hold", "", "# What causes the inland shift", "", header, "",
         "## Checks", "", "| claim | holds | numbers |", "|---|---|---|"]
    L += [f"| {claim} | {'yes' if ok else '**no**'} | {nums} |" for claim, ok, nums in results]
    L += ["", "## The inland share under each knock-out", "", f"![inland share by knock-out]({figure})", "",
          f"The gain runs from the start of {BASE_YEAR} (the observed stock, the same in every arm) to the end of "
          f"{END_YEAR}; the end-{BASE_YEAR} column shows how much of it the first year's entrants already make.", "",
          f"| arm | inland share, start {BASE_YEAR} | end {BASE_YEAR} | end {END_YEAR} | gain {BASE_YEAR}-{END_YEAR} "
          f"(mean ± s.e.) | 90% band of the gain | {a['focus']} SO jobs 2021 | {a['focus']} SO jobs 2023 |",
          "|---|---|---|---|---|---|---|---|"]
    fe = a["focus_employment"]
    p = a["paths"]
    for arm, x in g.items():
        d = p[p["arm"] == arm].groupby("year")["employment_share"].mean()
        s = summary(x)
        jobs = [f"{fe.get(arm, {}).get(y, np.array([np.nan])).mean():,.0f}" for y in (2021, 2023)]
        L.append(f"| `{arm}` | {a['start'][arm].mean():.3f} | {d.get(BASE_YEAR, np.nan):.3f} | "
                 f"{d.get(END_YEAR, np.nan):.3f} | {_pm(s)} | "
                 f"{s['p05']:+.3f} to {s['p95']:+.3f} | {jobs[0]} | {jobs[1]} |")
    L += ["", "Arms `on:...` switch on the channels named and switch the others off; `on:none` is every driver "
          "off. Extra arms change one thing against the baseline.", "",
          "## Shapley decomposition of the inland gain", "",
          f"The gain with every channel on minus the gain with every channel off is {_pm(total)}; the Shapley values "
          "below add up to it, seed by seed. Each is a channel's average marginal contribution over all orders of "
          "switching the channels on.", "",
          "| channel | what switching it off means | Shapley value (mean ± s.e.) | 90% band over seeds | share of the total |",
          "|---|---|---|---|---|"]
    for c in spec.channels:
        s = phi[c.name]
        off = ", ".join(f"`{k} = {v}`" for k, v in c.off.items()) + (f", scenario `{c.scenario_off}`" if c.scenario_off else "")
        share = s["mean"] / total["mean"] if total["mean"] else math.nan
        L.append(f"| {labels[c.name]} | {off} | {_pm(s)} | {s['p05']:+.3f} to {s['p95']:+.3f} | {share:.0%} |")
    eff = policy_effect(spec, a)
    if eff:
        L += ["", f"## City policy and {a['focus']}", "",
              f"Baseline (the documented city policies) minus `{spec.checks['no_city_policy']}` (no city levers, national "
              f"preferences kept), paired by seed over {len(a['policy_employment'][a['all_on']][eff[0][0]])} seeds: "
              f"{a['focus']}'s SO employment.", "",
              "| year | difference (persons, mean ± s.e.) | more than twice the s.e.? |", "|---|---|---|"]
        for y, s in eff:
            L.append(f"| {y} | {s['mean']:+,.0f} ± {s['se']:,.0f} | {'yes' if abs(s['mean']) > 2 * s['se'] else 'no'} |")
    doc.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(doc, "\n".join(L) + "\n")


def result_json(spec: Spec, a: dict[str, Any]) -> dict[str, Any]:
    return {"gains": {k: summary(v) for k, v in a["gains"].items()},
            "shapley": {k: summary(v) for k, v in a["shapley"].items()},
            "checks": [{"claim": c, "holds": bool(ok), "numbers": n} for c, ok, n in checks(spec, a)],
            "policy_effect": [{"year": y, **s} for y, s in (policy_effect(spec, a) or [])]}


def save_json(path: Path, obj: Any) -> None:
    from ..files import json_default

    write_text_atomic(path, json.dumps(obj, indent=2, default=json_default) + "\n")
