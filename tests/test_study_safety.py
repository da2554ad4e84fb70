"""Data safety of the study commands (issue 13): damaged folders resume, resume refuses other
inputs, a full disk leaves nothing behind, designs are bounded, bad input files are one-line
errors, SIGTERM at start-up ends like Ctrl-C, and committed files change only when published.

Every command runs in a fresh temporary folder (cwd), so nothing in the checkout is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
TABLES = ("runs.parquet", "city_year.parquet", "region_year.parquet")


def cli(*args: str, cwd: Path, timeout: float = 240, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-m", "model", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, **kw)


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def tiny_design(folder: Path, points: int = 3, name: str = "tiny") -> Path:
    """``points`` design points x 1 replication of very short runs (~0.2 s each)."""
    values = ", ".join(f"{0.3 + 0.02 * i:.2f}" for i in range(points))
    p = folder / f"{name}.toml"
    p.write_text(f"""
name = "{name}"
scenario = "{EXPERIMENTS / 'baseline.toml'}"
method = "factorial"
replications = 1
root_seed = 4242
[fixed]
end_year = 2007
persons_per_agent = 1000
[parameters]
modelled_share = [{values}]
""")
    return p


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """(design, a finished sweep of it)."""
    d = tmp_path_factory.mktemp("finished")
    design = tiny_design(d)
    r = cli("sweep", str(design), "--out", "done", "--workers", "1", "--quiet", cwd=d)
    assert r.returncode == 0, r.stderr
    return design, d / "done"


def copy_sweep(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------------------
# Item 4: an unreadable manifest line or run file is a run not done
# ----------------------------------------------------------------------------------------

def test_damaged_manifest_line_and_truncated_run_file_run_again(finished, tmp_path):
    design, done = finished
    out = copy_sweep(done, tmp_path / "damaged")
    lines = (out / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    first = next(i for i, ln in enumerate(lines) if b'"p000000-r000"' in ln)
    lines[first] = lines[first].replace(b'"status": "ok"', b'"status": "\xff\xfeok"')  # not UTF-8 any more
    (out / "manifest.jsonl").write_bytes(b"".join(lines))
    cut = out / "runs" / "p000001-r000.parquet"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # a run file cut short
    r = cli("sweep", str(design), "--out", str(out), "--workers", "1", "--resume", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "2 run now, 1 kept from before" in r.stdout
    said = [ln for ln in r.stderr.splitlines() if "unreadable" in ln or "cut short" in ln]
    assert len(said) == 2, r.stderr  # one line each
    for f in TABLES:
        assert (out / f).read_bytes() == (done / f).read_bytes(), f


# ----------------------------------------------------------------------------------------
# Item 5: --resume continues only what the folder was started with
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, args, words", [
    ("no sweep.json", ["--set", "end_year=2008"], ["--resume", "end_year=2008"]),
    ("no sweep.json", ["--set", "end_year=2007"], ["--resume", "end_year=2007"]),  # same values, other --set
    ("no record", [], ["--resume", "no readable record"]),
    ("other version", [], ["--resume", "0.0.1"]),
])
def test_resume_refuses_other_inputs(finished, tmp_path, damage, args, words):
    design, done = finished
    out = copy_sweep(done, tmp_path / "sw")
    if damage in ("no sweep.json", "no record"):
        (out / "sweep.json").unlink()
    if damage == "no record":
        (out / "inputs.json").unlink()
    if damage == "other version":
        rec = json.loads((out / "inputs.json").read_text())
        (out / "inputs.json").write_text(json.dumps({**rec, "version": "0.0.1"}))
    before = (out / "manifest.jsonl").read_bytes()
    r = cli("sweep", str(design), "--out", str(out), "--workers", "1", "--resume", "--quiet", *args, cwd=tmp_path)
    one_line_error(r, *words)
    assert (out / "manifest.jsonl").read_bytes() == before  # nothing ran


def test_inputs_are_recorded_before_the_first_run(tmp_path):
    from model.study.design import load_design
    from model.study.sweep import identity, jobs_of
    from model.study.manifest import RunFolder

    d = load_design(tiny_design(tmp_path), overrides=["persons_per_agent=1000"])
    folder = RunFolder(tmp_path / "sw")
    folder.start(identity(d))
    folder.close()
    rec = json.loads((tmp_path / "sw" / "inputs.json").read_text())
    assert rec["digest"] == d.digest and rec["overrides"] == ["persons_per_agent=1000"] and rec["version"]
    assert not folder.completed(jobs_of(d))


# ----------------------------------------------------------------------------------------
# Item 6: a full disk leaves nothing behind and says which file; resume clears stale temporaries
# ----------------------------------------------------------------------------------------

DEAD_PID = 2**22 + 12345  # above Linux's pid_max: never a live process


def test_full_disk_leaves_no_temporary_and_names_the_file(tmp_path, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    from model.study.design import load_design
    from model.study.executor import run_jobs
    from model.study.manifest import RunFolder
    from model.study.sweep import identity, jobs_of

    d = load_design(tiny_design(tmp_path, points=1))
    folder = RunFolder(tmp_path / "sw")
    folder.start(identity(d))

    def full(table, where, *a, **kw):
        where.write(b"PAR1 half a table")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(OSError) as e:
        run_jobs(None, jobs_of(d), folder=folder, progress=False)
    folder.close()
    assert e.value.errno == errno.ENOSPC and "p000000-r000.parquet" in str(e.value)
    left = [p.name for p in (tmp_path / "sw").rglob("*") if ".tmp-" in p.name]
    assert not left, left


def test_resume_clears_stale_temporaries_of_killed_writers(tmp_path):
    from model.study.design import load_design
    from model.study.manifest import RunFolder
    from model.study.sweep import identity

    d = load_design(tiny_design(tmp_path, points=1))
    sw = tmp_path / "sw"
    (sw / "runs").mkdir(parents=True)
    stale = [sw / "runs" / f".p000000-r000.parquet.tmp-{DEAD_PID}", sw / f".sweep.json.tmp-{DEAD_PID}"]
    live = sw / "runs" / f".p000000-r000.parquet.tmp-{os.getppid()}"  # a writer that still runs
    for p in (*stale, live):
        p.write_bytes(b"partial")
    mine = sw / "runs" / "notes.tmp-1"  # not a temporary of ours
    mine.write_text("keep")
    folder = RunFolder(sw)
    folder.start(identity(d))
    folder.close()
    assert not any(p.exists() for p in stale) and live.exists() and mine.exists()


# ----------------------------------------------------------------------------------------
# Item 11: a design's size is known before anything is built, and bounded
# ----------------------------------------------------------------------------------------

def huge_sobol(folder: Path, base_samples: int = 2**20) -> Path:
    """The sensitivity tests' design (3 factors: base_samples x 5 Sobol points) at another size."""
    from test_sensitivity import design_text

    p = folder / "huge.toml"
    p.write_text(design_text(base_samples, 2))
    return p


