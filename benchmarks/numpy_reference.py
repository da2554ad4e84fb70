"""The model's decision rules as plain, loop-free numpy: the speed limit for SOModel.

``NumpyReference(params, seed)`` steps the same world as ``model.model.SOModel`` (same data,
same exogenous paths, the same pure rules from ``model.choice`` and ``model.labour_market``,
the same order within a quarter) but keeps workers and establishments in plain arrays:

* no Mesa model, no agents, no AgentSets, no DataCollector, no fiscal ledger;
* workers are compact column arrays (leavers are dropped by one boolean compaction, new
  cohorts appended with one concatenate), so there is no object column and no free-row reuse;
* the few per-establishment Python loops of the model (park seats, first-come office room)
  are written as per-city prefix sums (a new establishment that does not fit stops the
  queue of its city instead of letting a smaller one behind it through).

It therefore does the same per-worker array work as the model: graduate logit and cohort
creation, experienced entrants, ageing, quits, return home, matching within cities, long
searchers leaving, wage update, layoffs, firm growth/entry/exit/relocation on arrays and the
city aggregates. Its results agree with the model's in distribution, not draw for draw (the
random streams differ). ``benchmarks/bench_model.py`` times both per simulated year.
"""

from __future__ import annotations

import numpy as np

from model import choice, labour_market
from model.core.data import (
    city_wage, haversine_km, load_cities, load_segments, national_graduates, national_so_employment,
    national_wage, travel_minutes,
)
from model.core.params import Params
from model.core.policy import LEVER, PolicySchedule

STEPS_PER_YEAR = 4
YOUNG_MAX_AGE = 26.0
GRADUATE_AGE = (20.0, 23.0)
EXPERIENCED_AGE = (24.0, 40.0)
CY_HUBS = ("Chengdu", "Chongqing")
SEEKING, EMPLOYED = 0, 1

WORKER_DTYPES = {"city": np.int16, "home": np.int16, "college": np.int16, "age": np.float32,
                 "state": np.int8, "firm": np.int64, "search_quarters": np.int16,
                 "ever_employed": np.bool_}
FIRM_DTYPES = {"city": np.int16, "segment": np.int8, "hub": np.int16, "parent": np.int64,
               "seats": np.float64, "slots": np.int64, "round_offset": np.float64,
               "employees": np.int64, "operating": np.bool_, "ready_step": np.int64,
               "born_step": np.int64, "in_park": np.bool_, "margin": np.float64,
               "low_quarters": np.int64}


