"""The page's figures: matplotlib figures that live as long as their model in one browser session.

* ``MapFigure``: the city network at the cities' real longitude/latitude, with a zoomed panel
  around the focus city and its reference cities (the box is computed from their coordinates);
* ``RegionsChart``: SO employment share by region;
* ``FocusChart``: the focus city's SO employment and firms against its observed bands;
* ``WageRatioChart``: the focus city's SO pay over its reference cities' mean, with the observed band;
* ``FiscalChart``: the focus city's policy spending against the tax it brings in.

Which city is the focus, and which are its references, is read from ``model.params``
(``focus_city``, ``reference_cities``); observed bands come in as ``points`` (panel column ->
``[{year, low, high, label}]``, see ``model.study.targets.observed_points``).
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ..core.clock import STEPS_PER_YEAR, quarter_label  # noqa: E402
from ..figures import REGION_COLOURS  # noqa: E402

Points = dict[str, list[dict[str, Any]]]

TIER_COLOURS = {
    "coastal_mega": "#08306b", "coastal_second": "#4292c6", "central": "#fd8d3c",
    "western_hub": "#238b45", "western_secondary": "#a1d99b",
}
#: Margin of the zoomed map panel around the focus and reference cities (degrees), and the
#: smallest side the panel shows (degrees), so that close neighbours still fit.
ZOOM_MARGIN, ZOOM_MIN_SIDE = 0.9, 2.5


# --------------------------------------------------------------------------------------
# reading the model
# --------------------------------------------------------------------------------------
def year_label(model) -> str:
    """The quarter the model has just simulated, in words ('2012 Q3'; 'start of 2005' before
    the first step)."""
    return quarter_label(model.steps, model.params.start_year)


def references_words(refs) -> str:
    """'A' for one reference city A, 'mean of A, B' for several."""
    refs = list(refs)
    return refs[0] if len(refs) == 1 else "mean of " + ", ".join(refs)


def city_agents(model) -> dict[Any, Any]:
    """Node id -> the city agent on that node of ``model.grid`` (one per cell)."""
    return {cell.coordinate: cell.agents[0] for cell in model.grid.all_cells if cell.agents}


def series(model, col: str) -> np.ndarray:
    """All collected values of model reporter ``col``."""
    return np.asarray(model.datacollector.model_vars[col], dtype=float)


def last(model, col: str) -> float:
    values = model.datacollector.model_vars[col]
    return float(values[-1]) if values else float("nan")


def series_years(model, n: int) -> np.ndarray:
    """Calendar time of each collected row: row 0 is the initial state (start_year.0), row k
    the state at the end of the k-th simulated quarter (the model collects once a step)."""
    return float(model.params.start_year) + np.arange(n, dtype=float) / STEPS_PER_YEAR


def fmt_int(x: float) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:,.0f}"


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= x (x > 0)."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    k = 10.0 ** math.floor(math.log10(x))
    return next(m * k for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * k >= x * (1 - 1e-12))


# --------------------------------------------------------------------------------------
# figures kept across steps, static parts cached (matplotlib blitting)
# --------------------------------------------------------------------------------------
class LiveFigure:
    """A matplotlib figure that lives as long as its model in one browser session.

    Axes, ticks, legends and observed bands are drawn once into a cached background; each
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


