"""SessionPipeline: event contract, chunk invariance, live clock = replay, gaps, commands, stroke slot."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.errors import ValidationError
from coach.event_schema.stream import check as check_events
from coach.events import Event, JsonObject, to_json
from coach.pipeline import PipelineConfig, SessionPipeline
from coach.samples import SampleBlock
from coach.signal.strokes.api import Stroke, StrokeContext, StrokeStep
from coach.trace import TraceMeta
from tests.fixtures.events import as_json_objects, last_summary
from tests.fixtures.sessions import three_sensor_session

Blocks = dict[str, SampleBlock]


@pytest.fixture(scope="module")
def session() -> Any:
    """75 s, three sensors at 100 Hz, a 3 s treated disconnection at t = 40 s, hand packet drops."""
    return three_sensor_session(7, 75.0, gap_at_s=40.0, gap_s=3.0)


def rows_in_time_order(blocks: Blocks) -> Iterator[tuple[str, int]]:
    """(role, index) of every sample in time order, as a trace file holds them."""
    t = np.concatenate([b.t_s for b in blocks.values()])
    roles = np.concatenate([np.full(len(b), r, dtype=object) for r, b in blocks.items()])
    idx = np.concatenate([np.arange(len(b)) for b in blocks.values()])
    for i in np.argsort(t, kind="stable"):
        yield str(roles[i]), int(idx[i])


def replay(
    meta: TraceMeta,
    blocks: Blocks,
    chunk_sizes: list[int] | None = None,
    advance: bool = True,
    config: PipelineConfig | None = None,
    commands: Sequence[tuple[float, dict[str, Any]]] = (),
) -> list[JsonObject]:
    """Feed the rows in time order in chunks (cycling through ``chunk_sizes``; None: one pass)."""
    p = SessionPipeline(meta, config)
    events: list[Event] = []
    for t, cmd in commands:
        events += p.apply_command(cmd, t)
    order = list(rows_in_time_order(blocks))
    sizes = chunk_sizes or [len(order)]
    pos, n = 0, 0
    while pos < len(order):
        chunk = order[pos : pos + sizes[n % len(sizes)]]
        pos += len(chunk)
        n += 1
        for role in ("treated", "hand", "stroker"):
            idx = [i for r, i in chunk if r == role]
            if idx:
                events += p.feed(blocks[role].slice(idx[0], idx[-1] + 1))
        if advance:
            last_role, last_i = chunk[-1]
            events += p.advance(float(blocks[last_role].t_s[last_i]) - 1.0)
    events += p.finish()
    return as_json_objects(events)


def problems(events: Sequence[Mapping[str, Any]], hand: bool = False) -> list[str]:
    found, _counts = check_events([to_json(e) for e in events], hand=hand)
    return list(found)


def test_a_session_gives_a_valid_event_stream(session: Any) -> None:
    events = replay(session.meta, session.blocks)
    assert problems(events, hand=True) == []
    states = [(e["state"], e["t"]) for e in events if e["type"] == "state"]
    assert [s for s, _ in states] == ["calibrating", "active", "paused", "active", "finished"]
    cal_end = max(session.meta.phase("still")[1], session.meta.phase("rotate")[1])
    assert states[1][1] == pytest.approx(cal_end, abs=0.021)
    # The treated gap (true time 40–43 s) pauses the session pause_after_s into it.
    assert 40.9 < states[2][1] < 41.3 and 42.9 < states[3][1] < 43.2
    posture = [e for e in events if e["type"] == "posture"]
    inside_gap = [e for e in posture if 40.3 < e["t"] < 42.9]
    assert inside_gap and all(e["elevation_deg"] is None and e["wrist_neutral"] is None for e in inside_gap)
    calibrating = [e for e in posture if e["t"] < states[1][1]]
    assert calibrating and all(e["elevated"] is None for e in calibrating)
    active = [e for e in posture if e["t"] > states[1][1] + 0.1 and not 39.95 < e["t"] < 43.2]
    assert all(isinstance(e["elevation_deg"], float) for e in active)
    # Regular posture events on the 1 Hz grid, extra ones where a flag changed.
    grid = [e for e in posture if abs(e["t"] - round(e["t"])) < 1e-9]
    assert len(grid) >= 74
    summary = events[-1]
    assert summary["type"] == "summary" and summary["calibration"]["mounting"] == "meta"
    assert summary["calibration"]["still"] == pytest.approx(list(session.meta.phase("still")), abs=1e-3)
    assert 0.0 <= summary["elevated_fraction"] <= 1.0 and summary["wrist_neutral_fraction"] is not None
    assert summary["paused_s"] == pytest.approx(2.0, abs=0.4)


def test_ids_and_output_are_identical_on_every_replay(session: Any) -> None:
    a = replay(session.meta, session.blocks)
    b = replay(session.meta, session.blocks)
    assert [to_json(e) for e in a] == [to_json(e) for e in b]


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=5, max_value=4000), min_size=1, max_size=6), st.booleans())
def test_any_chunking_gives_exactly_the_same_events(session: Any, sizes: list[int], advance: bool) -> None:
    ref = replay(session.meta, session.blocks)
    got = replay(session.meta, session.blocks, chunk_sizes=sizes, advance=advance)
    assert [to_json(e) for e in got] == [to_json(e) for e in ref]


def test_tiny_and_large_chunks_mixed_give_the_same_events(session: Any) -> None:
    ref = replay(session.meta, session.blocks)
    got = replay(session.meta, session.blocks, chunk_sizes=[1, 2, 3, 500])
    assert [to_json(e) for e in got] == [to_json(e) for e in ref]


def test_a_live_clock_ticking_gives_the_same_events_as_the_replay(session: Any) -> None:
    """A live session gets each sensor's samples in 0.1 s packets, a little late and not in step, and
    ticks ``advance`` from its own clock (0.3 s behind); it stops at 77 s, after the sensors went quiet,
    and records that stop. The replay of the trace with that command gives the same events."""
    stop = {"cmd": "stop", "args": {}}
    ref = replay(session.meta, session.blocks, commands=[(77.0, stop)])
    p = SessionPipeline(session.meta)
    events: list[Event] = []
    sent = dict.fromkeys(session.blocks, 0)
    lag = {"treated": 0.05, "hand": 0.12, "stroker": 0.0}
    for now in np.arange(0.0, 77.3, 0.1):
        for role, b in session.blocks.items():
            j = int(np.searchsorted(b.t_s, now - lag[role]))
            if j > sent[role]:
                events += p.feed(b.slice(sent[role], j))
                sent[role] = j
        events += p.advance(float(now) - 0.3)
    events += p.apply_command(stop, 77.0)
    events += p.finish()
    assert [to_json(e) for e in events] == [to_json(e) for e in ref]
    assert p.late_samples == 0
    states = [e["state"] for e in events if e["type"] == "state"]
    assert states[-2:] == ["paused", "finished"]  # the sensors stopped before the session did


@pytest.mark.parametrize("step_points", [1, 5])
def test_notifications_held_for_their_step_give_the_replay_events(session: Any, step_points: int) -> None:
    """As the live intake does: 4-sample notifications of every sensor, in the order their last samples
    were taken, held until ``next_point_needs_s`` says the step can be decided, then fed together with
    ``feed_many``. The same events as the replay; feeding what is held earlier decides nothing more."""
    ref = replay(session.meta, session.blocks)
    notes = sorted(
        (float(b.t_s[min(a + 4, len(b)) - 1]), role, b.slice(a, min(a + 4, len(b))))
        for role, b in session.blocks.items()
        for a in range(0, len(b), 4)
    )
    p = SessionPipeline(session.meta)
    events: list[Any] = []
    held: list[SampleBlock] = []
    latest: dict[str, float] = {}
    calls = 0
    for t_last, role, block in notes:
        held.append(block)
        latest[role] = t_last
        needs = p.next_point_needs_s(step_points)
        if needs is not None and any(latest.get(r, -math.inf) < v for r, v in needs.items()):
            if step_points == 1 and len(held) % 7 == 0:  # feeding early decides nothing
                assert p.feed_many(held) == []
                held = []
            continue
        events += p.feed_many(held)
        held = []
        calls += 1
    events += p.feed_many(held) + p.finish()
    assert [to_json(e) for e in events] == [to_json(e) for e in ref]
    # Fewer calls than notifications; a step of 5 points also ends where the detector completes a frame
    # (at most two steps per 5 points: SessionPipeline._step_last).
    assert calls < len(notes) / (1.5 * step_points) * (1 if step_points == 1 else 2)


def test_nominal_mounting_needs_no_calibration_and_says_what_is_off(session: Any) -> None:
    events = replay(session.meta, session.blocks, config=PipelineConfig(mounting="nominal"))
    assert problems(events) == []
    states = [e["state"] for e in events if e["type"] == "state"]
    assert states[0] == "active"
    cal = events[-1]["calibration"]
    assert cal["mounting"] == "nominal" and cal["still"] is None
    assert {"forearm_axis", "gyro_bias", "roll_reference", "wrist_reference"} <= set(cal["checks_off"])


def test_auto_mounting_finds_the_phases_without_meta(session: Any) -> None:
    raw = dict(session.meta.raw)
    raw.pop("calibration")
    events = replay(TraceMeta(raw), session.blocks)
    cal = events[-1]["calibration"]
    assert cal["mounting"] == "auto"
    still, rotate = session.meta.phase("still"), session.meta.phase("rotate")
    assert cal["still"][0] < still[1] and cal["still"][1] > still[0] + 2.0
    assert cal["rotate"] is not None and abs(cal["rotate"][0] - rotate[0]) < 1.0
    assert "forearm_axis" not in cal["checks_off"]
    assert problems(events) == []


def test_without_a_hand_sensor_the_wrist_is_null_and_the_check_is_off(session: Any) -> None:
    blocks = {r: b for r, b in session.blocks.items() if r != "hand"}
    raw = json.loads(json.dumps(session.meta.raw))
    raw["sensors"].pop("hand")
    events = replay(TraceMeta(raw), blocks)
    posture = [e for e in events if e["type"] == "posture"]
    assert all(e["wrist_neutral"] is None and e["wrist_flexion_deg"] is None for e in posture)
    assert events[-1]["wrist_neutral_fraction"] is None
    assert "wrist_neutral" in events[-1]["calibration"]["checks_off"]


def test_commands_pause_resume_thresholds_and_stop(session: Any) -> None:
    commands = [
        (20.0, {"cmd": "pause", "args": {}}),
        (25.0, {"cmd": "resume", "args": {}}),
        (30.0, {"cmd": "set_thresholds", "args": {"elevation_margin_m": 0.6}}),  # impossible to reach
        (60.0, {"cmd": "stop", "args": {}}),
    ]
    events = replay(session.meta, session.blocks, commands=commands)
    assert problems(events) == []
    states = [(e["state"], e["t"], e["reason"]) for e in events if e["type"] == "state"]
    assert ("paused", 20.0, "paused by command") in states
    assert ("active", 25.0, "resumed by command") in states
    assert states[-1][0] == "finished" and states[-1][1] == pytest.approx(60.0)
    assert events[-1]["type"] == "summary" and events[-1]["t"] == pytest.approx(60.0)
    after = [e for e in events if e["type"] == "posture" and 30.0 <= e["t"] < 40.0]
    assert after and not any(e["elevated"] for e in after)
    cues = [e for e in events if e["type"] == "cue"]
    assert not any(20.0 < e["t"] < 25.0 for e in cues)  # quiet while paused
    assert any(e["code"] == "raise_hand" and 31.0 <= e["t"] <= 32.0 for e in cues)


def test_a_command_in_the_past_applies_at_once_and_is_recorded(session: Any) -> None:
    p = SessionPipeline(session.meta)
    b = session.blocks["treated"]
    p.feed(b.slice(0, 2000))
    p.advance(19.0)
    p.apply_command({"cmd": "set_target_duration", "args": {"target_duration_s": 60}}, 5.0)
    assert p.applied_commands and p.applied_commands[0][0] >= 5.0
    with pytest.raises(ValidationError, match="unknown command"):
        p.apply_command({"cmd": "launch"}, 30.0)
    with pytest.raises(ValidationError, match="must be a number"):
        p.apply_command({"cmd": "set_thresholds", "args": {"wrist_flexion_deg": "high"}}, 30.0)


def test_time_cues_follow_the_target_duration(session: Any) -> None:
    raw = dict(session.meta.raw)
    raw["target_duration_s"] = 70.0
    events = replay(TraceMeta(raw), session.blocks)
    codes = [(e["code"], e["t"]) for e in events if e["type"] == "cue"]
    done = [t for c, t in codes if c == "one_minute_left"]
    assert len(done) == 1
    cal_end = max(session.meta.phase("still")[1], session.meta.phase("rotate")[1])
    assert done[0] == pytest.approx(cal_end + 10.0, abs=0.05)  # 10 s of active time after calibration
    assert not any(c == "five_minutes_left" for c, _ in codes)  # the target is shorter than 5 min


class ScriptedDetector:
    """A test double for the stroke slot: reports predetermined strokes when the span reaches their
    decision time (it detects nothing; it checks how the pipeline handles what a detector returns)."""

    def __init__(self, context: StrokeContext, script: list[Stroke], seen: list[StrokeStep]) -> None:
        self.context = context
        self.script = sorted(script, key=lambda s: s.decided_s)
        self.seen = seen

    def process(self, step: StrokeStep) -> list[Stroke]:
        self.seen.append(step)
        out = [s for s in self.script if step.t_from_s <= s.decided_s < step.t_to_s]
        return out

    def finish(self, t_end_s: float) -> list[Stroke]:
        # One stroke ended before the end but was not yet decided; one is still in contact: dropped.
        return [s for s in self.script if s.decided_s >= t_end_s and s.t_end_s <= t_end_s]


def test_the_stroke_slot_gets_calibrated_spans_and_its_strokes_become_events(session: Any) -> None:
    # Distal: the first (alone: no cue, one stroke may be misjudged) and a run of two (the second cues).
    script = [
        Stroke(
            20.0 + 3 * i,
            21.2 + 3 * i,
            "distal" if i in (0, 3, 4) else "proximal",
            0.9,
            "stroker",
            21.5 + 3 * i,
        )
        for i in range(6)
    ]
    script.append(Stroke(40.0, 41.0, "proximal", 0.8, "treated", 39.0))  # decided before its end: bad
    script.append(Stroke(73.5, 74.6, "proximal", 0.7, "treated", 80.0))  # ends before the input ends
    seen: list[StrokeStep] = []
    contexts: list[StrokeContext] = []

    def factory(context: StrokeContext) -> ScriptedDetector:
        contexts.append(context)
        return ScriptedDetector(context, script, seen)

    p = SessionPipeline(session.meta, PipelineConfig(stroke_detector=factory))
    events: list[Event] = []
    order = list(rows_in_time_order(session.blocks))
    for start in range(0, len(order), 700):
        chunk = order[start : start + 700]
        for role in ("treated", "hand", "stroker"):
            idx = [i for r, i in chunk if r == role]
            if idx:
                events += p.feed(session.blocks[role].slice(idx[0], idx[-1] + 1))
    events += p.finish()
    assert problems(events) == []
    ctx = contexts[0]
    assert ctx.roles == ("treated", "hand", "stroker") and ctx.rates_hz["treated"] == pytest.approx(100.0)
    assert ctx.start_s == pytest.approx(seen[0].t_from_s)
    # Spans tile the session after calibration, each role on its own grid with valid flags.
    for a, b in itertools.pairwise(seen):
        assert b.t_from_s == pytest.approx(a.t_to_s)
    tr = seen[len(seen) // 2].roles["treated"]
    assert tr.acc_mps2.shape == (len(tr), 3) and tr.quat.shape == (len(tr), 4)
    ok = tr.valid
    np.testing.assert_allclose(np.linalg.norm(tr.up[ok], axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(tr.elevation_deg[ok], np.degrees(np.arcsin(tr.up[ok, 0])), atol=1e-9)
    assert np.all(np.isnan(tr.acc_mps2[~ok]))
    gap = next(s for s in seen if s.t_from_s <= 41.5 < s.t_to_s).roles["treated"]
    assert not gap.valid[np.argmin(np.abs(gap.t_s - 41.5))]
    strokes = [e for e in events if e["type"] == "stroke"]
    assert len(strokes) == 8
    assert p.stroke_contract_violations == 1
    assert all(e["t_end"] <= e["t"] <= e["t_end"] + 0.5 + 1e-9 for e in strokes[:6])
    cadence = [e for e in events if e["type"] == "cadence"]
    assert cadence and cadence[-1]["strokes_per_min"] > 0
    assert cadence[1]["strokes_per_min"] == pytest.approx(20.0, abs=0.01)  # starts 3 s apart
    distal_cues = [e for e in events if e["type"] == "cue" and e["code"] == "stroke_toward_elbow"]
    assert [round(e["t"], 3) for e in distal_cues] == [33.5]
    summary = last_summary(events)
    assert summary["strokes_total"] == 8 and summary["strokes_distal"] == 3
    # 7 starts in one bout give 6 gaps, too few for the cadence confidence gate (TRUST_MIN_GAPS): the
    # summary abstains and says so (tests/test_cadence_gate.py has the gate itself).
    assert summary["mean_cadence_spm"] is None
    assert "cadence" in summary["calibration"]["checks_off"]
    assert [e["trusted"] for e in cadence if e["type"] == "cadence"][:3] == [False, False, True]


def test_unknown_roles_and_bad_config_are_refused(session: Any) -> None:
    p = SessionPipeline(session.meta)
    b = session.blocks["treated"]
    with pytest.raises(ValidationError, match="unknown sensor role"):
        p.feed(SampleBlock("elbow", b.t_s[:3], b.acc_mps2[:3], b.gyr_rps[:3]))
    with pytest.raises(ValidationError, match="mounting"):
        PipelineConfig(mounting="glued")
    with pytest.raises(ValidationError, match="posture_hz"):
        PipelineConfig(posture_hz=math.inf)


def test_posture_events_at_n_hz_sit_on_the_grid(session: Any) -> None:
    events = replay(session.meta, session.blocks, config=PipelineConfig(posture_hz=3.0))
    t = np.array([e["t"] for e in events if e["type"] == "posture"])
    on_grid = np.abs(t * 3.0 - np.round(t * 3.0)) < 1e-5
    assert on_grid.sum() >= 3 * 74
    assert problems(events) == []


class _Plain:
    """The default detector behind only the protocol's two required methods (no ``quiet_until_s``,
    no ``roles_read``): the pipeline then gives it every span and every role."""

    def __init__(self, context: StrokeContext, calls: list[int], optional: bool) -> None:
        from coach.signal.strokes import create_detector

        self.inner = create_detector(context)
        self.checks_off = self.inner.checks_off
        self.calls = calls
        if optional:
            self.roles_read = self.inner.roles_read
            self.quiet_until_s = self.inner.quiet_until_s

    def process(self, step: StrokeStep) -> list[Stroke]:
        self.calls.append(len(step.roles))
        return self.inner.process(step)

    def finish(self, t_end_s: float) -> list[Stroke]:
        return self.inner.finish(t_end_s)


def test_spans_held_for_the_detectors_frame_give_the_same_events_in_the_same_steps(session: Any) -> None:
    """Live steps (one decision point a call) through a detector that says when it cannot return a
    stroke (``quiet_until_s``): its spans are joined per frame, yet every call of the pipeline returns
    exactly the events it returns when the detector gets every span (with a treated gap and hand drops)."""

    def per_call(optional: bool) -> tuple[list[list[str]], list[int]]:
        calls: list[int] = []
        cfg = PipelineConfig(stroke_detector=lambda c: _Plain(c, calls, optional))
        p = SessionPipeline(session.meta, cfg)
        notes = sorted(
            (float(b.t_s[min(a + 4, len(b)) - 1]), role, b.slice(a, min(a + 4, len(b))))
            for role, b in session.blocks.items()
            for a in range(0, len(b), 4)
        )
        out: list[list[str]] = []
        held: list[SampleBlock] = []
        latest: dict[str, float] = {}
        for t_last, role, block in notes:
            held.append(block)
            latest[role] = t_last
            needs = p.next_point_needs_s(1)
            if needs is not None and any(latest.get(r, -math.inf) < v for r, v in needs.items()):
                continue
            out.append([to_json(e) for e in p.feed_many(held)])
            held = []
        out.append([to_json(e) for e in p.feed_many(held) + p.finish()])
        return out, calls

    every, every_calls = per_call(False)
    held, held_calls = per_call(True)
    assert sum(1 for e in itertools.chain(*every) if '"type":"stroke"' in e) >= 3  # strokes to compare
    assert held == every
    assert len(held_calls) * 3 < len(every_calls)  # about one call per 0.1 s frame, not per 20 ms step
    # Only the roles the detector reads: the shipped model has hand networks, so the hand is read too;
    # a model without them reads treated and stroker only.
    from coach.signal.strokes.detector import StrokeDetector, default_model

    roles = tuple(sorted(session.blocks, key=lambda r: r != "treated"))
    ctx = StrokeContext("left", roles, dict.fromkeys(roles, 100.0), 0.0, "meta")
    expect = {r for r in session.blocks if r in StrokeDetector(ctx, model=default_model()).roles_read}
    assert set(held_calls) == {len(expect)} and set(every_calls) == {len(session.blocks)}
    no_hand = dataclasses.replace(default_model(), hand=None)
    assert StrokeDetector(ctx, model=no_hand).roles_read == ("treated", "stroker")
