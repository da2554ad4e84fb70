"""Estimation commands: ``calibrate``, ``refine``, ``validate``, ``forecast``, ``backtest``.

Each writes into a folder of its own (by default a new ``results/<command>-<date-time>/``, never
an existing one) and replaces the committed results in ``experiments/``, ``docs/`` or
``results/forecast/`` or ``results/backtest/`` only when asked with ``--publish``, file by file and atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import InputError
from . import paths
from .cluster import add_cluster_arguments, at_least_one, dask_client, guarded, where
from .common import command_line


def _out(args: argparse.Namespace, kind: str) -> Path:
    if args.out:
        return Path(args.out)
    if args.resume:
        raise InputError(f"--resume: give the --out folder of the {kind} to continue")
    return paths.new_results_folder(kind)


def _publish_target(args: argparse.Namespace, target: Path | None) -> Path | None:
    if not args.publish:
        return None
    if target is None:
        raise InputError("--publish: there is no source checkout to publish into")
    return target


def _check_root_seed(args: argparse.Namespace) -> None:
    if args.root_seed < 0:
        raise InputError(f"--root-seed: expected a whole number of at least 0, got {args.root_seed}")


def _scenario(args: argparse.Namespace) -> Path:
    """The scenario of a validate/forecast command line, after checking its counts and root seed."""
    _check_root_seed(args)
    at_least_one(args, "seeds", "workers")
    return paths.resolve_scenario(args.scenario)


@guarded
def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..study.calibrate import calibrate, check_out, publish, setup

    at_least_one(args, "population", "generations", "seeds", "workers")
    targets = Path(args.targets)
    kw = dict(overrides=args.overrides, population=args.population, generations=args.generations, seeds=args.seeds)
    s = setup(targets, **kw)  # a bad targets file or scenario fails here, before any cluster starts
    out = _out(args, "calibration")
    check_out(out, s, args.resume)
    published = _publish_target(args, paths.doc_file("convergence"))
    with dask_client(args) as client:
        summary = calibrate(targets, out, client=client, resume=args.resume, write=Path(args.write) if args.write
                            else None, command=command_line(), **kw)
    print(f"calibration: {summary['model_runs']} model runs in {summary['wall_time_s']:.0f} s, "
          f"{summary['generations']} generations, final epsilon {summary['epsilons'][-1]:.3g}")
    for k, v in summary["estimate"].items():
        lo, hi = summary["interval_90"][k]
        print(f"  {k:28s} {v:.4g}   (90%: {lo:.4g} to {hi:.4g})")
    print(f"wrote {out}/ (calibrated.toml, posterior.csv, convergence.png, calibration.json)"
          + (f" and {args.write}" if args.write else ""))
    if published is not None:
        publish(out, calibrated=paths.experiment_file("calibrated"), posterior=paths.experiment_file("posterior"),
                record_file=paths.experiment_file("calibration_record"), convergence=published,
                performance_doc=paths.doc_file("performance"), where=where(args))
        names = ", ".join(str(paths.experiment_file(r)) for r in ("calibrated", "posterior", "calibration_record"))
        print(f"published {names}, {published} and the calibration section of {paths.doc_file('performance')}")
    return 0


@guarded
def cmd_validate(args: argparse.Namespace) -> int:
    from ..study.targets import load_targets
    from ..study.validate import check_out, failure_reason, plan, publish, validate

    scenario = _scenario(args)
    load_targets(args.targets)
    p = plan(scenario, args.overrides, args.seeds, args.root_seed)
    out = _out(args, "validation")
    check_out(out, "validation", p.jobs, p.overrides, args.resume)
    doc = _publish_target(args, Path(args.doc) if args.doc else paths.doc_file("validation"))
    with dask_client(args) as client:
        s = validate(p, Path(args.targets), client=client, out=out, command=command_line(), progress=not args.quiet,
                     resume=args.resume, calibration=paths.experiment_file("calibration_record"), root=paths.CHECKOUT)
    fitted = s[s["weight"] > 0]
    print(f"{int(fitted['pass'].sum())} of {len(fitted)} fitted targets pass; wrote {out}/validation.md")
    for _, r in s[~s["pass"]].iterrows():
        print(f"  FAIL {r['id']}: {failure_reason(r)}")
    if doc is not None:
        publish(out, doc)
        print(f"published {doc} (figures in {doc.parent / 'img'}/)")
    return 0


@guarded
def cmd_forecast(args: argparse.Namespace) -> int:
    from ..study.forecast import LAST_YEAR, forecast, load_plans, plan, publish
    from ..study.validate import check_out

    at_least_one(args, "draws")
    scenario = _scenario(args)
    p = plan(scenario, args.overrides, Path(args.posterior), args.draws, args.seeds, args.root_seed)
    plans = load_plans(Path(args.plans) if args.plans else None)
    out = _out(args, "forecast")
    check_out(out, "forecast", p.jobs, p.overrides, args.resume)
    dest = _publish_target(args, paths.published_forecast_dir())
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
    if dest is not None:
        publish(out, dest)
        print(f"published {dest}/")
    return 0


@guarded
def cmd_refine(args: argparse.Namespace) -> int:
    from ..study.refine import publish, refine

    at_least_one(args, "sweeps", "seeds", "workers")
    if args.resume or args.overrides:
        raise InputError(f"{'--resume' if args.resume else '--set'}: refine starts from the committed calibration "
                         "as it is (it takes minutes; rerun it into a new --out)")
    out = _out(args, "refine")
    published = _publish_target(args, paths.doc_file("performance"))
    with dask_client(args) as client:
        summary = refine(Path(args.targets), Path(args.record), out, client=client, command=command_line(),
                         sweeps=args.sweeps, seeds=args.seeds)
    r = summary["point_estimate"]["refinement"]
    print(f"refine: {r['model_runs']} model runs in {r['wall_time_s']:.0f} s; fitted targets missed "
          f"{r['start_misses']} to {r['misses']}, mean-target distance {r['start_distance']:.3g} to "
          f"{r['distance']:.3g}, in {len(r['moves'])} moves")
    value = dict(r["start"])
    for m in r["moves"]:
        print(f"  sweep {m['sweep']}: {m['parameter']:28s} {value[m['parameter']]:.4g} -> {m['value']:.4g}"
              f"   missed {m['misses']}, distance {m['distance']:.3g}")
        value[m["parameter"]] = m["value"]
    print(f"wrote {out}/ (calibrated.toml, calibration.json)")
    if published is not None:
        publish(out, calibrated=paths.experiment_file("calibrated"), record_file=paths.experiment_file("calibration_record"),
                performance_doc=published, where=where(args))
        print(f"published {paths.experiment_file('calibrated')}, {paths.experiment_file('calibration_record')} and "
              f"the calibration section of {published}")
    return 0


@guarded
def cmd_backtest(args: argparse.Namespace) -> int:
    from ..study.backtest import DEFAULT_CUTOFFS, backtest, publish, split
    from ..study.calibrate import setup
    from ..study.targets import load_targets

    at_least_one(args, "population", "generations", "seeds", "draws", "seeds-per-draw", "workers")
    _check_root_seed(args)
    targets_path = Path(args.targets)
    targets = load_targets(targets_path)
    cutoffs = tuple(dict.fromkeys(args.cutoff or DEFAULT_CUTOFFS))
    for c in cutoffs:
        if not 2005 <= c <= 2023:
            raise InputError(f"--cutoff: expected a year from 2005 to 2023, got {c}")
        split(targets, c)
    setup(targets_path, overrides=args.overrides)  # a bad scenario or override fails before any cluster starts
    out = _out(args, "backtest")
    if not args.resume and out.exists() and any(out.iterdir()):
        raise InputError(f"--out: {out} is not empty; give a new folder, or --resume to continue a backtest there")
    doc = _publish_target(args, paths.doc_file("backtest"))
    with dask_client(args) as client:
        results = backtest(targets_path, out, cutoffs=cutoffs, client=client, population=args.population,
                           generations=args.generations, seeds=args.seeds, draws=args.draws,
                           seeds_per_draw=args.seeds_per_draw, root_seed=args.root_seed, overrides=args.overrides,
                           command=command_line(), progress=not args.quiet, resume=args.resume, root=paths.CHECKOUT)
    for r in results:
        s = r.scores
        print(f"cutoff {r.split.cutoff}: {int(s['inside_90'].sum())} of {len(s)} held-out targets inside the 90% band, "
              f"{int(s['inside_50'].sum())} inside the 50% band")
    print(f"wrote {out}/ (backtest.csv, backtest.md, img/, run.json, calibration-*/, runs-*/)")
    if doc is not None:
        publish(out, doc=doc, results_dest=paths.published_backtest_dir())
        print(f"published {doc} (figures in {doc.parent / 'img'}/) and {paths.published_backtest_dir()}/")
    return 0


def _common(p: argparse.ArgumentParser, seeds: int, kind: str) -> None:
    p.add_argument("scenario", nargs="?", default="baseline",
                   help="scenario (default: experiments/baseline.toml, which inherits calibrated.toml)")
    p.add_argument("--seeds", type=int, default=seeds, metavar="N", help=f"seeds (default {seeds})")
    p.add_argument("--root-seed", type=int, default=20240101, metavar="N",
                   help="every seed derives from this one (numpy SeedSequence)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"output folder (default: a new results/{kind}-<date-time>/)")
    add_cluster_arguments(p, resume="continue an interrupted run in --out (same scenario, --set and seeds)")


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="estimate free parameters against the targets (ABC-SMC on Dask)",
                       description="ABC-SMC calibration into a new results folder; --publish replaces "
                                   "experiments/calibrated.toml, posterior.csv and calibration.json.")
    p.add_argument("--targets", default=str(paths.targets_file()), metavar="FILE",
                   help="targets and calibration set-up (default: experiments/targets.toml)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder: saved generations, posterior, convergence plot (default: a new results/calibration-<date-time>/)")
    p.add_argument("--population", type=int, metavar="N", help="particles per generation (default: the file's)")
    p.add_argument("--generations", type=int, metavar="N", help="generations after the prior (default: the file's)")
    p.add_argument("--seeds", type=int, metavar="N", help="runs per particle (default: the file's)")
    p.add_argument("--write", default=None, metavar="TOML",
                   help="also write the point estimate here (nothing else is written outside --out)")
    p.add_argument("--publish", action="store_true",
                   help="replace experiments/calibrated.toml, posterior.csv, calibration.json, "
                        "docs/img/calibration_convergence.png and docs/performance.md's calibration section")
    add_cluster_arguments(p, resume="continue the calibration in --out from its last finished generation")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("refine", help="refine the committed calibration's point estimate by a local search",
                       description="Coordinate search from the committed ABC point estimate over common seeds, into "
                                   "a new results folder; --publish replaces experiments/calibrated.toml and "
                                   "calibration.json (the ABC posterior is kept).")
    p.add_argument("--targets", default=str(paths.targets_file()), metavar="FILE",
                   help="targets and calibration set-up (default: experiments/targets.toml)")
    p.add_argument("--record", default=str(paths.experiment_file("calibration_record")), metavar="JSON",
                   help="the calibration to refine (default: experiments/calibration.json)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: a new results/refine-<date-time>/)")
    p.add_argument("--sweeps", type=int, default=None, metavar="N", help="sweeps over the parameters (default: the file's)")
    p.add_argument("--seeds", type=int, default=None, metavar="N", help="common seeds per candidate (default: the file's)")
    p.add_argument("--publish", action="store_true",
                   help="replace experiments/calibrated.toml, calibration.json and docs/performance.md's calibration section")
    add_cluster_arguments(p, resume="not supported: refine always starts afresh")
    p.set_defaults(func=cmd_refine)

    p = sub.add_parser("validate", help="run the calibrated baseline over many seeds, target by target",
                       description="Validation report into a new results folder; --publish replaces docs/validation.md.")
    _common(p, 20, "validation")
    p.add_argument("--targets", default=str(paths.targets_file()), metavar="FILE", help="targets file")
    p.add_argument("--publish", action="store_true",
                   help="replace docs/validation.md and docs/img/validation_*.png (atomically)")
    p.add_argument("--doc", default=None, metavar="MD", help="with --publish: the report to replace "
                                                             "(default docs/validation.md; figures in img/ beside it)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("forecast", help="forecast every city 2024-2030 with uncertainty bands",
                       description="Forecast into a new results folder; --publish replaces results/forecast/.")
    _common(p, 2, "forecast")
    p.add_argument("--draws", type=int, default=20, metavar="N", help="posterior draws (default 20)")
    p.add_argument("--posterior", default=str(paths.experiment_file("posterior")), metavar="CSV",
                   help="weighted posterior sample (default experiments/posterior.csv)")
    p.add_argument("--plans", default=str(paths.experiment_file("plans")), metavar="TOML",
                   help="published plans by city (default experiments/plans.toml)")
    p.add_argument("--publish", action="store_true", help="replace the committed results/forecast/ files (atomically)")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("backtest", help="calibrate on facts up to a cutoff year, predict the later ones, score coverage",
                       description="Temporal backtest into a new results folder: for every --cutoff, a reduced ABC-SMC "
                                   "calibration on the targets dated at or before it, posterior draws x seeds run "
                                   "forward, every later target scored against the predictive bands; --publish "
                                   "replaces docs/backtest.md and results/backtest/.")
    p.add_argument("--cutoff", type=int, action="append", metavar="YEAR",
                   help="last year the calibration may see (repeatable; default 2019 and 2015)")
    p.add_argument("--targets", default=str(paths.targets_file()), metavar="FILE", help="targets and calibration set-up")
    p.add_argument("--population", type=int, default=80, metavar="N", help="particles per generation (default 80)")
    p.add_argument("--generations", type=int, default=4, metavar="N", help="generations after the prior (default 4)")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="runs per particle (default 1)")
    p.add_argument("--draws", type=int, default=40, metavar="N", help="posterior draws run forward (default 40)")
    p.add_argument("--seeds-per-draw", type=int, default=3, metavar="N", help="seeds per draw (default 3)")
    p.add_argument("--root-seed", type=int, default=20190101, metavar="N", help="every seed derives from this one")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: a new results/backtest-<date-time>/)")
    p.add_argument("--publish", action="store_true",
                   help="replace docs/backtest.md, docs/img/backtest*.png and results/backtest/ (atomically)")
    add_cluster_arguments(p, resume="continue an interrupted backtest in --out")
    p.set_defaults(func=cmd_backtest)
