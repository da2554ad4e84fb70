"""Figures of one run: the regional shift, and the focus city against its observed points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

#: One colour per region, in every figure and on the browser page.
REGION_COLOURS = {"coastal": "#1f77b4", "central": "#ff7f0e", "western": "#2ca02c"}
#: PNG encoding of run figures: fast, lightly compressed (a run's figures are drafts; docs/ keeps its own).
FAST_PNG = {"compress_level": 1}
#: Panels of the focus-city figure: city_year column (or "pay_ratio"), scale, title.
FOCUS_PANELS = (("firms", 1.0, "SO establishments"), ("employment", 1.0, "SO employment (persons)"),
                ("output_cny", 1e8, "SO output (100 million CNY)"), ("pay_ratio", 1.0, "SO pay / reference cities"))


def regional_shift(region_year: pd.DataFrame, ax=None):
    ax = ax or plt.gca()
    for region, colour in REGION_COLOURS.items():
        d = region_year[region_year["region"] == region]
        ax.plot(d["year"], d["employment_share"], label=region, color=colour, lw=2)
    ax.set_ylabel("share of SO employment")
    ax.set_ylim(0, 1)
    ax.set_title("SO employment by region (modelled cities)")
    ax.legend()
    return ax


def focus_series(city_year: pd.DataFrame, focus: str, references: tuple[str, ...]) -> pd.DataFrame:
    """The focus city's rows by year, with ``pay_ratio``: its SO pay over its reference cities' mean."""
    fc = city_year[city_year["city"] == focus].set_index("year")
    ref = city_year[city_year["city"].isin(references)].groupby("year")["mean_wage_cny"].mean()
    return fc.assign(pay_ratio=fc["mean_wage_cny"] / ref)


def focus_panels(city_year: pd.DataFrame, axes, focus: str, references: tuple[str, ...],
                 points: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """Four panels of the focus city; ``points`` (column -> observed bands) drawn in red."""
    fc = focus_series(city_year, focus, references)
    for ax, (col, scale, title) in zip(axes, FOCUS_PANELS):
        ax.plot(fc.index, fc[col] / scale, lw=2, color="#444")
        if col == "employment" and "park_staff" in fc:
            ax.plot(fc.index, fc["park_staff"], lw=1, ls="--", color="#444", label="park staff")
        for pt in (points or {}).get(col, []):
            lo, hi = pt["low"] / scale, pt["high"] / scale
            mid = 0.5 * (lo + hi)
            ax.errorbar([pt["year"]], [mid], yerr=[[mid - lo], [hi - mid]], fmt="o", color="crimson",
                        capsize=3, label=pt["label"])
        ax.set_title(title, fontsize=9)
        ax.set_xlim(fc.index.min(), fc.index.max())
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)


def run_figures(city_year: pd.DataFrame, region_year: pd.DataFrame, out: Path, params,
                points: dict[str, list[dict[str, Any]]] | None = None) -> list[str]:
    """Write regional_shift.png and <focus city>.png into ``out``; returns the file names."""
    fig, ax = plt.subplots(figsize=(7, 4))
    regional_shift(region_year, ax)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.08, top=0.91)  # fixed: tight_layout costs a draw
    fig.savefig(out / "regional_shift.png", dpi=110, pil_kwargs=FAST_PNG)
    plt.close(fig)
    focus = params.focus_city
    fig, axes = plt.subplots(2, 2, figsize=(9, 6))
    focus_panels(city_year, axes.ravel(), focus, tuple(params.reference_cities), points)
    fig.suptitle(f"{focus}: model (line) against observed bands (points)")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.06, top=0.9, wspace=0.22, hspace=0.3)
    name = f"{focus.lower()}.png"
    fig.savefig(out / name, dpi=110, pil_kwargs=FAST_PNG)
    plt.close(fig)
    return ["regional_shift.png", name]
