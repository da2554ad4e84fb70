"""Visual model server: Mesa's SolaraViz page for the service-outsourcing model.

Run it with ``outsourcing-abm serve [SCENARIO]`` (see ``model/serve.py`` and docs/serve.md),
or directly with ``solara run model.app --production``.

What the page shows (all drawn with matplotlib on the server, so the browser only needs
Solara's own front end, which ``solara-assets`` serves locally):

* a map of the city network at the cities' real longitude/latitude: node size by SO
  employment, colour by SO wage or city tier, edges by travel time; Neijiang, Chengdu,
  Chongqing and the chosen city are labelled;
* SO employment share by region over time;
* Neijiang SO firms and employment against the source facts;
* Neijiang/Chengdu SO wage ratio with the 0.70-0.80 band reported for 2021;
* Neijiang policy spending against the tax revenue it brings in.

Controls (sidebar): scenario file, the city whose levers the sliders set, for every policy
lever a toggle "set here" (off = the lever as the scenario file has it), its intensity and
start year, extra wage growth and the random seed; Step / Play / Reset.

Every browser session (tab) gets its own model: ``Page`` builds the model inside the
session's render context, never at import time, so two tabs never share state.
"""

from __future__ import annotations

import importlib
import io
import math
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import solara  # noqa: E402
from PIL import Image  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from mesa.visualization import Slider, SolaraViz  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from model.core.errors import InputError  # noqa: E402
from model.core.levers import LEVERS
from model.core.params import Params, params_from_dict
from model.study.scenarios import read_scenario_dict  # noqa: E402

#: Environment variable naming the scenario file the page starts with (set by ``serve``).
SCENARIO_ENV = "OABM_SCENARIO"
#: Directory whose ``*.toml`` files the scenario menu lists (default: ./experiments).
EXPERIMENTS_ENV = "OABM_EXPERIMENTS_DIR"
#: ``module:Class`` of the model to show (default ``model.model:SOModel``); a seam for tests.
MODEL_ENV = "OABM_APP_MODEL"

NO_SCENARIO = "(parameter defaults)"
DEFAULT_CITY = "Neijiang"
LABELLED_CITIES = ("Neijiang", "Chengdu", "Chongqing")
#: Label placement (points offset, alignment) for the three close-together Sichuan-Chongqing cities.
LABEL_OFFSETS = {"Chengdu": (16, 0, "left", "bottom"), "Chongqing": (6, 16, "right", "bottom"),
                 "Neijiang": (10, 0, "left", "center"), "Zigong": (-6, -5, "right", "top")}
#: Longitude/latitude box of the zoomed Chengdu-Chongqing panel of the map.
ZOOM_BOX = (103.3, 107.2, 28.4, 31.0)
REGION_COLOURS = {"coastal": "#1f77b4", "central": "#ff7f0e", "western": "#2ca02c"}
TIER_COLOURS = {
    "coastal_mega": "#08306b", "coastal_second": "#4292c6", "central": "#fd8d3c",
    "western_hub": "#238b45", "western_secondary": "#a1d99b",
}

def _fact_points() -> dict[str, list[dict[str, Any]]]:
    """Neijiang's source facts (model/facts.py; ids in shared/facts/seed_facts.yaml)."""
    try:
        from model.facts import NEIJIANG_POINTS

        return NEIJIANG_POINTS
    except ImportError:  # pragma: no cover - the model ships facts.py
        return {"firms": [{"year": 2021, "value": 33}],
                "employment": [{"year": 2021, "value": 4500}, {"year": 2023, "value": 7000}],
                "wage_ratio": [{"year": 2021, "value": 0.75, "range": (0.70, 0.80)}]}


FACTS = _fact_points()

