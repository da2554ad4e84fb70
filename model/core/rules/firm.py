"""Establishments' decision rules as pure functions: expected profit margins, the location logit,
the talent an entrant can expect, exit hazards, expansion and cuts. Arrays in, arrays out; the
firm agents (model/core/agents/firm.py) gather the inputs and apply the results."""

from __future__ import annotations

import numpy as np

from ..clock import MINUTES_PER_HOUR, MONTHS_PER_YEAR, STEPS_PER_YEAR
from ..levers import effect_total


def profit_margin(revenue_per_seat: np.ndarray, wage: np.ndarray, pay_multiplier: np.ndarray,
                  wage_cost_multiplier: float, rent_per_seat_year: np.ndarray,
                  subsidy_per_seat_year: np.ndarray) -> np.ndarray:
    """Expected profit margin (share of revenue) of a seat; arrays broadcast
    (e.g. segments x cities). All money in CNY per seat per year."""
    cost = wage * pay_multiplier * wage_cost_multiplier + rent_per_seat_year - subsidy_per_seat_year
    return 1.0 - cost / revenue_per_seat


def firm_location_utility(margin: np.ndarray, n_firms: np.ndarray, fill_rate: np.ndarray,
                          hub_hours: np.ndarray, client_contact: np.ndarray, city_size: np.ndarray | float = 1.0, *,
                          beta_margin: float, beta_agglomeration: float, beta_talent: float,
                          beta_hub: float, min_fill_rate: float, max_fill_rate: float = 1.0,
                          beta_city_size: float = 0.0) -> np.ndarray:
    """Deterministic utility of opening an establishment in each city.

    margin: expected profit margin over the planning horizon (share; set-up months without revenue
    already taken off: see horizon_margin); n_firms: SO establishments already there that serve
    the same client market (a cluster draws firms selling to the same clients: shared client
    relationships, references and managers who know that market);
    fill_rate: expected talent per open seat, bounded to [min_fill_rate, max_fill_rate];
    hub_hours: rail hours to the client hub, weighed by the segment's ``client_contact`` (0 for work
    done remotely, 1 for work that needs visits to the client); city_size: urban population in
    millions (what a larger city offers any entrant beyond SO talent: managers, suppliers, offices
    and services, weight beta_city_size). Office space is not a term: where it
    is scarce it raises the rent inside ``margin``. With beta_agglomeration = 1 an
    entrant is drawn to a city in proportion to the establishments already there, so with every
    other term equal across cities each client market's industry keeps its geography as it grows
    (Gibrat)."""
    return (beta_margin * margin
            + beta_agglomeration * np.log1p(n_firms)
            + beta_talent * np.log(np.clip(fill_rate, min_fill_rate, max_fill_rate))
            - beta_hub * client_contact * np.log1p(hub_hours)
            + beta_city_size * np.log(city_size))


def horizon_margin(margin: np.ndarray, setup_months: np.ndarray, horizon_years: float) -> np.ndarray:
    """A seat's margin over the planning horizon when the first ``setup_months`` of it earn nothing:
    a positive margin scaled by the share of the horizon in operation (set-up costs time, not money)."""
    operating = np.clip(1.0 - setup_months / (MONTHS_PER_YEAR * horizon_years), 0.0, 1.0)
    return np.where(margin > 0, margin * operating, margin)


def expected_fill_rate(talent: np.ndarray, vacancies: np.ndarray, size: float) -> np.ndarray:
    """Talent an entrant of ``size`` seats can expect per open seat in each city (unbounded; the
    location utility floors and caps it)."""
    return talent / (vacancies + size)


def exit_hazard(low_quarters: np.ndarray, base: float, distress: float, quarters_to_distress: int) -> np.ndarray:
    """Quarterly exit probability: ``base``, plus ``distress`` once an establishment has been below
    the exit margin for ``quarters_to_distress`` quarters in a row."""
    return base + (low_quarters >= quarters_to_distress) * distress


def expansion(seats: np.ndarray, gap: float, share: float, max_rate: float) -> np.ndarray:
    """Seats added by each expanding establishment: ``share`` of the national seat gap in
    proportion to size (Gibrat), at most ``max_rate`` of its seats."""
    return np.minimum(share * gap * seats / seats.sum(), max_rate * seats)


def demand_cuts(seats: np.ndarray, margin: np.ndarray, excess: float, beta_margin: float,
                max_rate: float) -> np.ndarray:
    """Seats each establishment cuts when national demand falls ``excess`` seats short: in
    proportion to size x exp(-beta_margin x margin) (the least profitable most), at most
    ``max_rate`` of its seats."""
    w = seats * np.exp(-beta_margin * margin)
    return np.minimum(excess * w / w.sum(), max_rate * seats)


