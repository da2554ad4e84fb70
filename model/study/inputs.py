"""Reading the study's input files (scenarios, designs, targets, plans) with one-line errors that
name the file, and echoing user values in errors without flooding the terminal."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ..core.errors import InputError

#: Longest user value echoed whole in a message; longer ones are cut and their length given.
ECHO_MAX = 60
_LONG_TOKEN = re.compile(r"\S{%d,}" % (ECHO_MAX + 1))


def shorten(text: Any, limit: int = ECHO_MAX) -> str:
    """``text`` with every run of more than ``limit`` non-blank characters cut to ``limit`` and
    marked with its full length (a 200 kB value, a 5,000-character path)."""
    text = str(text)

    def cut(m: re.Match) -> str:
        s = m.group(0)
        return f"{s[:limit - 3]}... ({len(s):,} characters)"

    return _LONG_TOKEN.sub(cut, text)


def short_error(e: InputError) -> InputError:
    """The same error with long echoed values cut (see ``shorten``)."""
    return InputError(shorten(str(e)))


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The table of a TOML file, or an InputError naming ``what`` and the file: not found, not
    UTF-8, not valid TOML."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what}: file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{what}: {path} is not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise InputError(f"{what}: {path} is not UTF-8 text") from None
