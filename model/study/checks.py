"""Checks of the values a design file gives: parameter keys, numbers, ranges, whole numbers.

Each check raises an InputError whose message starts with where the value is (``parameters.x``,
``arms.label.vary.y``) and says what is allowed; nothing here builds a design.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.errors import InputError, shorten
from ..core.levers import LEVERS
from ..core.params import FIELD_TYPES, RANGES

LEVER_KEY_FORM = "levers.<City>.<lever>[.<spell number>].<start|end|intensity>"
#: Years a lever spell may start or end in.
LEVER_YEARS = (2000.0, 2040.0)


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Nested tables as dotted keys: {"levers": {"A": {"x": {"end": 1}}}} -> {"levers.A.x.end": 1}."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


def fmt_value(v: Any) -> str:
    """A value as written in a ``key=value`` override (floats exactly, by repr)."""
    return repr(v) if isinstance(v, float) else str(v)


def is_int_key(key: str) -> bool:
    """Whether a parameter or lever field takes whole numbers (years, counts)."""
    if key.startswith("levers."):
        return key.rsplit(".", 1)[-1] in ("start", "end")
    return FIELD_TYPES.get(key) is int


def key_range(key: str) -> tuple[float, float] | None:
    """Allowed range of a parameter or lever field (None where there is none, e.g. a city)."""
    if key.startswith("levers."):
        parts = key.split(".")
        if parts[-1] == "intensity" and parts[2] in LEVERS:
            return LEVERS[parts[2]].low, LEVERS[parts[2]].high
        return LEVER_YEARS
    return RANGES.get(key)


def check_key(where: str, key: str, cities: set[str] | None) -> None:
    """An InputError unless ``key`` names a scalar parameter or a lever field."""
    parts = key.split(".")
    if parts[0] == "levers":
        if (len(parts) not in (4, 5) or parts[-1] not in ("start", "end", "intensity")
                or (len(parts) == 5 and not parts[3].isdigit())):
            raise InputError(f"{where}: lever keys look like {LEVER_KEY_FORM}")
        if cities is not None and parts[1] not in cities:
            raise InputError(f"{where}: unknown city {shorten(repr(parts[1]))} (allowed: {', '.join(sorted(cities))})")
        if parts[2] not in LEVERS:
            raise InputError(f"{where}: unknown lever {shorten(repr(parts[2]))} (allowed: {', '.join(LEVERS)})")
        return
    if len(parts) != 1 or key not in FIELD_TYPES:
        raise InputError(f"{where}: unknown parameter (see `outsourcing-abm params` for the list)")


def number(where: str, v: Any, *, integer: bool = False) -> float:
    """``v`` if it is a finite number (a whole one with ``integer``), else an InputError."""
    kind = "whole number" if integer else "number"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where}: expected a {kind}, got {shorten(repr(v))}")
    if isinstance(v, int) and abs(v) > 2**53:
        raise InputError(f"{where}: {shorten(v)} is out of range")
    if not math.isfinite(v) or (integer and float(v) != int(v)):
        raise InputError(f"{where}: expected a {kind}, got {v!r}")
    return v


def positive_int(where: str, v: Any, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InputError(f"{where}: expected a whole number of at least {minimum}, got {shorten(repr(v))}")
    return v


def bounds(where: str, key: str, spec: dict[str, Any]) -> tuple[float, float]:
    """(low, high) of a range table, checked against the parameter's allowed range."""
    for k in ("low", "high"):
        if k not in spec:
            raise InputError(f"{where}.{k}: missing (a range needs low and high)")
    lo, hi = number(f"{where}.low", spec["low"]), number(f"{where}.high", spec["high"])
    if not lo < hi:
        raise InputError(f"{where}: empty range (low {lo:g} must be below high {hi:g})")
    rng = key_range(key)
    if rng is not None and not (rng[0] <= lo and hi <= rng[1]):
        raise InputError(f"{where}: range {lo:g} to {hi:g} is out of bounds (allowed {rng[0]:g} to {rng[1]:g})")
    return float(lo), float(hi)
