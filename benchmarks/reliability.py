"""Every bad input and fault we try against the command line, its exit code and its message:
regenerates docs/reliability.md.

    python benchmarks/reliability.py            # runs every case, writes docs/reliability.md
    python benchmarks/reliability.py --no-record --only run

A case runs ``python -m model ARGS`` in a fresh temporary folder (so nothing in the checkout is
touched), after its ``setup`` has put files there. It passes when the exit code is the expected
one, stderr holds no traceback, an error is a single line, and the case's own ``check`` (files
kept, nothing left behind) holds. Faults that cannot be provoked from outside (a failing rename, a
full disk) are exercised by unit tests; their rows run those tests.

Cases come from three lists: ``run_cases()`` here (run, params, scenarios, run folders, signals),
``study_cases()`` in reliability_cases_study.py (sweeps, calibration, validation, forecast) and
``app_cases()`` in reliability_cases_app.py (the browser server).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from model.files import write_text_atomic  # noqa: E402

FAST = ["--set", "end_year=2008", "--set", "persons_per_agent=400", "--quiet", "--no-figures"]
EXPERIMENTS = ROOT / "experiments"


def write(name: str, text: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text, encoding="utf-8")
    return setup


def setups(*fns: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for f in fns:
            f(d)
    return setup


def kept(name: str, text: str) -> Callable[[Path], str | None]:
    def check(d: Path) -> str | None:
        p = d / name
        return None if p.is_file() and p.read_text(encoding="utf-8") == text else f"{name} was changed or deleted"
    return check


def nothing_hidden(d: Path) -> str | None:
    left = [p.name for p in d.rglob(".*") if p.name.startswith(".") and (".run-" in p.name or ".old-" in p.name)]
    return f"temporaries left: {left}" if left else None


def stale_run(d: Path) -> None:
    """The state a SIGKILL between the two renames of a replacement leaves: the old run aside, a
    half-written new one, no run in place (pid 4194303 + 12345 is never a live process)."""
    dead = 2**22 + 12345
    (d / f".run.old-{dead}-x").mkdir()
    (d / f".run.old-{dead}-x" / "run.json").write_text("previous run", encoding="utf-8")
    (d / f".run.run-{dead}-y").mkdir()


def restored(d: Path) -> str | None:
    if (d / "run" / "run.json").is_file() and "previous" not in (d / "run" / "run.json").read_text():
        return nothing_hidden(d)
    return "the run folder was not rebuilt over the restored previous run"


SCENARIO = (EXPERIMENTS / "baseline.toml").read_text(encoding="utf-8") if (EXPERIMENTS / "baseline.toml").is_file() else ""


def run_cases() -> list[dict[str, Any]]:
    long_value = "x" * 200_000
    overlap = ('inherits = "%s"\n[[levers.Neijiang.rent_relief]]\nstart = 2019\nend = 2030\nintensity = 0.7\n'
               '[[levers.Neijiang.rent_relief]]\nstart = 2025\nend = 2028\nintensity = 0.5\n') % (EXPERIMENTS / "no_policy.toml")
    park_overlap = ('inherits = "%s"\n[[levers.Neijiang.park_capacity]]\nstart = 2005\nend = 2007\nintensity = 500\n'
                    '[[levers.Neijiang.park_capacity]]\nstart = 2007\nend = 2008\nintensity = 500\n') % (EXPERIMENTS / "no_policy.toml")
    return [
        dict(id="run-user-file", item="13.1", what="--out a folder holding run.json and a user's thesis.docx",
             setup=setups(write("out/run.json", "{}"), write("out/thesis.docx", "mine")),
             argv=["run", "baseline", "--out", "out", *FAST], expect_exit=2, check=kept("out/thesis.docx", "mine")),
        dict(id="run-committed-folder", item="13.1", what="--out a folder of committed results (forecast.csv, plan.md)",
             setup=setups(write("res/forecast.csv", "a"), write("res/plan.md", "b")),
             argv=["run", "baseline", "--out", "res", *FAST], expect_exit=2, check=kept("res/plan.md", "b")),
        dict(id="run-replace", item="13.2", what="--out an earlier run folder: replaced whole, nothing left beside it",
             setup=setups(write("run/run.json", "{}"), write("run/city_year.csv", "year\n")),
             argv=["run", "baseline", "--out", "run", *FAST], expect_exit=0, check=nothing_hidden),
        dict(id="run-stale", item="13.2", what="--out where a killed replacement left the old run aside and a half-written new one",
             setup=stale_run, argv=["run", "baseline", "--out", "run", *FAST], expect_exit=0, check=restored),
        dict(id="run-out-file", item="13.12", what="--out a path that is a file", setup=write("f", "x"),
             argv=["run", "baseline", "--out", "f", *FAST], expect_exit=2, check=kept("f", "x")),
        dict(id="run-out-proc", item="13.12", what="--out a folder that cannot be written (/proc)", setup=None,
             argv=["run", "baseline", "--out", "/proc/oabm-x", *FAST], expect_exit=2),
        dict(id="run-out-long", item="13.12", what="--out a 5,000-character path", setup=None,
             argv=["run", "baseline", "--out", "x" * 5000, *FAST], expect_exit=2),
        dict(id="run-bad-key", item="13.12", what="--set an unknown parameter", setup=None,
             argv=["run", "baseline", "--set", "bogus_key=1", *FAST], expect_exit=2),
        dict(id="run-bad-number", item="13.12", what="--set a number that is text", setup=None,
             argv=["run", "baseline", "--set", "modelled_share=abc", *FAST], expect_exit=2),
        dict(id="run-huge-int", item="13.13", what="a scenario whose start_year is a 400-digit TOML integer",
             setup=write("h.toml", "start_year = " + "9" * 400 + "\n"), argv=["run", "h.toml", *FAST], expect_exit=2),
        dict(id="run-long-string", item="13.13", what="a scenario with a 200 kB value (not echoed whole)",
             setup=write("l.toml", f'modelled_share = "{long_value}"\n'), argv=["run", "l.toml", *FAST], expect_exit=2,
             short=True),
        dict(id="run-range", item="13.12", what="--set a value out of range", setup=None,
             argv=["run", "baseline", "--set", "modelled_share=7", *FAST], expect_exit=2),
        dict(id="run-seed-text", item="13.12", what="--seed abc", setup=None,
             argv=["run", "baseline", "--seed", "abc", *FAST], expect_exit=2),
        dict(id="run-seed-negative", item="13.12", what="--seed -4", setup=None,
             argv=["run", "baseline", "--seed", "-4", *FAST], expect_exit=2),
        dict(id="run-missing-scenario", item="13.12", what="a scenario that does not exist", setup=None,
             argv=["run", "no_such_scenario", *FAST], expect_exit=2),
        dict(id="run-bad-toml", item="13.12", what="a scenario that is not valid TOML",
             setup=write("bad.toml", "[levers.Neijiang\nintensity = 1\n"), argv=["run", "bad.toml", *FAST], expect_exit=2),
        dict(id="run-overlap", item="13.13", what="two rent-relief spells of one city that overlap",
             setup=write("o.toml", overlap), argv=["run", "o.toml", *FAST], expect_exit=2),
        dict(id="run-park-overlap", item="13.13", what="two park spells of one city that overlap (they add up: a warning)",
             setup=write("p.toml", park_overlap), argv=["run", "p.toml", "--out", "p", *FAST], expect_exit=0, warn="add up"),
        dict(id="run-unknown-city", item="13.12", what="a lever in an unknown city", setup=None,
             argv=["run", "baseline", "--set", "levers.Gotham.rent_relief.intensity=0.5", *FAST], expect_exit=2),
        dict(id="run-lever-range", item="13.12", what="a lever intensity below its range", setup=None,
             argv=["run", "baseline", "--set", "levers.Neijiang.talent_subsidy.intensity=-1", *FAST], expect_exit=2),
        dict(id="run-lever-years", item="13.12", what="a lever that ends before it starts", setup=None,
             argv=["run", "baseline", "--set", "levers.Neijiang.rent_relief.end=2001", *FAST], expect_exit=2),
        dict(id="run-focus-unknown", item="12", what="a focus city that is not modelled", setup=None,
             argv=["run", "baseline", "--set", "focus_city=Atlantis", *FAST], expect_exit=2),
        dict(id="run-focus-reference", item="12", what="a focus city that is also a reference city", setup=None,
             argv=["run", "baseline", "--set", "reference_cities=Neijiang,Chengdu", *FAST], expect_exit=2),
        dict(id="params-missing", item="12", what="params --scenario of a file that does not exist", setup=None,
             argv=["params", "--scenario", "nope.toml"], expect_exit=2),
        dict(id="run-sigterm", item="13.2", what="SIGTERM one second into a run", setup=None,
             argv=["run", "baseline", "--out", "t", "--quiet"], expect_exit=130, signal_after=1.0, check=nothing_hidden),
        dict(id="unit-swap-eio", item="13.2", what="an I/O error on the rename that swaps a run in (injected)",
             pytest="tests/test_run_folder.py::test_a_failing_swap_keeps_the_old_run", expect_exit=0),
        dict(id="unit-sigterm-write", item="13.2", what="SIGTERM while the run folder is being written (injected)",
             pytest="tests/test_run_folder.py::test_sigterm_while_writing_leaves_nothing_half_written", expect_exit=0),
        dict(id="unit-umask", item="13.14", what="run folders follow the user's umask (not 0700)",
             pytest="tests/test_run_folder.py::test_run_folders_follow_the_umask", expect_exit=0),
    ]


def all_cases() -> list[dict[str, Any]]:
    cases = run_cases()
    for module, fn in (("reliability_cases_study", "study_cases"), ("reliability_cases_app", "app_cases")):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        found = getattr(mod, fn)()
        if hasattr(mod, "run_case"):  # cases that bring their own runner (setup names, time limit)
            found = [{**c, "runner": mod.run_case} for c in found]
        cases += found
    return cases


def wait_until_it_handles_sigterm(pid: int, limit_s: float = 30.0) -> None:
    """Wait until process ``pid`` has installed its SIGTERM handler (Linux: SigCgt in
    /proc/PID/status), so that "N seconds into a run" is counted from a started command and not
    from an interpreter still importing on a loaded machine (where the default action would kill it)."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            caught = next(int(ln.split()[1], 16) for ln in status.read_text().splitlines() if ln.startswith("SigCgt:"))
        except (OSError, StopIteration):
            return  # not Linux, or the process has ended
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.05)


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if case.get("pytest"):
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / case["pytest"])]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
            last = (r.stdout.strip().splitlines() or [""])[-1]
            return {"exit": r.returncode, "message": f"pytest: {last}", "ok": r.returncode == case["expect_exit"]}
        if case.get("setup") and not case.get("runner"):  # a runner sets its case up itself
            case["setup"](d)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        cmd = [sys.executable, "-m", "model", *case["argv"]]
        t0 = time.perf_counter()
        if case.get("runner"):
            code, err = case["runner"](case, d, cwd=d)
            code = -1 if code is None else code  # ran past its time limit: it started something
        elif case.get("signal_after"):
            proc = subprocess.Popen(cmd, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_until_it_handles_sigterm(proc.pid)
            time.sleep(case["signal_after"])
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
            code = proc.returncode
        else:
            r = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=case.get("timeout", 300))
            code, err = r.returncode, r.stderr
        seconds = time.perf_counter() - t0
        lines = [ln for ln in err.strip().splitlines() if ln.strip() and "%|" not in ln and "it/s" not in ln]
        problems = []
        if code != case["expect_exit"]:
            problems.append(f"exit {code}, expected {case['expect_exit']}")
        if "Traceback" in err:
            problems.append("traceback on stderr")
        if case["expect_exit"] == 2 and len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr")
        if case.get("short") and len(err) > 500:
            problems.append(f"{len(err)} characters on stderr")
        if case.get("warn") and not any(case["warn"] in ln for ln in lines):
            problems.append("no warning")
        if case.get("check"):
            msg = case["check"](d)
            if msg:
                problems.append(msg)
        message = next((ln for ln in lines if "error" in ln or "warning" in ln), lines[-1] if lines else "")
        return {"exit": code, "message": message[:300], "ok": not problems, "problems": problems, "seconds": seconds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-record", action="store_true", help="print only, do not write docs/reliability.md")
    ap.add_argument("--only", help="run only cases whose id starts with this")
    args = ap.parse_args(argv)
    cases = [c for c in all_cases() if not args.only or c["id"].startswith(args.only)]
    rows, failed = [], 0
    for c in cases:
        res = run_case(c)
        failed += not res["ok"]
        status = "ok" if res["ok"] else "**FAILS**: " + "; ".join(res["problems"])
        print(f"{c['id']:28s} exit {res['exit']:>4} {'ok' if res['ok'] else 'FAIL ' + str(res.get('problems'))}  {res['message'][:100]}",
              flush=True)
        msg = res["message"].replace("|", "\\|").replace("`", "'")
        rows.append(f"| `{c['id']}` | {c['item']} | {c['what']} | {c['expect_exit']} | {res['exit']} | {msg} | {status} |")
    text = "\n".join([
        f"{len(cases) - failed} of {len(cases)} bad inputs and faults are handled as intended",
        "",
        "# Reliability: bad input and faults",
        "",
        f"Regenerated by `python benchmarks/reliability.py` ({time.strftime('%Y-%m-%d')}). Each row runs the "
        "command in a fresh temporary folder (or, for faults that cannot be provoked from outside, the unit test "
        "named). *Item* is the numbered item of the reliability issue it checks. A row is ok when the exit code "
        "is the expected one, stderr holds no traceback, an error is one line, and nothing the user owns was "
        "changed or left half-written. Exit codes: 0 done, 1 some runs failed, 2 bad input, 130 interrupted.",
        "",
        "| case | item | what was tried | expected exit | exit | first line on stderr | result |",
        "|---|---|---|---|---|---|---|",
        *rows, ""])
    if not args.no_record:
        write_text_atomic(ROOT / "docs" / "reliability.md", text)
    print(f"{len(cases) - failed} of {len(cases)} handled as intended")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
