"""City agents: one per city, fixed on a node of the rail network.

A city's state lives in the model's city arrays (so that firms' and graduates' batched
choices can read all cities at once); the agent exposes it by name and does what a city
does: builds park capacity and pays for its policy levers.
"""

from __future__ import annotations

import numpy as np
from mesa.discrete_space import FixedAgent

QUARTERS_PER_YEAR = 4  # one model step is one quarter


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

    # --- behaviour ---------------------------------------------------------------
    def build_park(self) -> None:
        """Bring park seats to the planned level for this quarter and book their cost."""
        m = self.model
        planned = m.park_plan[self.index]
        built = m.park_seats[self.index]
        if planned > built:
            m.ledger.spend[self.index, m.lever_index["park_capacity"]] += (planned - built) * m.params.park_cost_per_seat
            m.park_seats[self.index] = planned

    def pay_recurring_levers(self) -> None:
        """Book this quarter's recurring policy costs (apartments, matched national funds)."""
        m, p, i = self.model, self.model.params, self.index
        units = m.lever_intensity[i, m.lever_index["talent_apartments"]]
        m.ledger.spend[i, m.lever_index["talent_apartments"]] += (units * p.apartment_cost_per_unit_year
                                                                  / QUARTERS_PER_YEAR)
        if m.is_demo_city[i]:
            national = p.national_fund_per_demo_city / QUARTERS_PER_YEAR
            m.ledger.national_funds[i] += national
            ratio = m.lever_intensity[i, m.lever_index["matching_funds"]]
            m.ledger.spend[i, m.lever_index["matching_funds"]] += ratio * national

    def __repr__(self) -> str:
        return f"CityAgent({self.name})"


def city_positions(cities) -> dict[str, np.ndarray]:
    """Geographic layout (lon, lat) for drawing the network."""
    return {c.city: np.array([c.lon, c.lat]) for c in cities.itertuples()}
