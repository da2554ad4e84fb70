"""Bad inputs of ``outsourcing-abm serve``, for the reliability table (docs/reliability.md).

``app_cases()`` returns one dict per case:

* ``id``: a short name; ``item``: the issue 13 item it belongs to ("" for checks that were there before);
* ``what``: the bad input in words; ``argv``: the ``outsourcing-abm`` arguments;
* ``setup``: None, or a callable taking the case's temporary folder that prepares it (writes a
  scenario file, holds a port) and returns a dict of extra names for ``argv``;
* ``expect_exit``: the exit code a correct command gives (2: one-line error, nothing started).

``argv`` items may name ``{tmp}`` (the temporary folder) and the names ``setup`` returns
(``{port}``); ``run_case(case, tmp)`` fills them in, runs the command with a time limit, releases
what ``setup`` held, and returns (exit code, stderr), so a runner needs nothing else. None of
these cases may start a server: a command still running after ``TIME_LIMIT`` is killed and
reported with exit code None.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

#: Seconds a case may take before it counts as "started something" and is killed.
TIME_LIMIT = 60.0
#: Sockets held by setups while their case runs (closed by run_case).
_held: list[socket.socket] = []


def _scenario(text: str, name: str = "bad.toml") -> Callable[[Path], dict[str, Any]]:
    def setup(tmp: Path) -> dict[str, Any]:
        (tmp / name).write_text(text)
        return {}
    return setup


def _binary_scenario(tmp: Path) -> dict[str, Any]:
    (tmp / "bad.toml").write_bytes(bytes(range(256)) * 4)
    return {}


def _busy_port(tmp: Path) -> dict[str, Any]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    _held.append(s)
    return {"port": s.getsockname()[1]}


def _free_port(tmp: Path) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return {"port": s.getsockname()[1]}


def _case(id: str, item: str, what: str, argv: list[str], setup=None, expect_exit: int = 2) -> dict[str, Any]:
    return {"id": id, "item": item, "what": what, "argv": argv, "setup": setup, "expect_exit": expect_exit}


def app_cases() -> list[dict[str, Any]]:
    return [
        # ports
        _case("serve-port-zero", "", "--port 0", ["serve", "--port", "0"]),
        _case("serve-port-above-65535", "", "--port 70000", ["serve", "--port", "70000"]),
        _case("serve-port-negative", "", "--port -1", ["serve", "--port=-1"]),
        _case("serve-port-not-a-number", "", "--port abc", ["serve", "--port", "abc"]),
        _case("serve-port-ssh", "13.10", "--port 22 (privileged, without --allow-privileged-port)",
              ["serve", "--port", "22"]),
        _case("serve-port-http", "13.10", "--port 80 (privileged)", ["serve", "--port", "80"]),
        _case("serve-port-1023", "13.10", "--port 1023 (the last privileged port)", ["serve", "--port", "1023"]),
        _case("serve-port-in-use", "", "--port of a port another process listens on",
              ["serve", "--port", "{port}"], _busy_port),
        # hosts
        _case("serve-host-unknown", "", "--host that does not resolve",
              ["serve", "--host", "no-such-host.invalid", "--port", "{port}"], _free_port),
        _case("serve-host-not-this-machine", "", "--host an address of another machine (192.0.2.1, TEST-NET)",
              ["serve", "--host", "192.0.2.1", "--port", "{port}"], _free_port),
        _case("serve-host-empty", "13.8", "--host '' (would mean every interface)",
              ["serve", "--host", "", "--port", "{port}"], _free_port),
        _case("serve-host-empty-bracket", "13.8", "--host '[]'", ["serve", "--host", "[]", "--port", "{port}"],
              _free_port),
        _case("serve-allow-host-empty", "13.8", "--allow-host ''",
              ["serve", "--allow-host", "", "--port", "{port}"], _free_port),
        _case("serve-allow-host-url", "13.8", "--allow-host http://evil.example/",
              ["serve", "--allow-host", "http://evil.example/", "--port", "{port}"], _free_port),
        # session timeout
        _case("serve-session-timeout-zero", "13.9", "--session-timeout 0",
              ["serve", "--session-timeout", "0", "--port", "{port}"], _free_port),
        _case("serve-session-timeout-nan", "13.9", "--session-timeout nan",
              ["serve", "--session-timeout", "nan", "--port", "{port}"], _free_port),
        _case("serve-session-timeout-word", "13.9", "--session-timeout soon",
              ["serve", "--session-timeout", "soon"]),
        _case("serve-session-timeout-year", "13.9", "--session-timeout 31536000 (a year)",
              ["serve", "--session-timeout", "31536000", "--port", "{port}"], _free_port),
        # scenarios
        _case("serve-scenario-missing", "", "a scenario file that does not exist",
              ["serve", "{tmp}/missing.toml", "--port", "{port}"], _free_port),
        _case("serve-scenario-directory", "13.13", "a scenario that is a folder",
              ["serve", "{tmp}", "--port", "{port}"], _free_port),
        _case("serve-scenario-out-of-range", "", "modelled_share = 7",
              ["serve", "{tmp}/bad.toml"], _scenario("modelled_share = 7\n")),
        _case("serve-scenario-not-toml", "", "a scenario that is not TOML",
              ["serve", "{tmp}/bad.toml"], _scenario("this is [not toml\n")),
        _case("serve-scenario-binary", "13.13", "a binary scenario file", ["serve", "{tmp}/bad.toml"], _binary_scenario),
        _case("serve-scenario-unknown-focus", "", 'focus_city = "Atlantis"',
              ["serve", "{tmp}/bad.toml"], _scenario('focus_city = "Atlantis"\n')),
        _case("serve-scenario-unknown-key", "", "a scenario key that is no parameter",
              ["serve", "{tmp}/bad.toml"], _scenario("no_such_parameter = 1\n")),
    ]


def run_case(case: dict[str, Any], tmp: Path, *, cwd: Path | None = None) -> tuple[int | None, str]:
    """Run one case: (exit code, stderr); exit code None when it ran past TIME_LIMIT (killed)."""
    tmp = Path(tmp)
    names: dict[str, Any] = {"tmp": str(tmp)}
    try:
        if case["setup"] is not None:
            names.update(case["setup"](tmp) or {})
        argv = [a.format(**names) for a in case["argv"]]
        try:
            r = subprocess.run([sys.executable, "-m", "model", *argv], capture_output=True, text=True,
                               timeout=TIME_LIMIT, cwd=cwd)
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            return None, err
        return r.returncode, r.stderr
    finally:
        while _held:
            _held.pop().close()
