"""Design files: what runs a sweep makes.

A *design* (TOML) names a base scenario, the parameters it varies and how (full factorial, Latin
hypercube, Sobol or Morris samples, or explicit "arms"), and the number of replications.
``load_design`` reads and checks it and builds (so validates) every design point's parameters
before any run starts; any problem is one InputError naming the field. Its size is computed first,
from the file alone, and a design of more than ``max_runs`` runs is refused before anything is
built.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..core.errors import InputError, shorten
from ..core.params import Params
from .checks import check_key, flatten, fmt_value, is_int_key, positive_int
from .inputs import PATH_MAX, read_toml
from .samplers import (SAMPLERS, factorial_levels, level_count, sample, sample_count, sampler_specs,
                       section)
from .scenarios import apply_overrides, params_from_raw, read_scenario_dict
from .seeds import design_seeds

METHODS = ("factorial", "lhs", "sobol", "morris", "arms")
TOP_KEYS = {"name", "description", "scenario", "method", "replications", "root_seed",
            "common_random_numbers", "fixed", "parameters", "arms", "lhs", "sobol", "morris",
            "metrics", "report"}
#: Largest design (points x replications) run without being asked (``max_runs`` raises it).
MAX_RUNS = 1_000_000
ARM_KEYS = {"label", "group", "scenario", "set", "vary", "compare_to", "description"}


@dataclass(frozen=True)
class Run:
    """One (design point, replication) pair with its seed and full parameters."""

    run_id: str
    point: int
    replication: int
    seed: int
    params: Params


@dataclass(frozen=True)
class Point:
    index: int
    arm: str
    group: str
    scenario: str            # scenario file name as written in the design
    values: dict[str, Any]   # the varied parameters' values at this point
    overrides: tuple[str, ...]  # every key=value applied on top of the scenario


@dataclass
class Design:
    path: Path
    name: str
    description: str
    method: str
    scenario: str
    replications: int
    root_seed: int
    common_random_numbers: bool
    fixed: dict[str, Any]
    varied: list[str]                  # parameter columns, in design order
    points: list[Point]
    raw: dict[str, Any]
    cli_overrides: tuple[str, ...] = ()
    problem: dict[str, Any] | None = None     # SALib problem (sobol/morris/lhs)
    sample: np.ndarray | None = None          # unrounded sample matrix, one row per point
    options: dict[str, Any] = field(default_factory=dict)   # the method's section
    base: Params | None = None
    point_params: list[Params] = field(default_factory=list, repr=False)
    digest_cache: str = field(default="", repr=False)

    @property
    def n_runs(self) -> int:
        return len(self.points) * self.replications

    def seeds(self) -> np.ndarray:
        """Seed of every run, shape (points, replications)."""
        return design_seeds(self.root_seed, len(self.points), self.replications,
                            self.common_random_numbers)

    def runs(self) -> list[Run]:
        seeds = self.seeds()
        return [Run(run_id(p.index, r), p.index, r, int(seeds[p.index, r]), self.point_params[p.index])
                for p in self.points for r in range(self.replications)]

    def params_of(self, point: int) -> Params:
        return self.point_params[point]

    @property
    def digest(self) -> str:
        """Hash of what decides each run's result: every point's parameters and the seeding.

        The number of replications is left out on purpose: seeds depend only on (point,
        replication), so a finished sweep can be extended with ``--resume --replications``."""
        if not self.digest_cache:
            h = hashlib.sha256()
            h.update(json.dumps([self.root_seed, self.common_random_numbers]).encode())
            for p in self.points:
                h.update(json.dumps(self.point_params[p.index].to_dict(), sort_keys=True).encode())
            self.digest_cache = h.hexdigest()
        return self.digest_cache

    def point_table(self) -> list[dict[str, Any]]:
        return [{"point": p.index, "arm": p.arm, "group": p.group, "scenario": p.scenario,
                 "values": p.values, "overrides": list(p.overrides)} for p in self.points]


def run_id(point: int, replication: int) -> str:
    return f"p{point:06d}-r{replication:03d}"


# ---------------------------------------------------------------------------------------
# Reading a design
# ---------------------------------------------------------------------------------------

@dataclass
class _Header:
    name: str
    description: str
    method: str
    replications: int
    root_seed: int
    crn: bool
    scenario: str


def _header(raw: dict[str, Any], path: Path, method: str | None, replications: int | None) -> _Header:
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise InputError(f"{shorten(sorted(unknown)[0])}: unknown design key (allowed: {', '.join(sorted(TOP_KEYS))})")
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InputError(f"name: expected letters, digits, '_', '-' or '.', got {shorten(repr(name))}")
    meth = method or raw.get("method")
    if meth is None:
        raise InputError(f"method: missing (allowed: {', '.join(METHODS)})")
    if meth not in METHODS:
        raise InputError(f"method: unknown method {shorten(repr(meth))} (allowed: {', '.join(METHODS)})")
    reps = raw.get("replications") if replications is None else replications
    if reps is None:
        raise InputError("replications: missing (allowed: a whole number of at least 1)")
    reps = positive_int("replications", reps)
    root_seed = raw.get("root_seed")
    if root_seed is None:
        raise InputError("root_seed: missing (allowed: a whole number 0 to 2^63-1)")
    if isinstance(root_seed, bool) or not isinstance(root_seed, int) or not 0 <= root_seed < 2**63:
        raise InputError(f"root_seed: expected a whole number 0 to 2^63-1, got {shorten(repr(root_seed))}")
    crn = raw.get("common_random_numbers", False)
    if not isinstance(crn, bool):
        raise InputError(f"common_random_numbers: expected true or false, got {shorten(repr(crn))}")
    scenario = raw.get("scenario")
    if not isinstance(scenario, str) or not scenario:
        raise InputError("scenario: missing (the base scenario file, relative to the design file)")
    return _Header(name, str(raw.get("description", "")), meth, reps, root_seed, crn, scenario)


def _fixed(raw: dict[str, Any], cities: set[str] | None) -> dict[str, Any]:
    fixed_raw = raw.get("fixed", {})
    if not isinstance(fixed_raw, dict):
        raise InputError("fixed: expected a table [fixed]")
    fixed = flatten("", fixed_raw)
    for k in fixed:
        check_key(f"fixed.{shorten(k)}", k, cities)
    return fixed


def _cli_overrides(overrides: Iterable[str], cities: set[str] | None) -> dict[str, str]:
    cli: dict[str, str] = {}
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set: expected key=value, got {shorten(repr(item))}")
        k, v = (s.strip() for s in item.split("=", 1))
        check_key(f"--set {shorten(k)}", k, cities)
        cli[k] = v
    return cli


def _arms(raw: dict[str, Any]) -> list[Any]:
    arms = raw.get("arms")
    if not isinstance(arms, list) or not arms:
        raise InputError("arms: missing (method \"arms\" needs one or more [[arms]] tables)")
    return arms


def design_points(raw: dict[str, Any], method: str) -> int:
    """Number of design points the file asks for, computed without building any (a malformed
    part counts as small here; reading the design reports it)."""
    params_raw = raw.get("parameters", {})
    params_raw = params_raw if isinstance(params_raw, dict) else {}
    if method == "factorial":
        return math.prod(level_count(spec) for spec in params_raw.values())
    if method == "arms":
        arms = raw.get("arms") if isinstance(raw.get("arms"), list) else []
        return sum(math.prod(level_count(spec) for spec in (a.get("vary") or {}).values())
                   if isinstance(a, dict) and isinstance(a.get("vary", {}), dict) else 1 for a in arms)
    opts = raw.get(method, {})
    return sample_count(method, len(params_raw), opts if isinstance(opts, dict) else {})


def check_size(raw: dict[str, Any], method: str, replications: int, max_runs: int) -> int:
    """The design's number of runs, or an InputError if it is over ``max_runs``."""
    points = design_points(raw, method)
    runs = points * replications
    if runs > max_runs:
        raise InputError(f"design: {runs:,} runs ({points:,} points x {replications:,} replications) is over "
                         f"the limit of {max_runs:,} runs (raise it with --max-runs if you mean it)")
    return runs


