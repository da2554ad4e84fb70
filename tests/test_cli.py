"""The command line as a user meets it: real subprocesses, real files, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--set", "end_year=2012", "--set", "persons_per_agent=200", "--quiet"]


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "model", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_run_writes_every_promised_file(tmp_path):
    out = tmp_path / "run"
    r = cli("run", "baseline", "--seed", "3", "--out", str(out), *FAST)
    assert r.returncode == 0, r.stderr
    for f in ("city_year.csv", "region_year.csv", "quarterly.csv", "run.json", "regional_shift.png", "neijiang.png"):
        assert (out / f).stat().st_size > 0, f
    cy = pd.read_csv(out / "city_year.csv")
    for col in ("year", "city", "tier", "firms", "new_firms", "exits", "employment", "output_cny",
                "mean_wage_cny", "tax_cny", "policy_spend_cny", "local_share", "young_share"):
        assert col in cy.columns
    assert cy["year"].min() == 2005 and cy["year"].max() == 2012
    meta = json.loads((out / "run.json").read_text())
    assert meta["seed"] == 3 and meta["params"]["end_year"] == 2012
    assert meta["provenance"]["git"]["commit"] and meta["provenance"]["version"] and meta["wall_time_s"] > 0
    assert meta["params"]["levers"]["Neijiang"]["rent_relief"]["intensity"] == 0.7


def test_summary_table_is_printed(tmp_path):
    r = cli("run", "no_policy", "--out", str(tmp_path / "o"), "--set", "end_year=2010",
            "--set", "persons_per_agent=200", "--no-figures")
    assert r.returncode == 0, r.stderr
    assert "coastal %" in r.stdout and "pay ratio" in r.stdout and "Neijiang" in r.stdout


def test_help_explains_every_option():
    r = cli("run", "--help")
    assert r.returncode == 0
    for opt in ("--seed", "--out", "--set", "--no-figures", "--quiet", "scenario"):
        assert opt in r.stdout


@pytest.mark.parametrize("args, words", [
    (["run", "baseline", "--set", "bogus_key=1"], ["bogus_key", "unknown parameter"]),
    (["run", "baseline", "--set", "modelled_share=abc"], ["modelled_share", "expected a number"]),
    (["run", "baseline", "--set", "levers.Neijiang.talent_subsidy.intensity=-1"], ["levers.Neijiang.talent_subsidy.intensity", "allowed 0"]),
    (["run", "baseline", "--set", "levers.Neijiang.rent_relief.end=2001"], ["levers.Neijiang.rent_relief.end", "before start"]),
    (["run", "baseline", "--set", "levers.Gotham.rent_relief.intensity=0.5"], ["levers.Gotham", "unknown city"]),
    (["run", "no_such_scenario"], ["scenario", "not found"]),
    (["run", "baseline", "--seed", "abc"], ["seed", "whole number"]),
    (["run", "baseline", "--seed", "-4"], ["seed"]),
])
def test_bad_input_is_one_line_exit_2(args, words, tmp_path):
    out = tmp_path / "never"
    r = cli(*args, "--out", str(out))
    assert_one_line_error(r, *words)
    assert not out.exists()


def test_malformed_toml_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[levers.Neijiang\nintensity = 1\n")
    r = cli("run", str(bad), "--out", str(tmp_path / "o"))
    assert_one_line_error(r, "not valid TOML")
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; covered by the read-only folder check below")
def test_unwritable_output_folder_non_root(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    r = cli("run", "baseline", "--out", str(ro / "x"), *FAST)
    assert_one_line_error(r, "--out", "not writable")


def test_output_path_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = cli("run", "baseline", "--out", str(f), *FAST)
    assert_one_line_error(r, "--out")
    assert f.read_text() == "x"


def test_unwritable_output_folder(tmp_path):
    # /proc is not writable even for root.
    r = cli("run", "baseline", "--out", "/proc/outsourcing-abm-test", *FAST)
    assert_one_line_error(r, "--out", "not writable")


def test_output_folder_of_other_files_is_never_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = cli("run", "baseline", "--out", str(tmp_path), *FAST)
    assert_one_line_error(r, "--out", "files a run does not write", "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_rerun_replaces_an_earlier_run_folder(tmp_path):
    out = tmp_path / "run"
    for seed in ("1", "2"):
        r = cli("run", "baseline", "--seed", seed, "--out", str(out), *FAST, "--no-figures")
        assert r.returncode == 0, r.stderr
    assert json.loads((out / "run.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary folder left behind


@pytest.mark.parametrize("cmd", ["validate", "forecast"])
def test_negative_root_seed_is_one_line_error(cmd):
    assert_one_line_error(cli(cmd, "--root-seed", "-1"), "--root-seed")
