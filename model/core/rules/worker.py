"""Graduates' and workers' decision rules as pure functions: where to seek SO work (a logit over
cities and not seeking at all), expected income, hometowns, quitting, going home, entering from
the local labour force. The worker agents (model/core/agents/worker.py) gather inputs and apply."""

from __future__ import annotations

import numpy as np

from ..levers import effect_total
from .choice import logit_probabilities, sample_choices


def graduate_utility(net_income: np.ndarray, distance_km: np.ndarray, same_province: np.ndarray,
                     is_home: np.ndarray, is_college: np.ndarray, network_share: np.ndarray,
                     city_size: np.ndarray | float = 1.0, *,
                     beta_income: float, beta_distance: float, beta_same_province: float,
                     beta_home: float, beta_college: float, beta_network: float,
                     distance_offset_km: float, beta_city: float = 0.0) -> np.ndarray:
    """Deterministic utility of seeking SO work in each city for a graduate type (home, college).

    net_income: expected pay x job chance + subsidies - housing (CNY/year, > 0);
    distance_km from home (the term is zero at home: -beta_distance x ln(1 + km / distance_offset_km));
    network_share: share of the city's SO workers from the same province; city_size: urban
    population in millions (the amenities and prospects of a large city, weight beta_city)."""
    return (beta_income * np.log(net_income)
            + beta_city * np.log(city_size)
            - beta_distance * np.log1p(distance_km / distance_offset_km)
            + beta_same_province * same_province
            + beta_home * is_home
            + beta_college * is_college
            + beta_network * network_share)


def job_probability(job_rate: np.ndarray, search_quarters: int) -> np.ndarray:
    """Chance of an SO job within ``search_quarters`` at a quarterly job-finding rate."""
    return 1.0 - (1.0 - job_rate) ** search_quarters


def net_income(so_wage: np.ndarray, job_prob: np.ndarray, income_add: np.ndarray, housing: np.ndarray,
               floor_share: float) -> np.ndarray:
    """A seeker's expected yearly income net of housing (CNY/year), floored at ``floor_share`` x
    the SO wage so that its logarithm stays finite."""
    pay = so_wage * job_prob + income_add
    return np.maximum(pay - housing, floor_share * so_wage)


def housing_cost(city_wage: np.ndarray, share_of_wage: float, covered: np.ndarray, discount: float) -> np.ndarray:
    """Yearly housing cost of a young SO worker (CNY/year): ``share_of_wage`` x the city's average
    wage, less ``discount`` for the ``covered`` share living in talent apartments."""
    return share_of_wage * city_wage * (1.0 - covered * discount)


def outside_income(reservation: np.ndarray, housing_share: float, city_wage: np.ndarray, floor_share: float) -> np.ndarray:
    """Net income of not taking SO work, in the college city (CNY/year)."""
    return np.maximum(reservation - housing_share * city_wage, floor_share * reservation)


def network_share(home_province: np.ndarray, city: np.ndarray, n_provinces: int, n_cities: int) -> np.ndarray:
    """(provinces x cities) share of each city's SO workers whose home lies in the province."""
    counts = np.zeros((n_provinces, n_cities))
    np.add.at(counts, (home_province, city), 1.0)
    return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1.0)


