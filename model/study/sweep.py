"""Parameter sweeps: design files, execution on Dask, manifest and resume, tidy outputs.

A *design* (TOML, in ``experiments/``) names a base scenario, the parameters it varies and
how (full factorial, Latin hypercube, Sobol or Morris samples from SALib, or explicit
"arms"), and the number of replications. ``outsourcing-abm sweep DESIGN --out DIR`` runs
every (design point, replication) pair once on a Dask cluster: a LocalCluster of worker
processes by default, or an existing scheduler given with ``--scheduler``.

Seeds come from one root seed: the run at design point ``p``, replication ``r`` uses the
``r``-th child of the ``p``-th child of ``numpy.random.SeedSequence(root_seed)`` (with
``common_random_numbers = true`` every point uses the children of point 0, so arms can be
compared replication by replication). A run's seed so depends only on its place in the
design, never on which worker ran it or when.

Output folder::

    DIR/sweep.json        design, parameters, seeds, package version, git commit, counts
    DIR/manifest.jsonl    append-only log, one line per finished attempt (fsynced)
    DIR/runs/<id>.parquet one file per finished run (city-year rows), written atomically
    DIR/runs.parquet      one row per run: design values, replication, seed, status, metrics
    DIR/city_year.parquet all runs' city-year rows with run id columns
    DIR/region_year.parquet  employment, firms and output by region (summed from city_year)

A killed sweep continues with ``--resume``: runs whose Parquet file and manifest entry
both exist are kept, all others (missing or failed) run again. The final tables are built
from the design and the manifest, sorted by (point, replication), so they are byte for
byte the same whatever the number of workers or the order runs finished in.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import itertools
import json
import logging
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..core.errors import InputError
from ..core.levers import LEVERS
from ..core.params import FIELD_TYPES, RANGES, Params, params_from_dict
from .scenarios import apply_overrides, read_scenario_dict

METHODS = ("factorial", "lhs", "sobol", "morris", "arms")
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where the worker finds the model: "module:function". Only developers change it.
SIMULATE_ENV = "OABM_SIMULATE"
DEFAULT_SIMULATE = "model.run:simulate"
SCHEMA_VERSION = 1

_TOP_KEYS = {"name", "description", "scenario", "method", "replications", "root_seed",
             "common_random_numbers", "fixed", "parameters", "arms", "lhs", "sobol", "morris",
             "metrics", "report"}
_SECTION_KEYS = {
    "lhs": {"samples"},
    "sobol": {"base_samples", "second_order", "num_resamples", "conf_level"},
    "morris": {"trajectories", "levels", "num_resamples", "conf_level"},
}
_ARM_KEYS = {"label", "group", "scenario", "set", "vary", "compare_to", "description"}
_SPEC_KEYS = {"values", "low", "high", "levels", "step"}


# ---------------------------------------------------------------------------------------
# Design
# ---------------------------------------------------------------------------------------

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
    _params: list[Params] = field(default_factory=list, repr=False)
    _digest: str = ""

    @property
    def n_runs(self) -> int:
        return len(self.points) * self.replications

    def seeds(self) -> np.ndarray:
        """Seed of every run, shape (points, replications)."""
        return design_seeds(self.root_seed, len(self.points), self.replications,
                            self.common_random_numbers)

    def runs(self) -> list[Run]:
        seeds = self.seeds()
        return [Run(run_id(p.index, r), p.index, r, int(seeds[p.index, r]), self._params[p.index])
                for p in self.points for r in range(self.replications)]

    def params_of(self, point: int) -> Params:
        return self._params[point]

    @property
    def digest(self) -> str:
        """Hash of what decides each run's result: every point's parameters and the seeding.

        The number of replications is left out on purpose: seeds depend only on (point,
        replication), so a finished sweep can be extended with ``--resume --replications``."""
        if not self._digest:
            h = hashlib.sha256()
            h.update(json.dumps([self.root_seed, self.common_random_numbers]).encode())
            for p in self.points:
                h.update(json.dumps(self._params[p.index].to_dict(), sort_keys=True).encode())
            self._digest = h.hexdigest()
        return self._digest

    def point_table(self) -> list[dict[str, Any]]:
        return [{"point": p.index, "arm": p.arm, "group": p.group, "scenario": p.scenario,
                 "values": p.values, "overrides": list(p.overrides)} for p in self.points]


def run_id(point: int, replication: int) -> str:
    return f"p{point:06d}-r{replication:03d}"


def design_seeds(root_seed: int, n_points: int, replications: int, crn: bool = False) -> np.ndarray:
    """Seeds from ``SeedSequence(root_seed).spawn``: child ``r`` of child ``p`` of the root.

    Spawned children are numbered, so a run's seed depends only on (p, r), not on how many
    points or replications the design has. With ``crn`` every point uses point 0's seeds."""
    root = np.random.SeedSequence(root_seed)
    out = np.empty((n_points, replications), dtype=np.int64)
    if n_points == 0:
        return out
    # spawn() is stateful (it counts children), so each SeedSequence is spawned from exactly once
    for p, child in enumerate(root.spawn(1 if crn else n_points)):
        for r, ss in enumerate(child.spawn(replications)):
            out[p, r] = int(ss.generate_state(1, np.uint32)[0])  # 0..2^32-1, as `run --seed` takes
    if crn:
        out[1:] = out[0]
    return out


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _is_int_key(key: str) -> bool:
    if key.startswith("levers."):
        return key.rsplit(".", 1)[-1] in ("start", "end")
    return FIELD_TYPES.get(key) is int


