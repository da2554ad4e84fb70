"""``run``, ``params`` and ``serve``: one simulation, the parameter table, the browser page."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from .common import add_scenario_args, command_line, load_params
from .paths import experiments_dir, resolve_scenario, results_dir, targets_file


def default_run_folder(name: str, overrides: list[str]) -> Path:
    """results/<scenario>, or results/<scenario>-<hash of the overrides> for a run with --set, so
    that an override run never replaces the scenario's own run."""
    if not overrides:
        return results_dir() / name
    digest = hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:8]
    return results_dir() / f"{name}-set-{digest}"


def _warm_up_figures() -> None:
    import model.figures  # noqa: F401  (matplotlib's import is the slow part)


def figure_process():
    """A child process that imports matplotlib while the model runs and draws the figures
    afterwards, alongside the writing of the tables (the simulation uses one core)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    pool.submit(_warm_up_figures)
    return pool


def cmd_run(args) -> int:
    from tqdm import tqdm

    from ..core.clock import n_steps
    from ..core.world import load_world
    from ..run import draw_figures, simulate, write_run
    from ..run_folder import check_run_folder
    from ..summary import summary_table

    path, params = load_params(args)
    name = path.stem if path else "defaults"
    out = Path(args.out) if args.out else default_run_folder(name, args.overrides)
    check_run_folder(out, set(load_world().names))
    pool = None if args.no_figures else figure_process()
    try:
        bar = tqdm(total=n_steps(params.start_year, params.end_year), unit="quarter",
                   desc=f"{name} seed {args.seed}", disable=args.quiet, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        result = simulate(params, args.seed, progress)
        bar.close()
        points = None
        if pool is not None:
            from ..study.targets import load_targets, observed_points

            points = observed_points(load_targets(targets_file()), params.focus_city)
        write_run(result, out, scenario=str(path) if path else None, figures=pool is not None,
                  overrides=args.overrides, command=command_line(), points=points,
                  draw=lambda res, folder, pts: pool.submit(draw_figures, res, folder, pts).result())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if not args.quiet:
        print(summary_table(result.city_year, result.region_year, params))
        figures = "" if args.no_figures else f", regional_shift.png, {params.focus_city.lower()}.png"
        print(f"\nwrote {out}/ (city_year.csv, region_year.csv, quarterly.csv, run.json{figures}) "
              f"in {result.wall_time_s:.1f} s")
    return 0


def cmd_params(args) -> int:
    from ..core.levers import LEVERS
    from ..core.params import FIELD_TYPES, RANGES, Params, field_docs

    if args.scenario:
        _, values = load_params(argparse.Namespace(scenario=args.scenario, overrides=args.overrides))
        where = f"values of {args.scenario}" + (f" with {' '.join(args.overrides)}" if args.overrides else "")
    else:
        values, where = Params(), "built-in defaults"
    docs = field_docs()

    def show(k: str) -> str:
        v = getattr(values, k)
        return ", ".join(v) if isinstance(v, tuple) else (v if isinstance(v, str) else f"{v:g}")

    def allowed(k: str) -> str:
        if FIELD_TYPES[k] is str:
            return "a city name"
        if FIELD_TYPES[k] is tuple:
            return "city names"
        lo, hi = RANGES[k]
        return f"{lo:g} to {hi:g}"

    if args.markdown:
        print(f"| parameter | value ({where}) | allowed | meaning, unit and source |\n|---|---|---|---|")
        for k in FIELD_TYPES:
            print(f"| `{k}` | {show(k)} | {allowed(k)} | {docs.get(k, '')} |")
        print("\n| lever | intensity means | allowed | money goes to |\n|---|---|---|---|")
        for k, spec in LEVERS.items():
            print(f"| `{k}` | {spec.unit} | {spec.low:g} to {spec.high:g} | {spec.recipient.replace('_', ' ')} |")
        if args.scenario and values.levers:
            print("\n| city | lever | years | intensity |\n|---|---|---|---|")
            for s in values.levers:
                print(f"| {s.city} | `{s.lever}` | {s.start}-{s.end} | {LEVERS[s.lever].describe(s.intensity)} |")
    else:
        print(f"# {where}")
        for k in FIELD_TYPES:
            print(f"{k} = {show(k)}   [{allowed(k)}]\n    {docs.get(k, '')}")
        print("\nlevers.<City>.<lever> = {start, end, intensity}:")
        for k, spec in LEVERS.items():
            print(f"  {k}: {spec.unit} [{spec.low:g} .. {spec.high:g}]")
        if args.scenario:
            print("\nlevers of this scenario:" + ("" if values.levers else " none"))
            for s in values.levers:
                print(f"  {s.city} {s.lever} {s.start}-{s.end}: {LEVERS[s.lever].describe(s.intensity)}")
    return 0


def cmd_serve(args) -> int:
    from ..app.serve import serve
    from ..study.scenarios import load_scenario
    from ..study.targets import load_targets

    path = resolve_scenario(args.scenario)
    if path:
        load_scenario(path)  # a bad scenario fails here, in one line, not inside the server
    load_targets(targets_file())  # the observed bands the charts draw
    return serve(str(path) if path else None, args.host, args.port, experiments=experiments_dir(),
                 targets=targets_file(), allow_hosts=tuple(args.allow_hosts), session_timeout=args.session_timeout,
                 allow_privileged_port=args.allow_privileged_port)


def register(sub) -> None:
    p = sub.add_parser("run", help="run one scenario and write a result folder",
                       description="Run one scenario (2005-2030 by default, quarterly steps) and write "
                                   "city_year.csv, region_year.csv, quarterly.csv, run.json and figures.")
    add_scenario_args(p)
    p.add_argument("--out", help="output folder (default: results/<scenario name>, or results/<name>-set-<hash> "
                                 "when --set is given); a folder of an earlier run is replaced atomically")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("params", help="list every parameter with its unit, range and source")
    p.add_argument("--scenario", metavar="FILE", help="show the values this scenario runs with (default: built-in defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="with --scenario: apply overrides too")
    p.add_argument("--markdown", action="store_true", help="print as a Markdown table")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("serve", help="start the browser demo (Mesa SolaraViz)")
    p.add_argument("scenario", nargs="?", default="baseline", help="scenario to start from (default: baseline)")
    p.add_argument("--port", type=int, default=8765, help="port, 1024 to 65535 (default: 8765)")
    p.add_argument("--allow-privileged-port", action="store_true",
                   help="allow a port below 1024 (reserved for system services such as ssh on 22)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, local only)")
    p.add_argument("--allow-host", dest="allow_hosts", action="append", default=[], metavar="NAME",
                   help="also answer requests addressed to NAME (the address other machines use with "
                        "--host 0.0.0.0); by default only the bound address (and the loopback names) are")
    p.add_argument("--session-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="free a browser session's model this long after its page closed or lost its "
                        "connection (default: 120)")
    p.set_defaults(func=cmd_serve)
