"""The model's invariants, determinism, scale independence and the stylised facts of issue 2."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from model.cli.paths import experiments_dir

EXPERIMENTS = experiments_dir()
from model.core.agents.worker import EMPLOYED, SEEKING, WorkerAgent
from model.core.agents.firm import FirmAgent
from model.core.model import SOModel
from model.study.scenarios import load_scenario
from model.core.levers import LEVER_INDEX as LEVER
from model.run import simulate

SHORT = ["end_year=2012", "persons_per_agent=200"]


def short_model(seed=1, extra=()):
    return SOModel(load_scenario(EXPERIMENTS / "baseline.toml", [*SHORT, *extra]), rng=seed)


def check_conservation(m: SOModel) -> None:
    wt, ft = m.workers_table, m.firms_table
    w = wt.rows()
    # Every live worker agent is registered once with Mesa, in exactly one state and one city.
    agents = m.agents_by_type.get(WorkerAgent, [])
    assert len(agents) == len(w)
    assert {a.row for a in agents} == set(w.tolist())
    assert np.isin(wt.state[w], [SEEKING, EMPLOYED]).all()
    assert ((wt.city[w] >= 0) & (wt.city[w] < m.n_cities)).all()
    # Employed workers point at a live establishment in their own city; seekers at none.
    emp = w[wt.state[w] == EMPLOYED]
    assert (wt.firm[w[wt.state[w] == SEEKING]] == -1).all()
    assert ft.alive[wt.firm[emp]].all()
    assert (ft.city[wt.firm[emp]] == wt.city[emp]).all()
    # Employee counts match the workers, and never exceed seats.
    f = ft.rows()
    counted = np.bincount(wt.firm[emp], minlength=ft.size)[f]
    assert (ft.employees[f] == counted).all()
    assert (ft.employees[f] <= ft.slots[f]).all()
    assert (ft.employees[f] * m.scale <= ft.seats[f] + m.scale).all()
    assert len(m.agents_by_type.get(FirmAgent, [])) == len(f)
    # City totals equal the sum over agents.
    assert m.city_state["employment"].sum() == pytest.approx(len(emp) * m.scale)
    # A park can be full but not more than full.
    occupancy = m.city_state["park_occupancy"]
    assert (occupancy[~np.isnan(occupancy)] <= 1.0).all()


def test_conservation_every_quarter():
    m = short_model(seed=4)
    check_conservation(m)
    while m.running:
        m.step()
        check_conservation(m)


def test_parks_fill_but_never_overfill():
    # Parks fill while the establishments in them keep growing into market space.
    m = SOModel(load_scenario(EXPERIMENTS / "baseline.toml", ["end_year=2023", "persons_per_agent=200"]), rng=4)
    peak = 0.0
    while m.running:
        m.step()
        check_conservation(m)  # includes occupancy <= 1
        occupancy = m.city_state["park_occupancy"]
        built = ~np.isnan(occupancy)
        if built.any():
            peak = max(peak, occupancy[built].max())
    assert peak > 0.95  # some park filled up, so the cap was tested


def test_fiscal_accounts_balance():
    m = short_model(seed=2)
    spent = np.zeros(m.n_cities)
    while m.running:
        m.step()
        by_recipient = m.ledger.by_recipient()
        # Every yuan spent is booked to exactly one lever and one recipient group.
        assert sum(by_recipient.values()) == pytest.approx(m.ledger.spend.sum(axis=1))
        spent += m.ledger.spend.sum(axis=1)
        assert m.ledger.cumulative_spend == pytest.approx(spent)
    # Cities without levers spend nothing; Nanchang's training subsidy is paid at 9,500 a hire.
    active = {lv.city for lv in m.params.levers}
    for c, name in enumerate(m.city_names):
        if name not in active:
            assert spent[c] == 0, name


def test_run_tables_add_up():
    r = simulate(load_scenario(EXPERIMENTS / "baseline.toml", SHORT), seed=3)
    cy, ry = r.city_year, r.region_year
    assert len(cy) == 26 * 8 and not cy.duplicated(["year", "city"]).any()
    lever_cols = [f"spend_{k}_cny" for k in LEVER]
    assert np.allclose(cy[lever_cols].sum(axis=1), cy["policy_spend_cny"])
    by_year = cy.groupby("year")["employment"].sum()
    assert np.allclose(ry.groupby("year")["employment"].sum(), by_year)
    assert np.allclose(ry.groupby("year")["employment_share"].sum(), 1.0)
    assert ((cy["local_share"].dropna() >= 0) & (cy["local_share"].dropna() <= 1)).all()


def test_same_seed_same_output_different_seed_differs(tmp_path):
    from model.run import write_run

    p = load_scenario(EXPERIMENTS / "baseline.toml", SHORT)
    a = write_run(simulate(p, 11), tmp_path / "a", figures=False)
    b = write_run(simulate(p, 11), tmp_path / "b", figures=False)
    c = write_run(simulate(p, 12), tmp_path / "c", figures=False)
    assert (a / "city_year.csv").read_bytes() == (b / "city_year.csv").read_bytes()
    assert (a / "city_year.csv").read_bytes() != (c / "city_year.csv").read_bytes()


def test_talent_subsidy_is_paid_per_hire():
    m = short_model(seed=5, extra=["levers.Neijiang.talent_subsidy.start=2005"])
    k = LEVER["talent_subsidy"]
    while m.running:
        m.step()
        hires = m.city_state["hires"][m.focus]
        assert m.ledger.spend[m.focus, k] == pytest.approx(hires * 3000)


def test_two_scales_agree_within_noise():
    """Outputs are in persons: 100 and 200 persons per agent give the same picture."""
    def outcome(scale, seed):
        r = simulate(load_scenario(EXPERIMENTS / "baseline.toml", [f"persons_per_agent={scale}", "end_year=2021"]), seed)
        cy = r.city_year[r.city_year.year == 2021]
        return cy.groupby("region")["employment"].sum() / cy["employment"].sum()
    a = pd.concat([outcome(100, s) for s in range(3)], axis=1)
    b = pd.concat([outcome(200, s) for s in range(3)], axis=1)
    spread = np.maximum(a.std(axis=1), b.std(axis=1)) + 0.01
    assert ((a.mean(axis=1) - b.mean(axis=1)).abs() < 3 * spread).all(), (a.mean(axis=1), b.mean(axis=1))


@pytest.fixture(scope="module")
def baseline_runs():
    p = load_scenario(EXPERIMENTS / "baseline.toml", ["end_year=2025"])
    return [simulate(p, s) for s in range(3)]


def test_coastal_share_falls_while_inland_gains(baseline_runs):
    for r in baseline_runs:
        ry = r.region_year.pivot(index="year", columns="region", values="employment_share")
        assert ry.loc[2025, "coastal"] < ry.loc[2005, "coastal"] - 0.15
        emp = r.region_year.pivot(index="year", columns="region", values="employment")
        assert emp.loc[2025, ["central", "western"]].sum() > 5 * emp.loc[2008, ["central", "western"]].sum()


def test_every_run_starts_with_three_quarters_of_the_industry_on_the_coast(baseline_runs):
    # 87.5% of offshore execution was in the eastern provinces as late as 2011 (east_share_2011)
    for r in baseline_runs:
        ry = r.region_year.pivot(index="year", columns="region", values="employment_share")
        assert 1.0 - r.metrics["inland_share_start"] > 0.75 and ry.loc[2005, "coastal"] > 0.75


def test_the_shift_starts_after_2006_once_the_wage_lead_has_grown(baseline_runs):
    # "Coastal favoured until about 2006, inland gains after" (public_stats, regional shift)
    for r in baseline_runs:
        ry = r.region_year.pivot(index="year", columns="region", values="employment_share")
        assert ry.loc[2006, "coastal"] > ry.loc[2005, "coastal"] - 0.02
        # ... and after coastal wages have run further ahead of inland ones than in 2005 (by a tenth
        # or more; the calibration of a014e39 turned in 2006-07, when the lead had grown 15-20%).
        # The turn: first year from which the coastal share stays 5 points below its 2005 level
        # (a sustained fall, not an early dip of a small industry).
        later_max = ry["coastal"][::-1].cummax()[::-1]
        turn = ry.index[later_max < ry.loc[2005, "coastal"] - 0.05].min()
        cy = r.city_year
        wage = cy.assign(coastal=cy["region"] == "coastal").groupby(["year", "coastal"])["city_wage_cny"].mean().unstack()
        gap = wage[True] - wage[False]
        assert turn > 2005 and gap.loc[turn] > gap.loc[2005] * 1.1, (turn, gap.loc[[2005, turn]])


def _first_year(r, column: str) -> float:
    nj = r.city_year[(r.city_year.city == "Neijiang") & (r.city_year[column] > 0)]
    return float(nj["year"].min())


def test_neijiang_cluster_emerges_and_grows(baseline_runs):
    # The 2008 known entry (an input fact) makes the first arrival 2008 at the latest; an entrant
    # may still choose Neijiang earlier. Everything after it must be chosen.
    firsts = [_first_year(r, "new_firms") for r in baseline_runs]
    assert all(2005 < f <= 2008 for f in firsts), firsts
    for r in baseline_runs:
        nj = r.city_year[r.city_year.city == "Neijiang"].set_index("year")
        assert nj.loc[2023, "employment"] > nj.loc[2015, "employment"] > 0
        assert nj.loc[2023, "firms"] >= 10


def test_the_transitional_park_costs_what_the_source_spent(baseline_runs):
    # 6e7 CNY of fit-out for the 2019-2021 transitional park (fact nj_park_fitout_spend), booked
    # as it is built; the new park (from 2023) at its own cost per seat.
    for r in baseline_runs:
        nj = r.city_year[r.city_year.city == "Neijiang"].set_index("year")
        # built linearly to the end of 2021; the last quarter's seats are booked in early 2022
        assert nj.loc[2019:2022, "spend_park_capacity_cny"].sum() == pytest.approx(7700 * 7792, rel=1e-9)
        assert nj.loc[2019:2021, "spend_park_capacity_cny"].sum() > 0.9 * 7700 * 7792
        assert nj.loc[:2018, "spend_park_capacity_cny"].sum() == 0


def test_the_start_years_industry_leaves_out_cities_whose_first_so_firm_came_later():
    # Neijiang's first SO firm opened in 2008 (fact nj_first_entry, known_entries.csv first_in_city);
    # its hub weight would otherwise seat a 2005 establishment there (6 of these 30 seeds unmasked).
    for seed in range(30):
        m = short_model(seed=seed)
        ft = m.firms_table
        assert ft.seats[ft.rows()].sum() > 0
        assert not np.any(ft.city[ft.rows()] == m.city_index["Neijiang"]), seed


def test_neijiangs_first_firm_runs_until_its_source_last_sees_it(baseline_runs):
    # Ping An's 2008 centre still ran in 2022 (fact pingan_branch_2022; known_entries.csv
    # observed_until): Neijiang is never without an SO establishment from 2008 to 2022.
    for r in baseline_runs:
        nj = r.city_year[r.city_year.city == "Neijiang"].set_index("year")
        assert (nj.loc[2008:2022, "firms"] >= 1).all(), nj.loc[2008:2022, "firms"].tolist()


@pytest.mark.xfail(strict=True, reason=(
    "entrants choose Neijiang before its documented first firm: first operating year 2006 or 2007 in 8 of "
    "the 20 validation seeds (seeds 1 and 2 here: 2007); the start year's industry no longer seats a firm "
    "there (first_in_city), but the entry choice of 2006-07 has no term that kept firms away"))
def test_neijiangs_first_firm_operates_from_2008_as_the_source_says(baseline_runs):
    # the source: one firm in 2008, none before; the known entry opens in 2008 and must operate that year
    assert all(r.metrics["focus_first_firm_year"] == 2008 for r in baseline_runs)


def test_neijiang_pay_is_70_to_80_percent_of_chengdu_and_chongqing_around_2021(baseline_runs):
    # "Around 2021": each run's mean ratio over 2020-2022, which steadies a three-seed test; the
    # single-year 2021 ratio over 20 seeds is target nj_wage_ratio in docs/validation.md.
    ratios = []
    for r in baseline_runs:
        wage = r.city_year.pivot(index="year", columns="city", values="so_wage_cny").loc[2020:2022]
        ratios.append((wage["Neijiang"] / wage[["Chengdu", "Chongqing"]].mean(axis=1)).mean())  # as the source
    assert 0.70 <= np.median(ratios) <= 0.80, ratios


def test_mesa_batch_run_drives_the_model():
    """The model is a plain Mesa model: batch_run with keyword overrides and rng works."""
    import mesa

    rows = mesa.batch_run(SOModel, parameters={"end_year": [2006, 2007], "persons_per_agent": 400},
                          rng=[3], display_progress=False)
    assert {r["end_year"] for r in rows} == {2006, 2007}
    assert all(r["coastal_share"] > 0.5 for r in rows)
    steps = {r["end_year"]: r["Step"] for r in rows}
    assert steps == {2006: 8, 2007: 12}


def test_relocation_weighs_staying_against_the_better_margin_cities():
    """A reviewing establishment moves only to a city whose margin beats its own by the threshold,
    and the location logit can keep it where it is: clients, talent and cluster count, not margin
    alone (before the stay option every reviewer with an eligible city moved, most to the cheapest)."""
    import dataclasses

    m = short_model(seed=3)
    while m.running:
        m.step()
    m.params = dataclasses.replace(m.params, relocation_rate=1.0, relocation_max_seats=10**9)
    ft = m.firms_table
    rows = ft.rows()
    review = rows[ft.operating[rows]]
    margins = FirmAgent.city_margins(m, entrant=True)
    gain = margins[ft.segment[review], FirmAgent.market(m, review), :] - ft.margin[review][:, None]
    gain[np.arange(len(review)), ft.city[review]] = -np.inf
    eligible = review[(gain > m.params.relocation_threshold).any(axis=1)]
    best_gain = dict(zip(review.tolist(), gain.tolist()))
    before = ft.city.copy()
    FirmAgent.relocate(m)
    movers = review[ft.city[review] != before[review]]
    assert len(eligible) > 20
    assert set(movers.tolist()) <= set(eligible.tolist())
    assert 0 < len(movers) < 0.9 * len(eligible)
    for row in movers.tolist():
        assert best_gain[row][ft.city[row]] > m.params.relocation_threshold


def test_the_documented_entry_stays_where_the_source_puts_it_while_others_move():
    # Ping An's 2008 centre is an input fact (still in Neijiang in 2022); other small firms may move.
    # Every city looks better than its own margin and every small firm reviews, fifty times over.
    m = short_model(seed=0, extra=["end_year=2008", "relocation_rate=1", "relocation_threshold=0"])
    while m.running:
        m.step()
    ft, neijiang = m.firms_table, m.city_index["Neijiang"]
    entry = m.known_entries[neijiang].row
    others = ft.rows()[(ft.rows() != entry) & ft.operating[ft.rows()]]
    others = others[ft.seats[others] <= m.params.relocation_max_seats]
    start = ft.city[others].copy()
    for _ in range(50):
        ft.seats[entry] = min(ft.seats[entry], m.params.relocation_max_seats)
        ft.margin[ft.rows()] = -1.0
        ft.operating[entry] = True
        FirmAgent.relocate(m)
    assert ft.city[entry] == neijiang
    assert (ft.city[others] != start).any()


# Before SO pay was anchored to graduates' starting pay (319f2e5) pay x job chance - housing was
# negative in every city from 2016 and this failed: the floor hid every worker lever.
def test_worker_levers_raise_what_a_graduate_expects_to_earn_in_the_city():
    m = short_model(seed=0, extra=["end_year=2021"])
    while m.running:
        m.step()
    neijiang = m.city_index["Neijiang"]
    base = WorkerAgent.expected_net_income(m)
    with_levers = m.now.lever_intensity.copy()
    with_levers[neijiang, LEVER["talent_subsidy"]] += 6000.0
    with_levers[neijiang, LEVER["talent_apartments"]] += 1500.0
    m.now = dataclasses.replace(m.now, lever_intensity=with_levers)
    gain = WorkerAgent.expected_net_income(m) - base
    assert gain[neijiang] > 0
    assert np.all(np.delete(gain, neijiang) == 0)
