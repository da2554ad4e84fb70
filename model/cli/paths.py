"""Where things live: the only module that knows the repository layout and the default output
folders. Library code gets every path it reads or writes from here, through the command line.

From a source checkout the committed scenarios, targets and docs are the checkout's own
(``experiments/``, ``docs/``). An installed wheel carries the scenarios and targets as package data
(``model/experiments``), so ``outsourcing-abm run baseline`` works from any folder; outputs go
under ``./results`` of the folder the command runs in.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core.errors import InputError

_PACKAGE = Path(__file__).resolve().parents[1]
#: The source checkout the package runs from, if it does (None for an installed wheel).
CHECKOUT: Path | None = _PACKAGE.parent if (_PACKAGE.parent / "pyproject.toml").is_file() else None


def experiments_dir() -> Path:
    """Committed scenarios, designs, targets and calibration records."""
    if CHECKOUT is not None and (CHECKOUT / "experiments").is_dir():
        return CHECKOUT / "experiments"
    return _PACKAGE / "experiments"


def docs_dir() -> Path | None:
    """The checkout's docs/ (None when installed: there is nothing to publish into)."""
    return CHECKOUT / "docs" if CHECKOUT is not None else None


def results_dir() -> Path:
    """Default parent of every command's output folder: ./results of the working folder."""
    return Path("results")


def targets_file() -> Path:
    return experiments_dir() / "targets.toml"


#: Committed files of experiments/ by role: inputs, and the results `--publish` replaces.
EXPERIMENT_FILES = {"plans": "plans.toml", "policy_design": "policy_levers.toml", "calibrated": "calibrated.toml",
                    "posterior": "posterior.csv", "calibration_record": "calibration.json"}
#: Committed files of docs/ by role that `--publish` replaces.
DOC_FILES = {"validation": "validation.md", "policy": "policy_levers.md", "performance": "performance.md",
             "convergence": "img/calibration_convergence.png", "backtest": "backtest.md"}


def experiment_file(role: str) -> Path:
    """A committed file of experiments/ (see EXPERIMENT_FILES)."""
    return experiments_dir() / EXPERIMENT_FILES[role]


def doc_file(role: str) -> Path | None:
    """A committed file of docs/ (see DOC_FILES); None when installed (nothing to publish into)."""
    d = docs_dir()
    return d / DOC_FILES[role] if d is not None else None


def published_forecast_dir() -> Path | None:
    """The committed forecast (results/forecast of the checkout)."""
    return CHECKOUT / "results" / "forecast" if CHECKOUT is not None else None


def published_backtest_dir() -> Path | None:
    """The committed backtest table and records (results/backtest of the checkout)."""
    return CHECKOUT / "results" / "backtest" if CHECKOUT is not None else None


def sweep_dir(name: str) -> Path:
    return results_dir() / "sweeps" / name


def sensitivity_dir(name: str) -> Path:
    return results_dir() / "sensitivity" / name


def new_results_folder(kind: str) -> Path:
    """A folder for one command's outputs that does not exist yet: results/<kind>-<date-time>,
    with -2, -3, ... when several start in the same second. Never an existing folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = results_dir() / f"{kind}-{stamp}"
    n = 2
    while out.exists():
        out = results_dir() / f"{kind}-{stamp}-{n}"
        n += 1
    return out


def _existing(name: str, what: str) -> Path | None:
    """``name`` as a path if it is a file; an InputError if it is a folder or unusable."""
    p = Path(name)
    try:
        if p.is_dir():
            raise InputError(f"{what}: {_short(name)} is a folder, not a file")
        return p if p.is_file() else None
    except OSError as e:
        raise InputError(f"{what}: cannot use {_short(name)} ({e.strerror or e})") from None


def _short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else f"{name[:limit - 3]}... ({len(name):,} characters)"


def resolve_scenario(name: str | None) -> Path | None:
    """A scenario path: as given, or by name in experiments/ (``baseline`` -> experiments/baseline.toml)."""
    if name is None:
        return None
    p = _existing(name, "scenario")
    if p is not None:
        return p
    for cand in (experiments_dir() / name, experiments_dir() / f"{name}.toml"):
        if _existing(str(cand), "scenario") is not None:
            return cand
    raise InputError(f"scenario: file not found: {_short(name)} (give a path or a name from experiments/)")


def resolve_design(name: str) -> Path:
    """A design file: as given, or by name in experiments/."""
    p = _existing(name, "design")
    if p is not None:
        return p
    for cand in (experiments_dir() / name, experiments_dir() / f"{name}.toml"):
        if _existing(str(cand), "design") is not None:
            return cand
    raise InputError(f"design: file not found: {_short(name)} (give a path or a name from experiments/)")
