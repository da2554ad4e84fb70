"""The table printed at the end of a run."""

from __future__ import annotations

import pandas as pd

SUMMARY_YEARS = (2005, 2008, 2010, 2012, 2015, 2018, 2020, 2021, 2022, 2023, 2025, 2030)


def summary_table(city_year: pd.DataFrame, region_year: pd.DataFrame) -> str:
    years = [y for y in SUMMARY_YEARS if y in set(city_year["year"])]
    shares = region_year.pivot(index="year", columns="region", values="employment_share").loc[years]
    nj = city_year[city_year["city"] == "Neijiang"].set_index("year")
    cd = city_year[city_year["city"] == "Chengdu"].set_index("year")
    t = pd.DataFrame({
        "coastal %": 100 * shares["coastal"],
        "inland %": 100 * (shares["central"] + shares["western"]),
        "NJ firms": nj["firms"],
        "NJ employment": nj["employment"].round(-1),
        "NJ output (1e8 CNY)": nj["output_cny"] / 1e8,
        "NJ/CD wage": nj["mean_wage_cny"] / cd["mean_wage_cny"],
    }).loc[years]
    return t.to_string(float_format=lambda v: f"{v:,.2f}")