@pytest.mark.parametrize("case", ["sobol 2**20", "10**9 replications", "a huge step count"])
def test_oversized_design_is_refused_at_once(tmp_path, case):
    if case == "sobol 2**20":
        design = huge_sobol(tmp_path)  # 2**20 x (3 + 2) points
    else:
        design = tiny_design(tmp_path, points=2)
        text = design.read_text()
        if case == "10**9 replications":
            text = text.replace("replications = 1", "replications = 1000000000")
        else:
            text = text.replace("modelled_share = [0.30, 0.32]", "modelled_share = { low = 0.25, high = 0.45, step = 1e-12 }")
        design.write_text(text)
    t0 = time.monotonic()
    r = cli("sweep", str(design), "--dry-run", cwd=tmp_path, timeout=60)
    line = one_line_error(r, "over the limit of 1,000,000 runs", "--max-runs")
    assert time.monotonic() - t0 < 20, line
    r = cli("sweep", str(design), "--out", "out", cwd=tmp_path, timeout=60)
    one_line_error(r, "over the limit")
    assert not (tmp_path / "out").exists()


def test_max_runs_raises_and_lowers_the_limit(tmp_path):
    design = tiny_design(tmp_path, points=2)
    design.write_text(design.read_text().replace("replications = 1", "replications = 600000"))
    r = cli("sweep", str(design), "--dry-run", "--max-runs", "2000000", cwd=tmp_path)
    assert r.returncode == 0 and "1200000 runs" in r.stdout, r.stderr
    one_line_error(cli("sweep", str(design), "--dry-run", "--max-runs", "1000", cwd=tmp_path), "1,000 runs")
    one_line_error(cli("sensitivity", str(huge_sobol(tmp_path, 2**18)), "--out", "s", cwd=tmp_path), "over the limit")


