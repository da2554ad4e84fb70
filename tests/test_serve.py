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


# --------------------------------------------------------------------------------------------
# Issue 13 item 8: only the served address's Hosts and Origins
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    """A server on a free loopback port; yields its port."""
    from conftest import running_server

    with running_server("experiments/baseline.toml", log_name="server_guard.log") as (url, _):
        yield int(url.rsplit(":", 1)[1].strip("/"))


def http_get(port: int, host_header: str, origin: str | None = None, path: str = "/"):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host_header)
        if origin is not None:
            conn.putheader("Origin", origin)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def websocket_status(port: int, host_header: str, origin: str | None) -> int:
    """Status code of a websocket handshake to Solara's kernel channel, sent by hand."""
    import base64
    import uuid

    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET /jupyter/api/kernels/{uuid.uuid4()}/channels?session_id={uuid.uuid4()} HTTP/1.1",
             f"Host: {host_header}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while b"\r\n" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def test_foreign_host_is_refused(server):
    status, _, body = http_get(server, "evil.example")
    assert status == 403, (status, body[:200])
    assert http_get(server, f"evil.example:{server}")[0] == 403
    assert http_get(server, "127.0.0.1:1")[0] == 403  # another port is another origin
    for own in (f"127.0.0.1:{server}", f"localhost:{server}", f"[::1]:{server}"):
        assert http_get(server, own)[0] == 200, own
    # a foreign Origin on an ordinary request (a cross-site fetch or form) is refused too
    assert http_get(server, f"127.0.0.1:{server}", origin="http://evil.example")[0] == 403
    assert http_get(server, f"127.0.0.1:{server}", origin=f"http://localhost:{server}")[0] == 200


def test_foreign_websocket_origin_is_refused(server):
    own = f"127.0.0.1:{server}"
    assert websocket_status(server, own, "http://evil.example") != 101
    assert websocket_status(server, own, "null") != 101
    assert websocket_status(server, "evil.example", f"http://{own}") != 101
    assert websocket_status(server, own, f"http://{own}") == 101  # the page's own origin still connects


def test_served_hosts():
    from model.app.guard import served_hosts

    assert served_hosts("127.0.0.1", 8765) == {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
    assert served_hosts("::1", 9000) == {"127.0.0.1:9000", "localhost:9000", "[::1]:9000"}
    assert served_hosts("192.0.2.7", 8765) == {"192.0.2.7:8765"}
    assert "demo.lan:8765" in served_hosts("192.0.2.7", 8765, ("Demo.LAN",))
    wild = served_hosts("0.0.0.0", 8765)
    assert {"127.0.0.1:8765", f"{socket.gethostname().lower()}:8765"} <= wild
    assert "0.0.0.0:8765" not in wild
    assert "127.0.0.1" in served_hosts("127.0.0.1", 80)


# --------------------------------------------------------------------------------------------
# Issue 13 item 9: a closed session's model is freed within minutes
# --------------------------------------------------------------------------------------------
def test_sessions_are_culled_after_two_minutes_by_default():
    from model.app.serve import SESSION_TIMEOUT, server_env

    assert server_env(None)["SOLARA_KERNEL_CULL_TIMEOUT"] == "120s" and SESSION_TIMEOUT == 120
    assert server_env(None, session_timeout=5)["SOLARA_KERNEL_CULL_TIMEOUT"] == "5s"


def kernels(url: str) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(url + "resourcez", timeout=30) as r:
        return int(json.load(r)["kernels"]["total"])


def visit(chromium, url: str) -> None:
    """One browser session: load the page (its model is built), Step once, close the tab."""
    ctx = chromium.new_context(viewport={"width": 1600, "height": 1150})
    try:
        page = ctx.new_page()
        page.goto(url, timeout=60_000)
        page.wait_for_selector("[data-testid=oabm-year]", timeout=60_000)
        page.get_by_role("button", name="Step").click()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=oabm-year]').innerText.trim() === '2005 Q1'", timeout=60_000)
    finally:
        ctx.close()


