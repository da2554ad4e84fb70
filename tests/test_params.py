"""Parameter object and scenario loading: validation errors name the field and the range."""

import pytest

from model.core.errors import InputError
from model.core.params import FIELD_TYPES, NUMERIC_FIELDS, RANGES, Params, params_from_dict
from model.study.scenarios import apply_overrides, load_scenario
from model.cli.paths import experiments_dir

EXPERIMENTS = experiments_dir()


def test_every_field_has_a_range_and_a_docstring():
    from model.core.params import field_docs

    docs = field_docs()
    assert set(NUMERIC_FIELDS) == set(RANGES)
    assert set(FIELD_TYPES) - set(NUMERIC_FIELDS) == {"focus_city", "reference_cities"}
    missing = [k for k in FIELD_TYPES if not docs.get(k)]
    assert not missing, f"fields without unit/source docstring: {missing}"
    for k in NUMERIC_FIELDS:
        lo, hi = RANGES[k]
        assert lo <= getattr(Params(), k) <= hi, k


def test_baseline_loads_with_documented_levers():
    p = load_scenario(EXPERIMENTS / "baseline.toml")
    assert len(p.spells("Neijiang", "park_capacity")) == 2
    assert p.spells("Nanchang", "training_subsidy")[0].intensity == 9500
    assert p.spells("Wuxi", "matching_funds")[0].intensity == 2.0
    assert load_scenario(EXPERIMENTS / "no_policy.toml").levers == ()


def test_lever_files_inherit_the_counterfactual_and_add_one_lever():
    for f in sorted(EXPERIMENTS.glob("lever_*.toml")):
        p = load_scenario(f)
        assert len(p.levers) == 1, f.name
        assert p.levers[0].lever == f.stem.removeprefix("lever_")


def test_overrides_change_fields_and_lever_spells():
    p = load_scenario(EXPERIMENTS / "baseline.toml",
                      ["modelled_share=0.3", "levers.Neijiang.rent_relief.intensity=0.5",
                       "levers.Neijiang.park_capacity.1.intensity=100000"])
    assert p.modelled_share == 0.3
    assert p.spells("Neijiang", "rent_relief")[0].intensity == 0.5
    assert [s.intensity for s in p.spells("Neijiang", "park_capacity")] == [7700, 100000]


@pytest.mark.parametrize("raw, field", [
    ({"no_such_key": 1}, "no_such_key"),
    ({"modelled_share": "lots"}, "modelled_share"),
    ({"modelled_share": 7}, "modelled_share"),
    ({"search_quarters": 2.5}, "search_quarters"),
    ({"levers": {"Atlantis": {"rent_relief": {"start": 2010, "end": 2012, "intensity": 0.5}}}}, "levers.Atlantis"),
    ({"levers": {"Neijiang": {"free_lunch": {"start": 2010, "end": 2012, "intensity": 1}}}}, "levers.Neijiang.free_lunch"),
    ({"levers": {"Neijiang": {"talent_subsidy": {"start": 2010, "end": 2012, "intensity": -5}}}}, "levers.Neijiang.talent_subsidy.intensity"),
    ({"levers": {"Neijiang": {"rent_relief": {"start": 2015, "end": 2012, "intensity": 0.5}}}}, "levers.Neijiang.rent_relief.end"),
    ({"levers": {"Neijiang": {"rent_relief": {"start": 2015, "intensity": 0.5}}}}, "levers.Neijiang.rent_relief.end"),
])
def test_bad_values_name_the_field(raw, field):
    with pytest.raises(InputError) as e:
        params_from_dict(raw)
    msg = str(e.value)
    assert msg.startswith(field), msg
    assert "\n" not in msg


def test_range_error_states_the_allowed_range():
    with pytest.raises(InputError, match=r"allowed 0\.01 to 1"):
        params_from_dict({"modelled_share": 2})


def test_override_to_multi_spell_lever_needs_a_spell_number():
    raw = {"levers": {"Neijiang": {"park_capacity": [
        {"start": 2019, "end": 2021, "intensity": 1}, {"start": 2023, "end": 2027, "intensity": 2}]}}}
    with pytest.raises(InputError, match="spells"):
        apply_overrides(raw, ["levers.Neijiang.park_capacity.intensity=3"])


