"""The world and its schedule: cities on a rail network, SO establishments, workers.

One step is one quarter (model/core/clock.py). ``SOModel.step`` is the schedule of
docs/ODD.md ("Process overview and scheduling"), one line per phase; what each agent type does
lives with its class (model/core/agents/), the rules they apply in model/core/rules/, the fiscal
accounts in model/core/ledger.py and what is reported in model/core/reporting.py.
"""

from __future__ import annotations

import mesa
import numpy as np

from . import reporting
from .agents.city import CityAgent
from .agents.firm import FIRM_COLUMNS, FirmAgent
from .agents.worker import EMPLOYED, WORKER_COLUMNS, WorkerAgent
from .clock import MONTHS_PER_QUARTER, mid_quarter, n_steps, quarter_label, quarter_of_step, year_of_step
from .data import city_graph
from .environment import Conditions, conditions
from .ledger import FiscalLedger
from .levers import LEVER_INDEX, PolicySchedule
from .params import Params
from .rules import choice
from .rules.policy import QuarterEvents
from .rules.worker import hometown_probabilities
from .table import Table
from .world import load_world

#: Events of a quarter that lever costs are paid on, summed as they happen (see QuarterEvents).
TALLIED = ("hires", "graduate_first_hires", "arrival_seats", "arrivals", "park_build_cost")


