"""The page's sidebar: scenario menu, lever controls, and the model they build (``AppModel``).

What the server was started with reaches the page through environment variables that
``outsourcing-abm serve`` sets (``model/app/serve.py``; names in ``config.py``):

* ``OABM_SCENARIO``: the start scenario file (its focus city is the page's default city);
* ``OABM_EXPERIMENTS_DIR``: the folder whose ``*.toml`` files the scenario menu lists
  (default: the start scenario's folder);
* ``OABM_TARGETS``: the targets file whose observed bands the charts draw (none when unset).

Controls: scenario file, the city whose levers the sliders set, for every lever a toggle
"set here" (off = the lever as the scenario file has it), its intensity and start year (slider
ranges from ``LEVERS[name].slider``), extra wage growth and the random seed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from mesa.visualization import Slider

from ..core.errors import InputError
from ..core.levers import LEVERS
from ..core.model import SOModel
from ..core.params import Params, params_from_dict
from ..study.scenarios import read_scenario_dict
from ..study.targets import load_targets, observed_points
from .config import EXPERIMENTS_ENV, SCENARIO_ENV, TARGETS_ENV  # noqa: F401 - re-exported for tests

NO_SCENARIO = "(parameter defaults)"
#: Start year a lever set on the page gets when the scenario has no spell of it.
DEFAULT_LEVER_START = 2015
#: Range of the "extra wage growth" slider (per year, added to the scenario's wage_growth_shift).
WAGE_GROWTH_SLIDER = (0.0, -0.03, 0.03, 0.005)


# --------------------------------------------------------------------------------------
# scenario files
# --------------------------------------------------------------------------------------
def experiments_dir() -> Path | None:
    """The folder the scenario menu lists: OABM_EXPERIMENTS_DIR, else the start scenario's folder."""
    if os.environ.get(EXPERIMENTS_ENV):
        return Path(os.environ[EXPERIMENTS_ENV])
    if os.environ.get(SCENARIO_ENV):
        return Path(os.environ[SCENARIO_ENV]).resolve().parent
    return None


def scenario_choices() -> tuple[list[str], str]:
    """(menu entries, default entry). Entries are file names in experiments_dir(), an
    absolute path for a start scenario outside it, and NO_SCENARIO for Params() defaults."""
    folder = experiments_dir()
    names = sorted(p.name for p in folder.glob("*.toml")) if folder is not None and folder.is_dir() else []
    default = "baseline.toml" if "baseline.toml" in names else NO_SCENARIO
    start = os.environ.get(SCENARIO_ENV)
    if start:
        p = Path(start).resolve()
        if folder is not None and p.parent == folder.resolve() and p.name in names:
            default = p.name
        else:
            names.insert(0, str(p))
            default = str(p)
    return names + [NO_SCENARIO], default


def scenario_path(entry: str) -> Path | None:
    if entry == NO_SCENARIO:
        return None
    p = Path(entry)
    if p.is_absolute():
        return p
    folder = experiments_dir()
    if folder is None:
        raise InputError(f"scenario: {entry} is not in a scenario folder (start the page with outsourcing-abm serve)")
    return folder / p


def scenario_params(entry: str) -> Params:
    """The Params a scenario menu entry runs with."""
    path = scenario_path(entry)
    return params_from_dict(read_scenario_dict(path)) if path is not None else Params()


def _scenario_lever(entry: str, city: str, lever: str) -> dict[str, Any] | None:
    """The scenario's (last) spell of ``lever`` in ``city``, as written in the file."""
    path = scenario_path(entry)
    raw = read_scenario_dict(path) if path is not None else {}
    spec = raw.get("levers", {}).get(city, {}).get(lever)
    if isinstance(spec, list):  # several spells ([[levers.City.lever]]): the last one
        spec = spec[-1] if spec else None
    return spec if isinstance(spec, dict) else None


@lru_cache(maxsize=16)
def observed(focus_city: str) -> dict[str, list[dict[str, Any]]]:
    """Observed bands of ``focus_city`` from the targets file in OABM_TARGETS (none when unset)."""
    path = os.environ.get(TARGETS_ENV)
    return observed_points(load_targets(path), focus_city) if path else {}


