"""Sweeps on real Dask clusters with the real model: seeds, kill and resume, identical tables
whatever the cluster, failures that never stop a sweep, and one-line errors for bad designs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
TABLES = ("runs.parquet", "city_year.parquet", "region_year.parquet")

# A small, fast design on the real model: 4 points x 4 replications = 16 runs of ~0.3 s.
SMALL = f"""
name = "small"
scenario = "{EXPERIMENTS / 'baseline.toml'}"
method = "factorial"
replications = 4
root_seed = 777
[fixed]
end_year = 2012
persons_per_agent = 1000
[parameters]
modelled_share = [0.3, 0.4]
beta_margin = [4.0, 8.0]
"""


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env(), timeout=timeout)


def assert_one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifest_ok(out: Path) -> list[dict]:
    p = out / "manifest.jsonl"
    if not p.exists():
        return []
    rows = []
    for line in p.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if e.get("status") == "ok":
            rows.append(e)
    return rows


@pytest.fixture(scope="module")
def small_design(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("design") / "small.toml"
    p.write_text(SMALL)
    return p


@pytest.fixture(scope="module")
def reference(small_design, tmp_path_factory) -> Path:
    """The small design run on a LocalCluster of one worker process."""
    out = tmp_path_factory.mktemp("ref") / "one_worker"
    r = cli("sweep", str(small_design), "--out", str(out), "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert "16 runs (16 ok, 0 failed" in r.stdout
    return out


# ----------------------------------------------------------------------------------------
# design and seeds (no cluster)
# ----------------------------------------------------------------------------------------

def test_seeds_depend_only_on_place_in_design():
    from model.study.seeds import design_seeds

    s = design_seeds(42, 3, 4)
    root = np.random.SeedSequence(42)
    for p, child in enumerate(root.spawn(3)):
        for r, rep in enumerate(child.spawn(4)):
            assert s[p, r] == rep.generate_state(1, np.uint32)[0]
    bigger = design_seeds(42, 5, 6)  # more points and replications leave existing seeds alone
    assert (bigger[:3, :4] == s).all()
    assert len(np.unique(bigger)) == bigger.size
    crn = design_seeds(42, 3, 4, crn=True)
    assert (crn == crn[0]).all() and (crn[0] == s[0]).all()
    assert (s >= 0).all() and (s < 2**32).all()  # usable as `outsourcing-abm run --seed`


def test_committed_designs_are_valid():
    from model.study.design import load_design

    smoke = load_design(EXPERIMENTS / "sweep_smoke.toml")
    assert smoke.n_runs <= 20
    sens = load_design(EXPERIMENTS / "sensitivity.toml")
    assert sens.method == "sobol" and sens.problem["num_vars"] >= 4
    assert load_design(EXPERIMENTS / "sensitivity.toml", method="morris").n_runs > 0
    study = load_design(EXPERIMENTS / "policy_levers.toml")
    assert study.replications >= 20 and study.common_random_numbers
    groups = {p.group for p in study.points}
    assert {"counterfactual", "historical", "lever", "wage_gap"} <= groups
    from model.core.levers import LEVERS

    for lever in LEVERS:
        pts = [p for p in study.points if p.arm == lever]
        assert len(pts) >= 3, lever
        assert all(study.params_of(p.index).spells("Neijiang", lever) for p in pts)
    ratios = sorted(p.values["focus_wage_ratio_pin"] for p in study.points if p.group == "wage_gap")
    assert ratios[0] == pytest.approx(0.6) and ratios[-1] == pytest.approx(1.0) and len(ratios) >= 5


def test_factorial_points_and_overrides(small_design):
    from model.study.design import load_design

    d = load_design(small_design)
    assert [p.values for p in d.points] == [
        {"modelled_share": 0.3, "beta_margin": 4.0}, {"modelled_share": 0.3, "beta_margin": 8.0},
        {"modelled_share": 0.4, "beta_margin": 4.0}, {"modelled_share": 0.4, "beta_margin": 8.0}]
    assert d.params_of(3).modelled_share == 0.4 and d.params_of(3).end_year == 2012
    d2 = load_design(small_design, replications=2, overrides=["end_year=2011"])
    assert d2.n_runs == 8 and d2.params_of(0).end_year == 2011
    assert d2.digest != d.digest
    assert load_design(small_design, replications=9).digest == d.digest  # extendable with --resume


# ----------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing started
# ----------------------------------------------------------------------------------------

BAD = {
    "unknown parameter": ("[parameters]\nbeta_marign = [1.0, 2.0]", "beta_marign"),
    "empty range": ("[parameters]\nbeta_margin = { low = 5.0, high = 5.0, levels = 3 }", "empty range"),
    "empty values": ("[parameters]\nbeta_margin = []", "empty"),
    "out of range": ("[parameters]\nbeta_margin = [4.0, 500.0]", "out of range"),
    "zero replications": ("replications = 0\n[parameters]\nbeta_margin = [4.0]", "replications"),
    "unknown method": ("method = \"grid\"\n[parameters]\nbeta_margin = [4.0]", "method"),
    "unknown lever": ("[parameters]\n\"levers.Neijiang.free_lunch.intensity\" = [1.0]", "free_lunch"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_design_fails_at_once(case, tmp_path):
    body, word = BAD[case]
    head = f'scenario = "{EXPERIMENTS / "baseline.toml"}"\nroot_seed = 1\n'
    if "method" not in body:
        head += 'method = "factorial"\n'
    if "replications" not in body:
        head += "replications = 2\n"
    design = tmp_path / "bad.toml"
    design.write_text(head + body + "\n")
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = cli("sweep", str(design), "--out", str(out), "--workers", "1")
    assert_one_line_error(r, word)
    assert not out.exists()  # no run started, nothing written
    assert time.monotonic() - t0 < 30


def test_unreachable_scheduler_fails_at_once(small_design, tmp_path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = cli("sweep", str(small_design), "--out", str(out), "--scheduler", f"tcp://127.0.0.1:{free_port()}",
            "--connect-timeout", "1")
    assert_one_line_error(r, "--scheduler", "cannot reach")
    assert not out.exists()
    assert time.monotonic() - t0 < 30


def test_existing_output_needs_resume(reference, small_design):
    r = cli("sweep", str(small_design), "--out", str(reference), "--workers", "1")
    assert_one_line_error(r, "--resume")
    r = cli("sweep", str(small_design), "--out", str(reference), "--resume", "--set", "end_year=2011")
    assert_one_line_error(r, "--resume")  # other inputs than the sweep there: refused


# ----------------------------------------------------------------------------------------
# real clusters
# ----------------------------------------------------------------------------------------

def test_outputs_are_tidy_and_recorded(reference):
    runs = pd.read_parquet(reference / "runs.parquet")
    assert len(runs) == 16 and runs["run_id"].is_unique
    assert list(runs.columns[:4]) == ["run_id", "point", "replication", "seed"]
    assert {"modelled_share", "beta_margin", "status", "inland_share_2010", "spend_per_job_added_all_cities"} <= set(runs.columns)
    assert (runs["status"] == "ok").all()
    assert runs[["point", "replication"]].apply(tuple, axis=1).is_monotonic_increasing
    cy = pd.read_parquet(reference / "city_year.parquet")
    assert len(cy) == 16 * 26 * 8  # runs x cities x years 2005-2012
    assert not cy.duplicated(["run_id", "year", "city"]).any()
    for col in ("year", "city", "tier", "region", "firms", "employment", "tax_cny", "policy_spend_cny"):
        assert col in cy.columns
    ry = pd.read_parquet(reference / "region_year.parquet")
    assert set(ry["region"]) == {"coastal", "central", "western"}
    meta = json.loads((reference / "sweep.json").read_text())
    assert meta["root_seed"] == 777 and meta["runs"] == 16 and meta["provenance"]["version"]
    assert "commit" in meta["provenance"]["git"] and meta["base_params"]["end_year"] == 2012
    assert meta["counts"] == {"total": 16, "ok": 16, "failed": 0, "missing": 0}
    # the invocation's time, split into phases that add up to no more than the whole
    last = meta["history"][-1]
    phases = last["phase_seconds"]
    assert set(phases) == {"start-up", "runs", "shutdown", "tables"} and min(phases.values()) >= 0
    assert sum(phases.values()) <= last["seconds"] + 0.01
    assert 0 < last["model_seconds"] <= phases["runs"] + 0.01  # one worker: runs one after another
    # a run's seed reproduces it with the plain model
    from model.study.scenarios import load_scenario
    from model.run import simulate

    row = runs.iloc[5]
    p = load_scenario(EXPERIMENTS / "baseline.toml", ["end_year=2012", "persons_per_agent=1000",
                                                       f"modelled_share={float(row['modelled_share'])!r}",
                                                       f"beta_margin={float(row['beta_margin'])!r}"])
    res = simulate(p, int(row["seed"]))
    mine = cy[cy["run_id"] == row["run_id"]].drop(columns=["run_id", "point", "replication", "seed"])
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), res.city_year.reset_index(drop=True),
                                  check_dtype=False)
    ry = pd.read_parquet(reference / "region_year.parquet")
    ry = ry[ry["run_id"] == row["run_id"]].drop(columns=["run_id", "point", "replication"])
    pd.testing.assert_frame_equal(ry.reset_index(drop=True), res.region_year[ry.columns].reset_index(drop=True),
                                  check_dtype=False)


def kill_midway(cmd: list[str], out: Path) -> set[str]:
    """Start a sweep, SIGKILL its process group once two runs are recorded; the finished run ids."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(manifest_ok(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep (and local Dask workers), without warning
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    done = {e["run_id"] for e in manifest_ok(out)}
    assert 2 <= len(done) < 16
    assert not (out / "runs.parquet").exists()
    return done


