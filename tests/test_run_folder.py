"""Run folders are written whole or not at all and never replace what a user owns (issue 13,
items 1, 2 and 14): each test fails on a writer that deletes first or ignores foreign files."""

import os
import signal
import stat

import pytest

from model.core.errors import InputError
from model import run_folder as rf

CITIES = {"Neijiang", "Zigong"}


def fill_with(text):
    def fill(tmp):
        (tmp / "run.json").write_text(text)
        (tmp / "city_year.csv").write_text("year\n")
    return fill


def test_a_folder_with_user_files_is_refused_and_kept(tmp_path):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "run.json").write_text("old")
    (out / "thesis.docx").write_text("mine")
    with pytest.raises(InputError, match="thesis.docx"):
        rf.write_folder(out, fill_with("new"), CITIES)
    assert (out / "thesis.docx").read_text() == "mine" and (out / "run.json").read_text() == "old"


def test_an_earlier_run_is_replaced_and_nothing_is_left_beside_it(tmp_path):
    out = tmp_path / "run"
    rf.write_folder(out, fill_with("one"), CITIES)
    (out / "zigong.png").write_text("a figure of an earlier focus city")  # also a run's file
    rf.write_folder(out, fill_with("two"), CITIES)
    assert (out / "run.json").read_text() == "two" and not (out / "zigong.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("exchange", [True, False])
def test_a_failing_swap_keeps_the_old_run(tmp_path, monkeypatch, exchange):
    out = tmp_path / "run"
    rf.write_folder(out, fill_with("old"), CITIES)
    if exchange:
        monkeypatch.setattr(rf, "_exchange", lambda a, b: (_ for _ in ()).throw(OSError(5, "Input/output error")))
    else:
        monkeypatch.setattr(rf, "_exchange", lambda a, b: False)
        real = os.replace

        def replace(a, b):
            if str(a).find(".run-") >= 0:
                raise OSError(5, "Input/output error")
            return real(a, b)
        monkeypatch.setattr(rf.os, "replace", replace)
    with pytest.raises(OSError):
        rf.write_folder(out, fill_with("new"), CITIES)
    assert (out / "run.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_stale_temporaries_of_a_killed_run_are_cleared_and_the_old_run_restored(tmp_path):
    out = tmp_path / "run"
    dead = 2**22 + 12345  # no such process
    (tmp_path / f".run.run-{dead}-abc").mkdir()          # a half-written new run
    old = tmp_path / f".run.old-{dead}-abc"              # killed between the two renames
    old.mkdir()
    (old / "run.json").write_text("previous")
    rf.clear_stale(out)
    assert (out / "run.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_sigterm_while_writing_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "run"
    rf.write_folder(out, fill_with("old"), CITIES)

    def fill(tmp):
        (tmp / "run.json").write_text("half")
        os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(rf.Terminated):
        rf.write_folder(out, fill, CITIES)
    assert (out / "run.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_run_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = rf.write_folder(tmp_path / "run", fill_with("x"), CITIES)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


def test_an_overlong_path_is_a_one_line_input_error(tmp_path):
    with pytest.raises(InputError, match="too long"):
        rf.check_run_folder(tmp_path / ("x" * 5000), CITIES)
