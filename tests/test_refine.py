"""Refinement of the calibration's point estimate: the coordinate search and its errors."""

from __future__ import annotations

import json

import pytest

from model.core.errors import InputError
from model.study.calibrate import load_settings
from model.study.refine import coordinate_search, refine
from tests.test_calibrate import TARGETS_FILE, assert_one_line_error, cli, settings_file

BOUNDS = {"a": [0.0, 10.0], "b": [-1.0, 1.0]}


def quadratic(points):
    return [(p["a"] - 7.3) ** 2 + 4 * (p["b"] + 2.0) ** 2 for p in points]  # b's optimum lies outside its bounds


def test_coordinate_search_finds_the_minimum_inside_the_bounds():
    calls = []

    def score(points):
        calls.append(points)
        assert all(lo <= p[k] <= hi for p in points for k, (lo, hi) in BOUNDS.items())
        return quadratic(points)

    x, best, moves = coordinate_search(score, {"a": 1.0, "b": 0.5}, BOUNDS, step=0.25, sweeps=8, min_gain=0.0)
    assert x["a"] == pytest.approx(7.3, abs=0.1) and x["b"] == -1.0  # held at the bound nearest its optimum
    assert best == pytest.approx(quadratic([x])[0]) and best < quadratic([{"a": 1.0, "b": 0.5}])[0]
    assert [m["distance"] for m in moves] == sorted((m["distance"] for m in moves), reverse=True)
    assert moves[-1]["distance"] == best and moves[0]["parameter"] is None


def test_coordinate_search_keeps_the_start_when_no_move_gains_enough():
    start = {"a": 7.0, "b": -1.0}
    x, best, moves = coordinate_search(quadratic, start, BOUNDS, step=0.05, sweeps=2, min_gain=1.0)
    assert x == start and len(moves) == 1


@pytest.mark.parametrize("line, words", [
    ("refine_step = 0", "calibration.refine_step: expected a number from 0.01 to 0.5"),
    ("refine_seeds = 0", "calibration.refine_seeds: expected a whole number of at least 1"),
    ("refine_min_gain = -1", "calibration.refine_min_gain: expected a number from 0.0 to 1.0"),
])
def test_refine_settings_are_checked(tmp_path, line, words):
    with pytest.raises(InputError, match=words.replace(".", r"\.")):
        load_settings(settings_file(tmp_path, line))


def test_refine_refuses_a_record_the_scenario_does_not_run(tmp_path):
    record = tmp_path / "calibration.json"
    summary = json.loads((TARGETS_FILE.parent / "calibration.json").read_text())
    summary["estimate"] = {k: v * 1.5 + 0.1 for k, v in summary["estimate"].items()}
    record.write_text(json.dumps(summary))
    with pytest.raises(InputError, match="does not run the estimate"):
        refine(TARGETS_FILE, record, tmp_path / "out", client=None)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, words", [
    (["refine", "--sweeps", "0"], ["--sweeps", "at least 1"]),
    (["refine", "--set", "beta_margin=3"], ["--set", "committed calibration"]),
    (["refine", "--record", "nowhere.json"], ["--record", "cannot read"]),
])
def test_refine_bad_input_is_a_one_line_error(args, words):
    assert_one_line_error(cli(*args, "--workers", "1"), *words)
