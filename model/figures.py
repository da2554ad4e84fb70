"""Figures written into every run folder: the regional shift and Neijiang against the source facts."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .facts import NEIJIANG_POINTS  # noqa: E402

REGION_COLOURS = {"coastal": "#1f77b4", "central": "#ff7f0e", "western": "#2ca02c"}


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


def neijiang_panels(city_year: pd.DataFrame, axes) -> None:
    nj = city_year[city_year["city"] == "Neijiang"]
    cd = city_year[city_year["city"] == "Chengdu"].set_index("year")["mean_wage_cny"]
    ratio = nj.set_index("year")["mean_wage_cny"] / cd
    series = [("firms", nj.set_index("year")["firms"], "SO establishments"),
              ("employment", nj.set_index("year")["employment"], "SO employment (persons)"),
              ("output_cny", nj.set_index("year")["output_cny"] / 1e8, "SO output (100 million CNY)"),
              ("wage_ratio", ratio, "SO wage, Neijiang / Chengdu")]
    for ax, (key, s, title) in zip(axes, series):
        ax.plot(s.index, s.values, lw=2, color="#444")
        for pt in NEIJIANG_POINTS.get(key, []):
            unit = 1e8 if key == "output_cny" else 1
            y = pt["value"] / unit
            lo, hi = (v / unit for v in pt.get("range", (pt["value"], pt["value"])))
            ax.errorbar([pt["year"]], [y], yerr=[[y - lo], [hi - y]], fmt="o", color="crimson",
                        capsize=3, label=pt["label"])
        ax.set_title(title, fontsize=9)
        ax.set_xlim(2005, s.index.max())
        if NEIJIANG_POINTS.get(key):
            ax.legend(fontsize=6)


def run_figures(city_year: pd.DataFrame, region_year: pd.DataFrame, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    regional_shift(region_year, ax)
    fig.tight_layout()
    fig.savefig(out / "regional_shift.png", dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(2, 2, figsize=(9, 6))
    neijiang_panels(city_year, axes.ravel())
    fig.suptitle("Neijiang: model (line) against source facts (points)")
    fig.tight_layout()
    fig.savefig(out / "neijiang.png", dpi=110)
    plt.close(fig)
