"""Run folders: written whole or not at all, and never over anything a user owns.

A run is written into a hidden temporary sibling ``.<name>.run-<pid>-<random>`` and then swapped
into place: with Linux's renameat2(RENAME_EXCHANGE) in one atomic step where the file system
supports it, else by renaming the old run aside, renaming the new one in, and only then deleting
the old one. A folder is replaced only if it holds nothing but files a run writes; anything else
in it is refused, by name. Temporaries of runs that died (SIGKILL, power loss) are cleared by the
next run into the same place, and a run interrupted between the two renames is restored.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .core.errors import InputError

#: Files a run folder holds (besides one figure per focus city: <city>.png).
RUN_FILES = frozenset({"city_year.csv", "region_year.csv", "quarterly.csv", "run.json", "regional_shift.png"})
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<kind>run|old)-(?P<pid>\d+)-[A-Za-z0-9_]+$")


def foreign_files(out: Path, city_names: set[str]) -> list[str]:
    """Names in ``out`` that no run writes (sorted)."""
    figures = {f"{c.lower()}.png" for c in city_names}
    return sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES and p.name not in figures)


def check_run_folder(out: Path, city_names: set[str]) -> None:
    """InputError (one line) unless ``out`` is new, empty, or an earlier run folder, and its parent
    is writable."""
    if len(str(out)) > 4000 or any(len(part) > 255 for part in out.parts):
        raise InputError(f"--out: the path is too long (at most 255 characters a name, 4000 in all)")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} exists and is not a folder")
    if out.is_dir():
        foreign = foreign_files(out, city_names)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise InputError(f"--out: {out} holds files a run does not write ({shown}); "
                             "a run replaces only an earlier run folder: choose a new or empty folder")
    parent = out.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:  # the only reliable test (root passes os.access everywhere): create and remove a folder
        os.rmdir(tempfile.mkdtemp(prefix=".oabm-write-test.", dir=parent))
    except OSError:
        raise InputError(f"--out: {out} is not writable") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale(out: Path) -> None:
    """Remove temporaries of dead runs next to ``out``; if a dead run had renamed the old run aside
    but not yet put the new one in, put the old one back."""
    if not out.parent.is_dir():
        return
    for p in sorted(out.parent.iterdir()):
        m = _TEMP.match(p.name)
        if not m or m["name"] != out.name or _alive(int(m["pid"])) and int(m["pid"]) != os.getpid():
            continue
        if m["kind"] == "old" and not out.exists():
            os.replace(p, out)  # the previous run, restored
        else:
            shutil.rmtree(p, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, out: Path) -> None:
    """Put ``tmp`` at ``out``; the run already there is removed only once the new one is in."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old run
        return
    aside = out.parent / f".{out.name}.old-{os.getpid()}-{tmp.name.rsplit('-', 1)[-1]}"
    os.replace(out, aside)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(aside, out)  # the old run stays where it was
        raise
    shutil.rmtree(aside, ignore_errors=True)


class Terminated(Exception):
    """SIGTERM arrived while a run folder was being written."""


@contextmanager
def terminate_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (so temporaries are cleaned up on the way out)."""
    def handler(signum, frame):
        raise Terminated()
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def write_folder(out: str | Path, fill: Callable[[Path], None], city_names: set[str]) -> Path:
    """Write a run folder by calling ``fill(tmp)`` on a fresh temporary sibling, then swap it into
    place. Interrupted (an error, Ctrl-C, SIGTERM) it leaves the old folder as it was and nothing else."""
    out = Path(out)
    check_run_folder(out, city_names)
    out.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.run-{os.getpid()}-", dir=out.parent))
    try:
        with terminate_raises():
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a run folder follows the umask
            fill(tmp)
            _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
