"""Benchmark of the visual server (model/app/) in headless Chromium, on loopback.

1. Step time: one browser session steps the default scenario (experiments/baseline.toml)
   quarter by quarter; each Step is timed from the click until the year label has moved and
   all five figures (map + four charts) have been redrawn and loaded. Target: < 1 s a step.
2. Load: SESSIONS browser sessions (separate contexts, so separate models) press Step at the
   same moment, ROUNDS times; meanwhile a probe thread keeps fetching the page over HTTP.
   The server must stay up, answer every probe and advance every session by ROUNDS quarters.
3. Memory: on a fresh server (default --session-timeout, 120 s), after one warm-up session,
   MEMORY_SESSIONS sessions are opened one after another (page loaded, one Step) and closed, twice;
   the server's RSS is read after each round and once Solara has closed its kernels (polled on
   /resourcez). Closed sessions must give their memory back for reuse: the second round may not
   leave the server more than 25 MB above the first.

Prints the figures and writes them to the "## Visual server" section of docs/performance.md
(replacing that section only; other sections are kept).

    python benchmarks/bench_server.py [--steps 24] [--sessions 5] [--rounds 8] [--memory-sessions 16] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM_ARGS, find_chromium  # noqa: E402
from model.files import replace_section  # noqa: E402
from model.app.serve import free_port, start_background, stop_background, wait_until_up  # noqa: E402

FIGURES = ("oabm-map", "oabm-chart-regions", "oabm-chart-focus", "oabm-chart-wage-ratio", "oabm-chart-fiscal")
SECTION = "## Visual server"

#: Resolves when the year label differs from `before` and every figure's src differs from
#: the recorded one and has loaded.
JS_STEPPED = """([before, srcs]) => {
    const y = document.querySelector('[data-testid=oabm-year]');
    if (!y || y.innerText.trim() === before) return false;
    const imgs = srcs.map((_, i) => window.__oabmImg(i));
    return imgs.every((im, i) => im && im.src !== srcs[i] && im.complete && im.naturalWidth > 300);
}"""
JS_INSTALL = """(ids) => { window.__oabmImg = (i) => {
    const m = document.querySelector(`[data-testid=${ids[i]}]`);
    const cell = m && m.closest('.vue-grid-item');
    return cell && cell.querySelector('img');
}; }"""


def srcs(page) -> list[str]:
    return page.evaluate("(n) => Array.from({length: n}, (_, i) => { const im = window.__oabmImg(i); return im ? im.src : '' })",
                         len(FIGURES))


def open_page(browser, url):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1150})
    page = ctx.new_page()
    page.goto(url, timeout=60_000)
    page.wait_for_selector("[data-testid=oabm-year]", timeout=60_000)
    page.evaluate(JS_INSTALL, list(FIGURES))
    page.wait_for_function("(n) => Array.from({length: n}, (_, i) => window.__oabmImg(i)).every(im => im && im.complete && im.naturalWidth > 300)",
                           arg=len(FIGURES), timeout=60_000)
    return ctx, page


def click_step(page) -> tuple[str, list[str]]:
    before = page.inner_text("[data-testid=oabm-year]").strip()
    old = srcs(page)
    page.get_by_role("button", name="Step").click()
    return before, old


def wait_stepped(page, before, old, timeout=120_000) -> str:
    page.wait_for_function(JS_STEPPED, arg=[before, old], timeout=timeout, polling=20)
    return page.inner_text("[data-testid=oabm-year]").strip()


class Probe(threading.Thread):
    """Fetches the page over HTTP every 0.25 s; records latencies and failures."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.stop, self.lat, self.fail = url, threading.Event(), [], []
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def run(self):
        while not self.stop.is_set():
            t = time.perf_counter()
            try:
                with self.opener.open(self.url, timeout=10) as r:
                    r.read()
                    (self.lat if r.status == 200 else self.fail).append(time.perf_counter() - t)
            except OSError as e:
                self.fail.append(str(e))
            self.stop.wait(0.25)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def kernels(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url + "resourcez", timeout=30) as r:
        return int(json.load(r)["kernels"]["total"])