# ----------------------------------------------------------------------------------------
# Item 12: bad input files of calibrate, validate and forecast are one-line errors naming them
# ----------------------------------------------------------------------------------------

BINARY = bytes(range(256)) * 4
GOOD_TARGET = ('[[target]]\nid = "x"\nfact = "f"\nwhat = "w"\ntransform = "level"\ncity = "Neijiang"\n'
               'column = "firms"\nyear = 2020\nlow = 0\nhigh = 10\nobserved = "o"\nwhy = "y"\n')
CALIBRATION = '[calibration]\nscenario = "baseline.toml"\npopulation = 2\ngenerations = 1\nseeds = 1\n'


@pytest.mark.parametrize("content, words", [
    (BINARY, ["not UTF-8"]),
    (b"", ["has no [calibration] table"]),
    (b"[calibration\npopulation = 2\n", ["not valid TOML"]),
    (GOOD_TARGET.encode() + CALIBRATION.encode() + b"priors = 5\n", ["calibration.priors"]),
    (GOOD_TARGET.encode() + CALIBRATION.encode() + b'[calibration.priors]\nquit_rate_later = ["low", "high"]\n',
     ["calibration.priors.quit_rate_later"]),
    (GOOD_TARGET.replace("low = 0", 'low = "zero"').encode() + CALIBRATION.encode()
     + b"[calibration.priors]\nquit_rate_later = [0.01, 0.06]\n", ["target[0] x.low", "expected a number"]),
    (b"target = 5\n" + CALIBRATION.encode() + b"[calibration.priors]\nquit_rate_later = [0.01, 0.06]\n", ["[[target]]"]),
])
def test_calibrate_bad_targets_file(tmp_path, content, words):
    t = tmp_path / "targets.toml"
    t.write_bytes(content)
    r = cli("calibrate", "--targets", str(t), "--out", "cal", "--workers", "1", cwd=tmp_path)
    line = one_line_error(r, *words)
    assert "targets" in line
    assert not (tmp_path / "cal").exists()


def test_validate_binary_targets_file(tmp_path):
    t = tmp_path / "t.toml"
    t.write_bytes(BINARY)
    one_line_error(cli("validate", "--targets", str(t), "--out", "v", "--workers", "1", cwd=tmp_path),
                   "t.toml", "not UTF-8")


@pytest.mark.parametrize("content, words", [
    (BINARY, ["not UTF-8"]),
    (b"", ["is empty"]),
    (None, ["is a folder"]),
    (b"weight,quit_rate_later\n1,0.03\n0.5,abc\n", ["not a finite number"]),
])
def test_forecast_bad_posterior(tmp_path, content, words):
    post = tmp_path / "post.csv"
    if content is None:
        post.mkdir()
    else:
        post.write_bytes(content)
    r = cli("forecast", "--posterior", str(post), "--out", "f", "--workers", "1", cwd=tmp_path)
    one_line_error(r, "--posterior", "post.csv", *words)
    assert not (tmp_path / "f").exists()


