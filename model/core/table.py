"""Column storage for agent state, so that batched choice rules run on numpy arrays.

Agents stay ordinary Mesa agents (registered with the model, in AgentSets); each holds
its row in a Table and reads its state from there. Rows of removed agents are reused.
"""

from __future__ import annotations

import gc
from collections import deque
from contextlib import contextmanager
from itertools import repeat
from typing import Any

import mesa
import numpy as np
from mesa.agentset import _HardKeyAgentSet
from mesa.experimental.mesa_signals.signal_types import ModelSignals
from mesa.model import _mesa_logger


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


# Mesa 3.5 registers agents one at a time: each call goes through the signal-emitting wrapper
# of Model.register_agent / deregister_agent and formats a debug message, about 1 us per agent.
# SO staff turn over fast, so at 100k worker agents that bookkeeping alone cost more than the
# numpy reference's whole step (docs/performance.md). The two functions below do the same
# bookkeeping for a batch in one pass whenever nobody could tell the difference: no observer of
# the model's agent signals, no open signal batch, the class in no data-registry dataset, Mesa's
# own register/deregister methods in use. Otherwise they take Mesa's per-agent path (what
# mesa.Agent.__init__ and remove do), so observers and datasets still see every agent.
# They rely on Mesa 3.5.1's registry layout (pinned in pyproject.toml; tests/test_table.py
# checks the result against Mesa's own per-agent path).
def _per_agent_needed(model, agents: list, signal) -> bool:
    return (model._has_subscribers("agents", signal) or model._batch_context is not None
            or bool(type(agents[0])._datasets)
            or type(model).register_agent is not mesa.Model.register_agent
            or type(model).deregister_agent is not mesa.Model.deregister_agent)


def register_agents(model, agents: list[RowAgent]) -> None:
    """What ``mesa.Agent.__init__`` registers for each of ``agents`` (all of one class), in order."""
    if not agents:
        return
    cls = type(agents[0])
    if _per_agent_needed(model, agents, ModelSignals.AGENT_ADDED):
        for a in agents:
            model.register_agent(a)
            for dataset in a._datasets:
                model.data_registry[dataset].add_agent(a)
        return
    if cls not in model._agents_by_type:  # as Mesa does for a class's first agent
        model._agents_by_type[cls] = _HardKeyAgentSet([], random=model.random)
    first = model.agent_id_counter
    for uid, a in enumerate(agents, start=first):
        a.unique_id = uid
    model.agent_id_counter = first + len(agents)
    batch = dict.fromkeys(agents)
    model._all_agents._agents.update(batch)
    model._agents_by_type[cls]._agents.update(batch)
    _mesa_logger.debug(f"registered {len(agents)} {cls.__name__} with agent_ids {first}-{first + len(agents) - 1}")


def deregister_agents(model, agents: list[RowAgent]) -> None:
    """What ``a.remove()`` does in ``mesa.Agent`` for each of ``agents`` (all of one class);
    agents already removed are skipped, as ``mesa.Agent.remove`` does."""
    if not agents:
        return
    if _per_agent_needed(model, agents, ModelSignals.AGENT_REMOVED):
        for a in agents:
            mesa.Agent.remove(a)
        return
    for registry in (model._all_agents._agents, model._agents_by_type[type(agents[0])]._agents):
        deque(map(registry.pop, agents, repeat(None)), maxlen=0)  # pop each, skipping absent ones
    _mesa_logger.debug(f"deregistered {len(agents)} {type(agents[0]).__name__}")


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
