"""What the model reports: every city's state each quarter (the city columns of city_year.csv),
the DataCollector's model reporters (the regional shift and the focus city), and which columns
are flows summed over a year and which are stocks at year end."""

from __future__ import annotations

import numpy as np

from .agents.worker import EMPLOYED, SEEKING
from .levers import LEVER_INDEX, LEVER_NAMES

#: Age band of "young" staff in the Neijiang park fact (nj_young_share: 18-26).
YOUNG_MAX_AGE = 26.0
#: Age below which staff count as "under 30" (customer-centre survey, end-2022: 77.9% under 30).
UNDER30_AGE = 30.0

#: Per-quarter flows (summed into years); everything else in CITY_COLUMNS is a stock (year end).
FLOW_COLUMNS = ("entries", "new_firms", "exits", "relocations_in", "relocations_out", "hires",
                "graduate_seekers", "graduate_seekers_home_province", "graduate_seekers_studied_away",
                "graduate_seekers_studied_away_home_province", "experienced_seekers", "output_cny")
CITY_COLUMNS = (
    "firms", "firms_of_size", "firms_setting_up", "top_groups", "employment", "seats", "seekers", "local_share",
    "young_share", "graduate_workers", "under30_workers", "margin_seats", "known_entry_staff",
    "park_seats", "park_staff", "park_occupancy", "largest_firm_staff", "so_wage_cny", "city_wage_cny", "rent_cny_m2_month",
    "tax_cny", "policy_spend_cny", "national_funds_cny",
    *[f"spend_{name}_cny" for name in LEVER_NAMES], *FLOW_COLUMNS,
)
#: Columns summed over a year's quarters in city_year.csv.
YEAR_SUMS = (*FLOW_COLUMNS, "tax_cny", "policy_spend_cny", "national_funds_cny", *[f"spend_{n}_cny" for n in LEVER_NAMES])


def new_flows(n_cities: int) -> dict[str, np.ndarray]:
    return {k: np.zeros(n_cities) for k in FLOW_COLUMNS}


