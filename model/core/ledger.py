"""The fiscal ledger: the only writer of public money flows.

Every yuan a city spends is booked once, at the end of the quarter, to one (city, lever) cell by
that lever's cost rule (``LeverSpec.cost``) from the quarter's events, and tagged by the lever's
recipient (firms, workers, public works), so the accounts can be checked to balance. National SO
funds received by demonstration cities and the local share of SO taxes are booked here too.
"""

from __future__ import annotations

import numpy as np

from .levers import LEVER_INDEX, LEVER_NAMES, LEVERS, RECIPIENTS
from .rules.policy import QuarterEvents


class FiscalLedger:
    """Quarterly public money flows by city: spending by lever, national funds, local tax."""

    def __init__(self, n_cities: int):
        self.spend = np.zeros((n_cities, len(LEVER_NAMES)))   # CNY, this quarter
        self.national_funds = np.zeros(n_cities)                # CNY, this quarter, paid by the centre
        self.tax = np.zeros(n_cities)                           # CNY, this quarter, kept locally
        self.cumulative_spend = np.zeros(n_cities)
        self.cumulative_tax = np.zeros(n_cities)

    def new_quarter(self) -> None:
        """Open a quarter: nothing spent or received yet."""
        self.spend[:] = 0.0
        self.tax[:] = 0.0
        self.national_funds[:] = 0.0

    def book_tax(self, output: np.ndarray, tax_rate: float, local_share: float) -> None:
        """Local share of the taxes on this quarter's SO output (CNY by city)."""
        self.tax += output * tax_rate * local_share

    def close_quarter(self, events: QuarterEvents, intensity: np.ndarray, params) -> None:
        """Book the national funds and every lever's cost of the quarter and add the quarter to the
        running totals."""
        self.national_funds[:] = events.national_funds
        for name, spec in LEVERS.items():
            k = LEVER_INDEX[name]
            self.spend[:, k] = spec.cost(events, intensity[:, k], params)
        self.cumulative_spend += self.spend.sum(axis=1)
        self.cumulative_tax += self.tax

    def by_recipient(self) -> dict[str, np.ndarray]:
        """This quarter's spending by recipient group (cities)."""
        out = {r: np.zeros(self.spend.shape[0]) for r in RECIPIENTS}
        for name, k in LEVER_INDEX.items():
            out[LEVERS[name].recipient] += self.spend[:, k]
        return out
