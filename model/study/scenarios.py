"""Scenario files: TOML reading with ``inherits``, ``--set key=value`` overrides, and the Params
they make.

Scenario files set any Params field at top level and policy levers as tables
``[levers.<City>.<lever>]`` with ``start``, ``end`` and ``intensity``. A scenario may name another
with ``inherits = "file.toml"`` (at most ``MAX_INHERITS`` files deep). ``--set key=value`` overrides
any field; lever fields are addressed as ``levers.<City>.<lever>.<start|end|intensity>`` (a lever
that runs in several spells is written as an array of tables ``[[levers.<City>.<lever>]]`` and
addressed ``levers.<City>.<lever>.<n>.<field>``). A scenario file that sets nothing runs the
built-in defaults, and says so in a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ..core.errors import InputError, InputWarning, shorten
from ..core.params import FIELD_TYPES, Params, params_from_dict
from .inputs import read_toml, short_error

_SCENARIO_META = {"name", "description", "inherits"}
#: Deepest chain of ``inherits`` a scenario may have.
MAX_INHERITS = 50


def read_scenario_dict(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Merged raw dict of a scenario file and the files it inherits from."""
    path = Path(path)
    if len(_seen) >= MAX_INHERITS:
        raise InputError(f"inherits: the chain is deeper than {MAX_INHERITS} files (at {shorten(path)}); "
                         "inherit from fewer files")
    raw = read_toml(path, "scenario")
    if path.resolve() in _seen:
        raise InputError(f"inherits: cycle through {path}")
    base: dict[str, Any] = {}
    if "inherits" in raw:
        parent = raw["inherits"]
        if not isinstance(parent, str):
            raise InputError("inherits: expected a file name")
        base = read_scenario_dict(path.parent / parent, _seen + (path.resolve(),))
    merged = merge_dicts(base, {k: v for k, v in raw.items() if k not in _SCENARIO_META})
    if not _seen and not merged:
        warnings.warn(f"{shorten(path)} sets no parameter: it runs the built-in defaults", InputWarning, stacklevel=2)
    return merged


def inherits_chain(path: str | Path) -> list[Path]:
    """The files a scenario inherits from, nearest first (not the file itself)."""
    out: list[Path] = []
    path = Path(path)
    seen = {path.resolve()}
    while len(out) < MAX_INHERITS:
        parent = read_toml(path, "scenario").get("inherits")
        if not isinstance(parent, str):
            return out
        path = path.parent / parent
        if path.resolve() in seen:
            raise InputError(f"inherits: cycle through {path}")
        seen.add(path.resolve())
        out.append(path)
    return out


def merge_dicts(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_dicts(out[k], v)
        else:
            out[k] = v
    return out


def _table(raw: dict[str, Any], key: str, where: str, form: str) -> dict[str, Any]:
    """``raw[key]`` as a table (created when missing), or an InputError when it is something else."""
    value = raw.setdefault(key, {})
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected tables {form}, got {shorten(repr(value))}")
    return value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings (dotted keys for levers) to a raw scenario dict."""
    raw = merge_dicts({}, raw)
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set: expected key=value, got {shorten(repr(item))}")
        key, value = (s.strip() for s in item.split("=", 1))
        parts = key.split(".")
        if parts[0] == "levers":
            form = "levers.<City>.<lever>[.<spell number>].<start|end|intensity|unit_cost>"
            if len(parts) not in (4, 5):
                raise InputError(f"--set {shorten(key)}: lever keys look like {form}")
            city, lever, attr = parts[1], parts[2], parts[-1]
            by_city = _table(raw, "levers", "levers", "[levers.<City>.<lever>]")
            by_lever = _table(by_city, city, f"levers.{shorten(city)}", "[levers.<City>.<lever>]")
            spec = by_lever.setdefault(lever, {})
            if not isinstance(spec, (dict, list)):
                raise InputError(f"levers.{shorten(city)}.{shorten(lever)}: expected a table (or array of tables) "
                                 f"with start, end, intensity, got {shorten(repr(spec))}")
            if len(parts) == 5:
                spells = spec if isinstance(spec, list) else [spec]
                try:
                    i = int(parts[3])
                    if not 0 <= i < len(spells):
                        raise ValueError
                except ValueError:
                    raise InputError(f"{shorten(key)}: spell number must be 0 to {len(spells) - 1}") from None
                if not isinstance(spells[i], dict):
                    raise InputError(f"levers.{city}.{lever}: spell {i} is not a table with start, end, intensity")
                spells[i][attr] = value
            elif isinstance(spec, list):
                raise InputError(f"{key}: {city} has {len(spec)} {lever} spells; address one as {form}")
            else:
                spec[attr] = value
        elif len(parts) == 1:
            if key not in FIELD_TYPES:
                raise InputError(f"{shorten(key)}: unknown parameter (see `outsourcing-abm params` for the list)")
            raw[key] = value
        else:
            raise InputError(f"{shorten(key)}: unknown parameter (see `outsourcing-abm params` for the list)")
    return raw


def params_from_raw(raw: dict[str, Any], *, cities: set[str] | None = None) -> Params:
    """Params of a raw scenario dict (overrides applied); long echoed names are cut (a key of
    200,000 characters is not printed whole)."""
    try:
        return params_from_dict(raw, cities=cities)
    except InputError as e:
        raise short_error(e) from None


def load_scenario(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Params:
    """Params from a scenario file (or defaults when ``path`` is None) plus overrides."""
    raw = read_scenario_dict(path) if path is not None else {}
    return params_from_raw(apply_overrides(raw, list(overrides)))
