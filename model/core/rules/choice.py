"""Choice rules as pure functions: firm profit margins, firm and graduate location logits,
and batched sampling from logit probabilities. No model state here, so each rule can be
tested alone and reused by the numpy reference in benchmarks/."""

from __future__ import annotations

import numpy as np

from ..params import Params


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


def profit_margin(revenue_per_seat: np.ndarray, wage: np.ndarray, pay_multiplier: np.ndarray,
                  wage_cost_multiplier: float, rent_per_seat_year: np.ndarray,
                  subsidy_per_seat_year: np.ndarray) -> np.ndarray:
    """Expected profit margin (share of revenue) of a seat; arrays broadcast
    (e.g. segments x cities). All money in CNY per seat per year."""
    cost = wage * pay_multiplier * wage_cost_multiplier + rent_per_seat_year - subsidy_per_seat_year
    return 1.0 - cost / revenue_per_seat


def firm_location_utility(margin: np.ndarray, n_firms: np.ndarray, fill_rate: np.ndarray,
                          hub_hours: np.ndarray, setup_months: np.ndarray, room: np.ndarray,
                          city_size: np.ndarray, *, beta_margin: float, beta_city_size: float,
                          beta_agglomeration: float, beta_talent: float,
                          beta_hub: float, beta_setup: float,
                          min_fill_rate: float = Params.min_entry_fill_rate) -> np.ndarray:
    """Deterministic utility of opening an establishment in each city.

    margin: expected profit margin (share); n_firms: SO establishments already there;
    fill_rate: expected share of vacancies filled, bounded to [min_fill_rate, 1];
    hub_hours: rail hours to the client hub; setup_months: months to start operating; room: False where no office space is free (-inf);
    city_size: urban population (more sites in larger cities)."""
    u = (beta_margin * margin
         + beta_city_size * np.log(city_size)
         + beta_agglomeration * np.log1p(n_firms)
         + beta_talent * np.log(np.clip(fill_rate, min_fill_rate, 1.0))
         - beta_hub * np.log1p(hub_hours)
         - beta_setup * setup_months)
    return np.where(room, u, -np.inf)


def graduate_utility(net_income: np.ndarray, distance_km: np.ndarray, same_province: np.ndarray,
                     is_home: np.ndarray, is_college: np.ndarray, network_share: np.ndarray, *,
                     beta_income: float, beta_distance: float, beta_same_province: float,
                     beta_home: float, beta_college: float, beta_network: float,
                     distance_offset_km: float = Params.distance_offset_km) -> np.ndarray:
    """Deterministic utility of seeking SO work in each city for a graduate type (home, college).

    net_income: expected pay x job chance + subsidies - housing (CNY/year, > 0);
    distance_km from home; network_share: share of the city's SO workers from the same province."""
    return (beta_income * np.log(net_income)
            - beta_distance * np.log(distance_km + distance_offset_km)
            + beta_same_province * same_province
            + beta_home * is_home
            + beta_college * is_college
            + beta_network * network_share)


def stochastic_round(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round non-negative reals to integers with expectation preserved."""
    x = np.asarray(x, dtype=float)
    base = np.floor(x)
    return (base + (rng.random(x.shape) < (x - base))).astype(np.int64)
