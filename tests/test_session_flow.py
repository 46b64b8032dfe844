"""Live sessions end to end on simulated samples at an accelerated clock (no broker here; see
test_mqtt_session.py for the MQTT side): screening, calibration, recording and replay, link loss,
therapist commands, the stop key."""

from __future__ import annotations

import asyncio
import io
import json
import os
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coach.cli import main as coach_main
from coach.clock import format_utc, utc_now
from coach.contraindications import QUESTIONS
from coach.mqtt.commands import command_envelope, sign_command
from coach.samples import SampleBlock
from coach.session.console import Console
from coach.session.screening import ScriptedAnswers, evaluate
from coach.summary import SESSION_SUMMARY_FIELDS
from coach.trace import read_trace
from tests.fixtures.live import (
    SECRET,
    contract_problems,
    cut,
    make_session,
    read_events,
    simulated_blocks,
    until_samples_in,
)

pytestmark = pytest.mark.slow


def _cmd(cmd: str, args: dict[str, Any] | None = None, cmd_id: str = "c-1", secret: str = SECRET) -> bytes:
    body = command_envelope(cmd_id, cmd, args or {}, by="t-01", session="next")
    return json.dumps(sign_command(body, secret)).encode()


def _replay(trace: Path) -> list[dict[str, Any]]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert coach_main(["replay", str(trace)]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _stop_t(result: Any, by: str) -> float:
    """Where the pipeline stopped: the one recorded ``stop`` (``by`` whom). The summary's ``t`` is at
    least that: the session's own events (prompts, cues) are stamped where the samples are (a link
    cue where its link changed), and the summary comes after them."""
    stops = [c for c in read_events(result.commands_path) if c["cmd"] == "stop"]
    assert [c["by"] for c in stops] == [by]
    assert result.summary["t"] >= stops[0]["t"]
    return float(stops[0]["t"])


def _pipeline_only(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pipeline's events, without what the session adds (ids session-*, summary extras) and the
    end reason (a live session ends at its target, a replay at the end of the file)."""
    extras = SESSION_SUMMARY_FIELDS
    out = []
    for e in events:
        if e["id"].startswith("session-"):
            continue
        e = {k: v for k, v in e.items() if k not in extras}
        if e["type"] == "state" and e["state"] in ("finished", "aborted"):
            e.pop("reason")
        out.append(e)
    return out


def test_screening_asks_the_design_questions_and_blocks_on_yes_or_silence() -> None:
    codes = [q.code for q in QUESTIONS]
    assert codes == [
        "swelling_or_dvt",
        "heart_condition",
        "lymphatic_disease",
        "infection_or_fever",
        "kidney_or_liver_disease",
        "pain",
    ]
    assert not evaluate(dict.fromkeys(codes, False)).blocked
    assert evaluate({**dict.fromkeys(codes, False), "heart_condition": True}).blocked_by == (
        "heart_condition",
    )
    assert evaluate({**dict.fromkeys(codes, False), "pain": None}).blocked_by == ("pain",)


async def test_whole_session_is_recorded_and_replays_to_the_same_events(tmp_path: Path) -> None:
    blocks = simulated_blocks(("treated", "hand", "stroker"), 95.0)
    session = make_session(tmp_path, blocks, target_duration_s=60.0)
    result = await session.run()
    assert result.state == "finished" and result.reason == "target duration reached"
    events = read_events(result.events_path)
    assert contract_problems(result.events_path, hand=True) == []
    # screening first, then calibration prompts, then the pipeline's states; the summary is last.
    assert [e["state"] for e in events if e["type"] == "state"] == [
        "screening",
        "calibrating",
        "active",
        "finished",
    ]
    codes = [e["code"] for e in events if e["type"] == "cue"]
    assert codes[:3] == ["calibration_still", "calibration_rotate", "calibration_done"]
    assert "one_minute_left" not in codes and codes[-1] == "session_complete"
    summary = events[-1]
    # It ends with the samples it has when the target is reached: a delivery or a few more (0.8 s each
    # at ×40; more when a busy machine delays the session and blocks pile up).
    assert summary["type"] == "summary" and 60.0 <= summary["active_s"] <= 65.0
    assert summary["pain_0_10"] == 2 and summary["swelling_0_10"] == 4
    assert events[-3]["type"] == "self_report"
    # The trace carries the calibration the guided phases found, and replays to the same events.
    trace = read_trace(result.trace_path)  # type: ignore[arg-type]
    still, rotate = trace.meta.phase("still"), trace.meta.phase("rotate")
    assert still is not None and rotate is not None and still[1] - still[0] == pytest.approx(3.0)
    assert still[1] <= rotate[0] < rotate[1] < 15.0
    assert set(trace.roles) == {"treated", "hand", "stroker"}
    assert trace.meta.target_duration_s == 60.0
    assert _pipeline_only(_replay(result.trace_path)) == _pipeline_only(events)  # type: ignore[arg-type]
    assert json.loads(result.summary_path.read_text())["id"] == summary["id"]
    for path in (result.trace_path, result.events_path, result.summary_path):
        assert path is not None and path.stat().st_mode & 0o077 == 0


async def test_blocked_screening_aborts_without_a_clearance(tmp_path: Path) -> None:
    blocks = simulated_blocks()
    session = make_session(tmp_path, blocks, answers=ScriptedAnswers({"pain": True}), screening_wait_s=0.3)
    result = await session.run()
    events = read_events(result.events_path)
    assert result.state == "aborted" and "consult a clinician" in result.reason
    assert [e["type"] for e in events] == ["state", "cue", "state", "summary"]
    assert events[1]["code"] == "screening_blocked" and "clinician" in events[1]["message"]
    assert events[-1]["screening"] == {"blocked_by": ["pain"], "cleared_by": None}
    assert result.trace_path is None  # no sensor was read
    assert contract_problems(result.events_path) == []
    audit = [json.loads(line) for line in (tmp_path / "patient" / "audit.jsonl").read_text().splitlines()]
    assert audit[0]["what"] == "screening" and audit[0]["blocked_by"] == ["pain"]


async def test_blocked_screening_is_cleared_only_by_a_verified_therapist_command(tmp_path: Path) -> None:
    blocks = simulated_blocks()
    session = make_session(
        tmp_path, blocks, answers=ScriptedAnswers({"heart_condition": True}), screening_wait_s=10
    )
    topic = session.topics.cmd

    async def therapist() -> None:
        await asyncio.sleep(0.3)
        session.handle_message(
            topic, _cmd("clear_screening", cmd_id="forged", secret="not the enrolment secret")
        )
        session.handle_message(topic, b'{"cmd": "clear_screening"}')
        await asyncio.sleep(0.3)
        assert session.phase == "screening"  # neither changed anything
        session.handle_message(topic, _cmd("clear_screening", {"valid_days": 2}, cmd_id="clear-1"))

    helper = asyncio.create_task(therapist())
    result = await session.run()
    await helper
    assert result.state == "finished"
    events = read_events(result.events_path)
    assert [e["code"] for e in events if e["type"] == "cue"][:2] == ["screening_blocked", "screening_cleared"]
    assert events[-1]["screening"] == {"blocked_by": ["heart_condition"], "cleared_by": None}
    audit = [json.loads(line) for line in (tmp_path / "patient" / "audit.jsonl").read_text().splitlines()]
    rejected = [a for a in audit if a["what"] == "command_rejected"]
    assert [a["reason"].split(":")[0] for a in rejected] == ["unauthorised", "malformed"]
    assert [a["cmd_id"] for a in audit if a["what"] == "command"] == ["clear-1"]
    # The clearance lasts: the next session with a "yes" starts at once, saying who cleared it.
    again = make_session(
        tmp_path / "next", blocks, answers=ScriptedAnswers({"heart_condition": True}), store=session.store
    )
    result2 = await again.run()
    assert result2.state == "finished"
    assert result2.summary["screening"] == {"blocked_by": ["heart_condition"], "cleared_by": "clear-1"}


async def test_sensor_loss_pauses_with_a_cue_resumes_and_replays(tmp_path: Path) -> None:
    blocks = cut(simulated_blocks(("treated", "hand"), 90.0), "hand", 25.0, 31.0)
    session = make_session(tmp_path, blocks, target_duration_s=60.0)
    result = await session.run()
    events = read_events(result.events_path)
    assert contract_problems(result.events_path) == []
    cues = [
        (e["code"], e.get("role")) for e in events if e["type"] == "cue" and e["code"].startswith("sensor_")
    ]
    assert cues == [("sensor_lost", "hand"), ("sensor_back", "hand")]
    states = [
        (e["state"], e["t"]) for e in events if e["type"] == "state" and e["state"] in ("paused", "active")
    ]
    assert [s for s, _ in states] == ["active", "paused", "active"]
    paused_at, resumed_at = states[1][1], states[2][1]
    # A link is declared lost after 0.5 s without samples, seen at the next delivery (0.8 s apart at ×40).
    assert 25.0 <= paused_at <= 27.5 and 31.0 <= resumed_at <= 32.0
    gap = result.summary["gaps"]
    assert len(gap) == 1 and gap[0]["role"] == "hand" and 25.0 <= gap[0]["start_s"] <= gap[0]["end_s"] <= 32.0
    assert result.summary["paused_s"] == pytest.approx(resumed_at - paused_at, abs=0.1)
    # The coach's own pause and resume are in the commands file, so a replay pauses the same way.
    commands = read_events(result.commands_path)
    # ... and so is where it ended (a stop where its samples were: a replay ends there too).
    assert [(c["cmd"], c["by"]) for c in commands] == [
        ("pause", "coach"),
        ("resume", "coach"),
        ("stop", "coach"),
    ]
    assert _pipeline_only(_replay(result.trace_path)) == _pipeline_only(events)  # type: ignore[arg-type]


async def test_lost_treated_sensor_pauses_the_session(tmp_path: Path) -> None:
    blocks = cut(simulated_blocks(), "treated", 24.0, 29.0)
    result = await make_session(tmp_path, blocks, target_duration_s=60.0).run()
    events = read_events(result.events_path)
    states = [e["state"] for e in events if e["type"] == "state"]
    assert states == ["screening", "calibrating", "active", "paused", "active", "finished"]
    assert [g["role"] for g in result.summary["gaps"]] == ["treated"]
    assert result.summary["paused_s"] > 3.0


async def test_therapist_commands_change_the_session_and_bad_ones_change_nothing(tmp_path: Path) -> None:
    blocks = simulated_blocks(duration_s=150.0)
    session = make_session(tmp_path, blocks, target_duration_s=120.0, speed=30.0)
    topic = session.topics.cmd

    async def therapist() -> None:
        await until_samples_in(session, 20.0)
        session.handle_message(topic, _cmd("pause", cmd_id="c-pause"))
        session.handle_message(topic, _cmd("pause", cmd_id="c-pause"))  # delivered twice: applied once
        await asyncio.sleep(0.2)
        session.handle_message(topic, _cmd("resume", cmd_id="c-resume"))
        session.handle_message(topic, _cmd("set_target_duration", {"target_duration_s": 5}, cmd_id="c-bad"))
        session.handle_message(topic, _cmd("set_target_duration", {"target_duration_s": 60}, cmd_id="c-60"))

    helper = asyncio.create_task(therapist())
    result = await session.run()
    await helper
    events = read_events(result.events_path)
    reasons = [e["reason"] for e in events if e["type"] == "state" and e["state"] in ("paused", "active")]
    assert reasons[1:] == ["paused by command", "resumed by command"]
    assert result.reason == "target duration reached"
    assert 60.0 <= result.summary["active_s"] <= 65.0  # the new target (not 120 s), plus a delivery or so
    store = session.store
    assert store.command_result("c-pause") == {"cmd_id": "c-pause", "ok": True, "reason": "paused"}
    assert store.command_result("c-bad") is None  # rejected before anything was stored
    assert store.settings()["target_duration_s"] == 60.0
    cmds = read_events(result.commands_path)
    assert [c["cmd"] for c in cmds] == ["pause", "resume", "set_target_duration", "stop"]
    assert _pipeline_only(_replay(result.trace_path)) == _pipeline_only(events)  # type: ignore[arg-type]


async def test_therapist_stop_ends_the_session(tmp_path: Path) -> None:
    # The samples wait at 20 s until the stop is sent; the target is far off (a stop at the clock's time,
    # ahead of the samples on a busy machine, still comes before it).
    session = make_session(tmp_path, simulated_blocks(duration_s=150.0), target_duration_s=120.0, hold_s=20.0)
    sent: list[float] = []

    async def therapist() -> None:
        await until_samples_in(session, session.source.held_at_s)  # type: ignore[attr-defined]
        sent.append(session.clock.now_s())
        session.handle_message(session.topics.cmd, _cmd("stop", cmd_id="c-stop"))
        sent.append(session.clock.now_s())
        session.source.release()  # type: ignore[attr-defined]

    helper = asyncio.create_task(therapist())
    result = await session.run()
    await helper
    assert result.state == "finished" and result.reason == "stopped by command"
    # A command takes effect at the session clock's time when it arrives (on the decision grid); the
    # session ends there, once its samples are in.
    grid_s = 1.0 / session.pipeline.decision_hz  # type: ignore[union-attr]
    assert sent[0] <= _stop_t(result, "t-01") <= sent[1] + grid_s
    assert read_events(result.events_path)[-1]["type"] == "summary"


async def test_one_key_stops_the_session(tmp_path: Path) -> None:
    master_fd, slave_fd = os.openpty()  # the session reads a real (pseudo) terminal
    keyboard, terminal = os.fdopen(master_fd, "wb", buffering=0), os.fdopen(slave_fd, "r")
    # The samples wait at 18 s: the key is pressed when they are in up to there.
    session = make_session(tmp_path, simulated_blocks(), target_duration_s=60.0, hold_s=18.0)
    session.console = Console(terminal)
    assert session.console.is_tty
    held_at = session.source.held_at_s  # type: ignore[attr-defined]

    async def person() -> None:
        await until_samples_in(session, held_at)
        keyboard.write(b"q")

    helper = asyncio.create_task(person())
    result = await session.run()
    await helper
    keyboard.close()
    terminal.close()
    assert result.state == "finished" and result.reason == "stopped by the person"
    # It ends where its samples were at the key press (on the decision grid).
    grid_s = 1.0 / session.pipeline.decision_hz  # type: ignore[union-attr]
    assert held_at <= _stop_t(result, "coach") <= 18.0 + grid_s


async def test_calibration_retries_with_a_clear_cue_then_fails(tmp_path: Path) -> None:
    # An arm that never holds still: a steady 1 rad/s wobble about x.
    t = np.arange(0, 30, 0.01)
    gyr = np.column_stack([np.sin(2 * np.pi * 0.5 * t), np.zeros_like(t), np.zeros_like(t)])
    acc = np.column_stack([np.zeros_like(t), 3 * np.sin(2 * np.pi * 0.5 * t), np.full_like(t, 9.3)])
    blocks = {"treated": SampleBlock("treated", t, acc, gyr)}
    session = make_session(tmp_path, blocks, guided_calibration={"attempt_s": 4.0, "max_attempts": 2})
    result = await session.run()
    events = read_events(result.events_path)
    codes = [e["code"] for e in events if e["type"] == "cue"]
    assert codes == ["calibration_still", "calibration_still_retry", "calibration_failed"]
    assert result.state == "aborted" and result.reason == "calibration failed"
    assert events[-1]["type"] == "summary" and events[-1]["calibration"]["still"] is None
    assert contract_problems(result.events_path) == []
    assert read_trace(result.trace_path).meta.phase("still") is None  # type: ignore[arg-type]


def test_stale_clearance_does_not_count(tmp_path: Path) -> None:
    from coach.session.store import LocalStore

    store = LocalStore(tmp_path)
    old = format_utc(utc_now() - timedelta(days=3))
    store.add_clearance("c-old", 1, "t-01", old)
    assert store.valid_clearance() is None
    store.add_clearance("c-new", 2, "t-01", format_utc(utc_now()))
    clearance = store.valid_clearance()
    assert clearance is not None and clearance.cmd_id == "c-new"


async def test_sigterm_ends_the_session_properly(tmp_path: Path) -> None:
    import signal

    session = make_session(
        tmp_path, simulated_blocks(), target_duration_s=60.0, handle_signals=True, hold_s=18.0
    )
    held_at = session.source.held_at_s  # type: ignore[attr-defined]

    async def service_manager() -> None:
        await until_samples_in(session, held_at)
        os.kill(os.getpid(), signal.SIGTERM)

    helper = asyncio.create_task(service_manager())
    result = await session.run()
    await helper
    assert result.state == "finished" and result.reason == "stopped by signal SIGTERM"
    grid_s = 1.0 / session.pipeline.decision_hz  # type: ignore[union-attr]
    assert held_at <= _stop_t(result, "coach") <= 18.0 + grid_s  # where its samples were
    assert read_events(result.events_path)[-1]["type"] == "summary" and result.summary_path.exists()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is gone again