#: Slider label, default, min, max, step of each lever's intensity (within LEVERS' allowed range).
LEVER_SLIDERS: dict[str, tuple[str, float, float, float, float]] = {
    "rent_relief": ("Rent relief, share waived", 0.5, 0.0, 1.0, 0.05),
    "relocation_grant": ("Relocation grant, CNY/seat", 5000.0, 0.0, 30000.0, 500.0),
    "talent_subsidy": ("Talent subsidy, CNY/hire", 5000.0, 0.0, 30000.0, 500.0),
    "training_subsidy": ("Training subsidy, CNY/hire", 3000.0, 0.0, 20000.0, 500.0),
    "talent_apartments": ("Talent apartments, units", 2000.0, 0.0, 20000.0, 500.0),
    "park_capacity": ("Park seats at build-out", 20000.0, 0.0, 150000.0, 5000.0),
    "fast_setup": ("Fast set-up, months", 4.0, 1.0, 24.0, 1.0),
    "matching_funds": ("Matching, CNY per national CNY", 1.0, 0.0, 5.0, 0.25),
}


# --------------------------------------------------------------------------------------
# scenario files and the model factory
# --------------------------------------------------------------------------------------
def experiments_dir() -> Path:
    """Where the scenario menu looks for ``*.toml`` files."""
    if os.environ.get(EXPERIMENTS_ENV):
        return Path(os.environ[EXPERIMENTS_ENV])
    if os.environ.get(SCENARIO_ENV):
        return Path(os.environ[SCENARIO_ENV]).resolve().parent
    here = Path.cwd() / "experiments"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "experiments"


def scenario_choices() -> tuple[list[str], str]:
    """(menu entries, default entry). Entries are file names in experiments_dir(), an
    absolute path for a start scenario outside it, and NO_SCENARIO for Params() defaults."""
    folder = experiments_dir()
    names = sorted(p.name for p in folder.glob("*.toml")) if folder.is_dir() else []
    default = "baseline.toml" if "baseline.toml" in names else (names[0] if names else NO_SCENARIO)
    start = os.environ.get(SCENARIO_ENV)
    if start:
        p = Path(start).resolve()
        if p.parent == folder.resolve() and p.name in names:
            default = p.name
        else:
            names.insert(0, str(p))
            default = str(p)
    return names + [NO_SCENARIO], default


def scenario_path(entry: str) -> Path | None:
    if entry == NO_SCENARIO:
        return None
    p = Path(entry)
    return p if p.is_absolute() else experiments_dir() / p


def _scenario_lever(entry: str, city: str, lever: str) -> dict[str, Any] | None:
    try:
        path = scenario_path(entry)
        raw = read_scenario_dict(path) if path is not None else {}
    except InputError:
        return None
    spec = raw.get("levers", {}).get(city, {}).get(lever)
    if isinstance(spec, list):  # several spells ([[levers.City.lever]]): the last one
        spec = spec[-1] if spec else None
    return spec if isinstance(spec, dict) else None


def city_names() -> list[str]:
    try:
        from model.core.data import load_cities

        return sorted(str(c) for c in load_cities().index)
    except Exception:  # noqa: BLE001 - the menu still works with the default city only
        return [DEFAULT_CITY]


def _wage_field() -> str | None:
    """The Params field the 'extra wage growth' slider sets (the model's wage what-if)."""
    names = {f for f in Params.__dataclass_fields__}
    for cand in ("wage_growth_shift", "wage_growth", "city_wage_growth_shift"):
        if cand in names:
            return cand
    return None


def build_params(experiment: str, city: str, wage_growth: float,
                 levers: dict[str, tuple[bool, float, int]]) -> Params:
    """Params of a scenario file with the chosen city's levers set from the sidebar.

    ``levers`` maps a lever name to (set here?, intensity, start year). Levers whose toggle
    is off keep what the scenario file says; a lever set here replaces all of the file's
    spells of that lever in that city and lasts from its start year to the file's last end
    year of that lever (or ``end_year`` when the file has none)."""
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
    field = _wage_field()
    if field is not None and wage_growth:
        raw[field] = float(raw.get(field, 0.0)) + float(wage_growth)
    return params_from_dict(raw)


def _base_model_class() -> type:
    module, _, attr = os.environ.get(MODEL_ENV, "model.core.model:SOModel").partition(":")
    return getattr(importlib.import_module(module), attr or "SOModel")


BaseModel = _base_model_class()
SCENARIOS, DEFAULT_SCENARIO = scenario_choices()
CITIES = city_names()


