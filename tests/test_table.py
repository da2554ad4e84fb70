"""Batch registration (model/table.py) against Mesa's own per-agent registration."""

from __future__ import annotations

import mesa
import numpy as np
from mesa.experimental.mesa_signals.signal_types import ModelSignals

from model.cli.paths import experiments_dir

EXPERIMENTS = experiments_dir()
from model.core.agents.worker import WorkerAgent
from model.core.model import SOModel
from model.study.scenarios import load_scenario
from model.core.mesa_compat import deregister_agents, register_agents
from model.core.table import RowAgent


def registry(model) -> list:
    """Every registered agent as (unique_id, class, row), in Mesa's iteration order, then each
    class's AgentSet in its order."""
    everyone = [(a.unique_id, type(a).__name__, getattr(a, "row", None)) for a in model.agents]
    by_type = [(cls.__name__, [a.unique_id for a in agents]) for cls, agents in model.agents_by_type.items()]
    assert sum(len(ids) for _, ids in by_type) == len(everyone) == len({uid for uid, _, _ in everyone})
    return [everyone, by_type]


def test_batches_register_as_mesa_would_one_by_one():
    # Same seed twice; in the second run an observer of the agent signals forces Mesa's
    # per-agent register_agent / deregister_agent. Same ids, same AgentSets, same results,
    # and the observer saw one signal per agent created or removed.
    params = load_scenario(EXPERIMENTS / "baseline.toml", ["end_year=2011", "persons_per_agent=200"])
    batched, observed = SOModel(params, rng=5), SOModel(params, rng=5)
    signals = {ModelSignals.AGENT_ADDED: 0, ModelSignals.AGENT_REMOVED: 0}

    def count(signal):
        signals[signal.signal_type] += 1

    for signal in signals:
        observed.observe("agents", signal, count)
    start_ids, start_live = observed.agent_id_counter, len(observed.agents)
    assert not batched._has_subscribers("agents", ModelSignals.AGENT_ADDED)
    while batched.running:
        batched.step()
        observed.step()
    assert registry(batched) == registry(observed)
    assert batched.agent_id_counter == observed.agent_id_counter
    assert len(batched.agents_by_type[WorkerAgent]) == batched.workers_table.count()
    created = observed.agent_id_counter - start_ids
    assert created > 1000  # workers and firms came and went, so batches were exercised
    assert signals[ModelSignals.AGENT_ADDED] == created
    assert signals[ModelSignals.AGENT_REMOVED] == created - (len(observed.agents) - start_live)
    frames = [m.datacollector.get_model_vars_dataframe() for m in (batched, observed)]
    assert frames[0].equals(frames[1])


def test_batch_deregistration_skips_agents_already_removed():
    model = mesa.Model(rng=1)
    mesa.Agent(model)  # an agent of another class, left alone
    agents = WorkerAgent.build(model, [0, 1, 2])
    assert all(a.unique_id is None for a in agents)
    register_agents(model, agents[:1])  # first of a class: Mesa's own path
    register_agents(model, agents[1:])
    first = model.agent_id_counter - 3
    assert [a.unique_id for a in agents] == [first, first + 1, first + 2]
    assert set(model.agents_by_type[WorkerAgent]) == set(agents)
    agents[1].remove()  # one removed the ordinary Mesa way
    deregister_agents(model, agents)
    assert WorkerAgent not in {type(a) for a in model.agents}
    assert len(model.agents_by_type[WorkerAgent]) == 0
    assert len(model.agents) == 1


def test_single_row_agent_is_an_ordinary_mesa_agent():
    model = mesa.Model(rng=1)
    worker = WorkerAgent(model, row=7)
    assert isinstance(worker, RowAgent) and worker.row == 7 and worker.pos is None
    assert list(model.agents_by_type[WorkerAgent]) == [worker]
    built = WorkerAgent.build(model, np.array([3]).tolist())[0]
    assert vars(built).keys() == vars(worker).keys()


class TrackedWorker(WorkerAgent):
    """A worker class with a Mesa data-registry dataset, which batches must not bypass."""


def test_agents_of_a_tracked_class_enter_and_leave_its_dataset():
    model = mesa.Model(rng=1)
    dataset = model.data_registry.track_agents_numpy(TrackedWorker, "tracked", "wage")
    agents = TrackedWorker.build(model, [0, 1, 2])
    register_agents(model, agents)
    for a in agents:
        a.wage = 100.0 * a.row
    assert len(model.agents_by_type[TrackedWorker]) == 3
    assert sorted(dataset.data[:, 0].tolist()) == [0.0, 100.0, 200.0]
    deregister_agents(model, agents)
    assert len(model.agents_by_type[TrackedWorker]) == 0 and len(dataset.data) == 0


class OwnRegistration(mesa.Model):
    """A model that overrides register_agent: batches must go through it."""

    def __init__(self):
        super().__init__(rng=1)
        self.seen = []

    def register_agent(self, agent):
        self.seen.append(agent)
        super().register_agent(agent)


def test_a_model_overriding_register_agent_sees_every_agent():
    model = OwnRegistration()
    agents = WorkerAgent.build(model, [0, 1, 2])
    register_agents(model, agents[:1])
    register_agents(model, agents[1:])  # WorkerAgent already known: a batch
    assert model.seen == agents and set(model.agents_by_type[WorkerAgent]) == set(agents)
