"""Column storage for agent state, so that batched choice rules run on numpy arrays.

Agents stay ordinary Mesa agents (registered with the model, in AgentSets); each holds
its row in a Table and reads its state from there. Rows of removed agents are reused.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any

import mesa
import numpy as np

from .mesa_compat import deregister_agents, register_agents


class Table:
    """Growable struct-of-arrays with an ``alive`` mask and a list of the rows' agents.

    The agents sit in a Python list, not a numpy object array: numpy arrays are invisible to the
    cyclic garbage collector, so agent -> model -> table -> agent cycles through one would keep
    every finished model in memory (about 20 MB a run)."""

    def __init__(self, columns: dict[str, Any], capacity: int = 1024):
        self._dtypes = dict(columns)
        self.capacity = max(int(capacity), 16)
        self.cols: dict[str, np.ndarray] = {k: np.zeros(self.capacity, dtype=v) for k, v in columns.items()}
        self.alive = np.zeros(self.capacity, dtype=bool)
        self.agent: list[Any] = [None] * self.capacity
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
        agent = self.agent
        for r in rows.tolist():
            agent[r] = None

    # --- agents of the rows -------------------------------------------------------------
    def spawn(self, model, cls: type[RowAgent], rows: np.ndarray) -> None:
        """Create one ``cls`` agent per row, register them with the model as one batch
        (``register_agents``) and store them in the ``agent`` column."""
        agent = self.agent
        rows = rows.tolist()
        with paused_gc():
            new = cls.build(model, rows)
            register_agents(model, new)
            for r, a in zip(rows, new):
                agent[r] = a

    def deregister(self, model, rows: np.ndarray) -> None:
        """Deregister the agents of ``rows`` from the model as one batch (what
        ``mesa.Agent.remove`` does for each), then free the rows."""
        with paused_gc():
            deregister_agents(model, [self.agent[r] for r in rows.tolist()])
        self.release(rows)

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
        self.agent.extend([None] * (cap - self.capacity))
        self.capacity = cap


class RowAgent(mesa.Agent):
    """A Mesa agent whose state is row ``row`` of one of the model's Tables."""

    def __init__(self, model, row: int):
        super().__init__(model)
        self.row = row

    @classmethod
    def build(cls, model, rows: list[int]) -> list[RowAgent]:
        """The agents ``cls(model, row)`` would make for ``rows``, before ``register_agent``:
        for batches, which ``register_agents`` then registers at once."""
        new, agents = cls.__new__, []
        for row in rows:
            agent = new(cls)
            agent.model, agent.unique_id, agent.pos, agent.row = model, None, None, row
            agents.append(agent)
        return agents


@contextmanager
def paused_gc():
    """Hold off the cyclic garbage collector while a batch of agents is created or removed.

    Each new agent is a tracked container, so a batch of n agents would otherwise trigger about
    n/700 young-generation collections and, through them, full collections that traverse every
    live agent: O(n x live) work for nothing, since agents are freed by reference counting when
    their row is released. Collection resumes (and catches up) when the batch is done; the
    previous state is restored, so code that switched the collector off keeps it off."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