# --------------------------------------------------------------------------------------
# the map
# --------------------------------------------------------------------------------------
def _rail_style(minutes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Edge grey level and width by travel time, on a fixed scale (15 min dark and thick,
    6 h light and thin) so the legend holds for the whole run."""
    r = np.clip(np.log(np.maximum(minutes, 1.0) / 15.0) / math.log(360.0 / 15.0), 0.0, 1.0)
    r = np.where(np.isfinite(r), r, 0.5)
    return [str(0.15 + 0.7 * x) for x in r], 3.0 - 2.5 * r


def _edge_minutes(model, edges) -> np.ndarray:
    """Rail time of each drawn edge in the model's current quarter (the model's all-pairs
    times, so new high-speed links show up)."""
    index = model.city_index
    return np.array([float(model.travel[index[u], index[v]]) for u, v, _ in edges])


def _wage_limits(w: np.ndarray) -> tuple[float, float]:
    """Colour-scale range for SO wages (thousand CNY/yr), rounded out to tens."""
    w = w[np.isfinite(w)]
    if not len(w):
        return 0.0, 1.0
    lo, hi = 10.0 * math.floor(w.min() / 10.0), 10.0 * math.ceil(w.max() / 10.0)
    return lo, max(hi, lo + 10.0)


def zoom_box(pos: dict[Any, tuple[float, float]], cities, aspect: float) -> tuple[float, float, float, float]:
    """(lon0, lon1, lat0, lat1) around ``cities``: their extent plus ZOOM_MARGIN, at least
    ZOOM_MIN_SIDE a side, widened to a roughly square panel on screen (``aspect`` = screen units
    per degree of latitude over those per degree of longitude)."""
    lon = [pos[c][0] for c in cities]
    lat = [pos[c][1] for c in cities]
    x0, x1 = min(lon) - ZOOM_MARGIN, max(lon) + ZOOM_MARGIN
    y0, y1 = min(lat) - ZOOM_MARGIN, max(lat) + ZOOM_MARGIN
    w = max(x1 - x0, ZOOM_MIN_SIDE, 0.8 * (y1 - y0) * aspect)
    h = max(y1 - y0, ZOOM_MIN_SIDE / aspect, 0.8 * (x1 - x0) / aspect)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


#: Label positions tried around a city, in order of preference: offset (points), alignment.
_LABEL_SPOTS = [(8, 0, "left", "center"), (6, 6, "left", "bottom"), (-6, 6, "right", "bottom"),
                (6, -6, "left", "top"), (-6, -6, "right", "top"), (-8, 0, "right", "center"),
                (0, 9, "center", "bottom"), (0, -9, "center", "top")]


def place_labels(xy: np.ndarray, sizes: list[tuple[float, float]], bounds: tuple[float, float, float, float],
                 order: list[int]) -> list[tuple[float, float, str, str]]:
    """Label positions that keep labels off each other, off other cities and inside ``bounds``.

    ``xy``: the cities' positions on screen (points); ``sizes``: each label's (width, height) in
    points; ``bounds``: (x0, y0, x1, y1) of the panel in points. Cities are placed greedily in
    ``order``, each at the first of ``_LABEL_SPOTS`` with the least overlap."""
    placed: list[tuple[float, float, float, float]] = []
    out: list[tuple[float, float, str, str]] = [_LABEL_SPOTS[0]] * len(xy)
    bx0, by0, bx1, by1 = bounds

    def box(i, spot):
        (x, y), (w, h), (dx, dy, ha, va) = xy[i], sizes[i], spot
        left = x + dx - {"left": 0.0, "center": w / 2, "right": w}[ha]
        bottom = y + dy - {"bottom": 0.0, "center": h / 2, "top": h}[va]
        return left, bottom, left + w, bottom + h

    def overlap(a, b):
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    for i in order:
        best, best_cost = _LABEL_SPOTS[0], math.inf
        for spot in _LABEL_SPOTS:
            b = box(i, spot)
            cost = sum(overlap(b, p) for p in placed)
            cost += sum(overlap(b, (x - 5, y - 5, x + 5, y + 5)) for j, (x, y) in enumerate(xy) if j != i)
            inside = (max(0.0, min(b[2], bx1) - max(b[0], bx0)) * max(0.0, min(b[3], by1) - max(b[1], by0)))
            cost += 2.0 * ((b[2] - b[0]) * (b[3] - b[1]) - inside)  # what sticks out of the panel
            if cost < best_cost - 1e-9:
                best, best_cost = spot, cost
        out[i] = best
        placed.append(box(i, best))
    return out


class MapFigure(LiveFigure):
    """City network at longitude/latitude: the whole network on the left, the area around the
    focus city and its reference cities on the right. Node area by SO employment, colour by
    SO wage or tier, edges by the current rail time. The focus city, its reference cities and
    ``chosen`` (the city whose levers the sidebar sets) are labelled with their SO employment."""

    def __init__(self, model, colour_by: str = "SO wage", chosen: str | None = None):
        super().__init__(Figure(figsize=(7.6, 4.3), dpi=100))
        G = model.grid.G
        agents = city_agents(model)
        self.nodes = list(G.nodes)
        self.agents = [agents[n] for n in self.nodes]
        pos = {n: (float(G.nodes[n]["lon"]), float(G.nodes[n]["lat"])) for n in self.nodes}
        names = [str(a.name) for a in self.agents]
        self.edges = list(G.edges(data=True))
        self.colour_by = colour_by
        p = model.params
        marked = [p.focus_city, *p.reference_cities]
        strong_names = set(marked) | ({chosen} if chosen else set())
        fig = self.fig
        ax = fig.add_axes((0.055, 0.09, 0.52, 0.82))
        zoom = fig.add_axes((0.61, 0.25, 0.38, 0.66))
        aspect = 1.0 / math.cos(math.radians(np.mean([q[1] for q in pos.values()])))
        x0, x1, y0, y1 = zoom_box(pos, marked, aspect)
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
        xy = np.array([pos[n] for n in self.nodes])
        kw: dict[str, Any] = {"edgecolors": "k", "linewidths": 0.5, "zorder": 3}
        if colour_by == "tier":
            tiers = [TIER_COLOURS.get(str(a.tier), "0.5") for a in self.agents]
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
        rail = ax.legend(handles=self._rail_handles(), title="rail time", loc="upper left", fontsize=7,
                         title_fontsize=7)
        if colour_by == "tier":  # the tier legend is the axes' legend: keep the rail one as an artist
            ax.add_artist(rail)

        ax.margins(0.07)
        ax.autoscale_view()
        ax.set_aspect(aspect, adjustable="datalim")
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="crimson", lw=1, zorder=4))
        zoom.set_xlim(x0, x1)
        zoom.set_ylim(y0, y1)
        zoom.set_aspect(aspect, adjustable="box")
        zoom.set_title(f"around {p.focus_city}", fontsize=9, color="crimson")
        for a in (ax, zoom):
            a.tick_params(labelsize=7)
        self.title = self.animate(ax.set_title("", fontsize=10))

        self.labels: list[tuple[Any, int, str]] = []  # (text artist, node index, format) with numbers
        zoom.apply_aspect()
        to_points = 72.0 / fig.dpi
        screen = zoom.transData.transform(xy[self.inside]) * to_points if self.inside else np.zeros((0, 2))
        ext = zoom.get_window_extent()
        strong = [names[i] in strong_names for i in self.inside]
        # strong labels: a name and a number below it, in 8 pt bold; the others: a name in 6.5 pt
        sizes = [(5.6 * max(len(names[i]), 7) + 4, 22.0) if st else (3.9 * len(names[i]) + 4, 10.0)
                 for i, st in zip(self.inside, strong)]
        order = sorted(range(len(self.inside)), key=lambda k: (not strong[k], k))
        spots = place_labels(screen, sizes, (ext.x0 * to_points, ext.y0 * to_points, ext.x1 * to_points,
                                             ext.y1 * to_points), order)
        for k, i in enumerate(self.inside):
            dx, dy, ha, va = spots[k]
            t = zoom.annotate(names[i], xy[i], xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                              fontsize=8 if strong[k] else 6.5, fontweight="bold" if strong[k] else "normal",
                              zorder=5, bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none",
                                              "alpha": 0.75})
            if strong[k]:
                self.labels.append((self.animate(t), i, "{name}\n{n}"))
        for i, name in enumerate(names):  # a labelled city outside the zoomed area
            if name in strong_names and i not in self.inside:
                t = ax.annotate(name, xy[i], xytext=(5, 4), textcoords="offset points", fontsize=8,
                                fontweight="bold", zorder=5)
                self.labels.append((self.animate(t), i, "{name} {n}"))
        self.names = names

    @staticmethod
    def _rail_handles():
        return [Line2D([], [], color=c, lw=w, label=f"{m:.0f} min")
                for m, c, w in zip((15, 60, 240), *_rail_style(np.array([15.0, 60.0, 240.0])))]

    def _wages(self) -> np.ndarray:
        return np.array([float(a.so_wage) for a in self.agents]) / 1e3

    def update(self, model) -> None:
        emp = np.array([float(a.so_employment) for a in self.agents])
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
        for t, i, fmt in self.labels:
            t.set_text(fmt.format(name=self.names[i], n=fmt_int(emp[i])))


# --------------------------------------------------------------------------------------
# time charts
# --------------------------------------------------------------------------------------
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

    def line(self, ax, col: str, divisor: float = 1.0, **kw):
        (ln,) = ax.plot([], [], **kw)
        self.series.append((self.animate(ln), col, divisor))
        return ln

    def y_range(self, ax, bottom: float, top: float, *, grow_bottom: bool = False) -> None:
        self.ranges[ax] = [bottom, top, grow_bottom]
        ax.set_ylim(bottom, top)

    def update(self, model) -> None:
        data: dict[Any, list[np.ndarray]] = {}
        for ln, col, div in self.series:
            y = series(model, col) / div
            ln.set_data(series_years(model, len(y)), y)
            data.setdefault(ln.axes, []).append(y[np.isfinite(y)])
        for ax, (bottom, top, grow_bottom) in self.ranges.items():
            ys = np.concatenate(data[ax]) if data.get(ax) else np.zeros(0)
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


def _bands(ax, points: list[dict[str, Any]], at: float = 0.5, **kw) -> None:
    """Observed bands as vertical bars during their year (drawn at year + ``at``)."""
    if not points:
        return
    x = [pt["year"] + at for pt in points]
    mid = [0.5 * (pt["low"] + pt["high"]) for pt in points]
    err = [[m - pt["low"] for m, pt in zip(mid, points)], [pt["high"] - m for m, pt in zip(mid, points)]]
    ax.errorbar(x, mid, yerr=err, fmt="none", capsize=4, lw=2, zorder=5, **kw)


class RegionsChart(TimeChart):
    def __init__(self, model, points: Points | None = None):
        super().__init__(model, "SO employment share by region", "share of modelled SO employment")
        for r, colour in REGION_COLOURS.items():
            self.line(self.ax, f"{r}_share", color=colour, label=r)
        self.y_range(self.ax, 0.0, 1.0)
        self.ax.legend(fontsize=7, loc="center left")


class FocusChart(TimeChart):
    """The focus city's SO employment (and park staff) and firms, with the observed bands."""

    def __init__(self, model, points: Points | None = None):
        points = points or {}
        focus = model.params.focus_city
        super().__init__(model, f"{focus}: SO employment and firms vs observed bands", "SO employment (persons)")
        ax = self.ax
        ax2 = ax.twinx()
        ax2.set_ylabel("SO firms", fontsize=8, color="tab:red")
        ax2.tick_params(labelsize=7, colors="tab:red")
        self.line(ax, "focus_employment", color="tab:blue", label="model: city SO employment")
        self.line(ax, "focus_park_staff", color="tab:blue", ls="--", lw=1, label="model: park staff")
        self.line(ax2, "focus_firms", color="tab:red", label="model: firms")
        staff, firms = points.get("employment", []), points.get("firms", [])
        _bands(ax, staff, 0.3, color="tab:blue", label="observed: SO / park staff (band)")
        _bands(ax2, firms, 0.7, color="tab:red", label="observed: firms (band)")
        self.y_range(ax, 0.0, nice_ceiling(1.15 * max([pt["high"] for pt in staff], default=1000.0)))
        self.y_range(ax2, 0.0, nice_ceiling(1.15 * max([pt["high"] for pt in firms], default=10.0)))
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")


