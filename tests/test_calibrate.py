"""Targets, calibration (ABC-SMC on Dask), validation and forecast: coverage, method check, errors."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.cli.paths import targets_file
from model.core.errors import InputError
from model.core.params import RANGES
from model.run import simulate
from model.study.calibrate import load_settings, point_estimate, weighted_quantile
from model.study.scenarios import load_scenario
from model.study.seeds import particle_seeds
from model.study.targets import Target, distance, evaluate, fit, load_targets, summarise

TARGETS_FILE = targets_file()

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT.parent / "shared" / "facts"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def assert_one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


# ---------------------------------------------------------------------------------------
# The targets file
# ---------------------------------------------------------------------------------------

def _target_fact_ids() -> list[str]:
    # seed_facts.yaml is read as text: it is not strictly valid YAML (see docs/validation.md).
    text = (FACTS / "seed_facts.yaml").read_text()
    return re.findall(r"- id: (\S+)\n\s+kind: target", text)


@pytest.mark.skipif(not (FACTS / "seed_facts.yaml").exists(), reason="shared facts not beside the repo")
def test_every_target_fact_and_pattern_has_a_target():
    targets = load_targets(TARGETS_FILE)
    cited = " ".join(t.fact for t in targets)
    ids = _target_fact_ids()
    assert len(ids) >= 15
    missing = [i for i in ids if f"#{i}" not in cited]
    assert not missing, f"target facts without a target: {missing}"
    patterns = (FACTS / "public_stats.yaml").read_text().split("regional_split:")[1].split("\n\n")[0]
    n_patterns = len(re.findall(r"^\s+- as_of:", patterns, flags=re.M))
    assert all(f"regional_split[{k}]" in cited for k in range(n_patterns))


def test_targets_are_dated_2023_or_earlier_and_bands_are_sound():
    for t in load_targets(TARGETS_FILE):
        assert t.year <= 2023 and t.low <= t.high and t.why, t.id


@pytest.mark.parametrize("patch, words", [
    ("bogus = 1", "unknown key 'bogus'"),
    ("year = 2025", "2025 is after 2023"),
    ("low = 9", "above high"),
    ('transform = "magic"', "transform"),
])
def test_bad_targets_are_one_line_errors(tmp_path, patch, words):
    key = patch.split(" = ")[0]
    base = {"id": '"x"', "fact": '"f"', "what": '"w"', "transform": '"level"', "year": "2020", "low": "0",
            "high": "1", "observed": '"o"', "why": '"y"', "city": '"Neijiang"', "column": '"firms"'}
    base[key] = patch.split(" = ")[1]
    p = tmp_path / "t.toml"
    p.write_text("[[target]]\n" + "\n".join(f"{k} = {v}" for k, v in base.items()) + "\n")
    with pytest.raises(InputError, match=re.escape(words)):
        load_targets(p)


def test_distance_is_zero_at_band_centres_and_grows_outside():
    ts = [t for t in load_targets(TARGETS_FILE) if t.weight > 0]
    centre = {t.id: t.centre for t in ts}
    assert distance(ts, centre) == 0
    edge = {t.id: t.high for t in ts}
    assert distance(ts, edge) == pytest.approx(1.0)
    far = {t.id: t.high + 3 * t.half_width for t in ts}
    assert distance(ts, far) > distance(ts, edge)
    assert distance(ts, {}) == 25.0  # undefined everywhere: the capped penalty


def test_fit_counts_only_fitted_targets_outside_their_bands():
    ts = load_targets(TARGETS_FILE)
    fitted = [t for t in ts if t.weight > 0]
    checks = [t for t in ts if t.weight <= 0]
    assert checks, "the targets file has weight-0 checks to leave out"
    inside = {t.id: t.centre for t in fitted} | {t.id: t.high + 10 * t.half_width + 1 for t in checks}
    assert fit(ts, inside) == (0, 0.0)
    two_out = {**inside, fitted[0].id: fitted[0].high + fitted[0].half_width, fitted[1].id: math.nan}
    assert fit(ts, two_out).misses == 2 and fit(ts, two_out).distance == distance(ts, two_out)
    assert fit(ts, {}).misses == len(fitted)


def test_particle_seeds_depend_only_on_values():
    a = particle_seeds({"x": 1.0, "y": 2.0}, 7, 3)
    assert a == particle_seeds({"y": 2.0, "x": 1.0}, 7, 3)
    assert a != particle_seeds({"x": 1.0, "y": 2.5}, 7, 3) and len(set(a)) == 3


def test_weighted_quantile():
    x, w = np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 2.0])
    assert weighted_quantile(x, w, 0.5) == 2.0 and weighted_quantile(x, w, 0.0) == 1.0


def test_calibration_settings_priors_lie_in_parameter_ranges():
    s = load_settings(TARGETS_FILE)
    assert s["population"] >= 10 and s["seeds"] >= 1 and len(s["priors"]) >= 5
    # One seed per particle is affordable only because the candidates are rescored on several.
    assert s["seeds"] >= 2 or (s["rescore_particles"] >= 2 and s["rescore_seeds"] >= 2)
    for name, (low, high) in s["priors"].items():
        lo, hi = RANGES[name]
        assert lo <= low < high <= hi, name


def settings_file(tmp_path: Path, line: str) -> Path:
    """A minimal targets file whose [calibration] table holds ``line``."""
    p = tmp_path / "t.toml"
    p.write_text(f"[calibration]\npopulation = 10\ngenerations = 1\nseeds = 1\n{line}\n"
                 "[calibration.priors]\nquit_rate_later = [0.01, 0.06]\n")
    return p


@pytest.mark.parametrize("line, ok", [
    ("move_scaling = 2.0", True), ("move_scaling = 1", True), ("move_scaling = 0.01", False),
    ('move_scaling = "wide"', False), ("move_scaling = true", False),
    ("keep_fraction = 0.5", True), ("keep_fraction = 0.95", False), ("moves = 3", True), ("moves = 0", False),
    ("moves = 2.5", False),
])
def test_sampler_settings_are_checked(tmp_path, line, ok):
    key, value = (x.strip() for x in line.split("="))
    p = settings_file(tmp_path, line)
    if ok:
        assert load_settings(p)[key] == float(value)
    else:
        rule = "a whole number of at least 1" if key == "moves" else "a number from"
        with pytest.raises(InputError, match=rf"calibration\.{key}: expected {rule}"):
            load_settings(p)


def test_evaluate_and_summarise_on_a_run():
    targets = load_targets(TARGETS_FILE)
    res = simulate(load_scenario(ROOT / "experiments" / "baseline.toml", ["persons_per_agent=400", "end_year=2023"]), 3)
    values = evaluate(targets, res.city_year, res.region_year)
    assert set(values) == {t.id for t in targets}
    assert 0 < values["east_share_2015"] < 1 and values["nj_wage_ratio"] > 0
    s = summarise(targets, pd.DataFrame([values, values]))
    assert len(s) == len(targets) and set(s["pass"]) <= {True, False}


def test_point_estimate_reruns_candidates_and_overrules_a_lucky_abc_distance():
    # The chosen estimate is the candidate with the best fit (fewest fitted targets missed, then
    # the smallest distance) rerun over common seeds,
    # whatever single-seed ABC distance each particle happened to draw: swapping those distances
    # must not change the choice (so in one of the two orders ABC's first particle is overruled).
    priors = {"modelled_share": [0.05, 0.9], "quit_rate_later": [0.01, 0.3], "so_interest_share": [0.2, 1.0]}
    base = load_scenario(ROOT / "experiments" / "baseline.toml", ["persons_per_agent=200", "end_year=2023"])
    one = {k: getattr(base, k) for k in priors}
    other = {"modelled_share": 0.05, "quit_rate_later": 0.3, "so_interest_share": 0.2}
    settings = {"rescore_particles": 5, "rescore_seeds": 2}  # more than there are particles
    median = {k: (one[k] + other[k]) / 2 for k in priors}
    targets = load_targets(TARGETS_FILE)
    runs = []
    for d_one, d_other in [(0.5, 0.9), (0.9, 0.5)]:
        scored = pd.DataFrame([{**one, "distance": d_one}, {**other, "distance": d_other}])
        runs.append(point_estimate(scored, median, priors, base, targets, settings, 7, client=None))
    (estimate, point), (estimate_swapped, point_swapped) = runs
    scores = {c["candidate"]: (c["rescored_misses"], c["rescored_distance"]) for c in point["candidates"]}
    assert list(scores) == ["particle 0", "particle 1", "weighted posterior median"]
    assert [c["abc_distance"] for c in point["candidates"]] == [0.5, 0.9, None]
    assert len(set(scores.values())) == 3  # the rerun tells the candidates apart
    assert point["chosen"] == min(scores, key=scores.get)
    assert estimate == {"particle 0": one, "particle 1": other, "weighted posterior median": median}[point["chosen"]]
    assert estimate_swapped == estimate
    assert sorted((c["rescored_misses"], c["rescored_distance"]) for c in point_swapped["candidates"]) \
        == sorted(scores.values())
    assert len(point["seeds"]) == 2 and "among the 2 final particles" in point["method"]
    # Without rescoring the medians are the estimate.
    assert point_estimate(scored, median, priors, base, [], {"rescore_particles": 0},
                          7, client=None) == (median, {"method": "weighted posterior median"})


# ---------------------------------------------------------------------------------------
# Method check: recover known parameters from synthetic targets
# ---------------------------------------------------------------------------------------

SYNTH_FIXED = {"persons_per_agent": 400, "end_year": 2010}
TRUTH = {"modelled_share": 0.35, "beta_margin": 3.0}
PRIORS = {"modelled_share": [0.2, 0.5], "beta_margin": [1.0, 6.0]}


def synthetic_targets(n_seeds: int = 4) -> list[Target]:
    """Targets whose centres are the truth's mean outputs and whose half-widths are twice the
    seed-to-seed standard deviation (at least 5% of the value)."""
    base = load_scenario(ROOT / "experiments" / "baseline.toml",
                         [f"{k}={v}" for k, v in {**SYNTH_FIXED, **TRUTH}.items()])
    specs = [Target("shanghai_emp", "synthetic", "Shanghai employment", "level", 2010, 0, 0, "", "",
                    city="Shanghai", column="employment"),
             Target("coastal_share", "synthetic", "coastal share", "share", 2010, 0, 0, "", "", region="coastal"),
             # the scale parameter shows most clearly in a region's total (a single city's varies
             # too much from seed to seed)
             Target("coastal_emp", "synthetic", "coastal employment", "region_employment", 2010, 0, 0, "", "",
                    region="coastal")]
    rows = []
    for seed in range(100, 100 + n_seeds):
        r = simulate(base, seed)
        rows.append(evaluate(specs, r.city_year, r.region_year))
    df = pd.DataFrame(rows)
    out = []
    for t in specs:
        m, sd = df[t.id].mean(), df[t.id].std()
        hw = max(2 * sd, 0.05 * abs(m))
        out.append(Target(**{**t.__dict__, "low": m - hw, "high": m + hw}))
    return out


def write_synthetic_file(tmp_path: Path, population: int, generations: int) -> Path:
    fixed = ", ".join(f"{k} = {v}" for k, v in SYNTH_FIXED.items())
    priors = "\n".join(f"{k} = {v}" for k, v in PRIORS.items())
    p = tmp_path / "synthetic.toml"
    p.write_text(f"""
