"""The world and its schedule: cities on a rail network, SO establishments, workers.

One step is one quarter. Quarters (not months) because the slowest decisions the sources
describe, firm set-up (4 months to sign + 10 days, fact nj_setup_time) and annual graduate
cohorts, are resolved well by quarters, and a 2005-2030 run stays 104 steps.

Order within a step (see docs/ODD.md, "Process overview and scheduling"):
 1. clock, exogenous paths (wages, rents, demand, travel times, policy in force)
 2. cities build park seats and pay recurring lever costs
 3. establishments finish set-up; margins are recomputed
 4. exits, shrinking, relocation, expansion and entry (the national seat gap)
 5. workers age, quit, return home; graduates arrive (graduation_quarter); experienced locals seek
 6. matching in each city; long searchers leave; SO wages adjust to tightness
 7. output, tax and policy spending are booked; data are collected
"""

from __future__ import annotations

import mesa
import numpy as np

from .rules import choice, labour_market
from .agents.city import CityAgent
from .data import (
    LAST_DATA_YEAR, city_graph, city_wage, haversine_km, load_cities, load_known_entries, load_segments,
    national_graduates, national_so_employment, national_wage, travel_minutes,
)
from .agents.firm import FIRM_COLUMNS, FirmAgent, create_firms, remove_firms
from .agents.worker import EMPLOYED, SEEKING, WORKER_COLUMNS, WorkerAgent, create_workers, remove_workers
from .params import Params
from .policy import LEVER, FiscalLedger, PolicySchedule
from .table import Table

STEPS_PER_YEAR = 4
MONTHS_PER_QUARTER = 3.0
MONTHS_PER_YEAR = 12.0
MINUTES_PER_HOUR = 60.0
#: Age band of "young" staff in the Neijiang park fact (nj_young_share: 18-26).
YOUNG_MAX_AGE = 26.0
#: Years of the data columns that rents, revenue and graduates grow from
#: (cities.csv office_rent_2015, segments.csv revenue_per_seat_2020, cities.csv graduates_2021).
OFFICE_RENT_YEAR = 2015.0
REVENUE_PER_SEAT_YEAR = 2020.0
GRADUATES_YEAR = 2021.0
NEIJIANG, CHENGDU = "Neijiang", "Chengdu"
CY_HUBS = ("Chengdu", "Chongqing")