@pytest.mark.cluster
def test_kill_midway_then_resume_matches_one_worker(reference, small_design, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "model", "sweep", str(small_design), "--out", str(out), "--workers", "2", "--quiet"]
    done_before = kill_midway(cmd, out)

    r = cli("sweep", str(small_design), "--out", str(out), "--workers", "2", "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"{16 - len(done_before)} run now, {len(done_before)} kept from before" in r.stdout
    entries = manifest_ok(out)
    assert len(entries) == 16 and len({e["run_id"] for e in entries}) == 16  # nothing ran twice
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 16 and runs["run_id"].is_unique
    for f in TABLES:
        assert (out / f).read_bytes() == (reference / f).read_bytes(), f
    # resuming a finished sweep runs nothing and changes nothing
    r = cli("sweep", str(small_design), "--out", str(out), "--resume", "--quiet")
    assert r.returncode == 0 and "0 run now, 16 kept" in r.stdout
    assert (out / "runs.parquet").read_bytes() == (reference / "runs.parquet").read_bytes()


@pytest.mark.cluster
def test_separate_scheduler_and_workers_match_one_worker(reference, small_design, tmp_path):
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, *args: str) -> None:
        with open(logs / f"{name}.log", "w") as fh:
            procs.append(subprocess.Popen([sys.executable, "-m", *args], cwd=tmp_path, env=env(),
                                          stdout=fh, stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
              "--no-dashboard")
        for i in range(2):
            start(f"worker{i}", "distributed.cli.dask_worker", addr, "--nthreads", "1", "--nworkers", "1",
                  "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{i}")
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(addr, timeout="2s") as c:
                    c.wait_for_workers(2, timeout=60)
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        out = tmp_path / "external"
        # Kill the sweep (its client) midway; the external cluster stays up and the resumed
        # sweep on it runs only what is missing.
        done_before = kill_midway([sys.executable, "-m", "model", "sweep", str(small_design), "--out", str(out),
                                   "--scheduler", addr, "--quiet"], out)
        r = cli("sweep", str(small_design), "--out", str(out), "--scheduler", addr, "--resume", "--quiet")
        assert r.returncode == 0, r.stderr + "".join(p.read_text() for p in logs.iterdir())
        assert f"{16 - len(done_before)} run now, {len(done_before)} kept from before" in r.stdout
        entries = manifest_ok(out)
        assert len(entries) == 16 and len({e["run_id"] for e in entries}) == 16
        for f in TABLES:
            assert (out / f).read_bytes() == (reference / f).read_bytes(), f
        meta = json.loads((out / "sweep.json").read_text())
        assert meta["scheduler"] == addr
        workers = {e["worker"] for e in manifest_ok(out)}
        assert len(workers) == 2  # both worker processes ran something
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


# ----------------------------------------------------------------------------------------
# failures: recorded with their error, retried once, never stop the sweep
# ----------------------------------------------------------------------------------------

FLAKY_DIR_ENV = "OABM_TEST_FLAKY_DIR"


def flaky_simulate(params, seed):
    """The real model, except that seed-picked runs fail: some only at their first attempt
    (a marker file remembers it, across worker processes), some always."""
    from model.run import simulate

    marks = Path(os.environ[FLAKY_DIR_ENV])
    if seed % 4 == 0:
        raise RuntimeError(f"always fails (seed {seed})")
    if seed % 4 == 1:
        mark = marks / str(seed)
        if not mark.exists():
            mark.touch()
            raise RuntimeError(f"fails once (seed {seed})")
    return simulate(params, seed)


@pytest.mark.cluster
def test_failures_are_recorded_retried_and_do_not_stop(small_design, tmp_path, monkeypatch):
    from model.study.design import load_design
    from model.study.sweep import run_sweep

    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv(FLAKY_DIR_ENV, str(marks))
    monkeypatch.setenv("OABM_SIMULATE", "test_sweep:flaky_simulate")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(Path(__file__).parent)]))
    d = load_design(small_design)
    seeds = d.seeds().ravel()
    always, once = int((seeds % 4 == 0).sum()), int((seeds % 4 == 1).sum())
    assert always and once, "pick another root_seed: the design needs both kinds of failure"
    s = run_sweep(d, tmp_path / "out", workers=2, progress=False)
    assert s.total == 16 and s.failed == always and s.ok == 16 - always
    runs = pd.read_parquet(tmp_path / "out" / "runs.parquet")
    bad = runs[runs["status"] == "failed"]
    assert len(bad) == always and bad["error"].str.contains("always fails").all()
    assert runs.loc[runs["status"] == "ok", "inland_share_2010"].notna().all()
    assert bad["inland_share_2010"].isna().all()
    log = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sum(e["status"] == "failed" for e in log) == 2 * always + once  # each failure tried twice
    for rid in bad["run_id"]:
        assert [e["attempt"] for e in log if e["run_id"] == rid] == [1, 2]
    cy = pd.read_parquet(tmp_path / "out" / "city_year.parquet")
    assert cy["run_id"].nunique() == 16 - always


