"""The one module that touches Mesa's private internals: registering and deregistering a batch
of agents in one pass, exactly as Mesa 3.5.1 would one agent at a time.

tests/test_table.py checks the result against Mesa's own per-agent path; pyproject.toml pins
Mesa 3.5.1 because the registry layout used here is private to it.
"""

from __future__ import annotations

from collections import deque
from itertools import repeat

import mesa
from mesa.agentset import _HardKeyAgentSet
from mesa.experimental.mesa_signals.signal_types import ModelSignals
from mesa.model import _mesa_logger


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


def register_agents(model, agents: list) -> None:
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


def deregister_agents(model, agents: list) -> None:
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
