"""``outsourcing-abm serve``: run the visual model server (Mesa SolaraViz, ``model/app/page.py``).

``serve(scenario_path, host, port, experiments=..., targets=...)`` runs Solara's server
(``solara run model.app.page --production``) in this process, on the given host and port, and
blocks until it stops (Ctrl-C or SIGTERM: a graceful shutdown). There is no child process, so
nothing can outlive the command: a SIGKILL of ``outsourcing-abm serve`` takes the server and its
port with it. The start scenario, the scenario folder and the targets file reach the page through
environment variables (names in ``config.py``), set before Solara and the page are imported.

It answers only requests addressed to it (``guard.py``): the ``Host`` must be the served address
(the loopback names by default, ``--host`` and ``--allow-host`` otherwise) and a browser's
``Origin`` must be ``http://`` one of them, which shuts out DNS rebinding and cross-site websockets.

The server needs no internet: ``solara-assets`` ships Solara's front end (scripts, styles,
fonts), and Solara's telemetry and version check are switched off.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ..core.errors import InputError
from .config import EXPERIMENTS_ENV, SCENARIO_ENV, TARGETS_ENV
from .guard import HostOriginGuard, served_hosts

#: Solara settings (read from the environment when solara is first imported) that keep the
#: server offline and quiet.
OFFLINE_ENV = {
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",  # no usage events to api.mixpanel.com
    "SOLARA_ASSETS_PROXY": "True",  # serve front-end files from solara-assets' local copy
    "MPLBACKEND": "Agg",
}
#: The Solara app the server runs.
APP = "model.app.page"
#: Seconds a session's kernel lives on without a page before Solara closes it and frees its model
#: (Solara's own default is 24 h; a tab that reconnects within this time keeps its model).
SESSION_TIMEOUT = 120


def solara_args(host: str, port: int) -> list[str]:
    """Arguments of ``solara run`` for the page."""
    return [APP, "--host", host, "--port", str(port), "--production", "--no-open", "--no-check-version",
            "--log-level-uvicorn", "warning"]


def server_env(scenario_path: str | os.PathLike | None, *, experiments: str | os.PathLike | None = None,
               targets: str | os.PathLike | None = None, session_timeout: float = SESSION_TIMEOUT,
               base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the server runs with: offline settings, the session timeout, the start
    scenario, the folder the scenario menu lists and the targets file of the observed bands."""
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENV)
    env["SOLARA_KERNEL_CULL_TIMEOUT"] = f"{session_timeout:g}s"
    env["SOLARA_APP"] = APP  # what `solara run APP` sets; read when solara's server is first imported
    for name, value in ((SCENARIO_ENV, scenario_path), (EXPERIMENTS_ENV, experiments), (TARGETS_ENV, targets)):
        if value is None:
            env.pop(name, None)
            continue
        p = Path(value)
        if not p.exists():
            raise InputError(f"{'scenario' if name == SCENARIO_ENV else name}: not found: {p}")
        env[name] = str(p.resolve())
    return env


#: Ports below this are reserved for system services (ssh is 22, http 80): refused unless asked.
FIRST_UNPRIVILEGED_PORT = 1024


def check_listen(host: str, port: int, *, allow_privileged_port: bool = False) -> None:
    """InputError (one line) unless this process could listen on ``host:port`` now. A port below
    1024 is refused unless ``allow_privileged_port``. The probe binds with SO_REUSEADDR as
    uvicorn does, so a port left in TIME_WAIT by a server that just stopped counts as free, and
    one another process listens on does not."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InputError(f"--port: {port!r} is out of range (allowed 1 to 65535)")
    if port < FIRST_UNPRIVILEGED_PORT and not allow_privileged_port:
        raise InputError(f"--port: {port} is a privileged port, below {FIRST_UNPRIVILEGED_PORT} (use 1024 to 65535, "
                         "or add --allow-privileged-port)")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise InputError(f"--host: cannot listen on {host!r} ({e.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(addr)
        except OSError as e:
            # An address this machine does not have is the host's fault, not the port's.
            field = "--host" if e.errno == errno.EADDRNOTAVAIL else "--port"
            raise InputError(f"{field}: cannot listen on {host}:{port} ({e.strerror})") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_background(scenario: str | None, host: str, port: int, *, log=None, cwd=None,
                     extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``outsourcing-abm serve`` without waiting for it (for tests and benchmarks); stop it
    with ``stop_background``. Output goes to ``log`` (a file object) when given."""
    argv = [sys.executable, "-m", "model", "serve", *([scenario] if scenario else []),
            "--host", host, "--port", str(port), *extra]
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT if log is not None else None)


def stop_background(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop a server from ``start_background``: SIGTERM, and SIGKILL if it is still up after ``timeout`` s."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> float:
    """Poll ``url`` until it answers 200; return the seconds it took. Raises RuntimeError if
    the process exits or the time runs out."""
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
          experiments: str | os.PathLike | None = None, targets: str | os.PathLike | None = None,
          allow_hosts: tuple[str, ...] = (), session_timeout: float = SESSION_TIMEOUT,
          allow_privileged_port: bool = False) -> int:
    """Run the visual server on ``host:port`` in this process until it stops; return 0. It
    answers only the Hosts and Origins of ``served_hosts(host, port, allow_hosts)``, and frees a
    session ``session_timeout`` seconds after its page went away. Ports below 1024 only with
    ``allow_privileged_port``.

    Raises InputError for a missing scenario file, a bad host or a port it cannot listen on. Must
    run before anything in this process has imported solara (it reads its settings from the
    environment then)."""
    host = host.strip().strip("[]")
    if not host:  # getaddrinfo would take "" for every interface
        raise InputError("--host: empty (give an address of this machine, e.g. 127.0.0.1, or 0.0.0.0 for all)")
    for name in allow_hosts:
        if not name.strip() or any(c in name for c in " /\\@?#"):
            raise InputError(f"--allow-host: {name!r} is not a host name or address")
    check_listen(host, port, allow_privileged_port=allow_privileged_port)
    if not 1 <= session_timeout <= 86400:
        raise InputError(f"--session-timeout: {session_timeout:g} is out of range (allowed 1 to 86400 seconds)")
    allowed = served_hosts(host, port, tuple(allow_hosts))
    env = server_env(scenario_path, experiments=experiments, targets=targets, session_timeout=session_timeout)
    if "solara" in sys.modules:
        raise RuntimeError("serve() must run before solara is imported (it configures solara's settings)")
    for name in (SCENARIO_ENV, EXPERIMENTS_ENV, TARGETS_ENV):
        os.environ.pop(name, None)
    os.environ.update(env)
    print(f"outsourcing-abm: visual server at http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr)

    import warnings

    import click
    import solara.server.starlette
    from solara.__main__ import run

    solara.server.starlette.app.add_middleware(HostOriginGuard, allowed=allowed)

    # Solara warns on every page load from a host other than "localhost" that its session cookie
    # falls back to SameSite=Lax over plain http: that is what a local server wants.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    try:
        run.main(args=solara_args(host, port), prog_name="solara run", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):  # Ctrl-C, after uvicorn's graceful shutdown
        pass
    return 0