# --------------------------------------------------------------------------------------
# controls -> Params -> model
# --------------------------------------------------------------------------------------
def build_params(experiment: str, city: str, wage_growth: float,
                 levers: dict[str, tuple[bool, float, int]]) -> Params:
    """Params of a scenario file with the chosen city's levers set from the sidebar.

    ``levers`` maps a lever name to (set here?, intensity, start year). Levers whose toggle
    is off keep what the scenario file says; a lever set here replaces all of the file's
    spells of that lever in that city and lasts from its start year to the file's last end
    year of that lever (or ``end_year`` when the file has none). ``wage_growth`` is added to
    the scenario's ``wage_growth_shift``."""
    path = scenario_path(experiment)
    raw = read_scenario_dict(path) if path is not None else {}
    end_year = int(raw.get("end_year", Params.end_year))
    for name, (on, intensity, start) in levers.items():
        if not on:
            continue
        old = raw.get("levers", {}).get(city, {}).get(name)
        spells = old if isinstance(old, list) else [old]
        ends = [int(sp["end"]) for sp in spells if isinstance(sp, dict) and "end" in sp]
        end = max(ends) if ends else end_year
        raw.setdefault("levers", {}).setdefault(city, {})[name] = {
            "start": int(start), "end": max(int(end), int(start)), "intensity": float(intensity)}
    if wage_growth:
        raw["wage_growth_shift"] = float(raw.get("wage_growth_shift", 0.0)) + float(wage_growth)
    return params_from_dict(raw)


SCENARIOS, DEFAULT_SCENARIO = scenario_choices()
#: The page's default city: the start scenario's focus city.
DEFAULT_CITY = scenario_params(DEFAULT_SCENARIO).focus_city


def _lever_defaults(name: str) -> tuple[float, int]:
    """Slider start values of a lever: the start scenario's spell in the default city, else
    the lever's slider default."""
    value, lo, hi, _ = LEVERS[name].slider
    start = DEFAULT_LEVER_START
    spec = _scenario_lever(DEFAULT_SCENARIO, DEFAULT_CITY, name)
    if spec is not None and "intensity" in spec:
        value = min(max(float(spec["intensity"]), lo), hi)
        start = int(spec.get("start", start))
    return value, start


def control_defaults() -> dict[str, Any]:
    """Default value of every sidebar control (the flat keyword arguments of AppModel)."""
    d: dict[str, Any] = {"experiment": DEFAULT_SCENARIO, "city": DEFAULT_CITY, "wage_growth": WAGE_GROWTH_SLIDER[0]}
    for name in LEVERS:
        value, start = _lever_defaults(name)
        d[f"{name}_on"] = False
        d[name] = value
        d[f"{name}_start"] = start
    d["rng"] = 42
    return d


class AppModel(SOModel):
    """The model built from the sidebar's flat controls.

    SolaraViz re-creates the model on Reset as ``type(model)(**controls)``, so this thin
    subclass turns the flat slider values into a ``Params`` and hands them to the model.
    Keywords: ``experiment`` (scenario menu entry), ``city``, ``wage_growth``, for every
    lever ``<lever>_on``, ``<lever>`` (intensity) and ``<lever>_start``, and ``rng``.
    """

    def __init__(self, rng: Any = 42, **controls: Any) -> None:
        # Mesa's Reset adds a ``scenario`` (mesa.experimental Scenario) to any model whose
        # __init__ takes **kwargs; our scenarios are files, so drop it.
        controls.pop("scenario", None)
        values = control_defaults()
        unknown = set(controls) - set(values)
        if unknown:
            raise TypeError(f"AppModel: unknown control(s) {sorted(unknown)}")
        values.update(controls)
        values.pop("rng")
        try:
            seed = int(float(str(rng).strip()))
        except ValueError:
            raise InputError(f"seed: expected a whole number, got {rng!r}") from None
        levers = {n: (bool(values[f"{n}_on"]), float(values[n]), int(values[f"{n}_start"])) for n in LEVERS}
        params = build_params(values["experiment"], values["city"], float(values["wage_growth"]), levers)
        self.app_controls = {**values, "rng": seed}
        super().__init__(rng=seed, params=params)


def model_params(cities: list[str]) -> dict[str, Any]:
    """SolaraViz's model_params: the sidebar controls, in this order."""
    d = control_defaults()
    value, lo, hi, step = WAGE_GROWTH_SLIDER
    mp: dict[str, Any] = {
        "experiment": {"type": "Select", "value": d["experiment"], "values": SCENARIOS,
                       "label": "Scenario (experiments/*.toml)"},
        "rng": {"type": "InputText", "value": d["rng"], "label": "Random seed"},
        "wage_growth": Slider("Extra wage growth per year", value=value, min=lo, max=hi, step=step),
        "city": {"type": "Select", "value": d["city"], "values": sorted(cities),
                 "label": "City whose levers are set below"},
    }
    for name, spec in LEVERS.items():
        _, lo, hi, step = spec.slider
        mp[f"{name}_on"] = {"type": "Checkbox", "value": False,
                            "label": f"Set {spec.label.lower()} here, {spec.unit} (off: as in scenario)"}
        mp[name] = Slider(spec.label, value=float(d[name]), min=float(lo), max=float(hi), step=float(step))
        mp[f"{name}_start"] = Slider(f"{spec.label} from", value=int(d[f"{name}_start"]), min=2005, max=2030, step=1)
    return mp
