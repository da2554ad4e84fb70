"""Graduates and other SO workers (worker agents), and what they do each quarter.

A worker agent stands for ``persons_per_agent`` people with the same home, college city, age and
job. State lives in the model's worker table so that the class's phases (graduate cohorts, quits,
going home, experienced entrants) run in batches with the pure rules of
``model/core/rules/worker.py``; the agents are ordinary Mesa agents registered with the model.
"""

from __future__ import annotations

import numpy as np

from ..clock import STEPS_PER_YEAR
from ..rules import choice
from ..rules import worker as rules
from ..table import RowAgent

SEEKING, EMPLOYED = 0, 1
STATE_NAMES = {SEEKING: "seeking", EMPLOYED: "employed"}

WORKER_COLUMNS = {
    "city": np.int16,          # city where the worker seeks or holds an SO job
    "home": np.int16,          # hometown city
    "college": np.int16,       # college city (-1: not a new graduate, e.g. experienced local)
    "age": np.float32,         # years
    "state": np.int8,          # SEEKING or EMPLOYED
    "firm": np.int64,          # firm table row of the employer (-1 if none)
    "search_quarters": np.int16,
    "tenure": np.int16,        # quarters with the current employer
    "ever_employed": np.bool_,
}


class WorkerAgent(RowAgent):
    """A group of ``persons_per_agent`` SO workers or job seekers."""

    def _col(self, name):
        return self.model.workers_table.cols[name][self.row]

    @property
    def city(self) -> str:
        return self.model.city_names[int(self._col("city"))]

    @property
    def home(self) -> str:
        return self.model.city_names[int(self._col("home"))]

    @property
    def age(self) -> float:
        return float(self._col("age"))

    @property
    def state(self) -> str:
        return STATE_NAMES[int(self._col("state"))]

    @property
    def employer(self):
        f = int(self._col("firm"))
        return None if f < 0 else self.model.firms_table.agent[f]

    # ------------------------------------------------------------------------------
    @classmethod
    def create(cls, model, n: int, **values) -> np.ndarray:
        """Create ``n`` worker agents with the given column values; returns their rows."""
        table = model.workers_table
        rows = table.allocate(n)
        table.cols["firm"][rows] = -1
        for k, v in values.items():
            table.cols[k][rows] = v
        table.spawn(model, cls, rows)
        return rows

    @staticmethod
    def drop(model, rows: np.ndarray) -> None:
        """Workers leave the SO labour market: their employers lose them, the agents are removed."""
        if len(rows) == 0:
            return
        wt, ft = model.workers_table, model.firms_table
        f = wt.firm[rows]
        np.subtract.at(ft.employees, f[f >= 0], 1)
        wt.deregister(model, rows)

    @staticmethod
    def draw_homes(model, college: np.ndarray, local_share: float) -> np.ndarray:
        return rules.draw_homes(college, model.hometown_probs, local_share, model.rng)

    # ------------------------------------------------------------------------------
    # what a seeker knows
    # ------------------------------------------------------------------------------
    @staticmethod
    def expected_net_income(model) -> np.ndarray:
        """A job seeker's expected yearly income in each city, net of housing (CNY/year)."""
        now = model.now
        return rules.expected_net_income(model.params, model.so_wage, model.job_rate, now.city_wage,
                                         model.city_state["young_workers"], now.lever_intensity)

    @classmethod
    def search_probabilities(cls, model) -> np.ndarray:
        """(home x college x (cities + outside)) probabilities of where a graduate seeks SO work;
        the last option is not seeking SO work at all."""
        p, w, wt = model.params, model.world, model.workers_table
        rows = wt.rows()
        network = rules.network_share(w.province[wt.home[rows]], wt.city[rows], len(w.province_names), model.n_cities)
        outside = rules.outside_income(model.now.reservation, p.housing_share_of_wage, model.now.city_wage,
                                       p.net_income_floor_share)
        return rules.search_choice_probabilities(cls.expected_net_income(model), outside, w.distance_km,
                                                 w.same_province, w.province, network, w.urban_population, p)

    # ------------------------------------------------------------------------------
    # the quarter's phases
    # ------------------------------------------------------------------------------
    @classmethod
    def age_and_quit(cls, model) -> None:
        """Everyone ages a quarter; those past exit_age and quitters (more often in their first year
        with an employer) leave the SO labour market."""
        p, wt = model.params, model.workers_table
        rows = wt.rows()
        wt.age[rows] += 1.0 / STEPS_PER_YEAR
        employed = wt.state[rows] == EMPLOYED
        wt.tenure[rows[employed]] += 1
        quit = rules.quit_rate(wt.tenure[rows], p.quit_rate_first_year, p.quit_rate_later, STEPS_PER_YEAR)
        gone = rows[rules.leaving(wt.age[rows], employed, model.rng.random(len(rows)), p.exit_age, quit)]
        cls.drop(model, gone)

    @staticmethod
    def return_home(model) -> None:
        """Workers and seekers away from home go back to seek SO work there, more often where jobs are found."""
        p, wt, ft = model.params, model.workers_table, model.firms_table
        rows = wt.rows()
        away = rows[(wt.home[rows] != wt.city[rows])]
        if len(away) == 0:
            return
        hazard = p.return_home_rate * rules.prospects(model.job_rate[wt.home[away]], p.return_home_job_rate_gain)
        movers = away[model.rng.random(len(away)) < hazard]
        f = wt.firm[movers]
        np.subtract.at(ft.employees, f[f >= 0], 1)
        wt.firm[movers] = -1
        wt.state[movers] = SEEKING
        wt.city[movers] = wt.home[movers]
        wt.search_quarters[movers] = 0

    @classmethod
    def graduate_cohort(cls, model) -> None:
        """In the graduation quarter, the interested graduates of every college city choose where to
        seek SO work (or not to)."""
        p, rng, C = model.params, model.rng, model.n_cities
        if model.quarter != p.graduation_quarter:
            return
        persons = model.now.graduates_now * p.so_interest_share
        n = choice.stochastic_round(persons / model.scale, rng)
        college = np.repeat(np.arange(C), n)
        home = cls.draw_homes(model, college, p.graduate_local_share)
        probs = cls.search_probabilities(model).reshape(C * C, C + 1)
        dest = choice.sample_choices(probs, home * C + college, rng)
        seek = dest < C
        k = int(seek.sum())
        flows, prov = model.flows, model.world.province
        d, h, c = dest[seek], home[seek], college[seek]
        flows["graduate_seekers"] += np.bincount(d, minlength=C) * model.scale
        flows["graduate_seekers_home_province"] += np.bincount(d[prov[d] == prov[h]], minlength=C) * model.scale
        away = prov[c] != prov[h]
        flows["graduate_seekers_studied_away"] += np.bincount(d[away], minlength=C) * model.scale
        flows["graduate_seekers_studied_away_home_province"] += np.bincount(
            d[away & (prov[d] == prov[h])], minlength=C) * model.scale
        cls.create(model, k, city=dest[seek], home=home[seek], college=college[seek],
                   age=rng.uniform(p.graduate_age_min, p.graduate_age_max, k), state=SEEKING)

    @classmethod
    def experienced_entrants(cls, model) -> None:
        """Locals from the wider labour force (returning migrants, career changers) seek SO work,
        more where jobs are found."""
        p, rng, pop = model.params, model.rng, model.world.urban_population
        vacancies = np.maximum(model.city_state["seats"] - model.city_state["employment"], 0.0)
        persons = (p.experienced_entry_rate * pop.sum() * rules.entrant_cities(pop, vacancies, p.talent_scale)
                   * rules.prospects(model.job_rate, p.experienced_entry_job_rate_gain))
        n = choice.stochastic_round(persons / model.scale, rng)
        city = np.repeat(np.arange(model.n_cities), n)
        model.flows["experienced_seekers"] += n * model.scale
        cls.create(model, len(city), city=city, home=city, college=-1,
                   age=rng.uniform(p.experienced_age_min, p.experienced_age_max, len(city)), state=SEEKING)
