"""Writing files so that nothing is ever half-written: every file goes to a temporary sibling
first and is renamed into place (``os.replace`` is atomic on one file system)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable

import numpy as np


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data), name_file=False)


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(type(o).__name__)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, default=json_default) + "\n")


def replace_section(path: str | Path, heading: str, body: str, title: str = "# Performance") -> None:
    """Replace (or append) the section that starts with the line ``heading`` (e.g. "## Sweeps") and
    runs to the next "## " heading; other sections stay as they are. Written atomically."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else title + "\n"
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip() == heading), None)
    new = [heading, ""] + body.rstrip("\n").splitlines()
    if start is None:
        out = lines + ([""] if lines and lines[-1].strip() else []) + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        out = lines[:start] + new + ([""] if end < len(lines) else []) + lines[end:]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "\n".join(out) + "\n")


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], Any], *, name_file: bool = True) -> Path:
    """Write ``path`` by calling ``write(file)`` on a temporary sibling, then renaming it into
    place. On any failure (a full disk, an interrupt) the temporary is removed and the old file,
    if any, stays as it was. With ``name_file`` an OSError that names no file, or only the
    temporary, is raised again naming ``path`` (a full disk then says which file it was writing)."""
    path = Path(path)
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if name_file and (e.filename is None or str(e.filename) == str(tmp)):
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def copy_atomic(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` to ``dst`` atomically (``dst`` is complete or untouched)."""
    data = Path(src).read_bytes()
    return write_atomic(dst, lambda f: f.write(data))


_TMP_NAME = re.compile(r"^\..+\.tmp-(\d+)$")


def clean_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporaries (``.NAME.tmp-PID``) that killed writers of this module left in
    ``folder``: those whose process no longer runs. Returns the files removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.iterdir():
        m = _TMP_NAME.match(p.name)
        if m and p.is_file() and not _alive(int(m.group(1))):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # nothing of this process is being written while it starts a job
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def check_writable(out: str | Path, *, owned: Iterable[str] | None = None, field: str = "--out",
                   beside: bool = False) -> None:
    """An InputError now, before any work, unless ``out`` can take a command's output.

    ``out`` must not be a file. With ``owned``, a folder that already holds anything must hold
    one of the ``owned`` names (so it is a folder this kind of command made, which the command
    may replace or continue): a folder of other files (a thesis, ``experiments/``) is never
    written into. The folder itself, or its nearest existing parent, must accept a new entry
    (with ``beside``: the parent, for outputs renamed into place). The only reliable test (root
    passes ``os.access`` everywhere) is to create and remove a folder."""
    from .core.errors import InputError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{field}: {out} exists and is not a folder")
    if owned is not None:
        owned = tuple(owned)
        if out.is_dir() and any(out.iterdir()) and not any((out / name).exists() for name in owned):
            mark = f" (no {' or '.join(owned)})" if owned else ""
            raise InputError(f"{field}: {out} holds other files{mark}; choose a new or empty folder")
    probe = out.resolve() if out.is_dir() and not beside else out.resolve().parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".oabm-write-test.", dir=probe))
    except OSError as e:
        raise InputError(f"{field}: {out} is not writable ({e.strerror or e})") from None