def test_malformed_and_missing_scenarios(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("modelled_share = = 3\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_scenario(bad)
    with pytest.raises(InputError, match="not found"):
        load_scenario(tmp_path / "nope.toml")
    loop = tmp_path / "loop.toml"
    loop.write_text('inherits = "loop.toml"\n')
    with pytest.raises(InputError, match="cycle"):
        load_scenario(loop)


def test_params_round_trip_through_dict():
    p = load_scenario(EXPERIMENTS / "baseline.toml")
    assert params_from_dict(p.to_dict()) == p


def test_docs_parameter_table_is_current():
    """docs/data.md carries the table `outsourcing-abm params --markdown` prints."""
    import contextlib
    import io
    from pathlib import Path

    from model.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["params", "--markdown"]) == 0
    doc = (Path(__file__).resolve().parent.parent / "docs" / "data.md").read_text(encoding="utf-8")
    assert buf.getvalue().strip() in doc, "regenerate: outsourcing-abm params --markdown into docs/data.md"


def test_huge_and_long_values_are_out_of_range_in_one_short_line():
    with pytest.raises(InputError) as e:
        params_from_dict({"end_year": 10**400})
    assert "out of range" in str(e.value) and len(str(e.value)) < 200
    with pytest.raises(InputError) as e:
        params_from_dict({"modelled_share": "x" * 200_000})
    assert "expected a number" in str(e.value) and len(str(e.value)) < 200
    with pytest.raises(InputError, match="2000 to 2040"):
        params_from_dict({"levers": {"Neijiang": {"rent_relief": {"start": 10**400, "end": 2030, "intensity": 0.5}}}})


def test_overlapping_spells_are_refused_except_parks_which_add_up_with_a_warning():
    from model.core.errors import InputWarning

    spell = lambda a, b, x: {"start": a, "end": b, "intensity": x}
    with pytest.raises(InputError, match="overlap"):
        params_from_dict({"levers": {"Neijiang": {"rent_relief": [spell(2019, 2030, 0.7), spell(2025, 2028, 0.5)]}}})
    with pytest.raises(InputError, match="overlap"):  # a duplicate is an overlap too
        params_from_dict({"levers": {"Neijiang": {"rent_relief": [spell(2019, 2030, 0.7), spell(2019, 2030, 0.7)]}}})
    with pytest.warns(InputWarning, match="add up"):
        p = params_from_dict({"levers": {"Neijiang": {"park_capacity": [spell(2019, 2022, 100), spell(2021, 2024, 50)]}}})
    assert len(p.spells("Neijiang", "park_capacity")) == 2
    params_from_dict({"levers": {"Neijiang": {"rent_relief": [spell(2019, 2020, 0.7), spell(2021, 2028, 0.5)]}}})


def test_a_park_spell_pays_its_own_unit_cost():
    # Two park spells in one city: the first at its own unit cost, the second at the default.
    from model.core.levers import PolicySchedule

    spells = {"park_capacity": [{"start": 2019, "end": 2019, "intensity": 1000, "unit_cost": 7792},
                                {"start": 2023, "end": 2023, "intensity": 2000}]}
    p = params_from_dict({"park_cost_per_seat": 66700, "levers": {"Neijiang": spells}})
    assert [s.unit_cost for s in p.spells("Neijiang", "park_capacity")] == [7792.0, None]
    assert params_from_dict(p.to_dict()) == p  # the unit cost survives a round trip
    schedule = PolicySchedule(p.levers, {"Neijiang": 0})
    assert schedule.built_cost(2020, p.park_cost_per_seat)[0] == pytest.approx(1000 * 7792)
    assert schedule.built_cost(2024, p.park_cost_per_seat)[0] == pytest.approx(1000 * 7792 + 2000 * 66700)


@pytest.mark.parametrize("lever, spec, words", [
    ("rent_relief", {"start": 2019, "end": 2020, "intensity": 0.5, "unit_cost": 10}, "rent_relief.unit_cost: unknown key"),
    ("park_capacity", {"start": 2019, "end": 2020, "intensity": 10, "unit_cost": -1}, "unit_cost: expected CNY per seat from 0 to 1e7"),
    ("park_capacity", {"start": 2019, "end": 2020, "intensity": 10, "unit_cost": "cheap"}, "unit_cost: expected CNY per seat"),
    ("park_capacity", {"start": 2019, "end": 2020, "intensity": 10, "unit_cost": float("nan")}, "unit_cost: expected CNY per seat"),
])
def test_a_bad_unit_cost_is_refused(lever, spec, words):
    with pytest.raises(InputError, match=words):
        params_from_dict({"levers": {"Neijiang": {lever: spec}}})


def test_a_unit_cost_can_be_set_from_the_command_line():
    p = load_scenario(experiments_dir() / "baseline.toml", ["levers.Neijiang.park_capacity.0.unit_cost=5000"])
    assert p.spells("Neijiang", "park_capacity")[0].unit_cost == 5000.0
