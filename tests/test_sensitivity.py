"""Sobol and Morris analysis on the sweep machinery: the indices are right on a known function,
and the command runs end to end on the real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"


def cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-m", "model", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def design_text(base_samples: int, trajectories: int, extra: str = "") -> str:
    return f"""
name = "sens_test"
scenario = "{EXPERIMENTS / 'baseline.toml'}"
method = "sobol"
replications = 1
root_seed = 99
metrics = ["focus_employment_2025", "focus_employment_2030", "inland_share_2025", "spend_per_job_added_all_cities"]
[fixed]
end_year = 2025
persons_per_agent = 1000
[parameters]
modelled_share = {{ low = 0.25, high = 0.45 }}
beta_margin = {{ low = 3.0, high = 9.0 }}
so_interest_share = {{ low = 0.15, high = 0.45 }}
[sobol]
base_samples = {base_samples}
[morris]
trajectories = {trajectories}
levels = 4
{extra}
"""


def test_indices_recover_a_known_function(tmp_path):
    """y = 4 a + 2 b (+ nothing of c), all on [0, 1]: S1 ~ (0.8, 0.2, 0), mu* ~ (4, 2, 0)."""
    from model.study.sensitivity import _analyse_morris, _analyse_sobol
    from model.study.design import load_design

    p = tmp_path / "d.toml"
    p.write_text(design_text(256, 20))
    sob = load_design(p, validate=False)
    lo = np.array([b[0] for b in sob.problem["bounds"]])
    hi = np.array([b[1] for b in sob.problem["bounds"]])

    def f(x: np.ndarray) -> np.ndarray:
        u = (x - lo) / (hi - lo)
        return 4 * u[:, 0] + 2 * u[:, 1]

    first, _ = _analyse_sobol(sob, f(sob.sample))
    s1 = {r["parameter"]: r["S1"] for r in first}
    st = {r["parameter"]: r["ST"] for r in first}
    assert s1["modelled_share"] == pytest.approx(0.8, abs=0.05)
    assert s1["beta_margin"] == pytest.approx(0.2, abs=0.05)
    assert abs(s1["so_interest_share"]) < 0.02 and st["so_interest_share"] < 0.02
    assert all(r["S1_conf"] >= 0 for r in first) and first[0]["S1_conf"] > 0
    mor = load_design(p, method="morris", validate=False)
    rows = {r["parameter"]: r for r in _analyse_morris(mor, f(mor.sample))}
    # SALib's elementary effects are per unit of the factor's range: 4 and 2 here
    assert rows["modelled_share"]["mu_star"] == pytest.approx(4, rel=0.01)
    assert rows["beta_margin"]["mu_star"] == pytest.approx(2, rel=0.01)
    assert rows["so_interest_share"]["mu_star"] == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("body, word", [
    ("[parameters]\nbeta_margin = [3.0, 9.0]", "low"),
    ("[parameters]\nbeta_margin = { low = 9.0, high = 3.0 }", "empty range"),
    ("[parameters]\nno_such = { low = 0.0, high = 1.0 }", "no_such"),
])
def test_bad_sensitivity_design(tmp_path, body, word):
    p = tmp_path / "bad.toml"
    p.write_text(f'scenario = "{EXPERIMENTS / "baseline.toml"}"\nmethod = "sobol"\nreplications = 1\n'
                 f'root_seed = 1\n[sobol]\nbase_samples = 4\n[morris]\ntrajectories = 2\n{body}\n')
    out = tmp_path / "out"
    r = cli("sensitivity", str(p), "--out", str(out), "--workers", "1")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.slow  # 36 s; the CI suite must stay under 10 min (run with -m slow)
def test_sensitivity_end_to_end(tmp_path):
    p = tmp_path / "sens.toml"
    p.write_text(design_text(4, 3))  # Sobol 4 x (3 + 2) = 20 runs, Morris 3 x (3 + 1) = 12 runs
    out = tmp_path / "out"
    r = cli("sensitivity", str(p), "--out", str(out), "--workers", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "focus_employment_2030 skipped" in r.stderr  # end_year 2025: reported, not fatal
    sob = pd.read_csv(out / "sobol_indices.csv")
    assert list(sob.columns) == ["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    mor = pd.read_csv(out / "morris_indices.csv")
    assert list(mor.columns) == ["metric", "parameter", "mu", "mu_star", "mu_star_conf", "sigma"]
    for table in (sob, mor):
        assert set(table["parameter"]) == {"modelled_share", "beta_margin", "so_interest_share"}
        assert {"focus_employment_2025", "inland_share_2025"} <= set(table["metric"])
    for metric in set(sob["metric"]):
        assert (out / f"sobol_{metric}.png").stat().st_size > 5000
    for metric in set(mor["metric"]):
        assert (out / f"morris_{metric}.png").stat().st_size > 5000
    meta = json.loads((out / "sensitivity.json").read_text())
    assert meta["analyses"]["sobol"]["runs"] == 20 and meta["analyses"]["morris"]["runs"] == 12
    assert "focus_employment_2030" in meta["analyses"]["sobol"]["skipped"]
    assert len(pd.read_parquet(out / "sobol" / "runs.parquet")) == 20  # a plain sweep underneath
    # resuming a finished analysis runs nothing and reproduces the tables exactly
    before = (out / "sobol_indices.csv").read_bytes(), (out / "morris_indices.csv").read_bytes()
    r = cli("sensitivity", str(p), "--out", str(out), "--workers", "1", "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    assert ((out / "sobol_indices.csv").read_bytes(), (out / "morris_indices.csv").read_bytes()) == before
