"""Study commands: ``sweep``, ``sensitivity``, ``report policy``, ``calibrate``, ``validate``, ``forecast``."""

from __future__ import annotations

import importlib

from .common import OneLineParser

#: Subcommands implemented in their own modules: name -> (module, help).
DELEGATED = {
    "sweep": ("model.study.sweep", "run a parameter sweep (factorial, LHS, Sobol, Morris) on Dask"),
    "sensitivity": ("model.study.sensitivity", "Sobol indices and Morris screening of key outcomes"),
    "calibrate": ("model.study.calibrate", "estimate free parameters against the targets (ABC-SMC on Dask)"),
    "validate": ("model.study.validate", "run the calibrated baseline over many seeds and write docs/validation.md"),
    "forecast": ("model.study.forecast", "forecast every city 2024-2030 with uncertainty bands"),
}


def register(sub) -> None:
    for name, (module, help_text) in DELEGATED.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run_cli)

    report = importlib.import_module("model.study.policy_report")
    p = sub.add_parser("report", help="write a study report (policy)")
    rsub = p.add_subparsers(dest="report", required=True, parser_class=OneLineParser)
    rp = rsub.add_parser("policy", help="policy-lever study report into docs/policy_levers.md")
    report.add_arguments(rp)
    rp.set_defaults(func=report.run_cli)