def _key_range(key: str) -> tuple[float, float] | None:
    if key.startswith("levers."):
        parts = key.split(".")
        if parts[-1] == "intensity" and parts[2] in LEVERS:
            return LEVERS[parts[2]].low, LEVERS[parts[2]].high
        return 2000.0, 2040.0
    return RANGES.get(key)


def _check_key(where: str, key: str, cities: set[str] | None) -> None:
    """An InputError unless ``key`` names a scalar parameter or a lever field."""
    parts = key.split(".")
    if parts[0] == "levers":
        if (len(parts) not in (4, 5) or parts[-1] not in ("start", "end", "intensity")
                or (len(parts) == 5 and not parts[3].isdigit())):
            raise InputError(f"{where}: lever keys look like "
                             "levers.<City>.<lever>[.<spell number>].<start|end|intensity>")
        if cities is not None and parts[1] not in cities:
            raise InputError(f"{where}: unknown city {parts[1]!r} (allowed: {', '.join(sorted(cities))})")
        if parts[2] not in LEVERS:
            raise InputError(f"{where}: unknown lever {parts[2]!r} (allowed: {', '.join(LEVERS)})")
        return
    if len(parts) != 1 or key not in FIELD_TYPES:
        raise InputError(f"{where}: unknown parameter (see `outsourcing-abm params` for the list)")


