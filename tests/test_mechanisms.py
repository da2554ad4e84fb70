"""The mechanism the model claims, as knock-outs of the calibrated baseline on common seeds: the
inland shift comes from the wage differential, talent and policy, not from the model's set-up.
Full-size versions (10 seeds, every channel combination, Shapley values) are `outsourcing-abm
explain` and docs/mechanisms.md; these are the two- and four-seed checks that can fail in CI."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from model.cli.paths import experiments_dir
from model.run import simulate
from model.study.scenarios import load_scenario
from model.study.seeds import design_seeds

FAST = ["end_year=2023", "persons_per_agent=200"]
# The first replications of the published study (experiments/mechanisms.toml, common seeds):
# these tests re-check part of docs/mechanisms.md rather than seeds of their own.
_STUDY = tomllib.loads((experiments_dir() / "mechanisms.toml").read_text(encoding="utf-8"))
SEEDS = tuple(int(s) for s in design_seeds(_STUDY["root_seed"], 1, 4, crn=True)[0])
ALL_OFF = ["wage_gap_scale=0", "rent_gap_scale=0", "talent_scale=0", "national_policy=0"]


def inland_gain(scenario: str, extra: list[str], seeds: int = 2) -> float:
    """Mean over the first ``seeds`` of SEEDS of the 2005-2023 gain in the inland (central +
    western) employment share."""
    gains = []
    for seed in SEEDS[:seeds]:
        ry = simulate(load_scenario(experiments_dir() / scenario, [*FAST, *extra]), seed).region_year
        share = ry.pivot(index="year", columns="region", values="employment_share")
        inland = share["central"] + share["western"]
        gains.append(inland.loc[2023] - inland.loc[2005])
    return float(np.mean(gains))


@pytest.fixture(scope="module")
def baseline_gain() -> float:
    return inland_gain("baseline.toml", [])


def test_the_baseline_moves_the_industry_inland(baseline_gain):
    assert baseline_gain >= 0.10


def test_without_the_pay_gap_most_of_the_shift_is_gone(baseline_gain):
    assert inland_gain("baseline.toml", ["wage_gap_scale=0"]) <= 0.4 * baseline_gain


@pytest.mark.xfail(strict=True, reason="known failure of the refined calibration (docs/mechanisms.md, 10 seeds): a "
                   "doubled pay gap reaches a higher inland share in 2023 (0.823 against 0.774) but moves most of "
                   "the difference within 2005 (0.244 at the end of 2005 against 0.128), so its gain from the "
                   "end of 2005 is smaller (+0.579 against +0.647); strict, so a fix shows up here")
def test_a_doubled_pay_gap_moves_more(baseline_gain):
    assert inland_gain("baseline.toml", ["wage_gap_scale=2"]) > baseline_gain


def test_with_every_driver_off_the_industry_stays_with_its_clients():
    # no pay gap, no rent gap, no talent term and no policy, national or local
    # four seeds: the all-off gain is a small number against seed noise of about 0.02 a run
    assert abs(inland_gain("no_policy.toml", ALL_OFF, seeds=4)) <= 0.03