def _lever_defaults(name: str) -> tuple[float, int]:
    label, value, lo, hi, step = LEVER_SLIDERS.get(name, (name, LEVERS[name].low, LEVERS[name].low,
                                                         min(LEVERS[name].high, 100.0), 1.0))
    start = 2015
    spec = _scenario_lever(DEFAULT_SCENARIO, DEFAULT_CITY, name)
    if spec is not None:
        try:
            value = min(max(float(spec["intensity"]), lo), hi)
            start = int(spec["start"])
        except (KeyError, TypeError, ValueError):
            pass
    return value, start


def control_defaults() -> dict[str, Any]:
    """Default value of every sidebar control (the flat keyword arguments of AppModel)."""
    d: dict[str, Any] = {"experiment": DEFAULT_SCENARIO, "city": DEFAULT_CITY, "wage_growth": 0.0}
    for name in LEVERS:
        value, start = _lever_defaults(name)
        d[f"{name}_on"] = False
        d[name] = value
        d[f"{name}_start"] = start
    d["rng"] = 42
    return d


class AppModel(BaseModel):  # type: ignore[misc, valid-type]
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


def model_params() -> dict[str, Any]:
    """SolaraViz's model_params: the sidebar controls, in this order."""
    d = control_defaults()
    mp: dict[str, Any] = {
        "experiment": {"type": "Select", "value": d["experiment"], "values": SCENARIOS,
                       "label": "Scenario (experiments/*.toml)"},
        "rng": {"type": "InputText", "value": d["rng"], "label": "Random seed"},
        "wage_growth": Slider("Extra wage growth per year", value=0.0, min=-0.03, max=0.03, step=0.005),
        "city": {"type": "Select", "value": d["city"], "values": CITIES,
                 "label": "City whose levers are set below"},
    }
    for name in LEVERS:
        label, _, lo, hi, step = LEVER_SLIDERS.get(
            name, (name, 0.0, LEVERS[name].low, min(LEVERS[name].high, 100.0), 1.0))
        words = name.replace("_", " ")
        mp[f"{name}_on"] = {"type": "Checkbox", "value": False,
                            "label": f"Set {words} here (off: as in scenario)"}
        mp[name] = Slider(label, value=float(d[name]), min=float(lo), max=float(hi), step=float(step))
        mp[f"{name}_start"] = Slider(f"{words[0].upper() + words[1:]} from", value=int(d[f"{name}_start"]),
                                     min=2005, max=2030, step=1)
    return mp


# --------------------------------------------------------------------------------------
# reading the model
# --------------------------------------------------------------------------------------
def year_label(model) -> str:
    """The quarter the model has just simulated, in words ('2012 Q3'); 'start of 2005'
    before the first step (SOModel's first step simulates start_year Q1)."""
    if model.steps == 0:
        return f"start of {model.params.start_year}"
    if hasattr(model, "time_label"):
        return str(model.time_label())
    k = model.steps - 1
    return f"{model.params.start_year + k // 4} Q{k % 4 + 1}"


def city_agents(model) -> dict[Any, Any]:
    """Node id -> city agent on that node of ``model.grid``."""
    out = {}
    for cell in model.grid.all_cells:
        for a in cell.agents:
            if hasattr(a, "so_employment"):
                out[cell.coordinate] = a
                break
    return out


def series(model, col: str) -> np.ndarray | None:
    """All collected values of model reporter ``col`` (None if the model does not collect it)."""
    values = model.datacollector.model_vars.get(col)
    return None if values is None else np.asarray(values, dtype=float)


def last(model, col: str) -> float:
    values = model.datacollector.model_vars.get(col)
    return float(values[-1]) if values else float("nan")


def series_years(model, n: int) -> np.ndarray:
    """Calendar time of each collected row: row 0 is the start state (start_year.0), row k
    the state at the end of the k-th simulated quarter (the model collects once a step)."""
    return float(model.params.start_year) + 0.25 * np.arange(n, dtype=float)


def _fmt_int(x: float) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:,.0f}"


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= x (x > 0)."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    k = 10.0 ** math.floor(math.log10(x))
    return next(m * k for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * k >= x * (1 - 1e-12))


