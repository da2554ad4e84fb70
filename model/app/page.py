"""The browser page: Mesa's SolaraViz with the service-outsourcing model's own components.

Run it with ``outsourcing-abm serve [SCENARIO]`` (``model/app/serve.py``, docs/serve.md), which
tells the page its start scenario, scenario folder and targets file (see ``controls``).

What the page shows (drawn with matplotlib on the server, ``figures``, so the browser needs only
Solara's own front end, which ``solara-assets`` serves locally): a status panel (the quarter in
words, the levers in effect, the focus city's latest numbers), the map, SO employment by region,
the focus city against its observed bands, its SO pay over its reference cities', and its
policy spending against its tax. The focus city and its reference cities are the scenario's
``focus_city`` and ``reference_cities``.

Every browser session (tab) gets its own model: ``Page`` builds the model inside the session's
render context, never at import time, so two tabs never share state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from .controls import NO_SCENARIO, AppModel, control_defaults, model_params, observed
from .sessions import release_on_close
from .figures import (FiscalChart, FocusChart, MapFigure, RegionsChart, WageRatioChart, fmt_int, last,
                      references_words, year_label)


def _tag(text: str, testid: str, tag: str = "span", style: str = "") -> Any:
    return solara.v.Html(tag=tag, attributes={"data-testid": testid, "style": style}, children=[text])


def _chosen_city(model) -> str:
    return model.app_controls.get("city", model.params.focus_city)


def _figure(make, model, *extra) -> None:
    """A live figure as a PNG scaled to its grid cell. The figure object lives as long as the
    model (per session); its PNG is redrawn only when Mesa's update counter moves."""
    counter = update_counter.value
    live = solara.use_memo(lambda: make(model, *extra), [model, *extra])
    png = solara.use_memo(lambda: live.png(model), [counter, model, *extra])
    solara.Image(png, format="png", width="100%")


@solara.component
def StatusPanel(model):
    """Current quarter in words, the chosen city's levers in effect, the focus city's latest numbers."""
    update_counter.get()
    c = model.app_controls
    city = _chosen_city(model)
    p = model.params
    with solara.Column(style={"padding": "8px"}):
        with solara.Row():
            _tag(year_label(model), "oabm-year", "div", "font-size: 2em; font-weight: 600")
        _tag(f"Scenario: {Path(str(c.get('experiment', NO_SCENARIO))).name} - seed {c.get('rng', '')}",
             "oabm-scenario", "div")
        levers = [lv for lv in p.levers if lv.city == city]
        _tag(f"{city} levers in effect: " + ("; ".join(
            f"{lv.lever} {lv.intensity:g} ({lv.start}-{lv.end})" for lv in levers) or "none"),
             "oabm-levers", "div")
        rows = [("SO firms", "focus_firms", "oabm-focus-firms"),
                ("SO employment (persons)", "focus_employment", "oabm-focus-employment"),
                ("policy spending to date (CNY)", "focus_policy_spend", "oabm-focus-spend"),
                ("local tax from SO to date (CNY)", "focus_tax", "oabm-focus-tax")]
        # (no solara.Markdown anywhere: it loads KaTeX from a CDN that solara-assets lacks)
        _tag(f"{p.focus_city}, latest", "oabm-focus-heading", "div", "font-weight: 600; margin-top: 6px")
        for label, col, tid in rows:
            with solara.Row(gap="6px"):
                solara.Text(f"{label}:")
                _tag(fmt_int(last(model, col)), tid)
        with solara.Row(gap="6px"):
            solara.Text(f"SO wage / {references_words(p.reference_cities)}:")
            r = last(model, "focus_wage_ratio")
            _tag("-" if not np.isfinite(r) else f"{r:.3f}", "oabm-focus-wage-ratio")


@solara.component
def CityMap(model):
    update_counter.get()
    colour_by, set_colour_by = solara.use_state("SO wage")
    with solara.Column(gap="0px", style={"width": "100%"}):
        with solara.Row(gap="4px", style={"align-items": "center"}):
            solara.Text("colour:")
            solara.ToggleButtonsSingle(value=colour_by, values=["SO wage", "tier"], on_value=set_colour_by,
                                       dense=True)
        _tag("map", "oabm-map", "div", "display: none")
        _figure(MapFigure, model, colour_by, _chosen_city(model))


def _chart_component(make, testid: str):
    @solara.component
    def Chart(model):
        update_counter.get()
        with solara.Column(gap="0px", style={"width": "100%"}):
            _tag("chart", testid, "div", "display: none")
            _figure(make, model, observed(model.params.focus_city))

    Chart.__name__ = f"Chart_{testid}"
    return Chart


COMPONENTS = [
    (StatusPanel, 0),
    (CityMap, 0),
    (_chart_component(RegionsChart, "oabm-chart-regions"), 0),
    (_chart_component(FocusChart, "oabm-chart-focus"), 0),
    (_chart_component(WageRatioChart, "oabm-chart-wage-ratio"), 0),
    (_chart_component(FiscalChart, "oabm-chart-fiscal"), 0),
]

#: Show every slider's value next to it (Vuetify 2 renders the thumb label hidden until the
#: slider is touched; Mesa's sidebar gives no other read-out of a slider's value).
CSS = """
.v-slider__thumb-label-container { display: block !important; }
.v-slider__thumb-label { transform: translateY(-20%) translateX(-50%) rotate(0deg) !important;
    border-radius: 4px !important; height: 18px !important; width: auto !important;
    min-width: 28px; padding: 0 4px; font-size: 11px; }
.v-slider__thumb-label > * { transform: none !important; }
"""


@solara.component
def Page():
    """One model per browser session: built here, in the session's own render context, and
    released when Solara closes the session."""
    release_on_close()
    model = solara.use_memo(lambda: AppModel(**control_defaults()), [])
    params = solara.use_memo(lambda: model_params(model.city_names), [])
    solara.Style(CSS)
    SolaraViz(
        model,
        components=COMPONENTS,
        model_params=params,
        name="Service outsourcing moving inland",
        play_interval=150,
    )


page = Page
