"""The provenance record every output carries: which code, libraries, parameters, overrides and
seeds made it. One schema for run folders, sweeps, calibrations, validations and forecasts.

``record(...)`` returns ``{"provenance": {...}, "params": ..., "overrides": [...], "seeds": [...],
...}``-ready pieces; ``code_provenance()`` is the part that does not depend on the run:
package version, git commit of the source tree the package was imported from (and whether it
had uncommitted changes), Python, platform, host and library versions.
"""

from __future__ import annotations

import platform
import socket
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import __version__

LIBRARIES = ("mesa", "numpy", "pandas", "networkx", "scipy", "pyarrow", "dask", "distributed", "SALib")


def git_state(path: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the git work tree holding ``path`` (default: this package's
    source). Outside a work tree (an installed wheel): commit "unknown", dirty None."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit or "unknown", "dirty": bool(status) if status is not None else None}


def short_commit(git: dict[str, Any]) -> str:
    """``abc123def456`` or ``abc123def456+dirty``, for one-line mentions in reports."""
    c = str(git.get("commit", "unknown"))
    return (c[:12] if c != "unknown" else c) + ("+dirty" if git.get("dirty") else "")


def _library_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def _static() -> dict[str, Any]:
    return {"package": "outsourcing-abm", "version": __version__,
            "python": platform.python_version(), "platform": platform.platform(), "host": socket.gethostname(),
            "libraries": {n: _library_version(n) for n in LIBRARIES}}


def code_provenance() -> dict[str, Any]:
    """Package, git state, Python, platform, host and library versions (the git state is read
    afresh each call: a commit in the middle of a long job shows)."""
    return {**_static(), "git": git_state()}


def record(*, command: str | None = None, scenario: str | None = None, params: Any = None,
           overrides: list[str] | tuple[str, ...] = (), seeds: list[int] | None = None,
           code: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The provenance block of an output: what made it (``command``, ``scenario``, every
    ``--set`` override, the full parameters, the seeds) and the code that ran (``code``: the
    code_provenance() a long job took when it started, so that edits made while it ran do not
    show as its code; else read now)."""
    out: dict[str, Any] = {}
    if command is not None:
        out["command"] = command
    if scenario is not None:
        out["scenario"] = str(scenario)
    out["overrides"] = list(overrides)
    if seeds is not None:
        out["seeds"] = [int(s) for s in seeds]
    if params is not None:
        out["params"] = params.to_dict() if hasattr(params, "to_dict") else params
    out.update(extra)
    out["provenance"] = code or code_provenance()
    return out