class SOModel(mesa.Model):
    """Service-outsourcing location model. ``SOModel(rng=seed, params=Params(...))``; any
    Params field may also be passed as a keyword (``SOModel(rng=1, modelled_share=0.4)``).
    ``mesa.batch_run(SOModel, ...)`` starts from the built-in defaults unless given
    ``params=load_scenario(...)`` (model.study.scenarios)."""

    def __init__(self, params: Params | None = None, *, rng=None, **overrides):
        super().__init__(rng=rng)
        p = params or Params()
        if overrides:
            p = p.replace(**overrides)
        self.params = p
        self.scale = p.persons_per_agent

        # --- cities on the rail network -------------------------------------------------
        self.world = w = load_world()
        self.city_names = list(w.names)
        self.city_index = w.index()
        self.n_cities = C = w.n_cities
        self.focus = self.city_index[p.focus_city]
        self.references = np.array([self.city_index[c] for c in p.reference_cities])
        self.hometown_probs = hometown_probabilities(w.population, w.same_province, p.hometown_province_boost)
        self.grid = mesa.discrete_space.Network(city_graph(None), capacity=1, random=self.random)
        cells = {cell.coordinate: cell for cell in self.grid.all_cells}
        for i, c in enumerate(w.cities.itertuples()):
            CityAgent(self, i, c.city, c.tier, c.region, cells[c.city])
        self.cities = self.agents_by_type[CityAgent]

        # --- policy, money and state -------------------------------------------------------
        self.policy = PolicySchedule(p.levers, self.city_index)
        self.ledger = FiscalLedger(C)
        self.park_seats = np.zeros(C)
        self.park_cost_built = np.zeros(C)  # CNY spent on park seats so far
        self.firms_table = Table(FIRM_COLUMNS, capacity=4096)
        self.workers_table = Table(WORKER_COLUMNS, capacity=65536)
        self.next_parent = 0
        self.known_entries: dict[int, FirmAgent] = {}  # city -> its latest establishment opened as an input fact
        self.flows: dict[str, np.ndarray] | None = None   # None while the initial industry is set up
        self.tally = {k: np.zeros(C) for k in TALLIED}

        # --- the initial state: 2005's SO industry, at its client hubs ------------------------
        self.year, self.quarter = p.start_year, 1
        self.now: Conditions = conditions(p, w, self.policy, self.t)
        self.so_wage = self.now.reservation.copy()
        self.job_rate = np.zeros(C)  # smoothed quarterly job-finding rate of seekers
        self.market_capacity = np.zeros(C)
        self.city_state: dict[str, np.ndarray] = {}
        self._initial_industry()
        self.city_state = reporting.city_state(self, None)

        self.datacollector = mesa.DataCollector(
            model_reporters=reporting.model_reporters(),
            agenttype_reporters={CityAgent: reporting.city_reporters()})
        self.running = True
        self.datacollector.collect(self)

    # ------------------------------------------------------------------------------
    # the schedule
    # ------------------------------------------------------------------------------
    def step(self) -> None:
        if self.steps > self.n_steps:
            self.running = False
            return
        self.begin_quarter()
        CityAgent.build_parks(self)
        CityAgent.price_office_space(self)
        FirmAgent.open_known_entries(self)
        FirmAgent.finish_setup(self)
        FirmAgent.update_margins(self)
        FirmAgent.exit_or_shrink(self)
        FirmAgent.relocate(self)
        CityAgent.expand_office_markets(self)
        FirmAgent.grow_to_demand(self)
        WorkerAgent.age_and_quit(self)
        WorkerAgent.return_home(self)
        WorkerAgent.graduate_cohort(self)
        WorkerAgent.experienced_entrants(self)
        CityAgent.clear_labour_markets(self)
        CityAgent.book_output_and_tax(self)
        self.end_quarter()
        if self.steps >= self.n_steps:
            self.running = False

    def begin_quarter(self) -> None:
        """Clock, the quarter's exogenous conditions, empty flows and events, the ledger opened."""
        p = self.params
        self.year, self.quarter = year_of_step(self.steps, p.start_year), quarter_of_step(self.steps)
        self.flows = reporting.new_flows(self.n_cities)
        for v in self.tally.values():
            v[:] = 0.0
        self.now = conditions(p, self.world, self.policy, self.t)
        self.ledger.new_quarter()

    def end_quarter(self) -> None:
        """The ledger books the quarter's policy costs; city state is refreshed and collected."""
        p, ft = self.params, self.firms_table
        rows = ft.rows()
        op = rows[ft.operating[rows]]
        events = QuarterEvents(
            **self.tally, operating_seats=np.bincount(ft.city[op], weights=ft.seats[op], minlength=self.n_cities),
            rent_per_seat_quarter=self.now.rent * p.office_m2_per_seat * MONTHS_PER_QUARTER,
            national_funds=self.now.national_training * self.tally["graduate_first_hires"])
        self.ledger.close_quarter(events, self.now.lever_intensity, p)
        self.city_state = reporting.city_state(self, self.flows)
        self.datacollector.collect(self)

    # ------------------------------------------------------------------------------
    # time and shared views
    # ------------------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return n_steps(self.params.start_year, self.params.end_year)

    @property
    def t(self) -> float:
        """Calendar time at the middle of the current quarter (years)."""
        return mid_quarter(self.year, self.quarter)

    def time_label(self) -> str:
        return quarter_label(self.steps, self.params.start_year)

    @property
    def travel(self) -> np.ndarray:
        """All-pairs rail minutes this quarter."""
        return self.now.travel

    def lever(self, name: str) -> np.ndarray:
        """Intensity of lever ``name`` in force in every city this quarter."""
        return self.now.lever_intensity[:, LEVER_INDEX[name]]

    def seats_by_city(self, rows=None) -> np.ndarray:
        ft = self.firms_table
        rows = ft.rows() if rows is None else rows
        return np.bincount(ft.city[rows], weights=ft.seats[rows], minlength=self.n_cities)

    def record_arrivals(self, city: np.ndarray, seats: np.ndarray) -> None:
        """Establishments opening or relocating in (entry grants and task-force costs are paid on them)."""
        self.tally["arrival_seats"] += np.bincount(city, weights=seats, minlength=self.n_cities)
        self.tally["arrivals"] += np.bincount(city, minlength=self.n_cities)

    def region_share(self, region: str) -> float:
        return reporting.region_share(self, region)

    # ------------------------------------------------------------------------------
    # initialisation
    # ------------------------------------------------------------------------------
    def _initial_industry(self) -> None:
        """The start year's SO seats (national SO employment x modelled_share), each establishment in
        its client hub's city (FirmAgent.place_initial), staffed mostly by locals; market office
        space around them."""
        p, rng, w = self.params, self.rng, self.world
        self.market_capacity = p.office_seats_per_1000_urban * w.urban_population / 1000.0
        self.city_state = reporting.city_state(self, None)
        FirmAgent.place_initial(self, self.now.seat_demand)
        seats_now = self.seats_by_city()
        self.market_capacity = np.maximum(self.market_capacity, p.office_headroom_start * seats_now)
        ft = self.firms_table
        rows = ft.rows()
        fill = choice.stochastic_round(ft.slots[rows] * p.staffed_share_start, rng)
        firm_of = np.repeat(rows, fill)
        n = len(firm_of)
        city = ft.city[firm_of].astype(np.int64)
        home = WorkerAgent.draw_homes(self, city, p.graduate_local_share)
        wr = WorkerAgent.create(self, n, city=city, home=home, college=city,
                                age=rng.uniform(p.graduate_age_min, p.initial_workforce_age_max, n), state=EMPLOYED,
                                firm=firm_of, ever_employed=True)
        ft.employees[:] = np.bincount(self.workers_table.firm[wr], minlength=ft.size)[: ft.size] if n else 0
        self.job_rate = np.where(seats_now > 0, p.initial_job_rate, 0.0)


__all__ = ["SOModel", "CityAgent", "FirmAgent", "WorkerAgent"]
