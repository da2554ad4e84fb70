"""City agents: one per city, fixed on a node of the rail network, and what cities do each quarter.

A city's state lives in the model's city arrays (so that firms' and graduates' batched choices can
read all cities at once); the agent exposes it by name. Cities build turnkey park seats, their
office markets add space where it runs short, their SO labour markets match seekers to vacancies
and set SO pay, and their SO output is taxed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from mesa.discrete_space import FixedAgent

from ..clock import STEPS_PER_YEAR
from ..rules import firm as firm_rules
from ..rules import labour_market, office
from .worker import EMPLOYED, SEEKING, WorkerAgent


class CityAgent(FixedAgent):
    """A city: sets policy, builds park capacity, hosts a labour market."""

    def __init__(self, model, index: int, name: str, tier: str, region: str, cell):
        super().__init__(model)
        self.index = index
        self.name = name
        self.tier = tier
        self.region = region
        self.cell = cell

    # --- state read from the model's city arrays (persons, CNY, counts) -------------
    def _get(self, key: str) -> float:
        return float(self.model.city_state[key][self.index])

    @property
    def so_employment(self) -> float:
        return self._get("employment")

    @property
    def so_wage(self) -> float:
        return float(self.model.so_wage[self.index])

    @property
    def firms(self) -> int:
        return int(self._get("firms"))

    def __repr__(self) -> str:
        return f"CityAgent({self.name})"

    # --- the quarter's phases --------------------------------------------------------
    @staticmethod
    def build_parks(model) -> None:
        """Bring turnkey park seats up to this quarter's plan (the ledger books their cost)."""
        added = np.maximum(model.now.park_plan - model.park_seats, 0.0)
        model.tally["park_build_cost"] += np.maximum(model.now.park_plan_cost - model.park_cost_built, 0.0)
        model.park_cost_built = np.maximum(model.park_cost_built, model.now.park_plan_cost)
        model.park_seats = np.where(added > 0, model.now.park_plan, model.park_seats)

    @staticmethod
    def price_office_space(model) -> None:
        """SO office rent carries a scarcity premium where occupancy of market plus park space is
        above office_build_occupancy; rent_gap_scale scales it with the rest of the rent gap."""
        premium = office.scarcity_premium(CityAgent.office_occupancy(model), model.params)
        model.now = replace(model.now, rent=model.now.rent * premium)

    @staticmethod
    def office_occupancy(model) -> np.ndarray:
        """SO seats over market plus park office seats, by city (above 1 where firms lease space
        beyond the purpose-built stock)."""
        return model.seats_by_city() / np.maximum(model.market_capacity + model.park_seats, 1.0)

    @staticmethod
    def expand_office_markets(model) -> None:
        """The private market builds office space where SO occupancy is above office_build_occupancy."""
        model.market_capacity = office.office_market(model.market_capacity, CityAgent.office_occupancy(model), model.params)

    @staticmethod
    def clear_labour_markets(model) -> None:
        """Seekers and vacancies are matched at random within each city; long searchers give up;
        each city's SO wage moves towards reservation pay scaled by how tight its market was."""
        p, wt, ft, rng, C = model.params, model.workers_table, model.firms_table, model.rng, model.n_cities
        frows = ft.rows()
        op = frows[ft.operating[frows]]
        onboarding = firm_rules.fixed_slots(np.full(len(op), p.onboarding_per_quarter), model.scale, ft.round_offset[op])
        slot_firm = np.repeat(op, labour_market.open_slots(ft.slots[op], ft.employees[op], onboarding))
        slot_city = ft.city[slot_firm].astype(np.int64)
        wrows = wt.rows()
        seekers = wrows[wt.state[wrows] == SEEKING]
        seeker_city = wt.city[seekers].astype(np.int64)
        vac_c = np.bincount(slot_city, minlength=C)
        seek_c = np.bincount(seeker_city, minlength=C)
        s_pos, v_pos = labour_market.match_within_cities(seeker_city, slot_city, C, rng)
        hired = seekers[s_pos]
        firm = slot_firm[v_pos]
        first_job = ~wt.ever_employed[hired] & (wt.college[hired] >= 0)
        wt.state[hired] = EMPLOYED
        wt.firm[hired] = firm
        wt.tenure[hired] = 0
        wt.ever_employed[hired] = True
        np.add.at(ft.employees, firm, 1)
        hires_c = np.bincount(wt.city[hired], minlength=C) * model.scale
        model.flows["hires"] += hires_c
        model.tally["hires"] += hires_c
        model.tally["graduate_first_hires"] += np.bincount(wt.city[hired[first_job]], minlength=C) * model.scale
        rate = labour_market.job_finding_rate(hires_c / model.scale, seek_c, vac_c)
        model.job_rate = labour_market.smooth(model.job_rate, rate, p.job_rate_memory)

        # Seekers still without a job: one more quarter of search, or give up.
        still = np.setdiff1d(seekers, hired, assume_unique=True)
        wt.search_quarters[still] += 1
        WorkerAgent.drop(model, still[wt.search_quarters[still] >= p.search_quarters])

        theta = labour_market.tightness(vac_c * model.scale, seek_c * model.scale, p.max_tightness,
                                        smoothing=p.tightness_smoothing)
        has_so = np.bincount(ft.city[op], minlength=C) > 0
        theta = np.where(has_so, theta, 1.0)
        target = labour_market.target_wage(model.now.reservation, theta, p.wage_tightness_elasticity * p.wage_gap_scale)
        model.so_wage = labour_market.adjust_wage(model.so_wage, target, p.wage_adjustment_speed)
        if p.focus_wage_ratio_pin > 0:  # the wage-gap experiment: the focus city's pay is set, not found
            model.so_wage = labour_market.pinned_ratio(model.so_wage, model.focus, model.references,
                                                       p.focus_wage_ratio_pin)
        model.vacancies_c = (vac_c - np.bincount(ft.city[firm], minlength=C)) * model.scale
        model.seekers_c = (seek_c - np.bincount(wt.city[hired], minlength=C)) * model.scale

    @staticmethod
    def book_output_and_tax(model) -> None:
        """SO output of the quarter (employees x revenue per seat) and its local tax."""
        p, ft = model.params, model.firms_table
        rows = ft.rows()
        op = rows[ft.operating[rows]]
        market = model.world.hub_market[ft.hub[op]]
        revenue = ft.employees[op] * model.scale * model.now.revenue[ft.segment[op], market, ft.city[op]] / STEPS_PER_YEAR
        output = np.bincount(ft.city[op], weights=revenue, minlength=model.n_cities)
        model.flows["output_cny"] += output
        model.ledger.book_tax(output, p.tax_rate_on_output, p.local_tax_share)
