"""The pure decision rules, each alone."""

import numpy as np
import pytest

from model.core.rules import choice, labour_market
from model.core.rules import firm as firm_rules
from model.core.rules import worker as worker_rules


def test_logit_probabilities_sum_to_one_and_respect_minus_infinity():
    u = np.array([[0.0, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf], [5.0, 5.0, 5.0]])
    p = choice.logit_probabilities(u, axis=1)
    assert p[0].sum() == pytest.approx(1) and p[0, 2] == 0 and p[0, 1] > p[0, 0]
    assert (p[1] == 0).all()
    assert p[2] == pytest.approx(np.full(3, 1 / 3))
    # Large utilities do not overflow.
    assert choice.logit_probabilities(np.array([1000.0, 999.0])).sum() == pytest.approx(1)


def test_systematic_sizes_give_each_category_its_share_within_one_item():
    rng = np.random.default_rng(5)
    p = np.array([0.5, 0.0, 0.3, 0.2])
    for _ in range(20):
        sizes = choice.lognormal_sizes(200, 50.0, 1.2, rng)
        cat = choice.systematic_by_size(sizes, p, rng)
        share = np.bincount(cat, weights=sizes, minlength=len(p)) / sizes.sum()
        assert np.all(np.abs(share - p) <= sizes.max() / sizes.sum() + 1e-12)
        assert not (cat == 1).any()  # a category of probability 0 gets nothing


def test_sample_choices_matches_probabilities():
    rng = np.random.default_rng(0)
    probs = np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 0.0]])
    picks = choice.sample_choices(probs, np.zeros(100_000, dtype=int), rng)
    freq = np.bincount(picks, minlength=3) / len(picks)
    assert freq == pytest.approx([0.2, 0.8, 0.0], abs=0.01)
    assert (choice.sample_choices(probs, np.ones(10, dtype=int), rng) == -1).all()


def test_profit_margin_falls_with_wages_and_rent_and_rises_with_subsidy():
    m = lambda w, r, s: firm_rules.profit_margin(np.array(100.0), np.array(w), np.array(1.0), 1.0, np.array(r), np.array(s))
    assert m(50, 10, 0) == pytest.approx(0.4)
    assert m(60, 10, 0) < m(50, 10, 0)
    assert m(50, 20, 0) < m(50, 10, 0)
    assert m(50, 10, 5) > m(50, 10, 0)


def _firm_u(**kw):
    base = dict(margin=np.array([0.2, 0.2]), n_firms=np.array([10.0, 10.0]), fill_rate=np.array([1.0, 1.0]),
                hub_hours=np.array([1.0, 1.0]), client_contact=np.array([1.0, 1.0]))
    base.update(kw)
    return firm_rules.firm_location_utility(**base, beta_margin=3, beta_agglomeration=1,
                                            beta_talent=1, beta_hub=0.5, min_fill_rate=1e-3)


@pytest.mark.parametrize("change", [
    dict(margin=np.array([0.3, 0.2])), dict(n_firms=np.array([50.0, 10.0])), dict(fill_rate=np.array([1.0, 0.3])),
    dict(hub_hours=np.array([0.5, 5.0])),
])
def test_firm_utility_each_term_pulls_the_right_way(change):
    u = _firm_u(**change)
    assert u[0] > u[1]


def test_talent_beyond_the_seats_counts_only_up_to_the_depth_cap():
    deep = np.array([20.0, 2.0])
    at_one = firm_rules.firm_location_utility(
        np.array([0.2, 0.2]), np.array([10.0, 10.0]), deep, np.ones(2), np.ones(2),
        beta_margin=3, beta_agglomeration=1, beta_talent=1, beta_hub=0.5, min_fill_rate=1e-3)
    assert at_one[0] == at_one[1]                      # cap 1: both pools fill the seats
    capped = firm_rules.firm_location_utility(
        np.array([0.2, 0.2]), np.array([10.0, 10.0]), deep, np.ones(2), np.ones(2),
        beta_margin=3, beta_agglomeration=1, beta_talent=1, beta_hub=0.5, min_fill_rate=1e-3, max_fill_rate=5.0)
    assert capped[0] - capped[1] == pytest.approx(np.log(5.0) - np.log(2.0))