def test_overlong_design_path(tmp_path):
    line = one_line_error(cli("sweep", "x" * 5000, "--dry-run", cwd=tmp_path), "design", "too long")
    assert len(line) < 300


# ----------------------------------------------------------------------------------------
# Item 13: scenario files that mislead or say nothing
# ----------------------------------------------------------------------------------------

def params_of(tmp_path: Path, scenario: str, *args: str) -> subprocess.CompletedProcess:
    return cli("params", "--scenario", scenario, *args, cwd=tmp_path, timeout=60)


def test_deep_inherits_chain_names_the_depth_limit(tmp_path):
    for i in range(1100):
        (tmp_path / f"c{i}.toml").write_text(f'inherits = "c{i + 1}.toml"\n' if i < 1099 else "modelled_share = 0.3\n")
    one_line_error(params_of(tmp_path, "c0.toml"), "inherits", "deeper than 50")
    (tmp_path / "short.toml").write_text('inherits = "c1090.toml"\n')  # 10 deep: fine
    r = params_of(tmp_path, "short.toml")
    assert r.returncode == 0 and "modelled_share = 0.3" in r.stdout, r.stderr


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "bom.toml").write_bytes("\ufeffmodelled_share = 0.31\n".encode("utf-8"))
    r = params_of(tmp_path, "bom.toml")
    assert r.returncode == 0 and "modelled_share = 0.31" in r.stdout, r.stderr


def test_scenario_that_is_a_folder(tmp_path):
    (tmp_path / "dir.toml").mkdir()
    one_line_error(params_of(tmp_path, "dir.toml"), "dir.toml", "is a folder")


def test_empty_scenario_warns_that_it_runs_the_defaults(tmp_path):
    (tmp_path / "empty.toml").write_text("# nothing set yet\n")
    r = params_of(tmp_path, "empty.toml")
    assert r.returncode == 0
    warned = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert len(warned) == 1 and "empty.toml" in warned[0] and "defaults" in warned[0], r.stderr


@pytest.mark.parametrize("where", ["file key", "--set key"])
def test_long_keys_are_not_echoed_whole(tmp_path, where):
    long = "k" * 100_000
    if where == "file key":
        (tmp_path / "l.toml").write_text(f"{long} = 1\n")
        r = params_of(tmp_path, "l.toml")
    else:
        (tmp_path / "l.toml").write_text("modelled_share = 0.3\n")
        r = params_of(tmp_path, "l.toml", "--set", f"{long}=1")
    one_line_error(r, "unknown parameter", "characters)")
    assert len(r.stderr) < 500, len(r.stderr)


def test_levers_that_are_not_a_table_with_a_lever_override(tmp_path):
    (tmp_path / "l5.toml").write_text("levers = 5\n")
    one_line_error(params_of(tmp_path, "l5.toml", "--set", "levers.Neijiang.rent_relief.intensity=0.5"),
                   "levers", "expected tables")


# ----------------------------------------------------------------------------------------
# Item 14: SIGTERM at start-up ends like Ctrl-C; run folders follow the umask
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("after", [0.5, 1.5, 3.0])
def test_sigterm_during_sweep_start_up_exits_130(tmp_path, after):
    import signal

    design = tiny_design(tmp_path, points=3)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "model", "sweep", str(design), "--out", "sw", "--workers", "2",
                             "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    time.sleep(after)
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode in (130, 0), (proc.returncode, err)  # 0: it finished before the signal came
    assert "Traceback" not in err, err
    left = [p.name for p in tmp_path.rglob("*") if ".tmp-" in p.name]
    assert not left, left


def test_sigterm_landing_in_a_weakref_callback_is_not_lost(capsys):
    # The handler can run inside a callback whose exception Python only prints and drops
    # (seen once in CI: "Exception ignored in ... KeyedRef.remove"); the stop must still come.
    import signal
    import weakref

    from model.study.signals import Interrupted, sigterm_interrupts

    class Thing:
        pass

    def callback(_):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):  # the handler runs here, inside the callback
            pass

    with pytest.raises(Interrupted):
        with sigterm_interrupts():
            thing = Thing()
            ref = weakref.ref(thing, callback)
            del thing
            time.sleep(5)  # the re-sent signal lands here
    assert ref() is None
    assert "Exception ignored" not in capsys.readouterr().err


