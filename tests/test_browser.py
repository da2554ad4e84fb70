"""The visual server in a real browser: headless Debian Chromium driven by Playwright.

One server (`outsourcing-abm serve experiments/baseline.toml` on a free loopback port) for
the module; every test opens its own browser context (= its own Solara session and model).
Every request each page makes is routed through a recorder: anything not addressed to
127.0.0.1 is aborted and fails the test, as do uncaught page errors and HTTP errors.
Screenshots go to results/browser/ (printed); with OABM_UPDATE_SCREENSHOT=1 the later-year one also replaces docs/img/app.png.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest

from conftest import BROWSER_ARTIFACTS, ROOT, running_server

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1600, "height": 1150}
NUMBERS = ("oabm-focus-firms", "oabm-focus-employment", "oabm-focus-spend", "oabm-focus-tax", "oabm-focus-wage-ratio")
FIGURES = ("oabm-map", "oabm-chart-regions", "oabm-chart-focus", "oabm-chart-wage-ratio", "oabm-chart-fiscal")
LOCAL_HOSTS = {"127.0.0.1"}


@dataclass
class Session:
    """One browser context + page, with everything it asked the network for."""

    context: object
    page: object
    requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def check_clean(self) -> None:
        assert not self.page_errors, f"uncaught page errors: {self.page_errors}"
        assert not self.external, f"requests that left 127.0.0.1: {self.external}"
        assert not self.http_errors, f"HTTP errors: {self.http_errors}"
        assert self.requests, "no requests recorded"

    # -- reading the page ------------------------------------------------------------
    def text(self, testid: str) -> str:
        return self.page.locator(f"[data-testid={testid}]").first.inner_text().strip()

    def year(self) -> str:
        return self.text("oabm-year")

    def numbers(self) -> dict[str, str]:
        return {t: self.text(t) for t in NUMBERS}

    def figure_srcs(self) -> dict[str, str]:
        return {t: self.figure(t).get_attribute("src") or "" for t in FIGURES}

    def figure(self, testid: str):
        cell = self.page.locator(".vue-grid-item", has=self.page.locator(f"[data-testid={testid}]"))
        return cell.locator("img").first

    # -- acting on it --------------------------------------------------------------------
    def wait_year(self, label: str, timeout: float = 60_000) -> None:
        self.page.wait_for_function(
            "l => { const e = document.querySelector('[data-testid=oabm-year]'); return e && e.innerText.trim() === l }",
            arg=label, timeout=timeout)

    def step(self) -> str:
        before = self.year()
        self.page.get_by_role("button", name="Step").click()
        self.page.wait_for_function(
            "b => { const e = document.querySelector('[data-testid=oabm-year]'); return e && e.innerText.trim() !== b }",
            arg=before, timeout=60_000)
        return self.year()

    def reset(self) -> None:
        self.page.get_by_role("button", name="Reset").click()
        self.wait_year("start of 2005")

    def slider(self, label: str, key: str, presses: int = 1) -> None:
        """Move a Vuetify slider (found by its whole label) with the keyboard: Home, End, ArrowRight..."""
        exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
        thumb = self.page.locator(".v-input", has=self.page.locator("label", has_text=exact)) \
            .locator(".v-slider__thumb-container").first
        thumb.focus()
        for _ in range(presses):
            thumb.press(key)

    def screenshot(self, name: str) -> str:
        BROWSER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = BROWSER_ARTIFACTS / name
        self.page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        return str(path)


def open_session(chromium, url: str) -> Session:
    context = chromium.new_context(viewport=VIEWPORT)
    s = Session(context, None)

    def route(r):
        u = r.request.url
        s.requests.append(u)
        host = urlparse(u).hostname
        if u.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            s.external.append(u)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    s.page = page
    page.on("pageerror", lambda e: s.page_errors.append(str(e)))
    page.on("websocket", lambda ws: (s.requests.append(ws.url),
                                      None if urlparse(ws.url).hostname in LOCAL_HOSTS else s.external.append(ws.url)))
    page.on("response", lambda r: s.http_errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_selector("[data-testid=oabm-year]", timeout=60_000)
    wait_figures(s)
    return s


def wait_figures(s: Session) -> None:
    for t in FIGURES:
        img = s.figure(t)
        img.wait_for(state="visible", timeout=30_000)
        s.page.wait_for_function("i => i.complete && i.naturalWidth > 300", arg=img.element_handle(),
                                 timeout=30_000)


@pytest.fixture
def session(chromium, visual_server):
    s = open_session(chromium, visual_server)
    yield s
    s.context.close()


def test_page_renders_map_and_charts_offline(session):
    s = session
    assert s.year() == "start of 2005"
    for t in FIGURES:
        box = s.figure(t).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 150, (t, box)
    # the focus city and its reference cities are the scenario's (Neijiang; Chengdu, Chongqing)
    assert s.text("oabm-focus-heading") == "Neijiang, latest"
    assert "SO wage / mean of Chengdu, Chongqing:" in s.page.inner_text("body")
    assert "Neijiang levers in effect" in s.text("oabm-levers")
    assert "rent_relief 0.7 (2019-2030)" in s.text("oabm-levers")  # from experiments/baseline.toml
    s.screenshot("01_start.png")
    s.check_clean()
    hosts = {urlparse(u).hostname for u in s.requests}
    print(f"{len(s.requests)} requests, hosts: {sorted(h for h in hosts if h)}")


def test_step_advances_the_year_and_redraws(session):
    s = session
    srcs = s.figure_srcs()
    assert s.step() == "2005 Q1"
    assert s.step() == "2005 Q2"
    wait_figures(s)
    after = s.figure_srcs()
    assert after["oabm-map"] != srcs["oabm-map"], "map not redrawn after Step"
    assert after["oabm-chart-regions"] != srcs["oabm-chart-regions"], "chart not redrawn after Step"

    # Play runs on by itself; pause stops it.
    s.page.get_by_role("button", name="▶").click()
    s.page.wait_for_function(
        "() => !['2005 Q2', '2005 Q3'].includes(document.querySelector('[data-testid=oabm-year]').innerText.trim())",
        timeout=30_000)
    s.page.get_by_role("button", name="❚❚").click()
    s.page.get_by_role("button", name="▶").wait_for(timeout=10_000)
    s.page.wait_for_timeout(600)
    paused_at = s.year()
    s.page.wait_for_timeout(1000)
    assert s.year() == paused_at, "model still running after pause"
    assert paused_at >= "2005 Q4", paused_at
    s.check_clean()


def test_lever_slider_and_reset_change_parameters_and_numbers(session):
    s = session
    for _ in range(4):
        s.step()
    assert s.year() == "2005 Q4"
    before = s.numbers()
    assert "talent_apartments" not in s.text("oabm-levers")

    # Same controls, Reset: the same seed gives the same numbers.
    s.reset()
    for _ in range(4):
        s.step()
    assert s.numbers() == before

    # Set Neijiang's talent apartments here: on, 20,000 units (slider max), from 2005.
    s.page.locator("label", has_text="Set talent apartments here").click()
    s.slider("Talent apartments", "End")
    s.slider("Talent apartments from", "Home")
    s.reset()
    assert "talent_apartments 20000 (2005-2030)" in s.text("oabm-levers")
    for _ in range(4):
        s.step()
    after = s.numbers()
    assert after != before, (before, after)
    spend = lambda d: float(d["oabm-focus-spend"].replace(",", ""))  # noqa: E731
    # 20,000 units x 12,000 CNY/unit/year x 1 year of apartments, on top of the baseline's spending
    assert spend(after) - spend(before) == pytest.approx(20000 * 12000, rel=0.01), (before, after)
    s.screenshot("02_lever_set.png")
    s.check_clean()


def test_two_sessions_keep_separate_models(chromium, visual_server):
    a = open_session(chromium, visual_server)
    b = open_session(chromium, visual_server)
    try:
        for _ in range(3):
            a.step()
        assert b.step() == "2005 Q1"
        assert a.year() == "2005 Q3"
        assert a.step() == "2005 Q4"  # a shared model would be at 2006 Q1 by now
        assert b.step() == "2005 Q2"
        a.check_clean()
        b.check_clean()
    finally:
        a.context.close()
        b.context.close()


def test_later_year_screenshot(session):
    s = session
    # Step by 67 quarters at once with Mesa's render-interval slider (1, 3, 5, ...): to 2021 Q3.
    s.slider("Render Interval (steps)", "Home")
    s.slider("Render Interval (steps)", "ArrowRight", presses=33)
    s.page.get_by_role("button", name="Step").click()
    s.wait_year("2021 Q3", timeout=120_000)
    wait_figures(s)
    s.page.wait_for_timeout(300)
    path = s.screenshot("03_2021.png")
    if os.environ.get("OABM_UPDATE_SCREENSHOT"):  # refresh the README picture on request only
        shutil.copyfile(path, ROOT / "docs" / "img" / "app.png")
        print(f"screenshot: {ROOT / 'docs' / 'img' / 'app.png'}")
    s.check_clean()


@pytest.mark.slow  # over a minute on CI's two cores; `./dev test -m slow` runs it
def test_five_sessions_stepping_at_once(chromium, visual_server):
    """Bounded load: 5 sessions press Step together, 3 rounds; the server keeps answering
    plain HTTP meanwhile and every session advances by exactly its own steps."""
    import urllib.request

    sessions = [open_session(chromium, visual_server) for _ in range(5)]
    try:
        for rnd in range(3):
            for s in sessions:
                s.page.get_by_role("button", name="Step").click()
            with urllib.request.urlopen(visual_server, timeout=30) as r:
                assert r.status == 200
            label = ["2005 Q1", "2005 Q2", "2005 Q3"][rnd]
            for s in sessions:
                s.wait_year(label, timeout=90_000)
        for s in sessions:
            assert s.year() == "2005 Q3"
            s.check_clean()
    finally:
        for s in sessions:
            s.context.close()


@pytest.fixture(scope="module")
def zigong_server(tmp_path_factory):
    """The server started with a scenario whose focus city is Zigong (the baseline otherwise)."""
    scenario = tmp_path_factory.mktemp("zigong") / "zigong.toml"
    scenario.write_text(f'inherits = "{(ROOT / "experiments" / "baseline.toml").as_posix()}"\n'
                        'focus_city = "Zigong"\n')
    with running_server(scenario, log_name="server_zigong.log") as (url, _):
        yield url


def test_focus_city_comes_from_the_scenario(chromium, zigong_server):
    s = open_session(chromium, zigong_server)
    try:
        assert s.text("oabm-focus-heading") == "Zigong, latest"
        assert s.text("oabm-levers") == "Zigong levers in effect: none"  # the sliders set Zigong's levers
        assert "zigong.toml" in s.text("oabm-scenario")
        assert s.step() == "2005 Q1"
        assert s.text("oabm-focus-employment") != ""
        s.screenshot("04_zigong.png")
        s.check_clean()
    finally:
        s.context.close()