def memory_run(browser, n: int, log) -> dict:
    """RSS of a fresh server: warm (one session opened and culled), then twice: after ``n`` more
    sessions opened and closed one after another, and once Solara has closed their kernels."""
    import psutil

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_background(str(ROOT / "experiments" / "baseline.toml"), "127.0.0.1", port, log=log)
    try:
        wait_until_up(url, proc, timeout=90)
        rss = lambda: psutil.Process(proc.pid).memory_info().rss / 2**20  # noqa: E731

        def visit():
            ctx, page = open_page(browser, url)
            before, old = click_step(page)
            wait_stepped(page, before, old)
            ctx.close()

        def wait_culled():
            t0 = time.perf_counter()
            while kernels(url) and time.perf_counter() - t0 < 600:
                time.sleep(1)
            time.sleep(4)  # the collection runs 2 s after a session's close
            return time.perf_counter() - t0

        out = {"start": rss()}
        visit()
        wait_culled()
        out["warm"] = rss()
        for r in (1, 2):
            for _ in range(n):
                visit()
            out[f"open{r}"] = rss()
            out[f"kernels{r}"] = kernels(url)
            out[f"wait{r}"] = wait_culled()
            out[f"closed{r}"] = rss()
        return out
    finally:
        stop_background(proc)


def write_section(text: str) -> Path:
    """``text`` starts with the SECTION heading line."""
    path = ROOT / "docs" / "performance.md"
    replace_section(path, SECTION, text.split("\n", 1)[1].lstrip("\n"))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=24, help="quarters stepped one by one in the timing run")
    ap.add_argument("--sessions", type=int, default=5, help="concurrent browser sessions in the load test")
    ap.add_argument("--rounds", type=int, default=8, help="simultaneous Step presses per session")
    ap.add_argument("--memory-sessions", type=int, default=16, help="sessions opened and closed in the memory run")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    a = ap.parse_args()

    chromium = find_chromium()
    if chromium is None:
        print("bench_server: Debian chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = open(ROOT / "results" / "bench_server.log", "w") if (ROOT / "results").is_dir() else subprocess.DEVNULL
    proc = start_background(str(ROOT / "experiments" / "baseline.toml"), "127.0.0.1", port, log=log)
    try:
        up = wait_until_up(url, proc, timeout=90)
        print(f"server up in {up:.1f} s at {url}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            t = time.perf_counter()
            ctx, page = open_page(browser, url)
            first_load = time.perf_counter() - t
            print(f"first page load (map + 4 charts drawn): {first_load:.2f} s")

            # 1. one session, step by step
            times = []
            for _ in range(a.steps):
                t = time.perf_counter()
                before, old = click_step(page)
                label = wait_stepped(page, before, old)
                times.append(time.perf_counter() - t)
            ctx.close()
            print(f"step + redraw, {a.steps} quarters to {label}: mean {statistics.mean(times):.3f} s, "
                  f"median {statistics.median(times):.3f} s, p95 {pct(times, 0.95):.3f} s, max {max(times):.3f} s")

            # 2. SESSIONS sessions pressing Step at once
            pages = [open_page(browser, url) for _ in range(a.sessions)]
            probe = Probe(url)
            probe.start()
            rounds = []
            for _ in range(a.rounds):
                t = time.perf_counter()
                pending = [(p, *click_step(p)) for _, p in pages]
                for p, before, old in pending:
                    wait_stepped(p, before, old)
                rounds.append(time.perf_counter() - t)
            probe.stop.set()
            probe.join()
            labels = [p.inner_text("[data-testid=oabm-year]").strip() for _, p in pages]
            for c, _ in pages:
                c.close()
            mem = memory_run(browser, a.memory_sessions, log)
            browser.close()
        expected = f"{2005 + (a.rounds - 1) // 4} Q{(a.rounds - 1) % 4 + 1}"  # baseline starts 2005
        alive = proc.poll() is None
        final = wait_until_up(url, proc, timeout=10)
        probe.lat = probe.lat or [float("nan")]
        ok = alive and not probe.fail and len(set(labels)) == 1 and labels[0] == expected
        print(f"load: {a.sessions} sessions x {a.rounds} simultaneous steps: round (all sessions stepped and "
              f"redrawn) mean {statistics.mean(rounds):.2f} s, max {max(rounds):.2f} s; "
              f"per session-step {statistics.mean(rounds) / a.sessions:.2f} s")
        print(f"load: HTTP probe during load: {len(probe.lat)} answered, {len(probe.fail)} failed, "
              f"median {statistics.median(probe.lat) * 1000:.0f} ms, max {max(probe.lat) * 1000:.0f} ms; "
              f"sessions ended at {sorted(set(labels))}; server alive: {alive}, answers after: {final:.2f} s")
        print("load test:", "PASS" if ok else "FAIL")
        mem_ok = mem["closed2"] - mem["closed1"] < 25 and mem["open2"] - mem["open1"] < 25
        print(f"memory: RSS {mem['start']:.0f} MB at start, {mem['warm']:.0f} MB after one session (closed); "
              f"{a.memory_sessions} sessions: {mem['open1']:.0f} MB, closed {mem['closed1']:.0f} MB "
              f"({mem['wait1']:.0f} s); {a.memory_sessions} more: {mem['open2']:.0f} MB, closed {mem['closed2']:.0f} MB "
              f"({mem['wait2']:.0f} s): {'PASS' if mem_ok else 'FAIL'}")
        ok = ok and mem_ok

        cpu = f"{os.cpu_count()} CPUs"
        try:
            chromium_v = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            chromium_v = "chromium"
        target = "met" if pct(times, 0.95) < 1.0 else "NOT met"
        text = f"""{SECTION}

Measured by `python benchmarks/bench_server.py` ({datetime.now(timezone.utc):%Y-%m-%d}, {platform.platform()},
{cpu}, Python {platform.python_version()}, {chromium_v} headless, server and browser on the same machine,
loopback only). Scenario: `experiments/baseline.toml`, seed 42. A step is timed in the browser from the
Step click until the year label has moved and all five figures (map + four charts, drawn by matplotlib
on the server) have been replaced and loaded.

| measure | value |
|---|---|
| server start to first answer | {up:.1f} s |
| first page load, map and charts drawn | {first_load:.2f} s |
| step + redraw, one session ({a.steps} quarters, to {label}) | mean {statistics.mean(times):.3f} s, median {statistics.median(times):.3f} s, p95 {pct(times, 0.95):.3f} s, max {max(times):.3f} s |
| target < 1 s per step | {target} |
| {a.sessions} sessions pressing Step at once, {a.rounds} rounds: time until all redrawn | mean {statistics.mean(rounds):.2f} s, max {max(rounds):.2f} s ({statistics.mean(rounds) / a.sessions:.2f} s per session-step) |
| HTTP probe of the page during the load | {len(probe.lat)} answered, {len(probe.fail)} failed, median {statistics.median(probe.lat) * 1000:.0f} ms, max {max(probe.lat) * 1000:.0f} ms |
| server after the load | {"up, answering" if alive else "DOWN"}; every session at {", ".join(sorted(set(labels)))} |
| server RSS at start / after one session, closed | {mem['start']:.0f} MB / {mem['warm']:.0f} MB |
| {a.memory_sessions} sessions opened and closed one after another / once Solara closed their kernels ({mem['wait1']:.0f} s later) | {mem['open1']:.0f} MB ({(mem['open1'] - mem['warm']) / a.memory_sessions:.1f} MB a session) / {mem['closed1']:.0f} MB |
| {a.memory_sessions} more sessions / once closed ({mem['wait2']:.0f} s later) | {mem['open2']:.0f} MB ({mem['open2'] - mem['open1']:+.0f} MB against the first {a.memory_sessions}) / {mem['closed2']:.0f} MB ({mem['closed2'] - mem['closed1']:+.0f} MB) |

The server is one Python process: sessions' steps and redraws share its interpreter, so under
simultaneous load a round takes about the sum of the sessions' step times (the figures are drawn
one after another, not in parallel).

A session's model (about 20 MB) is freed when Solara closes its kernel: at once when the tab says
goodbye, otherwise `--session-timeout` seconds (default 120) after its page went away; a browser
context closed by Playwright does not say goodbye, so the table shows the timeout path. Freed memory
is reused by the next sessions (the second round costs no more than the first) but only partly
returned to the operating system: Python keeps the 1 MiB arenas that still hold a few live objects,
so the server's RSS stays near the high-water mark of its busiest moment. Before issue 13 the
kernels lived for Solara's default 24 h and solara 1.58.2's `use_task` kept every session's model in
a module-level list even after that, so each session added about 21 MB for good (275 to 638 MB after
16 sessions); `model/app/sessions.py` drops those references when a session closes.
"""
        if not a.no_write:
            print(f"wrote {write_section(text)}")
        return 0 if ok else 1
    finally:
        stop_background(proc)


if __name__ == "__main__":
    raise SystemExit(main())
