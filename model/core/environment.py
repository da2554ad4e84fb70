"""The exogenous conditions of one quarter: what no agent in the model decides.

City average wages and rents, SO reservation pay, revenue per seat, national SO seat demand, the
segment mix, the Chengdu-Chongqing client share, rail travel times, graduates, demonstration-city
status and the policy levers in force, all as functions of the parameters and calendar time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import LAST_DATA_YEAR, city_wage, national_graduates, national_so_employment, national_wage, travel_minutes
from .levers import PolicySchedule
from .params import Params
from .rules import labour_market
from .world import World

#: Years of the data columns that rents, revenue and graduates grow from
#: (cities.csv office_rent_2015, segments.csv revenue_per_seat_2020, cities.csv graduates_2021).
OFFICE_RENT_YEAR = 2015.0
REVENUE_PER_SEAT_YEAR = 2020.0
GRADUATES_YEAR = 2021.0


@dataclass(frozen=True, eq=False)
class Conditions:
    t: float                      # calendar time, middle of the quarter (years)
    city_wage: np.ndarray         # average urban non-private wage, CNY/year
    national_wage: float          # CNY/year
    reservation: np.ndarray       # SO reservation pay, CNY/year
    rent: np.ndarray              # SO office rent, CNY/m2/month
    revenue: np.ndarray           # (segments x cities) SO revenue per seat, CNY/year
    seat_demand: float            # SO seats demanded from the modelled cities (persons)
    segment_share: np.ndarray     # share of new demand by segment
    cy_share: float               # share of demand whose clients sit in the inland hubs
    travel: np.ndarray            # (cities x cities) rail minutes
    lever_intensity: np.ndarray   # (cities x levers) intensity in force
    park_plan: np.ndarray         # turnkey park seats planned to be in place (seats)
    is_demo_city: np.ndarray      # national SO demonstration city by now
    graduates_now: np.ndarray     # graduates of the year (persons)


def conditions(p: Params, world: World, policy: PolicySchedule, t: float) -> Conditions:
    cw = city_wage(world.wage_points, t, p.wage_growth_shift)
    nw = national_wage(t, p.wage_growth_shift)
    g = p.rent_growth_to_2015 if t < OFFICE_RENT_YEAR else p.rent_growth_after_2015
    revenue = (world.revenue_2020[:, None] * (1.0 + p.revenue_growth) ** (t - REVENUE_PER_SEAT_YEAR)
               * (cw / nw)[None, :] ** p.revenue_wage_elasticity)
    # Segment shares and the Chengdu-Chongqing client share move linearly to their last observed values.
    w = np.clip((t - p.start_year) / (LAST_DATA_YEAR - p.start_year), 0.0, 1.0)
    shares = (1 - w) * world.segment_share_start + w * world.segment_share_end
    return Conditions(
        t=t, city_wage=cw, national_wage=nw,
        reservation=labour_market.reservation_wage(cw, nw, p.so_wage_to_city_wage, p.so_wage_city_elasticity),
        rent=p.so_rent_to_prime * world.rent_2015 * (1.0 + g) ** (t - OFFICE_RENT_YEAR),
        revenue=revenue,
        seat_demand=national_so_employment(t, p.demand_growth_after_2023) * p.modelled_share,
        segment_share=shares / shares.sum(),
        cy_share=(1 - w) * p.cy_hub_share_start + w * p.cy_hub_share_end,
        travel=travel_minutes(t),
        lever_intensity=policy.intensities(t),
        park_plan=policy.built(t),
        is_demo_city=np.nan_to_num(world.demo_year, nan=np.inf) <= t,
        graduates_now=world.graduates_2021 * national_graduates(t) / national_graduates(GRADUATES_YEAR),
    )
