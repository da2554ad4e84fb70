"""The browser page's pieces without a browser: controls, the model they build, the figures.

The focus city is data: everything the page shows about "the focus city" follows the scenario's
``focus_city`` and ``reference_cities``; no module in model/app names a case city.
"""

from __future__ import annotations

import importlib
import re

import numpy as np
import pytest

from conftest import ROOT

APP = ROOT / "model" / "app"
CASE_CITIES = ("Neijiang", "Chengdu", "Chongqing", "Wuxi", "Nanchang")


def test_no_module_of_the_app_names_a_case_city():
    for path in sorted(APP.glob("*.py")):
        text = path.read_text()
        named = [c for c in CASE_CITIES if c in text]
        assert not named, f"{path.name} names {named}"


def test_one_definition_of_region_colours_sliders_and_quarters():
    import model.figures
    from model.app import figures

    assert figures.REGION_COLOURS is model.figures.REGION_COLOURS
    code = "\n".join(p.read_text() for p in APP.glob("*.py"))
    assert not re.search(r"^REGION_COLOURS\s*=", code, re.M)
    for gone in ("LEVER_SLIDERS", "_fact_points", "_wage_field", "OABM_APP_MODEL", "FACTS"):
        assert gone not in code, gone


@pytest.fixture
def app(monkeypatch, tmp_path):
    """model.app.controls loaded for a scenario (a short run of the baseline with ``extra`` lines)."""

    def load(extra: str = "", targets: bool = True):
        scenario = tmp_path / "short.toml"
        scenario.write_text(f'inherits = "{(ROOT / "experiments" / "baseline.toml").as_posix()}"\n'
                            f"end_year = 2007\npersons_per_agent = 1000\n{extra}")
        from model.app import controls

        monkeypatch.setenv(controls.SCENARIO_ENV, str(scenario))
        monkeypatch.setenv(controls.EXPERIMENTS_ENV, str(ROOT / "experiments"))
        if targets:
            monkeypatch.setenv(controls.TARGETS_ENV, str(ROOT / "experiments" / "targets.toml"))
        else:
            monkeypatch.delenv(controls.TARGETS_ENV, raising=False)
        controls.observed.cache_clear()
        return importlib.reload(controls), scenario

    return load


def test_sliders_come_from_the_lever_specs(app):
    from model.core.levers import LEVERS

    controls, _ = app()
    mp = controls.model_params(["Zigong", "Neijiang"])
    for name, spec in LEVERS.items():
        slider = mp[name]
        _, lo, hi, step = spec.slider
        assert (slider.label, slider.min, slider.max, slider.step) == (spec.label, lo, hi, step), name
        assert mp[f"{name}_start"].label == f"{spec.label} from"
        assert spec.unit in mp[f"{name}_on"]["label"]
    assert mp["city"]["values"] == ["Neijiang", "Zigong"]
    # the baseline's Neijiang rent relief (0.7 from 2019) is where the sliders start
    assert (mp["rent_relief"].value, mp["rent_relief_start"].value) == (0.7, 2019)


def test_controls_build_params(app):
    controls, scenario = app("wage_growth_shift = 0.01\n")
    base = controls.scenario_params(str(scenario))
    p = controls.build_params(str(scenario), "Zigong", 0.005, {"talent_apartments": (True, 2000.0, 2006),
                                                               "rent_relief": (False, 0.9, 2005)})
    assert p.wage_growth_shift == pytest.approx(0.015)
    spells = [s for s in p.levers if s.city == "Zigong"]
    assert [(s.lever, s.start, s.end, s.intensity) for s in spells] == [("talent_apartments", 2006, 2007, 2000.0)]
    assert [s for s in p.levers if s.city != "Zigong"] == list(base.levers)


def test_the_page_follows_the_scenarios_focus_city(app):
    from model.app import figures

    controls, scenario = app('focus_city = "Zigong"\n')
    assert controls.DEFAULT_CITY == "Zigong"
    assert controls.DEFAULT_SCENARIO == str(scenario.resolve())  # outside the menu's folder: listed first
    assert controls.SCENARIOS[0] == controls.DEFAULT_SCENARIO and "baseline.toml" in controls.SCENARIOS
    m = controls.AppModel(**controls.control_defaults())
    assert (m.params.focus_city, m.params.reference_cities) == ("Zigong", ("Chengdu", "Chongqing"))
    for _ in range(2):
        m.step()
    assert figures.year_label(m) == "2005 Q2"
    points = controls.observed("Zigong")
    assert points == {}  # targets.toml has no Zigong bands
    titles = {make.__name__: make(m, points).ax.get_title() for make in
              (figures.FocusChart, figures.WageRatioChart, figures.FiscalChart)}
    assert titles == {"FocusChart": "Zigong: SO employment and firms vs observed bands",
                      "WageRatioChart": "SO wage, Zigong / mean of Chengdu, Chongqing",
                      "FiscalChart": "Zigong: policy spending vs tax revenue (cumulative)"}
    fig = figures.MapFigure(m, "SO wage", "Yibin")
    inside = {fig.names[i] for i in fig.inside}
    assert {"Zigong", "Chengdu", "Chongqing"} <= inside
    labelled = {fig.names[i] for _, i, _ in fig.labels}
    assert labelled == {"Zigong", "Chengdu", "Chongqing", "Yibin"}
    assert fig.png(m)[:4] == b"\x89PNG"


def test_observed_bands_come_from_the_targets_file(app):
    controls, _ = app()
    points = controls.observed("Neijiang")
    assert {"firms", "employment", "pay_ratio"} <= set(points)
    assert all(pt["low"] <= pt["high"] for pts in points.values() for pt in pts)
    controls, _ = app(targets=False)
    assert controls.observed("Neijiang") == {}


def test_zoom_box_and_labels():
    from model.app.figures import place_labels, zoom_box

    pos = {"A": (104.0, 30.5), "B": (106.5, 29.5), "C": (105.0, 29.6)}
    x0, x1, y0, y1 = zoom_box(pos, ["A", "B", "C"], aspect=1.15)
    assert x0 < 104.0 - 0.5 and x1 > 106.5 + 0.5 and y0 < 29.5 - 0.5 and y1 > 30.5 + 0.5
    # four cities close together: labels do not overlap one another
    xy = np.array([[100.0, 100.0], [112.0, 100.0], [100.0, 110.0], [112.0, 110.0]])
    sizes = [(40.0, 10.0)] * 4
    spots = place_labels(xy, sizes, (0.0, 0.0, 300.0, 300.0), [0, 1, 2, 3])
    boxes = []
    for (x, y), (w, h), (dx, dy, ha, va) in zip(xy, sizes, spots):
        left = x + dx - {"left": 0, "center": w / 2, "right": w}[ha]
        bottom = y + dy - {"bottom": 0, "center": h / 2, "top": h}[va]
        boxes.append((left, bottom, left + w, bottom + h))
    for i in range(4):
        for j in range(i):
            a, b = boxes[i], boxes[j]
            assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]), (i, j, boxes)
