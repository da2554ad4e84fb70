"""SO establishments (firm agents): a delivery centre of a firm in one city, and what
establishments do each quarter.

Each establishment is a Mesa agent whose state (city, segment, seats, employees, ...) sits in a
row of the model's firm table, so that the class's phases (``FirmAgent.exit_or_shrink(model)``
and so on) decide for all establishments at once with the pure rules of
``model/core/rules/firm.py``.
"""

from __future__ import annotations

import numpy as np

from ..clock import MONTHS_PER_QUARTER, STEPS_PER_YEAR
from ..data import load_known_entries
from ..rules import choice
from ..rules import firm as rules
from ..table import RowAgent
from .worker import EMPLOYED, SEEKING

FIRM_COLUMNS = {
    "city": np.int16,
    "segment": np.int8,
    "hub": np.int16,          # client hub city
    "parent": np.int64,       # firm group id (branches share it)
    "seats": np.float64,      # persons the establishment plans to seat
    "slots": np.int64,        # worker agents it can employ: floor(seats / persons_per_agent + round_offset)
    "round_offset": np.float64,  # U(0,1) drawn at birth: unbiased, stable rounding of seats to agents
    "employees": np.int64,    # worker agents employed
    "operating": np.bool_,    # False while setting up
    "ready_step": np.int64,   # step at which set-up ends
    "born_step": np.int64,
    "in_park": np.bool_,      # sits in turnkey park seats
    "margin": np.float64,     # expected profit margin (share of revenue)
    "low_quarters": np.int64,  # consecutive quarters below the exit margin
    "documented": np.bool_,   # opened as an input fact: its city is data, so it never relocates
    "observed_until": np.int16,  # last year its source sees it operating (0: none): no exit before
}

SETTING_UP, OPERATING = "setting up", "operating"


