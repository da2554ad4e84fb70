"""The pure decision rules, each alone."""

import numpy as np
import pytest

from model.core.rules import choice, labour_market


def test_logit_probabilities_sum_to_one_and_respect_minus_infinity():
    u = np.array([[0.0, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf], [5.0, 5.0, 5.0]])
    p = choice.logit_probabilities(u, axis=1)
    assert p[0].sum() == pytest.approx(1) and p[0, 2] == 0 and p[0, 1] > p[0, 0]
    assert (p[1] == 0).all()
    assert p[2] == pytest.approx(np.full(3, 1 / 3))
    # Large utilities do not overflow.
    assert choice.logit_probabilities(np.array([1000.0, 999.0])).sum() == pytest.approx(1)


def test_sample_choices_matches_probabilities():
    rng = np.random.default_rng(0)
    probs = np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 0.0]])
    picks = choice.sample_choices(probs, np.zeros(100_000, dtype=int), rng)
    freq = np.bincount(picks, minlength=3) / len(picks)
    assert freq == pytest.approx([0.2, 0.8, 0.0], abs=0.01)
    assert (choice.sample_choices(probs, np.ones(10, dtype=int), rng) == -1).all()


def test_profit_margin_falls_with_wages_and_rent_and_rises_with_subsidy():
    m = lambda w, r, s: choice.profit_margin(np.array(100.0), np.array(w), np.array(1.0), 1.0, np.array(r), np.array(s))
    assert m(50, 10, 0) == pytest.approx(0.4)
    assert m(60, 10, 0) < m(50, 10, 0)
    assert m(50, 20, 0) < m(50, 10, 0)
    assert m(50, 10, 5) > m(50, 10, 0)


def _firm_u(**kw):
    base = dict(margin=np.array([0.2, 0.2]), n_firms=np.array([10.0, 10.0]), fill_rate=np.array([1.0, 1.0]),
                hub_hours=np.array([1.0, 1.0]), setup_months=np.array([6.0, 6.0]), room=np.array([True, True]),
                city_size=np.array([1e6, 1e6]))
    base.update(kw)
    return choice.firm_location_utility(**base, beta_margin=3, beta_city_size=1, beta_agglomeration=1,
                                        beta_talent=1, beta_hub=0.5, beta_setup=0.1)


@pytest.mark.parametrize("change", [
    dict(margin=np.array([0.3, 0.2])), dict(n_firms=np.array([50.0, 10.0])), dict(fill_rate=np.array([1.0, 0.3])),
    dict(hub_hours=np.array([0.5, 5.0])), dict(setup_months=np.array([4.0, 12.0])), dict(city_size=np.array([2e6, 1e6])),
])
def test_firm_utility_each_term_pulls_the_right_way(change):
    u = _firm_u(**change)
    assert u[0] > u[1]


def test_firm_utility_excludes_cities_without_room():
    u = _firm_u(room=np.array([True, False]))
    assert np.isfinite(u[0]) and u[1] == -np.inf


def test_graduate_utility_prefers_income_home_and_nearby():
    kw = dict(beta_income=1.5, beta_distance=0.3, beta_same_province=0.4, beta_home=1, beta_college=0.5, beta_network=1)
    one = lambda **v: choice.graduate_utility(**{**dict(net_income=40000.0, distance_km=100.0, same_province=0.0,
                                                       is_home=0.0, is_college=0.0, network_share=0.0), **v}, **kw)
    assert one(net_income=60000.0) > one()
    assert one(distance_km=10.0) > one()
    assert one(is_home=1.0) > one() and one(is_college=1.0) > one() and one(same_province=1.0) > one()
    # IZA DP 7160 trade-off shape: utility is linear in ln(income) and ln(distance).
    assert one(net_income=80000.0) - one() == pytest.approx(1.5 * np.log(2))


def test_matching_pairs_within_cities_only_and_as_many_as_possible():
    rng = np.random.default_rng(1)
    seekers = np.array([0, 0, 0, 1, 2, 2])
    slots = np.array([0, 1, 1, 1, 2])
    s_pos, v_pos = labour_market.match_within_cities(seekers, slots, 3, rng)
    assert (seekers[s_pos] == slots[v_pos]).all()
    assert len(s_pos) == 1 + 1 + 1  # city 0: min(3,1); city 1: min(1,3); city 2: min(2,1)
    assert len(set(s_pos)) == len(s_pos) and len(set(v_pos)) == len(v_pos)


def test_wage_rules():
    res = labour_market.reservation_wage(np.array([50000.0, 200000.0]), 100000.0, 0.6, 0.5)
    assert res[1] / res[0] == pytest.approx(2.0)  # a 4x wage gap becomes 2x in SO pay at elasticity 0.5
    theta = labour_market.tightness(np.array([0.0, 300.0]), np.array([300.0, 0.0]), 4.0)
    assert theta == pytest.approx([1 / 4, 4])
    target = labour_market.target_wage(np.array([100.0, 100.0]), theta, 0.5)
    assert target == pytest.approx([50.0, 200.0])
    assert labour_market.adjust_wage(np.array([100.0]), np.array([200.0]), 0.25) == pytest.approx([125.0])


def test_stochastic_round_is_unbiased():
    rng = np.random.default_rng(2)
    x = np.full(200_000, 2.3)
    assert choice.stochastic_round(x, rng).mean() == pytest.approx(2.3, abs=0.01)
