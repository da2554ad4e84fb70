"""The ABC-SMC sampler with MCMC moves (model/study/abc_smc.py), on toy problems with known answers."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from model.study import abc_smc

DIM, OUTPUTS = 27, 37  # as many free parameters and fitted targets as the real calibration


def noise_for(unit: np.ndarray, size) -> np.ndarray:
    """Simulation noise that depends only on the positions (as a particle's seeds do), in any process."""
    seed = int.from_bytes(hashlib.sha256(unit.tobytes()).digest()[:8], "little")
    return np.random.default_rng(seed).normal(size=size)


def linear_gaussian(seed: int = 1):
    """A linear model with Gaussian noise; distance in the calibration's units (squared half-widths)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(OUTPUTS, DIM))
    truth = rng.uniform(0.2, 0.8, DIM)
    observed = a @ truth
    calls = []

    def evaluate(unit: np.ndarray, label: str) -> np.ndarray:
        calls.append(len(unit))
        noise = noise_for(unit, (len(unit), OUTPUTS))
        return np.mean((unit @ a.T + 0.5 * noise - observed) ** 2, axis=1)

    return evaluate, truth, calls


def sample(evaluate, n=60, generations=4, seed=3, **kw):
    settings = {"keep_fraction": 0.5, "moves": 4, "move_scaling": 0.5, **kw}
    return abc_smc.run(evaluate, n=n, dim=DIM, generations=generations, root_seed=seed, **settings)


def test_generations_keep_their_invariants():
    evaluate, _, calls = linear_gaussian()
    gens = sample(evaluate)
    assert [g.t for g in gens] == list(range(5))
    assert sum(calls) == sum(g.evaluations for g in gens)  # every simulation is counted once
    for prev, g in zip(gens, gens[1:]):
        assert g.unit.shape == (60, DIM) and ((g.unit >= 0) & (g.unit <= 1)).all()
        assert (g.distance <= g.epsilon).all()  # every particle satisfies its generation's tolerance
        assert g.epsilon <= prev.epsilon
        assert g.moves_accepted <= g.moves_proposed == 4 * 30


def test_same_seed_same_population_and_resume_continues_the_same_run():
    whole = sample(linear_gaussian()[0])
    again = sample(linear_gaussian()[0])
    first_two = sample(linear_gaussian()[0], generations=1)
    saved = [abc_smc.Generation.from_dict(g.to_dict()) for g in first_two]  # through the saved form
    continued = sample(linear_gaussian()[0], done=saved)
    for a, b, c in zip(whole, again, continued):
        assert np.array_equal(a.unit, b.unit) and np.array_equal(a.unit, c.unit)
        assert np.array_equal(a.distance, c.distance)
    assert not np.array_equal(whole[-1].unit, sample(linear_gaussian()[0], seed=4)[-1].unit)


def test_the_population_does_not_collapse_in_27_dimensions():
    # importance-weighted ABC-SMC left 1-4 effective particles of 40-120 in this dimension
    gens = sample(linear_gaussian()[0], n=80, generations=5)
    assert all(g.distinct >= 0.4 * 80 for g in gens)
    width = np.percentile(gens[-1].unit, 95, axis=0) - np.percentile(gens[-1].unit, 5, axis=0)
    assert np.median(width) < 0.8  # the data narrow the prior (unit width 0.9)


def test_recovers_a_known_posterior_in_two_dimensions():
    truth = np.array([0.3, 0.7])

    def evaluate(unit, label):
        noise = 0.02 * noise_for(unit, unit.shape)
        return np.sum((unit + noise - truth) ** 2, axis=1) / 0.05 ** 2

    gens = abc_smc.run(evaluate, n=100, dim=2, generations=6, root_seed=1, keep_fraction=0.5, moves=4,
                       move_scaling=1.0)
    final = gens[-1].unit
    lo, hi = np.percentile(final, 5, axis=0), np.percentile(final, 95, axis=0)
    assert ((lo <= truth) & (truth <= hi)).all()
    assert (hi - lo < 0.2).all()
    assert np.allclose(np.median(final, axis=0), truth, atol=0.05)


@pytest.mark.parametrize("n", [3, 10, 200])
def test_move_covariance_is_positive_definite_with_fewer_particles_than_parameters(n):
    kept = np.random.default_rng(0).uniform(size=(n, DIM))
    assert np.linalg.eigvalsh(abc_smc.move_covariance(kept, 0.5)).min() > 0


def test_tiny_populations_run():
    for n in (1, 2, 3):
        gens = sample(linear_gaussian()[0], n=n, generations=2)
        assert all(g.unit.shape == (n, DIM) for g in gens)
