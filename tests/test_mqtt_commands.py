"""Therapist commands: HMAC signatures over canonical JSON, validation, and rejection reasons."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coach.clock import format_utc
from coach.commands import COMMANDS
from coach.mqtt.commands import (
    CommandError,
    canonical_json,
    command_envelope,
    parse_command,
    parse_targets,
    sign_command,
)

SECRET = "0123456789abcdef" * 4
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SESSION = "s-20261124T092800Z-ab12"


def _cmd(cmd: str = "set_target_duration", args: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "c-0001",
        "cmd": cmd,
        "args": {"target_duration_s": 600} if args is None else args,
        "issued_at": format_utc(NOW - timedelta(minutes=1)),
        "expires_at": format_utc(NOW + timedelta(minutes=4)),
        "session": SESSION,
        "by": "t-01",
    }
    doc.update(over)
    return doc


def _payload(doc: dict[str, Any], secret: str = SECRET) -> bytes:
    return json.dumps(sign_command(doc, secret)).encode()


def test_signature_is_hmac_sha256_of_sorted_compact_json_without_sig() -> None:
    doc = _cmd()
    signed = sign_command(doc, SECRET)
    # Recompute independently of the module: sorted keys, no spaces, UTF-8.
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert signed["sig"] == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_valid_command_parses_with_normalised_args() -> None:
    command = parse_command(_payload(_cmd()), SECRET, session=SESSION, now=NOW)
    assert (command.id, command.cmd, command.args, command.by) == (
        "c-0001",
        "set_target_duration",
        {"target_duration_s": 600.0},
        "t-01",
    )
    assert "sig" not in command.record()


@pytest.mark.parametrize(
    ("cmd", "args"),
    [
        ("set_cadence_range", {"min_spm": 10, "max_spm": 30}),
        ("set_thresholds", {"wrist_flexion_deg": 20}),
        ("pause", {}),
        ("resume", {}),
        ("stop", {}),
        ("clear_screening", {"valid_days": 3}),
        ("clear_screening", {}),
    ],
)
def test_every_command_kind_is_accepted(cmd: str, args: dict[str, Any]) -> None:
    assert parse_command(_payload(_cmd(cmd, args)), SECRET, session=SESSION, now=NOW).cmd == cmd


def test_known_commands_are_the_documented_ones() -> None:
    assert set(COMMANDS) == {
        "set_target_duration",
        "set_cadence_range",
        "set_thresholds",
        "pause",
        "resume",
        "stop",
        "clear_screening",
    }


def _reason(payload: bytes | str, secret: str | None = SECRET, now: datetime = NOW) -> tuple[str | None, str]:
    with pytest.raises(CommandError) as info:
        parse_command(payload, secret, session=SESSION, now=now)
    return info.value.cmd_id, info.value.reason


def test_tampered_command_is_unauthorised() -> None:
    signed = sign_command(_cmd(), SECRET)
    signed["args"] = {"target_duration_s": 3600}
    cmd_id, reason = _reason(json.dumps(signed))
    assert cmd_id == "c-0001" and reason.startswith("unauthorised")


def test_wrong_secret_and_missing_secret_are_unauthorised() -> None:
    assert _reason(_payload(_cmd(), "another secret"))[1].startswith("unauthorised")
    assert _reason(_payload(_cmd()), None)[1].startswith("unauthorised")


def test_signature_is_checked_before_the_command_is_interpreted() -> None:
    unsigned = dict(_cmd("no_such_cmd"), sig="0" * 64)
    assert _reason(json.dumps(unsigned))[1].startswith("unauthorised")


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"not json", "malformed: not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"id": "bad id with spaces"}', "'id'"),
        (
            json.dumps({"id": "c-1", "cmd": "stop"}).encode(),
            "missing args, by, expires_at, issued_at, session, sig",
        ),
        (
            b'{"id": "c-1", "cmd": "stop", "args": {}, "issued_at": "x", "by": "t", "sig": "s", "x": NaN}',
            "not JSON",
        ),
    ],
)
def test_malformed_payloads_name_the_problem(payload: bytes, needle: str) -> None:
    assert needle in _reason(payload)[1]


def test_unknown_field_unknown_command_and_bad_args_are_rejected() -> None:
    assert "unknown field" in _reason(_payload(dict(_cmd(), extra=1)))[1]
    assert "unknown command 'launch'" in _reason(_payload(_cmd("launch", {})))[1]
    assert "within 60–3600" in _reason(_payload(_cmd(args={"target_duration_s": 5})))[1]
    assert "must be a number" in _reason(_payload(_cmd(args={"target_duration_s": "600"})))[1]
    assert (
        "min_spm must be below"
        in _reason(_payload(_cmd("set_cadence_range", {"min_spm": 30, "max_spm": 10})))[1]
    )
    assert "unknown argument" in _reason(_payload(_cmd("stop", {"now": True})))[1]
    assert "at least one" in _reason(_payload(_cmd("set_thresholds", {})))[1]
    assert "valid_days" in _reason(_payload(_cmd("clear_screening", {"valid_days": 100})))[1]


def test_stale_and_future_commands_are_rejected() -> None:
    old = _cmd(issued_at=format_utc(NOW - timedelta(days=8)))
    assert _reason(_payload(old))[1].startswith("stale")
    future = _cmd(issued_at=format_utc(NOW + timedelta(hours=1)))
    assert "future" in _reason(_payload(future))[1]
    naive = _cmd(issued_at="2026-11-24T09:00:00")
    assert "ISO 8601 UTC" in _reason(_payload(naive))[1]


def test_targets_document_is_verified_and_validated() -> None:
    doc = {
        "target_duration_s": 900,
        "cadence_spm": {"min_spm": 12, "max_spm": 30},
        "thresholds": {"wrist_deviation_deg": 12},
        "issued_at": format_utc(NOW),
        "by": "t-01",
    }
    targets = parse_targets(json.dumps(sign_command(doc, SECRET)), SECRET)
    assert targets.target_duration_s == 900 and targets.cadence_spm == (12.0, 30.0)
    assert targets.thresholds == {"wrist_deviation_deg": 12}
    with pytest.raises(CommandError, match="unauthorised"):
        parse_targets(json.dumps(sign_command(doc, "other")), SECRET)
    bad = sign_command(dict(doc, target_duration_s=10), SECRET)
    with pytest.raises(CommandError, match="invalid targets"):
        parse_targets(json.dumps(bad), SECRET)


def test_commands_are_bound_to_their_session_and_valid_for_a_short_stated_time() -> None:
    assert "wrong session" in _reason(_payload(_cmd("pause", {}, session="s-other")))[1]
    # explicitly the next session: whichever session receives it
    assert parse_command(_payload(_cmd("pause", {}, session="next")), SECRET, session="s-x", now=NOW)
    # a signed pause issued six days ago, for a session that has ended, pauses nothing
    six_days = NOW - timedelta(days=6)
    old = _cmd(
        "pause", {}, issued_at=format_utc(six_days), expires_at=format_utc(six_days + timedelta(minutes=5))
    )
    assert _reason(_payload(old))[1].startswith("expired")
    # nor does one that claims a long validity: at most 10 minutes for pause, resume and stop
    long = _cmd("pause", {}, expires_at=format_utc(NOW + timedelta(days=6)))
    assert "at most 10 minutes later" in _reason(_payload(long))[1]
    day = _cmd("clear_screening", {}, expires_at=format_utc(NOW + timedelta(hours=23)))
    assert parse_command(_payload(day), SECRET, session=SESSION, now=NOW).cmd == "clear_screening"
    assert "after issued_at" in _reason(_payload(_cmd(expires_at=format_utc(NOW - timedelta(hours=1)))))[1]
    assert "session id or" in _reason(_payload(_cmd(session="s/1")))[1]


def test_the_envelope_helper_makes_what_the_coach_accepts() -> None:
    for cmd, args in (("pause", {}), ("clear_screening", {}), ("set_thresholds", {"wrist_flexion_deg": 20})):
        doc = command_envelope("c-9", cmd, args, by="t-01", session=SESSION, issued=NOW)
        assert (
            parse_command(_payload(doc), SECRET, session=SESSION, now=NOW + timedelta(minutes=9)).cmd == cmd
        )
    late = command_envelope("c-9", "stop", {}, by="t-01", session=SESSION, issued=NOW)
    assert _reason(_payload(late), now=NOW + timedelta(minutes=11))[1].startswith("expired")