class _Points:
    """Collects design points: each point's overrides are the design's [fixed], then its arm's
    ``set``, then the command line's --set, then the point's varied values."""

    def __init__(self, fixed: dict[str, Any], cli: dict[str, str]):
        self.fixed, self.cli = fixed, cli
        self.points: list[Point] = []
        self.varied: list[str] = []

    def vary(self, key: str) -> None:
        if key not in self.varied:
            self.varied.append(key)

    def add(self, arm: str, group: str, scenario: str, base_set: dict[str, Any], values: dict[str, Any]) -> None:
        merged = dict(self.fixed)
        merged.update(base_set)
        for k in self.cli:
            if k in values:
                raise InputError(f"--set {k}: this parameter is varied by the design (drop it from --set)")
        merged.update(self.cli)
        merged.update(values)
        ov = tuple(f"{k}={fmt_value(v)}" for k, v in merged.items())
        self.points.append(Point(len(self.points), arm, group, scenario, dict(values), ov))


def _arm_points(raw: dict[str, Any], scenario: str, cities: set[str] | None, pts: _Points) -> None:
    if raw.get("parameters"):
        raise InputError("parameters: not used with method = \"arms\" (put vary tables in each [[arms]])")
    labels: set[str] = set()
    for i, arm in enumerate(_arms(raw)):
        where = f"arms[{i}]"
        if not isinstance(arm, dict):
            raise InputError(f"{where}: expected a table [[arms]]")
        unknown = set(arm) - ARM_KEYS
        if unknown:
            raise InputError(f"{where}.{shorten(sorted(unknown)[0])}: unknown key (allowed: {', '.join(sorted(ARM_KEYS))})")
        label = arm.get("label")
        if not isinstance(label, str) or not label:
            raise InputError(f"{where}.label: missing (every arm needs a unique label)")
        if label in labels:
            raise InputError(f"{where}.label: {shorten(repr(label))} used twice (labels must be unique)")
        labels.add(label)
        where = f"arms.{shorten(label)}"
        group = arm.get("group", "arm")
        if not isinstance(group, str):
            raise InputError(f"{where}.group: expected text, got {shorten(repr(group))}")
        sc = arm.get("scenario", scenario)
        if not isinstance(sc, str):
            raise InputError(f"{where}.scenario: expected a file name, got {shorten(repr(sc))}")
        aset = flatten("", arm.get("set", {}))
        for k in aset:
            check_key(f"{where}.set.{shorten(k)}", k, cities)
        vary = arm.get("vary", {})
        if not isinstance(vary, dict):
            raise InputError(f"{where}.vary: expected a table of parameter = [values]")
        for values in _grid(f"{where}.vary", vary, cities, pts):
            pts.add(label, group, sc, aset, values)


