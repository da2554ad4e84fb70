"""Model speed and memory: seconds per simulated year and peak RSS at 10k, 100k and 1M worker
agents, against the same rules written as plain numpy (benchmarks/numpy_reference.py).

    python benchmarks/bench_model.py            # default run + 10k, 100k, 1M; writes docs
    python benchmarks/bench_model.py --quick    # default run + 10k and 100k only; prints only
    python benchmarks/bench_model.py --sizes 50000 --repeats 5 --no-record

What it measures

* The default run: ``simulate()`` of experiments/baseline.toml (2005-2030, seed 1) in a fresh
  process, and the whole ``outsourcing-abm run baseline`` command (imports, model, CSVs,
  figures). CPU seconds (user + sys of the child process) and wall seconds; best and median
  of ``--repeats``.
* Scaling: ``persons_per_agent`` is set so that about N worker agents are alive over
  2015-2020 (the live count grows as 1/persons_per_agent; the factor is read off a run at
  the default scale). Each measurement runs in its own process: build the model with
  end_year 2020, step 2005-2014 as warm-up, then time each simulated year 2015-2020 (four
  quarterly steps). The numpy reference does the same in its own process. Reported: CPU and
  wall seconds per simulated year (median over the six years, best over the repeats), the
  mean live worker agents in the window, and the process's peak RSS (which includes about
  150-200 MB of imported libraries). Model and reference runs alternate so that load from
  other processes hits both alike; the ratio uses CPU time.

It writes the "## Model speed and memory" section of docs/performance.md (other sections are
left alone) and docs/img/scaling.png, unless --quick or --no-record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from model.files import replace_section  # noqa: E402

SECTION = "## Model speed and memory"
BASELINE = ROOT / "experiments" / "baseline.toml"
WARM_END, MEASURE = 2014, (2015, 2020)
TARGETS = {"default_s": 5.0, "ratio_100k": 3.0, "peak_mb_1m": 2048.0}


# ----------------------------------------------------------------------------------
# child processes
# ----------------------------------------------------------------------------------
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def child_default(seed: int) -> dict:
    from model.study.scenarios import load_scenario
    from model.run import simulate

    params = load_scenario(BASELINE)
    c0, w0 = time.process_time(), time.perf_counter()
    simulate(params, seed)
    return {"cpu": time.process_time() - c0, "wall": time.perf_counter() - w0, "peak_mb": _peak_mb()}


def register_one_by_one() -> None:
    """Diagnostic: make the model take Mesa's per-agent ``register_agent`` /
    ``deregister_agent`` path for every batch, as it does when something observes the model's
    agent signals (model/table.py). The run measures what batch registration saves."""
    import model.core.mesa_compat

    model.core.mesa_compat._per_agent_needed = lambda *args: True


def child_scale(kind: str, ppa: float, seed: int) -> dict:
    """Warm up to WARM_END, then time each year of MEASURE (4 steps each)."""
    import gc

    from model.study.scenarios import load_scenario

    params = load_scenario(BASELINE, [f"persons_per_agent={ppa!r}", f"end_year={MEASURE[1]}"])
    base_mb = _peak_mb()
    if kind == "one_by_one":
        register_one_by_one()
    if kind in ("model", "one_by_one"):
        from model.core.model import SOModel

        m = SOModel(params, rng=seed)
        count = m.workers_table.count
    else:
        from numpy_reference import NumpyReference

        m = NumpyReference(params, seed)
        count = m.count
    t0 = time.process_time()
    while m.year < WARM_END or m.quarter < 4:
        m.step()
    warm = time.process_time() - t0
    gc.collect()
    years, cpu, wall, live = [], [], [], []
    for year in range(MEASURE[0], MEASURE[1] + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(4):
            m.step()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        years.append(year)
        live.append(count())
    if kind in ("model", "one_by_one"):  # every live worker is a registered Mesa agent
        from model.core.agents.worker import WorkerAgent

        assert len(m.agents_by_type[WorkerAgent]) == count()
    return {"kind": kind, "ppa": ppa, "years": years, "cpu": cpu, "wall": wall, "live": live,
            "warm_cpu": warm, "peak_mb": _peak_mb(), "import_mb": base_mb}


def spawn(args: list[str]) -> dict:
    """Run this script as a child with ``args``; its JSON answer plus the child's CPU time."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["child_cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return res


