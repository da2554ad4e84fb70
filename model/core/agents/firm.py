"""SO establishments (firm agents): a delivery centre of a firm in one city.

Each establishment is a Mesa agent whose state (city, segment, seats, employees, ...) sits
in a row of the model's firm table, so that location choice, growth and exit are computed
for all establishments at once.
"""

from __future__ import annotations

import numpy as np

from ..table import RowAgent

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
    "low_quarters": np.int64, # consecutive quarters below the exit margin
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
        return self.model.segment_names[int(self._col("segment"))]

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


def create_firms(model, n: int, **values) -> np.ndarray:
    """Create ``n`` establishments with the given column values; returns their rows."""
    table = model.firms_table
    rows = table.allocate(n)
    for k, v in values.items():
        table.cols[k][rows] = v
    table.spawn(model, FirmAgent, rows)
    return rows


def remove_firms(model, rows: np.ndarray) -> None:
    """Remove establishments (exit): deregister the agents, then free their rows at once."""
    model.firms_table.deregister(model, rows)