# --------------------------------------------------------------------------------------
# drawing: figures kept across steps, static parts cached (matplotlib blitting)
# --------------------------------------------------------------------------------------
class LiveFigure:
    """A matplotlib figure that lives as long as its model in one browser session.

    Axes, ticks, legends and source facts are drawn once into a cached background; each
    step only the changing ("animated") artists are updated and drawn over it, and the
    result is encoded as PNG. A subclass calls ``invalidate()`` when a static part changes
    (an axis range grows, the colour scale moves), which redraws everything once.
    """

    def __init__(self, fig: Figure):
        self.fig = fig
        self.canvas = FigureCanvasAgg(fig)
        self.animated: list[Any] = []
        self._background = None

    def animate(self, *artists):
        for a in artists:
            a.set_animated(True)
            self.animated.append(a)
        return artists[0] if len(artists) == 1 else artists

    def invalidate(self) -> None:
        self._background = None

    def update(self, model) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def png(self, model) -> bytes:
        self.update(model)
        if self._background is None:
            self.canvas.draw()  # everything but the animated artists
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        else:
            self.canvas.restore_region(self._background)
        for a in self.animated:
            self.fig.draw_artist(a)
        w, h = self.canvas.get_width_height()
        img = Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        img.save(buf, format="png", compress_level=1)
        return buf.getvalue()


def _rail_style(minutes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Edge grey level and width by travel time, on a fixed scale (15 min dark and thick,
    6 h light and thin) so the legend holds for the whole run."""
    r = np.clip(np.log(np.maximum(minutes, 1.0) / 15.0) / math.log(360.0 / 15.0), 0.0, 1.0)
    r = np.where(np.isfinite(r), r, 0.5)
    return [str(0.15 + 0.7 * x) for x in r], 3.0 - 2.5 * r


def _edge_minutes(model, edges) -> np.ndarray:
    """Travel time of each drawn edge in the model's current quarter (the model's all-pairs
    rail times when it has them, so new high-speed links show up), else the edge's minutes."""
    travel, index = getattr(model, "travel", None), getattr(model, "city_index", None)
    out = []
    for u, v, d in edges:
        if travel is not None and index is not None and u in index and v in index:
            out.append(float(travel[index[u], index[v]]))
        else:
            out.append(float(d.get("minutes", np.nan)))
    return np.array(out)


def _wage_limits(w: np.ndarray) -> tuple[float, float]:
    """Colour-scale range for SO wages (thousand CNY/yr), rounded out to tens."""
    w = w[np.isfinite(w)]
    if not len(w):
        return 0.0, 1.0
    lo, hi = 10.0 * math.floor(w.min() / 10.0), 10.0 * math.ceil(w.max() / 10.0)
    return lo, max(hi, lo + 10.0)


