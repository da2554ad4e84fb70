"""Command line: ``outsourcing-abm <command> ...`` (also ``python -m model``).

Bad input of any kind ends with one line on stderr naming the field and what is allowed,
exit code 2, and no traceback. Results are written atomically.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from .errors import InputError

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
SEED_MAX = 2**32 - 1


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors as a single line with exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def seed_type(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed: expected a whole number 0 to {SEED_MAX}, got {text!r}") from None
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"seed: {v} is out of range (allowed 0 to {SEED_MAX})")
    return v


def resolve_scenario(name: str | None) -> Path | None:
    """A scenario path: as given, or by name in experiments/ (``baseline`` -> experiments/baseline.toml)."""
    if name is None:
        return None
    p = Path(name)
    if p.is_file():
        return p
    for cand in (EXPERIMENTS / name, EXPERIMENTS / f"{name}.toml"):
        if cand.is_file():
            return cand
    raise InputError(f"scenario: file not found: {name} (give a path or a name from experiments/)")


def add_scenario_args(p: argparse.ArgumentParser, *, seed: bool = True) -> None:
    p.add_argument("scenario", nargs="?", default="baseline",
                   help="scenario TOML file, or its name in experiments/ (default: baseline)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set modelled_share=0.4 or "
                        "--set levers.Neijiang.rent_relief.intensity=0.5 (repeatable)")
    if seed:
        p.add_argument("--seed", type=seed_type, default=1, help="random seed, 0 to 2^32-1 (default: 1)")


def load_params(args):
    from .params import load_scenario

    path = resolve_scenario(args.scenario)
    return path, load_scenario(path, args.overrides)


# ----------------------------------------------------------------------------------
def cmd_run(args) -> int:
    from tqdm import tqdm

    from .runner import check_writable, simulate, write_run
    from .summary import summary_table

    path, params = load_params(args)
    name = path.stem if path else "defaults"
    out = Path(args.out) if args.out else Path("results") / name
    check_writable(out)
    bar = tqdm(total=(params.end_year - params.start_year + 1) * 4, unit="quarter", desc=f"{name} seed {args.seed}",
               disable=args.quiet, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    result = simulate(params, args.seed, progress)
    bar.close()
    write_run(result, out, scenario=str(path) if path else None, figures=not args.no_figures)
    if not args.quiet:
        print(summary_table(result.city_year, result.region_year))
        print(f"\nwrote {out}/ (city_year.csv, region_year.csv, quarterly.csv, run.json"
              f"{', regional_shift.png, neijiang.png' if not args.no_figures else ''}) in {result.wall_time_s:.1f} s")
    return 0


def cmd_params(args) -> int:
    from .params import FIELD_TYPES, LEVERS, RANGES, Params, field_docs

    docs, d = field_docs(), Params()
    if args.markdown:
        print("| parameter | default | allowed | meaning, unit and source |\n|---|---|---|---|")
        for k in FIELD_TYPES:
            lo, hi = RANGES[k]
            print(f"| `{k}` | {getattr(d, k):g} | {lo:g} to {hi:g} | {docs.get(k, '')} |")
        print("\n| lever | intensity means | allowed |\n|---|---|---|")
        for k, (unit, lo, hi) in LEVERS.items():
            print(f"| `{k}` | {unit} | {lo:g} to {hi:g} |")
    else:
        for k in FIELD_TYPES:
            lo, hi = RANGES[k]
            print(f"{k} = {getattr(d, k):g}   [{lo:g} .. {hi:g}]\n    {docs.get(k, '')}")
        print("\nlevers.<City>.<lever> = {start, end, intensity}:")
        for k, (unit, lo, hi) in LEVERS.items():
            print(f"  {k}: {unit} [{lo:g} .. {hi:g}]")
    return 0


def cmd_serve(args) -> int:
    from .serve import serve

    import socket

    from .params import load_scenario

    path = resolve_scenario(args.scenario)
    if not 1 <= args.port <= 65535:
        raise InputError(f"--port: {args.port} is out of range (allowed 1 to 65535)")
    if path:
        load_scenario(path)  # a bad scenario fails here, in one line, not inside the server
    with socket.socket() as probe:
        try:
            probe.bind((args.host, args.port))
        except OSError as e:
            raise InputError(f"--port: cannot listen on {args.host}:{args.port} ({e.strerror})") from None
    return serve(str(path) if path else None, args.host, args.port)


#: Subcommands implemented in their own modules: name -> (module, help).
DELEGATED = {
    "sweep": ("model.sweep", "run a parameter sweep (factorial, LHS, Sobol, Morris) on Dask"),
    "sensitivity": ("model.sensitivity", "Sobol indices and Morris screening of key outcomes"),
    "calibrate": ("model.calibrate", "estimate free parameters against the targets (ABC-SMC on Dask)"),
    "validate": ("model.validate", "run the calibrated baseline over many seeds and write docs/validation.md"),
    "forecast": ("model.forecast", "forecast every city 2024-2030 with uncertainty bands"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="outsourcing-abm",
        description="Agent-based model of China's service-outsourcing industry moving from coastal "
                    "megacities to central and western cities, and what city policy does to that move.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    p = sub.add_parser("run", help="run one scenario and write a result folder",
                       description="Run one scenario (2005-2030 by default, quarterly steps) and write "
                                   "city_year.csv, region_year.csv, quarterly.csv, run.json and figures.")
    add_scenario_args(p)
    p.add_argument("--out", help="output folder (default: results/<scenario name>); replaced atomically")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("params", help="list every parameter with its unit, range and source")
    p.add_argument("--markdown", action="store_true", help="print as a Markdown table")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("serve", help="start the browser demo (Mesa SolaraViz)")
    p.add_argument("scenario", nargs="?", default="baseline", help="scenario to start from (default: baseline)")
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, local only)")
    p.set_defaults(func=cmd_serve)

    for name, (module, help_text) in DELEGATED.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run_cli)

    report = importlib.import_module("model.report_policy")
    p = sub.add_parser("report", help="write a study report (policy)")
    rsub = p.add_subparsers(dest="report", required=True, parser_class=OneLineParser)
    rp = rsub.add_parser("policy", help="policy-lever study report into docs/policy_levers.md")
    report.add_arguments(rp)
    rp.set_defaults(func=report.run_cli)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        sys.stderr.write(f"outsourcing-abm: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("outsourcing-abm: interrupted; finished results are kept, nothing half-written\n")
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the user; OABM_DEBUG=1 shows the traceback
        if os.environ.get("OABM_DEBUG"):
            raise
        msg = " ".join(f"{type(e).__name__}: {e}".split())
        sys.stderr.write(f"outsourcing-abm: error: {msg} (set OABM_DEBUG=1 for the traceback)\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
