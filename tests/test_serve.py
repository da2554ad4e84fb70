"""`outsourcing-abm serve` as a server: what it refuses before starting, what it refuses while
running, and that it leaves nothing behind. Real processes on loopback ports, raw HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from conftest import BROWSER_ARTIFACTS, ROOT


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "model", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def assert_one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def test_serve_checks_scenario_and_port_before_starting(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("modelled_share = 7\n")
    assert_one_line_error(cli("serve", str(bad), "--port", "8999"), "modelled_share")
    assert_one_line_error(cli("serve", str(tmp_path / "missing.toml"), "--port", "8999"), "scenario")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_one_line_error(cli("serve", "baseline", "--port", str(port)), "--port", "cannot listen")


def test_sigkill_of_serve_leaves_nothing_on_its_port():
    """Issue 13 item 7: the server must not outlive a SIGKILL of the command (it runs in the
    command's own process; before, an orphaned Solara child kept the port and kept answering)."""
    from model.app.serve import free_port, start_background, wait_until_up

    port = free_port()
    BROWSER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(BROWSER_ARTIFACTS / "server_sigkill.log", "w") as log:
        proc = start_background("experiments/baseline.toml", "127.0.0.1", port, log=log, cwd=ROOT)
        family: list[psutil.Process] = []
        try:
            wait_until_up(f"http://127.0.0.1:{port}/", proc, timeout=90)
            family = psutil.Process(proc.pid).children(recursive=True)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            t0 = time.monotonic()
            while port_answers(port) and time.monotonic() - t0 < 3.0:
                time.sleep(0.05)
            assert not port_answers(port), f"something still answers on port {port} 3 s after SIGKILL"
            again = start_background("experiments/baseline.toml", "127.0.0.1", port, log=log, cwd=ROOT)
            try:  # and a new server can have the port at once
                wait_until_up(f"http://127.0.0.1:{port}/", again, timeout=90)
            finally:
                again.terminate()
                again.wait(timeout=30)
        finally:
            for p in [*family, psutil.Process(proc.pid)] if proc.poll() is None else family:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
