"""The model's decision rules on plain numpy arrays: the speed limit for SOModel.

``NumpyReference(params, seed)`` steps the same world as ``model.core.model.SOModel``: the same
data and exogenous conditions (``model.core.world``, ``model.core.environment``), the same pure
rules (``model.core.rules``: choice, firm, worker, labour_market; lever effects through
``model.core.levers``), the same order within a quarter. What differs is only the bookkeeping:

* no Mesa model, no agents, no AgentSets, no DataCollector, no fiscal ledger;
* workers are compact column arrays (leavers are dropped by one boolean compaction, new
  cohorts appended with one concatenate), so there is no object column and no free-row reuse;
* establishments are appended to arrays and marked dead on exit.

It therefore does the same per-worker array work as the model: graduate logit and cohort
creation, experienced entrants, ageing, quits, return home, matching within cities, long
searchers leaving, wage update, layoffs, firm growth/entry/exit/relocation and the city
aggregates. Its results agree with the model's in distribution, not draw for draw (the random
streams differ). ``benchmarks/bench_model.py`` times both per simulated year.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from model.core.clock import MONTHS_PER_QUARTER, STEPS_PER_YEAR, mid_quarter, n_steps, quarter_of_step, year_of_step
from model.core.environment import conditions
from model.core.levers import PolicySchedule
from model.core.params import Params
from model.core.reporting import YOUNG_MAX_AGE
from model.core.rules import choice, labour_market
from model.core.rules import firm as firm_rules
from model.core.rules import worker as worker_rules
from model.core.rules import office as office_rules
from model.core.world import load_world

SEEKING, EMPLOYED = 0, 1
WORKER_DTYPES = {"city": np.int16, "home": np.int16, "college": np.int16, "age": np.float32,
                 "state": np.int8, "firm": np.int64, "search_quarters": np.int16, "tenure": np.int16,
                 "ever_employed": np.bool_}
FIRM_DTYPES = {"city": np.int16, "segment": np.int8, "hub": np.int16, "parent": np.int64,
               "seats": np.float64, "slots": np.int64, "round_offset": np.float64, "employees": np.int64,
               "operating": np.bool_, "ready_step": np.int64, "born_step": np.int64, "in_park": np.bool_,
               "margin": np.float64, "low_quarters": np.int64}


class NumpyReference:
    """SOModel's rules on plain arrays. ``step()`` advances one quarter."""

    def __init__(self, params: Params, seed: int):
        p = self.p = params
        self.rng = np.random.default_rng(seed)
        self.scale = p.persons_per_agent
        self.world = w = load_world()
        self.C = C = w.n_cities
        self.policy = PolicySchedule(p.levers, w.index())
        self.home_probs = worker_rules.hometown_probabilities(w.population, w.same_province, p.hometown_province_boost)
        self.park_seats = np.zeros(C)
        self.w = {k: np.zeros(0, dtype=d) for k, d in WORKER_DTYPES.items()}
        self.f = {k: np.zeros(0, dtype=d) for k, d in FIRM_DTYPES.items()}
        self.f_alive = np.zeros(0, dtype=bool)
        self.next_parent = 0
        self.steps = 0
        self.year, self.quarter = p.start_year, 1
        self.now = conditions(p, w, self.policy, mid_quarter(self.year, self.quarter))
        self.so_wage = self.now.reservation.copy()
        self.job_rate = np.zeros(C)
        self.city_state: dict[str, np.ndarray] = {}
        self._seed()
        self._refresh_city_state()
        self.running = True

    def count(self) -> int:
        """Live workers (the analogue of the model's worker agents)."""
        return len(self.w["city"])

    def step(self) -> None:
        self.steps += 1
        if self.steps > n_steps(self.p.start_year, self.p.end_year):
            self.running = False
            return
        self.year, self.quarter = year_of_step(self.steps, self.p.start_year), quarter_of_step(self.steps)
        self.now = conditions(self.p, self.world, self.policy, mid_quarter(self.year, self.quarter))
        self.park_seats = np.maximum(self.park_seats, self.now.park_plan)
        occupied = self._seats_by_city(self._live()) / np.maximum(self.market_capacity + self.park_seats, 1.0)
        self.now = replace(self.now, rent=self.now.rent * office_rules.scarcity_premium(occupied, self.p))
        self._finish_setup()
        self._update_margins()
        self._exit_and_shrink()
        self._relocate()
        self._grow()
        self._age_and_leave()
        self._return_home()
        if self.quarter == self.p.graduation_quarter:
            self._graduate_cohort()
        self._experienced_entrants()
        self._match_and_set_wages()
        self._book_output()
        self._refresh_city_state()
        if self.steps >= n_steps(self.p.start_year, self.p.end_year):
            self.running = False

    # ------------------------------------------------------------------ firms
    def _live(self) -> np.ndarray:
        return np.flatnonzero(self.f_alive)

    def _seats_by_city(self, rows) -> np.ndarray:
        return np.bincount(self.f["city"][rows], weights=self.f["seats"][rows], minlength=self.C)

    def _park_free(self) -> np.ndarray:
        f, rows = self.f, self._live()
        used = np.bincount(f["city"][rows], weights=f["seats"][rows] * f["in_park"][rows], minlength=self.C)
        return np.maximum(self.park_seats - used, 0.0)

    def _take_park_seats(self, rows: np.ndarray) -> None:
        f = self.f
        f["in_park"][rows] = False
        f["in_park"][rows] = firm_rules.first_come(f["city"][rows], f["seats"][rows], self._park_free())

    def _resize_slots(self, rows: np.ndarray) -> np.ndarray:
        f = self.f
        f["slots"][rows] = firm_rules.fixed_slots(f["seats"][rows], self.scale, f["round_offset"][rows])
        return f["slots"][rows]

    def _setup_lag(self, city: np.ndarray) -> np.ndarray:
        months = firm_rules.setup_months(self.p, self.now.lever_intensity)
        return np.ceil(months[city] / MONTHS_PER_QUARTER).astype(np.int64)

    def _open(self, city, segment, hub, seats, *, operating: bool, parent=None) -> None:
        n = len(city)
        if n == 0:
            return
        if parent is None:
            parent = np.arange(self.next_parent, self.next_parent + n)
            self.next_parent += n
        vals = dict(city=city, segment=segment, hub=hub, parent=parent, seats=seats,
                    round_offset=self.rng.random(n), operating=operating,
                    ready_step=self.steps + (0 if operating else self._setup_lag(city)), born_step=self.steps)
        start = len(self.f_alive)
        for k, d in FIRM_DTYPES.items():
            new = np.zeros(n, dtype=d)
            if k in vals:
                new[:] = vals[k]
            self.f[k] = np.concatenate([self.f[k], new])
        self.f_alive = np.concatenate([self.f_alive, np.ones(n, dtype=bool)])
        rows = np.arange(start, start + n)
        self._resize_slots(rows)
        self._take_park_seats(rows)

    def _hubs(self, n: int) -> np.ndarray:
        w = self.world
        return self.rng.choice(self.C, size=n, p=firm_rules.hub_probabilities(w.hub_weight, w.inland_hub, self.now.inland_client_share))

    def _seed(self) -> None:
        p, rng, w = self.p, self.rng, self.world
        seats_total = self.now.seat_demand
        n = max(1, int(round(seats_total / p.mean_new_firm_seats)))
        sizes = choice.lognormal_sizes(n, p.mean_new_firm_seats, p.firm_size_sigma, rng)
        sizes *= seats_total / sizes.sum()
        seg = rng.choice(len(w.segment_names), size=n, p=self.now.segment_share)
        hub = self._hubs(n)
        self._open(hub, seg, hub, sizes, operating=True)
        rows = self._live()
        seats_now = self._seats_by_city(rows)
        self.market_capacity = np.maximum(p.office_seats_per_1000_urban * w.urban_population / 1000.0,
                                          p.office_headroom_start * seats_now)
        fill = choice.stochastic_round(self.f["slots"][rows] * p.staffed_share_start, rng)
        firm_of = np.repeat(rows, fill)
        wc = self.f["city"][firm_of].astype(np.int64)
        self._add_workers(city=wc, home=worker_rules.draw_homes(wc, self.home_probs, p.graduate_local_share, rng),
                          college=wc, age=rng.uniform(p.graduate_age_min, p.initial_workforce_age_max, len(wc)),
                          state=EMPLOYED, firm=firm_of, ever_employed=True)
        self.f["employees"][rows] = fill
        self.job_rate = np.where(seats_now > 0, p.initial_job_rate, 0.0)

    def _finish_setup(self) -> None:
        f, rows = self.f, self._live()
        ready = rows[~f["operating"][rows] & (f["ready_step"][rows] <= self.steps)]
        f["operating"][ready] = True

    def _margins(self, *, entrant: bool) -> np.ndarray:
        now = self.now
        return firm_rules.seat_margins(self.p, now.revenue, self.so_wage, self.world.pay_multiplier, now.rent,
                                       now.national_training, now.income_tax, now.lever_intensity,
                                       self._park_free() if entrant else None)

    def _market(self, rows: np.ndarray) -> np.ndarray:
        return self.world.hub_market[self.f["hub"][rows]]

    def _update_margins(self) -> None:
        f, rows = self.f, self._live()
        f["margin"][rows] = self._margins(entrant=False)[f["segment"][rows], self._market(rows), f["city"][rows]]

    def _release_workers(self, firm_rows: np.ndarray, keep: np.ndarray | None = None) -> None:
        """Lay off workers of ``firm_rows`` beyond ``keep`` each (all if None)."""
        if len(firm_rows) == 0:
            return
        w, f = self.w, self.f
        limit = np.full(len(self.f_alive), -1, dtype=np.int64)
        limit[firm_rows] = 0 if keep is None else keep
        firm = w["firm"]
        emp = np.flatnonzero(w["state"] == EMPLOYED)
        hit = emp[limit[firm[emp]] >= 0]
        if len(hit) == 0:
            return
        order, rank = choice.rank_within_groups(firm[hit], self.rng)
        hit = hit[order]
        out = hit[rank >= limit[firm[hit]]]
        np.subtract.at(f["employees"], firm[out], 1)
        w["state"][out] = SEEKING
        w["firm"][out] = -1
        w["search_quarters"][out] = 0

    def _exit_and_shrink(self) -> None:
        p, f, rng = self.p, self.f, self.rng
        rows = self._live()
        op = rows[f["operating"][rows]]
        low = f["margin"][op] < p.exit_margin
        f["low_quarters"][op] = np.where(low, f["low_quarters"][op] + 1, 0)
        hazard = firm_rules.exit_hazard(f["low_quarters"][op], p.exit_rate_base, p.distress_exit_rate, STEPS_PER_YEAR)
        exiting = op[rng.random(len(op)) < hazard]
        shrinking = op[low & ~np.isin(op, exiting)]
        if len(shrinking):
            f["seats"][shrinking] *= 1.0 - p.distress_shrink_rate
            self._release_workers(shrinking, keep=self._resize_slots(shrinking))
        if len(exiting):
            self._release_workers(exiting)
            self.f_alive[exiting] = False

    def _entry_utility(self, margins: np.ndarray, size: float):
        f, w, now = self.f, self.world, self.now
        rows = self._live()
        seats = self._seats_by_city(rows)
        return firm_rules.entry_utility(
            self.p, margins, firm_rules.establishments_by_market(f["city"][rows], self._market(rows), self.C), seats,
            self.city_state["employment"], self.city_state["seekers"],
            now.graduates_now, w.urban_population, now.travel, w.hub_weight, w.hub_market, w.client_contact,
            now.lever_intensity, size)

    def _relocate(self) -> None:
        p, f, rng = self.p, self.f, self.rng
        rows = self._live()
        op = rows[f["operating"][rows]]
        small = op[f["seats"][op] <= p.relocation_max_seats]
        review = small[rng.random(len(small)) < p.relocation_rate]
        if len(review) == 0:
            return
        margins = self._margins(entrant=True)
        gain = margins[f["segment"][review], self._market(review), :] - f["margin"][review][:, None]
        gain[np.arange(len(review)), f["city"][review]] = -np.inf
        u, hubs = self._entry_utility(margins, p.mean_new_firm_seats)
        util = np.where(gain > p.relocation_threshold, u[f["segment"][review], np.searchsorted(hubs, f["hub"][review]), :],
                        -np.inf)
        dest = choice.sample_choices(choice.logit_probabilities(util, axis=1), np.arange(len(review)), rng)
        movers, dest = review[dest >= 0], dest[dest >= 0]
        if len(movers) == 0:
            return
        self._release_workers(movers)
        f["city"][movers] = dest
        f["operating"][movers] = False
        f["ready_step"][movers] = self.steps + self._setup_lag(dest)
        f["low_quarters"][movers] = 0
        self._take_park_seats(movers)

    def _grow(self) -> None:
        p, f, rng = self.p, self.f, self.rng
        rows = self._live()
        seats = self._seats_by_city(rows)
        occupied = seats / np.maximum(self.market_capacity + self.park_seats, 1.0)
        self.market_capacity = office_rules.office_market(self.market_capacity, occupied, p)
        gap = self.now.seat_demand - seats.sum()
        if gap < 0:
            f["seats"][rows] -= firm_rules.demand_cuts(f["seats"][rows], f["margin"][rows], -gap, p.beta_margin,
                                                       p.max_shrink_rate)
            self._release_workers(rows, keep=self._resize_slots(rows))
            return
        op = rows[f["operating"][rows] & (f["margin"][rows] > 0)]
        op = op[f["employees"][op] >= p.expansion_fill_threshold * np.maximum(f["slots"][op], 1)]
        expanded = 0.0
        if len(op):
            add = firm_rules.expansion(f["seats"][op], gap, p.expansion_share, p.max_expansion_rate)
            f["seats"][op] += add
            self._resize_slots(op)
            expanded = add.sum()
        n_new = rng.poisson(max(gap - expanded, 0.0) / p.mean_new_firm_seats)
        if n_new == 0:
            return
        sizes = choice.lognormal_sizes(n_new, p.mean_new_firm_seats, p.firm_size_sigma, rng)
        seg = rng.choice(len(self.world.segment_names), size=n_new, p=self.now.segment_share)
        hub = self._hubs(n_new)
        u, hubs = self._entry_utility(self._margins(entrant=True), p.mean_new_firm_seats)
        probs = choice.logit_probabilities(u, axis=2).reshape(-1, self.C)
        city = choice.sample_choices(probs, seg * len(hubs) + np.searchsorted(hubs, hub), rng)
        ok = city >= 0
        if not ok.any():
            return
        parent = np.arange(self.next_parent, self.next_parent + int(ok.sum()))
        self.next_parent += len(parent)
        branch = rng.random(len(parent)) < p.branch_share
        if branch.any() and len(rows):
            parent[branch] = f["parent"][rng.choice(rows, size=int(branch.sum()))]
        self._open(city[ok], seg[ok], hub[ok], sizes[ok], operating=False, parent=parent)

    # ------------------------------------------------------------------ workers
    def _add_workers(self, **values) -> None:
        n = len(values["city"])
        if n == 0:
            return
        for k, d in WORKER_DTYPES.items():
            new = np.full(n, -1, dtype=d) if k == "firm" else np.zeros(n, dtype=d)
            if k in values:
                new[:] = values[k]
            self.w[k] = np.concatenate([self.w[k], new])

    def _drop_workers(self, gone: np.ndarray) -> None:
        if len(gone) == 0:
            return
        w = self.w
        f = w["firm"][gone]
        np.subtract.at(self.f["employees"], f[f >= 0], 1)
        keep = np.ones(len(w["city"]), dtype=bool)
        keep[gone] = False
        for k in w:
            w[k] = w[k][keep]

    def _age_and_leave(self) -> None:
        p, w = self.p, self.w
        w["age"] += 1.0 / STEPS_PER_YEAR
        employed = w["state"] == EMPLOYED
        w["tenure"][employed] += 1
        quit = worker_rules.quit_rate(w["tenure"], p.quit_rate_first_year, p.quit_rate_later, STEPS_PER_YEAR)
        self._drop_workers(np.flatnonzero(worker_rules.leaving(w["age"], employed, self.rng.random(len(employed)),
                                                               p.exit_age, quit)))

    def _return_home(self) -> None:
        p, w = self.p, self.w
        away = np.flatnonzero(w["home"] != w["city"])
        if len(away) == 0:
            return
        hazard = p.return_home_rate * worker_rules.prospects(self.job_rate[w["home"][away]], p.return_home_job_rate_gain)
        movers = away[self.rng.random(len(away)) < hazard]
        f = w["firm"][movers]
        np.subtract.at(self.f["employees"], f[f >= 0], 1)
        w["firm"][movers] = -1
        w["state"][movers] = SEEKING
        w["city"][movers] = w["home"][movers]
        w["search_quarters"][movers] = 0

    def graduate_choice_probabilities(self) -> np.ndarray:
        p, world, now = self.p, self.world, self.now
        net = worker_rules.expected_net_income(p, self.so_wage, self.job_rate, now.city_wage,
                                               self.city_state["young_workers"], now.lever_intensity)
        outside = worker_rules.outside_income(now.reservation, p.housing_share_of_wage, now.city_wage,
                                              p.net_income_floor_share)
        network = worker_rules.network_share(world.province[self.w["home"]], self.w["city"],
                                             len(world.province_names), self.C)
        return worker_rules.search_choice_probabilities(net, outside, world.distance_km, world.same_province,
                                                        world.province, network, world.urban_population, p)

    def _graduate_cohort(self) -> None:
        p, rng, C = self.p, self.rng, self.C
        n = choice.stochastic_round(self.now.graduates_now * p.so_interest_share / self.scale, rng)
        college = np.repeat(np.arange(C), n)
        home = worker_rules.draw_homes(college, self.home_probs, p.graduate_local_share, rng)
        dest = choice.sample_choices(self.graduate_choice_probabilities().reshape(C * C, C + 1), home * C + college, rng)
        seek = dest < C
        k = int(seek.sum())
        self._add_workers(city=dest[seek], home=home[seek], college=college[seek],
                          age=rng.uniform(p.graduate_age_min, p.graduate_age_max, k), state=SEEKING)

    def _experienced_entrants(self) -> None:
        p, rng = self.p, self.rng
        pop = self.world.urban_population
        vacancies = np.maximum(self.city_state["seats"] - self.city_state["employment"], 0.0)
        persons = (p.experienced_entry_rate * pop.sum() * worker_rules.entrant_cities(pop, vacancies, p.talent_scale)
                   * worker_rules.prospects(self.job_rate, p.experienced_entry_job_rate_gain))
        n = choice.stochastic_round(persons / self.scale, rng)
        city = np.repeat(np.arange(self.C), n)
        self._add_workers(city=city, home=city, college=np.full(len(city), -1),
                          age=rng.uniform(p.experienced_age_min, p.experienced_age_max, len(city)), state=SEEKING)

    def _match_and_set_wages(self) -> None:
        p, w, f, rng, C = self.p, self.w, self.f, self.rng, self.C
        frows = self._live()
        op = frows[f["operating"][frows]]
        onboarding = firm_rules.fixed_slots(np.full(len(op), p.onboarding_per_quarter), self.scale, f["round_offset"][op])
        slot_firm = np.repeat(op, labour_market.open_slots(f["slots"][op], f["employees"][op], onboarding))
        slot_city = f["city"][slot_firm].astype(np.int64)
        seekers = np.flatnonzero(w["state"] == SEEKING)
        seeker_city = w["city"][seekers].astype(np.int64)
        vac_c = np.bincount(slot_city, minlength=C)
        seek_c = np.bincount(seeker_city, minlength=C)
        s_pos, v_pos = labour_market.match_within_cities(seeker_city, slot_city, C, rng)
        hired, firm = seekers[s_pos], slot_firm[v_pos]
        w["state"][hired] = EMPLOYED
        w["firm"][hired] = firm
        w["tenure"][hired] = 0
        w["ever_employed"][hired] = True
        f["employees"] += np.bincount(firm, minlength=len(self.f_alive))
        rate = labour_market.job_finding_rate(np.bincount(seeker_city[s_pos], minlength=C), seek_c, vac_c)
        self.job_rate = labour_market.smooth(self.job_rate, rate, p.job_rate_memory)
        unmatched = np.ones(len(seekers), dtype=bool)
        unmatched[s_pos] = False
        still = seekers[unmatched]
        w["search_quarters"][still] += 1
        theta = labour_market.tightness(vac_c * self.scale, seek_c * self.scale, p.max_tightness,
                                        smoothing=p.tightness_smoothing)
        theta = np.where(np.bincount(f["city"][op], minlength=C) > 0, theta, 1.0)
        target = labour_market.target_wage(self.now.reservation, theta, p.wage_tightness_elasticity)
        self.so_wage = labour_market.adjust_wage(self.so_wage, target, p.wage_adjustment_speed)
        self._drop_workers(still[w["search_quarters"][still] >= p.search_quarters])

    def _book_output(self) -> None:
        f, rows = self.f, self._live()
        op = rows[f["operating"][rows]]
        revenue = f["employees"][op] * self.scale * self.now.revenue[f["segment"][op], self._market(op), f["city"][op]] / STEPS_PER_YEAR
        self.output = np.bincount(f["city"][op], weights=revenue, minlength=self.C)

    def _refresh_city_state(self) -> None:
        w, f, C, s = self.w, self.f, self.C, self.scale
        frows = self._live()
        employed = w["state"] == EMPLOYED
        city = w["city"]
        young = employed & (w["age"] <= YOUNG_MAX_AGE)
        local = employed & (w["home"] == city)
        firm = np.where(employed, w["firm"], 0)
        park = employed & f["in_park"][firm]
        self.city_state = {
            "employment": np.bincount(city, weights=employed, minlength=C) * s,
            "seekers": np.bincount(city, weights=~employed, minlength=C) * s,
            "young_workers": np.bincount(city, weights=young, minlength=C) * s,
            "local": np.bincount(city, weights=local, minlength=C) * s,
            "park_staff": np.bincount(city, weights=park, minlength=C) * s,
            "firms": np.bincount(f["city"][frows], minlength=C),
            "seats": self._seats_by_city(frows),
        }


def run(params: Params, seed: int = 1) -> NumpyReference:
    ref = NumpyReference(params, seed)
    while ref.running:
        ref.step()
    return ref