def _grid(where: str, specs: dict[str, Any], cities: set[str] | None, pts: _Points) -> list[dict[str, Any]]:
    """Every combination of the factorial levels of ``specs`` (parameter -> levels)."""
    levels = {}
    for k, spec in specs.items():
        check_key(f"{where}.{shorten(k)}", k, cities)
        levels[k] = factorial_levels(f"{where}.{k}", k, spec)
        pts.vary(k)
    return [dict(zip(levels, combo)) for combo in itertools.product(*levels.values())]


def _factorial_points(params_raw: dict[str, Any], scenario: str, cities: set[str] | None, pts: _Points) -> None:
    for values in _grid("parameters", params_raw, cities, pts):
        pts.add("", "", scenario, {}, values)


def _sampled_points(raw: dict[str, Any], method: str, params_raw: dict[str, Any], h: _Header,
                    cities: set[str] | None, pts: _Points) -> tuple[dict[str, Any], np.ndarray, dict[str, Any]]:
    names, bnds = sampler_specs(params_raw, cities)
    opts = dict(section(raw, method))
    matrix = sample(method, names, bnds, opts, h.root_seed)
    for k in names:
        pts.vary(k)
    ints = [is_int_key(k) for k in names]
    for row in matrix:
        pts.add("", "", h.scenario, {}, {k: (int(round(v)) if isint else float(v))
                                         for k, v, isint in zip(names, row, ints)})
    return {"num_vars": len(names), "names": names, "bounds": bnds}, matrix, opts