def city_state(model, flows: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Every city's state at the end of the quarter (persons, CNY, establishments, shares)."""
    ft, wt, C, s = model.firms_table, model.workers_table, model.n_cities, model.scale
    frows = ft.rows()
    op = frows[ft.operating[frows]]
    wrows = wt.rows()
    emp = wrows[wt.state[wrows] == EMPLOYED]
    ecity = wt.city[emp]
    employment = np.bincount(ecity, minlength=C) * s
    young = np.bincount(ecity, weights=(wt.age[emp] <= YOUNG_MAX_AGE), minlength=C) * s
    local = np.bincount(ecity, weights=(wt.home[emp] == ecity), minlength=C) * s
    park_emp = np.bincount(ecity, weights=ft.in_park[wt.firm[emp]], minlength=C) * s
    seekers = np.bincount(wt.city[wrows[wt.state[wrows] == SEEKING]], minlength=C) * s
    seats = np.bincount(ft.city[frows], weights=ft.seats[frows], minlength=C)
    # In-park establishments that outgrow the park hold the extra seats in market space
    # (as FirmAgent.park_free and the capacity check assume), so at most every park seat is used.
    park_used = np.minimum(model.park_seats, np.bincount(
        ft.city[frows], weights=ft.seats[frows] * ft.in_park[frows], minlength=C))
    largest = np.zeros(C)
    np.maximum.at(largest, ft.city[op], ft.employees[op] * s)
    p = model.params
    # Establishments of the firm groups with the most seats nationally (the "top 100 / top 50" firms).
    group_seats = np.bincount(ft.parent[frows], weights=ft.seats[frows]) if len(frows) else np.zeros(0)
    top = np.argsort(group_seats)[::-1][: p.top_group_count]
    is_top = np.isin(ft.parent[frows], top[group_seats[top] > 0])
    pairs = np.unique(ft.city[frows][is_top].astype(np.int64) * (len(group_seats) + 1) + ft.parent[frows][is_top])
    top_groups = np.bincount(pairs // (len(group_seats) + 1), minlength=C).astype(float)
    known = np.zeros(C)
    for c, agent in model.known_entries.items():
        if agent.model is not None and ft.alive[agent.row] and ft.agent[agent.row] is agent:
            known[c] = ft.employees[agent.row] * s
    ledger = model.ledger
    st = {
        "firms": np.bincount(ft.city[op], minlength=C).astype(float),
        "firms_of_size": np.bincount(ft.city[op], weights=ft.employees[op] * s >= p.firm_of_size_staff, minlength=C),
        "top_groups": top_groups,
        "graduate_workers": np.bincount(ecity, weights=wt.college[emp] >= 0, minlength=C) * s,
        "under30_workers": np.bincount(ecity, weights=wt.age[emp] < UNDER30_AGE, minlength=C) * s,
        "margin_seats": np.bincount(ft.city[frows], weights=ft.margin[frows] * ft.seats[frows], minlength=C),
        "known_entry_staff": known,
        "firms_setting_up": np.bincount(ft.city[frows], minlength=C) - np.bincount(ft.city[op], minlength=C),
        "employment": employment,
        "seats": seats,
        "seekers": seekers,
        "young_workers": young,
        "local_share": np.divide(local, employment, out=np.full(C, np.nan), where=employment > 0),
        "young_share": np.divide(young, employment, out=np.full(C, np.nan), where=employment > 0),
        "park_seats": model.park_seats.copy(),
        "park_staff": park_emp,
        "largest_firm_staff": largest,
        "park_occupancy": np.divide(park_used, model.park_seats, out=np.full(C, np.nan), where=model.park_seats > 0),
        "so_wage_cny": model.so_wage.copy(),
        "city_wage_cny": model.now.city_wage.copy(),
        "rent_cny_m2_month": model.now.rent.copy(),
        "tax_cny": ledger.tax.copy(),
        "policy_spend_cny": ledger.spend.sum(axis=1),
        "national_funds_cny": ledger.national_funds.copy(),
    }
    for name, k in LEVER_INDEX.items():
        st[f"spend_{name}_cny"] = ledger.spend[:, k].copy()
    zeros = np.zeros(C)
    for k in FLOW_COLUMNS:
        st[k] = flows[k] if flows is not None else zeros
    return st


def region_share(model, region: str) -> float:
    emp = model.city_state["employment"]
    total = emp.sum()
    return float(emp[model.world.region == region].sum() / total) if total > 0 else float("nan")


def model_reporters() -> dict:
    """DataCollector model reporters: the clock (step 0 is the initial state, quarter 0), the
    regional shift and the focus city (cumulative money in CNY)."""
    return {
        "step": lambda m: m.steps,
        "year": lambda m: m.year,
        "quarter": lambda m: m.quarter if m.steps > 0 else 0,
        "coastal_share": lambda m: region_share(m, "coastal"),
        "central_share": lambda m: region_share(m, "central"),
        "western_share": lambda m: region_share(m, "western"),
        "focus_firms": lambda m: m.city_state["firms"][m.focus],
        "focus_employment": lambda m: m.city_state["employment"][m.focus],
        "focus_park_staff": lambda m: m.city_state["park_staff"][m.focus],
        "focus_wage_ratio": lambda m: m.so_wage[m.focus] / m.so_wage[m.references].mean(),
        "focus_policy_spend": lambda m: m.ledger.cumulative_spend[m.focus],
        "focus_tax": lambda m: m.ledger.cumulative_tax[m.focus],
    }


def city_reporters() -> dict:
    """DataCollector reporters of every CityAgent: one per city column."""
    def reporter(key: str):
        def report(agent) -> float:
            return float(agent.model.city_state[key][agent.index])
        report.__name__ = key
        return report

    return {k: reporter(k) for k in CITY_COLUMNS}