class MapFigure(LiveFigure):
    """City network at longitude/latitude: the whole network on the left, the
    Chengdu-Chongqing area (Neijiang's neighbourhood) on the right. Node area by SO
    employment, colour by SO wage or tier, edges by the current rail time."""

    def __init__(self, model, colour_by: str = "SO wage"):
        super().__init__(Figure(figsize=(7.6, 4.3), dpi=100))
        G = model.grid.G
        agents = city_agents(model)
        self.nodes = [n for n in G.nodes if "lon" in G.nodes[n] and "lat" in G.nodes[n]]
        self.agents = [agents.get(n) for n in self.nodes]
        pos = {n: (float(G.nodes[n]["lon"]), float(G.nodes[n]["lat"])) for n in self.nodes}
        names = [str(getattr(a, "name", n)) for n, a in zip(self.nodes, self.agents)]
        self.edges = [(u, v, d) for u, v, d in G.edges(data=True) if u in pos and v in pos]
        self.colour_by = colour_by
        fig = self.fig
        ax = fig.add_axes((0.055, 0.09, 0.52, 0.82))
        zoom = fig.add_axes((0.61, 0.25, 0.38, 0.66))
        aspect = 1.0 / math.cos(math.radians(np.mean([p[1] for p in pos.values()]) if pos else 30.0))
        x0, x1, y0, y1 = ZOOM_BOX
        self.inside = [i for i, n in enumerate(self.nodes) if x0 <= pos[n][0] <= x1 and y0 <= pos[n][1] <= y1]
        inside_nodes = {self.nodes[i] for i in self.inside}
        self.zoom_edges = [k for k, (u, v, _) in enumerate(self.edges) if u in inside_nodes and v in inside_nodes]

        self.minutes = _edge_minutes(model, self.edges)
        colours, widths = _rail_style(self.minutes)
        segs = [(pos[u], pos[v]) for u, v, _ in self.edges]
        self.lines = ax.add_collection(LineCollection(segs, colors=colours, linewidths=widths, alpha=0.8, zorder=1))
        self.zoom_lines = zoom.add_collection(LineCollection(
            [segs[k] for k in self.zoom_edges], colors=[colours[k] for k in self.zoom_edges],
            linewidths=widths[self.zoom_edges], alpha=0.8, zorder=1))
        xy = np.array([pos[n] for n in self.nodes]) if self.nodes else np.zeros((0, 2))
        kw: dict[str, Any] = {"edgecolors": "k", "linewidths": 0.5, "zorder": 3}
        if colour_by == "tier":
            tiers = [TIER_COLOURS.get(str(getattr(a, "tier", "")), "0.5") for a in self.agents]
            self.dots = ax.scatter(xy[:, 0], xy[:, 1], c=tiers, **kw)
            self.zoom_dots = zoom.scatter(xy[self.inside, 0], xy[self.inside, 1],
                                          c=[tiers[i] for i in self.inside], **kw)
            ax.legend(handles=[Line2D([], [], ls="", marker="o", color=c, label=t.replace("_", " "))
                               for t, c in TIER_COLOURS.items()], loc="lower left", fontsize=6.5)
        else:
            self.clim = _wage_limits(self._wages())
            self.dots = ax.scatter(xy[:, 0], xy[:, 1], c=np.zeros(len(xy)), cmap="viridis", **kw)
            self.zoom_dots = zoom.scatter(xy[self.inside, 0], xy[self.inside, 1], c=np.zeros(len(self.inside)),
                                          cmap="viridis", **kw)
            for s in (self.dots, self.zoom_dots):
                s.set_clim(*self.clim)
            cax = fig.add_axes((0.64, 0.1, 0.32, 0.03))
            cb = fig.colorbar(self.dots, cax=cax, orientation="horizontal")
            cb.set_label("SO wage, thousand CNY/yr", fontsize=7)
            cb.ax.tick_params(labelsize=7)
        self.animate(self.dots, self.zoom_dots)
        if colour_by == "tier":  # the tier legend is the axes' legend: keep the rail one as an artist
            ax.add_artist(ax.legend(handles=self._rail_handles(), title="rail time", loc="upper left",
                                    fontsize=7, title_fontsize=7))
        else:
            ax.legend(handles=self._rail_handles(), title="rail time", loc="upper left", fontsize=7,
                      title_fontsize=7)

        ax.margins(0.07)
        ax.autoscale_view()
        ax.set_aspect(aspect, adjustable="datalim")
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="crimson", lw=1, zorder=4))
        zoom.set_xlim(x0, x1)
        zoom.set_ylim(y0, y1)
        zoom.set_aspect(aspect, adjustable="box")
        zoom.set_title("Chengdu-Chongqing area", fontsize=9, color="crimson")
        for a in (ax, zoom):
            a.tick_params(labelsize=7)
        self.title = self.animate(ax.set_title("", fontsize=10))

        chosen = getattr(model, "app_controls", {}).get("city")
        self.labels: list[tuple[Any, int, str]] = []  # (text artist, node index, name) with numbers
        for i in self.inside:
            name = names[i]
            strong = name in LABELLED_CITIES or name == chosen
            dx, dy, ha, va = LABEL_OFFSETS.get(name, (5, 4, "left", "bottom"))
            t = zoom.annotate(name, xy[i], xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                              fontsize=8 if strong else 6.5, fontweight="bold" if strong else "normal",
                              zorder=5, bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none",
                                              "alpha": 0.75})
            if strong:
                self.labels.append((self.animate(t), i, name))
        for i, name in enumerate(names):  # the chosen city, if it lies outside the zoomed area
            if name == chosen and i not in self.inside:
                t = ax.annotate(name, xy[i], xytext=(5, 4), textcoords="offset points", fontsize=8,
                                fontweight="bold", zorder=5)
                self.labels.append((self.animate(t), i, name + " "))

    @staticmethod
    def _rail_handles():
        return [Line2D([], [], color=c, lw=w, label=f"{m:.0f} min")
                for m, c, w in zip((15, 60, 240), *_rail_style(np.array([15.0, 60.0, 240.0])))]

    def _wages(self) -> np.ndarray:
        return np.array([float(getattr(a, "so_wage", np.nan) or np.nan) for a in self.agents]) / 1e3

    def update(self, model) -> None:
        emp = np.array([float(getattr(a, "so_employment", 0.0) or 0.0) for a in self.agents])
        top = emp.max() if len(emp) and emp.max() > 0 else 1.0
        area = np.sqrt(np.clip(emp, 0, None) / top)
        self.dots.set_sizes(10 + 420 * area)
        self.zoom_dots.set_sizes(20 + 1200 * area[self.inside])
        if self.colour_by != "tier":
            w = self._wages()
            lo, hi = self.clim
            ok = w[np.isfinite(w)]
            if len(ok) and (ok.min() < lo or ok.max() > hi):
                self.clim = _wage_limits(w)
                for s in (self.dots, self.zoom_dots):
                    s.set_clim(*self.clim)
                self.invalidate()  # the colour bar moved
            self.dots.set_array(w)
            self.zoom_dots.set_array(w[self.inside])
        minutes = _edge_minutes(model, self.edges)
        if not np.array_equal(minutes, self.minutes, equal_nan=True):  # a new rail link opened
            self.minutes = minutes
            colours, widths = _rail_style(minutes)
            self.lines.set_color(colours)
            self.lines.set_linewidths(widths)
            self.zoom_lines.set_color([colours[k] for k in self.zoom_edges])
            self.zoom_lines.set_linewidths(widths[self.zoom_edges])
            self.invalidate()
        self.title.set_text(f"SO employment by city (area), {year_label(model)}")
        for t, i, name in self.labels:
            t.set_text(f"{name.strip()}\n{_fmt_int(emp[i])}" if not name.endswith(" ")
                       else f"{name.strip()} {_fmt_int(emp[i])}")


