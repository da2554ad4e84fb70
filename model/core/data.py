"""Loading the input data files (model/data/*.csv) and deriving time paths from them.

Every file carries a source column; docs/data.md describes each column.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).parent / "data"

TIERS = ("coastal_mega", "coastal_second", "central", "western_hub", "western_secondary")
REGIONS = ("coastal", "central", "western")
#: Last calendar year of observed data the model may use (later figures are held out).
LAST_DATA_YEAR = 2023


@lru_cache(maxsize=None)
def load_cities() -> pd.DataFrame:
    df = pd.read_csv(DATA_DIR / "cities.csv")
    return df.set_index("city", drop=False)


def anchor_focus_city() -> str:
    """The anchor case of the sources (cities.csv case_role "focus"): the default focus city."""
    return str(load_cities().query("case_role == 'focus'")["city"].iloc[0])


def anchor_reference_cities() -> tuple[str, ...]:
    """The cities the anchor case's pay is compared with (cities.csv case_role "reference")."""
    return tuple(load_cities().query("case_role == 'reference'")["city"])


@lru_cache(maxsize=None)
def load_links() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "links.csv")


@lru_cache(maxsize=None)
def load_national() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "national.csv").set_index("year")


@lru_cache(maxsize=None)
def load_segments() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "segments.csv")


@lru_cache(maxsize=None)
def load_known_entries() -> pd.DataFrame:
    """Establishments whose opening year is an input fact (e.g. Neijiang's first SO firm, 2008)."""
    return pd.read_csv(DATA_DIR / "known_entries.csv")


@lru_cache(maxsize=None)
def load_national_wage() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "national_wage.csv").set_index("year")


@lru_cache(maxsize=None)
def load_graduate_pay() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "graduate_pay.csv").set_index("cohort")


def loglinear(years: np.ndarray, values: np.ndarray, at: float, growth_after: float | None = None) -> float:
    """Log-linear interpolation of a positive series; beyond the last point grow at
    ``growth_after`` a year (or the last segment's growth when None); before the first
    point, extrapolate the first segment's growth."""
    years = np.asarray(years, dtype=float)
    logv = np.log(np.asarray(values, dtype=float))
    if at <= years[-1] and at >= years[0]:
        return float(np.exp(np.interp(at, years, logv)))
    if at > years[-1]:
        g = growth_after if growth_after is not None else np.expm1((logv[-1] - logv[-2]) / (years[-1] - years[-2]))
        return float(np.exp(logv[-1]) * (1.0 + g) ** (at - years[-1]))
    g0 = (logv[1] - logv[0]) / (years[1] - years[0])
    return float(np.exp(logv[0] + g0 * (at - years[0])))


#: Years of the city wage observations (cities.csv wage_2005, wage_2015, wage_2022).
WAGE_YEARS = np.array([2005.0, 2015.0, 2022.0])
WAGE_COLUMNS = ["wage_2005", "wage_2015", "wage_2022"]


def city_wage(points: np.ndarray, year: float, growth_shift: float = 0.0) -> np.ndarray:
    """Average urban non-private wage of every city in ``year`` (CNY/year), log-linear between
    its observations ``points`` (cities x WAGE_YEARS), extrapolated at the 2015-22 trend;
    ``growth_shift`` adds to every city's annual growth from 2005 on (a what-if control)."""
    out = np.empty(len(points))
    for i, w in enumerate(points):
        out[i] = loglinear(WAGE_YEARS, w, year)
    return out * (1.0 + growth_shift) ** (year - 2005.0)


@lru_cache(maxsize=None)
def _series(table: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(years, values) of a national series up to the last data year (read once)."""
    df = {"national_wage": load_national_wage, "graduate_pay": load_graduate_pay}.get(table, load_national)()
    df = df[df.index <= LAST_DATA_YEAR]
    return df.index.to_numpy(float), df[column].to_numpy(float)


def national_wage(year: float, growth_shift: float = 0.0) -> float:
    w = loglinear(*_series("national_wage", "wage_cny"), year)
    return w * (1.0 + growth_shift) ** (year - 2005.0)


def graduate_starting_pay(year: float, growth_shift: float = 0.0) -> float:
    """Vocational graduates' starting pay (CNY/year, MyCOS monthly cash income x 12) in ``year``.
    Before the first cohort it moves with the national average wage; beyond the last it keeps the
    last interval's growth. ``growth_shift`` is added to its growth from 2005 on, as for city wages."""
    years, pay = _series("graduate_pay", "vocational_monthly_cny")
    months = 12.0
    if year <= years[0]:
        monthly = pay[0] * national_wage(year) / national_wage(float(years[0]))
    else:
        monthly = loglinear(years, pay, year)
    return months * monthly * (1.0 + growth_shift) ** (year - 2005.0)


def national_so_employment(year: float, growth_after: float) -> float:
    """National SO employment (persons) in ``year``: MOFCOM series to 2023, then ``growth_after``."""
    return loglinear(*_series("national", "so_employment"), year, growth_after)


def national_graduates(year: float) -> float:
    """Regular higher-education graduates in China (persons/year), held flat after 2023."""
    return loglinear(*_series("national", "graduates_national"), min(year, LAST_DATA_YEAR), 0.0)


def haversine_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Great-circle distance matrix between points (km)."""
    lon, lat = np.radians(lon), np.radians(lat)
    dlon = lon[:, None] - lon[None, :]
    dlat = lat[:, None] - lat[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def city_graph(year: float | None = None) -> nx.Graph:
    """The rail network: nodes are cities (with lon, lat, tier, region), edges carry the travel
    time in minutes valid in ``year`` (fast link if opened by then); ``year=None`` means the
    latest state."""
    cities = load_cities()
    g = nx.Graph()
    for c in cities.itertuples():
        g.add_node(c.city, lon=float(c.lon), lat=float(c.lat), tier=c.tier, region=c.region)
    for e in load_links().itertuples():
        opened = year is None or pd.isna(e.opened) or year >= e.opened
        g.add_edge(e.city_a, e.city_b, minutes=float(e.minutes if opened else e.minutes_before))
    return g


def travel_minutes(year: float) -> np.ndarray:
    """All-pairs shortest rail time (minutes), in the order of ``load_cities()``."""
    names = list(load_cities().index)
    return _travel_minutes_for(tuple(sorted(_opened_links(year))), tuple(names))


def _opened_links(year: float) -> set[int]:
    links = load_links()
    return {i for i, o in enumerate(links["opened"]) if pd.isna(o) or year >= o}


@lru_cache(maxsize=64)
def _travel_minutes_for(opened: tuple[int, ...], names: tuple[str, ...]) -> np.ndarray:
    links = load_links()
    g = nx.Graph()
    g.add_nodes_from(names)
    for i, e in enumerate(links.itertuples()):
        g.add_edge(e.city_a, e.city_b, minutes=float(e.minutes if i in opened else e.minutes_before))
    dist = dict(nx.all_pairs_dijkstra_path_length(g, weight="minutes"))
    idx = {n: k for k, n in enumerate(names)}
    out = np.full((len(names), len(names)), np.inf)
    for a, row in dist.items():
        for b, d in row.items():
            out[idx[a], idx[b]] = d
    return out
