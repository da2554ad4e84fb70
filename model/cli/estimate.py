"""Estimation commands: ``calibrate``, ``validate``, ``forecast``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import InputError
from . import paths
from .cluster import add_cluster_arguments, at_least_one, dask_client, guarded, where
from .common import command_line


def _scenario(args: argparse.Namespace) -> Path:
    """The scenario of a validate/forecast command line, after checking its counts and root seed."""
    if args.root_seed < 0:
        raise InputError(f"--root-seed: expected a whole number of at least 0, got {args.root_seed}")
    at_least_one(args, "seeds", "workers")
    return paths.resolve_scenario(args.scenario)


@guarded
def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..study.calibrate import calibrate, check_out, publish, setup

    at_least_one(args, "population", "generations", "seeds", "workers")
    targets = Path(args.targets)
    if not targets.is_file():
        raise InputError(f"--targets: file not found: {targets}")
    kw = dict(overrides=args.overrides, population=args.population, generations=args.generations, seeds=args.seeds)
    s = setup(targets, **kw)  # a bad targets file or scenario fails here, before any cluster starts
    out = Path(args.out)
    check_out(out, s, args.resume)
    with dask_client(args) as client:
        summary = calibrate(targets, out, client=client, resume=args.resume, write=Path(args.write),
                            posterior_copy=paths.experiment_file("posterior"), command=command_line(), **kw)
    print(f"calibration: {summary['model_runs']} model runs in {summary['wall_time_s']:.0f} s, "
          f"{summary['generations']} generations, final epsilon {summary['epsilons'][-1]:.3g}")
    for k, v in summary["estimate"].items():
        lo, hi = summary["interval_90"][k]
        print(f"  {k:28s} {v:.4g}   (90%: {lo:.4g} to {hi:.4g})")
    if Path(args.write).resolve() == paths.experiment_file("calibrated").resolve() and paths.doc_file("convergence"):
        # The committed estimate carries its convergence plot and summary into the docs.
        publish(out, calibrated=paths.experiment_file("calibrated"), posterior=paths.experiment_file("posterior"),
                record_file=paths.experiment_file("calibration_record"), convergence=paths.doc_file("convergence"),
                performance_doc=paths.doc_file("performance"), where=where(args))
    print(f"wrote {args.write} and {out}/posterior.csv, convergence.png, calibration.json")
    return 0


@guarded
def cmd_validate(args: argparse.Namespace) -> int:
    from ..study.targets import load_targets
    from ..study.validate import check_out, failure_reason, plan, validate

    scenario = _scenario(args)
    load_targets(args.targets)
    p = plan(scenario, args.overrides, args.seeds, args.root_seed)
    out = Path(args.out)
    check_out(out, "validation", p.jobs, p.overrides, args.resume)
    doc = Path(args.doc) if args.doc else (paths.doc_file("validation") or out / "validation.md")
    with dask_client(args) as client:
        s = validate(p, Path(args.targets), client=client, out=out, doc=doc, command=command_line(),
                     progress=not args.quiet, resume=args.resume,
                     calibration=paths.experiment_file("calibration_record"), root=paths.CHECKOUT)
    print(f"{int(s['pass'].sum())} of {len(s)} targets pass; wrote {doc}")
    for _, r in s[~s["pass"]].iterrows():
        print(f"  FAIL {r['id']}: {failure_reason(r)}")
    return 0


@guarded
def cmd_forecast(args: argparse.Namespace) -> int:
    from ..study.forecast import LAST_YEAR, forecast, load_plans, plan
    from ..study.validate import check_out

    at_least_one(args, "draws")
    scenario = _scenario(args)
    p = plan(scenario, args.overrides, Path(args.posterior), args.draws, args.seeds, args.root_seed)
    plans = load_plans(Path(args.plans) if args.plans else None)
    out = Path(args.out)
    check_out(out, "forecast", p.jobs, p.overrides, args.resume)
    with dask_client(args) as client:
        r = forecast(p, client=client, out=out, plans=plans, command=command_line(), progress=not args.quiet,
                     resume=args.resume)
    print(f"wrote {out / 'forecast.csv'} ({len(p.jobs)} runs)")
    fc = r.city_year[(r.city_year["city"] == r.focus) & (r.city_year["year"] == LAST_YEAR)]
    print(f"{r.focus} {LAST_YEAR}: employment median {fc['employment'].median():,.0f} "
          f"(90%: {fc['employment'].quantile(0.05):,.0f} to {fc['employment'].quantile(0.95):,.0f}); "
          f"firms median {fc['firms'].median():.0f}")
    if r.plan_table is None:
        print(f"  no published plan of {r.focus} in {args.plans or 'the plans file'}: no plan table")
    else:
        for _, row in r.plan_table.iterrows():
            print(f"  P(reach plan {row['goal']}) = {row['probability']:.0%}")
    return 0


def _common(p: argparse.ArgumentParser, seeds: int, out: str) -> None:
    p.add_argument("scenario", nargs="?", default="baseline",
                   help="scenario (default: experiments/baseline.toml, which inherits calibrated.toml)")
    p.add_argument("--seeds", type=int, default=seeds, metavar="N", help=f"seeds (default {seeds})")
    p.add_argument("--root-seed", type=int, default=20240101, metavar="N",
                   help="every seed derives from this one (numpy SeedSequence)")
    p.add_argument("--out", default=str(paths.results_dir() / out), metavar="DIR",
                   help=f"output folder (default: results/{out}; replaced unless --resume)")
    add_cluster_arguments(p, resume="continue an interrupted run in --out (same scenario, --set and seeds)")


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="estimate free parameters against the targets (ABC-SMC on Dask)",
                       description="ABC-SMC calibration of the free parameters against the targets.")
    p.add_argument("--targets", default=str(paths.targets_file()), metavar="FILE",
                   help="targets and calibration set-up (default: experiments/targets.toml)")
    p.add_argument("--out", default=str(paths.results_dir() / "calibration"), metavar="DIR",
                   help="output folder: abc.db, posterior, convergence plot (default: results/calibration)")
    p.add_argument("--population", type=int, metavar="N", help="particles per generation (default: the file's)")
    p.add_argument("--generations", type=int, metavar="N", help="generations after the prior (default: the file's)")
    p.add_argument("--seeds", type=int, metavar="N", help="runs per particle (default: the file's)")
    p.add_argument("--write", default=str(paths.experiment_file("calibrated")), metavar="TOML",
                   help="where to write the point estimate (default: experiments/calibrated.toml)")
    add_cluster_arguments(p, resume="continue the calibration in --out from its last finished generation")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("validate", help="run the calibrated baseline over many seeds and write docs/validation.md",
                       description="Run the calibrated baseline over many seeds and write docs/validation.md.")
    _common(p, 20, "validation")
    p.add_argument("--targets", default=str(paths.targets_file()), metavar="FILE", help="targets file")
    p.add_argument("--doc", default=None, metavar="MD", help="report (default docs/validation.md; figures in img/ beside it)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("forecast", help="forecast every city 2024-2030 with uncertainty bands",
                       description="Forecast every modelled city 2024-2030 with uncertainty bands.")
    _common(p, 2, "forecast")
    p.add_argument("--draws", type=int, default=20, metavar="N", help="posterior draws (default 20)")
    p.add_argument("--posterior", default=str(paths.experiment_file("posterior")), metavar="CSV",
                   help="weighted posterior sample (default experiments/posterior.csv)")
    p.add_argument("--plans", default=str(paths.experiment_file("plans")), metavar="TOML",
                   help="published plans by city (default experiments/plans.toml)")
    p.set_defaults(func=cmd_forecast)