class FirmAgent(RowAgent):
    """An SO establishment. Reads its state from ``model.firms_table``."""

    def _col(self, name):
        return self.model.firms_table.cols[name][self.row]

    @property
    def city(self) -> str:
        return self.model.city_names[int(self._col("city"))]

    @property
    def segment(self) -> str:
        return self.model.world.segment_names[int(self._col("segment"))]

    @property
    def seats(self) -> float:
        return float(self._col("seats"))

    @property
    def employees(self) -> float:
        """Employees in persons."""
        return float(self._col("employees")) * self.model.params.persons_per_agent

    @property
    def status(self) -> str:
        return OPERATING if self._col("operating") else SETTING_UP

    def remove(self) -> None:
        self.model.firms_table.release(np.array([self.row]))
        super().remove()

    # ------------------------------------------------------------------------------
    # what an establishment knows: margins, set-up time, where it could go
    # ------------------------------------------------------------------------------
    @staticmethod
    def setup_months(model) -> np.ndarray:
        """Months from first contact to operation in every city (fast set-up levers shorten it)."""
        return rules.setup_months(model.params, model.now.lever_intensity)

    @staticmethod
    def city_margins(model, *, entrant: bool) -> np.ndarray:
        """(segments x client markets x cities) expected after-tax profit margin of a seat; an
        entrant's view includes one-off grants and its own fit-out outside turnkey parks."""
        now = model.now
        return rules.seat_margins(model.params, now.revenue, model.so_wage, model.world.pay_multiplier, now.rent,
                                  now.national_training, now.income_tax, now.lever_intensity,
                                  FirmAgent.park_free(model) if entrant else None)

    @staticmethod
    def market(model, rows: np.ndarray) -> np.ndarray:
        """Client market (0 coastal and foreign, 1 inland) of establishments ``rows``."""
        return model.world.hub_market[model.firms_table.hub[rows]]

    @staticmethod
    def entry_utility(model, margins: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
        """(segments x hubs x cities) location utility of a new establishment of ``size`` seats,
        and the hub cities."""
        ft, w, now = model.firms_table, model.world, model.now
        rows = ft.rows()
        seats = model.seats_by_city(rows)
        return rules.entry_utility(
            model.params, margins, rules.establishments_by_market(ft.city[rows], FirmAgent.market(model, rows),
                                                                 model.n_cities), seats,
            model.city_state["employment"],
            model.city_state["seekers"], now.graduates_now, w.urban_population, now.travel,
            w.hub_weight, w.hub_market, w.client_contact, now.lever_intensity, size)

    @staticmethod
    def park_free(model) -> np.ndarray:
        """Turnkey park seats not taken by establishments, by city."""
        ft = model.firms_table
        rows = ft.rows()
        used = np.bincount(ft.city[rows], weights=ft.seats[rows] * ft.in_park[rows], minlength=model.n_cities)
        return np.maximum(model.park_seats - used, 0.0)

    # ------------------------------------------------------------------------------
    # entry
    # ------------------------------------------------------------------------------
    @staticmethod
    def draw_sizes(model, n: int) -> np.ndarray:
        return choice.lognormal_sizes(n, model.params.mean_new_firm_seats, model.params.firm_size_sigma, model.rng)

    @staticmethod
    def hub_probabilities(model) -> np.ndarray:
        """Chance that a new establishment's clients sit in each city: an inland hub with the
        current inland client share, else a coastal hub, each by its hub weight."""
        w = model.world
        return rules.hub_probabilities(w.hub_weight, w.inland_hub, model.now.inland_client_share)

    @classmethod
    def draw_hubs(cls, model, n: int) -> np.ndarray:
        """Client hub city of ``n`` new establishments, drawn independently."""
        return model.rng.choice(model.n_cities, size=n, p=cls.hub_probabilities(model))

    @classmethod
    def open(cls, model, city, segment, hub, seats, *, operating: bool, parent=None) -> np.ndarray:
        """Create establishments (entry); returns their rows. Counted as entries (and paid entry
        grants) except while the initial industry is set up."""
        n = len(city)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if parent is None:
            parent = np.arange(model.next_parent, model.next_parent + n)
            model.next_parent += n
        lag_q = np.ceil(cls.setup_months(model)[city] / MONTHS_PER_QUARTER).astype(np.int64)
        table = model.firms_table
        rows = table.allocate(n)
        values = dict(city=city, segment=segment, hub=hub, parent=parent, seats=seats,
                      round_offset=model.rng.random(n), operating=operating,
                      ready_step=model.steps + (0 if operating else lag_q), born_step=model.steps)
        for k, v in values.items():
            table.cols[k][rows] = v
        table.spawn(model, cls, rows)
        cls.resize_slots(model, rows)
        cls.take_park_seats(model, rows)
        if model.flows is not None:
            model.flows["entries"] += np.bincount(city, minlength=model.n_cities)
            model.record_arrivals(city, seats)
        return rows

    @classmethod
    def open_known_entries(cls, model) -> None:
        """Open the establishments whose opening year is an input fact (model/core/data/known_entries.csv):
        they start operating in the first quarter of that year and stay in the city the source
        names (Ping An's 2008 centre still ran in Neijiang in 2022, fact pingan_branch_2022)."""
        if model.quarter != 1:
            return
        known = load_known_entries()
        known = known[known["year"] == model.year]
        if known.empty:
            return
        city = np.array([model.city_index[c] for c in known["city"]])
        seg = np.array([model.world.segment_names.index(s) for s in known["segment"]])
        hub = np.array([model.city_index[h] for h in known["hub"]])
        rows = cls.open(model, city, seg, hub, known["seats"].to_numpy(float), operating=False)
        model.firms_table.ready_step[rows] = model.steps  # finish_setup counts them as new this quarter
        model.firms_table.documented[rows] = True
        model.firms_table.observed_until[rows] = known["observed_until"].to_numpy(np.int16)
        for c, r in zip(city.tolist(), rows.tolist()):
            model.known_entries[c] = model.firms_table.agent[r]

    @staticmethod
    def take_park_seats(model, rows: np.ndarray) -> None:
        """New or relocated establishments move into free turnkey park seats if they fit."""
        ft = model.firms_table
        ft.in_park[rows] = rules.first_come(ft.city[rows], ft.seats[rows], FirmAgent.park_free(model))

    @staticmethod
    def resize_slots(model, rows: np.ndarray) -> np.ndarray:
        """Recompute worker-agent slots after seats changed; returns the new slots."""
        ft = model.firms_table
        ft.slots[rows] = rules.fixed_slots(ft.seats[rows], model.scale, ft.round_offset[rows])
        return ft.slots[rows]

    # ------------------------------------------------------------------------------
    # the quarter's phases
    # ------------------------------------------------------------------------------
    @staticmethod
    def finish_setup(model) -> None:
        """Establishments whose set-up lag has passed start operating."""
        ft = model.firms_table
        rows = ft.rows()
        ready = rows[~ft.operating[rows] & (ft.ready_step[rows] <= model.steps)]
        ft.operating[ready] = True
        model.flows["new_firms"] += np.bincount(ft.city[ready], minlength=model.n_cities)

    @classmethod
    def update_margins(cls, model) -> None:
        ft = model.firms_table
        rows = ft.rows()
        m = cls.city_margins(model, entrant=False)
        ft.margin[rows] = m[ft.segment[rows], cls.market(model, rows), ft.city[rows]]

    @staticmethod
    def lay_off(model, firm_rows: np.ndarray, keep: np.ndarray | None = None) -> None:
        """Lay off workers of ``firm_rows`` beyond ``keep`` slots each (all if None), chosen at
        random; they become job seekers in the same city."""
        wt, ft = model.workers_table, model.firms_table
        if len(firm_rows) == 0:
            return
        limit = np.zeros(ft.size, dtype=np.int64) - 1
        limit[firm_rows] = 0 if keep is None else keep
        w = wt.rows()
        emp = w[(wt.state[w] == EMPLOYED)]
        hit = emp[limit[wt.firm[emp]] >= 0]
        if len(hit) == 0:
            return
        order, rank = choice.rank_within_groups(wt.firm[hit], model.rng)
        hit = hit[order]
        out = hit[rank >= limit[wt.firm[hit]]]
        wt.state[out] = SEEKING
        wt.firm[out] = -1
        wt.search_quarters[out] = 0
        ft.employees[:] = 0
        emp_after = w[wt.state[w] == EMPLOYED]
        ft.employees[: ft.size] = np.bincount(wt.firm[emp_after], minlength=ft.size)

    @classmethod
    def exit_or_shrink(cls, model) -> None:
        """Establishments exit at a base hazard, more once distressed for a year; loss-making
        survivors shed seats."""
        p, ft, rng = model.params, model.firms_table, model.rng
        rows = ft.rows()
        op = rows[ft.operating[rows]]
        low = ft.margin[op] < p.exit_margin
        ft.low_quarters[op] = np.where(low, ft.low_quarters[op] + 1, 0)
        hazard = rules.exit_hazard(ft.low_quarters[op], p.exit_rate_base, p.distress_exit_rate, STEPS_PER_YEAR)
        # an establishment its source still sees operating does not close before then
        observed = ft.observed_until[op] >= model.year
        exiting = op[(rng.random(len(op)) < hazard) & ~observed]
        shrinking = op[low & ~np.isin(op, exiting)]
        if len(shrinking):
            ft.seats[shrinking] *= 1.0 - p.distress_shrink_rate
            cls.lay_off(model, shrinking, keep=cls.resize_slots(model, shrinking))
        if len(exiting):
            model.flows["exits"] += np.bincount(ft.city[exiting], minlength=model.n_cities)
            cls.lay_off(model, exiting)
            ft.deregister(model, exiting)

    @classmethod
    def relocate(cls, model) -> None:
        """Small establishments other than the documented ones review their location now and then:
        the location logit chooses between staying and the cities where the margin is higher by more than
        relocation_threshold (a cheaper city must also beat the current one on talent, clients and
        cluster to draw the move)."""
        p, ft, rng = model.params, model.firms_table, model.rng
        rows = ft.rows()
        op = rows[ft.operating[rows]]
        small = op[(ft.seats[op] <= p.relocation_max_seats) & ~ft.documented[op]]
        review = small[rng.random(len(small)) < p.relocation_rate]
        if len(review) == 0:
            return
        margins = cls.city_margins(model, entrant=True)
        gain = margins[ft.segment[review], cls.market(model, review), :] - ft.margin[review][:, None]
        gain[np.arange(len(review)), ft.city[review]] = -np.inf
        u, hubs = cls.entry_utility(model, margins, p.mean_new_firm_seats)
        hub_pos = np.searchsorted(hubs, ft.hub[review])
        here = ft.city[review]
        util = np.where(gain > p.relocation_threshold, u[ft.segment[review], hub_pos, :], -np.inf)
        util[np.arange(len(review)), here] = u[ft.segment[review], hub_pos, here]
        dest = choice.sample_choices(choice.logit_probabilities(util, axis=1), np.arange(len(review)), rng)
        moving = dest != here
        movers, dest = review[moving], dest[moving]
        if len(movers) == 0:
            return
        model.flows["relocations_out"] += np.bincount(ft.city[movers], minlength=model.n_cities)
        model.flows["relocations_in"] += np.bincount(dest, minlength=model.n_cities)
        cls.lay_off(model, movers)
        ft.city[movers] = dest
        ft.operating[movers] = False
        ft.ready_step[movers] = model.steps + np.ceil(cls.setup_months(model)[dest] / MONTHS_PER_QUARTER).astype(np.int64)
        ft.low_quarters[movers] = 0
        ft.in_park[movers] = False
        cls.take_park_seats(model, movers)
        model.record_arrivals(dest, ft.seats[movers])

    @classmethod
    def grow_to_demand(cls, model) -> None:
        """Close the gap between national seat demand and existing seats: profitable establishments
        that fill their seats expand, new ones enter where the location logit sends them; when
        demand falls short, establishments cut seats, the least profitable most."""
        p, ft = model.params, model.firms_table
        rows = ft.rows()
        seats = model.seats_by_city(rows)
        gap = model.now.seat_demand - seats.sum()
        if gap < 0:
            cls.cut_to_demand(model, -gap)
            return
        op = rows[ft.operating[rows] & (ft.margin[rows] > 0)]
        op = op[ft.employees[op] >= p.expansion_fill_threshold * np.maximum(ft.slots[op], 1)]
        expanded = 0.0
        if len(op):
            add = rules.expansion(ft.seats[op], gap, p.expansion_share, p.max_expansion_rate)
            ft.seats[op] += add
            cls.resize_slots(model, op)
            expanded = add.sum()
        cls.enter(model, gap - expanded)

    @classmethod
    def enter(cls, model, seats_wanted: float, operating: bool = False) -> None:
        """New establishments for ``seats_wanted`` seats: a Poisson number, log-normal sizes,
        segment by the demand mix, a client hub, a city by the location logit (scarce office space
        shows in its rent); some are branches of existing firms."""
        p, ft, rng = model.params, model.firms_table, model.rng
        n_new = rng.poisson(max(seats_wanted, 0.0) / p.mean_new_firm_seats)
        if n_new == 0:
            return
        sizes = cls.draw_sizes(model, n_new)
        seg = rng.choice(len(model.world.segment_names), size=n_new, p=model.now.segment_share)
        hub = cls.draw_hubs(model, n_new)
        u, hubs = cls.entry_utility(model, cls.city_margins(model, entrant=True), p.mean_new_firm_seats)
        hub_pos = np.searchsorted(hubs, hub)
        probs = choice.logit_probabilities(u, axis=2).reshape(-1, model.n_cities)
        city = choice.sample_choices(probs, seg * len(hubs) + hub_pos, rng)
        ok = city >= 0
        if not ok.any():
            return
        parent = np.arange(model.next_parent, model.next_parent + int(ok.sum()))
        model.next_parent += len(parent)
        branch = rng.random(len(parent)) < p.branch_share
        existing = ft.rows()
        if branch.any() and len(existing):
            parent[branch] = ft.parent[rng.choice(existing, size=int(branch.sum()))]
        cls.open(model, city[ok], seg[ok], hub[ok], sizes[ok], operating=operating, parent=parent)

    @classmethod
    def place_initial(cls, model, seats_total: float) -> None:
        """The start year's establishments sit next to their clients: sizes and segments as for
        any entrant, client hubs with the entrants' probabilities but allotted along cumulative
        seats, each in its hub city, operating at once. Every later location is the
        establishments' own choice."""
        p, rng, w = model.params, model.rng, model.world
        n = max(1, int(round(seats_total / p.mean_new_firm_seats)))
        sizes = cls.draw_sizes(model, n)
        sizes *= seats_total / sizes.sum()
        seg = rng.choice(len(w.segment_names), size=n, p=model.now.segment_share)
        # systematic, not independent, hub draws: with ~200 lognormal establishments independent
        # draws put 0.72-0.87 of the seats on the coast depending on the seed
        hub = choice.systematic_by_size(sizes, cls.hub_probabilities(model) * cls.had_so_firms(model), rng)
        cls.open(model, hub, seg, hub, sizes, operating=True)

    @staticmethod
    def had_so_firms(model) -> np.ndarray:
        """1 for cities that may hold start-year establishments, 0 where the source dates the city's
        first SO firm later (known_entries.csv, first_in_city)."""
        known = load_known_entries()
        later = known[(known["first_in_city"] == 1) & (known["year"] > model.year)]
        ok = np.ones(model.n_cities)
        ok[[model.city_index[c] for c in later["city"]]] = 0.0
        return ok

    @classmethod
    def cut_to_demand(cls, model, excess: float) -> None:
        p, ft = model.params, model.firms_table
        rows = ft.rows()
        ft.seats[rows] -= rules.demand_cuts(ft.seats[rows], ft.margin[rows], excess, p.beta_margin, p.max_shrink_rate)
        cls.lay_off(model, rows, keep=cls.resize_slots(model, rows))
