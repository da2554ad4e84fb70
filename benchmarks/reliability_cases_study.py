"""The study commands' rows of the reliability table (docs/reliability.md): sweeps, sensitivity,
the policy report, calibration, validation, forecast and backtest. ``benchmarks/reliability.py`` runs each
case's command in a fresh temporary folder after its ``setup`` (see there for the keys)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
QUICK = ["--workers", "1", "--quiet"]


def _design(points: int = 3, name: str = "tiny", extra: str = "") -> str:
    values = ", ".join(f"{0.3 + 0.02 * i:.2f}" for i in range(points))
    return (f'name = "{name}"\nscenario = "{EXPERIMENTS / "baseline.toml"}"\nmethod = "factorial"\n'
            f"replications = 1\nroot_seed = 4242\n[fixed]\nend_year = 2007\npersons_per_agent = 1000\n"
            f"[parameters]\nmodelled_share = [{values}]\n{extra}")


def write(name: str, data: str | bytes) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return setup


def _cli(d: Path, *args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "model", *args], cwd=d, env=env, check=True, capture_output=True,
                   timeout=300)


def finished_sweep(d: Path) -> None:
    """A finished sweep of a 3-point design in d/sw (design d/tiny.toml)."""
    write("tiny.toml", _design())(d)
    _cli(d, "sweep", "tiny.toml", "--out", "sw", *QUICK)


def damaged_sweep(d: Path) -> None:
    """A finished sweep with a manifest line that is not UTF-8 and a run file cut short."""
    finished_sweep(d)
    m = d / "sw" / "manifest.jsonl"
    m.write_bytes(m.read_bytes().replace(b'"status": "ok"', b'"status": "\xffok"', 1))
    f = d / "sw" / "runs" / "p000001-r000.parquet"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def sweep_without(*names: str) -> Callable[[Path], None]:
    """A finished sweep in d/sw with some of its records deleted."""
    def setup(d: Path) -> None:
        finished_sweep(d)
        for n in names:
            (d / "sw" / n).unlink()
    return setup


def sweep_of_version(version: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        import json

        finished_sweep(d)
        p = d / "sw" / "inputs.json"
        p.write_text(json.dumps({**json.loads(p.read_text()), "version": version}))
    return setup


HUGE_SOBOL = (f'scenario = "{EXPERIMENTS / "baseline.toml"}"\nmethod = "sobol"\nreplications = 1\nroot_seed = 1\n'
              "[parameters]\nmodelled_share = { low = 0.25, high = 0.45 }\nbeta_margin = { low = 3.0, high = 9.0 }\n"
              "[sobol]\nbase_samples = 1048576\n")


BINARY = bytes(range(256)) * 4


def folder(name: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / name).mkdir(parents=True)
    return setup


def inherits_chain(depth: int) -> Callable[[Path], None]:
    """c0.toml inherits c1.toml ... c<depth-1>.toml."""
    def setup(d: Path) -> None:
        for i in range(depth):
            (d / f"c{i}.toml").write_text(f'inherits = "c{i + 1}.toml"\n' if i < depth - 1 else "modelled_share = 0.3\n")
    return setup


COMMITTED = ("experiments", "docs", "results/forecast")


def committed_unchanged() -> tuple[Callable[[Path], None], Callable[[Path], str | None]]:
    """(setup, check): the checkout's committed study files are the same after the command."""
    import hashlib

    def digest() -> dict[str, str]:
        return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
                for d in COMMITTED for p in sorted((ROOT / d).rglob("*")) if p.is_file()}

    before: dict[str, str] = {}

    def setup(d: Path) -> None:
        before.clear()
        before.update(digest())

    def check(d: Path) -> str | None:
        after = digest()
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        return f"committed files changed: {changed[:4]}" if changed else None

    return setup, check


def with_design(setup: Callable[[Path], None]) -> Callable[[Path], None]:
    def both(d: Path) -> None:
        setup(d)
        write("tiny.toml", _design(1))(d)
    return both


SYNTH_TARGETS = ('[[target]]\nid = "coastal"\nfact = "synthetic"\nwhat = "coastal share"\ntransform = "share"\n'
                 'region = "coastal"\nyear = 2008\nlow = 0.5\nhigh = 0.9\nobserved = "-"\nwhy = "-"\n'
                 f'[calibration]\nscenario = "{EXPERIMENTS / "baseline.toml"}"\npopulation = 3\ngenerations = 1\n'
                 "seeds = 1\nroot_seed = 5\nfixed = { persons_per_agent = 1000, end_year = 2008 }\n"
                 "[calibration.priors]\nmodelled_share = [0.25, 0.45]\n")


def unit(case_id: str, item: str, what: str, test: str) -> dict[str, Any]:
    """A row for a fault that cannot be provoked from outside: it runs the unit test ``test``."""
    return {"id": case_id, "item": item, "what": what, "pytest": f"tests/test_study_safety.py::{test}", "expect_exit": 0}


