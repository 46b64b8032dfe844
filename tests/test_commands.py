"""The therapist command vocabulary (coach/commands.py): one range per value wherever it arrives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coach.clock import format_utc, utc_now
from coach.commands import (
    COMMANDS,
    MAX_VALIDITY,
    TARGET_DURATION_S,
    check_recorded,
    check_target_duration,
    setting_values,
    targets_command,
)
from coach.errors import ConfigError, ValidationError
from coach.mqtt.commands import CommandError, command_envelope, parse_command, parse_targets, sign_command
from coach.session.config import LiveConfig, parse_config

SECRET = "ab" * 32


def _command(cmd: str, args: dict[str, Any]) -> bytes:
    body = command_envelope("c-1", cmd, args, by="t-01", session="next")
    return json.dumps(sign_command(body, SECRET)).encode()


def _targets(**doc: Any) -> bytes:
    body = {"issued_at": format_utc(utc_now()), "by": "t-01", **doc}
    return json.dumps(sign_command(body, SECRET)).encode()


@pytest.mark.parametrize(
    ("seconds", "ok"), [(59.0, False), (60.0, True), (720.0, True), (3600, True), (3601, False)]
)
def test_a_session_target_has_one_range_wherever_it_arrives(seconds: float, ok: bool) -> None:
    """1 minute to 1 hour: therapist command, retained targets, `coach run` config, live settings.

    (It was 60–3600 s for a therapist but 10–3600 s for the config and the live session.)"""
    assert TARGET_DURATION_S == (60.0, 3600.0)
    outcomes: list[bool] = []
    try:
        parse_command(_command("set_target_duration", {"target_duration_s": seconds}), SECRET, session="s-1")
        outcomes.append(True)
    except CommandError as exc:
        assert "within 60–3600" in exc.reason
        outcomes.append(False)
    try:
        parse_targets(_targets(target_duration_s=seconds), SECRET)
        outcomes.append(True)
    except CommandError:
        outcomes.append(False)
    try:
        parse_config({"patient": "p-1", "target_duration_s": seconds}, "s.toml")
        outcomes.append(True)
    except ConfigError as exc:
        assert "60–3600" in str(exc)
        outcomes.append(False)
    try:
        LiveConfig(patient="p-1", target_duration_s=seconds)
        outcomes.append(True)
    except ValidationError:
        outcomes.append(False)
    try:
        check_target_duration(seconds)
        outcomes.append(True)
    except ValidationError:
        outcomes.append(False)
    assert outcomes == [ok] * 5


def test_config_minutes_follow_the_same_range() -> None:
    assert parse_config({"patient": "p-1", "target_duration_min": 1}, "s").target_duration_s == 60.0
    with pytest.raises(ConfigError, match="within 1–60"):
        parse_config({"patient": "p-1", "target_duration_min": 61}, "s")


def test_validators_normalise_and_name_the_problem() -> None:
    assert COMMANDS["set_cadence_range"]({"min_spm": 10, "max_spm": 30}) == {"min_spm": 10.0, "max_spm": 30.0}
    with pytest.raises(ValueError, match="min_spm must be below max_spm"):
        COMMANDS["set_cadence_range"]({"min_spm": 30, "max_spm": 10})
    with pytest.raises(ValueError, match="unknown argument"):
        COMMANDS["pause"]({"now": True})
    assert COMMANDS["clear_screening"]({}) == {"valid_days": 1}
    with pytest.raises(ValueError, match="1–30"):
        COMMANDS["clear_screening"]({"valid_days": 31})


def test_recorded_commands_replay_as_recorded_shape_checked_only() -> None:
    check_recorded(
        {"cmd": "set_thresholds", "args": {"elevation_margin_m": 0.6}}
    )  # out of range: as recorded
    check_recorded({"cmd": "set_targets", "args": {"cadence_spm": {"min_spm": 12}}})
    with pytest.raises(ValidationError, match="unknown command"):
        check_recorded({"cmd": "launch"})
    with pytest.raises(ValidationError, match="must be a number"):
        check_recorded({"cmd": "set_targets", "args": {"thresholds": {"wrist_flexion_deg": float("nan")}}})
    with pytest.raises(ValidationError, match="must be an object"):
        check_recorded({"cmd": "set_targets", "args": {"cadence_spm": [1, 2]}})


def test_settings_and_the_targets_command_they_make() -> None:
    assert setting_values("set_cadence_range", {"min_spm": 10, "max_spm": 30}) == {
        "cadence_min_spm": 10.0,
        "cadence_max_spm": 30.0,
    }
    applied = {"target_duration_s": 600.0, "cadence_min_spm": 10.0, "wrist_flexion_deg": 20.0}
    cmd = targets_command(applied, "2026-01-05T09:30:00.000Z", "t-01")
    assert cmd == {
        "id": "targets-2026-01-05T09:30:00.000Z",
        "cmd": "set_targets",
        "args": {
            "target_duration_s": 600.0,
            "cadence_spm": {"min_spm": 10.0},
            "thresholds": {"wrist_flexion_deg": 20.0},
        },
        "by": "t-01",
    }
    check_recorded(cmd)


def test_the_example_config_is_within_the_ranges(tmp_path: Path) -> None:
    from coach.session.config import example_config, load_config

    path = tmp_path / "session.toml"
    path.write_text(example_config())
    assert TARGET_DURATION_S[0] <= load_config(path).target_duration_s <= TARGET_DURATION_S[1]


def test_every_command_has_a_validity() -> None:
    """A command the vocabulary adds is valid for a stated time (the coach refuses one without)."""
    assert set(MAX_VALIDITY) == set(COMMANDS)
    assert all(v.total_seconds() > 0 for v in MAX_VALIDITY.values())