def _group_prefix_ok(group: np.ndarray, size: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """For items in queue order, True while the running total of ``size`` within each group
    stays within ``budget[group]`` (loop-free first-come-first-served)."""
    if len(group) == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(group, kind="stable")
    g, s = group[order], size[order]
    cum = np.cumsum(s)
    start = np.searchsorted(g, g, side="left")
    before = np.concatenate([[0.0], cum])[start]
    ok_sorted = (cum - before) <= budget[g]
    ok = np.empty(len(group), dtype=bool)
    ok[order] = ok_sorted
    return ok


class NumpyReference:
    """SOModel's rules on plain arrays. ``step()`` advances one quarter."""

    def __init__(self, params: Params, seed: int):
        p = self.p = params
        self.rng = np.random.default_rng(seed)
        self.scale = p.persons_per_agent
        cities = load_cities()
        self.cities_df = cities
        names = list(cities.index)
        self.city_index = {c: i for i, c in enumerate(names)}
        self.C = C = len(names)
        self.region = cities["region"].to_numpy()
        self.population = cities["population_2020"].to_numpy(float)
        self.urban_population = cities["urban_population_2020"].to_numpy(float)
        _, self.province = np.unique(cities["province"].to_numpy(), return_inverse=True)
        self.P = int(self.province.max()) + 1
        self.same_province = (self.province[:, None] == self.province[None, :]).astype(float)
        self.distance_km = haversine_km(cities["lon"].to_numpy(float), cities["lat"].to_numpy(float))
        self.graduates_2021 = cities["graduates_2021"].to_numpy(float)
        self.rent_2015 = cities["office_rent_2015"].to_numpy(float)
        self.demo_year = cities["demo_city_year"].to_numpy(float)
        self.hub_weight = cities["hub_weight"].fillna(0).to_numpy(float)
        self.is_cy_hub = np.isin(np.array(names), CY_HUBS)
        self.nj, self.cd = self.city_index["Neijiang"], self.city_index["Chengdu"]
        segs = load_segments()
        self.S = len(segs)
        self.seg_share_start = segs["demand_share_2005"].to_numpy(float)
        self.seg_share_2023 = segs["demand_share_2023"].to_numpy(float)
        self.revenue_2020 = segs["revenue_per_seat_2020"].to_numpy(float)
        self.pay_multiplier = segs["pay_multiplier"].to_numpy(float)
        self.policy = PolicySchedule(p.levers, self.city_index)
        self.park_seats = np.zeros(C)

        # Static pieces of the graduate utility (home x college x city).
        home = np.arange(C)[:, None, None]
        college = np.arange(C)[None, :, None]
        city = np.arange(C)[None, None, :]
        self._g_dist = self.distance_km[home, city]
        self._g_prov = self.same_province[home, city]
        self._g_home = (home == city).astype(float)
        self._g_college = (college == city).astype(float)
        w = self.population[None, :] * (1.0 + 2.0 * self.same_province)
        np.fill_diagonal(w, 0.0)
        self._home_probs = w / w.sum(axis=1, keepdims=True)

        self.w = {k: np.zeros(0, dtype=d) for k, d in WORKER_DTYPES.items()}
        self.f = {k: np.zeros(0, dtype=d) for k, d in FIRM_DTYPES.items()}
        self.f_alive = np.zeros(0, dtype=bool)
        self.next_parent = 0
        self.steps = 0
        self.year, self.quarter = p.start_year, 1
        self._update_exogenous()
        self.so_wage = self.reservation.copy()
        self.job_rate = np.zeros(C)
        self.city_state: dict[str, np.ndarray] = {}
        self._seed()
        self._refresh_city_state()
        self.running = True

    # ------------------------------------------------------------------ time
    @property
    def n_steps(self) -> int:
        return (self.p.end_year - self.p.start_year + 1) * STEPS_PER_YEAR

    @property
    def t(self) -> float:
        return self.year + (self.quarter - 0.5) / STEPS_PER_YEAR

    def count(self) -> int:
        """Live workers (the analogue of the model's worker agents)."""
        return len(self.w["city"])

    def lever(self, name: str) -> np.ndarray:
        return self.lever_intensity[:, LEVER[name]]

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.n_steps:
            self.running = False
            return
        self.year = self.p.start_year + (self.steps - 1) // STEPS_PER_YEAR
        self.quarter = (self.steps - 1) % STEPS_PER_YEAR + 1
        self._update_exogenous()
        self.park_seats = np.maximum(self.park_seats, self.park_plan)
        self._finish_setup()
        self._update_margins()
        self._exit_and_shrink()
        self._relocate()
        self._grow()
        self._age_and_leave()
        self._return_home()
        if self.quarter == 3:
            self._graduate_cohort()
        self._experienced_entrants()
        self._match_and_set_wages()
        self._book_output()
        self._refresh_city_state()
        if self.steps >= self.n_steps:
            self.running = False

    def _update_exogenous(self) -> None:
        p, t = self.p, self.t
        self.city_wage = city_wage(self.cities_df, t, p.wage_growth_shift)
        self.national_wage = national_wage(t, p.wage_growth_shift)
        self.reservation = labour_market.reservation_wage(
            self.city_wage, self.national_wage, p.so_wage_to_city_wage, p.so_wage_city_elasticity)
        g = p.rent_growth_to_2015 if t < 2015.0 else p.rent_growth_after_2015
        self.rent = p.so_rent_to_prime * self.rent_2015 * (1.0 + g) ** (t - 2015.0)
        self.revenue = (self.revenue_2020[:, None] * (1.0 + p.revenue_growth) ** (t - 2020.0)
                        * (self.city_wage / self.national_wage)[None, :] ** p.revenue_wage_elasticity)
        self.seat_demand = national_so_employment(t, p.demand_growth_after_2023) * p.modelled_share
        w = np.clip((t - p.start_year) / (2023.0 - p.start_year), 0.0, 1.0)
        shares = (1 - w) * self.seg_share_start + w * self.seg_share_2023
        self.segment_share = shares / shares.sum()
        self.cy_share = (1 - w) * p.cy_hub_share_start + w * p.cy_hub_share_end
        self.travel = travel_minutes(t)
        self.lever_intensity = self.policy.intensities(t)
        self.park_plan = self.policy.park_seats(t)
        self.is_demo_city = np.nan_to_num(self.demo_year, nan=np.inf) <= t
        self.graduates_now = self.graduates_2021 * national_graduates(t) / national_graduates(2021.0)

    # ------------------------------------------------------------------ draws
    def _draw_sizes(self, n: int) -> np.ndarray:
        s = self.p.firm_size_sigma
        return self.rng.lognormal(np.log(self.p.mean_new_firm_seats) - s * s / 2, s, n)

    def _draw_hubs(self, n: int) -> np.ndarray:
        cy = np.where(self.is_cy_hub, self.hub_weight, 0.0)
        coast = np.where(~self.is_cy_hub, self.hub_weight, 0.0)
        w = self.cy_share * cy / cy.sum() + (1 - self.cy_share) * coast / coast.sum()
        return self.rng.choice(self.C, size=n, p=w / w.sum())

    def _draw_homes(self, college: np.ndarray, local_share: float) -> np.ndarray:
        other = choice.sample_choices(self._home_probs, college, self.rng)
        local = self.rng.random(len(college)) < local_share
        return np.where(local, college, other)

    # ------------------------------------------------------------------ firms
    def _live(self) -> np.ndarray:
        return np.flatnonzero(self.f_alive)

    def _setup_months(self) -> np.ndarray:
        fast = self.lever("fast_setup")
        return np.where(fast > 0, fast, self.p.default_setup_months)

    def _seats_by_city(self, rows) -> np.ndarray:
        return np.bincount(self.f["city"][rows], weights=self.f["seats"][rows], minlength=self.C)

    def _park_free(self) -> np.ndarray:
        f, rows = self.f, self._live()
        used = np.bincount(f["city"][rows], weights=f["seats"][rows] * f["in_park"][rows], minlength=self.C)
        return np.maximum(self.park_seats - used, 0.0)

    def _take_park_seats(self, rows: np.ndarray) -> None:
        f = self.f
        f["in_park"][rows] = False
        free = self._park_free()
        f["in_park"][rows] = _group_prefix_ok(f["city"][rows].astype(np.int64), f["seats"][rows], free)

    def _resize_slots(self, rows: np.ndarray) -> np.ndarray:
        f = self.f
        f["slots"][rows] = np.floor(f["seats"][rows] / self.scale + f["round_offset"][rows]).astype(np.int64)
        return f["slots"][rows]

    def _open(self, city, segment, hub, seats, *, operating: bool, parent=None) -> None:
        n = len(city)
        if n == 0:
            return
        if parent is None:
            parent = np.arange(self.next_parent, self.next_parent + n)
            self.next_parent += n
        lag = np.ceil(self._setup_months()[city] / 3.0).astype(np.int64)
        vals = dict(city=city, segment=segment, hub=hub, parent=parent, seats=seats,
                    round_offset=self.rng.random(n), operating=operating,
                    ready_step=self.steps + (0 if operating else lag), born_step=self.steps)
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

    def _seed(self) -> None:
        p, rng = self.p, self.rng
        share = self.cities_df["so_share_2005"].to_numpy(float)
        seats_by_city = self.seat_demand * share / share.sum()
        cs = np.flatnonzero(seats_by_city > 0)
        n = np.maximum(1, np.round(seats_by_city[cs] / p.mean_new_firm_seats).astype(np.int64))
        city = np.repeat(cs, n)
        sizes = self._draw_sizes(len(city))
        sizes *= (seats_by_city[cs] / np.bincount(np.repeat(np.arange(len(cs)), n), weights=sizes))[
            np.repeat(np.arange(len(cs)), n)]
        seg = rng.choice(self.S, size=len(city), p=self.segment_share)
        self._open(city, seg, self._draw_hubs(len(city)), sizes, operating=True)
        rows = self._live()
        seats_now = self._seats_by_city(rows)
        self.market_capacity = np.maximum(p.office_seats_per_1000_urban * self.urban_population / 1000.0,
                                          1.25 * seats_now)
        fill = choice.stochastic_round(self.f["slots"][rows] * 0.95, rng)
        firm_of = np.repeat(rows, fill)
        wc = self.f["city"][firm_of].astype(np.int64)
        self._add_workers(city=wc, home=self._draw_homes(wc, p.graduate_local_share), college=wc,
                          age=rng.uniform(GRADUATE_AGE[0], 35.0, len(wc)), state=EMPLOYED,
                          firm=firm_of, ever_employed=True)
        self.f["employees"][rows] = fill
        self.job_rate = np.where(seats_now > 0, 0.5, 0.0)

    def _finish_setup(self) -> None:
        f, rows = self.f, self._live()
        ready = rows[~f["operating"][rows] & (f["ready_step"][rows] <= self.steps)]
        f["operating"][ready] = True

    def _fund_per_seat(self) -> np.ndarray:
        p = self.p
        pool = self.is_demo_city * p.national_fund_per_demo_city * (1.0 + self.lever("matching_funds"))
        return pool / np.maximum(self._seats_by_city(self._live()), p.mean_new_firm_seats)

    def _city_margins(self, *, entrant: bool) -> np.ndarray:
        p = self.p
        rent_year = self.rent * p.office_m2_per_seat * 12.0 * (1.0 - self.lever("rent_relief"))
        subsidy = self._fund_per_seat() + self.lever("training_subsidy") * p.quit_rate * STEPS_PER_YEAR
        if entrant:
            fitout = np.where(self._park_free() > p.mean_new_firm_seats, 0.0, p.fitout_cny_per_seat)
            subsidy = subsidy + (self.lever("relocation_grant") - fitout) / p.amortisation_years
        return choice.profit_margin(self.revenue, self.so_wage[None, :], self.pay_multiplier[:, None],
                                    p.wage_cost_multiplier, rent_year[None, :], subsidy[None, :])

    def _update_margins(self) -> None:
        f, rows = self.f, self._live()
        m = self._city_margins(entrant=False)
        f["margin"][rows] = m[f["segment"][rows], f["city"][rows]]

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
        order = np.lexsort((self.rng.random(len(hit)), firm[hit]))
        hit = hit[order]
        fs = firm[hit]
        rank = np.arange(len(hit)) - np.searchsorted(fs, fs, side="left")
        out = hit[rank >= limit[fs]]
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
        hazard = p.exit_rate_base + (f["low_quarters"][op] >= STEPS_PER_YEAR) * p.distress_exit_rate
        exiting = op[rng.random(len(op)) < hazard]
        shrinking = op[low & ~np.isin(op, exiting)]
        if len(shrinking):
            f["seats"][shrinking] *= 1.0 - p.distress_shrink_rate
            self._release_workers(shrinking, keep=self._resize_slots(shrinking))
        if len(exiting):
            self._release_workers(exiting)
            self.f_alive[exiting] = False

    def _entry_utility(self, margins: np.ndarray, size: float):
        p, f = self.p, self.f
        rows = self._live()
        n_firms = np.bincount(f["city"][rows], minlength=self.C)
        seats = self._seats_by_city(rows)
        room = (self.market_capacity + self.park_seats - seats) >= 0.5 * size
        vacancies = np.maximum(seats - self.city_state.get("employment", np.zeros(self.C)), 0.0)
        talent = (p.so_interest_share * self.graduates_now + self.city_state.get("seekers", 0.0)
                  + p.experienced_entry_rate * self.population * STEPS_PER_YEAR)
        fill = np.clip(talent / (vacancies + size), 1e-3, 1.0)
        hubs = np.flatnonzero(self.hub_weight > 0)
        u = choice.firm_location_utility(
            margins[:, None, :], n_firms[None, None, :], fill[None, None, :],
            (self.travel[hubs, :] / 60.0)[None, :, :], self._setup_months()[None, None, :],
            room[None, None, :], self.urban_population[None, None, :],
            beta_margin=p.beta_margin, beta_city_size=p.beta_city_size,
            beta_agglomeration=p.beta_agglomeration, beta_talent=p.beta_talent,
            beta_hub=p.beta_hub, beta_setup=p.beta_setup)
        return u, hubs

    def _relocate(self) -> None:
        p, f, rng = self.p, self.f, self.rng
        rows = self._live()
        op = rows[f["operating"][rows]]
        small = op[f["seats"][op] <= p.relocation_max_seats]
        review = small[rng.random(len(small)) < p.relocation_rate]
        if len(review) == 0:
            return
        margins = self._city_margins(entrant=True)
        gain = margins[f["segment"][review], :] - f["margin"][review][:, None]
        gain[np.arange(len(review)), f["city"][review]] = -np.inf
        u, hubs = self._entry_utility(margins, p.mean_new_firm_seats)
        util = u[f["segment"][review], np.searchsorted(hubs, f["hub"][review]), :]
        util = np.where(gain > p.relocation_threshold, util, -np.inf)
        dest = choice.sample_choices(choice.logit_probabilities(util, axis=1), np.arange(len(review)), rng)
        movers, dest = review[dest >= 0], dest[dest >= 0]
        if len(movers) == 0:
            return
        self._release_workers(movers)
        f["city"][movers] = dest
        f["operating"][movers] = False
        f["ready_step"][movers] = self.steps + np.ceil(self._setup_months()[dest] / 3.0).astype(np.int64)
        f["low_quarters"][movers] = 0
        self._take_park_seats(movers)

    def _grow(self) -> None:
        p, f, rng = self.p, self.f, self.rng
        rows = self._live()
        seats = self._seats_by_city(rows)
        occupied = seats / np.maximum(self.market_capacity + self.park_seats, 1.0)
        self.market_capacity *= 1.0 + p.office_build_rate * (occupied > 0.85)
        gap = self.seat_demand - seats.sum()
        if gap < 0:
            w = f["seats"][rows] * np.exp(-p.beta_margin * f["margin"][rows])
            f["seats"][rows] -= np.minimum(-gap * w / w.sum(), 0.3 * f["seats"][rows])
            self._release_workers(rows, keep=self._resize_slots(rows))
            return
        op = rows[f["operating"][rows] & (f["margin"][rows] > 0)]
        op = op[f["employees"][op] >= 0.8 * np.maximum(f["slots"][op], 1)]
        expanded = 0.0
        if len(op):
            w = f["seats"][op]
            want = np.minimum(p.expansion_share * gap * w / w.sum(), 0.25 * w)
            room = np.maximum(self.market_capacity + self.park_seats - seats, 0.0)
            city_want = np.bincount(f["city"][op], weights=want, minlength=self.C)
            add = want * np.minimum(1.0, room / np.maximum(city_want, 1e-9))[f["city"][op]]
            f["seats"][op] += add
            self._resize_slots(op)
            expanded = add.sum()
        n_new = rng.poisson(max(gap - expanded, 0.0) / p.mean_new_firm_seats)
        if n_new == 0:
            return
        sizes = self._draw_sizes(n_new)
        seg = rng.choice(self.S, size=n_new, p=self.segment_share)
        hub = self._draw_hubs(n_new)
        u, hubs = self._entry_utility(self._city_margins(entrant=True), p.mean_new_firm_seats)
        probs = choice.logit_probabilities(u, axis=2).reshape(-1, self.C)
        city = choice.sample_choices(probs, seg * len(hubs) + np.searchsorted(hubs, hub), rng)
        room = np.maximum(self.market_capacity + self.park_seats - seats, 0.0)
        ok = city >= 0
        ok[ok] = _group_prefix_ok(city[ok], sizes[ok], room)
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
        leave = (w["age"] > p.exit_age) | (employed & (self.rng.random(len(employed)) < p.quit_rate))
        self._drop_workers(np.flatnonzero(leave))

    def _return_home(self) -> None:
        p, w = self.p, self.w
        away = np.flatnonzero(w["home"] != w["city"])
        if len(away) == 0:
            return
        hazard = p.return_home_rate * np.minimum(1.0, 2.0 * self.job_rate[w["home"][away]])
        movers = away[self.rng.random(len(away)) < hazard]
        f = w["firm"][movers]
        np.subtract.at(self.f["employees"], f[f >= 0], 1)
        w["firm"][movers] = -1
        w["state"][movers] = SEEKING
        w["city"][movers] = w["home"][movers]
        w["search_quarters"][movers] = 0

    def _expected_net_income(self) -> np.ndarray:
        p = self.p
        job_prob = 1.0 - (1.0 - self.job_rate) ** p.search_quarters
        pay = self.so_wage * job_prob + self.lever("talent_subsidy") * job_prob / p.amortisation_years
        young = np.maximum(self.city_state.get("young_workers", np.zeros(self.C)), 1.0)
        coverage = np.minimum(1.0, self.lever("talent_apartments") / young)
        housing = p.housing_share_of_wage * self.city_wage * (1.0 - coverage * p.apartment_rent_discount)
        return np.maximum(pay - housing, 0.05 * self.so_wage)

    def _network_share(self) -> np.ndarray:
        w = self.w
        key = self.province[w["home"]] * self.C + w["city"]
        counts = np.bincount(key, minlength=self.P * self.C).reshape(self.P, self.C).astype(float)
        return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1.0)

    def graduate_choice_probabilities(self) -> np.ndarray:
        p, C = self.p, self.C
        net = self._expected_net_income()
        net_out = np.maximum(self.reservation - p.housing_share_of_wage * self.city_wage, 0.05 * self.reservation)
        home = np.arange(C)[:, None, None]
        city = np.arange(C)[None, None, :]
        u = choice.graduate_utility(
            net[None, None, :], self._g_dist, self._g_prov, self._g_home, self._g_college,
            self._network_share()[self.province[home], city],
            beta_income=p.beta_income, beta_distance=p.beta_distance,
            beta_same_province=p.beta_same_province, beta_home=p.beta_home,
            beta_college=p.beta_college, beta_network=p.beta_network)
        outside = p.beta_income * np.log(net_out)[None, :, None] + p.outside_option_utility
        u = np.concatenate([u, np.broadcast_to(outside, (C, C, 1))], axis=2)
        return choice.logit_probabilities(u, axis=2)

    def _graduate_cohort(self) -> None:
        p, rng, C = self.p, self.rng, self.C
        n = choice.stochastic_round(self.graduates_now * p.so_interest_share / self.scale, rng)
        college = np.repeat(np.arange(C), n)
        home = self._draw_homes(college, p.graduate_local_share)
        probs = self.graduate_choice_probabilities().reshape(C * C, C + 1)
        dest = choice.sample_choices(probs, home * C + college, rng)
        seek = dest < C
        k = int(seek.sum())
        self._add_workers(city=dest[seek], home=home[seek], college=college[seek],
                          age=rng.uniform(*GRADUATE_AGE, k), state=SEEKING)

    def _experienced_entrants(self) -> None:
        p, rng = self.p, self.rng
        persons = p.experienced_entry_rate * self.population * np.minimum(1.0, 2.0 * self.job_rate)
        n = choice.stochastic_round(persons / self.scale, rng)
        city = np.repeat(np.arange(self.C), n)
        self._add_workers(city=city, home=city, college=np.full(len(city), -1),
                          age=rng.uniform(*EXPERIENCED_AGE, len(city)), state=SEEKING)

    def _match_and_set_wages(self) -> None:
        p, w, f, rng, C = self.p, self.w, self.f, self.rng, self.C
        frows = self._live()
        op = frows[f["operating"][frows]]
        slot_firm = np.repeat(op, np.maximum(f["slots"][op] - f["employees"][op], 0))
        slot_city = f["city"][slot_firm].astype(np.int64)
        seekers = np.flatnonzero(w["state"] == SEEKING)
        seeker_city = w["city"][seekers].astype(np.int64)
        vac_c = np.bincount(slot_city, minlength=C)
        seek_c = np.bincount(seeker_city, minlength=C)
        s_pos, v_pos = labour_market.match_within_cities(seeker_city, slot_city, C, rng)
        hired, firm = seekers[s_pos], slot_firm[v_pos]
        w["state"][hired] = EMPLOYED
        w["firm"][hired] = firm
        w["ever_employed"][hired] = True
        f["employees"] += np.bincount(firm, minlength=len(self.f_alive))
        hires = np.bincount(seeker_city[s_pos], minlength=C)
        rate = np.where(seek_c > 0, hires / np.maximum(seek_c, 1), np.where(vac_c > 0, 1.0, 0.0))
        self.job_rate = 0.5 * self.job_rate + 0.5 * rate
        unmatched = np.ones(len(seekers), dtype=bool)
        unmatched[s_pos] = False
        still = seekers[unmatched]
        w["search_quarters"][still] += 1
        theta = labour_market.tightness(vac_c * self.scale, seek_c * self.scale, p.max_tightness)
        theta = np.where(np.bincount(f["city"][op], minlength=C) > 0, theta, 1.0)
        target = labour_market.target_wage(self.reservation, theta, p.wage_tightness_elasticity)
        self.so_wage = labour_market.adjust_wage(self.so_wage, target, p.wage_adjustment_speed)
        self._drop_workers(still[w["search_quarters"][still] >= p.search_quarters])

    def _book_output(self) -> None:
        f, rows = self.f, self._live()
        op = rows[f["operating"][rows]]
        revenue = f["employees"][op] * self.scale * self.revenue[f["segment"][op], f["city"][op]] / STEPS_PER_YEAR
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
        ec = np.bincount(city, weights=employed, minlength=C)
        self.city_state = {
            "employment": ec * s,
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
