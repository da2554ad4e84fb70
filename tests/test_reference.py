"""The numpy reference of benchmarks/ runs the model's own rules: its results agree with the
model's in distribution (the random streams differ), so a rule changed in one changes both."""

import sys
from pathlib import Path

import numpy as np

from model.cli.paths import experiments_dir
from model.run import simulate
from model.study.scenarios import load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from numpy_reference import run  # noqa: E402


def test_reference_and_model_agree_in_distribution():
    p = load_scenario(experiments_dir() / "baseline.toml", ["end_year=2015", "persons_per_agent=400"])
    ref, mod = [], []
    for seed in (1, 2, 3):
        r = run(p, seed)
        emp = r.city_state["employment"]
        ref.append(emp[r.world.region == "coastal"].sum() / emp.sum())
        ry = simulate(p, seed).region_year
        mod.append(float(ry[(ry["year"] == 2015) & (ry["region"] == "coastal")]["employment_share"].iloc[0]))
    spread = max(np.std(ref), np.std(mod)) + 0.01
    assert abs(np.mean(ref) - np.mean(mod)) < 3 * spread, (ref, mod)