def time_cli(seed: int) -> dict:
    """The whole `outsourcing-abm run baseline` command, CPU (user + sys) and wall."""
    exe = Path(sys.executable).with_name("outsourcing-abm")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "model"]
    with tempfile.TemporaryDirectory(prefix="oabm-bench-") as tmp:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        out = subprocess.run([*cmd, "run", "baseline", "--seed", str(seed), "--quiet", "--out", f"{tmp}/run"],
                             capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - w0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"outsourcing-abm run failed:\n{out.stderr[-3000:]}")
    return {"cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), "wall": wall,
            "peak_mb": r1.ru_maxrss / 1024.0}


# ----------------------------------------------------------------------------------
# calibration of persons_per_agent
# ----------------------------------------------------------------------------------
def live_at_default(seed: int) -> float:
    """Mean live worker agents over the measured years at the default scale (model run)."""
    res = spawn(["--child", "scale", "--kind", "model", "--ppa", "100", "--seed", str(seed)])
    return statistics.mean(res["live"]) * 100.0  # agents x persons_per_agent = persons


def ppa_for(n_agents: int, persons: float) -> float:
    return float(f"{persons / n_agents:.3g}")


# ----------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def per_year(res: dict, key: str) -> float:
    return statistics.median(res[key])


def summarise(runs: list[dict]) -> dict:
    """Best (lowest) median-per-year over repeated child runs; peak RSS the largest seen."""
    best = min(runs, key=lambda r: per_year(r, "cpu"))
    return {"cpu": per_year(best, "cpu"), "wall": per_year(best, "wall"),
            "cpu_all": [round(per_year(r, "cpu"), 4) for r in runs],
            "live": statistics.mean(best["live"]), "peak_mb": max(r["peak_mb"] for r in runs),
            "import_mb": min(r["import_mb"] for r in runs), "ppa": best["ppa"]}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["model"]["live"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.loglog(n, [r["model"]["cpu"] for r in rows], "o-", label="SOModel (Mesa agents)")
    a.loglog(n, [r["one_by_one"]["cpu"] for r in rows], "^:", label="SOModel, per-agent Mesa registration")
    a.loglog(n, [r["numpy"]["cpu"] for r in rows], "s--", label="numpy reference")
    a.set_xlabel("live worker agents (mean 2015-2020)")
    a.set_ylabel("CPU s per simulated year")
    a.set_title("Time per simulated year")
    a.grid(True, which="both", alpha=0.3)
    a.legend()
    for x, r in zip(n, rows):
        a.annotate(f"{r['model']['cpu'] / r['numpy']['cpu']:.1f}x", (x, r["model"]["cpu"]),
                   textcoords="offset points", xytext=(4, 6), fontsize=8)
    b.loglog(n, [r["model"]["peak_mb"] for r in rows], "o-", label="SOModel")
    b.loglog(n, [r["numpy"]["peak_mb"] for r in rows], "s--", label="numpy reference")
    b.axhline(TARGETS["peak_mb_1m"], color="grey", lw=0.8, ls=":", label="2 GB target")
    b.set_xlabel("live worker agents (mean 2015-2020)")
    b.set_ylabel("peak RSS (MB)")
    b.set_title("Peak memory (whole process)")
    b.grid(True, which="both", alpha=0.3)
    b.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def record(path: Path, body: str) -> None:
    replace_section(path, SECTION, body)


def fmt_n(n: float) -> str:
    return f"{n / 1e6:.2g}M" if n >= 1e6 else f"{n / 1e3:.3g}k"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k and 100k worker agents only; print, do not record")
    ap.add_argument("--sizes", type=int, nargs="+", help="target worker agents (default 10000 100000 1000000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per configuration below 1M agents (default 3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-default", action="store_true", help="skip timing the default run")
    ap.add_argument("--no-record", action="store_true", help="print only, leave docs alone")
    ap.add_argument("--record", action="store_true", help="record even with --quick or --sizes")
    ap.add_argument("--json", help="also write all raw measurements to this file")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "performance.md"))
    ap.add_argument("--png", default=str(ROOT / "docs" / "img" / "scaling.png"))
    ap.add_argument("--child", choices=["default", "scale"], help=argparse.SUPPRESS)
    ap.add_argument("--kind", choices=["model", "numpy", "one_by_one"], help=argparse.SUPPRESS)
    ap.add_argument("--ppa", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child == "default":
        print(json.dumps(child_default(args.seed)))
        return 0
    if args.child == "scale":
        print(json.dumps(child_scale(args.kind, args.ppa, args.seed)))
        return 0

    from model import __version__
    from model.provenance import git_state, short_commit

    sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    write = (not args.no_record) and (args.record or not (args.quick or args.sizes))
    print(f"outsourcing-abm {__version__}, {os.cpu_count()} cores ({cpu_model()}), python {platform.python_version()}",
          flush=True)
    raw: dict = {"sizes": sizes}

    default = cli = None
    if not args.no_default:
        print(f"default run (experiments/baseline.toml, 2005-2030, seed {args.seed}), {args.repeats} repeats:",
              flush=True)
        default = [spawn(["--child", "default", "--seed", str(args.seed)]) for _ in range(args.repeats)]
        cli = [time_cli(args.seed) for _ in range(args.repeats)]
        for name, rs in (("simulate()", default), ("outsourcing-abm run", cli)):
            cpus = sorted(r["cpu"] for r in rs)
            walls = sorted(r["wall"] for r in rs)
            print(f"  {name:22s} CPU {cpus[0]:.2f} s (median {statistics.median(cpus):.2f})   "
                  f"wall {walls[0]:.2f} s (median {statistics.median(walls):.2f})   "
                  f"peak {max(r['peak_mb'] for r in rs):.0f} MB", flush=True)
        raw["default"], raw["cli"] = default, cli

    persons = live_at_default(args.seed)
    print(f"scaling: {persons:,.0f} persons in worker agents over {MEASURE[0]}-{MEASURE[1]} "
          f"-> persons_per_agent = {persons:,.0f} / N", flush=True)
    print(f"{'target N':>9} {'ppa':>6} {'live':>9} | {'model s/yr':>10} {'numpy s/yr':>10} {'ratio':>6} | "
          f"{'wall ratio':>10} | {'per-agent reg. ratio':>20} | {'model MB':>8} {'numpy MB':>8}", flush=True)
    rows = []
    for n in sizes:
        ppa = ppa_for(n, persons)
        reps = 1 if n >= 500_000 else args.repeats
        got: dict[str, list] = {"model": [], "numpy": [], "one_by_one": []}
        for _ in range(reps):
            for kind in got:
                got[kind].append(spawn(["--child", "scale", "--kind", kind, "--ppa", repr(ppa),
                                        "--seed", str(args.seed)]))
        row = {"target": n, **{kind: summarise(g) for kind, g in got.items()}}
        row["ratio"] = row["model"]["cpu"] / row["numpy"]["cpu"]
        row["one_by_one_ratio"] = row["one_by_one"]["cpu"] / row["numpy"]["cpu"]
        row["wall_ratio"] = row["model"]["wall"] / row["numpy"]["wall"]
        rows.append(row)
        raw.setdefault("scaling", []).append({"target": n, "ppa": ppa, **got})
        print(f"{fmt_n(n):>9} {ppa:>6g} {row['model']['live']:>9,.0f} | {row['model']['cpu']:>10.3f} "
              f"{row['numpy']['cpu']:>10.3f} {row['ratio']:>5.2f}x | {row['wall_ratio']:>9.2f}x | "
              f"{row['one_by_one_ratio']:>19.2f}x | {row['model']['peak_mb']:>8.0f} {row['numpy']['peak_mb']:>8.0f}", flush=True)
    print(f"(CPU s per simulated year, median of the years {MEASURE[0]}-{MEASURE[1]}, best of the repeats; "
          f"per-repeat model CPU: {'; '.join(str(r['model']['cpu_all']) for r in rows)})")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))

    checks = []
    if default:
        best = min(r["cpu"] for r in default)
        checks.append(f"default run simulate() {best:.2f} CPU s < {TARGETS['default_s']:.0f} s: "
                      f"{'met' if best < TARGETS['default_s'] else 'NOT met'}; whole command "
                      f"{min(r['cpu'] for r in cli):.2f} CPU s: "
                      f"{'met' if min(r['cpu'] for r in cli) < TARGETS['default_s'] else 'NOT met'}")
    for r in rows:
        if r["target"] == 100_000:
            checks.append(f"100k agents within 3x of numpy: {r['ratio']:.2f}x "
                          f"{'met' if r['ratio'] <= TARGETS['ratio_100k'] else 'NOT met'}")
        if r["target"] == 1_000_000:
            checks.append(f"1M agents under 2 GB peak RSS: {r['model']['peak_mb']:.0f} MB "
                          f"{'met' if r['model']['peak_mb'] < TARGETS['peak_mb_1m'] else 'NOT met'}")
    for c in checks:
        print("target:", c)

    if write:
        plot(rows, Path(args.png))
        table = "\n".join(
            f"| {fmt_n(r['target'])} | {r['model']['ppa']:g} | {r['model']['live']:,.0f} | {r['model']['cpu']:.3f} | "
            f"{r['numpy']['cpu']:.3f} | {r['ratio']:.2f}x | {r['wall_ratio']:.2f}x | {r['one_by_one']['cpu']:.3f} | "
            f"{r['one_by_one_ratio']:.2f}x | {r['model']['peak_mb']:.0f} | "
            f"{r['numpy']['peak_mb']:.0f} |" for r in rows)
        dflt = ""
        if default:
            dflt = (f"| `simulate()` only | {min(r['cpu'] for r in default):.2f} | "
                    f"{statistics.median([r['cpu'] for r in default]):.2f} | {min(r['wall'] for r in default):.2f} | "
                    f"{max(r['peak_mb'] for r in default):.0f} |\n"
                    f"| `outsourcing-abm run baseline` (imports, model, CSVs, figures) | {min(r['cpu'] for r in cli):.2f} | "
                    f"{statistics.median([r['cpu'] for r in cli]):.2f} | {min(r['wall'] for r in cli):.2f} | "
                    f"{max(r['peak_mb'] for r in cli):.0f} |")
        body = f"""Measured by `python benchmarks/bench_model.py` ({time.strftime('%Y-%m-%d')}, outsourcing-abm {__version__}, commit {short_commit(git_state())}; {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}). Times are CPU seconds of one process (user + sys), so load from other processes on the shared cores barely moves them; wall-clock ratios are given alongside.

### Default run (experiments/baseline.toml, 2005-2030, seed {args.seed}, `persons_per_agent` = 100)

| what | CPU s (best) | CPU s (median of {args.repeats}) | wall s (best) | peak RSS MB |
|---|---|---|---|---|
{dflt}

### Scaling with the number of worker agents

`persons_per_agent` (ppa) is set so that about N worker agents are alive over {MEASURE[0]}-{MEASURE[1]} (live = mean count at the year ends). Each configuration runs in its own process: warm-up 2005-{WARM_END}, then each simulated year {MEASURE[0]}-{MEASURE[1]} (4 quarterly steps) is timed; the table gives the median year, best of {args.repeats} processes (1 at 1M). "numpy" is `benchmarks/numpy_reference.py`: the same rules on plain arrays with no Mesa agents, the limit the model is measured against. Peak RSS is the whole process (Python, numpy, pandas, Mesa and networkx alone take {rows[0]['model']['import_mb']:.0f} MB).

| agents (target) | ppa | live worker agents | model CPU s / sim. year | numpy CPU s / sim. year | ratio (CPU) | ratio (wall) | model with per-agent Mesa registration, CPU s / sim. year | its ratio | model peak RSS MB | numpy peak RSS MB |
|---|---|---|---|---|---|---|---|---|---|---|
{table}

"Model with per-agent Mesa registration" is a diagnostic run of the same model forced onto Mesa's own `register_agent` / `deregister_agent` for every worker agent (`register_one_by_one` in the script), the path the model takes when something observes its agent-added/removed signals. Without observers the model does the same bookkeeping a batch at a time (`register_agents` / `deregister_agents` in model/core/mesa_compat.py: same unique ids, same AgentSets, byte-identical results). The gap between the two is what batching saves: SO staff turn over fast, so each simulated year creates and removes tens of thousands of worker agents.

![Scaling of the model and the numpy reference](img/scaling.png)

Targets: {'; '.join(checks)}.

Reproduce: `python benchmarks/bench_model.py` (about 10 minutes; `--quick` for 10k and 100k only, which prints and does not record).
"""
        record(Path(args.doc), body)
        print(f"recorded in {args.doc} ({SECTION}) and {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
