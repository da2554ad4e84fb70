"""Study commands: ``sweep``, ``sensitivity`` and ``report policy`` (and, from ``estimate``,
``calibrate``, ``validate``, ``forecast``). Study code is imported inside each command, so that
``outsourcing-abm --help`` and the other commands start fast."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import InputError
from . import estimate
from .cluster import add_design_arguments, at_least_one, design_options, guarded
from .common import OneLineParser, command_line
from .paths import doc_file, experiment_file, resolve_design, sensitivity_dir, sweep_dir

ANALYSES = ("sobol", "morris")


def _max_runs(args: argparse.Namespace) -> dict[str, int]:
    at_least_one(args, "replications", "max-runs")
    return {"max_runs": args.max_runs} if args.max_runs is not None else {}


@guarded
def cmd_sweep(args: argparse.Namespace) -> int:
    """``outsourcing-abm sweep``: 0 when all runs succeeded, 1 when some failed, 2 on bad input."""
    from ..study.design import load_design
    from ..study.sweep import dry_run_line, run_sweep

    at_least_one(args, "workers")
    design = load_design(resolve_design(args.design), replications=args.replications, overrides=args.overrides,
                         **_max_runs(args))
    if args.dry_run:
        print(dry_run_line(design))
        return 0
    out = Path(args.out) if args.out else sweep_dir(design.name)
    s = run_sweep(design, out, command=command_line(), **design_options(args))
    print(f"{design.name}: {s.total} runs ({s.ok} ok, {s.failed} failed; {s.ran} run now, {s.skipped} kept from "
          f"before) in {s.seconds:.1f} s -> {s.out / 'runs.parquet'}")
    return 0 if s.failed == 0 else 1


@guarded
def cmd_sensitivity(args: argparse.Namespace) -> int:
    from ..study.sensitivity import run_sensitivity

    at_least_one(args, "workers")
    design = resolve_design(args.design)
    out = Path(args.out) if args.out else sensitivity_dir(design.stem)
    summary = run_sensitivity(design, out, replications=args.replications, overrides=args.overrides,
                              analyses=(args.only,) if args.only else ANALYSES, command=command_line(),
                              **_max_runs(args), **design_options(args))
    failed = 0
    for meth, info in summary["analyses"].items():
        failed += info["failed"]
        print(f"{meth}: {info['runs']} runs ({info['failed']} failed), indices for "
              f"{', '.join(info['analysed']) or 'no metric'} -> {out / info['table']}")
    analysed = any(info["analysed"] for info in summary["analyses"].values())
    return 0 if analysed and failed == 0 else 1


def _report_command(args: argparse.Namespace) -> str:
    parts = ["outsourcing-abm report policy", str(args.dir)]
    if args.design:
        parts += ["--design", args.design]
    if args.replications is not None:
        parts += ["--replications", str(args.replications)]
    for o in args.overrides:
        parts += ["--set", o]
    if args.doc:
        parts += ["--doc", args.doc]
    if args.publish:
        parts.append("--publish")
    return " ".join(parts)


@guarded
def cmd_report_policy(args: argparse.Namespace) -> int:
    from ..study.design import load_design
    from ..study.policy_report import build_report, publish
    from ..study.sweep import require_method, run_sweep

    at_least_one(args, "workers")
    d = Path(args.dir)
    doc = Path(args.doc) if args.doc else d / "policy_levers.md"
    published = doc_file("policy") if args.publish else None
    if args.publish and published is None:
        raise InputError("--publish: there is no source checkout to publish into (docs/ is missing)")
    need_run = (not (d / "runs.parquet").is_file() or args.resume or args.replications is not None
                or bool(args.overrides))
    if need_run:
        design = load_design(resolve_design(args.design) if args.design else experiment_file("policy_design"),
                             replications=args.replications, overrides=args.overrides, **_max_runs(args))
        require_method(design, "arms", "the policy study")
        opts = {**design_options(args), "resume": True}
        s = run_sweep(design, d, command=command_line(), **opts)
        print(f"{design.name}: {s.total} runs ({s.ok} ok, {s.failed} failed) in {s.seconds:.1f} s -> {d}")
    build_report(d, doc, _report_command(args))
    print(f"wrote {doc} (figures in {doc.with_suffix('')}/)")
    if published is not None:
        publish(doc, published)
        print(f"published {published} (figures in {published.with_suffix('')}/)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a parameter sweep (factorial, LHS, Sobol, Morris) on Dask",
                       description="Run every (design point, replication) of a design once on Dask, resumably.")
    p.add_argument("design", help="design file (TOML), e.g. experiments/sweep_smoke.toml")
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/sweeps/<design name>); "
                                                "a folder of other files is refused")
    add_design_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="check the design and print its size, run nothing")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("sensitivity", help="Sobol indices and Morris screening of key outcomes",
                       description="Sobol indices and Morris screening (SALib) of a design's outcomes.")
    p.add_argument("design", help="design file with [parameters] bounds, e.g. experiments/sensitivity.toml")
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/sensitivity/<design name>)")
    p.add_argument("--only", choices=ANALYSES, help="run only the Sobol or only the Morris part")
    add_design_arguments(p)
    p.set_defaults(func=cmd_sensitivity)

    estimate.register(sub)

    p = sub.add_parser("report", help="write a study report (policy)")
    rsub = p.add_subparsers(dest="report", required=True, parser_class=OneLineParser)
    rp = rsub.add_parser("policy", help="the policy-lever study report",
                         description="Read (or, when it has no results, run) the policy-lever study in DIR and "
                                     "write its report; --publish also replaces docs/policy_levers.md.")
    rp.add_argument("dir", metavar="DIR", help="study folder: read if it holds results, else the design is run into it")
    rp.add_argument("--design", default=None, metavar="FILE",
                    help="study design used when DIR has no results (default: experiments/policy_levers.toml)")
    rp.add_argument("--doc", default=None, metavar="FILE",
                    help="Markdown report to write, figures go to a folder of the same name "
                         "(default: DIR/policy_levers.md)")
    rp.add_argument("--publish", action="store_true",
                    help="also copy the report and its figures to docs/policy_levers.md, atomically")
    add_design_arguments(rp)
    rp.set_defaults(func=cmd_report_policy)
