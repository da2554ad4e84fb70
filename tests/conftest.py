"""Shared fixtures. Browser fixtures: the visual server and headless Debian Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Browser test artifacts (screenshots, server log); results/ is git-ignored.
BROWSER_ARTIFACTS = ROOT / "results" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def find_chromium() -> str | None:
    """Debian's chromium (what ./dev test installs); OABM_CHROMIUM overrides."""
    for cand in (os.environ.get("OABM_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.fail("browser test needs Debian's chromium at /usr/bin/chromium (./dev test installs it; "
                    "or set OABM_CHROMIUM=/path/to/chromium)")
    return path


@contextlib.contextmanager
def running_server(scenario: str | Path, *extra: str, log_name: str = "server.log", host: str = "127.0.0.1"):
    """`outsourcing-abm serve SCENARIO --port <free> *extra` from the repository root; yields
    (url, process). Stopped with SIGTERM (then SIGKILL) afterwards."""
    from model.app.serve import free_port, start_background, stop_background, wait_until_up

    BROWSER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = BROWSER_ARTIFACTS / log_name
    with open(log_path, "w") as log:
        proc = start_background(str(scenario), host, port, log=log, cwd=ROOT, extra=extra)
        url = f"http://{host}:{port}/"
        try:
            try:
                wait_until_up(url, proc, timeout=90)
            except RuntimeError as e:
                pytest.fail(f"{e}\n--- server log ---\n{log_path.read_text()}")
            yield url, proc
        finally:
            stop_background(proc)


@pytest.fixture(scope="session")
def visual_server():
    """`outsourcing-abm serve experiments/baseline.toml` on a free loopback port; yields its URL."""
    with running_server("experiments/baseline.toml") as (url, _):
        yield url


@pytest.fixture(scope="session")
def chromium(chromium_path):
    """A headless Chromium driven by Playwright's sync API (no Playwright browser download)."""
    from playwright.sync_api import sync_playwright  # a test dependency: missing means fail, not skip

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