class WageRatioChart(TimeChart):
    """The focus city's SO pay over its reference cities' mean, with the observed bands."""

    def __init__(self, model, points: Points | None = None):
        p = model.params
        super().__init__(model, f"SO wage, {p.focus_city} / {references_words(p.reference_cities)}", "ratio")
        for pt in (points or {}).get("pay_ratio", []):
            yr, lo, hi = pt["year"], pt["low"], pt["high"]
            self.ax.add_patch(Rectangle((yr, lo), 1.0, hi - lo, color="tab:orange", alpha=0.35,
                                        label=f"observed {yr}: {lo:.2f}-{hi:.2f}"))
        self.line(self.ax, "focus_wage_ratio", color="tab:purple", label="model")
        self.y_range(self.ax, 0.4, 1.2, grow_bottom=True)
        self.ax.legend(fontsize=7, loc="upper left")


class FiscalChart(TimeChart):
    def __init__(self, model, points: Points | None = None):
        focus = model.params.focus_city
        super().__init__(model, f"{focus}: policy spending vs tax revenue (cumulative)", "million CNY since start")
        self.line(self.ax, "focus_policy_spend", divisor=1e6, color="tab:red", label="city policy spending")
        self.line(self.ax, "focus_tax", divisor=1e6, color="tab:green", label="local tax from SO")
        self.y_range(self.ax, 0.0, 10.0)
        self.ax.legend(fontsize=7, loc="upper left")


def figure_png(make, model, *extra) -> bytes:
    """PNG of a fresh figure for ``model`` (for scripts; the page keeps its figures live)."""
    return make(model, *extra).png(model)
