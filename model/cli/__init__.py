"""Command line: ``outsourcing-abm <command> ...`` (also ``python -m model``).

Bad input of any kind ends with one line on stderr naming the field and what is allowed,
exit code 2, and no traceback. Results are written atomically. Each module here registers its
commands; ``paths`` is the only place that knows the repository layout and default outputs.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from typing import NoReturn

from ..core.errors import InputError
from ..study.signals import exit_now, exit_on_sigterm, sigterm_interrupts
from . import explain, run, study
from .common import OneLineParser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="outsourcing-abm",
        description="Agent-based model of China's service-outsourcing industry moving from coastal "
                    "megacities to central and western cities, and what city policy does to that move.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in (run, study, explain):
        module.register(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(f"outsourcing-abm: warning: {message}\n")


def main(argv: list[str] | None = None) -> int:
    import warnings

    from ..core.errors import InputWarning

    warnings.showwarning = _one_line_warning
    warnings.simplefilter("always", InputWarning)
    with sigterm_interrupts():  # a polite kill ends like Ctrl-C: cleaned up, exit 130
        return _run(argv)


def entry() -> NoReturn:
    """The console command (``outsourcing-abm``, ``python -m model``): ``main`` on sys.argv, then
    the exit handlers, then out. Its results are written by the time ``main`` returns, so a polite
    kill after that ends with the command's own code. The interpreter's own teardown is skipped:
    it first puts SIGTERM back to its default, and then freeing numpy, pandas and Dask took
    about 0.3 s here, in which a kill ended a finished command as killed by signal (-15)."""
    code = main()
    exit_on_sigterm(code)
    atexit._run_exitfuncs()  # what a normal exit runs: Dask's and logging's clean-up
    exit_now(code)


def _run(argv: list[str] | None) -> int:
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