def first_come(city: np.ndarray, size: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Which establishments (in queue order) get a turnkey park place: each takes ``size`` from its
    city's ``room`` if it fits; one that does not fit takes market space instead, and those behind
    it may still fit."""
    room = room.copy()
    ok = np.zeros(len(city), dtype=bool)
    for i in range(len(city)):
        c = city[i]
        if size[i] <= room[c]:
            room[c] -= size[i]
            ok[i] = True
    return ok


def fixed_slots(seats: np.ndarray, persons_per_agent: float, round_offset: np.ndarray) -> np.ndarray:
    """Worker agents an establishment of ``seats`` can employ: floor(seats / persons per agent +
    a U(0,1) offset drawn at birth), unbiased and stable as seats change."""
    return np.floor(seats / persons_per_agent + round_offset).astype(np.int64)


def seat_margins(p, revenue: np.ndarray, so_wage: np.ndarray, pay_multiplier: np.ndarray, rent: np.ndarray,
                 national_training: np.ndarray, income_tax: np.ndarray,
                 lever_intensity: np.ndarray, park_free: np.ndarray | None = None) -> np.ndarray:
    """(segments x client markets x cities) expected after-tax profit margin of a seat in every city:
    the client market's price against pay, employer on-costs, rent and other delivery costs, less
    national training support and what the firm-cost levers take off, after corporate income tax on
    a positive margin.
    With ``park_free`` (an entrant's view) also one-off grants and, outside turnkey parks, the
    entrant's own fit-out cost, spread over amortisation_years."""
    n = len(so_wage)
    rent_year = rent * p.office_m2_per_seat * MONTHS_PER_YEAR
    graduate_hires = expected_hires_per_seat_year(p) * p.graduate_hire_share
    national = national_training * graduate_hires
    subsidy = national + effect_total("firm_cost", lever_intensity, n, rent_per_seat_year=rent_year,
                                      graduate_hires_per_seat_year=graduate_hires, national_fund_per_seat=national)
    if park_free is not None:
        fitout = np.where(park_free > p.mean_new_firm_seats, 0.0, p.fitout_cny_per_seat)
        subsidy = subsidy + (effect_total("entrant_grant", lever_intensity, n) - fitout) / p.amortisation_years
    pre_tax = profit_margin(revenue, so_wage[None, None, :], pay_multiplier[:, None, None],
                            p.wage_cost_multiplier, rent_year[None, None, :], subsidy[None, None, :]) - p.other_cost_share
    return pre_tax - np.maximum(pre_tax, 0.0) * income_tax[None, None, :]


def expected_hires_per_seat_year(p) -> float:
    """Hires a seat needs in a year to stay staffed, at the quit rates of a workforce with a year's
    tenure or more and of one in its first year, averaged."""
    return 0.5 * (p.quit_rate_first_year + p.quit_rate_later) * STEPS_PER_YEAR


def setup_months(p, lever_intensity: np.ndarray) -> np.ndarray:
    """Months from first contact to operation in every city (fast set-up levers shorten it)."""
    return effect_total("setup", lever_intensity, lever_intensity.shape[0], default_months=p.default_setup_months)


def establishments_by_market(city: np.ndarray, market: np.ndarray, n_cities: int) -> np.ndarray:
    """(client markets x cities) count of establishments: ``city`` and client ``market`` (0
    coastal and foreign, 1 inland) of each."""
    return np.bincount(market * n_cities + city, minlength=2 * n_cities).reshape(2, n_cities)


def entry_utility(p, margins: np.ndarray, n_firms: np.ndarray, seats: np.ndarray,
                  employment: np.ndarray, seekers: np.ndarray, graduates_now: np.ndarray, urban_population: np.ndarray,
                  travel: np.ndarray, hub_weight: np.ndarray, hub_market: np.ndarray, client_contact: np.ndarray,
                  lever_intensity: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """(segments x hubs x cities) location utility of a new establishment of ``size`` seats, and
    the hub cities. ``margins``: (segments x client markets x cities); ``n_firms``: (client markets
    x cities) establishments (establishments_by_market); ``hub_market``: the client
    market of every city as a hub; talent is the year's interested graduates, current seekers and
    experienced entrants."""
    vacancies = np.maximum(seats - employment, 0.0)
    talent = (p.so_interest_share * graduates_now + seekers + p.experienced_entry_rate * urban_population * STEPS_PER_YEAR)
    hubs = np.flatnonzero(hub_weight > 0)
    margin = horizon_margin(margins[:, hub_market[hubs], :], setup_months(p, lever_intensity)[None, None, :],
                            p.amortisation_years)
    u = firm_location_utility(
        margin, n_firms[hub_market[hubs]][None, :, :], expected_fill_rate(talent, vacancies, size)[None, None, :],
        (travel[hubs, :] / MINUTES_PER_HOUR)[None, :, :], client_contact[:, None, None],
        (urban_population / 1e6)[None, None, :],
        beta_margin=p.beta_margin, beta_agglomeration=p.beta_agglomeration,
        beta_talent=p.talent_scale * p.beta_talent, beta_hub=p.beta_hub, min_fill_rate=p.min_entry_fill_rate,
        max_fill_rate=p.talent_depth_cap, beta_city_size=p.beta_city_size_firms)
    return u, hubs


def hub_probabilities(hub_weight: np.ndarray, inland_hub: np.ndarray, inland_share: float) -> np.ndarray:
    """Probability that a new establishment's clients sit in each city: an inland hub with
    ``inland_share``, else a coastal hub, each by its hub weight."""
    inland = np.where(inland_hub, hub_weight, 0.0)
    coast = np.where(~inland_hub, hub_weight, 0.0)
    w = inland_share * inland / inland.sum() + (1 - inland_share) * coast / coast.sum()
    return w / w.sum()