class SOModel(mesa.Model):
    """Service-outsourcing location model. ``SOModel(rng=seed, params=Params(...))``; any
    Params field may also be passed as a keyword (``SOModel(rng=1, modelled_share=0.4)``)."""

    def __init__(self, params: Params | None = None, *, rng=None, **overrides):
        super().__init__(rng=rng)
        p = (params or Params())
        if overrides:
            p = p.replace(**overrides)
        self.params = p
        self.scale = p.persons_per_agent

        # --- cities and network --------------------------------------------------
        cities = load_cities()
        self.cities_df = cities
        self.city_names = list(cities.index)
        self.city_index = {c: i for i, c in enumerate(self.city_names)}
        self.n_cities = C = len(cities)
        self.region = cities["region"].to_numpy()
        self.tier = cities["tier"].to_numpy()
        self.population = cities["population_2020"].to_numpy(float)
        self.urban_population = cities["urban_population_2020"].to_numpy(float)
        province = cities["province"].to_numpy()
        self.province_codes, self.province = np.unique(province, return_inverse=True)
        self.same_province = (self.province[:, None] == self.province[None, :]).astype(float)
        self.distance_km = haversine_km(cities["lon"].to_numpy(float), cities["lat"].to_numpy(float))
        self.graduates_2021 = cities["graduates_2021"].to_numpy(float)
        self.rent_2015 = cities["office_rent_2015"].to_numpy(float)
        self.demo_year = cities["demo_city_year"].to_numpy(float)  # NaN: never
        self.hub_weight = cities["hub_weight"].fillna(0).to_numpy(float)
        self.is_cy_hub = np.isin(np.array(self.city_names), CY_HUBS)
        self.nj = self.city_index[p.focus_city]
        self.refs = np.array([self.city_index[c] for c in p.reference_cities])

        graph = city_graph(None)
        self.graph = graph
        self.grid = mesa.discrete_space.Network(graph, capacity=1, random=self.random)
        cells = {cell.coordinate: cell for cell in self.grid.all_cells}
        for i, c in enumerate(cities.itertuples()):
            CityAgent(self, i, c.city, c.tier, c.region, cells[c.city])
        self.cities = self.agents_by_type[CityAgent]

        segs = load_segments()
        self.segment_names = list(segs["segment"])
        self.seg_share_start = segs["demand_share_2005"].to_numpy(float)
        self.seg_share_2023 = segs["demand_share_2023"].to_numpy(float)
        self.revenue_2020 = segs["revenue_per_seat_2020"].to_numpy(float)
        self.pay_multiplier = segs["pay_multiplier"].to_numpy(float)

        # --- policy and fiscal -----------------------------------------------------
        self.lever_index = LEVER
        self.policy = PolicySchedule(p.levers, self.city_index)
        self.ledger = FiscalLedger(C)
        self.park_seats = np.zeros(C)
        self.park_plan = np.zeros(C)
        self.lever_intensity = np.zeros((C, len(LEVER)))

        # --- state tables --------------------------------------------------------------
        self.firms_table = Table(FIRM_COLUMNS, capacity=4096)
        self.workers_table = Table(WORKER_COLUMNS, capacity=65536)
        self.next_parent = 0

        # --- clock and exogenous paths at the start ------------------------------------
        self.year = p.start_year
        self.quarter = 1
        self._update_exogenous()
        self.so_wage = self.reservation.copy()
        self.job_rate = np.zeros(C)  # smoothed quarterly job-finding rate of seekers
        self.market_capacity = np.zeros(C)
        self.city_state: dict[str, np.ndarray] = {}
        self._seed_initial_industry()
        self._refresh_city_state(flows=None)

        self.datacollector = mesa.DataCollector(
            model_reporters={
                # step 0 is the initial state (quarter 0 of start_year); step k the end of quarter k
                "step": lambda m: m.steps,
                "year": lambda m: m.year,
                "quarter": lambda m: m.quarter if m.steps > 0 else 0,
                "coastal_share": lambda m: m.region_share("coastal"),
                "central_share": lambda m: m.region_share("central"),
                "western_share": lambda m: m.region_share("western"),
                "focus_firms": lambda m: m.city_state["firms"][m.nj],
                "focus_employment": lambda m: m.city_state["employment"][m.nj],
                "focus_park_staff": lambda m: m.city_state["park_staff"][m.nj],
                "focus_wage_ratio": lambda m: m.so_wage[m.nj] / m.so_wage[m.refs].mean(),
                "focus_policy_spend": lambda m: m.ledger.cumulative_spend[m.nj],
                "focus_tax": lambda m: m.ledger.cumulative_tax[m.nj],
            },
            agenttype_reporters={CityAgent: {k: _city_reporter(k) for k in CITY_COLUMNS}},
        )
        self.running = True
        self.datacollector.collect(self)

    # ------------------------------------------------------------------------------
    # time
    # ------------------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return (self.params.end_year - self.params.start_year + 1) * STEPS_PER_YEAR

    @property
    def t(self) -> float:
        """Calendar time at the middle of the current quarter (years)."""
        return self.year + (self.quarter - 0.5) / STEPS_PER_YEAR

    def time_label(self) -> str:
        return f"{self.year} Q{self.quarter}"

    def step(self) -> None:
        if self.steps > self.n_steps:
            self.running = False
            return
        self.year = self.params.start_year + (self.steps - 1) // STEPS_PER_YEAR
        self.quarter = (self.steps - 1) % STEPS_PER_YEAR + 1
        flows = {k: np.zeros(self.n_cities) for k in FLOW_COLUMNS}
        self.ledger.new_quarter()
        self._update_exogenous()

        self.cities.do("build_park")
        self.cities.do("pay_recurring_levers")
        self._known_entries(flows)
        self._finish_setup(flows)
        self._update_margins()
        self._exit_and_shrink(flows)
        self._relocate(flows)
        self._grow(flows)
        self._workers_age_and_leave()
        self._return_home()
        if self.quarter == self.params.graduation_quarter:
            self._graduate_cohort(flows)
        self._experienced_entrants(flows)
        self._match_and_set_wages(flows)
        self._book_output_and_tax(flows)
        self.ledger.close_quarter()
        self._refresh_city_state(flows)
        self.datacollector.collect(self)
        if self.steps >= self.n_steps:
            self.running = False

    # ------------------------------------------------------------------------------
    # exogenous paths
    # ------------------------------------------------------------------------------
    def _update_exogenous(self) -> None:
        p, t = self.params, self.t
        self.city_wage = city_wage(self.cities_df, t, p.wage_growth_shift)
        self.national_wage = national_wage(t, p.wage_growth_shift)
        self.reservation = labour_market.reservation_wage(
            self.city_wage, self.national_wage, p.so_wage_to_city_wage, p.so_wage_city_elasticity)
        g = p.rent_growth_to_2015 if t < OFFICE_RENT_YEAR else p.rent_growth_after_2015
        self.rent = p.so_rent_to_prime * self.rent_2015 * (1.0 + g) ** (t - OFFICE_RENT_YEAR)  # CNY/m2/month
        # CNY per seat per year, (segments x cities).
        self.revenue = (self.revenue_2020[:, None] * (1.0 + p.revenue_growth) ** (t - REVENUE_PER_SEAT_YEAR)
                        * (self.city_wage / self.national_wage)[None, :] ** p.revenue_wage_elasticity)
        self.seat_demand = national_so_employment(t, p.demand_growth_after_2023) * p.modelled_share
        # Segment shares and the Chengdu-Chongqing client share move linearly to their last observed values.
        w = np.clip((t - p.start_year) / (LAST_DATA_YEAR - p.start_year), 0.0, 1.0)
        shares = (1 - w) * self.seg_share_start + w * self.seg_share_2023
        self.segment_share = shares / shares.sum()
        self.cy_share = (1 - w) * p.cy_hub_share_start + w * p.cy_hub_share_end
        self.travel = travel_minutes(t)
        self.lever_intensity = self.policy.intensities(t)
        self.park_plan = self.policy.park_seats(t)
        self.is_demo_city = np.nan_to_num(self.demo_year, nan=np.inf) <= t
        self.graduates_now = self.graduates_2021 * national_graduates(t) / national_graduates(GRADUATES_YEAR)

    def lever(self, name: str) -> np.ndarray:
        """Intensity of lever ``name`` in force in every city this quarter."""
        return self.lever_intensity[:, LEVER[name]]

    # ------------------------------------------------------------------------------
    # initial state: 2005's SO industry, in the coastal cities it was in
    # ------------------------------------------------------------------------------
    def _seed_initial_industry(self) -> None:
        p, rng = self.params, self.rng
        share = self.cities_df["so_share_2005"].to_numpy(float)
        seats_by_city = self.seat_demand * share / share.sum()
        for c in np.flatnonzero(seats_by_city > 0):
            n = max(1, int(round(seats_by_city[c] / p.mean_new_firm_seats)))
            sizes = self._draw_sizes(n)
            sizes *= seats_by_city[c] / sizes.sum()
            seg = rng.choice(len(self.segment_names), size=n, p=self.segment_share)
            hub = self._draw_hubs(n)
            self._open(np.full(n, c), seg, hub, sizes, operating=True, flows=None)
        seats_now = np.bincount(self.firms_table.city[self.firms_table.rows()],
                                weights=self.firms_table.seats[self.firms_table.rows()], minlength=self.n_cities)
        self.market_capacity = np.maximum(p.office_seats_per_1000_urban * self.urban_population / 1000.0,
                                          p.office_headroom_start * seats_now)
        # Staff the initial establishments with locals and some migrants of working age.
        ft = self.firms_table
        rows = ft.rows()
        fill = choice.stochastic_round(ft.slots[rows] * p.staffed_share_start, rng)
        firm_of = np.repeat(rows, fill)
        n = len(firm_of)
        city = ft.city[firm_of].astype(np.int64)
        home = self._draw_homes(city, p.graduate_local_share)
        wr = create_workers(self, n, city=city, home=home, college=city,
                            age=rng.uniform(p.graduate_age_min, p.initial_workforce_age_max, n), state=EMPLOYED,
                            firm=firm_of, ever_employed=True)
        ft.employees[:] = np.bincount(self.workers_table.firm[wr], minlength=ft.size)[: ft.size] if n else 0
        self.job_rate = np.where(seats_now > 0, p.initial_job_rate, 0.0)

    def _draw_sizes(self, n: int) -> np.ndarray:
        """Log-normal establishment sizes with the configured mean (persons)."""
        s = self.params.firm_size_sigma
        mu = np.log(self.params.mean_new_firm_seats) - s * s / 2
        return self.rng.lognormal(mu, s, n)

    def _draw_hubs(self, n: int) -> np.ndarray:
        """Client hub city of ``n`` new establishments: Chengdu/Chongqing with the current
        Chengdu-Chongqing share, else a coastal hub, each by its hub weight."""
        cy = np.where(self.is_cy_hub, self.hub_weight, 0.0)
        coast = np.where(~self.is_cy_hub, self.hub_weight, 0.0)
        w = self.cy_share * cy / cy.sum() + (1 - self.cy_share) * coast / coast.sum()
        return self.rng.choice(self.n_cities, size=n, p=w / w.sum())

    def _draw_homes(self, college: np.ndarray, local_share: float) -> np.ndarray:
        """Hometowns of people studying in ``college`` cities: the city itself with
        ``local_share``, else another city weighted by population, x (1 + ``hometown_province_boost``)
        within the province."""
        w = self.population[None, :] * (1.0 + self.params.hometown_province_boost * self.same_province)
        np.fill_diagonal(w, 0.0)
        probs = w / w.sum(axis=1, keepdims=True)
        other = choice.sample_choices(probs, college, self.rng)
        local = self.rng.random(len(college)) < local_share
        return np.where(local, college, other)

    # ------------------------------------------------------------------------------
    # establishments
    # ------------------------------------------------------------------------------
    def _setup_months(self) -> np.ndarray:
        fast = self.lever("fast_setup")
        return np.where(fast > 0, fast, self.params.default_setup_months)

    def _open(self, city, segment, hub, seats, *, operating: bool, flows, parent=None) -> np.ndarray:
        """Create establishments (entry); returns their rows."""
        n = len(city)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if parent is None:
            parent = np.arange(self.next_parent, self.next_parent + n)
            self.next_parent += n
        lag_q = np.ceil(self._setup_months()[city] / MONTHS_PER_QUARTER).astype(np.int64)
        rows = create_firms(
            self, n, city=city, segment=segment, hub=hub, parent=parent, seats=seats,
            round_offset=self.rng.random(n), operating=operating,
            ready_step=self.steps + (0 if operating else lag_q), born_step=self.steps)
        self._resize_slots(rows)
        self._take_park_seats(rows)
        if flows is not None:
            flows["entries"] += np.bincount(city, minlength=self.n_cities)
            self._book_entry_policies(city, seats)
        return rows

    def _known_entries(self, flows) -> None:
        """Open the establishments whose opening year is an input fact (model/data/known_entries.csv):
        they start operating in the first quarter of that year."""
        if self.quarter != 1:
            return
        known = load_known_entries()
        known = known[known["year"] == self.year]
        if known.empty:
            return
        city = np.array([self.city_index[c] for c in known["city"]])
        seg = np.array([self.segment_names.index(s) for s in known["segment"]])
        hub = np.array([self.city_index[h] for h in known["hub"]])
        rows = self._open(city, seg, hub, known["seats"].to_numpy(float), operating=False, flows=flows)
        self.firms_table.ready_step[rows] = self.steps  # _finish_setup counts them as new this quarter

    def _book_entry_policies(self, city: np.ndarray, seats: np.ndarray) -> None:
        C = self.n_cities
        grant = self.lever("relocation_grant")
        self.ledger.book("relocation_grant", np.bincount(city, weights=seats, minlength=C) * grant)
        task_force = (self.lever("fast_setup") > 0) * self.params.fast_setup_cost_per_firm
        self.ledger.book("fast_setup", np.bincount(city, minlength=C) * task_force)

    def _park_free(self) -> np.ndarray:
        ft = self.firms_table
        rows = ft.rows()
        used = np.bincount(ft.city[rows], weights=ft.seats[rows] * ft.in_park[rows], minlength=self.n_cities)
        return np.maximum(self.park_seats - used, 0.0)

    def _take_park_seats(self, rows: np.ndarray) -> None:
        """New or relocated establishments move into free turnkey park seats if they fit."""
        ft = self.firms_table
        free = self._park_free()
        for r in rows.tolist():
            c = ft.city[r]
            if free[c] >= ft.seats[r]:
                ft.in_park[r] = True
                free[c] -= ft.seats[r]
            else:
                ft.in_park[r] = False

    def _resize_slots(self, rows: np.ndarray) -> np.ndarray:
        """Recompute worker-agent slots after seats changed; returns the new slots."""
        ft = self.firms_table
        ft.slots[rows] = np.floor(ft.seats[rows] / self.scale + ft.round_offset[rows]).astype(np.int64)
        return ft.slots[rows]

    def _seats_by_city(self, rows=None) -> np.ndarray:
        ft = self.firms_table
        rows = ft.rows() if rows is None else rows
        return np.bincount(ft.city[rows], weights=ft.seats[rows], minlength=self.n_cities)

    def _finish_setup(self, flows) -> None:
        ft = self.firms_table
        rows = ft.rows()
        ready = rows[~ft.operating[rows] & (ft.ready_step[rows] <= self.steps)]
        ft.operating[ready] = True
        flows["new_firms"] += np.bincount(ft.city[ready], minlength=self.n_cities)

    def _fund_per_seat(self) -> np.ndarray:
        """National plus matched city SO funds per seat per year in each city (CNY)."""
        p = self.params
        pool = self.is_demo_city * p.national_fund_per_demo_city * (1.0 + self.lever("matching_funds"))
        return pool / np.maximum(self._seats_by_city(), self.params.mean_new_firm_seats)

    def _city_margins(self, *, entrant: bool) -> np.ndarray:
        """(segments x cities) expected profit margin of a seat; entrants also weigh
        relocation grants and, outside turnkey parks, their own fit-out cost."""
        p = self.params
        rent_year = self.rent * p.office_m2_per_seat * MONTHS_PER_YEAR * (1.0 - self.lever("rent_relief"))
        hires_per_seat_year = p.quit_rate * STEPS_PER_YEAR
        subsidy = self._fund_per_seat() + self.lever("training_subsidy") * hires_per_seat_year
        if entrant:
            fitout = np.where(self._park_free() > p.mean_new_firm_seats, 0.0, p.fitout_cny_per_seat)
            subsidy = subsidy + (self.lever("relocation_grant") - fitout) / p.amortisation_years
        wage = self._wage_for_firms()
        return choice.profit_margin(self.revenue, wage[None, :], self.pay_multiplier[:, None],
                                    p.wage_cost_multiplier, rent_year[None, :], subsidy[None, :])

    def _wage_for_firms(self) -> np.ndarray:
        return self.so_wage

    def _update_margins(self) -> None:
        ft = self.firms_table
        rows = ft.rows()
        m = self._city_margins(entrant=False)
        ft.margin[rows] = m[ft.segment[rows], ft.city[rows]]

    def _release_workers(self, firm_rows: np.ndarray, keep: np.ndarray | None = None) -> None:
        """Lay off workers of ``firm_rows`` beyond ``keep`` slots each (all if None); they
        become job seekers in the same city."""
        wt, ft = self.workers_table, self.firms_table
        if len(firm_rows) == 0:
            return
        limit = np.zeros(ft.size, dtype=np.int64) - 1
        limit[firm_rows] = 0 if keep is None else keep
        w = wt.rows()
        emp = w[(wt.state[w] == EMPLOYED)]
        f = wt.firm[emp]
        hit = emp[limit[f] >= 0]
        if len(hit) == 0:
            return
        # Rank each firm's workers randomly; those past the limit are laid off.
        order = np.lexsort((self.rng.random(len(hit)), wt.firm[hit]))
        hit = hit[order]
        firms_sorted = wt.firm[hit]
        start = np.searchsorted(firms_sorted, firms_sorted, side="left")
        rank = np.arange(len(hit)) - start
        out = hit[rank >= limit[firms_sorted]]
        wt.state[out] = SEEKING
        wt.firm[out] = -1
        wt.search_quarters[out] = 0
        ft.employees[:] = 0
        emp_after = w[wt.state[w] == EMPLOYED]
        ft.employees[: ft.size] = np.bincount(wt.firm[emp_after], minlength=ft.size)

    def _exit_and_shrink(self, flows) -> None:
        p, ft, rng = self.params, self.firms_table, self.rng
        rows = ft.rows()
        op = rows[ft.operating[rows]]
        low = ft.margin[op] < p.exit_margin
        ft.low_quarters[op] = np.where(low, ft.low_quarters[op] + 1, 0)
        hazard = p.exit_rate_base + (ft.low_quarters[op] >= STEPS_PER_YEAR) * p.distress_exit_rate
        exiting = op[rng.random(len(op)) < hazard]
        # Distressed survivors shed seats.
        shrinking = op[low & ~np.isin(op, exiting)]
        if len(shrinking):
            ft.seats[shrinking] *= 1.0 - p.distress_shrink_rate
            self._release_workers(shrinking, keep=self._resize_slots(shrinking))
        if len(exiting):
            flows["exits"] += np.bincount(ft.city[exiting], minlength=self.n_cities)
            self._release_workers(exiting)
            remove_firms(self, exiting)

    def _entry_utility(self, margins: np.ndarray, size: float) -> np.ndarray:
        """(segments x hubs x cities) deterministic location utility of a new establishment."""
        p = self.params
        ft = self.firms_table
        rows = ft.rows()
        n_firms = np.bincount(ft.city[rows], minlength=self.n_cities)
        seats = self._seats_by_city(rows)
        room = (self.market_capacity + self.park_seats - seats) >= p.entry_min_room_share * size
        vacancies = np.maximum(seats - self.city_state.get("employment", np.zeros(self.n_cities)), 0.0)
        talent = (p.so_interest_share * self.graduates_now + self.city_state.get("seekers", 0.0)
                  + p.experienced_entry_rate * self.population * STEPS_PER_YEAR)
        fill = talent / (vacancies + size)  # floored and capped in firm_location_utility
        hubs = np.flatnonzero(self.hub_weight > 0)
        hub_hours = self.travel[hubs, :] / MINUTES_PER_HOUR  # hubs x cities
        u = choice.firm_location_utility(
            margins[:, None, :], n_firms[None, None, :], fill[None, None, :], hub_hours[None, :, :],
            self._setup_months()[None, None, :], room[None, None, :], self.urban_population[None, None, :],
            beta_margin=p.beta_margin, beta_city_size=p.beta_city_size, beta_agglomeration=p.beta_agglomeration, beta_talent=p.beta_talent,
            beta_hub=p.beta_hub, beta_setup=p.beta_setup, min_fill_rate=p.min_entry_fill_rate)
        return u, hubs

    def _relocate(self, flows) -> None:
        p, ft, rng = self.params, self.firms_table, self.rng
        rows = ft.rows()
        op = rows[ft.operating[rows]]
        small = op[ft.seats[op] <= p.relocation_max_seats]
        review = small[rng.random(len(small)) < p.relocation_rate]
        if len(review) == 0:
            return
        margins = self._city_margins(entrant=True)
        gain = margins[ft.segment[review], :] - ft.margin[review][:, None]
        gain[np.arange(len(review)), ft.city[review]] = -np.inf
        u, hubs = self._entry_utility(margins, p.mean_new_firm_seats)
        hub_pos = np.searchsorted(hubs, ft.hub[review])
        util = u[ft.segment[review], hub_pos, :]
        util = np.where(gain > p.relocation_threshold, util, -np.inf)
        probs = choice.logit_probabilities(util, axis=1)
        dest = choice.sample_choices(probs, np.arange(len(review)), rng)
        movers = review[dest >= 0]
        dest = dest[dest >= 0]
        if len(movers) == 0:
            return
        flows["relocations_out"] += np.bincount(ft.city[movers], minlength=self.n_cities)
        flows["relocations_in"] += np.bincount(dest, minlength=self.n_cities)
        self._release_workers(movers)
        ft.city[movers] = dest
        ft.operating[movers] = False
        ft.ready_step[movers] = self.steps + np.ceil(self._setup_months()[dest] / MONTHS_PER_QUARTER).astype(np.int64)
        ft.low_quarters[movers] = 0
        ft.in_park[movers] = False
        self._take_park_seats(movers)
        self._book_entry_policies(dest, ft.seats[movers])

    def _grow(self, flows) -> None:
        """Close the gap between national seat demand and existing seats: existing
        establishments expand (or shrink), new ones enter where the logit sends them."""
        p, ft, rng = self.params, self.firms_table, self.rng
        rows = ft.rows()
        seats = self._seats_by_city(rows)
        # Market office space grows where it is nearly full.
        occupied = seats / np.maximum(self.market_capacity + self.park_seats, 1.0)
        self.market_capacity *= 1.0 + p.office_build_rate * (occupied > p.office_build_occupancy)
        gap = self.seat_demand - seats.sum()
        if gap < 0:
            self._shrink_to_demand(-gap)
            return
        # Expansion by profitable establishments that fill their seats.
        op = rows[ft.operating[rows] & (ft.margin[rows] > 0)]
        op = op[ft.employees[op] >= p.expansion_fill_threshold * np.maximum(ft.slots[op], 1)]
        expanded = 0.0
        if len(op):
            # Proportional (Gibrat) growth among establishments that earn money and fill their seats.
            w = ft.seats[op]
            want = p.expansion_share * gap * w / w.sum()
            want = np.minimum(want, p.max_expansion_rate * ft.seats[op])
            room = np.maximum(self.market_capacity + self.park_seats - seats, 0.0)
            city_want = np.bincount(ft.city[op], weights=want, minlength=self.n_cities)
            scale = np.minimum(1.0, room / np.maximum(city_want, 1e-9))
            add = want * scale[ft.city[op]]
            ft.seats[op] += add
            self._resize_slots(op)
            expanded = add.sum()
        remaining = gap - expanded
        n_new = rng.poisson(max(remaining, 0.0) / p.mean_new_firm_seats)
        if n_new == 0:
            return
        sizes = self._draw_sizes(n_new)
        seg = rng.choice(len(self.segment_names), size=n_new, p=self.segment_share)
        hub = self._draw_hubs(n_new)
        u, hubs = self._entry_utility(self._city_margins(entrant=True), p.mean_new_firm_seats)
        hub_pos = np.searchsorted(hubs, hub)
        probs = choice.logit_probabilities(u, axis=2).reshape(-1, self.n_cities)
        city = choice.sample_choices(probs, seg * len(hubs) + hub_pos, rng)
        ok = city >= 0
        # Respect free office space city by city, first come first served.
        room = np.maximum(self.market_capacity + self.park_seats - seats, 0.0)
        order = np.flatnonzero(ok)
        for i in order.tolist():
            c = city[i]
            if sizes[i] <= room[c]:
                room[c] -= sizes[i]
            else:
                ok[i] = False
        if not ok.any():
            return
        parent = np.arange(self.next_parent, self.next_parent + int(ok.sum()))
        self.next_parent += len(parent)
        branch = rng.random(len(parent)) < p.branch_share
        existing = ft.rows()
        if branch.any() and len(existing):
            parent[branch] = ft.parent[rng.choice(existing, size=int(branch.sum()))]
        self._open(city[ok], seg[ok], hub[ok], sizes[ok], operating=False, flows=flows, parent=parent)

    def _shrink_to_demand(self, excess: float) -> None:
        p, ft = self.params, self.firms_table
        rows = ft.rows()
        w = ft.seats[rows] * np.exp(-p.beta_margin * ft.margin[rows])
        cut = np.minimum(excess * w / w.sum(), p.max_shrink_rate * ft.seats[rows])
        ft.seats[rows] -= cut
        self._release_workers(rows, keep=self._resize_slots(rows))

    # ------------------------------------------------------------------------------
    # workers
    # ------------------------------------------------------------------------------
    def _workers_age_and_leave(self) -> None:
        p, wt = self.params, self.workers_table
        rows = wt.rows()
        wt.age[rows] += 1.0 / STEPS_PER_YEAR
        employed = wt.state[rows] == EMPLOYED
        leave = (wt.age[rows] > p.exit_age) | (employed & (self.rng.random(len(rows)) < p.quit_rate))
        gone = rows[leave]
        self._drop_workers(gone)

    def _drop_workers(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        wt, ft = self.workers_table, self.firms_table
        f = wt.firm[rows]
        f = f[f >= 0]
        np.subtract.at(ft.employees, f, 1)
        remove_workers(self, rows)

    def _return_home(self) -> None:
        p, wt, ft = self.params, self.workers_table, self.firms_table
        rows = wt.rows()
        away = rows[(wt.home[rows] != wt.city[rows])]
        if len(away) == 0:
            return
        hazard = p.return_home_rate * np.minimum(1.0, p.return_home_job_rate_gain * self.job_rate[wt.home[away]])
        movers = away[self.rng.random(len(away)) < hazard]
        f = wt.firm[movers]
        np.subtract.at(ft.employees, f[f >= 0], 1)
        wt.firm[movers] = -1
        wt.state[movers] = SEEKING
        wt.city[movers] = wt.home[movers]
        wt.search_quarters[movers] = 0

    def expected_net_income(self) -> np.ndarray:
        """A job seeker's expected yearly income in each city, net of housing (CNY/year)."""
        p = self.params
        job_prob = 1.0 - (1.0 - self.job_rate) ** p.search_quarters
        pay = self.so_wage * job_prob + self.lever("talent_subsidy") * job_prob / p.amortisation_years
        young = np.maximum(self.city_state.get("young_workers", np.zeros(self.n_cities)), 1.0)
        coverage = np.minimum(1.0, self.lever("talent_apartments") / young)
        housing = p.housing_share_of_wage * self.city_wage * (1.0 - coverage * p.apartment_rent_discount)
        return np.maximum(pay - housing, p.net_income_floor_share * self.so_wage)

    def _network_share(self) -> np.ndarray:
        """(provinces x cities) share of each city's SO workers whose home is in the province."""
        wt = self.workers_table
        rows = wt.rows()
        P = len(self.province_codes)
        counts = np.zeros((P, self.n_cities))
        np.add.at(counts, (self.province[wt.home[rows]], wt.city[rows]), 1.0)
        return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1.0)

    def graduate_choice_probabilities(self) -> np.ndarray:
        """(home x college x (cities + outside)) probabilities of where a graduate seeks SO work;
        the last option is not seeking SO work at all."""
        p, C = self.params, self.n_cities
        net = self.expected_net_income()
        net_out = np.maximum(self.reservation - p.housing_share_of_wage * self.city_wage,
                             p.net_income_floor_share * self.reservation)
        home = np.arange(C)[:, None, None]
        college = np.arange(C)[None, :, None]
        city = np.arange(C)[None, None, :]
        u = choice.graduate_utility(
            net[None, None, :], self.distance_km[home, city], self.same_province[home, city],
            (home == city).astype(float), (college == city).astype(float),
            self._network_share()[self.province[home], city],
            beta_income=p.beta_income, beta_distance=p.beta_distance,
            beta_same_province=p.beta_same_province, beta_home=p.beta_home,
            beta_college=p.beta_college, beta_network=p.beta_network, distance_offset_km=p.distance_offset_km)
        outside = p.beta_income * np.log(net_out)[None, :, None] + p.outside_option_utility
        u = np.concatenate([u, np.broadcast_to(outside, (C, C, 1))], axis=2)
        return choice.logit_probabilities(u, axis=2)

    def _graduate_cohort(self, flows) -> None:
        p, rng, C = self.params, self.rng, self.n_cities
        persons = self.graduates_now * p.so_interest_share
        n = choice.stochastic_round(persons / self.scale, rng)
        college = np.repeat(np.arange(C), n)
        home = self._draw_homes(college, p.graduate_local_share)
        probs = self.graduate_choice_probabilities().reshape(C * C, C + 1)
        dest = choice.sample_choices(probs, home * C + college, rng)
        seek = dest < C
        k = int(seek.sum())
        flows["graduate_seekers"] += np.bincount(dest[seek], minlength=C) * self.scale
        create_workers(self, k, city=dest[seek], home=home[seek], college=college[seek],
                       age=rng.uniform(p.graduate_age_min, p.graduate_age_max, k), state=SEEKING)

    def _experienced_entrants(self, flows) -> None:
        p, rng = self.params, self.rng
        prospects = np.minimum(1.0, p.experienced_entry_job_rate_gain * self.job_rate)
        persons = p.experienced_entry_rate * self.population * prospects
        n = choice.stochastic_round(persons / self.scale, rng)
        city = np.repeat(np.arange(self.n_cities), n)
        flows["experienced_seekers"] += n * self.scale
        create_workers(self, len(city), city=city, home=city, college=-1,
                       age=rng.uniform(p.experienced_age_min, p.experienced_age_max, len(city)), state=SEEKING)

    # ------------------------------------------------------------------------------
    # labour market
    # ------------------------------------------------------------------------------
    def _match_and_set_wages(self, flows) -> None:
        p, wt, ft, rng, C = self.params, self.workers_table, self.firms_table, self.rng, self.n_cities
        frows = ft.rows()
        op = frows[ft.operating[frows]]
        vac = np.maximum(ft.slots[op] - ft.employees[op], 0)
        slot_firm = np.repeat(op, vac)
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
        wt.ever_employed[hired] = True
        np.add.at(ft.employees, firm, 1)
        hires_c = np.bincount(wt.city[hired], minlength=C) * self.scale
        grad_hires_c = np.bincount(wt.city[hired[first_job]], minlength=C) * self.scale
        flows["hires"] += hires_c
        self.ledger.book("talent_subsidy", hires_c * self.lever("talent_subsidy"))
        self.ledger.book("training_subsidy", grad_hires_c * self.lever("training_subsidy"))
        rate = np.where(seek_c > 0, (hires_c / self.scale) / np.maximum(seek_c, 1), np.where(vac_c > 0, 1.0, 0.0))
        self.job_rate = p.job_rate_memory * self.job_rate + (1.0 - p.job_rate_memory) * rate

        # Seekers still without a job: one more quarter of search, or give up.
        still = np.setdiff1d(seekers, hired, assume_unique=True)
        wt.search_quarters[still] += 1
        self._drop_workers(still[wt.search_quarters[still] >= p.search_quarters])

        # Wages move towards reservation pay scaled by how tight the market was.
        theta = labour_market.tightness(vac_c * self.scale, seek_c * self.scale, p.max_tightness,
                                        smoothing=p.tightness_smoothing)
        has_so = np.bincount(ft.city[op], minlength=C) > 0
        theta = np.where(has_so, theta, 1.0)
        target = labour_market.target_wage(self.reservation, theta, p.wage_tightness_elasticity)
        self.so_wage = labour_market.adjust_wage(self.so_wage, target, p.wage_adjustment_speed)
        if p.focus_wage_ratio_pin > 0:
            self.so_wage[self.nj] = p.focus_wage_ratio_pin * self.so_wage[self.refs].mean()
        self.vacancies_c = (vac_c - np.bincount(ft.city[firm], minlength=C)) * self.scale
        self.seekers_c = (seek_c - np.bincount(wt.city[hired], minlength=C)) * self.scale

    # ------------------------------------------------------------------------------
    # money
    # ------------------------------------------------------------------------------
    def _book_output_and_tax(self, flows) -> None:
        p, ft, C = self.params, self.firms_table, self.n_cities
        rows = ft.rows()
        op = rows[ft.operating[rows]]
        revenue = ft.employees[op] * self.scale * self.revenue[ft.segment[op], ft.city[op]] / STEPS_PER_YEAR
        output = np.bincount(ft.city[op], weights=revenue, minlength=C)
        flows["output_cny"] += output
        self.ledger.tax += output * p.tax_rate_on_output * p.local_tax_share
        op_seats = np.bincount(ft.city[op], weights=ft.seats[op], minlength=C)
        rent_waived = self.rent * p.office_m2_per_seat * MONTHS_PER_QUARTER * self.lever("rent_relief") * op_seats
        self.ledger.book("rent_relief", rent_waived)

    # ------------------------------------------------------------------------------
    # city state for reporting and for next quarter's choices
    # ------------------------------------------------------------------------------
    def _refresh_city_state(self, flows) -> None:
        ft, wt, C, s = self.firms_table, self.workers_table, self.n_cities, self.scale
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
        # (as _park_free and the capacity check assume), so at most every park seat is used.
        park_used = np.minimum(self.park_seats, np.bincount(
            ft.city[frows], weights=ft.seats[frows] * ft.in_park[frows], minlength=C))
        largest = np.zeros(C)
        np.maximum.at(largest, ft.city[op], ft.employees[op] * s)
        st = {
            "firms": np.bincount(ft.city[op], minlength=C).astype(float),
            "firms_setting_up": np.bincount(ft.city[frows], minlength=C) - np.bincount(ft.city[op], minlength=C),
            "employment": employment,
            "seats": seats,
            "seekers": seekers,
            "young_workers": young,
            "local_share": np.divide(local, employment, out=np.full(C, np.nan), where=employment > 0),
            "young_share": np.divide(young, employment, out=np.full(C, np.nan), where=employment > 0),
            "park_seats": self.park_seats.copy(),
            "park_staff": park_emp,
            "largest_firm_staff": largest,
            "park_occupancy": np.divide(park_used, self.park_seats, out=np.full(C, np.nan), where=self.park_seats > 0),
            "so_wage_cny": self.so_wage.copy(),
            "city_wage_cny": self.city_wage.copy(),
            "rent_cny_m2_month": self.rent.copy(),
            "tax_cny": self.ledger.tax.copy(),
            "policy_spend_cny": self.ledger.spend.sum(axis=1),
            "national_funds_cny": self.ledger.national_funds.copy(),
        }
        for name, k in LEVER.items():
            st[f"spend_{name}_cny"] = self.ledger.spend[:, k].copy()
        zeros = np.zeros(C)
        for k in FLOW_COLUMNS:
            st[k] = flows[k] if flows is not None else zeros
        self.city_state = st

    def region_share(self, region: str) -> float:
        emp = self.city_state["employment"]
        total = emp.sum()
        return float(emp[self.region == region].sum() / total) if total > 0 else float("nan")

    # ------------------------------------------------------------------------------
    def run_model(self) -> None:
        while self.running:
            self.step()


