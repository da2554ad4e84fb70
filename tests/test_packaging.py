"""The wheel works away from the checkout: built from the repository, installed into a fresh
venv, ``outsourcing-abm run baseline`` runs from an empty folder with the scenarios, targets and
calibration records shipped as package data (``model/experiments``).

The fresh venv sees the dependencies of this venv through a ``.pth`` file (so nothing is
downloaded but the build backend, setuptools); the wheel itself is installed with ``--no-deps``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

#: What the wheel is built from (everything else in the checkout stays out of the build).
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "model", "experiments")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(dist)],
                       capture_output=True, text=True, env=_clean_env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = dist.glob("outsourcing_abm-*.whl")
    return whl


def test_wheel_ships_the_committed_experiments(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    committed = subprocess.run(["git", "ls-files", "experiments"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not committed:  # not a git checkout: what is in the folder
        committed = [f"experiments/{p.name}" for p in (ROOT / "experiments").iterdir() if p.is_file()]
    missing = [f for f in committed if f"model/{f}" not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert "model/core/data/cities.csv" in names
    assert {n.split("/")[0] for n in names} == {"model", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
                                                + ".dist-info"}, "only the model package goes into the wheel"


def test_installed_wheel_runs_baseline_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    vpy = venv / "bin" / "python"
    site = Path(subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # this venv's dependencies (mesa, pandas, ...), after the fresh venv's own site-packages
    (site / "deps_from_dev_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(vpy), "install", "--no-deps", "--no-index", "-q",
                        str(wheel)], capture_output=True, text=True, env=_clean_env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    cli = venv / "bin" / "outsourcing-abm"
    r = subprocess.run([cli, "run", "baseline", "--set", "end_year=2008", "--set", "persons_per_agent=400",
                        "--out", "X", "--quiet"], cwd=work, capture_output=True, text=True, env=_clean_env(),
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = work / "X"
    for name in ("city_year.csv", "region_year.csv", "quarterly.csv", "run.json", "regional_shift.png", "neijiang.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    record = json.loads((out / "run.json").read_text())
    scenario = Path(record["scenario"])
    assert scenario.name == "baseline.toml" and scenario.is_relative_to(site / "model" / "experiments"), scenario
    # the package that ran is the installed one, not the checkout
    r = subprocess.run([vpy, "-c", "import model; print(model.__file__)"], cwd=work, capture_output=True, text=True,
                       env=_clean_env(), check=True)
    assert Path(r.stdout.strip()).is_relative_to(site), r.stdout


def test_license_and_citation():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "outsourcing-abm contributors" in text
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "version", "license"):
        assert cff.get(key), key
    assert all(a.get("name") or a.get("family-names") for a in cff["authors"])
    assert cff["license"] == "MIT"
