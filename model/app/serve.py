"""``outsourcing-abm serve``: run the visual model server (Mesa SolaraViz, ``model/app/page.py``).

``serve(scenario_path, host, port, experiments=..., targets=...)`` starts ``solara run
model.app.page`` in production mode in a child process on the given host and port and blocks
until it ends (Ctrl-C stops it). The start scenario, the scenario folder and the targets file
reach the page through environment variables (``model/app/controls.py``).

The server needs no internet: ``solara-assets`` ships Solara's front end (scripts, styles,
fonts), and the child runs with Solara's telemetry and version check switched off.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ..core.errors import InputError
from .controls import EXPERIMENTS_ENV, SCENARIO_ENV, TARGETS_ENV

#: Environment of the Solara child that keeps it offline and quiet.
OFFLINE_ENV = {
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",  # no usage events to api.mixpanel.com
    "SOLARA_ASSETS_PROXY": "True",  # serve front-end files from solara-assets' local copy
    "MPLBACKEND": "Agg",
}


def server_command(host: str, port: int) -> list[str]:
    """The command line of the Solara server child."""
    return [sys.executable, "-m", "solara", "run", "model.app.page",
            "--host", host, "--port", str(port), "--production",
            "--no-open", "--no-check-version", "--log-level-uvicorn", "warning"]


def server_env(scenario_path: str | os.PathLike | None, *, experiments: str | os.PathLike | None = None,
               targets: str | os.PathLike | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the child: offline settings, the start scenario, the folder the scenario
    menu lists and the targets file of the observed bands."""
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENV)
    for name, value in ((SCENARIO_ENV, scenario_path), (EXPERIMENTS_ENV, experiments), (TARGETS_ENV, targets)):
        if value is None:
            env.pop(name, None)
            continue
        p = Path(value)
        if not p.exists():
            raise InputError(f"{'scenario' if name == SCENARIO_ENV else name}: not found: {p}")
        env[name] = str(p.resolve())
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_background(scenario: str | None, host: str, port: int, *, log=None, cwd=None,
                     extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start ``outsourcing-abm serve`` without waiting for it (for tests and benchmarks); stop it
    with ``proc.terminate()``. Output goes to ``log`` (a file object) when given."""
    argv = [sys.executable, "-m", "model", "serve", *([scenario] if scenario else []),
            "--host", host, "--port", str(port), *extra]
    return subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT if log is not None else None)


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> float:
    """Poll ``url`` until it answers 200; return the seconds it took. Raises RuntimeError if
    the child exits or the time runs out."""
    t0 = time.monotonic()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"visual server exited with code {proc.returncode} before answering {url}")
        try:
            with opener.open(url, timeout=5) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"visual server did not answer {url} within {timeout:.0f} s")
        time.sleep(0.2)


def serve(scenario_path: str | None, host: str = "127.0.0.1", port: int = 8765, *,
          experiments: str | os.PathLike | None = None, targets: str | os.PathLike | None = None) -> int:
    """Run the visual server on ``host:port`` until it stops; return its exit code.

    Raises InputError for a missing scenario file or a bad port."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InputError(f"--port: {port!r} is out of range (allowed 1 to 65535)")
    env = server_env(scenario_path, experiments=experiments, targets=targets)
    print(f"outsourcing-abm: visual server at http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr)
    proc = subprocess.Popen(server_command(host, port), env=env)

    def forward_term(signum, frame):  # stop the child with us (e.g. `kill <pid>` of the CLI)
        proc.terminate()

    previous = signal.signal(signal.SIGTERM, forward_term)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
