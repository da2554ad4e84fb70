"""Reading the study's input files (scenarios, designs, targets, plans) with one-line errors that
name the file (user values are echoed with model.core.errors.shorten)."""

from __future__ import annotations

import errno
import tomllib
from pathlib import Path
from typing import Any

from ..core.errors import InputError, shorten

#: The longest path echoed whole in a message (its start and its end, the file name, are kept).
PATH_MAX = 240


def short_error(e: InputError) -> InputError:
    """The same error with long echoed values cut (see ``shorten``)."""
    return InputError(shorten(str(e)))


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The table of a TOML file, or an InputError naming ``what`` and the file: not found, a
    folder, unreadable, a path too long, not UTF-8 (a binary file), not valid TOML. A UTF-8
    byte-order mark, as some Windows editors write, is accepted."""
    path = Path(path)
    shown = shorten(path, PATH_MAX)
    try:
        if path.is_dir():
            raise InputError(f"{what}: {shown} is a folder, not a file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what}: file not found: {shown}") from None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise InputError(f"{what}: the path is too long ({len(str(path)):,} characters): {shown}") from None
        raise InputError(f"{what}: cannot read {shown} ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what}: {shown} is not UTF-8 text (a binary file?)") from None
    text = text.removeprefix("\ufeff")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{what}: {shown} is not valid TOML ({shorten(e)})") from None
    except (ValueError, RecursionError) as e:  # a number of thousands of digits, arrays nested 1,000 deep
        raise InputError(f"{what}: {shown} cannot be read as TOML ({shorten(e)})") from None
