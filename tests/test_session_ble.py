"""A live session through the real drivers over the simulated bleak backend: simulated devices that
speak their profiles' byte formats measure a simulated person; one of them drops its link mid-session
and comes back. The session pauses with a cue, resumes, marks the gap, and its trace replays to the
same events."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from coach.cli import main as coach_main
from coach.clock import SessionClock
from coach.session.config import LiveConfig
from coach.session.flow import LiveSession, ScriptedSelfReport
from coach.session.runner import world_source
from coach.session.screening import ScriptedAnswers
from coach.session.store import LocalStore
from coach.summary import SESSION_SUMMARY_FIELDS
from coach.trace import read_trace
from drivers.connection import DeviceLink
from simulators.ble.device import FaultPlan
from simulators.ble.world import simulated_world
from tests.fixtures.live import contract_problems, read_events

pytestmark = [pytest.mark.ble, pytest.mark.slow]

SPEED = 6.0


def _session(tmp_path: Path, faults: dict[str, FaultPlan], target_s: float) -> LiveSession:
    from simulators import Scenario, simulate_motion

    doc = Scenario().to_dict()
    doc["duration_s"] = target_s + 40.0
    doc["sensors"] = {"treated": {"rate_hz": 200}, "hand": {"rate_hz": 200}}
    motion = simulate_motion(Scenario.from_dict(doc), seed=4)
    world, devices = simulated_world(
        {"treated": "coach-imu", "hand": "movesense"}, motion.blocks, time_scale=SPEED, seed=4, faults=faults
    )
    source = world_source(world, devices)
    cfg = LiveConfig(
        patient="p-0001",
        arm="right",
        target_duration_s=target_s,
        record_dir=tmp_path / "sessions",
        connect_wait_s=0,
    )
    return LiveSession(
        cfg,
        source,
        answers=ScriptedAnswers(),
        store=LocalStore(tmp_path / "patient"),
        self_report=ScriptedSelfReport(1, 1),
        clock=SessionClock(SPEED),
    )


def _pipeline_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    extras = SESSION_SUMMARY_FIELDS | {"reason"}
    return [
        {k: v for k, v in e.items() if k not in extras or e["type"] not in ("state", "summary")}
        for e in events
        if not e["id"].startswith("session-")
    ]


async def test_ble_session_survives_a_lost_sensor_and_replays(tmp_path: Path) -> None:
    # The hand's Movesense drops the link at world time 30 s and stays away 4 s (then it is rescanned).
    session = _session(tmp_path, {"hand": FaultPlan(disconnect_at_s=(30.0,), down_s=4.0)}, target_s=60.0)
    result = await session.run()
    assert result.state == "finished", result.reason
    events = read_events(result.events_path)
    assert contract_problems(result.events_path) == []
    cues = [
        (e["code"], e.get("role")) for e in events if e["type"] == "cue" and e["code"].startswith("sensor")
    ]
    assert cues == [("sensor_lost", "hand"), ("sensor_back", "hand")]
    states = [e["state"] for e in events if e["type"] == "state"]
    assert states[:3] == ["screening", "calibrating", "active"] and "paused" in states
    assert states[-1] == "finished" and states[states.index("paused") + 1] == "active"
    (gap,) = result.summary["gaps"]
    assert gap["role"] == "hand" and 3.0 <= gap["end_s"] - gap["start_s"] <= 20.0
    assert result.summary["paused_s"] >= 3.0
    assert result.summary["notifications_dropped"] == {}  # a lost link is a gap, not dropped data
    trace = read_trace(result.trace_path)  # type: ignore[arg-type]
    assert trace.meta.sensor("hand").device == "movesense" and trace.meta.phase("rotate") is not None
    out = io.StringIO()
    with redirect_stdout(out):
        assert coach_main(["replay", str(result.trace_path)]) == 0
    replayed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert _pipeline_events(replayed) == _pipeline_events(events)


async def test_ble_session_counts_notifications_a_stalled_computer_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A computer that stops reading for 1.5 s of wall time (9 s of this accelerated session): the
    # radio side hands over the backlog at once and a small notification queue cannot hold it. The
    # drop is said in the log and counted in the summary, and the session still replays exactly.
    monkeypatch.setattr(DeviceLink, "QUEUE_SIZE", 64)
    caplog.set_level(logging.WARNING, logger="coach.drivers")
    session = _session(tmp_path, {}, target_s=60.0)
    loop = asyncio.get_running_loop()
    stall = loop.call_later(12.0 / SPEED, time.sleep, 1.5)  # once the session is streaming
    try:
        result = await session.run()
    finally:
        stall.cancel()
    assert result.state == "finished", result.reason
    dropped = result.summary["notifications_dropped"]
    assert set(dropped) <= {"treated", "hand"} and sum(dropped.values()) > 0, dropped
    said = [r.getMessage() for r in caplog.records if "notifications were dropped" in r.getMessage()]
    counted: dict[str, int] = {}
    for line in said:  # "<role> (<address>): N notifications were dropped ... (M this session)"
        role = line.split(" ", 1)[0]
        counted[role] = int(line.rsplit("(", 1)[1].split(" ", 1)[0])
    assert counted == dropped, (said, dropped)
    events = read_events(result.events_path)
    assert contract_problems(result.events_path) == []
    out = io.StringIO()
    with redirect_stdout(out):
        assert coach_main(["replay", str(result.trace_path)]) == 0
    replayed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert _pipeline_events(replayed) == _pipeline_events(events)
