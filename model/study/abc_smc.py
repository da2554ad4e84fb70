"""Replenishment ABC-SMC with MCMC moves (Drovandi & Pettitt 2011, Biometrics 67:225-233).

Why not importance-weighted ABC-SMC (pyabc's, which this project used first): with 27 free
parameters and 40-120 particles, a Gaussian kernel density fitted to the population is nearly
singular, so the importance weights (prior / proposal density) differ by orders of magnitude
and the effective sample size collapsed to 1-4 particles (docs/performance.md). Here every
particle keeps an equal weight. Each generation keeps the ``keep_fraction`` of particles
closest to the data, sets the tolerance to the farthest kept distance, refills the population
by resampling the kept particles, and moves each refilled particle by ``moves`` steps of
Metropolis-Hastings whose target is the prior restricted to distance <= tolerance. With a
uniform prior on the unit cube and a symmetric random walk, a step is accepted exactly when it
stays in the cube and its simulated distance is within the tolerance. Steps are reflected at the
faces of the cube: in 27 dimensions most unreflected steps would leave it (85% did in a first run),
and the reflected random walk is still symmetric, so the acceptance rule is unchanged.

Pure of the model: ``evaluate`` maps a batch of unit-cube positions to distances. Every
generation draws from its own generator ``default_rng([root_seed, STREAM, t])`` and evaluates
whole batches in order, so the result does not depend on how many workers run the batch, and a
calibration continued from a saved generation is the one that would have run uninterrupted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: Stream number of the sampler's generators (apart from the particles' seeds).
STREAM = 7

#: Random-walk covariance of Roberts & Rosenthal (2001): 2.38^2 / d times the target's
#: covariance is the optimal Gaussian random walk for a Gaussian target; ``move_scaling`` multiplies it.
OPTIMAL_SCALE = 2.38 ** 2

Evaluate = Callable[[np.ndarray, str], np.ndarray]


@dataclass
class Generation:
    """One population: positions in the unit cube (n x d), their distances, and how it was made."""

    t: int
    unit: np.ndarray
    distance: np.ndarray
    epsilon: float            # tolerance every particle of this generation satisfies
    evaluations: int          # parameter sets simulated to make it
    moves_proposed: int       # MCMC proposals (each one simulated)
    moves_accepted: int
    wall_time_s: float

    @property
    def distinct(self) -> int:
        """Particles at distinct positions (resampled copies that never moved count once)."""
        return len(np.unique(self.unit, axis=0))

    @property
    def acceptance(self) -> float:
        return self.moves_accepted / self.moves_proposed if self.moves_proposed else math.nan

    def to_dict(self) -> dict:
        return {"t": self.t, "unit": self.unit.tolist(), "distance": self.distance.tolist(),
                "epsilon": self.epsilon, "evaluations": self.evaluations, "moves_proposed": self.moves_proposed,
                "moves_accepted": self.moves_accepted, "wall_time_s": self.wall_time_s}

    @classmethod
    def from_dict(cls, d: dict) -> "Generation":
        return cls(int(d["t"]), np.array(d["unit"], dtype=float), np.array(d["distance"], dtype=float),
                   float(d["epsilon"]), int(d["evaluations"]), int(d["moves_proposed"]), int(d["moves_accepted"]),
                   float(d["wall_time_s"]))


def _distances(evaluate: Evaluate, unit: np.ndarray, label: str) -> np.ndarray:
    d = np.asarray(evaluate(unit, label), dtype=float)
    return np.where(np.isfinite(d), d, np.inf)  # an undefined distance never passes a tolerance


def prior_generation(evaluate: Evaluate, n: int, dim: int, root_seed: int) -> Generation:
    """Generation 0: ``n`` draws from the uniform prior on the unit cube."""
    start = time.perf_counter()
    unit = np.random.default_rng([root_seed, STREAM, 0]).uniform(size=(n, dim))
    dist = _distances(evaluate, unit, "g0")
    return Generation(0, unit, dist, float(np.max(dist)), n, 0, 0, time.perf_counter() - start)


def move_covariance(kept: np.ndarray, move_scaling: float) -> np.ndarray:
    """Random-walk covariance from the kept particles: their sample covariance shrunk toward its
    diagonal (weight d / (n + d), so that it stays positive definite when there are fewer
    particles than parameters), times ``move_scaling`` x 2.38^2 / d."""
    n, d = kept.shape
    cov = np.atleast_2d(np.cov(kept, rowvar=False)) if n > 1 else np.zeros((d, d))
    shrink = d / (n + d)
    cov = (1 - shrink) * cov + shrink * np.diag(np.diag(cov))
    return move_scaling * OPTIMAL_SCALE / d * cov


def reflect(x: np.ndarray) -> np.ndarray:
    """Positions folded back into [0, 1] at each face (1.1 -> 0.9, -0.1 -> 0.1)."""
    return 1.0 - np.abs(1.0 - np.mod(x, 2.0))


def next_generation(prev: Generation, evaluate: Evaluate, root_seed: int, *, keep_fraction: float,
                    moves: int, move_scaling: float) -> Generation:
    """Drop the particles farthest from the data, refill by resampling, move the refilled ones."""
    start = time.perf_counter()
    t = prev.t + 1
    rng = np.random.default_rng([root_seed, STREAM, t])
    n, dim = prev.unit.shape
    order = np.argsort(prev.distance, kind="stable")
    n_keep = max(1, min(n - 1, round(keep_fraction * n)))
    keep, drop = order[:n_keep], order[n_keep:]
    epsilon = float(prev.distance[keep[-1]])
    unit, dist = prev.unit.copy(), prev.distance.copy()
    source = rng.choice(keep, size=len(drop))
    unit[drop], dist[drop] = prev.unit[source], prev.distance[source]
    cov = move_covariance(prev.unit[keep], move_scaling)
    # a tiny ridge: a parameter every kept particle shares would make the factorisation fail
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(dim))
    evaluations = accepted = 0
    for step in range(moves):
        proposal = reflect(unit[drop] + rng.standard_normal((len(drop), dim)) @ chol.T)
        d_new = _distances(evaluate, proposal, f"g{t}-m{step}") if len(drop) else np.empty(0)
        evaluations += len(drop)
        ok = d_new <= epsilon
        unit[drop[ok]], dist[drop[ok]] = proposal[ok], d_new[ok]
        accepted += int(ok.sum())
    return Generation(t, unit, dist, epsilon, evaluations, moves * len(drop), accepted, time.perf_counter() - start)


def run(evaluate: Evaluate, *, n: int, dim: int, generations: int, root_seed: int, keep_fraction: float,
        moves: int, move_scaling: float, done: list[Generation] | None = None,
        on_generation: Callable[[list[Generation]], None] | None = None) -> list[Generation]:
    """Generations 0..``generations``, continuing ``done`` (finished generations of the same
    settings); ``on_generation`` is called with all of them after each new one (to save them)."""
    gens = list(done or [])
    while len(gens) <= generations:
        if not gens:
            gens.append(prior_generation(evaluate, n, dim, root_seed))
        else:
            gens.append(next_generation(gens[-1], evaluate, root_seed, keep_fraction=keep_fraction, moves=moves,
                                        move_scaling=move_scaling))
        if on_generation is not None:
            on_generation(gens)
    return gens