class TimeChart(LiveFigure):
    """A time-series chart over the run's years. Lines are redrawn each step; the y range
    starts at ``ylim`` and grows in nice steps when the data outgrow it (a full redraw)."""

    def __init__(self, model, title: str, ylabel: str):
        super().__init__(Figure(figsize=(6.4, 3.6), dpi=100))
        self.fig.subplots_adjust(left=0.11, right=0.89, bottom=0.09, top=0.91)
        ax = self.fig.add_subplot()
        p = model.params
        ax.set_xlim(p.start_year, p.end_year + 1)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        self.ax = ax
        self.series: list[tuple[Any, str, float]] = []  # (line, reporter, divisor)
        self.ranges: dict[Any, list[float]] = {}  # axes -> [bottom, top, growth mode]
        self.missing: list[str] = []

    def line(self, ax, col: str, model, divisor: float = 1.0, **kw):
        (ln,) = ax.plot([], [], **kw)
        if col in model.datacollector.model_vars:
            self.series.append((self.animate(ln), col, divisor))
        else:
            self.missing.append(col)
        return ln

    def y_range(self, ax, bottom: float, top: float, *, grow_bottom: bool = False) -> None:
        self.ranges[ax] = [bottom, top, grow_bottom]
        ax.set_ylim(bottom, top)

    def finish(self) -> None:
        if self.missing:
            self.ax.text(0.5, 0.5, "not collected by the model: " + ", ".join(self.missing), ha="center",
                         va="center", transform=self.ax.transAxes, fontsize=8, color="firebrick")

    def update(self, model) -> None:
        data: dict[Any, list[np.ndarray]] = {}
        for ln, col, div in self.series:
            y = series(model, col) / div
            ln.set_data(series_years(model, len(y)), y)
            data.setdefault(ln.axes, []).append(y[np.isfinite(y)])
        for ax, (bottom, top, grow_bottom) in self.ranges.items():
            ys = np.concatenate(data.get(ax, [])) if data.get(ax) else np.zeros(0)
            if not len(ys):
                continue
            if grow_bottom:  # a ratio: widen to whole tenths both ways
                new_top = top if ys.max() <= top else math.ceil(ys.max() * 10) / 10
                new_bottom = bottom if ys.min() >= bottom else math.floor(ys.min() * 10) / 10
            else:  # a quantity from zero: grow in nice steps
                new_top = top if ys.max() <= top else nice_ceiling(ys.max() * 1.1)
                new_bottom = bottom
            if (new_bottom, new_top) != (bottom, top):
                self.ranges[ax][:2] = [new_bottom, new_top]
                ax.set_ylim(new_bottom, new_top)
                self.invalidate()


