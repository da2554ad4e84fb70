"""Refinement of the calibration's point estimate: the coordinate search and its errors."""

from __future__ import annotations

import json

import pytest

from model.core.errors import InputError
from model.study.calibrate import load_settings
from model.study.refine import coordinate_search, improves, refine
from model.study.targets import Fit
from tests.test_calibrate import TARGETS_FILE, assert_one_line_error, cli, settings_file

BOUNDS = {"a": [0.0, 10.0], "b": [-1.0, 1.0]}


def quadratic(points):
    # b's optimum lies outside its bounds; no point misses a target
    return [Fit(0, (p["a"] - 7.3) ** 2 + 4 * (p["b"] + 2.0) ** 2) for p in points]


def test_coordinate_search_finds_the_minimum_inside_the_bounds():
    calls = []

    def score(points):
        calls.append(points)
        assert all(lo <= p[k] <= hi for p in points for k, (lo, hi) in BOUNDS.items())
        return quadratic(points)

    x, best, moves = coordinate_search(score, {"a": 1.0, "b": 0.5}, BOUNDS, step=0.25, sweeps=8, min_gain=0.0)
    assert x["a"] == pytest.approx(7.3, abs=0.1) and x["b"] == -1.0  # held at the bound nearest its optimum
    assert best.distance == pytest.approx(quadratic([x])[0].distance)
    assert best.distance < quadratic([{"a": 1.0, "b": 0.5}])[0].distance
    assert [m["distance"] for m in moves] == sorted((m["distance"] for m in moves), reverse=True)
    assert moves[-1]["distance"] == best.distance and moves[0]["parameter"] is None


def test_coordinate_search_keeps_the_start_when_no_move_gains_enough():
    start = {"a": 7.0, "b": -1.0}
    x, best, moves = coordinate_search(quadratic, start, BOUNDS, step=0.05, sweeps=2, min_gain=1.0)
    assert x == start and len(moves) == 1


def test_a_move_that_misses_more_targets_is_refused_however_much_closer():
    # a's distance falls all the way to 8, but past a = 5 one more target leaves its band
    def score(points):
        return [Fit(int(p["a"] > 5.0), abs(p["a"] - 8.0)) for p in points]

    x, best, moves = coordinate_search(score, {"a": 1.0, "b": 0.0}, BOUNDS, step=0.1, sweeps=4, min_gain=0.0)
    assert 4.0 <= x["a"] <= 5.0 and best.misses == 0
    assert all(m["misses"] == 0 for m in moves)


def test_fewer_misses_beat_a_lower_distance():
    assert improves(Fit(2, 9.0), Fit(3, 1.0), min_gain=0.5)
    assert not improves(Fit(3, 0.1), Fit(2, 9.0), min_gain=0.5)
    assert not improves(Fit(2, 8.6), Fit(2, 9.0), min_gain=0.5)  # as many misses, not enough gain
    assert improves(Fit(2, 8.4), Fit(2, 9.0), min_gain=0.5)


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


def test_refining_a_refined_estimate_keeps_the_earlier_refinement(tmp_path, monkeypatch):
    # Score without running the model: one fitted target missed unless beta_hub is raised, so the
    # search makes at least one move and a record of it.
    import model.study.refine as refine_module

    def fake_rescore(cands, base, targets, seeds, client):
        return [Fit(0 if c["beta_hub"] > base.beta_hub else 1, abs(c["beta_hub"] - 2.0)) for c in cands]

    monkeypatch.setattr(refine_module, "rescore", fake_rescore)
    record = TARGETS_FILE.parent / "calibration.json"
    before = json.loads(record.read_text())["point_estimate"]
    summary = refine(TARGETS_FILE, record, tmp_path / "out", client=None, sweeps=1, seeds=1)
    point = summary["point_estimate"]
    assert point["refinement"]["misses"] == 0 and point["refinement"]["start_misses"] == 1
    assert summary["estimate"]["beta_hub"] > json.loads(record.read_text())["estimate"]["beta_hub"]
    earlier = [*before.get("earlier_refinements", []), *([before["refinement"]] if "refinement" in before else [])]
    assert point["earlier_refinements"] == earlier and point["refinement"] not in earlier
    written = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert written["point_estimate"] == point
    assert "recorded point estimate" in point["refinement"]["method"]
