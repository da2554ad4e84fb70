"""What policy levers do and cost, as pure functions. Each lever's specification
(model/core/levers.py) names one effect rule and one cost rule from here.

Effect rules take the lever's intensity by city ``x`` and the inputs of their channel (keywords):

* firm cost:   (x, rent_per_seat_year, graduate_hires_per_seat_year, national_fund_per_seat) -> CNY off a seat's yearly cost
* entrant:     (x) -> CNY per seat paid once to an establishment opening or relocating in
* set-up:      (x, default_months) -> months from first contact to operation
* worker:      (x, job_prob, amortisation_years) -> CNY a year added to a seeker's expected income
* housing:     (x, young_workers) -> share of young SO workers housed in talent apartments

Cost rules take this quarter's events (``QuarterEvents``), ``x`` and the Params, and return CNY by city.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUARTERS_PER_YEAR = 4


@dataclass(frozen=True)
class QuarterEvents:
    """What happened in every city this quarter that lever costs are paid on (arrays by city)."""

    hires: np.ndarray                 # SO hires (persons)
    graduate_first_hires: np.ndarray  # hires of graduates into their first SO job (persons)
    arrival_seats: np.ndarray         # seats of establishments opening or relocating in
    arrivals: np.ndarray              # establishments opening or relocating in
    operating_seats: np.ndarray       # seats of operating establishments
    rent_per_seat_quarter: np.ndarray  # SO office rent of one seat for a quarter (CNY)
    park_build_cost: np.ndarray       # public cost of the turnkey park seats built this quarter (CNY)
    national_funds: np.ndarray        # national SO funds received this quarter (CNY)


# ---- effects -----------------------------------------------------------------------
def rent_waived(x, *, rent_per_seat_year, **_):
    return rent_per_seat_year * x


def training_paid(x, *, graduate_hires_per_seat_year, **_):
    # paid on graduates' first SO jobs only (cost_per_graduate_first_hire), so expected per graduate hire
    return x * graduate_hires_per_seat_year


def funds_matched(x, *, national_fund_per_seat, **_):
    return x * national_fund_per_seat


def grant_per_seat(x, **_):
    return x


def setup_months(x, *, default_months, **_):
    return np.where(x > 0, x, default_months)


def subsidy_income(x, *, job_prob, amortisation_years, **_):
    return x * job_prob / amortisation_years


def apartments_cover(x, *, young_workers, **_):
    return np.minimum(1.0, x / young_workers)


def no_effect(x, **_):  # the park lever acts through the park seats it builds
    return np.zeros_like(x)


# ---- costs -------------------------------------------------------------------------
def cost_rent_waived(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.rent_per_seat_quarter * x * ev.operating_seats


def cost_per_arrival_seat(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.arrival_seats * x


def cost_per_hire(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.hires * x


def cost_per_graduate_first_hire(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.graduate_first_hires * x


def cost_apartments(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return x * p.apartment_cost_per_unit_year / QUARTERS_PER_YEAR


def cost_park_build(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.park_build_cost  # each spell at its unit cost (PolicySchedule.built_cost)


def cost_task_force(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return ev.arrivals * ((x > 0) * p.fast_setup_cost_per_firm)


def cost_matching(ev: QuarterEvents, x: np.ndarray, p) -> np.ndarray:
    return x * ev.national_funds