[[target]]
id = "placeholder"
fact = "synthetic"
what = "replaced in the test"
transform = "level"
city = "Shanghai"
column = "employment"
year = 2010
low = 0
high = 1
observed = "-"
why = "-"

[calibration]
scenario = "{ROOT / 'experiments' / 'baseline.toml'}"
population = {population}
generations = {generations}
seeds = 1
root_seed = 5
fixed = {{ {fixed} }}

[calibration.priors]
{priors}
""")
    return p


def recover(tmp_path: Path, population: int, generations: int, seeds: int, workers: int | None) -> dict:
    """Calibrate to the synthetic targets; ``workers=None`` simulates in-process (exactly reproducible)."""
    from model.study.calibrate import calibrate
    from model.study.executor import connect

    targets = synthetic_targets()
    path = write_synthetic_file(tmp_path, population, generations)
    client, cluster = connect(None, workers) if workers else (None, None)
    try:
        return calibrate(path, tmp_path / "cal", client=client, targets=targets, write=tmp_path / "cal.toml",
                         posterior_copy=None, seeds=seeds)
    finally:
        if client is not None:
            client.close()
            cluster.close()


def check_recovery(summary: dict) -> None:
    for k, truth in TRUTH.items():
        lo, hi = summary["interval_90"][k]
        assert lo <= truth <= hi, (k, truth, lo, hi)
    # the data identify the scale parameter: its posterior is much narrower than its prior
    lo, hi = summary["interval_90"]["modelled_share"]
    assert hi - lo < 0.6 * (PRIORS["modelled_share"][1] - PRIORS["modelled_share"][0])


@pytest.mark.slow  # about 2-4 min on CI's 2 cores; the Dask test below keeps calibrate itself in CI
def test_calibration_recovers_known_parameters_reduced(tmp_path):
    # In-process sampling: the same root seed gives the same posterior, so this cannot flake.
    s = recover(tmp_path, population=20, generations=2, seeds=2, workers=None)
    check_recovery(s)
    assert s["model_runs"] >= 20 * 3 * 2


@pytest.mark.slow  # over a minute on CI's two cores; `./dev test -m slow` runs it
def test_calibration_on_dask_writes_outputs_and_resumes(tmp_path):
    s = recover(tmp_path, population=6, generations=1, seeds=1, workers=2)
    assert (tmp_path / "cal" / "convergence.png").stat().st_size > 10_000
    assert "modelled_share" in (tmp_path / "cal.toml").read_text()
    assert len(pd.read_csv(tmp_path / "cal" / "posterior.csv")) == 6
    # resume: one more generation continues the same database rather than starting again
    from model.study.calibrate import calibrate
    from model.study.executor import connect

    client, cluster = connect(None, 1)
    try:
        s2 = calibrate(tmp_path / "synthetic.toml", tmp_path / "cal", client=client, resume=True, generations=2,
                       targets=synthetic_targets(), write=None, posterior_copy=None, seeds=1)
    finally:
        client.close()
        cluster.close()
    assert s2["generations"] == 2 and s2["particles_simulated"] > s["particles_simulated"]
    assert len(pd.read_csv(tmp_path / "cal" / "populations.csv")["generation"].unique()) == 3


def test_calibration_gives_the_same_posterior_on_two_dask_workers_as_in_process(tmp_path):
    # the sampler evaluates whole batches in job order, so the finishing order of runs cannot matter
    from model.study.calibrate import calibrate
    from model.study.executor import connect

    targets = synthetic_targets(n_seeds=2)
    path = write_synthetic_file(tmp_path, population=4, generations=1)
    local = calibrate(path, tmp_path / "local", client=None, targets=targets, seeds=1, rescore=False, progress=False)
    client, cluster = connect(None, 2)
    try:
        dask = calibrate(path, tmp_path / "dask", client=client, targets=targets, seeds=1, rescore=False,
                         progress=False)
    finally:
        client.close()
        cluster.close()
    assert (tmp_path / "local" / "populations.csv").read_text() == (tmp_path / "dask" / "populations.csv").read_text()
    assert local["epsilons"] == dask["epsilons"] and local["model_runs"] == dask["model_runs"] == 4 + 4 * 2


@pytest.mark.slow
def test_calibration_recovers_known_parameters_full(tmp_path):
    check_recovery(recover(tmp_path, population=40, generations=4, seeds=2, workers=2))


# ---------------------------------------------------------------------------------------
# Command-line errors
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["calibrate", "--population", "0"], ["--population", "at least 1"]),
    (["calibrate", "--targets", "nowhere.toml"], ["--targets", "not found"]),
    (["validate", "missing.toml"], ["scenario", "not found"]),
    (["validate", "--seeds", "0"], ["--seeds", "at least 1"]),
    (["forecast", "--draws", "0"], ["--draws", "at least 1"]),
    (["forecast", "--posterior", "none.csv"], ["--posterior", "not found"]),
    (["forecast", "--set", "end_year=2020"], ["end_year", "2030"]),
])
def test_bad_input_is_a_one_line_error(args, words):
    assert_one_line_error(cli(*args), *words)


def test_existing_calibration_needs_resume(tmp_path):
    (tmp_path / "abc_generations.json").write_text("")
    r = cli("calibrate", "--out", str(tmp_path), "--workers", "1", "--population", "2", "--generations", "1")
    assert_one_line_error(r, "--resume")


# ---------------------------------------------------------------------------------------
# The calibration record's verdict on its population
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("record, degenerate", [
    ({"population": 120, "effective_sample_size": 1.3}, True),  # pyabc's importance weights, piled on one
    ({"population": 120, "effective_sample_size": 120.0, "distinct_particles": [120, 90, 8]}, True),  # copies
    ({"population": 120, "effective_sample_size": 120.0, "distinct_particles": [120, 118, 104]}, False),
])
def test_a_population_of_few_effective_particles_is_called_degenerate(tmp_path, record, degenerate):
    from model.study.calibration_record import is_degenerate, record_performance

    summary = {**record, "model_runs": 10, "wall_time_s": 5.0, "generations": 2, "seeds_per_particle": 1,
               "fixed": {}, "epsilons": [2.0, 1.0], "move_acceptance": [0.5, 0.4]}
    assert is_degenerate(summary) is degenerate
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\n## Calibration\n\nold\n")
    record_performance(summary, "here", doc)
    text = doc.read_text()
    assert ("**The final population is degenerate**" in text) is degenerate
    assert ("MCMC moves were rarely accepted" in text) is (degenerate and "distinct_particles" in record)