def test_onboarding_limits_the_slots_an_establishment_fills_in_a_quarter():
    open_ = labour_market.open_slots(np.array([10, 10, 3]), np.array([2, 9, 5]), np.array([4, 4, 4]))
    assert open_.tolist() == [4, 1, 0]


def test_office_market_builds_only_where_space_runs_short():
    from model.core.params import Params
    from model.core.rules import office

    p = Params(office_build_rate=0.1, office_build_occupancy=0.85)
    cap = office.office_market(np.array([100.0, 100.0]), np.array([0.9, 0.5]), p)
    assert cap.tolist() == pytest.approx([110.0, 100.0])


def test_scarce_office_space_costs_more_and_spare_space_costs_nothing_extra():
    from model.core.params import Params
    from model.core.rules import office

    p = Params(office_build_occupancy=0.85, office_scarcity_elasticity=2.0)
    premium = office.scarcity_premium(np.array([0.3, 0.85, 1.7]), p)
    assert premium.tolist() == pytest.approx([1.0, 1.0, 4.0])
    assert office.scarcity_premium(np.array([1.7]), p.replace(office_scarcity_elasticity=0.0)).tolist() == [1.0]
    assert office.scarcity_premium(np.array([1.7]), p.replace(rent_gap_scale=0.0)).tolist() == [1.0]


