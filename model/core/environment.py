"""The exogenous conditions of one quarter: what no agent in the model decides.

City average wages and rents, SO reservation pay, revenue per seat, national SO seat demand, the
segment mix, the inland client share, rail travel times, graduates, demonstration-city
status and the policy levers in force, all as functions of the parameters and calendar time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import (LAST_DATA_YEAR, city_wage, national_graduates, national_so_employment, national_wage, graduate_starting_pay,
                   travel_minutes)
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
    revenue: np.ndarray           # (segments x client markets x seller cities) SO revenue per seat, CNY/year (markets: coastal, inland)
    income_tax: np.ndarray        # corporate income tax rate an SO establishment expects on profit, by city
    seat_demand: float            # SO seats demanded from the modelled cities (persons)
    segment_share: np.ndarray     # share of new demand by segment
    inland_client_share: float    # share of demand whose clients sit in central and western cities
    travel: np.ndarray            # (cities x cities) rail minutes
    lever_intensity: np.ndarray   # (cities x levers) intensity in force
    park_plan: np.ndarray         # turnkey park seats planned to be in place (seats)
    park_plan_cost: np.ndarray    # public cost of those seats (CNY)
    is_demo_city: np.ndarray      # national SO demonstration city by now
    national_training: np.ndarray  # national training support per graduate first hire by city, CNY
    graduates_now: np.ndarray     # graduates of the year (persons)


def scaled_gap(values: np.ndarray, reference: float, scale: float) -> np.ndarray:
    """``values`` with their log deviations from ``reference`` multiplied by ``scale``."""
    return reference * (values / reference) ** scale


def income_tax(p: Params, world: World, t: float) -> np.ndarray:
    """Corporate income tax rate on an SO establishment's profit in every city: the standard rate,
    less the certified-service-enterprise reduction on ``tase_share`` of profit in national
    demonstration cities from ``tase_demo_from`` and everywhere from ``tase_nationwide_from``."""
    demo = np.nan_to_num(world.demo_year, nan=np.inf) <= t
    eligible = (demo & (t >= p.tase_demo_from)) | (t >= p.tase_nationwide_from)
    cut = p.national_policy * p.tase_share * (p.corporate_income_tax_rate - p.tase_income_tax_rate)
    return p.corporate_income_tax_rate - eligible * cut


def conditions(p: Params, world: World, policy: PolicySchedule, t: float) -> Conditions:
    nw = national_wage(t, p.wage_growth_shift)
    cw = scaled_gap(city_wage(world.wage_points, t, p.wage_growth_shift), nw, p.wage_gap_scale)
    g = p.rent_growth_to_2015 if t < OFFICE_RENT_YEAR else p.rent_growth_after_2015
    rent_level = np.exp(np.mean(np.log(world.rent_2015)))
    rent_2015 = scaled_gap(world.rent_2015, rent_level, p.rent_gap_scale * p.so_rent_prime_elasticity)
    # Prices are set where the work is sold: by segment and client market, not by the seller's wage.
    market = np.array([1.0, p.inland_client_price_factor])
    price = p.revenue_level * world.revenue_2020[:, None] * (1.0 + p.revenue_growth) ** (t - REVENUE_PER_SEAT_YEAR) * market[None, :]
    # ... and a seat earns back the share productivity_wage_elasticity of its city's SO pay gap.
    # SO front-line staff are young vocational graduates: their pay is anchored to graduates'
    # published starting pay, which grows slower than the average wage.
    level = p.so_pay_to_graduate_pay * graduate_starting_pay(t, p.wage_growth_shift) / nw
    reservation = labour_market.reservation_wage(cw, nw, level, p.so_wage_city_elasticity)
    pay_gap = reservation / labour_market.reservation_wage(nw, nw, level, p.so_wage_city_elasticity)
    revenue = price[:, :, None] * (pay_gap ** p.productivity_wage_elasticity)[None, None, :]
    # Segment shares move linearly to their last observed values.
    w = np.clip((t - p.start_year) / (LAST_DATA_YEAR - p.start_year), 0.0, 1.0)
    shares = (1 - w) * world.segment_share_start + w * world.segment_share_end
    return Conditions(
        t=t, city_wage=cw, national_wage=nw,
        reservation=reservation,
        rent=p.so_rent_to_prime * rent_2015 * (1.0 + g) ** (t - OFFICE_RENT_YEAR),
        revenue=revenue, income_tax=income_tax(p, world, t),
        seat_demand=national_so_employment(t, p.demand_growth_after_2023) * p.modelled_share,
        segment_share=shares / shares.sum(),
        inland_client_share=p.inland_client_share,
        travel=travel_minutes(t),
        lever_intensity=policy.intensities(t),
        park_plan=policy.built(t), park_plan_cost=policy.built_cost(t, p.park_cost_per_seat),
        is_demo_city=(demo := np.nan_to_num(world.demo_year, nan=np.inf) <= t),
        national_training=demo * (p.national_training_from <= t < p.national_training_to + 1)
        * p.national_training_subsidy * p.national_policy,
        graduates_now=world.graduates_2021 * national_graduates(t) / national_graduates(GRADUATES_YEAR),
    )