def study_cases() -> list[dict[str, Any]]:
    val_setup, val_check = committed_unchanged()
    fc_setup, fc_check = committed_unchanged()
    cal_setup, cal_check = committed_unchanged()
    sw_setup, sw_check = committed_unchanged()
    return [
        dict(id="validate-default-outputs", item="13.3",
             what="validate --seeds 1 with default outputs (a new results folder; docs/ untouched)", setup=val_setup,
             argv=["validate", "--seeds", "1", "--set", "persons_per_agent=1000", "--set", "end_year=2012", *QUICK],
             expect_exit=0, check=val_check),
        dict(id="forecast-default-outputs", item="13.3",
             what="forecast --seeds 1 --draws 1 with default outputs (results/forecast untouched)", setup=fc_setup,
             argv=["forecast", "--seeds", "1", "--draws", "1", "--set", "persons_per_agent=1000", *QUICK],
             expect_exit=0, check=fc_check),
        dict(id="calibrate-write-elsewhere", item="13.3",
             what="calibrate --write elsewhere.toml (experiments/posterior.csv untouched)",
             setup=lambda d: (cal_setup(d), write("t.toml", SYNTH_TARGETS)(d)),
             argv=["calibrate", "--targets", "t.toml", "--write", "elsewhere.toml", *QUICK], expect_exit=0,
             check=cal_check),
        dict(id="sweep-out-experiments", item="13.3", what="sweep --out experiments (a folder of committed files)",
             setup=with_design(sw_setup), argv=["sweep", "tiny.toml", "--out", str(EXPERIMENTS), *QUICK],
             expect_exit=2, check=sw_check),
        unit("unit-publish-only-when-asked", "13.3", "report policy replaces docs/policy_levers.md only with --publish",
             "test_report_policy_publishes_only_when_asked"),
        dict(id="sweep-damaged-resume", item="13.4",
             what="--resume of a sweep whose manifest has a non-UTF-8 line and whose run file is cut short",
             setup=damaged_sweep, argv=["sweep", "tiny.toml", "--out", "sw", "--resume", *QUICK], expect_exit=0),
        dict(id="sweep-resume-other-set", item="13.5", what="--resume --set end_year=2008 of a sweep without sweep.json",
             setup=sweep_without("sweep.json"),
             argv=["sweep", "tiny.toml", "--out", "sw", "--resume", "--set", "end_year=2008", *QUICK], expect_exit=2),
        dict(id="sweep-resume-no-record", item="13.5", what="--resume of a folder with runs but no inputs record",
             setup=sweep_without("sweep.json", "inputs.json"),
             argv=["sweep", "tiny.toml", "--out", "sw", "--resume", *QUICK], expect_exit=2),
        dict(id="sweep-resume-other-version", item="13.5", what="--resume of a sweep started by another package version",
             setup=sweep_of_version("0.0.1"), argv=["sweep", "tiny.toml", "--out", "sw", "--resume", *QUICK],
             expect_exit=2),
        dict(id="sweep-huge-sobol", item="13.11", what="a Sobol design with base_samples = 2**20, --dry-run",
             setup=write("huge.toml", HUGE_SOBOL), argv=["sweep", "huge.toml", "--dry-run"], expect_exit=2, timeout=30),
        dict(id="sweep-huge-replications", item="13.11", what="replications = 10**9",
             setup=write("r.toml", _design(2).replace("replications = 1", "replications = 1000000000")),
             argv=["sweep", "r.toml", "--out", "o", *QUICK], expect_exit=2, timeout=30),
        dict(id="sweep-max-runs", item="13.11", what="1.2 million runs with --max-runs 2000000, --dry-run",
             setup=write("r.toml", _design(2).replace("replications = 1", "replications = 600000")),
             argv=["sweep", "r.toml", "--dry-run", "--max-runs", "2000000"], expect_exit=0),
        dict(id="calibrate-targets-binary", item="13.12", what="calibrate --targets of a binary file",
             setup=write("t.toml", BINARY), argv=["calibrate", "--targets", "t.toml", "--out", "c", *QUICK], expect_exit=2),
        dict(id="calibrate-targets-bad-toml", item="13.12", what="calibrate --targets of a file that is not TOML",
             setup=write("t.toml", "[calibration\npopulation = 2\n"),
             argv=["calibrate", "--targets", "t.toml", "--out", "c", *QUICK], expect_exit=2),
        dict(id="calibrate-targets-bad-priors", item="13.12", what="calibrate --targets with priors that are text",
             setup=write("t.toml", '[calibration]\nscenario = "x.toml"\npopulation = 2\ngenerations = 1\nseeds = 1\n'
                                   '[calibration.priors]\nquit_rate_later = ["low", "high"]\n'),
             argv=["calibrate", "--targets", "t.toml", "--out", "c", *QUICK], expect_exit=2),
        dict(id="validate-targets-binary", item="13.12", what="validate --targets of a binary file",
             setup=write("t.toml", BINARY), argv=["validate", "--targets", "t.toml", "--out", "v", *QUICK], expect_exit=2),
        dict(id="forecast-posterior-binary", item="13.12", what="forecast --posterior of a binary file",
             setup=write("p.csv", BINARY), argv=["forecast", "--posterior", "p.csv", "--out", "f", *QUICK], expect_exit=2),
        dict(id="forecast-posterior-empty", item="13.12", what="forecast --posterior of an empty file",
             setup=write("p.csv", ""), argv=["forecast", "--posterior", "p.csv", "--out", "f", *QUICK], expect_exit=2),
        dict(id="forecast-posterior-folder", item="13.12", what="forecast --posterior of a folder",
             setup=folder("p.csv"), argv=["forecast", "--posterior", "p.csv", "--out", "f", *QUICK], expect_exit=2),
        dict(id="sweep-design-long-path", item="13.12", what="sweep of a 5,000-character design path", setup=None,
             argv=["sweep", "x" * 5000, "--dry-run"], expect_exit=2, short=True),
        dict(id="scenario-deep-inherits", item="13.12", what="a scenario with a 1,100-deep inherits chain",
             setup=inherits_chain(1100), argv=["params", "--scenario", "c0.toml"], expect_exit=2),
        dict(id="scenario-bom", item="13.13", what="a scenario saved with a UTF-8 byte-order mark (accepted)",
             setup=write("bom.toml", "\ufeffmodelled_share = 0.31\n".encode("utf-8")),
             argv=["params", "--scenario", "bom.toml"], expect_exit=0),
        dict(id="scenario-folder", item="13.13", what="a scenario that is a folder", setup=folder("dir.toml"),
             argv=["params", "--scenario", "dir.toml"], expect_exit=2),
        dict(id="scenario-empty", item="13.13", what="an empty scenario file (runs the defaults: a warning)",
             setup=write("e.toml", "# nothing yet\n"), argv=["params", "--scenario", "e.toml"], expect_exit=0,
             warn="built-in defaults"),
        dict(id="scenario-long-key", item="13.13", what="a scenario key of 100,000 characters",
             setup=write("k.toml", "k" * 100_000 + " = 1\n"), argv=["params", "--scenario", "k.toml"], expect_exit=2,
             short=True),
        dict(id="scenario-levers-5", item="13.12", what="levers = 5 with a lever --set",
             setup=write("l.toml", "levers = 5\n"),
             argv=["params", "--scenario", "l.toml", "--set", "levers.Neijiang.rent_relief.intensity=0.5"],
             expect_exit=2),
        dict(id="design-long-key", item="13.13", what="a design parameter key of 100,000 characters",
             setup=write("d.toml", _design(2).replace("modelled_share = [", "k" * 100_000 + " = [")),
             argv=["sweep", "d.toml", "--dry-run"], expect_exit=2, short=True),
        dict(id="sweep-sigterm-start-up", item="13.14", what="SIGTERM 2 s into a sweep (while its cluster starts)",
             setup=write("tiny.toml", _design()), argv=["sweep", "tiny.toml", "--out", "sw", "--workers", "2", "--quiet"],
             expect_exit=130, signal_after=2.0),
        dict(id="backtest-cutoff-no-later", item="", what="backtest --cutoff 2023 (no target dated after it)",
             setup=None, argv=["backtest", "--cutoff", "2023", "--out", "b", *QUICK], expect_exit=2),
        dict(id="backtest-cutoff-no-earlier", item="", what="backtest --cutoff 2005 (no fitted target dated at or before it)",
             setup=None, argv=["backtest", "--cutoff", "2005", "--out", "b", *QUICK], expect_exit=2),
        dict(id="backtest-cutoff-range", item="", what="backtest --cutoff 1999", setup=None,
             argv=["backtest", "--cutoff", "1999", "--out", "b", *QUICK], expect_exit=2),
        dict(id="backtest-draws-zero", item="", what="backtest --draws 0", setup=None,
             argv=["backtest", "--draws", "0", "--out", "b", *QUICK], expect_exit=2),
        unit("unit-sweep-umask", "13.14", "sweep folders and files follow the umask (002 and 022)",
             "test_sweep_folders_and_files_follow_the_umask"),
        unit("unit-sweep-enospc", "13.6", "a full disk while a run file is written (injected ENOSPC)",
             "test_full_disk_leaves_no_temporary_and_names_the_file"),
        unit("unit-sweep-stale-tmp", "13.6", "resume of a folder with temporaries of killed writers",
             "test_resume_clears_stale_temporaries_of_killed_writers"),
    ]
