"""Column storage for agent state, so that batched choice rules run on numpy arrays.

Agents stay ordinary Mesa agents (registered with the model, in AgentSets); each holds
its row in a Table and reads its state from there. Rows of removed agents are reused.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Table:
    """Growable struct-of-arrays with an ``alive`` mask and an object column of agents."""

    def __init__(self, columns: dict[str, Any], capacity: int = 1024):
        self._dtypes = dict(columns)
        self.capacity = max(int(capacity), 16)
        self.cols: dict[str, np.ndarray] = {k: np.zeros(self.capacity, dtype=v) for k, v in columns.items()}
        self.alive = np.zeros(self.capacity, dtype=bool)
        self.agent = np.empty(self.capacity, dtype=object)
        self.size = 0  # high-water mark: rows >= size were never used

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["cols"][name][: self.__dict__["size"]]
        except KeyError:
            raise AttributeError(name) from None

    def rows(self) -> np.ndarray:
        """Row numbers of live agents, ascending."""
        return np.flatnonzero(self.alive[: self.size])

    def count(self) -> int:
        return int(self.alive[: self.size].sum())

    def allocate(self, n: int) -> np.ndarray:
        """Row numbers for ``n`` new agents (reusing free rows first, lowest first)."""
        free = np.flatnonzero(~self.alive[: self.size])[:n]
        extra = n - len(free)
        if self.size + extra > self.capacity:
            self._grow(self.size + extra)
        new = np.arange(self.size, self.size + extra)
        self.size += extra
        rows = np.concatenate([free, new]).astype(np.int64)
        for col, dt in self._dtypes.items():
            self.cols[col][rows] = np.zeros(1, dtype=dt)[0]
        self.alive[rows] = True
        return rows

    def release(self, rows: np.ndarray) -> None:
        self.alive[rows] = False
        self.agent[rows] = None

    def _grow(self, need: int) -> None:
        cap = self.capacity
        while cap < need:
            cap *= 2
        for k, arr in self.cols.items():
            new = np.zeros(cap, dtype=arr.dtype)
            new[: self.capacity] = arr
            self.cols[k] = new
        alive = np.zeros(cap, dtype=bool)
        alive[: self.capacity] = self.alive
        self.alive = alive
        agent = np.empty(cap, dtype=object)
        agent[: self.capacity] = self.agent
        self.agent = agent
        self.capacity = cap
