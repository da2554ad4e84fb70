"""City policy levers over time and the fiscal ledger that books what they cost.

A lever is active in calendar years start..end inclusive. Park capacity is built linearly
over those years and stays afterwards. Every yuan a city spends is booked once, to one
(city, lever) cell, and tagged as a transfer to firms, to workers, or public works, so the
accounts can be checked to balance.
"""

from __future__ import annotations

import numpy as np

from .levers import LEVERS, Spell as Lever

LEVER_NAMES: tuple[str, ...] = tuple(LEVERS)
LEVER = {name: i for i, name in enumerate(LEVER_NAMES)}

#: Who receives each lever's money.
RECIPIENT = {
    "rent_relief": "firms", "relocation_grant": "firms", "training_subsidy": "firms",
    "matching_funds": "firms", "talent_subsidy": "workers", "talent_apartments": "public_works",
    "park_capacity": "public_works", "fast_setup": "public_works",
}


class PolicySchedule:
    """Intensity of every lever in every city at any time."""

    def __init__(self, levers: tuple[Lever, ...], city_index: dict[str, int]):
        self.n_cities = len(city_index)
        self.spells = [(city_index[lv.city], LEVER[lv.lever], lv) for lv in levers]

    def intensities(self, year: float) -> np.ndarray:
        """(cities x levers) intensity in force at ``year`` (0 where inactive)."""
        out = np.zeros((self.n_cities, len(LEVER_NAMES)))
        for c, k, lv in self.spells:
            if lv.active(year) and LEVER_NAMES[k] != "park_capacity":
                out[c, k] = lv.intensity
        return out

    def park_seats(self, year: float) -> np.ndarray:
        """Turnkey park seats built by ``year`` in each city: linear from the start of the start
        year to the end of the end year, then kept."""
        seats = np.zeros(self.n_cities)
        for c, k, lv in self.spells:
            if LEVER_NAMES[k] == "park_capacity":
                span = lv.end + 1 - lv.start
                seats[c] += lv.intensity * np.clip((year - lv.start) / span, 0.0, 1.0)
        return seats


class FiscalLedger:
    """Quarterly public money flows by city: spending by lever, national funds, local tax."""

    def __init__(self, n_cities: int):
        self.spend = np.zeros((n_cities, len(LEVER_NAMES)))   # CNY, this quarter
        self.national_funds = np.zeros(n_cities)                # CNY, this quarter, paid by the centre
        self.tax = np.zeros(n_cities)                           # CNY, this quarter, kept locally
        self.cumulative_spend = np.zeros(n_cities)
        self.cumulative_tax = np.zeros(n_cities)

    def new_quarter(self) -> None:
        self.spend[:] = 0.0
        self.national_funds[:] = 0.0
        self.tax[:] = 0.0

    def book(self, lever: str, amounts: np.ndarray) -> None:
        self.spend[:, LEVER[lever]] += amounts

    def close_quarter(self) -> None:
        self.cumulative_spend += self.spend.sum(axis=1)
        self.cumulative_tax += self.tax

    def by_recipient(self) -> dict[str, np.ndarray]:
        """This quarter's spending by recipient group (cities)."""
        out = {r: np.zeros(self.spend.shape[0]) for r in set(RECIPIENT.values())}
        for name, k in LEVER.items():
            out[RECIPIENT[name]] += self.spend[:, k]
        return out