def wait_culled(url: str, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while kernels(url) and time.monotonic() - t0 < timeout:
        time.sleep(0.5)
    assert kernels(url) == 0, "sessions still open"
    time.sleep(4)  # the collection runs 2 s after a session's close


@pytest.mark.slow  # 55 s, the suite's longest; benchmarks/bench_server.py measures the server's RSS after closed sessions too
@pytest.mark.browser
def test_closed_sessions_give_their_memory_back(chromium):
    """Sessions opened and closed in two rounds of three: once Solara has closed their kernels
    (--session-timeout 3) the second round leaves the server no bigger than the first (each
    session holds about 20 MB; before, kernels lived 24 h and a module-level list in solara kept
    every session's model anyway, so each round added 60 MB for good)."""
    from conftest import running_server

    with running_server("experiments/baseline.toml", "--session-timeout", "3",
                        log_name="server_sessions.log") as (url, proc):
        rss = lambda: psutil.Process(proc.pid).memory_info().rss / 2**20  # noqa: E731
        visit(chromium, url)  # the first session warms caches (fonts, travel times): not counted
        wait_culled(url)
        base = rss()
        after = []
        for _ in range(2):
            for _ in range(3):
                visit(chromium, url)
            wait_culled(url)
            after.append(rss())
        print(f"server RSS: {base:.0f} MB warm, {after[0]:.0f} MB after 3 sessions closed, "
              f"{after[1]:.0f} MB after 3 more")
        assert after[1] - after[0] < 20, (base, after)


# --------------------------------------------------------------------------------------------
# Issue 13 item 10: no privileged port unless asked
# --------------------------------------------------------------------------------------------
def test_privileged_port_is_refused_unless_asked():
    for port in ("22", "80", "1023"):
        assert_one_line_error(cli("serve", "--port", port, timeout=30), "--port", port, "below 1024",
                              "--allow-privileged-port")


def test_allow_privileged_port_starts_the_server():
    from model.app.serve import start_background, wait_until_up

    if os.geteuid() != 0:
        pytest.skip("only root may listen below 1024 here")
    port = next((p for p in range(1023, 900, -1) if not port_answers(p)), None)
    assert port is not None
    BROWSER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(BROWSER_ARTIFACTS / "server_privileged.log", "w") as log:
        proc = start_background("experiments/baseline.toml", "127.0.0.1", port, log=log, cwd=ROOT,
                                extra=("--allow-privileged-port",))
        try:
            wait_until_up(f"http://127.0.0.1:{port}/", proc, timeout=90)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


# --------------------------------------------------------------------------------------------
# The reliability table's serve cases (benchmarks/reliability_cases_app.py) hold
# --------------------------------------------------------------------------------------------
# Cases where two fields could be blamed: the error names the one at fault.
FIELD_AT_FAULT = {"serve-host-not-this-machine": "--host", "serve-host-unknown": "--host",
                  "serve-port-in-use": "--port"}


def test_reliability_cases_of_serve(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from reliability_cases_app import app_cases, run_case

    cases = app_cases()
    assert len({c["id"] for c in cases}) == len(cases)
    failures = []
    for case in cases:
        folder = tmp_path / case["id"]
        folder.mkdir()
        code, err = run_case(case, folder, cwd=ROOT)
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        if code != case["expect_exit"] or len(lines) != 1 or "Traceback" in err:
            failures.append(f"{case['id']}: exit {code}, stderr {err.strip()[:300]!r}")
        elif case["id"] in FIELD_AT_FAULT and f"error: {FIELD_AT_FAULT[case['id']]}:" not in lines[0]:
            failures.append(f"{case['id']}: does not name {FIELD_AT_FAULT[case['id']]}: {lines[0]!r}")
    assert not failures, "\n".join(failures)