#: Per-quarter flows (summed into years); everything else in CITY_COLUMNS is a stock (year end).
FLOW_COLUMNS = ("entries", "new_firms", "exits", "relocations_in", "relocations_out", "hires",
                "graduate_seekers", "experienced_seekers", "output_cny")
CITY_COLUMNS = (
    "firms", "firms_setting_up", "employment", "seats", "seekers", "local_share", "young_share",
    "park_seats", "park_staff", "park_occupancy", "largest_firm_staff", "so_wage_cny", "city_wage_cny", "rent_cny_m2_month",
    "tax_cny", "policy_spend_cny", "national_funds_cny",
    *[f"spend_{name}_cny" for name in LEVER], *FLOW_COLUMNS,
)
#: Columns summed over a year's quarters in city_year.csv.
YEAR_SUMS = (*FLOW_COLUMNS, "tax_cny", "policy_spend_cny", "national_funds_cny", *[f"spend_{n}_cny" for n in LEVER])


def _city_reporter(key: str):
    def report(agent: CityAgent) -> float:
        return float(agent.model.city_state[key][agent.index])
    report.__name__ = key
    return report


__all__ = ["SOModel", "CityAgent", "FirmAgent", "WorkerAgent", "CITY_COLUMNS", "FLOW_COLUMNS", "YEAR_SUMS"]
