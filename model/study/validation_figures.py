"""Figures of the validation report, all drawn from the targets file and the scenario:

* ``<prefix>_regional_shift.png``: employment share of each region, with the share targets;
* ``<prefix>_<focus city>.png``: the focus city's firms, employment, park staff, output, SO pay
  against its comparison city, and staff shares, with its level targets;
* ``<prefix>_<city>.png``: one figure for every other city that has targets, one panel per
  quantity its targets are about, over the years around them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .plots import band, observed, pyplot, save
from .targets import Target

#: The focus city's panels: column, scale, title, and the target columns drawn on it.
FOCUS_PANELS = [("firms", 1, "SO establishments", ("firms",)),
                ("employment", 1, "SO employment (persons)", ("employment",)),
                ("park_staff", 1, "park staff (persons)", ("park_staff",)),
                ("output_cny", 1e8, "SO output (100 million CNY)", ("output_cny",)),
                ("wage_ratio", 1, "", ()),
                ("young_share", 1, "staff shares: young (grey), local (blue)", ("young_share", "local_share"))]
SCALES = {"output_cny": 1e8, "tax_cny": 1e8, "policy_spend_cny": 1e8}
TITLES = {"firms": "SO establishments", "new_firms": "new SO establishments", "employment": "SO employment",
          "employment_change": "SO employment increase", "output_cny": "SO output (100 million CNY)",
          "park_seats": "park seats", "park_staff": "park staff (persons)"}


def _slug(city: str) -> str:
    return "".join(ch for ch in city.lower() if ch.isalnum() or ch in "-_")


def regional_shift(cy: pd.DataFrame, targets: list[Target], path: Path) -> None:
    from ..figures import REGION_COLOURS
    from ..run import region_year_table

    plt = pyplot()
    ry = pd.concat([region_year_table(g).assign(run=r) for r, g in cy.groupby("run")])
    fig, ax = plt.subplots(figsize=(7, 4))
    for region, colour in REGION_COLOURS.items():
        band(ax, ry[ry["region"] == region], "employment_share", region, colour)
    for t in targets:
        if t.transform == "share":
            observed(ax, t.year, t.low, t.high, f"{t.region} {t.year} band ({t.id})")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of SO employment")
    ax.set_title("Regional shift, median and 90% band over seeds")
    ax.legend(fontsize=7)
    save(fig, path)


def _wage_reference(targets: list[Target], focus: str, references: tuple[str, ...]) -> tuple[list[str], list[Target]]:
    """The cities the focus city's SO pay is compared with: those of its first pay-ratio target
    if it has one (the source's comparison: its ``cities``, or its ``other`` city), else its
    reference cities."""
    ratio = [t for t in targets if t.city == focus and t.transform == "ratio_to_city" and t.column == "mean_wage_cny"]
    if not ratio:
        return list(references), ratio
    return list(ratio[0].cities) or [ratio[0].other], ratio


def focus_city(cy: pd.DataFrame, targets: list[Target], focus: str, references: tuple[str, ...], path: Path) -> None:
    plt = pyplot()
    fc = cy[cy["city"] == focus].copy()
    refs, ratio_targets = _wage_reference(targets, focus, references)
    ref_pay = cy[cy["city"].isin(refs)].groupby(["run", "year"])["mean_wage_cny"].mean()
    fc["wage_ratio"] = fc["mean_wage_cny"].to_numpy() / ref_pay.loc[list(zip(fc["run"], fc["year"]))].to_numpy()
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, (col, scale, title, cols) in zip(axes.ravel(), FOCUS_PANELS):
        band(ax, fc, col, scale=scale)
        if col == "young_share":
            band(ax, fc, "local_share", color="tab:blue")
        drawn = ratio_targets if col == "wage_ratio" else [
            t for t in targets if t.city == focus and t.transform == "level" and t.column in cols]
        for t in drawn:
            observed(ax, t.year, t.low, t.high, f"{t.id} band", scale)
        ax.set_title(title or f"SO wage, {focus} / {' & '.join(refs)}", fontsize=9)
        ax.set_xlim(int(cy["year"].min()), fc["year"].max())
        if drawn:
            ax.legend(fontsize=6)
    fig.suptitle(f"{focus}: model median and 90% band over seeds; observed bands in red")
    save(fig, path)


def _city_panels(ts: list[Target]) -> list[str]:
    """One panel per quantity a city's targets are about (a change target: the yearly increase)."""
    panels: list[str] = []
    for t in ts:
        col = f"{t.column}_change" if t.transform in ("change", "change_growth") else t.column
        if col and col not in panels:
            panels.append(col)
    return panels


def other_city(cy: pd.DataFrame, targets: list[Target], city: str, path: Path) -> None:
    """A city's targets over the years around them (from three years before to two after)."""
    plt = pyplot()
    ts = [t for t in targets if t.city == city]
    years = (max(int(cy["year"].min()), min(t.year for t in ts) - 3), min(int(cy["year"].max()), max(t.year for t in ts) + 2))
    d = cy[(cy["city"] == city) & cy["year"].between(*years)].sort_values(["run", "year"]).copy()
    panels = _city_panels(ts)
    for col in panels:
        if col.endswith("_change"):
            d[col] = d.groupby("run")[col.removesuffix("_change")].diff()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6), squeeze=False)
    for ax, col in zip(axes[0], panels):
        scale = SCALES.get(col, 1)
        band(ax, d.dropna(subset=[col]), col, scale=scale)
        for t in ts:
            drawn_col = f"{t.column}_change" if t.transform == "change" else (t.column if t.transform == "level" else None)
            if drawn_col == col and years[0] <= t.year <= years[1]:
                observed(ax, t.year, t.low, t.high, f"{t.id} band", scale)
        ax.set_title(TITLES.get(col, col.replace("_", " ")), fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    fig.suptitle(f"{city} {years[0]}-{years[1]}: model median and 90% band; observed bands in red")
    save(fig, path)


def make_figures(cy: pd.DataFrame, targets: list[Target], img: Path, focus: str, references: tuple[str, ...],
                 prefix: str = "validation") -> list[str]:
    """Every figure into ``img``; their file names, in report order."""
    img.mkdir(parents=True, exist_ok=True)
    names = [f"{prefix}_regional_shift.png"]
    regional_shift(cy, targets, img / names[-1])
    names.append(f"{prefix}_{_slug(focus)}.png")
    focus_city(cy, targets, focus, references, img / names[-1])
    cities = set(cy["city"])
    for city in dict.fromkeys(t.city for t in targets if t.city and t.city != focus and t.city in cities):
        names.append(f"{prefix}_{_slug(city)}.png")
        other_city(cy, targets, city, img / names[-1])
    return names
