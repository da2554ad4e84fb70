"""Labour-market rules as pure functions: within-city matching and SO wage setting."""

from __future__ import annotations

import numpy as np



def match_within_cities(seeker_city: np.ndarray, slot_city: np.ndarray, n_cities: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random matching of job seekers to vacancy slots, city by city.

    In each city c, min(seekers_c, slots_c) seekers and slots are drawn at random and paired.
    Returns (seeker positions, slot positions) of the matched pairs, aligned."""
    s_order = np.lexsort((rng.random(len(seeker_city)), seeker_city))
    v_order = np.lexsort((rng.random(len(slot_city)), slot_city))
    s_counts = np.bincount(seeker_city, minlength=n_cities)
    v_counts = np.bincount(slot_city, minlength=n_cities)
    n_match = np.minimum(s_counts, v_counts)

    def first_n(order: np.ndarray, cities: np.ndarray, counts: np.ndarray) -> np.ndarray:
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sorted_city = cities[order]
        rank = np.arange(len(order)) - start[sorted_city]
        return order[rank < n_match[sorted_city]]

    return first_n(s_order, seeker_city, s_counts), first_n(v_order, slot_city, v_counts)


def open_slots(slots: np.ndarray, employees: np.ndarray, onboarding: np.ndarray) -> np.ndarray:
    """Vacancy slots each establishment fills this quarter: its unfilled slots, at most
    ``onboarding`` (what its training classes can take in a quarter)."""
    return np.minimum(np.maximum(slots - employees, 0), onboarding)


def reservation_wage(city_wage: np.ndarray, national_wage: float, level: float,
                     elasticity: float) -> np.ndarray:
    """Pay (CNY/year) at which young graduates take SO front-line work in each city when the
    market is balanced: ``level`` x national wage x (city wage / national wage)^elasticity.
    An elasticity below 1 says SO pay varies less across cities than average wages do."""
    return level * national_wage * (np.asarray(city_wage) / national_wage) ** elasticity


def tightness(vacancies: np.ndarray, seekers: np.ndarray, cap: float,
              smoothing: float) -> np.ndarray:
    """Vacancies per job seeker, ``smoothing`` added on both sides and bounded to [1/cap, cap]."""
    return np.clip((np.asarray(vacancies, float) + smoothing) / (np.asarray(seekers, float) + smoothing),
                   1.0 / cap, cap)


def target_wage(reservation: np.ndarray, market_tightness: np.ndarray, elasticity: float) -> np.ndarray:
    """SO wage the market moves towards: reservation pay scaled by tightness^elasticity."""
    return reservation * market_tightness ** elasticity


def adjust_wage(current: np.ndarray, target: np.ndarray, speed: float) -> np.ndarray:
    """Partial adjustment: close ``speed`` of the gap to the target each period."""
    return current + speed * (target - current)


def job_finding_rate(hires: np.ndarray, seekers: np.ndarray, vacancies: np.ndarray) -> np.ndarray:
    """This quarter's hires per seeker in each city; 1 where nobody sought but jobs were open,
    0 where there were neither (persons or agents, consistently)."""
    return np.where(seekers > 0, hires / np.maximum(seekers, 1), np.where(vacancies > 0, 1.0, 0.0))


def smooth(previous: np.ndarray, current: np.ndarray, memory: float) -> np.ndarray:
    """Exponential smoothing: ``memory`` x previous + (1 - memory) x current."""
    return memory * previous + (1.0 - memory) * current


def pinned_ratio(wage: np.ndarray, city: int, references: np.ndarray, ratio: float) -> np.ndarray:
    """Wages with ``city``'s set to ``ratio`` x the mean wage of the ``references`` (the wage-gap
    experiment's switch)."""
    out = wage.copy()
    out[city] = ratio * wage[references].mean()
    return out
