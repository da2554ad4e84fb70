"""Scenario files: TOML reading with ``inherits``, ``--set key=value`` overrides, and the Params
they make.

Scenario files set any Params field at top level and policy levers as tables
``[levers.<City>.<lever>]`` with ``start``, ``end`` and ``intensity``. A scenario may name another
with ``inherits = "file.toml"``. ``--set key=value`` overrides any field; lever fields are addressed
as ``levers.<City>.<lever>.<start|end|intensity>`` (a lever that runs in several spells is written
as an array of tables ``[[levers.<City>.<lever>]]`` and addressed ``levers.<City>.<lever>.<n>.<field>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.params import FIELD_TYPES, Params, params_from_dict
from .inputs import read_toml


_SCENARIO_META = {"name", "description", "inherits"}


def read_scenario_dict(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Merged raw dict of a scenario file and the files it inherits from."""
    path = Path(path)
    raw = read_toml(path, "scenario")
    if path.resolve() in _seen:
        raise InputError(f"inherits: cycle through {path}")
    base: dict[str, Any] = {}
    if "inherits" in raw:
        parent = raw["inherits"]
        if not isinstance(parent, str):
            raise InputError("inherits: expected a file name")
        base = read_scenario_dict(path.parent / parent, _seen + (path.resolve(),))
    return merge_dicts(base, {k: v for k, v in raw.items() if k not in _SCENARIO_META})


def inherits_chain(path: str | Path) -> list[Path]:
    """The files a scenario inherits from, nearest first (not the file itself)."""
    out: list[Path] = []
    path = Path(path)
    seen = {path.resolve()}
    while True:
        parent = read_toml(path, "scenario").get("inherits")
        if not isinstance(parent, str):
            return out
        path = path.parent / parent
        if path.resolve() in seen:
            raise InputError(f"inherits: cycle through {path}")
        seen.add(path.resolve())
        out.append(path)


def merge_dicts(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_dicts(out[k], v)
        else:
            out[k] = v
    return out


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings (dotted keys for levers) to a raw scenario dict."""
    raw = merge_dicts({}, raw)
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set: expected key=value, got {item!r}")
        key, value = (s.strip() for s in item.split("=", 1))
        parts = key.split(".")
        if parts[0] == "levers":
            form = "levers.<City>.<lever>[.<spell number>].<start|end|intensity>"
            if len(parts) not in (4, 5):
                raise InputError(f"--set {key}: lever keys look like {form}")
            city, lever, attr = parts[1], parts[2], parts[-1]
            by_lever = raw.setdefault("levers", {}).setdefault(city, {})
            spec = by_lever.setdefault(lever, {})
            if len(parts) == 5:
                spells = spec if isinstance(spec, list) else [spec]
                try:
                    i = int(parts[3])
                    if not 0 <= i < len(spells):
                        raise ValueError
                except ValueError:
                    raise InputError(f"{key}: spell number must be 0 to {len(spells) - 1}") from None
                spells[i][attr] = value
            elif isinstance(spec, list):
                raise InputError(f"{key}: {city} has {len(spec)} {lever} spells; address one as {form}")
            else:
                spec[attr] = value
        elif len(parts) == 1:
            if key not in FIELD_TYPES:
                raise InputError(f"{key}: unknown parameter (see `outsourcing-abm params` for the list)")
            raw[key] = value
        else:
            raise InputError(f"{key}: unknown parameter (see `outsourcing-abm params` for the list)")
    return raw


def load_scenario(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Params:
    """Params from a scenario file (or defaults when ``path`` is None) plus overrides."""
    raw = read_scenario_dict(path) if path is not None else {}
    return params_from_dict(apply_overrides(raw, list(overrides)))
