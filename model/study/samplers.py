"""How a design varies its parameters: factorial levels, and Latin hypercube, Sobol' (Saltelli)
and Morris samples (SciPy's and SALib's samplers), each seeded from the design's root seed.

``*_count`` functions give the number of points a specification makes without making them, so a
design's size is known (and can be refused) before anything is built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.errors import InputError, shorten
from .checks import bounds, check_key, is_int_key, number, positive_int

SAMPLERS = ("lhs", "sobol", "morris")
SECTION_KEYS = {
    "lhs": {"samples"},
    "sobol": {"base_samples", "second_order", "num_resamples", "conf_level"},
    "morris": {"trajectories", "levels", "num_resamples", "conf_level"},
}
LEVEL_KEYS = {"values", "low", "high", "levels", "step"}


# ---------------------------------------------------------------------------------------
# Factorial levels
# ---------------------------------------------------------------------------------------

def level_count(spec: Any) -> int:
    """How many values a factorial specification gives (an upper bound for whole numbers, which
    are de-duplicated after rounding); 1 for a malformed one, which ``factorial_levels`` reports."""
    if isinstance(spec, list):
        return len(spec)
    if not isinstance(spec, dict):
        return 1
    if isinstance(spec.get("values"), list):
        return len(spec["values"])
    n = spec.get("levels")
    if isinstance(n, int) and not isinstance(n, bool):
        return max(n, 1)
    lo, hi, st = spec.get("low"), spec.get("high"), spec.get("step")
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lo, hi, st)):
        try:
            if st > 0 and hi >= lo and math.isfinite((hi - lo) / st):
                return int(math.floor((hi - lo) / st + 1e-9)) + 1
        except OverflowError:
            return 2**63
    return 1


def factorial_levels(where: str, key: str, spec: Any) -> list[Any]:
    """The values of one factorial factor: a list, or {values}, or {low, high, levels|step}."""
    if isinstance(spec, list):
        spec = {"values": spec}
    if not isinstance(spec, dict):
        raise InputError(f"{where}: expected a list of values or a table with values or low/high/levels")
    unknown = set(spec) - LEVEL_KEYS
    if unknown:
        raise InputError(f"{where}.{shorten(sorted(unknown)[0])}: unknown key (allowed: {', '.join(sorted(LEVEL_KEYS))})")
    integer = is_int_key(key)
    if "values" in spec:
        return _listed_values(where, spec["values"], integer)
    lo, hi = bounds(where, key, spec)
    if "levels" in spec:
        n = spec["levels"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise InputError(f"{where}.levels: expected a whole number of at least 2, got {shorten(repr(n))}")
        vals = np.linspace(lo, hi, n)
    elif "step" in spec:
        st = number(f"{where}.step", spec["step"])
        if st <= 0:
            raise InputError(f"{where}.step: must be positive, got {st!r}")
        n = int(math.floor((hi - lo) / st + 1e-9)) + 1
        vals = lo + st * np.arange(n)
    else:
        raise InputError(f"{where}: give values, or low/high with levels or step")
    if integer:
        return sorted({int(round(v)) for v in vals})
    return [float(round(v, 12)) for v in vals]


def _listed_values(where: str, vals: Any, integer: bool) -> list[Any]:
    if not isinstance(vals, list):
        raise InputError(f"{where}.values: expected a list of numbers")
    if not vals:
        raise InputError(f"{where}.values: empty (allowed: one or more values)")
    out = [number(f"{where}.values", v, integer=integer) for v in vals]
    if len(set(out)) != len(out):
        raise InputError(f"{where}.values: repeated value (each value once)")
    return [int(v) if integer else float(v) for v in out]


# ---------------------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------------------

def section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """A sampler's table ([lhs], [sobol], [morris]) of the design, checked."""
    sec = raw.get(name, {})
    if not isinstance(sec, dict):
        raise InputError(f"{name}: expected a table [{name}]")
    unknown = set(sec) - SECTION_KEYS[name]
    if unknown:
        raise InputError(f"{name}.{shorten(sorted(unknown)[0])}: unknown key "
                         f"(allowed: {', '.join(sorted(SECTION_KEYS[name]))})")
    if "num_resamples" in sec:
        positive_int(f"{name}.num_resamples", sec["num_resamples"], 10)
    if "conf_level" in sec:
        c = sec["conf_level"]
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < 1:
            raise InputError(f"{name}.conf_level: expected a number between 0 and 1 (such as 0.95), got {shorten(repr(c))}")
    return sec


def sample_count(method: str, n_params: int, opts: dict[str, Any]) -> int:
    """Points a sampler will draw (0 where its size setting is malformed: ``sample`` says so)."""
    key = {"lhs": "samples", "sobol": "base_samples", "morris": "trajectories"}[method]
    n = opts.get(key)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        return 0
    if method == "lhs":
        return n
    if method == "sobol":
        return n * (2 * n_params + 2 if opts.get("second_order") is True else n_params + 2)
    return n * (n_params + 1)


def sampler_specs(raw_params: dict[str, Any], cities: set[str] | None) -> tuple[list[str], list[list[float]]]:
    """Names and [low, high] bounds of the sampled parameters."""
    names, bnds = [], []
    for key, spec in raw_params.items():
        where = f"parameters.{key}"
        check_key(where, key, cities)
        if not isinstance(spec, dict):
            raise InputError(f"{where}: expected a table {{low = .., high = ..}}")
        unknown = set(spec) - {"low", "high"}
        if unknown:
            raise InputError(f"{where}.{shorten(sorted(unknown)[0])}: unknown key for a sampled parameter (allowed: low, high)")
        names.append(key)
        bnds.append(list(bounds(where, key, spec)))
    return names, bnds


def sample(method: str, names: list[str], bnds: list[list[float]], opts: dict[str, Any],
           seed: int) -> np.ndarray:
    """The unrounded sample matrix (one row per design point) of a sampler."""
    problem = {"num_vars": len(names), "names": names, "bounds": bnds}
    sseed = int(seed % (2**32))
    if method == "lhs":
        from scipy.stats import qmc

        n = positive_int("lhs.samples", opts.get("samples", 0) or 0)
        unit = qmc.LatinHypercube(d=len(names), rng=np.random.default_rng(sseed)).random(n)
        lo, hi = np.array(bnds).T
        return qmc.scale(unit, lo, hi)
    if method == "sobol":
        import warnings

        from SALib.sample import sobol as sobol_sample

        n = positive_int("sobol.base_samples", opts.get("base_samples", 0) or 0, 2)
        if n & (n - 1):
            raise InputError(f"sobol.base_samples: {n} is not a power of 2 (allowed: 2, 4, 8, ... for Sobol' balance)")
        second = opts.get("second_order", False)
        if not isinstance(second, bool):
            raise InputError(f"sobol.second_order: expected true or false, got {shorten(repr(second))}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sobol_sample.sample(problem, n, calc_second_order=second, seed=sseed)
    if method == "morris":
        from SALib.sample import morris as morris_sample

        n = positive_int("morris.trajectories", opts.get("trajectories", 0) or 0, 2)
        levels = positive_int("morris.levels", opts.get("levels", 4), 2)
        if levels % 2:
            raise InputError(f"morris.levels: {levels} is odd (allowed: an even number such as 4)")
        return morris_sample.sample(problem, n, num_levels=levels, seed=sseed)
    raise AssertionError(method)