class RegionsChart(TimeChart):
    def __init__(self, model):
        super().__init__(model, "SO employment share by region", "share of modelled SO employment")
        for r, colour in REGION_COLOURS.items():
            self.line(self.ax, f"{r}_share", model, color=colour, label=r)
        self.y_range(self.ax, 0.0, 1.0)
        self.ax.legend(fontsize=7, loc="center left")
        self.finish()


class NeijiangChart(TimeChart):
    def __init__(self, model):
        super().__init__(model, "Neijiang: SO employment and firms vs source facts", "SO employment (persons)")
        ax = self.ax
        ax2 = ax.twinx()
        ax2.set_ylabel("SO firms", fontsize=8, color="tab:red")
        ax2.tick_params(labelsize=7, colors="tab:red")
        self.line(ax, "focus_employment", model, color="tab:blue", label="model: city SO employment")
        if "focus_park_staff" in model.datacollector.model_vars:
            self.line(ax, "focus_park_staff", model, color="tab:blue", ls="--", lw=1, label="model: park staff")
        self.line(ax2, "focus_firms", model, color="tab:red", label="model: firms")
        staff, firms = FACTS.get("employment", []), FACTS.get("firms", [])
        # facts are observations during the year: drawn at year + 0.5
        ax.scatter([f["year"] + 0.5 for f in staff], [f["value"] for f in staff], marker="s", color="tab:blue",
                   edgecolors="k", zorder=5, label="fact: park staff (lower bound of city)")
        ax2.scatter([f["year"] + 0.5 for f in firms], [f["value"] for f in firms], marker="D", color="tab:red",
                    edgecolors="k", zorder=5, label="fact: firms of size")
        self.y_range(ax, 0.0, nice_ceiling(1.15 * max([f["value"] for f in staff], default=1000.0)))
        self.y_range(ax2, 0.0, nice_ceiling(1.15 * max([f["value"] for f in firms], default=10.0)))
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
        self.finish()


class WageRatioChart(TimeChart):
    def __init__(self, model):
        super().__init__(model, "SO wage, Neijiang / Chengdu", "ratio")
        for pt in FACTS.get("wage_ratio", []):
            yr = pt["year"]
            lo, hi = pt.get("range", (pt["value"], pt["value"]))
            self.ax.add_patch(Rectangle((yr, lo), 1.0, hi - lo, color="tab:orange", alpha=0.35,
                                        label=f"source {yr}: {lo:.2f}-{hi:.2f}"))
        self.line(self.ax, "focus_wage_ratio", model, color="tab:purple", label="model")
        self.y_range(self.ax, 0.4, 1.2, grow_bottom=True)
        self.ax.legend(fontsize=7, loc="upper left")
        self.finish()


class FiscalChart(TimeChart):
    def __init__(self, model):
        super().__init__(model, "Neijiang: policy spending vs tax revenue (cumulative)", "million CNY since start")
        self.line(self.ax, "focus_policy_spend", model, divisor=1e6, color="tab:red", label="city policy spending")
        self.line(self.ax, "focus_tax", model, divisor=1e6, color="tab:green", label="local tax from SO")
        self.y_range(self.ax, 0.0, 10.0)
        self.ax.legend(fontsize=7, loc="upper left")
        self.finish()


