"""Discrete-choice building blocks as pure functions: multinomial-logit probabilities, batched
sampling from them, and unbiased stochastic rounding. No model state here."""

from __future__ import annotations

import numpy as np


def logit_probabilities(utility: np.ndarray, axis: int = -1) -> np.ndarray:
    """Multinomial-logit choice probabilities along ``axis``; -inf utilities get probability 0.
    Rows where every option is -inf get all-zero probabilities."""
    u = np.asarray(utility, dtype=float)
    m = np.max(u, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(u - m)
    s = e.sum(axis=axis, keepdims=True)
    return np.divide(e, s, out=np.zeros_like(e), where=s > 0)


def sample_choices(probabilities: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each chooser i, draw an option from ``probabilities[rows[i]]`` (inverse CDF, batched).
    Returns option indices; -1 where the row's probabilities are all zero."""
    cum = np.cumsum(probabilities, axis=1)
    u = rng.random(len(rows))
    c = cum[rows]
    pick = (c < (u * c[:, -1])[:, None]).sum(axis=1)
    pick = np.minimum(pick, probabilities.shape[1] - 1)
    return np.where(c[:, -1] > 0, pick, -1)


def stochastic_round(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round non-negative reals to integers with expectation preserved."""
    x = np.asarray(x, dtype=float)
    base = np.floor(x)
    return (base + (rng.random(x.shape) < (x - base))).astype(np.int64)


def lognormal_sizes(n: int, mean: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` log-normal sizes with the given mean and log-sigma."""
    mu = np.log(mean) - sigma * sigma / 2
    return rng.lognormal(mu, sigma, n)


def systematic_by_size(sizes: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A category for each item such that category k's share of the total size is ``p[k]`` to
    within one item: systematic sampling along the items' cumulative size (one random offset),
    so that a few large items cannot swing the shares the way independent draws do."""
    mid = (np.cumsum(sizes) - sizes / 2) / sizes.sum()
    position = (mid + rng.random()) % 1.0
    return np.minimum(np.searchsorted(np.cumsum(p) / np.sum(p), position, side="right"), len(p) - 1)


def rank_within_groups(group: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random order of items grouped by ``group`` (ascending), and each item's rank within its
    group in that order: (order, rank) with ``rank[i]`` the rank of item ``order[i]``."""
    order = np.lexsort((rng.random(len(group)), group))
    g = group[order]
    start = np.searchsorted(g, g, side="left")
    return order, np.arange(len(order)) - start