def _number(where: str, v: Any, *, integer: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(f"{where}: expected a {'whole number' if integer else 'number'}, got {v!r}")
    if integer and float(v) != int(v):
        raise InputError(f"{where}: expected a whole number, got {v!r}")
    return v


def _bounds(where: str, key: str, spec: dict[str, Any]) -> tuple[float, float]:
    for k in ("low", "high"):
        if k not in spec:
            raise InputError(f"{where}.{k}: missing (a range needs low and high)")
    lo, hi = _number(f"{where}.low", spec["low"]), _number(f"{where}.high", spec["high"])
    if not lo < hi:
        raise InputError(f"{where}: empty range (low {lo:g} must be below high {hi:g})")
    rng = _key_range(key)
    if rng is not None and not (rng[0] <= lo and hi <= rng[1]):
        raise InputError(f"{where}: range {lo:g} to {hi:g} is out of bounds (allowed {rng[0]:g} to {rng[1]:g})")
    return float(lo), float(hi)


def _levels(where: str, key: str, spec: Any) -> list[Any]:
    """The values of one factorial factor: a list, or {values}, or {low, high, levels|step}."""
    if isinstance(spec, list):
        spec = {"values": spec}
    if not isinstance(spec, dict):
        raise InputError(f"{where}: expected a list of values or a table with values or low/high/levels")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise InputError(f"{where}.{sorted(unknown)[0]}: unknown key (allowed: {', '.join(sorted(_SPEC_KEYS))})")
    integer = _is_int_key(key)
    if "values" in spec:
        vals = spec["values"]
        if not isinstance(vals, list):
            raise InputError(f"{where}.values: expected a list of numbers")
        if not vals:
            raise InputError(f"{where}.values: empty (allowed: one or more values)")
        out = [_number(f"{where}.values", v, integer=integer) for v in vals]
        if len(set(out)) != len(out):
            raise InputError(f"{where}.values: repeated value (each value once)")
        return [int(v) if integer else float(v) for v in out]
    lo, hi = _bounds(where, key, spec)
    if "levels" in spec:
        n = spec["levels"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise InputError(f"{where}.levels: expected a whole number of at least 2, got {n!r}")
        vals = np.linspace(lo, hi, n)
    elif "step" in spec:
        st = _number(f"{where}.step", spec["step"])
        if st <= 0:
            raise InputError(f"{where}.step: must be positive, got {st!r}")
        n = int(math.floor((hi - lo) / st + 1e-9)) + 1
        vals = lo + st * np.arange(n)
    else:
        raise InputError(f"{where}: give values, or low/high with levels or step")
    if integer:
        out = sorted({int(round(v)) for v in vals})
        return out
    return [float(round(v, 12)) for v in vals]


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    sec = raw.get(name, {})
    if not isinstance(sec, dict):
        raise InputError(f"{name}: expected a table [{name}]")
    unknown = set(sec) - _SECTION_KEYS[name]
    if unknown:
        raise InputError(f"{name}.{sorted(unknown)[0]}: unknown key (allowed: {', '.join(sorted(_SECTION_KEYS[name]))})")
    if "num_resamples" in sec:
        _positive_int(f"{name}.num_resamples", sec["num_resamples"], 10)
    if "conf_level" in sec:
        c = sec["conf_level"]
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < 1:
            raise InputError(f"{name}.conf_level: expected a number between 0 and 1 (such as 0.95), got {c!r}")
    return sec


def _positive_int(where: str, v: Any, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InputError(f"{where}: expected a whole number of at least {minimum}, got {v!r}")
    return v


def _sampler_specs(raw_params: dict[str, Any], cities: set[str] | None) -> tuple[list[str], list[list[float]]]:
    names, bounds = [], []
    for key, spec in raw_params.items():
        where = f"parameters.{key}"
        _check_key(where, key, cities)
        if not isinstance(spec, dict):
            raise InputError(f"{where}: expected a table {{low = .., high = ..}}")
        unknown = set(spec) - {"low", "high"}
        if unknown:
            raise InputError(f"{where}.{sorted(unknown)[0]}: unknown key for a sampled parameter (allowed: low, high)")
        names.append(key)
        bounds.append(list(_bounds(where, key, spec)))
    return names, bounds


def _sample(method: str, names: list[str], bounds: list[list[float]], opts: dict[str, Any],
            seed: int) -> np.ndarray:
    problem = {"num_vars": len(names), "names": names, "bounds": bounds}
    sseed = int(seed % (2**32))
    if method == "lhs":
        from scipy.stats import qmc

        n = _positive_int("lhs.samples", opts.get("samples", 0) or 0)
        unit = qmc.LatinHypercube(d=len(names), rng=np.random.default_rng(sseed)).random(n)
        lo, hi = np.array(bounds).T
        return qmc.scale(unit, lo, hi)
    if method == "sobol":
        import warnings

        from SALib.sample import sobol as sobol_sample

        n = _positive_int("sobol.base_samples", opts.get("base_samples", 0) or 0, 2)
        if n & (n - 1):
            raise InputError(f"sobol.base_samples: {n} is not a power of 2 (allowed: 2, 4, 8, ... for Sobol' balance)")
        second = opts.get("second_order", False)
        if not isinstance(second, bool):
            raise InputError(f"sobol.second_order: expected true or false, got {second!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sobol_sample.sample(problem, n, calc_second_order=second, seed=sseed)
    if method == "morris":
        from SALib.sample import morris as morris_sample

        n = _positive_int("morris.trajectories", opts.get("trajectories", 0) or 0, 2)
        levels = _positive_int("morris.levels", opts.get("levels", 4), 2)
        if levels % 2:
            raise InputError(f"morris.levels: {levels} is odd (allowed: an even number such as 4)")
        return morris_sample.sample(problem, n, num_levels=levels, seed=sseed)
    raise AssertionError(method)


def load_design(path: str | Path, *, method: str | None = None, replications: int | None = None,
                overrides: Iterable[str] = (), cities: set[str] | None = None,
                validate: bool = True) -> Design:
    """Read and check a design file. Every point's parameters are built (and so validated)
    here, before any run starts; any problem is an InputError naming the field."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"design: file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"design: {path} is not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise InputError(f"design: {path} is not UTF-8 text") from None
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise InputError(f"{sorted(unknown)[0]}: unknown design key (allowed: {', '.join(sorted(_TOP_KEYS))})")
    if cities is None:
        from ..core.params import known_cities

        cities = known_cities()

    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InputError(f"name: expected letters, digits, '_', '-' or '.', got {name!r}")
    meth = method or raw.get("method")
    if meth is None:
        raise InputError(f"method: missing (allowed: {', '.join(METHODS)})")
    if meth not in METHODS:
        raise InputError(f"method: unknown method {meth!r} (allowed: {', '.join(METHODS)})")
    reps = raw.get("replications") if replications is None else replications
    if reps is None:
        raise InputError("replications: missing (allowed: a whole number of at least 1)")
    reps = _positive_int("replications", reps)
    root_seed = raw.get("root_seed")
    if root_seed is None:
        raise InputError("root_seed: missing (allowed: a whole number 0 to 2^63-1)")
    if isinstance(root_seed, bool) or not isinstance(root_seed, int) or not 0 <= root_seed < 2**63:
        raise InputError(f"root_seed: expected a whole number 0 to 2^63-1, got {root_seed!r}")
    crn = raw.get("common_random_numbers", False)
    if not isinstance(crn, bool):
        raise InputError(f"common_random_numbers: expected true or false, got {crn!r}")
    scenario = raw.get("scenario")
    if not isinstance(scenario, str) or not scenario:
        raise InputError("scenario: missing (the base scenario file, relative to the design file)")
    fixed_raw = raw.get("fixed", {})
    if not isinstance(fixed_raw, dict):
        raise InputError("fixed: expected a table [fixed]")
    fixed = _flatten("", fixed_raw)
    for k in fixed:
        _check_key(f"fixed.{k}", k, cities)
    cli: dict[str, str] = {}
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set: expected key=value, got {item!r}")
        k, v = (s.strip() for s in item.split("=", 1))
        _check_key(f"--set {k}", k, cities)
        cli[k] = v
    params_raw = raw.get("parameters", {})
    if not isinstance(params_raw, dict):
        raise InputError("parameters: expected a table [parameters]")
    description = raw.get("description", "")

    scen_cache: dict[str, dict[str, Any]] = {}

    def scen(name_: str, where: str) -> dict[str, Any]:
        if name_ not in scen_cache:
            p = path.parent / name_
            if not p.is_file():
                raise InputError(f"{where}: scenario file not found: {p}")
            scen_cache[name_] = read_scenario_dict(p)
        return copy.deepcopy(scen_cache[name_])  # apply_overrides may edit nested spell tables

    points: list[Point] = []
    varied: list[str] = []
    problem = sample = None
    opts: dict[str, Any] = {}

    def add_point(arm: str, group: str, scenario_name: str, base_set: dict[str, Any],
                  values: dict[str, Any]) -> None:
        merged = dict(fixed)
        merged.update(base_set)
        for k in cli:
            if k in values:
                raise InputError(f"--set {k}: this parameter is varied by the design (drop it from --set)")
        merged.update(cli)
        merged.update(values)
        ov = tuple(f"{k}={_fmt_value(v)}" for k, v in merged.items())
        points.append(Point(len(points), arm, group, scenario_name, dict(values), ov))

    if meth == "arms":
        if params_raw:
            raise InputError("parameters: not used with method = \"arms\" (put vary tables in each [[arms]])")
        arms = raw.get("arms")
        if not isinstance(arms, list) or not arms:
            raise InputError("arms: missing (method \"arms\" needs one or more [[arms]] tables)")
        labels: set[str] = set()
        for i, arm in enumerate(arms):
            where = f"arms[{i}]"
            if not isinstance(arm, dict):
                raise InputError(f"{where}: expected a table [[arms]]")
            unknown = set(arm) - _ARM_KEYS
            if unknown:
                raise InputError(f"{where}.{sorted(unknown)[0]}: unknown key (allowed: {', '.join(sorted(_ARM_KEYS))})")
            label = arm.get("label")
            if not isinstance(label, str) or not label:
                raise InputError(f"{where}.label: missing (every arm needs a unique label)")
            if label in labels:
                raise InputError(f"{where}.label: {label!r} used twice (labels must be unique)")
            labels.add(label)
            where = f"arms.{label}"
            group = arm.get("group", "arm")
            if not isinstance(group, str):
                raise InputError(f"{where}.group: expected text, got {group!r}")
            sc = arm.get("scenario", scenario)
            if not isinstance(sc, str):
                raise InputError(f"{where}.scenario: expected a file name, got {sc!r}")
            aset = _flatten("", arm.get("set", {}))
            for k in aset:
                _check_key(f"{where}.set.{k}", k, cities)
            vary = arm.get("vary", {})
            if not isinstance(vary, dict):
                raise InputError(f"{where}.vary: expected a table of parameter = [values]")
            levels = {}
            for k, spec in vary.items():
                _check_key(f"{where}.vary.{k}", k, cities)
                levels[k] = _levels(f"{where}.vary.{k}", k, spec)
                if k not in varied:
                    varied.append(k)
            for combo in itertools.product(*levels.values()):
                add_point(label, group, sc, aset, dict(zip(levels, combo)))
    else:
        if raw.get("arms"):
            raise InputError(f"arms: only used with method = \"arms\" (this design's method is {meth!r})")
        if not params_raw:
            raise InputError("parameters: empty (a design varies one or more parameters)")
        if meth == "factorial":
            levels = {}
            for k, spec in params_raw.items():
                _check_key(f"parameters.{k}", k, cities)
                levels[k] = _levels(f"parameters.{k}", k, spec)
            varied = list(levels)
            for combo in itertools.product(*levels.values()):
                add_point("", "", scenario, {}, dict(zip(levels, combo)))
        else:
            names, bounds = _sampler_specs(params_raw, cities)
            opts = dict(_section(raw, meth))
            sample = _sample(meth, names, bounds, opts, root_seed)
            problem = {"num_vars": len(names), "names": names, "bounds": bounds}
            varied = names
            ints = [_is_int_key(k) for k in names]
            for row in sample:
                vals = {k: (int(round(v)) if isint else float(v)) for k, v, isint in zip(names, row, ints)}
                add_point("", "", scenario, {}, vals)
    for sec in ("lhs", "sobol", "morris"):
        if sec in raw:
            _section(raw, sec)

    design = Design(path=path, name=name, description=str(description), method=meth, scenario=scenario,
                    replications=reps, root_seed=root_seed, common_random_numbers=crn, fixed=fixed,
                    varied=varied, points=points, raw=raw, cli_overrides=tuple(overrides),
                    problem=problem, sample=sample, options=opts)
    if validate:
        design.base = params_from_dict(apply_overrides(scen(scenario, "scenario"), list(
            f"{k}={_fmt_value(v)}" for k, v in {**fixed, **cli}.items())), cities=cities)
        for p in points:
            where = f"arms.{p.arm}" if p.arm else f"point {p.index}"
            try:
                p_raw = apply_overrides(scen(p.scenario, f"{where}.scenario"), list(p.overrides))
                design._params.append(params_from_dict(p_raw, cities=cities))
            except InputError as e:
                raise InputError(f"{where}: {e}") from None
    return design


# ---------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------

def git_commit(path: Path = REPO_ROOT) -> dict[str, Any]:
    """Commit and dirty flag of the source tree the model is imported from."""
    def git(*a: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(path), *a], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit or "unknown", "dirty": bool(status) if status is not None else None}


def provenance() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"package": "outsourcing-abm", "version": __version__, "git": git_commit(),
            "python": platform.python_version(), "platform": platform.platform(),
            "host": socket.gethostname(),
            "libraries": {n: ver(n) for n in ("mesa", "numpy", "pandas", "pyarrow", "dask", "distributed", "SALib")}}


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=_json_default)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


# ---------------------------------------------------------------------------------------
# Worker side
# ---------------------------------------------------------------------------------------

def _simulate_fn() -> Callable[..., Any]:
    spec = os.environ.get(SIMULATE_ENV, DEFAULT_SIMULATE)
    mod, _, fn = spec.partition(":")
    return getattr(importlib.import_module(mod), fn or "simulate")


def run_task(params: Params, seed: int) -> dict[str, Any]:
    """Run the model once on a worker. Never raises: failures come back with their error."""
    t0 = time.perf_counter()
    info = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        res = _simulate_fn()(params, seed)
        metrics = {str(k): float(v) for k, v in dict(res.metrics).items()}
        return {"ok": True, "city_year": res.city_year, "metrics": metrics,
                "seconds": time.perf_counter() - t0, **info}
    except Exception as e:  # noqa: BLE001 - a failed run is data, not a crash
        msg = " ".join(f"{type(e).__name__}: {e}".split())
        return {"ok": False, "error": msg[:2000], "traceback": traceback.format_exc()[-8000:],
                "seconds": time.perf_counter() - t0, **info}


def worker_info() -> dict[str, Any]:
    """What a worker runs: package version and whether it can import the model."""
    from .. import __version__

    out: dict[str, Any] = {"version": __version__, "python": platform.python_version()}
    try:
        _simulate_fn()
        out["simulate"] = "ok"
    except Exception as e:  # noqa: BLE001
        out["simulate"] = f"{type(e).__name__}: {e}"
    return out


# ---------------------------------------------------------------------------------------
# Manifest and per-run files
# ---------------------------------------------------------------------------------------

class Manifest:
    """Append-only JSON-lines log of finished attempts; the last entry of a run wins."""

    def __init__(self, path: Path):
        self.path = path
        if path.exists():
            self._repair()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _repair(self) -> None:
        """Drop a torn last line left by a kill in the middle of a write."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())

    def append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, sort_keys=True, default=_json_default) + "\n").encode()
        os.write(self._fd, line)
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

    @staticmethod
    def read(path: Path) -> dict[str, dict[str, Any]]:
        last: dict[str, dict[str, Any]] = {}
        if not path.exists():
            return last
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(e, dict) and "run_id" in e:
                    last[e["run_id"]] = e
        return last


def _run_file(out: Path, rid: str) -> Path:
    return out / "runs" / f"{rid}.parquet"


def _write_run_file(out: Path, run: Run, city_year: Any, metrics: dict[str, float]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = city_year.reset_index(drop=True).copy()
    for col in ("run_id", "point", "replication", "seed"):
        if col in df.columns:
            df = df.drop(columns=col)
    df.insert(0, "run_id", run.run_id)
    df.insert(1, "point", np.int64(run.point))
    df.insert(2, "replication", np.int64(run.replication))
    df.insert(3, "seed", np.int64(run.seed))
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"oabm.metrics"] = json.dumps(metrics, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    final = _run_file(out, run.run_id)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        pq.write_table(table, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


def completed_runs(out: Path, design: Design) -> dict[str, dict[str, Any]]:
    """Manifest entries of runs that finished successfully and whose file is present."""
    entries = Manifest.read(out / "manifest.jsonl")
    ids = {run_id(p.index, r) for p in design.points for r in range(design.replications)}
    return {rid: e for rid, e in entries.items()
            if rid in ids and e.get("status") == "ok" and _run_file(out, rid).is_file()}


# ---------------------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------------------

_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss)://[^\s/:]+:\d{1,5}/?$")


#: Configuration of local workers. Memory: results leave a worker as soon as they are done,
#: so there is nothing to spill; pausing a worker never frees memory a model run has leaked
#: and would stall the sweep, so a worker over 95% of its limit is restarted instead (by its
#: nanny; the run it was doing runs again elsewhere, with the same seed).
WORKER_CONFIG = {
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.memory.terminate": 0.95,
    # Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers; any explicit value switches off
    # glibc's dynamic mmap threshold, so every large numpy temporary becomes an mmap/munmap pair
    # with fresh page faults. The model allocates many per step; unset, it runs as fast as bare.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # Fewer wake-ups of the worker's event-loop thread, each of which takes the GIL from the run:
    # the blocked-loop tick (default every 20 ms), the memory monitor (100 ms), the dashboard's
    # system monitor (500 ms) and the statistical profiler (samples the run's stack every 10 ms).
    # A sweep reads none of them; one-second memory checks still restart a runaway worker.
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.profile.enabled": False,
}


def default_worker_memory(workers: int) -> int:
    """Bytes per local worker: 80% of this machine's memory shared among the workers."""
    import psutil

    return int(0.8 * psutil.virtual_memory().total / max(workers, 1))


def parse_memory(text: str) -> int:
    from dask.utils import parse_bytes

    try:
        n = parse_bytes(text)
    except (ValueError, TypeError):
        raise InputError(f"--worker-memory: expected a size such as 4GB or 800MB, got {text!r}") from None
    if n < 100 * 2**20:
        raise InputError(f"--worker-memory: {text} is too small (allowed: 100MB or more)")
    return int(n)


def connect(scheduler: str | None, workers: int, timeout: float = 5.0,
            worker_memory: int | None = None) -> tuple[Any, Any]:
    """(client, cluster): a LocalCluster of ``workers`` processes, or a client of an existing
    scheduler (address or scheduler JSON file). Unreachable schedulers are an InputError."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        if _ADDRESS.match(scheduler):
            kw: dict[str, Any] = {"address": scheduler}
        elif scheduler.endswith(".json"):
            if not Path(scheduler).is_file():
                raise InputError(f"--scheduler: scheduler file not found: {scheduler}")
            kw = {"scheduler_file": scheduler}
        else:
            raise InputError(f"--scheduler: expected an address like tcp://host:8786 or a scheduler JSON file, got {scheduler!r}")
        try:
            client = Client(**kw, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise InputError(f"--scheduler: cannot reach {scheduler} ({' '.join(str(e).split())})") from None
        cluster = None
    else:
        if workers < 1:
            raise InputError(f"--workers: expected a whole number of at least 1, got {workers}")
        # no dashboard; the scheduler's small HTTP service on a free port, so that several
        # sweeps on one machine do not compete for 8787
        with dask.config.set(WORKER_CONFIG):  # nannies read it now and pass it to their workers
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   memory_limit=worker_memory or default_worker_memory(workers),
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   silence_logs=logging.ERROR)
        client = Client(cluster, set_as_default=False)
    try:
        check_workers(client, scheduler or "the local cluster", "--scheduler" if scheduler else "--workers")
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    return client, cluster


def check_workers(client: Any, where: str, field: str = "--scheduler") -> None:
    """Every connected worker imports the model (warming it up) and runs this package version.

    Workers that join later (an adaptive cluster) are not checked here."""
    from .. import __version__

    try:
        infos = client.run(worker_info)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{field}: workers of {where} cannot run the model "
                         f"({' '.join(f'{type(e).__name__}: {e}'.split())})") from None
    for addr, info in sorted(infos.items()):
        if info.get("simulate") != "ok":
            raise InputError(f"{field}: worker {addr} of {where} cannot import the model ({info.get('simulate')})")
        if info.get("version") != __version__:
            raise InputError(f"{field}: worker {addr} runs outsourcing-abm {info.get('version')}, "
                             f"this client {__version__} (install the same version everywhere)")


# ---------------------------------------------------------------------------------------
# Sweep
# ---------------------------------------------------------------------------------------

@dataclass
class SweepSummary:
    out: Path
    total: int
    ok: int
    failed: int
    ran: int            # runs executed by this call (excluding those resumed from disk)
    skipped: int        # runs found complete on disk
    seconds: float
    run_seconds: float  # sum of the model's own time over the runs executed now
    phases: dict[str, float] = field(default_factory=dict)  # wall s: start-up, runs, shutdown, tables


class _Interrupted(Exception):
    pass


def _sigterm(signum: int, frame: Any) -> None:  # pragma: no cover - signal path
    raise _Interrupted()


def check_out_dir(out: Path, design: Design, resume: bool) -> None:
    sj = out / "sweep.json"
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} exists and is not a folder")
    if not resume:
        if sj.exists() or (out / "manifest.jsonl").exists():
            raise InputError(f"--out: {out} already holds a sweep (use --resume to continue it, or another folder)")
        return
    if sj.exists():
        try:
            old = json.loads(sj.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise InputError(f"--resume: {sj} is unreadable (start a new folder)") from None
        if old.get("digest") != design.digest:
            raise InputError(f"--resume: the design, its scenarios or --set/--replications differ from the sweep "
                             f"in {out} (rerun with the same inputs, or use another folder)")


def check_writable(out: Path) -> None:
    """An InputError now, before any run, if ``out`` cannot be created or written."""
    import shutil
    import tempfile

    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        if not parent.is_dir():
            raise OSError(f"{parent} is not a folder")
        shutil.rmtree(tempfile.mkdtemp(prefix=".oabm-write-test-", dir=parent))
    except OSError as e:
        raise InputError(f"--out: {out} is not writable ({' '.join(str(e).split())})") from None


def run_sweep(design: Design, out: str | Path, *, workers: int = 1, scheduler: str | None = None,
              resume: bool = False, progress: bool = True, retries: int = 1,
              connect_timeout: float = 5.0, worker_memory: int | None = None,
              log: Callable[[str], None] | None = None) -> SweepSummary:
    """Run every missing run of ``design`` into ``out`` and write the tidy tables."""
    out = Path(out)
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    check_out_dir(out, design, resume)
    check_writable(out)
    runs = design.runs()
    done = completed_runs(out, design) if resume else {}
    todo = [r for r in runs if r.run_id not in done]
    t0 = time.perf_counter()
    client = cluster = None
    if todo:
        client, cluster = connect(scheduler, workers, connect_timeout, worker_memory)
    phases = {"start-up": time.perf_counter() - t0}
    (out / "runs").mkdir(parents=True, exist_ok=True)
    meta = _sweep_meta(design, out, workers if not scheduler else None, scheduler)
    sj = out / "sweep.json"
    if sj.exists():
        try:
            old = json.loads(sj.read_text(encoding="utf-8"))
            meta["history"] = old.get("history", [])
        except (OSError, json.JSONDecodeError):
            pass
    meta.setdefault("history", []).append({"started": _now(), "workers": meta["workers"],
                                           "scheduler": scheduler, "to_run": len(todo), "resumed": len(done)})
    _write_json_atomic(sj, meta)
    ran = failed = 0
    run_seconds = 0.0
    old_handler = signal.signal(signal.SIGTERM, _sigterm) if _main_thread() else None
    manifest = Manifest(out / "manifest.jsonl")
    try:
        if todo:
            t_runs = time.perf_counter()
            ran, failed, run_seconds = _execute(client, design, todo, out, manifest, progress,
                                                retries, len(runs), len(done), log)
            phases["runs"] = time.perf_counter() - t_runs
    except (KeyboardInterrupt, _Interrupted):
        log(f"sweep interrupted; finished runs are kept in {out} (continue with --resume)")
        raise
    finally:
        t_down = time.perf_counter()
        manifest.close()
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        if client is not None:
            try:
                client.close(timeout=10)
            except Exception:  # noqa: BLE001
                pass
        if cluster is not None:
            try:
                cluster.close(timeout=10)
            except Exception:  # noqa: BLE001
                pass
        phases["shutdown"] = time.perf_counter() - t_down
    t_tables = time.perf_counter()
    counts = assemble(out, design)
    phases["tables"] = time.perf_counter() - t_tables
    meta = json.loads(sj.read_text(encoding="utf-8"))
    meta["history"][-1].update({"finished": _now(), "ran": ran, "seconds": round(time.perf_counter() - t0, 3),
                                "phase_seconds": {k: round(v, 3) for k, v in phases.items()},
                                "model_seconds": round(run_seconds, 3)})
    meta["counts"] = counts
    _write_json_atomic(sj, meta)
    return SweepSummary(out, len(runs), counts["ok"], counts["failed"], ran, len(done),
                        time.perf_counter() - t0, run_seconds, phases)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _sweep_meta(design: Design, out: Path, workers: int | None, scheduler: str | None) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "design": {"name": design.name, "file": str(design.path), "description": design.description,
                   "method": design.method, "options": design.options, "raw": design.raw,
                   "cli_overrides": list(design.cli_overrides)},
        "digest": design.digest,
        "scenario": design.scenario,
        "root_seed": design.root_seed,
        "seeding": ("seed of run (p, r) = SeedSequence(root_seed).spawn(points)[p].spawn(replications)[r]"
                    ".generate_state(1, uint32)[0]" if not design.common_random_numbers else
                    "seed of run (p, r) = SeedSequence(root_seed).spawn(1)[0].spawn(replications)[r]"
                    ".generate_state(1, uint32)[0], the same for every point"),
        "common_random_numbers": design.common_random_numbers,
        "replications": design.replications,
        "points": len(design.points),
        "runs": design.n_runs,
        "varied": design.varied,
        "fixed": design.fixed,
        "problem": design.problem,
        "base_params": design.base.to_dict() if design.base else None,
        "point_table": design.point_table(),
        "workers": workers,
        "scheduler": scheduler,
        "provenance": provenance(),
    }


def _execute(client: Any, design: Design, todo: list[Run], out: Path, manifest: Manifest,
             progress: bool, retries: int, total: int, already: int,
             log: Callable[[str], None]) -> tuple[int, int, float]:
    from distributed import as_completed
    from tqdm import tqdm

    token = uuid.uuid4().hex[:8]
    by_key: dict[str, tuple[Run, int]] = {}

    def submit(run: Run, attempt: int) -> Any:
        key = f"oabm-{design.name}-{run.run_id}-a{attempt}-{token}"
        fut = client.submit(run_task, run.params, run.seed, key=key, pure=False)
        by_key[key] = (run, attempt)
        return fut

    ac = as_completed([submit(r, 1) for r in todo], loop=client.loop)
    bar = tqdm(total=total, initial=already, unit="run", desc=f"sweep {design.name}", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, mininterval=0.5, smoothing=0.1)
    failed = ran = 0
    run_seconds = 0.0
    bar.set_postfix(failed=0, refresh=False)
    try:
        for fut in ac:
            run, attempt = by_key.pop(fut.key)
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. the worker died (KilledWorker)
                res = {"ok": False, "error": " ".join(f"{type(e).__name__}: {e}".split())[:2000],
                       "seconds": None, "host": None, "pid": None}
            del fut
            entry = {"run_id": run.run_id, "point": run.point, "replication": run.replication,
                     "seed": run.seed, "attempt": attempt, "seconds": res.get("seconds"),
                     "worker": f"{res.get('host')}:{res.get('pid')}", "finished": _now()}
            if res["ok"]:
                rel = _write_run_file(out, run, res["city_year"], res["metrics"])
                entry.update(status="ok", file=str(rel.relative_to(out)), metrics=res["metrics"])
                manifest.append(entry)
                ran += 1
                run_seconds += res["seconds"] or 0.0
                bar.update(1)
            else:
                entry.update(status="failed", error=res["error"])
                manifest.append(entry)
                if attempt <= retries:
                    ac.add(submit(run, attempt + 1))
                else:
                    failed += 1
                    ran += 1
                    bar.update(1)
                    bar.set_postfix(failed=failed, refresh=False)
                    bar.write(f"run {run.run_id} (point {run.point}, replication {run.replication}) failed "
                              f"after {attempt} attempts: {res['error'][:300]}")
    finally:
        bar.close()
    return ran, failed, run_seconds


# ---------------------------------------------------------------------------------------
# Tidy tables
# ---------------------------------------------------------------------------------------

def assemble(out: Path, design: Design) -> dict[str, int]:
    """Write runs.parquet, city_year.parquet and region_year.parquet from the manifest and the
    per-run files, sorted by (point, replication): identical whatever order runs finished in."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    entries = Manifest.read(out / "manifest.jsonl")
    seeds = design.seeds()
    rows = []
    metric_names: set[str] = set()
    ok_ids: list[str] = []
    for p in design.points:
        for r in range(design.replications):
            rid = run_id(p.index, r)
            e = entries.get(rid)
            ok = e is not None and e.get("status") == "ok" and _run_file(out, rid).is_file()
            row: dict[str, Any] = {"run_id": rid, "point": p.index, "replication": r, "seed": int(seeds[p.index, r])}
            if design.method == "arms":
                row.update(arm=p.arm, group=p.group)
            row["scenario"] = p.scenario
            row.update({k: p.values.get(k) for k in design.varied})
            if ok:
                row.update(status="ok", error=None)
                row["_metrics"] = e.get("metrics", {})
                metric_names.update(row["_metrics"])
                ok_ids.append(rid)
            elif e is not None:
                row.update(status="failed", error=e.get("error"))
                row["_metrics"] = {}
            else:
                row.update(status="missing", error=None)
                row["_metrics"] = {}
            rows.append(row)
    names = sorted(metric_names)
    for row in rows:
        m = row.pop("_metrics")
        for n in names:
            row[n] = float(m[n]) if n in m and m[n] is not None else float("nan")
    runs = pd.DataFrame(rows)
    for k in design.varied:
        col = runs[k]
        if _is_int_key(k) and col.notna().all():
            runs[k] = col.astype("int64")
        else:
            runs[k] = col.astype("float64")
    for c in ("point", "replication", "seed"):
        runs[c] = runs[c].astype("int64")
    _write_parquet_atomic(pa.Table.from_pandas(runs, preserve_index=False), out / "runs.parquet")

    # city_year: concatenate per-run files in (point, replication) order
    tables = []
    for rid in ok_ids:
        t = pq.read_table(_run_file(out, rid))
        md = dict(t.schema.metadata or {})
        md.pop(b"oabm.metrics", None)
        tables.append(t.replace_schema_metadata(md))
    if tables:
        cy = pa.concat_tables(tables, promote_options="permissive")
    else:
        cy = pa.table({"run_id": pa.array([], pa.string()), "point": pa.array([], pa.int64()),
                       "replication": pa.array([], pa.int64()), "seed": pa.array([], pa.int64())})
    _write_parquet_atomic(cy, out / "city_year.parquet")
    ry = region_year(cy.to_pandas()) if tables else pd.DataFrame()
    _write_parquet_atomic(pa.Table.from_pandas(ry, preserve_index=False), out / "region_year.parquet")
    status = runs["status"].value_counts()
    return {"total": len(runs), "ok": int(status.get("ok", 0)), "failed": int(status.get("failed", 0)),
            "missing": int(status.get("missing", 0))}


def region_year(city_year: Any) -> Any:
    """Coastal / central / western totals and shares by (run, year): the model's own
    region_year table (``runner.region_year_table``), computed run by run."""
    import pandas as pd

    from ..run import region_year_table

    keys = ["run_id", "point", "replication"]
    if city_year.empty or "region" not in city_year.columns:
        return city_year.iloc[0:0]
    parts = []
    for key, g in city_year.groupby(keys, sort=True, observed=True):
        ry = region_year_table(g)
        parts.append(ry.assign(**dict(zip(keys, key)))[keys + list(ry.columns)])
    return pd.concat(parts, ignore_index=True)


def _write_parquet_atomic(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        pq.write_table(table, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes of the local Dask cluster (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on an existing Dask cluster: tcp://host:port or a scheduler JSON file")
    parser.add_argument("--connect-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="give up connecting to --scheduler after this long (default 5)")
    parser.add_argument("--worker-memory", metavar="SIZE", default=None,
                        help="memory limit of each local worker, e.g. 4GB; a worker above 95%% of it is "
                             "restarted (default: 80%% of this machine's memory shared among the workers)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the work in --out: run only what is missing or failed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="fix a parameter for every run (repeatable; lever keys levers.<City>.<lever>.<field>)")


def add_design_arguments(parser: argparse.ArgumentParser) -> None:
    """Cluster arguments plus those of commands that run a design (sweep, sensitivity, report)."""
    add_cluster_arguments(parser)
    parser.add_argument("--replications", type=int, default=None, metavar="N",
                        help="replications per design point (default: the design's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``outsourcing-abm sweep``."""
    parser.add_argument("design", help="design file (TOML), e.g. experiments/sweep_smoke.toml")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: results/sweeps/<design name>)")
    add_design_arguments(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="check the design and print its size, run nothing")


def cli_worker_memory(args: argparse.Namespace) -> int | None:
    return parse_memory(args.worker_memory) if getattr(args, "worker_memory", None) else None


def error_line(prog: str, e: BaseException) -> str:
    return f"{prog}: error: {' '.join(str(e).split())}"


def run_cli(args: argparse.Namespace) -> int:
    """``outsourcing-abm sweep``: 0 when all runs succeeded, 1 when some failed, 2 on bad input."""
    prog = "outsourcing-abm sweep"
    try:
        if args.workers is not None and args.workers < 1:
            raise InputError(f"--workers: expected a whole number of at least 1, got {args.workers}")
        if args.replications is not None and args.replications < 1:
            raise InputError(f"--replications: expected a whole number of at least 1, got {args.replications}")
        design = load_design(args.design, replications=args.replications, overrides=args.overrides)
        out = Path(args.out) if args.out else Path("results") / "sweeps" / design.name
        if args.dry_run:
            print(f"{design.name}: {design.method}, {len(design.points)} points x {design.replications} "
                  f"replications = {design.n_runs} runs; varied: {', '.join(design.varied) or '-'}")
            return 0
        summary = run_sweep(design, out, workers=args.workers or default_workers(), scheduler=args.scheduler,
                            resume=args.resume, progress=not args.quiet, connect_timeout=args.connect_timeout,
                            worker_memory=cli_worker_memory(args))
    except InputError as e:
        print(error_line(prog, e), file=sys.stderr)
        return 2
    except OSError as e:  # e.g. the disk filled up: finished runs are kept, --resume continues
        print(error_line(prog, e), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Interrupted):
        return 130
    print(f"{design.name}: {summary.total} runs ({summary.ok} ok, {summary.failed} failed; "
          f"{summary.ran} run now, {summary.skipped} kept from before) in {summary.seconds:.1f} s -> "
          f"{summary.out / 'runs.parquet'}")
    return 0 if summary.failed == 0 else 1
