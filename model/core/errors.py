"""Errors a user can fix: reported as one line naming the field, exit code 2, no traceback; and
how user values are echoed in them without flooding the terminal."""

from __future__ import annotations

import re
from typing import Any

#: Longest user value echoed whole in a message; longer ones are cut and their length given.
ECHO_MAX = 60


class InputError(ValueError):
    """Bad input (parameter, scenario, design, path). The message names the field and the allowed range."""


class InputWarning(UserWarning):
    """Input that is accepted but may not mean what the user intends; the message says what will happen."""


def shorten(text: Any, limit: int = ECHO_MAX) -> str:
    """``text`` with every run of more than ``limit`` non-blank characters cut to its start and
    its end and marked with its full length (a 200 kB value, a 5,000-character path)."""
    half = max((limit - 3) // 2, 1)

    def cut(m: re.Match) -> str:
        s = m.group(0)
        return f"{s[:half]}...{s[-half:]} ({len(s):,} characters)"

    return re.sub(r"\S{%d,}" % (limit + 1), cut, str(text))


def shown(value: Any) -> str:
    """``repr(value)`` as echoed in an error message (see ``shorten``)."""
    return shorten(repr(value))