@pytest.mark.parametrize("umask", [0o002, 0o022])
def test_sweep_folders_and_files_follow_the_umask(tmp_path, umask):
    design = tiny_design(tmp_path, points=1)
    r = cli("sweep", str(design), "--out", "sw", "--workers", "1", "--quiet", cwd=tmp_path,
            preexec_fn=lambda: os.umask(umask))
    assert r.returncode == 0, r.stderr
    sw = tmp_path / "sw"
    for p in (sw, sw / "runs"):
        assert p.stat().st_mode & 0o777 == 0o777 & ~umask, (p, oct(p.stat().st_mode))
    for p in (sw / "manifest.jsonl", sw / "sweep.json", sw / "inputs.json", sw / "runs.parquet",
              next((sw / "runs").iterdir())):
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask, (p, oct(p.stat().st_mode))


# ----------------------------------------------------------------------------------------
# Item 3: results go to a new folder; committed files change only with --publish
# ----------------------------------------------------------------------------------------

COMMITTED = ("experiments", "docs", "results/forecast")


@pytest.fixture()
def checkout(tmp_path) -> Path:
    """A throwaway copy of the checkout (package, experiments, docs, committed forecast): the
    commands find its experiments/ and docs/ as their defaults, and may damage only it."""
    import shutil

    co = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("model", *COMMITTED):
        shutil.copytree(ROOT / d, co / d, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", co / "pyproject.toml")
    (co / "work").mkdir()
    return co


def snapshot(co: Path) -> dict[str, bytes]:
    return {str(p.relative_to(co)): p.read_bytes() for d in COMMITTED for p in sorted((co / d).rglob("*"))
            if p.is_file()}


def changed(before: dict[str, bytes], co: Path) -> list[str]:
    after = snapshot(co)
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def run_in(co: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(co))
    return subprocess.run([sys.executable, "-m", "model", *args], capture_output=True, text=True, cwd=co / "work",
                          env=env, timeout=timeout)


QUICK_VALIDATE = ["--seeds", "1", "--workers", "1", "--quiet", "--set", "persons_per_agent=1000", "--set", "end_year=2012"]


@pytest.mark.slow  # 36 s; the forecast and policy-report tests keep the same publishing rule in CI
def test_validate_writes_a_new_folder_and_publishes_only_when_asked(checkout):
    before = snapshot(checkout)
    for _ in range(2):
        r = run_in(checkout, "validate", *QUICK_VALIDATE)
        assert r.returncode == 0, r.stderr
    assert changed(before, checkout) == []
    made = sorted((checkout / "work" / "results").glob("validation-*"))
    assert len(made) == 2 and all((m / "validation.md").is_file() and (m / "img").is_dir() for m in made)
    r = run_in(checkout, "validate", *QUICK_VALIDATE, "--out", str(made[0]))
    one_line_error(r, "--resume")  # an earlier validation is never replaced
    r = run_in(checkout, "validate", *QUICK_VALIDATE, "--publish")
    assert r.returncode == 0, r.stderr
    assert "docs/validation.md" in changed(before, checkout)
    doc = (checkout / "docs" / "validation.md").read_text()
    assert "`persons_per_agent=1000`" in doc and "`end_year=2012`" in doc and "1 seeds (from root seed 20240101: " in doc
    assert all(not (checkout / ".." / n).exists() for n in ("validation.md",))


def test_forecast_writes_a_new_folder_and_publishes_only_when_asked(checkout):
    before = snapshot(checkout)
    args = ["--seeds", "1", "--draws", "1", "--workers", "1", "--quiet", "--set", "persons_per_agent=1000"]
    r = run_in(checkout, "forecast", *args)
    assert r.returncode == 0, r.stderr
    assert changed(before, checkout) == []
    assert len(list((checkout / "work" / "results").glob("forecast-*/forecast.csv"))) == 1
    r = run_in(checkout, "forecast", *args, "--publish")
    assert r.returncode == 0, r.stderr
    assert {"results/forecast/forecast.csv", "results/forecast/plan.md", "results/forecast/run.json"} <= set(
        changed(before, checkout))
    assert "`persons_per_agent=1000`" in (checkout / "results" / "forecast" / "plan.md").read_text()
    rec = json.loads((checkout / "results" / "forecast" / "run.json").read_text())
    assert rec["overrides"] == ["persons_per_agent=1000"] and len(rec["seeds"]) == 1


SYNTH_TARGETS = """
[[target]]
id = "coastal"
fact = "synthetic"
what = "coastal share"
transform = "share"
region = "coastal"
year = 2008
low = 0.5
high = 0.9
observed = "-"
why = "-"

[calibration]
scenario = "{scenario}"
population = 3
generations = 1
seeds = 1
rescore_particles = 1   # this test is about where files go, not the point estimate
rescore_seeds = 2
root_seed = 5
fixed = {{ persons_per_agent = 1000, end_year = 2008 }}

[calibration.priors]
modelled_share = [0.25, 0.45]
"""


@pytest.mark.slow  # over a minute on CI's two cores; `./dev test -m slow` runs it
def test_calibrate_write_elsewhere_leaves_the_committed_calibration_alone(checkout):
    t = checkout / "work" / "synth.toml"
    t.write_text(SYNTH_TARGETS.format(scenario=checkout / "experiments" / "baseline.toml"))
    before = snapshot(checkout)
    r = run_in(checkout, "calibrate", "--targets", str(t), "--write", "elsewhere.toml", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert changed(before, checkout) == []  # experiments/posterior.csv, calibrated.toml, calibration.json
    assert "modelled_share" in (checkout / "work" / "elsewhere.toml").read_text()
    made = list((checkout / "work" / "results").glob("calibration-*"))
    assert len(made) == 1 and (made[0] / "posterior.csv").is_file() and (made[0] / "calibrated.toml").is_file()
    r = run_in(checkout, "calibrate", "--targets", str(t), "--workers", "1", "--publish")
    assert r.returncode == 0, r.stderr
    assert {"experiments/calibrated.toml", "experiments/posterior.csv", "experiments/calibration.json",
            "docs/img/calibration_convergence.png", "docs/performance.md"} <= set(changed(before, checkout))


@pytest.mark.parametrize("target", ["experiments", "docs", "results/forecast"])
def test_sweep_into_a_folder_of_committed_files_is_refused(checkout, target):
    design = tiny_design(checkout / "work", points=1)
    before = snapshot(checkout)
    r = run_in(checkout, "sweep", str(design), "--out", str(checkout / target), "--workers", "1", "--quiet")
    one_line_error(r, "--out", "other files")
    assert changed(before, checkout) == []
    r = run_in(checkout, "sensitivity", str(huge_sobol(checkout / "work", 2)), "--only", "sobol",
               "--out", str(checkout / target), "--workers", "1")
    one_line_error(r, "--out", "other files")


def test_report_policy_publishes_only_when_asked(checkout):
    from test_sweep import REDUCED_STUDY  # the reduced policy study, shortened further

    design = checkout / "work" / "study.toml"
    design.write_text(REDUCED_STUDY.replace("end_year = 2025", "end_year = 2008").replace("replications = 3",
                                                                                            "replications = 2"))
    before = snapshot(checkout)
    r = run_in(checkout, "report", "policy", "study", "--design", str(design), "--workers", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert changed(before, checkout) == []
    assert (checkout / "work" / "study" / "policy_levers.md").is_file()
    r = run_in(checkout, "report", "policy", "study", "--publish")
    assert r.returncode == 0, r.stderr
    assert "docs/policy_levers.md" in changed(before, checkout)
