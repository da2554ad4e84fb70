"""City policy levers: one specification per lever, and the spells a scenario gives them.

A ``LeverSpec`` says everything the code needs to know about a lever: what its intensity means
(unit, allowed range, how to write it), who receives the money, how it is shown on the browser
page, which channel of the model it acts through, and what it costs in a quarter. Adding a lever
means adding one entry to ``LEVERS``; the model, the ledger, the page and the reports read it from
there.

Channels (``effect``), read by the agents' rules:

* ``firm_cost``: lowers an operating seat's yearly cost (CNY per seat-year, ``seat_cost_offset``);
* ``entrant_grant``: a one-off payment per seat to an establishment that opens or relocates in;
* ``setup``: replaces the default set-up time (months);
* ``worker_income``: raises a job seeker's expected income;
* ``housing``: lowers young SO workers' housing cost;
* ``park``: turnkey park seats, built linearly over the spell and kept afterwards;
* ``fund_matching``: city money added to national demonstration-city SO funds.

A spell is active in calendar years ``start`` to ``end`` inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

RECIPIENTS = ("firms", "workers", "public_works")
EFFECTS = ("firm_cost", "entrant_grant", "setup", "worker_income", "housing", "park", "fund_matching")


@dataclass(frozen=True)
class QuarterEvents:
    """What happened in every city this quarter that lever costs are paid on (arrays by city)."""

    hires: np.ndarray               # SO hires (persons)
    graduate_first_hires: np.ndarray  # hires of graduates into their first SO job (persons)
    entry_seats: np.ndarray          # seats of establishments opening or relocating in
    entries: np.ndarray              # establishments opening or relocating in
    operating_seats: np.ndarray      # seats of operating establishments
    rent_per_seat_quarter: np.ndarray  # SO office rent of one seat for a quarter (CNY)
    park_seats_added: np.ndarray     # turnkey park seats built this quarter
    national_funds: np.ndarray       # national SO funds received this quarter (CNY)


#: cost(events, intensity by city, params) -> CNY by city this quarter
CostRule = Callable[[QuarterEvents, np.ndarray, object], np.ndarray]


@dataclass(frozen=True)
class LeverSpec:
    name: str
    label: str                 # display name
    unit: str                  # what the intensity means, with its unit
    low: float                 # allowed intensity range (inclusive)
    high: float
    recipient: str             # who receives the money: one of RECIPIENTS
    effect: str                # the channel it acts through: one of EFFECTS
    cost: CostRule             # what it costs in a quarter
    text: str                  # format of one intensity in reports, e.g. "{:.0%} of rent"
    slider: tuple[float, float, float, float]  # browser page: default, lowest, highest, step
    stronger: str = "higher"   # "lower" where less is more (months of set-up)

    def describe(self, intensity: float | None) -> str:
        """An intensity in words, for reports ("70% of rent")."""
        return "as in scenario" if intensity is None else self.text.format(intensity)


QUARTERS_PER_YEAR = 4


def _rent_relief(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.rent_per_seat_quarter * x * ev.operating_seats


def _per_entry_seat(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.entry_seats * x


def _per_hire(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.hires * x


def _per_graduate_first_hire(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.graduate_first_hires * x


def _apartments(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return x * p.apartment_cost_per_unit_year / QUARTERS_PER_YEAR


def _park_build(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.park_seats_added * p.park_cost_per_seat


def _task_force(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.entries * (x > 0) * p.fast_setup_cost_per_firm


def _matching(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return x * ev.national_funds


LEVERS: dict[str, LeverSpec] = {s.name: s for s in (
    LeverSpec("rent_relief", "Rent relief", "share of office rent waived for SO firms, 0-1", 0.0, 1.0,
              "firms", "firm_cost", _rent_relief, "{:.0%} of rent", (0.5, 0.0, 1.0, 0.05)),
    LeverSpec("relocation_grant", "Relocation grant", "CNY per seat, paid once when a firm opens or relocates in",
              0.0, 1e6, "firms", "entrant_grant", _per_entry_seat, "{:,.0f} CNY/seat", (5000.0, 0.0, 30000.0, 500.0)),
    LeverSpec("talent_subsidy", "Talent subsidy", "CNY per SO hire, paid once to the worker", 0.0, 1e6,
              "workers", "worker_income", _per_hire, "{:,.0f} CNY/hire", (5000.0, 0.0, 30000.0, 500.0)),
    LeverSpec("training_subsidy", "Training subsidy", "CNY per newly trained graduate hire, paid to the firm",
              0.0, 1e6, "firms", "firm_cost", _per_graduate_first_hire, "{:,.0f} CNY/hire",
              (3000.0, 0.0, 20000.0, 500.0)),
    LeverSpec("talent_apartments", "Talent apartments", "apartment units offered to SO workers", 0.0, 1e7,
              "public_works", "housing", _apartments, "{:,.0f} units", (2000.0, 0.0, 20000.0, 500.0)),
    LeverSpec("park_capacity", "Park capacity", "turnkey park seats at full build-out (built linearly start..end)",
              0.0, 1e7, "public_works", "park", _park_build, "{:,.0f} seats", (20000.0, 0.0, 150000.0, 5000.0)),
    LeverSpec("fast_setup", "Fast set-up", "months from first contact to operation", 0.0, 60.0,
              "public_works", "setup", _task_force, "{:g} months", (4.0, 1.0, 24.0, 1.0), stronger="lower"),
    LeverSpec("matching_funds", "Matching funds", "city CNY added per CNY of national SO funds", 0.0, 20.0,
              "firms", "fund_matching", _matching, "{:g} CNY per national CNY", (1.0, 0.0, 5.0, 0.25)),
)}
LEVER_NAMES: tuple[str, ...] = tuple(LEVERS)
LEVER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LEVER_NAMES)}


@dataclass(frozen=True)
class Spell:
    """One policy lever of one city: active in calendar years ``start`` to ``end`` inclusive."""

    city: str
    lever: str
    start: int
    end: int
    intensity: float

    def active(self, year: float) -> bool:
        return self.start <= year < self.end + 1

    def built_share(self, year: float) -> float:
        """Share of a build-out lever's intensity in place at ``year``: linear from the start of the
        start year to the end of the end year, then kept."""
        return float(np.clip((year - self.start) / (self.end + 1 - self.start), 0.0, 1.0))


class PolicySchedule:
    """Intensity of every lever in every city at any time."""

    def __init__(self, spells: tuple[Spell, ...], city_index: dict[str, int]):
        self.n_cities = len(city_index)
        self.spells = [(city_index[s.city], LEVER_INDEX[s.lever], s) for s in spells]

    def intensities(self, year: float) -> np.ndarray:
        """(cities x levers) intensity in force at ``year`` (0 where inactive). Build-out levers
        (park seats) give the seats in place instead (``built``)."""
        out = np.zeros((self.n_cities, len(LEVER_NAMES)))
        for c, k, s in self.spells:
            if LEVERS[s.lever].effect != "park" and s.active(year):
                out[c, k] = s.intensity
        return out

    def built(self, year: float) -> np.ndarray:
        """Turnkey park seats built by ``year`` in each city (every spell adds its share)."""
        seats = np.zeros(self.n_cities)
        for c, k, s in self.spells:
            if LEVERS[s.lever].effect == "park":
                seats[c] += s.intensity * s.built_share(year)
        return seats