def _point_params(design: Design, path: Path, cli: dict[str, str], cities: set[str] | None) -> None:
    """Build every point's Params (and the base's): a bad value fails here, before any run."""
    cache: dict[str, dict[str, Any]] = {}

    def scen(name: str, where: str) -> dict[str, Any]:
        if name not in cache:
            p = path.parent / name
            if not p.is_file():
                raise InputError(f"{where}: scenario file not found: {shorten(p, PATH_MAX)}")
            cache[name] = read_scenario_dict(p)
        return copy.deepcopy(cache[name])  # apply_overrides may edit nested spell tables

    base_ov = [f"{k}={fmt_value(v)}" for k, v in {**design.fixed, **cli}.items()]
    design.base = params_from_raw(apply_overrides(scen(design.scenario, "scenario"), base_ov), cities=cities)
    for p in design.points:
        where = f"arms.{p.arm}" if p.arm else f"point {p.index}"
        try:
            p_raw = apply_overrides(scen(p.scenario, f"{where}.scenario"), list(p.overrides))
            design.point_params.append(params_from_raw(p_raw, cities=cities))
        except InputError as e:
            raise InputError(f"{where}: {e}") from None


def load_design(path: str | Path, *, method: str | None = None, replications: int | None = None,
                overrides: Iterable[str] = (), cities: set[str] | None = None,
                validate: bool = True, max_runs: int = MAX_RUNS) -> Design:
    """Read and check a design file. Its size is checked against ``max_runs`` before anything
    is built; then every point's parameters are built (and so validated) here, before any run
    starts. Any problem is an InputError naming the field."""
    path = Path(path)
    raw = read_toml(path, "design")
    h = _header(raw, path, method, replications)
    if cities is None:
        from ..core.params import known_cities

        cities = known_cities()
    fixed = _fixed(raw, cities)
    cli = _cli_overrides(overrides, cities)
    params_raw = raw.get("parameters", {})
    if not isinstance(params_raw, dict):
        raise InputError("parameters: expected a table [parameters]")
    check_size(raw, h.method, h.replications, max_runs)

    pts = _Points(fixed, cli)
    problem = matrix = None
    opts: dict[str, Any] = {}
    if h.method == "arms":
        _arm_points(raw, h.scenario, cities, pts)
    else:
        if raw.get("arms"):
            raise InputError(f"arms: only used with method = \"arms\" (this design's method is {h.method!r})")
        if not params_raw:
            raise InputError("parameters: empty (a design varies one or more parameters)")
        if h.method == "factorial":
            _factorial_points(params_raw, h.scenario, cities, pts)
        else:
            problem, matrix, opts = _sampled_points(raw, h.method, params_raw, h, cities, pts)
    for sec in SAMPLERS:
        if sec in raw:
            section(raw, sec)

    design = Design(path=path, name=h.name, description=h.description, method=h.method, scenario=h.scenario,
                    replications=h.replications, root_seed=h.root_seed, common_random_numbers=h.crn,
                    fixed=fixed, varied=pts.varied, points=pts.points, raw=raw, cli_overrides=tuple(overrides),
                    problem=problem, sample=matrix, options=opts)
    if validate:
        _point_params(design, path, cli, cities)
    return design
