"""The fixed world the model runs in: the cities, their data and the distances between them, and
the SO segments. Read once from model/core/data/ (every file has a source column); shared by the
Mesa model and the numpy reference in benchmarks/."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .data import WAGE_COLUMNS, haversine_km, load_cities, load_segments


@dataclass(frozen=True, eq=False)
class World:
    cities: pd.DataFrame            # cities.csv, indexed by city name
    names: tuple[str, ...]
    region: np.ndarray              # "coastal" / "central" / "western"
    tier: np.ndarray
    population: np.ndarray          # persons, 2020 census
    urban_population: np.ndarray    # persons, 2020 census
    province: np.ndarray            # province code of each city (0..P-1)
    province_names: np.ndarray
    same_province: np.ndarray       # (cities x cities) 1.0 where both lie in one province
    distance_km: np.ndarray         # (cities x cities) great-circle km
    graduates_2021: np.ndarray      # persons/year
    rent_2015: np.ndarray           # prime office rent, CNY/m2/month
    wage_points: np.ndarray         # (cities x data.WAGE_YEARS) average wage observations, CNY/year
    demo_year: np.ndarray           # year a national SO demonstration city (NaN: never)
    hub_weight: np.ndarray          # weight as a client hub: urban payroll (CNY/year)
    inland_hub: np.ndarray          # client hubs in central and western cities (the inland client market)
    hub_market: np.ndarray          # client market of each city as a hub: 0 coastal and foreign, 1 inland
    segment_names: tuple[str, ...]
    segment_share_start: np.ndarray  # SO demand share of each segment at start
    segment_share_end: np.ndarray    # ... in the last data year
    revenue_2020: np.ndarray         # CNY per seat-year, 2020
    pay_multiplier: np.ndarray       # segment pay relative to front-line SO pay
    client_contact: np.ndarray       # 1 where the segment's work needs visits to the client, 0 where it is remote

    @property
    def n_cities(self) -> int:
        return len(self.names)

    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.names)}


@lru_cache(maxsize=1)
def load_world() -> World:
    cities = load_cities()
    codes, province = np.unique(cities["province"].to_numpy(), return_inverse=True)
    # Clients are the firms of every city: a city's weight as a client hub is its urban payroll
    # (urban residents x average wage, both sourced columns), not a judgemental list of hubs.
    hub_weight = (cities["urban_population_2020"] * cities["wage_2005"]).to_numpy(float)
    region = cities["region"].to_numpy()
    segs = load_segments()
    world = World(
        cities=cities, names=tuple(cities.index), region=region, tier=cities["tier"].to_numpy(),
        population=cities["population_2020"].to_numpy(float),
        urban_population=cities["urban_population_2020"].to_numpy(float),
        province=province, province_names=codes,
        same_province=(province[:, None] == province[None, :]).astype(float),
        distance_km=haversine_km(cities["lon"].to_numpy(float), cities["lat"].to_numpy(float)),
        graduates_2021=cities["graduates_2021"].to_numpy(float),
        rent_2015=cities["office_rent_2015"].to_numpy(float),
        wage_points=cities[WAGE_COLUMNS].to_numpy(float),
        demo_year=cities["demo_city_year"].to_numpy(float),
        hub_weight=hub_weight, inland_hub=(inland := region != "coastal"),
        hub_market=inland.astype(np.int64),
        segment_names=tuple(segs["segment"]),
        segment_share_start=segs["demand_share_2005"].to_numpy(float),
        segment_share_end=segs["demand_share_2023"].to_numpy(float),
        revenue_2020=segs["revenue_per_seat_2020"].to_numpy(float),
        pay_multiplier=segs["pay_multiplier"].to_numpy(float),
        client_contact=segs["client_contact"].to_numpy(float),
    )
    for a in vars(world).values():  # shared by every model of the process: read-only
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return world