def search_choice_probabilities(net: np.ndarray, net_outside: np.ndarray, distance_km: np.ndarray,
                                same_province: np.ndarray, province: np.ndarray, network: np.ndarray,
                                urban_population: np.ndarray, p) -> np.ndarray:
    """(home x college x (cities + 1)) probabilities of where a graduate seeks SO work; the last
    option is not seeking SO work at all (its utility: ln(outside income) in the college city plus
    ``outside_option_utility``). ``p``: the Params; its ``talent_scale`` scales every tie to a place
    (distance from home, home province, home city, college city, networks): at 0 talent follows the
    jobs, wherever they are."""
    C = len(net)
    ties = p.talent_scale
    home = np.arange(C)[:, None, None]
    college = np.arange(C)[None, :, None]
    city = np.arange(C)[None, None, :]
    u = graduate_utility(
        net[None, None, :], distance_km[home, city], same_province[home, city],
        (home == city).astype(float), (college == city).astype(float), network[province[home], city],
        (urban_population / 1e6)[None, None, :],
        beta_income=p.beta_income, beta_distance=ties * p.distance_income_ratio * p.beta_income,
        beta_same_province=ties * p.beta_same_province, beta_home=ties * p.beta_home,
        beta_college=ties * p.beta_college, beta_network=ties * p.beta_network, distance_offset_km=p.distance_offset_km,
        beta_city=ties * p.beta_city_size_graduates)
    outside = p.beta_income * np.log(net_outside)[None, :, None] + p.outside_option_utility
    u = np.concatenate([u, np.broadcast_to(outside, (C, C, 1))], axis=2)
    return logit_probabilities(u, axis=2)


def hometown_probabilities(population: np.ndarray, same_province: np.ndarray, province_boost: float) -> np.ndarray:
    """(college city x home city) probabilities of a non-local student's hometown: by population,
    x (1 + ``province_boost``) within the college's province; never the college city itself."""
    w = population[None, :] * (1.0 + province_boost * same_province)
    np.fill_diagonal(w, 0.0)
    return w / w.sum(axis=1, keepdims=True)


def draw_homes(college: np.ndarray, probs: np.ndarray, local_share: float, rng: np.random.Generator) -> np.ndarray:
    """Hometowns of students of ``college`` cities: the city itself with ``local_share``, else a draw
    from ``probs`` (hometown_probabilities)."""
    other = sample_choices(probs, college, rng)
    local = rng.random(len(college)) < local_share
    return np.where(local, college, other)


def quit_rate(tenure: np.ndarray, first_year: float, later: float, quarters_per_year: int) -> np.ndarray:
    """Quarterly quit probability by quarters with the current employer: ``first_year`` in the
    first year, ``later`` after."""
    return np.where(tenure <= quarters_per_year, first_year, later)


def leaving(age: np.ndarray, employed: np.ndarray, draw: np.ndarray, exit_age: float, quit_rate) -> np.ndarray:
    """Who leaves the SO labour market this quarter: everyone past ``exit_age``, and employed
    workers whose uniform ``draw`` falls below their quarterly ``quit_rate``."""
    return (age > exit_age) | (employed & (draw < quit_rate))


def prospects(job_rate: np.ndarray, gain: float) -> np.ndarray:
    """How much of a job-chance-dependent flow happens: min(1, gain x job-finding rate)."""
    return np.minimum(1.0, gain * job_rate)


def expected_net_income(p, so_wage: np.ndarray, job_rate: np.ndarray, city_wage: np.ndarray,
                        young_workers: np.ndarray, lever_intensity: np.ndarray) -> np.ndarray:
    """A job seeker's expected yearly income in each city, net of housing (CNY/year): SO pay x the
    chance of a job within search_quarters, plus what worker levers add, less housing (lower
    where talent apartments house young SO workers)."""
    n = len(so_wage)
    job_prob = job_probability(job_rate, p.search_quarters)
    income_add = effect_total("worker_income", lever_intensity, n, job_prob=job_prob,
                              amortisation_years=p.amortisation_years)
    covered = effect_total("housing", lever_intensity, n, young_workers=np.maximum(young_workers, 1.0))
    housing = housing_cost(city_wage, p.housing_share_of_wage, covered, p.apartment_rent_discount)
    return net_income(so_wage, job_prob, income_add, housing, p.net_income_floor_share)


def entrant_cities(population: np.ndarray, vacancies: np.ndarray, talent_scale: float) -> np.ndarray:
    """Where the wider labour force's SO entrants come from, as shares by city: by urban population
    (they are locals) at talent_scale 1, by open vacancies (they follow the jobs) at 0."""
    pop = population / population.sum()
    vac = vacancies / vacancies.sum() if vacancies.sum() > 0 else pop
    return talent_scale * pop + (1.0 - talent_scale) * vac
