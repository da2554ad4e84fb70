"""The temporal backtest: the split by date, the scoring, the coverage statistics, the command's
one-line errors, and one small end-to-end run on a throwaway folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.core.errors import InputError
from model.study.backtest import (backtest, coverage_interval, honest_range, observed_value, score, split,
                                  verdict)
from model.study.targets import Target, load_targets

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "experiments" / "targets.toml"


def _t(id_, year, weight=1.0, low=0.0, high=10.0, point=float("nan")):
    return Target(id=id_, fact="f", what="w", transform="level", year=year, low=low, high=high, observed="o",
                  why="y", weight=weight, point=point)


def test_split_keeps_every_fitted_target_on_one_side_of_the_cutoff():
    targets = load_targets(TARGETS)
    for cutoff in (2015, 2019):
        s = split(targets, cutoff)
        assert all(t.year <= cutoff for t in s.fitted) and all(t.year > cutoff for t in s.held_out)
        assert all(t.weight > 0 for t in s.held_out)
        fitted_ids = {t.id for t in s.fitted}
        assert not fitted_ids & {t.id for t in s.held_out}
        assert {t.id for t in targets if t.weight > 0} == {t.id for t in s.fitted if t.weight > 0} | {t.id for t in s.held_out}
    assert len(split(targets, 2019).held_out) >= 8   # the floor


@pytest.mark.parametrize("cutoff, side", [(2000, "at or before"), (2030, "after")])
def test_a_cutoff_that_leaves_a_side_empty_is_one_line(cutoff, side):
    with pytest.raises(InputError, match=side):
        split([_t("a", 2010), _t("b", 2020)], cutoff)


def test_held_out_checks_set_by_inputs_are_not_scored():
    s = split([_t("a", 2010), _t("b", 2020), _t("c", 2021, weight=0.0)], 2015)
    assert [t.id for t in s.held_out] == ["b"]


def test_scoring_counts_the_observation_inside_the_quantile_bands():
    per_run = pd.DataFrame({"a": np.arange(101.0), "b": np.arange(101.0)})
    s = score([_t("a", 2020, low=0, high=100, point=50.0), _t("b", 2021, low=0, high=100, point=97.0)], per_run, 2019)
    a, b = s.set_index("target").loc["a"], s.set_index("target").loc["b"]
    assert a["p05"] == pytest.approx(5) and a["p95"] == pytest.approx(95)
    assert a["inside_50"] and a["inside_90"]
    assert not b["inside_50"] and not b["inside_90"]
    assert list(s.columns[:8]) == ["target", "year", "observed", "p05", "p25", "p50", "p75", "p95"]
    assert s["horizon"].tolist() == [1, 2]


def test_the_observed_value_is_the_sources_number_else_the_band_centre():
    assert observed_value(_t("a", 2020, low=2, high=8, point=3.0)) == 3.0
    assert observed_value(_t("a", 2020, low=2, high=8)) == 5.0


def test_coverage_intervals_and_honest_ranges():
    lo, hi = coverage_interval(9, 10)
    assert lo < 0.9 < hi and hi < 1.0
    assert coverage_interval(10, 10)[1] == 1.0 and coverage_interval(0, 10)[0] == 0.0
    a, b = honest_range(20, 0.9)
    assert a <= 18 <= b <= 20


@pytest.mark.parametrize("k90, k50, word", [(5, 2, "overconfident"), (20, 20, "too wide"), (18, 10, "consistent")])
def test_verdict_names_which_way_bands_fail(k90, k50, word):
    m = 20
    s = pd.DataFrame({"inside_90": [i < k90 for i in range(m)], "inside_50": [i < k50 for i in range(m)]})
    assert word in verdict(s)


@pytest.mark.parametrize("args, field", [(["--cutoff", "2023"], "--cutoff"), (["--cutoff", "1999"], "--cutoff"),
                                         (["--draws", "0"], "--draws"), (["--seeds-per-draw", "0"], "--seeds-per-draw")])
def test_bad_backtest_options_are_one_line_exit_2(args, field, tmp_path):
    r = subprocess.run([sys.executable, "-m", "model", "backtest", *args, "--out", str(tmp_path / "bt")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "bt").exists()


@pytest.mark.slow  # over a minute on CI's two cores; `./dev test -m slow` runs it
def test_a_small_backtest_writes_the_table_report_and_records(tmp_path):
    out = tmp_path / "bt"
    results = backtest(TARGETS, out, cutoffs=(2019,), client=None, population=3, generations=1, seeds=1, draws=2,
                       seeds_per_draw=1, root_seed=3, overrides=["persons_per_agent=2000"], command="test",
                       progress=False)
    table = pd.read_csv(out / "backtest.csv")
    assert list(table.columns[:8]) == ["target", "year", "observed", "p05", "p25", "p50", "p75", "p95"]
    assert (table["year"] > 2019).all() and len(table) == len(results[0].split.held_out)
    first = (out / "backtest.md").read_text().splitlines()[0]
    assert first == f"{int(table['inside_90'].sum())} of {len(table)} held-out targets inside the 90% band"
    assert (out / "calibration-2019" / "calibration.json").is_file() and (out / "run.json").is_file()
    assert list((out / "img").glob("backtest2019_*.png"))
    import json

    seen = json.loads((out / "calibration-2019" / "calibration.json").read_text())["fitted_targets"]
    assert seen and all(t.year <= 2019 for t in load_targets(TARGETS) if t.id in seen)  # nothing later was fitted
    rec = json.loads((out / "run.json").read_text())
    assert rec["overrides"] == ["persons_per_agent=2000"] and rec["cutoffs"] == [2019]
