"""City policy levers: one specification per lever, and the spells a scenario gives them.

A ``LeverSpec`` says everything the code needs to know about a lever: what its intensity means
(unit, allowed range, how to write it), who receives the money, how it is shown on the browser
page, which channel of the model it acts through, and what it costs in a quarter. Adding a lever
means adding one entry to ``LEVERS``; the model, the ledger, the page and the reports read it from
there.

Channels (``effect``), each read at one place by the agents:

* ``firm_cost``: lowers a seat's yearly cost in the firms' margins (rent relief, training subsidy,
  matched national funds);
* ``entrant_grant``: a one-off payment per seat to an establishment that opens or relocates in;
* ``setup``: replaces the default set-up time (months);
* ``worker_income``: raises a job seeker's expected income (talent subsidy);
* ``housing``: houses young SO workers in talent apartments;
* ``park``: turnkey park seats, built linearly over the spell and kept afterwards.

A lever of a new kind on an existing channel is one new entry here plus its effect and cost rules
in rules/policy.py.

A spell is active in calendar years ``start`` to ``end`` inclusive.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import InputError, InputWarning
from .rules import policy as pol
from .rules.policy import QuarterEvents

RECIPIENTS = ("firms", "workers", "public_works")
#: The channels a lever can act through (the effect rules' signatures: model/core/rules/policy.py).
EFFECTS = ("firm_cost", "entrant_grant", "setup", "worker_income", "housing", "park")

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
    rule: Callable             # the effect rule of its channel (rules/policy.py)
    cost: CostRule             # what it costs in a quarter (CNY by city)
    text: str                  # format of one intensity in reports, e.g. "{:.0%} of rent"
    slider: tuple[float, float, float, float]  # browser page: default, lowest, highest, step
    stronger: str = "higher"   # "lower" where less is more (months of set-up)

    def describe(self, intensity: float | None) -> str:
        """An intensity in words, for reports ("70% of rent")."""
        return "as in scenario" if intensity is None else self.text.format(intensity)


LEVERS: dict[str, LeverSpec] = {s.name: s for s in (
    LeverSpec("rent_relief", "Rent relief", "share of office rent waived for SO firms, 0-1", 0.0, 1.0,
              "firms", "firm_cost", pol.rent_waived, pol.cost_rent_waived, "{:.0%} of rent", (0.5, 0.0, 1.0, 0.05)),
    LeverSpec("relocation_grant", "Relocation grant", "CNY per seat, paid once when a firm opens or relocates in",
              0.0, 1e6, "firms", "entrant_grant", pol.grant_per_seat, pol.cost_per_arrival_seat, "{:,.0f} CNY/seat",
              (5000.0, 0.0, 30000.0, 500.0)),
    LeverSpec("talent_subsidy", "Talent subsidy", "CNY per SO hire, paid once to the worker", 0.0, 1e6,
              "workers", "worker_income", pol.subsidy_income, pol.cost_per_hire, "{:,.0f} CNY/hire",
              (5000.0, 0.0, 30000.0, 500.0)),
    LeverSpec("training_subsidy", "Training subsidy", "CNY per newly trained graduate hire, paid to the firm",
              0.0, 1e6, "firms", "firm_cost", pol.training_paid, pol.cost_per_graduate_first_hire, "{:,.0f} CNY/hire",
              (3000.0, 0.0, 20000.0, 500.0)),
    LeverSpec("talent_apartments", "Talent apartments", "apartment units offered to SO workers", 0.0, 1e7,
              "public_works", "housing", pol.apartments_cover, pol.cost_apartments, "{:,.0f} units",
              (2000.0, 0.0, 20000.0, 500.0)),
    LeverSpec("park_capacity", "Park capacity", "turnkey park seats at full build-out (built linearly start..end)",
              0.0, 1e7, "public_works", "park", pol.no_effect, pol.cost_park_build, "{:,.0f} seats",
              (20000.0, 0.0, 150000.0, 5000.0)),
    LeverSpec("fast_setup", "Fast set-up", "months from first contact to operation", 0.0, 60.0,
              "public_works", "setup", pol.setup_months, pol.cost_task_force, "{:g} months", (4.0, 1.0, 24.0, 1.0),
              stronger="lower"),
    LeverSpec("matching_funds", "Matching funds", "city CNY added per CNY of national SO funds", 0.0, 20.0,
              "firms", "firm_cost", pol.funds_matched, pol.cost_matching, "{:g} CNY per national CNY",
              (1.0, 0.0, 5.0, 0.25)),
)}
LEVER_NAMES: tuple[str, ...] = tuple(LEVERS)
LEVER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LEVER_NAMES)}


def effect_total(effect: str, intensity: np.ndarray, n_cities: int, **inputs) -> np.ndarray:
    """What all levers of one channel do together in every city, from the (cities x levers)
    ``intensity`` in force and the channel's inputs (rules/policy.py): the shortest set-up time for
    ``setup`` (``default_months`` where no lever acts), the housed share (at most 1) for ``housing``,
    the sum for every other channel."""
    if effect == "setup":
        total = np.broadcast_to(np.asarray(inputs["default_months"], dtype=float), (n_cities,))
        for name, spec in LEVERS.items():
            if spec.effect == effect:
                total = np.minimum(total, spec.rule(intensity[:, LEVER_INDEX[name]], **inputs))
        return total
    total = np.zeros(n_cities)
    for name, spec in LEVERS.items():
        if spec.effect == effect:
            total = total + spec.rule(intensity[:, LEVER_INDEX[name]], **inputs)
    return np.minimum(total, 1.0) if effect == "housing" else total


@dataclass(frozen=True)
class Spell:
    """One policy lever of one city: active in calendar years ``start`` to ``end`` inclusive."""

    city: str
    lever: str
    start: int
    end: int
    intensity: float
    unit_cost: float | None = None
    """Public cost per unit of intensity of this spell (CNY/seat for parks); None: the lever's
    default (park_cost_per_seat). A park converted from existing buildings costs less a seat than
    one built new."""

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
        return self._parks_built(year, lambda s: 1.0)

    def built_cost(self, year: float, default_unit_cost: float) -> np.ndarray:
        """Public cost of the park seats of ``built`` (CNY), each spell at its own unit cost."""
        return self._parks_built(year, lambda s: default_unit_cost if s.unit_cost is None else s.unit_cost)

    def _parks_built(self, year: float, weight: Callable[[Spell], float]) -> np.ndarray:
        out = np.zeros(self.n_cities)
        for c, k, s in self.spells:
            if LEVERS[s.lever].effect == "park":
                out[c] += s.intensity * s.built_share(year) * weight(s)
        return out


def check_overlaps(levers: dict[tuple[str, str, int], Spell]) -> None:
    """Spells of one lever in one city may not overlap in time, except build-out levers (parks),
    whose overlapping spells add up (a warning says so)."""
    by_lever: dict[tuple[str, str], list[tuple[int, Spell]]] = {}
    for (city, name, i), spell in sorted(levers.items()):
        by_lever.setdefault((city, name), []).append((i, spell))
    for (city, name), spells in by_lever.items():
        for (i, a), (j, b) in ((x, y) for n, x in enumerate(spells) for y in spells[n + 1:]):
            first, last = max(a.start, b.start), min(a.end, b.end)
            if first > last:
                continue
            where = f"levers.{city}.{name}"
            if LEVERS[name].effect == "park":
                warnings.warn(f"{where}: spells {i} and {j} overlap in {first}-{last}; their seats add up",
                              InputWarning, stacklevel=3)
            else:
                raise InputError(f"{where}: spells {i} ({a.start}-{a.end}) and {j} ({b.start}-{b.end}) overlap "
                                 "(allowed: one spell in force at a time; only park spells may overlap and add up)")