def test_graduate_utility_prefers_income_home_and_nearby():
    kw = dict(beta_income=1.5, beta_distance=0.3, beta_same_province=0.4, beta_home=1, beta_college=0.5, beta_network=1,
              distance_offset_km=10.0)
    one = lambda **v: worker_rules.graduate_utility(**{**dict(net_income=40000.0, distance_km=100.0, same_province=0.0,
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
    theta = labour_market.tightness(np.array([0.0, 300.0]), np.array([300.0, 0.0]), 4.0, smoothing=1.0)
    assert theta == pytest.approx([1 / 4, 4])
    target = labour_market.target_wage(np.array([100.0, 100.0]), theta, 0.5)
    assert target == pytest.approx([50.0, 200.0])
    assert labour_market.adjust_wage(np.array([100.0]), np.array([200.0]), 0.25) == pytest.approx([125.0])


def test_stochastic_round_is_unbiased():
    rng = np.random.default_rng(2)
    x = np.full(200_000, 2.3)
    assert choice.stochastic_round(x, rng).mean() == pytest.approx(2.3, abs=0.01)


def test_expansion_is_proportional_and_capped():
    seats = np.array([100.0, 300.0, 200.0])
    add = firm_rules.expansion(seats, gap=600.0, share=0.5, max_rate=0.5)
    assert add == pytest.approx([50.0, 150.0, 100.0])  # half the gap, by size
    capped = firm_rules.expansion(seats, gap=6000.0, share=1.0, max_rate=0.2)
    assert capped == pytest.approx(0.2 * seats)


def test_demand_cuts_hit_the_least_profitable_most_and_are_capped():
    cut = firm_rules.demand_cuts(np.array([100.0, 100.0]), np.array([0.3, -0.1]), 20.0, beta_margin=5.0, max_rate=0.3)
    assert cut.sum() == pytest.approx(20.0) and cut[1] > cut[0]
    assert (firm_rules.demand_cuts(np.array([100.0]), np.array([0.0]), 1e6, 5.0, 0.3) == 30.0).all()


def test_first_come_skips_what_does_not_fit_and_lets_smaller_ones_through():
    ok = firm_rules.first_come(np.array([0, 0, 0, 1]), np.array([60.0, 50.0, 30.0, 10.0]), np.array([100.0, 5.0]))
    assert ok.tolist() == [True, False, True, False]


def test_exit_hazard_rises_after_a_year_of_distress():
    h = firm_rules.exit_hazard(np.array([0, 3, 4, 9]), base=0.02, distress=0.15, quarters_to_distress=4)
    assert h == pytest.approx([0.02, 0.02, 0.17, 0.17])


def test_leaving_takes_the_old_and_employed_quitters_only():
    age = np.array([30.0, 50.0, 30.0, 30.0])
    employed = np.array([True, False, False, True])
    draw = np.array([0.01, 0.9, 0.01, 0.9])
    assert worker_rules.leaving(age, employed, draw, exit_age=45.0, quit_rate=0.04).tolist() == [True, True, False, False]


def test_homes_are_local_with_the_local_share_and_never_the_college_elsewhere():
    rng = np.random.default_rng(3)
    probs = worker_rules.hometown_probabilities(np.array([1e6, 2e6, 1e6]), np.eye(3), province_boost=2.0)
    assert np.diag(probs).sum() == 0 and probs.sum(axis=1) == pytest.approx(np.ones(3))
    college = np.zeros(50_000, dtype=int)
    home = worker_rules.draw_homes(college, probs, 0.7, rng)
    assert (home == 0).mean() == pytest.approx(0.7, abs=0.01)
    assert (home[home != 0] == 1).mean() == pytest.approx(2 / 3, abs=0.02)  # by population


def test_net_income_is_floored_and_job_chances_compound():
    assert worker_rules.job_probability(np.array([0.5]), 3) == pytest.approx([0.875])
    net = worker_rules.net_income(np.array([60000.0, 60000.0]), np.array([1.0, 0.1]), np.zeros(2),
                                  np.array([10000.0, 10000.0]), floor_share=0.05)
    assert net == pytest.approx([50000.0, 3000.0])


def test_job_finding_rate_and_smoothing_and_the_pinned_wage():
    rate = labour_market.job_finding_rate(np.array([5.0, 0.0, 0.0]), np.array([10, 0, 0]), np.array([3, 4, 0]))
    assert rate == pytest.approx([0.5, 1.0, 0.0])
    assert labour_market.smooth(np.array([1.0]), np.array([0.0]), 0.25) == pytest.approx([0.25])
    w = labour_market.pinned_ratio(np.array([100.0, 50.0, 200.0]), 1, np.array([0, 2]), 0.5)
    assert w == pytest.approx([100.0, 75.0, 200.0])


def test_lever_channels_combine_and_costs_follow_events():
    from model.core.levers import LEVER_INDEX, LEVERS, effect_total
    from model.core.rules.policy import QuarterEvents

    x = np.zeros((2, len(LEVERS)))
    x[0, LEVER_INDEX["rent_relief"]] = 0.5
    x[0, LEVER_INDEX["matching_funds"]] = 2.0
    x[1, LEVER_INDEX["fast_setup"]] = 4.0
    off = effect_total("firm_cost", x, 2, rent_per_seat_year=np.array([1000.0, 1000.0]), graduate_hires_per_seat_year=0.2,
                       national_fund_per_seat=np.array([10.0, 10.0]))
    assert off == pytest.approx([500.0 + 20.0, 0.0])
    assert effect_total("setup", x, 2, default_months=12.0) == pytest.approx([12.0, 4.0])
    ev = QuarterEvents(hires=np.array([10.0, 0.0]), graduate_first_hires=np.zeros(2), arrival_seats=np.array([0.0, 100.0]),
                       arrivals=np.array([0.0, 2.0]), operating_seats=np.array([300.0, 0.0]),
                       rent_per_seat_quarter=np.array([50.0, 50.0]), park_build_cost=np.zeros(2),
                       national_funds=np.array([1e6, 0.0]))

    class P:
        apartment_cost_per_unit_year, park_cost_per_seat, fast_setup_cost_per_firm = 12000.0, 1.0, 200000.0

    assert LEVERS["rent_relief"].cost(ev, x[:, 0], P) == pytest.approx([0.5 * 50 * 300, 0.0])
    assert LEVERS["fast_setup"].cost(ev, x[:, LEVER_INDEX["fast_setup"]], P) == pytest.approx([0.0, 400000.0])
    assert LEVERS["matching_funds"].cost(ev, x[:, LEVER_INDEX["matching_funds"]], P) == pytest.approx([2e6, 0.0])


def test_remote_work_ignores_the_client_hub_and_set_up_time_costs_part_of_the_horizon():
    far = _firm_u(hub_hours=np.array([0.5, 20.0]), client_contact=np.array([0.0, 0.0]))
    assert far[0] == pytest.approx(far[1])
    near = _firm_u(hub_hours=np.array([0.5, 20.0]))
    assert near[0] > near[1]
    m = firm_rules.horizon_margin(np.array([0.2, 0.2, -0.1]), np.array([0.0, 12.0, 12.0]), 5.0)
    assert m == pytest.approx([0.2, 0.2 * (1 - 12 / 60), -0.1])  # a loss is not shortened


def test_quits_are_higher_in_the_first_year_with_an_employer():
    q = worker_rules.quit_rate(np.array([0, 4, 5, 20]), 0.12, 0.04, 4)
    assert q == pytest.approx([0.12, 0.12, 0.04, 0.04])


def test_entrants_of_the_wider_labour_force_live_where_they_are_or_follow_the_jobs():
    pop, vac = np.array([3.0, 1.0]), np.array([0.0, 10.0])
    assert worker_rules.entrant_cities(pop, vac, 1.0) == pytest.approx([0.75, 0.25])
    assert worker_rules.entrant_cities(pop, vac, 0.0) == pytest.approx([0.0, 1.0])


def test_gap_scales_and_the_income_tax_of_certified_firms():
    from model.core.environment import income_tax, scaled_gap
    from model.core.params import Params
    from model.core.world import load_world

    v = np.array([50.0, 200.0])
    assert scaled_gap(v, 100.0, 0.0) == pytest.approx([100.0, 100.0])
    assert scaled_gap(v, 100.0, 2.0) == pytest.approx([25.0, 400.0])
    w, p = load_world(), Params()
    demo = ~np.isnan(w.demo_year) & (np.nan_to_num(w.demo_year, nan=9999) <= 2010)
    t2010, t2018 = income_tax(p, w, 2010.5), income_tax(p, w, 2018.5)
    cut = p.tase_share * (p.corporate_income_tax_rate - p.tase_income_tax_rate)
    assert t2010[demo] == pytest.approx(p.corporate_income_tax_rate - cut) and (t2010[~demo] == 0.25).all()
    assert t2018 == pytest.approx(np.full(w.n_cities, 0.25 - cut))  # nationwide from 2017
    assert income_tax(p.replace(national_policy=0.0), w, 2018.5) == pytest.approx(np.full(w.n_cities, 0.25))


def test_seat_margins_by_client_market_are_after_tax_and_do_not_follow_the_seller_wage_into_prices():
    from model.core.params import Params

    p = Params()
    revenue = np.array([[[100000.0, 100000.0], [80000.0, 80000.0]]])  # one segment, two client markets, two cities
    wage = np.array([30000.0, 60000.0])              # a cheap and a dear city
    m = firm_rules.seat_margins(p, revenue, wage, np.array([1.0]), np.array([10.0, 10.0]), np.zeros(2),
                                np.array([0.25, 0.15]), np.zeros((2, 8)))
    assert m.shape == (1, 2, 2)
    assert m[0, 0, 0] > m[0, 0, 1]                   # the wage gap moves the margin one for one
    assert m[0, 1, 0] < m[0, 0, 0]                   # inland clients paying less cut it
    pre = 1 - (30000 * p.wage_cost_multiplier + 10 * p.office_m2_per_seat * 12) / 100000 - p.other_cost_share
    assert m[0, 0, 0] == pytest.approx(pre * 0.75)


def test_revenue_per_seat_recovers_the_productivity_share_of_the_so_pay_gap_only():
    from model.core.environment import conditions
    from model.core.levers import PolicySchedule
    from model.core.params import Params
    from model.core.world import load_world

    w = load_world()
    # (0.9, 0.5): a share of the pay gap above the pay elasticity, where revenue following the city
    # wage itself (the old rule) would make low-pay cities' labour share the higher one
    for eps, sigma in ((0.0, 0.6), (0.4, 0.6), (0.9, 0.5)):
        p = Params(productivity_wage_elasticity=eps, so_wage_city_elasticity=sigma, inland_client_price_factor=0.8)
        now = conditions(p, w, PolicySchedule(p.levers, w.index()), 2015.5)
        ratio = now.revenue[:, :, :] / now.revenue[:, :, :1]          # against the first city
        expected = (now.reservation / now.reservation[0]) ** eps
        assert ratio == pytest.approx(np.broadcast_to(expected, ratio.shape))
        # what is not productivity is a cost advantage: the low-pay city's labour cost share is lower
        share = now.reservation[None, None, :] / now.revenue
        low, high = int(np.argmin(now.reservation)), int(np.argmax(now.reservation))
        assert low != high
        assert eps == 0.0 or (share[..., low] < share[..., high]).all()
        assert now.revenue[:, 1, :] == pytest.approx(now.revenue[:, 0, :] * 0.8)


def test_a_cluster_draws_entrants_of_its_own_client_market_only():
    from model.core.levers import LEVER_INDEX
    from model.core.params import Params

    city, market = np.array([0, 0, 0, 1]), np.array([0, 0, 0, 1])
    n = firm_rules.establishments_by_market(city, market, 2)
    assert n.tolist() == [[3, 0], [0, 1]] and n.sum() == len(city)
    # city 0 is a coastal hub, city 1 an inland one; everything else is equal between them
    p, C = Params(), 2
    margins = np.full((1, 2, C), 0.2)
    args = (np.zeros(C), np.zeros(C), np.zeros(C), np.full(C, 1e4), np.full(C, 1e6), np.zeros((C, C)),
            np.ones(C), np.array([0, 1]), np.array([0.0]), np.zeros((C, len(LEVER_INDEX))), 100.0)
    u, hubs = firm_rules.entry_utility(p, margins, n, *args)
    coastal_client, inland_client = u[0, 0], u[0, 1]
    assert coastal_client[0] - coastal_client[1] == pytest.approx(p.beta_agglomeration * (np.log(4) - np.log(1)))
    assert inland_client[1] - inland_client[0] == pytest.approx(p.beta_agglomeration * (np.log(2) - np.log(1)))


def test_so_pay_follows_graduate_starting_pay_from_its_first_observation():
    from model.core.data import graduate_starting_pay, load_graduate_pay, national_wage

    pay = load_graduate_pay()["vocational_monthly_cny"]
    first, last = int(pay.index[0]), int(pay.index[-1])
    # the published level in every cohort year, as annual pay
    for cohort in pay.index:
        assert graduate_starting_pay(cohort) == pytest.approx(12 * pay[cohort], rel=1e-9)
    # before the first cohort it moves with the average wage, so it is continuous there
    assert graduate_starting_pay(2008) / graduate_starting_pay(first) == pytest.approx(
        national_wage(2008) / national_wage(first), rel=1e-9)
    # it grows slower than the average wage once observed
    assert graduate_starting_pay(last) / graduate_starting_pay(first) < national_wage(last) / national_wage(first)
    # the wage-growth what-if shifts it like every other wage
    assert graduate_starting_pay(2015, 0.01) == pytest.approx(graduate_starting_pay(2015) * 1.01 ** 10)
