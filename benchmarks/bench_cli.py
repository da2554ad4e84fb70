"""What `outsourcing-abm run` costs beyond the simulation itself: the whole command (start-up,
imports, model, tables, run.json, figures) against its own ``simulate()`` time, in wall seconds.

    python benchmarks/bench_cli.py              # 5 repeats, records docs/performance.md
    python benchmarks/bench_cli.py --repeats 3 --no-record

Each repeat runs the command in a fresh process and reads the ``wall_time_s`` of ``simulate()``
that the command itself records in run.json, so both numbers come from the same run. The goal
(issue: architecture) is a whole command of at most 1.5 x its simulate() time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.files import replace_section  # noqa: E402

SECTION = "## Command overhead"
GOAL = 1.5


def one(scenario: str, seed: int, figures: bool) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "run"
        cmd = [sys.executable, "-m", "model", "run", scenario, "--seed", str(seed), "--out", str(out), "--quiet"]
        if not figures:
            cmd.append("--no-figures")
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
        whole = time.perf_counter() - t0
        sim = json.loads((out / "run.json").read_text())["wall_time_s"]
    return {"whole": whole, "simulate": sim}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scenario", default="baseline")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    rows = {"with figures": [], "without figures": []}
    for r in range(args.repeats):
        for label, figures in (("with figures", True), ("without figures", False)):
            rows[label].append(one(args.scenario, 1 + r, figures))
    lines = [f"Measured by `python benchmarks/bench_cli.py --repeats {args.repeats}` ({time.strftime('%Y-%m-%d')}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}): `outsourcing-abm run {args.scenario}` "
             f"as a whole, in a fresh process, against the simulate() time it records in run.json (wall seconds, "
             f"median over {args.repeats} seeds). Goal: at most {GOAL} x simulate().", "",
             "| command | whole command (s) | simulate() (s) | ratio |", "|---|---|---|---|"]
    ratios = {}
    for label, rs in rows.items():
        whole = statistics.median(x["whole"] for x in rs)
        sim = statistics.median(x["simulate"] for x in rs)
        ratios[label] = statistics.median(x["whole"] / x["simulate"] for x in rs)
        lines.append(f"| run {label} | {whole:.2f} | {sim:.2f} | {ratios[label]:.2f} |")
        print(f"{label}: whole {whole:.2f} s, simulate {sim:.2f} s, ratio {ratios[label]:.2f}")
    lines += ["", "The figures are drawn in a child process that imports matplotlib while the model runs "
              "(model/cli/run.py); imports of the model's own libraries (pandas, Mesa, networkx, SciPy through "
              "Mesa) are the rest of the overhead."]
    if not args.no_record:
        replace_section(ROOT / "docs" / "performance.md", SECTION, "\n".join(lines))
    return 0 if ratios["with figures"] <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