def figure_png(make, model, *extra) -> bytes:
    """PNG of a fresh figure for ``model`` (for scripts; the page keeps its figures live)."""
    return make(model, *extra).png(model)


# --------------------------------------------------------------------------------------
# Solara components (each re-renders when Mesa's update counter moves)
# --------------------------------------------------------------------------------------
def _tag(text: str, testid: str, tag: str = "span", style: str = "") -> Any:
    return solara.v.Html(tag=tag, attributes={"data-testid": testid, "style": style}, children=[text])


def _figure(make, model, *extra) -> None:
    """A live figure as a PNG scaled to its grid cell. The figure object lives as long as the
    model (per session); its PNG is redrawn only when Mesa's update counter moves."""
    counter = update_counter.value
    live = solara.use_memo(lambda: make(model, *extra), [model, *extra])
    png = solara.use_memo(lambda: live.png(model), [counter, model, *extra])
    solara.Image(png, format="png", width="100%")


@solara.component
def StatusPanel(model):
    """Current quarter in words, the chosen city's levers in effect, Neijiang's latest numbers."""
    update_counter.get()
    c = getattr(model, "app_controls", {})
    city = c.get("city", DEFAULT_CITY)
    with solara.Column(style={"padding": "8px"}):
        with solara.Row():
            _tag(year_label(model), "oabm-year", "div", "font-size: 2em; font-weight: 600")
        _tag(f"Scenario: {Path(str(c.get('experiment', NO_SCENARIO))).name} - seed {c.get('rng', '')}",
             "oabm-scenario", "div")
        levers = [lv for lv in model.params.levers if lv.city == city]
        _tag(f"{city} levers in effect: " + ("; ".join(
            f"{lv.lever} {lv.intensity:g} ({lv.start}-{lv.end})" for lv in levers) or "none"),
             "oabm-levers", "div")
        rows = [("SO firms", "focus_firms", "oabm-nj-firms"),
                ("SO employment (persons)", "focus_employment", "oabm-nj-employment"),
                ("policy spending to date (CNY)", "focus_policy_spend", "oabm-nj-spend"),
                ("local tax from SO to date (CNY)", "focus_tax", "oabm-nj-tax")]
        # (no solara.Markdown anywhere: it loads KaTeX from a CDN that solara-assets lacks)
        _tag("Neijiang, latest", "oabm-nj-heading", "div", "font-weight: 600; margin-top: 6px")
        for label, col, tid in rows:
            with solara.Row(gap="6px"):
                solara.Text(f"{label}:")
                _tag(_fmt_int(last(model, col)), tid)
        with solara.Row(gap="6px"):
            solara.Text("SO wage / Chengdu:")
            r = last(model, "focus_wage_ratio")
            _tag("-" if not np.isfinite(r) else f"{r:.3f}", "oabm-nj-wage-ratio")


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
        _figure(MapFigure, model, colour_by)


def _chart_component(make, testid: str):
    @solara.component
    def Chart(model):
        update_counter.get()
        with solara.Column(gap="0px", style={"width": "100%"}):
            _tag("chart", testid, "div", "display: none")
            _figure(make, model)

    Chart.__name__ = f"Chart_{testid}"
    return Chart


COMPONENTS = [
    (StatusPanel, 0),
    (CityMap, 0),
    (_chart_component(RegionsChart, "oabm-chart-regions"), 0),
    (_chart_component(NeijiangChart, "oabm-chart-neijiang"), 0),
    (_chart_component(WageRatioChart, "oabm-chart-wage-ratio"), 0),
    (_chart_component(FiscalChart, "oabm-chart-fiscal"), 0),
]
MODEL_PARAMS = model_params()


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
    """One model per browser session: built here, in the session's own render context."""
    model = solara.use_memo(lambda: AppModel(**control_defaults()), [])
    solara.Style(CSS)
    SolaraViz(
        model,
        components=COMPONENTS,
        model_params=MODEL_PARAMS,
        name="Service outsourcing moving inland",
        play_interval=150,
    )


page = Page
