"""Scenario files: loading, validation errors that name the key, overrides, random draws, docs in sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coach.errors import ConfigError, ValidationError
from simulators import Scenario, SensorSpec, StrokeSpec, random_scenario
from simulators.scenario import describe_fields

DOCS = Path(__file__).resolve().parents[1] / "docs" / "simulator.md"

GOOD_TOML = """
name = "left arm, cheap treated sensor"
duration_s = 300
arm = "left"

[sensors.treated]
rate_hz = 50
device_class = "cheap"
misalignment_deg = 25

[sensors.stroker]
rate_hz = 200
gaps = [[120.0, 4.0]]

[strokes]
cadence_spm = [18, 22]
distal_fraction = 0.1

[[posture.episodes]]
kind = "lowered"
t_start_s = 150
duration_s = 30
height_m = -0.08
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_toml_file_loads_with_ranges_sections_and_episodes(tmp_path: Path) -> None:
    sc = Scenario.from_file(_write(tmp_path, "s.toml", GOOD_TOML))
    assert sc.arm == "left" and sc.duration_s == 300.0
    assert sc.roles == ("treated", "stroker")
    assert sc.sensors["treated"].device_class == "cheap"
    assert sc.sensors["treated"].misalignment_deg == 25.0
    assert sc.sensors["stroker"].gaps == ((120.0, 4.0),)
    assert sc.strokes.cadence_spm == (18.0, 22.0)
    assert sc.posture.episodes[0].kind == "lowered" and sc.posture.episodes[0].height_m == -0.08


def test_json_round_trip_of_every_field(tmp_path: Path) -> None:
    sc = random_scenario(11)
    path = _write(tmp_path, "s.json", json.dumps(sc.to_dict()))
    assert Scenario.from_file(path) == sc


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[strokes]\ncadence_spm = "fast"\n', "strokes.cadence_spm", "finite number"),
        ("[strokes]\ncadence_spm = [30, 10]\n", "strokes.cadence_spm", "lo > hi"),
        ("[strokes]\ncadence_spm = 200\n", "strokes.cadence_spm", "outside"),
        ("[strokes]\ncadense_spm = 20\n", "strokes.cadense_spm", "did you mean cadence_spm"),
        ("[sensors.elbow]\nrate_hz = 100\n", "sensors.elbow", "unknown role"),
        ("[sensors.hand]\nrate_hz = 100\n", "sensors", "treated"),
        ('[sensors.treated]\ndevice_class = "shiny"\n', "sensors.treated.device_class", "good, cheap"),
        ("[sensors.treated]\nmisalignment_deg = 60\n", "sensors.treated.misalignment_deg", "outside"),
        ("[sensors.treated]\ngaps = [[10, -1]]\n", "sensors.treated.gaps[0]", "duration"),
        ('[[posture.episodes]]\nkind = "sag"\nt_start_s = 10\n', "posture.episodes[0].height_m", "needs"),
        ('arm = "both"\n', "arm", "left, right"),
        ("calibration = 3\n", "calibration", "table"),
    ],
)
def test_bad_values_name_file_and_dotted_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = _write(tmp_path, "bad.toml", text)
    with pytest.raises(ConfigError) as err:
        Scenario.from_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert words in message


def test_broken_files_say_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bad\.json:3: not valid JSON"):
        Scenario.from_file(_write(tmp_path, "bad.json", '{\n "arm": "left",\n }'))
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        Scenario.from_file(_write(tmp_path, "bad.toml", "[strokes\n"))
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        Scenario.from_file(_write(tmp_path, "s.yaml", "arm: left\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        Scenario.from_file(tmp_path / "missing.toml")


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ValidationError, match="cadence_spm"):
        StrokeSpec(cadence_spm=-1.0)
    with pytest.raises(ValidationError, match="rate_hz"):
        SensorSpec(rate_hz=0.0)


def test_replace_reaches_sections_and_shortcuts() -> None:
    sc = Scenario().replace(
        **{"strokes.distal_fraction": 0.5, "roles": "treated,hand,stroker", "rate_hz": 200, "arm": "left"}
    )
    assert sc.strokes.distal_fraction == 0.5
    assert sc.roles == ("treated", "hand", "stroker")
    assert {s.rate_hz for s in sc.sensors.values()} == {200.0}
    assert sc.arm == "left"
    with pytest.raises(ConfigError, match=r"strokes\.bogus: unknown key"):
        Scenario().replace(**{"strokes.bogus": 1})


def test_random_scenarios_are_deterministic_and_varied() -> None:
    assert random_scenario(5) == random_scenario(5)
    draws = [random_scenario(s) for s in range(40)]
    assert len({d.arm for d in draws}) == 2
    assert len({d.roles for d in draws}) == 4  # treated alone, +hand, +stroker, all three
    rates = {spec.rate_hz for d in draws for spec in d.sensors.values()}
    assert rates == {50.0, 100.0, 200.0}
    classes = {spec.device_class for d in draws for spec in d.sensors.values()}
    assert classes == {"good", "cheap"}
    assert any(spec.drop_rate for d in draws for spec in d.sensors.values())
    assert any(spec.gaps_per_10min for d in draws for spec in d.sensors.values())
    assert max(float(spec.misalignment_deg) for d in draws for spec in d.sensors.values()) > 25.0  # type: ignore[arg-type]
    assert random_scenario(5, duration_s=90).duration_s == 90.0


def test_every_field_is_documented_with_its_unit() -> None:
    text = DOCS.read_text()
    for key, _default, unit, doc in describe_fields():
        assert doc, key
        assert f"`{key}`" in text, f"{key} missing from docs/simulator.md (coach simulate --fields)"
        if key.endswith(("_s", "_m", "_hz", "_deg", "_n", "_mps", "_mps2", "_ppm")):
            assert unit, f"{key} has a unit suffix but no unit"
