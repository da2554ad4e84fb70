"""The table printed at the end of a run: the regional shift and the focus city, by year."""

from __future__ import annotations

import pandas as pd

from .core.data import LAST_DATA_YEAR

SUMMARY_YEARS = (2005, 2008, 2010, 2012, 2015, 2018, 2020, 2021, 2022, 2023, 2025, 2030)


def summary_table(city_year: pd.DataFrame, region_year: pd.DataFrame, params) -> str:
    """Text table: coastal and inland shares of SO employment (%), the focus city's establishments,
    SO employment (persons), output and SO pay against its reference cities; years after the
    last data year are marked as projections."""
    focus, refs = params.focus_city, list(params.reference_cities)
    years = [y for y in SUMMARY_YEARS if y in set(city_year["year"])]
    shares = region_year.pivot(index="year", columns="region", values="employment_share").loc[years]
    fc = city_year[city_year["city"] == focus].set_index("year")
    ref_wage = city_year[city_year["city"].isin(refs)].groupby("year")["mean_wage_cny"].mean()
    t = pd.DataFrame({
        "coastal %": (100 * shares["coastal"]).map("{:.1f}".format),
        "inland %": (100 * (shares["central"] + shares["western"])).map("{:.1f}".format),
        "firms": fc["firms"].map("{:,.0f}".format),
        "SO jobs": fc["employment"].map("{:,.0f}".format),
        "output (1e8 CNY)": (fc["output_cny"] / 1e8).map("{:,.2f}".format),
        "pay ratio": (fc["mean_wage_cny"] / ref_wage).map("{:.2f}".format),
    }).loc[years]
    t.index = [f"{y}*" if y > LAST_DATA_YEAR else str(y) for y in years]
    t.index.name = "year"
    legend = (f"coastal %, inland %: share of the modelled cities' SO employment (inland = central + western).\n"
              f"firms, SO jobs, output: {focus}'s operating SO establishments, SO employment (persons) and SO "
              f"output.\npay ratio: {focus}'s average SO pay / the mean of {' and '.join(refs)}'s.\n"
              f"* projection (after the last data year, {LAST_DATA_YEAR})")
    return f"{t.to_string()}\n\n{legend}"
