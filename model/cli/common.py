"""Pieces shared by the commands: the one-line argument parser, seeds, scenario arguments."""

from __future__ import annotations

import argparse
import sys

from .paths import resolve_scenario

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


def add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set modelled_share=0.4 or "
                        "--set levers.Neijiang.rent_relief.intensity=0.5 (repeatable)")


def add_scenario_args(p: argparse.ArgumentParser, *, seed: bool = True) -> None:
    p.add_argument("scenario", nargs="?", default="baseline",
                   help="scenario TOML file, or its name in experiments/ (default: baseline)")
    add_overrides(p)
    if seed:
        p.add_argument("--seed", type=seed_type, default=1, help="random seed, 0 to 2^32-1 (default: 1)")


def load_params(args):
    """(scenario path, Params) of a command line with a scenario and --set overrides."""
    from ..study.scenarios import load_scenario

    path = resolve_scenario(args.scenario)
    return path, load_scenario(path, args.overrides)


def command_line() -> str:
    """The command as the user typed it, for provenance records."""
    return " ".join(["outsourcing-abm", *sys.argv[1:]])