# ----------------------------------------------------------------------------------------
# the policy-lever report, reduced
# ----------------------------------------------------------------------------------------

REDUCED_STUDY = f"""
name = "policy_reduced"
scenario = "{EXPERIMENTS / 'no_policy.toml'}"
method = "arms"
replications = 3
root_seed = 5
common_random_numbers = true
[fixed]
end_year = 2025
persons_per_agent = 1000
[[arms]]
label = "no_policy"
group = "counterfactual"
[[arms]]
label = "historical"
group = "historical"
scenario = "{EXPERIMENTS / 'baseline.toml'}"
[[arms]]
label = "park_capacity"
group = "lever"
scenario = "{EXPERIMENTS / 'lever_park_capacity.toml'}"
vary = {{ "levers.Neijiang.park_capacity.intensity" = [37500.0, 150000.0] }}
[[arms]]
label = "wage_gap"
group = "wage_gap"
scenario = "{EXPERIMENTS / 'baseline.toml'}"
vary = {{ focus_wage_ratio_pin = [0.6, 1.0] }}
"""


@pytest.mark.slow  # 26 s; test_study_safety still runs report policy end to end by default
def test_report_policy_reduced(tmp_path):
    design = tmp_path / "study.toml"
    design.write_text(REDUCED_STUDY)
    d, doc = tmp_path / "study", tmp_path / "docs" / "policy_levers.md"
    r = cli("report", "policy", str(d), "--design", str(design), "--doc", str(doc), "--workers", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    text = doc.read_text()
    for words in ("historical package against no policy", "Each lever alone", "wage gap", "Neijiang",
                  "Zigong", "payback", "taken from others", "newly created", "cost per job"):
        assert words.lower() in text.lower(), words
    for png in ("historical_paths.png", "levers_jobs.png", "wage_gap.png"):
        assert (doc.with_suffix("") / png).stat().st_size > 5000, png
    runs = pd.read_parquet(d / "runs.parquet")
    assert len(runs) == 6 * 3 and (runs["status"] == "ok").all()
    # with results present the report is rebuilt from them without running anything, identically
    manifest = (d / "manifest.jsonl").read_bytes()
    r2 = cli("report", "policy", str(d), "--doc", str(doc))
    assert r2.returncode == 0, r2.stderr
    assert (d / "manifest.jsonl").read_bytes() == manifest

    def body(t: str) -> list[str]:
        return [ln for ln in t.splitlines() if "outsourcing-abm report policy" not in ln]

    assert body(doc.read_text()) == body(text)


def test_saturated_levers_names_only_clear_plateaus():
    from model.study.policy_report import saturated_levers

    def arm(lever, intensity, jobs, half, spend):
        return {"lever": lever, "intensity": intensity, "intensity_text": f"{intensity:g}",
                "eff": {"jobs_2030": (jobs, half), "spend_to_end": spend}}

    rows = [arm("park_capacity", 1, 17000, 6000, 2.5e9), arm("park_capacity", 4, 16800, 5900, 1e10),
            # still growing with intensity: no plateau
            arm("rent_relief", 1, 8000, 3000, 1e8), arm("rent_relief", 2, 20000, 3000, 2e8),
            # flat, but its cheapest arm is not clearly above zero
            arm("talent_subsidy", 1, 2000, 5000, 1e8), arm("talent_subsidy", 2, 2100, 5000, 3e8),
            # flat but not at least twice the spending
            arm("fast_setup", 1, 9000, 2000, 1e7), arm("fast_setup", 2, 9100, 2000, 1.5e7)]
    found = saturated_levers(rows, 2030)
    assert len(found) == 1 and found[0].startswith("`park_capacity` beyond 1 ")
    # arms are ordered by spending, not by intensity (set-up months: fewer months cost more)
    months = [arm("fast_setup", 6, 9000, 2000, 1e7), arm("fast_setup", 2, 9100, 2000, 3e7)]
    found = saturated_levers(months, 2030)
    assert len(found) == 1 and found[0].startswith("`fast_setup` beyond 6 ")
