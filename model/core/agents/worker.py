"""Graduates and other SO workers (worker agents).

A worker agent stands for ``persons_per_agent`` people with the same home, college city,
age and job. State lives in the model's worker table so that cohort choices, matching and
exits run in batches; the agents are ordinary Mesa agents registered with the model.
"""

from __future__ import annotations

import numpy as np

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


def create_workers(model, n: int, **values) -> np.ndarray:
    table = model.workers_table
    rows = table.allocate(n)
    table.cols["firm"][rows] = -1
    for k, v in values.items():
        table.cols[k][rows] = v
    table.spawn(model, WorkerAgent, rows)
    return rows


def remove_workers(model, rows: np.ndarray) -> None:
    """Remove worker agents (leaving the SO labour market): deregister them, free their rows."""
    model.workers_table.deregister(model, rows)
