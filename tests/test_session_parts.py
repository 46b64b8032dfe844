"""Parts of a live session on their own: trace quantisation and recording order, the terminal view,
console input, the run configuration, the guided calibration checks, the event ordering."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from coach.clock import SessionClock
from coach.errors import ConfigError
from coach.events import Event
from coach.feedback.terminal import TerminalView, format_summary
from coach.samples import LinkStatus, SampleBlock
from coach.session.config import example_config, load_config, parse_config
from coach.session.console import Console
from coach.session.event_sink import Merger
from coach.session.guided_calibration import GuidedCalibration
from coach.session.recorder import SessionRecorder, _quantize, as_recorded
from coach.session.sources import PacedSamples
from coach.trace import TraceMeta, read_trace
from tests.fixtures.live import simulated_blocks


@pytest.mark.parametrize(("fmt", "scale"), [("%.5f", 20.0), ("%.6f", 3.0), ("%.6f", 3600.0), ("%.3f", 60.0)])
def test_quantisation_equals_formatting_then_parsing(fmt: str, scale: float) -> None:
    rng = np.random.default_rng(4)
    digits = int(fmt[2])
    values = rng.normal(0, scale, 50_000)
    ties = (np.round(values[:5000] * 10**digits) + 0.5) / 10**digits  # values at (binary-nearest) ties
    values = np.concatenate([values, ties, [0.0, -1e-12, 1e-12]])
    expected = np.array([float(fmt % v) for v in values])
    assert np.array_equal(_quantize(values, fmt), expected)


def test_recorded_samples_read_back_bit_identical(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    t = np.cumsum(rng.uniform(0.009, 0.011, 300))
    block = as_recorded(SampleBlock("treated", t, rng.normal(0, 5, (300, 3)), rng.normal(0, 1, (300, 3))))
    rec = SessionRecorder(tmp_path, "s-1")
    rec.add(block)
    rec.open_trace(TraceMeta({"sensors": {"treated": {"rate_hz": 100}}}))
    rec.close()
    back = read_trace(rec.trace_path).blocks["treated"]
    assert np.array_equal(back.t_s, block.t_s)
    assert np.array_equal(back.acc_mps2, block.acc_mps2) and np.array_equal(back.gyr_rps, block.gyr_rps)


def test_recorder_keeps_rows_in_time_order_and_a_lost_sensor_does_not_hold_the_others(tmp_path: Path) -> None:
    def block(role: str, t0: float, n: int) -> SampleBlock:
        t = t0 + np.arange(n, dtype=np.float64) * 0.01
        return SampleBlock(role, t, np.zeros((n, 3)) + 9.8, np.zeros((n, 3)))

    rec = SessionRecorder(tmp_path, "s-2")
    rec.open_trace(TraceMeta({"sensors": {"treated": {"rate_hz": 100}, "hand": {"rate_hz": 100}}}))
    rec.add(block("treated", 0.0, 100))
    rec.add(block("hand", 0.005, 50))
    rec.flush()
    assert rec.samples_written == 50 + 50  # treated held back beyond the hand's last sample
    rec.link("hand", up=False)
    rec.flush()
    assert rec.samples_written == 150  # the lost hand no longer holds treated back
    rec.close()
    lines = rec.trace_path.read_text().splitlines()[3:]
    times = [float(line.split(",")[0]) for line in lines]
    assert times == sorted(times) and len(times) == 150
    assert rec.trace_path.stat().st_mode & 0o077 == 0


def _bare(event_type: str, t: float, event_id: str) -> Event:
    """An event with only what the merger reads (``type``, ``t``, ``id``); the fields of its type do
    not matter to the merger, so the test leaves them out."""
    return cast(Event, {"type": event_type, "t": t, "id": event_id})


def test_merger_keeps_t_non_decreasing() -> None:
    m = Merger()
    assert m.session(_bare("cue", 4.0, "session-cue-1")) == []  # waits for the pipeline
    out = m.pipeline([_bare("posture", 3.0, "p-1"), _bare("posture", 5.0, "p-2")])
    assert [e["id"] for e in out] == ["p-1", "session-cue-1", "p-2"]
    m.pipeline_done = True
    late = m.session(_bare("cue", 1.0, "session-cue-2"))
    assert late == [{"type": "cue", "t": 5.0, "id": "session-cue-2"}]


def test_guided_calibration_finds_the_simulated_phases() -> None:
    blocks = simulated_blocks(("treated", "hand"), 40.0, seed=5)
    cal = GuidedCalibration(list(blocks))
    prompts = cal.begin(0.0)
    for k in range(1, 300):
        t = k * 0.1
        for b in blocks.values():
            idx = np.flatnonzero((b.t_s >= t - 0.1) & (b.t_s < t))
            if idx.size:
                cal.feed(b.slice(int(idx[0]), int(idx[-1]) + 1))
        prompts += cal.step(t)
        if cal.done:
            break
    assert [p.code for p in prompts] == ["calibration_still", "calibration_rotate", "calibration_done"]
    assert cal.still is not None and cal.rotate is not None
    assert cal.still[1] - cal.still[0] == pytest.approx(3.0) and cal.still[1] <= cal.rotate[0]
    # The simulated patient was told to hold still from about 1.5 s and turned from about 5 s on.
    assert 0.5 <= cal.still[0] <= 3.0 and 4.0 <= cal.rotate[0] <= 8.0 and cal.rotate[1] <= 13.0


def test_terminal_view_line_mode_and_panel() -> None:
    out = io.StringIO()
    view = TerminalView(out, interactive=False, status_every_s=0.0)
    view.model.state = "active"
    view.on_event(
        {"type": "cue", "t": 65.0, "id": "cue-1", "code": "raise_hand", "message": "Raise your hand."}
    )
    view.on_event({"type": "stroke", "t": 66.0, "id": "stroke-1", "direction": "distal"})
    view.set_sensor("hand", "down", 40.0)
    text = out.getvalue()
    # The cue's text comes from the catalogue by its code (the event's own message is for the record).
    assert (
        "[01:05] Raise your hand a little: keep it above" in text and "Hand sensor: connection lost" in text
    )
    assert "\x1b[" not in text  # no cursor control outside a terminal
    assert "fingers 1" in view.status_line() and "Hand down" in view.status_line()
    tty = io.StringIO()
    panel = TerminalView(tty, interactive=True)
    panel.on_event({"type": "posture", "t": 3.0, "id": "p", "elevated": False, "elevation_deg": -4.0})
    panel.say("hello")
    assert "\x1b[" in tty.getvalue() and "LOW" in "\n".join(panel.panel())
    summary = format_summary(
        {"duration_s": 600.0, "strokes_total": 3, "elevated_fraction": 0.5, "pain_0_10": 2}
    )
    assert "10:00" in summary and "50%" in summary and "2 / -" in summary


async def test_console_reads_lines_from_a_pipe_and_treats_closed_stdin_as_end() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"yes\nno\n")
    os.close(write_fd)
    with os.fdopen(read_fd) as stdin:
        console = Console(stdin)
        assert not console.is_tty and not console.watch_keys(lambda _: None)
        assert await console.readline() == "yes"
        assert await console.readline() == "no"
        assert await console.readline() is None
    r, w = os.pipe()
    os.close(w)
    closed = os.fdopen(r)
    closed.close()  # `coach demo` runs with stdin closed
    console = Console(closed)
    assert console.closed and await asyncio.wait_for(console.readline(), 1) is None


def test_example_config_parses_and_errors_name_the_key(tmp_path: Path) -> None:
    example = tmp_path / "session.toml"
    example.write_text(example_config())
    cfg = load_config(example)
    assert cfg.patient == "p-0001" and cfg.roles == ["treated", "hand", "stroker"]
    assert cfg.target_duration_s == 720.0 and cfg.broker is not None and cfg.broker.url.startswith("mqtts://")
    with pytest.raises(ConfigError, match=r"\[broker\] unknown key\(s\) password.*COACH_MQTT"):
        parse_config({"patient": "p-1", "broker": {"url": "mqtt://h", "password": "x"}}, "s.toml")
    with pytest.raises(ConfigError, match="needs a device with role 'treated'"):
        parse_config(
            {"patient": "p-1", "devices": [{"role": "hand", "profile": "witmotion", "address": "x"}]}, "s"
        )
    with pytest.raises(ConfigError, match="pseudonymous id"):
        parse_config({"patient": "Jane Doe"}, "s.toml")
    with pytest.raises(ConfigError, match="'target_duration_min' must be a number within 1–60"):
        parse_config({"patient": "p-1", "target_duration_min": 0}, "s.toml")


def test_latency_attribution_picks_the_notification_that_completed_a_decision() -> None:
    """bench_live times the coach from outside: delivered samples are matched to the recorded trace,
    and an event waits for one sample period past its time on every role."""
    from benchmarks.live_latency import RoleDeliveries, decided_at, match_session_times

    # Delivered samples: true (world) times; the session started at world time 500 s and the drivers'
    # clock fit puts samples 4 ms later than their true time. Three samples before t = 0 are not recorded.
    true_t = 500.0 + np.arange(-3, 20, dtype=np.float64) * 0.01
    trace_t = np.round(np.arange(0, 20) * 0.01 + 0.004, 6)
    session_t = match_session_times(true_t, trace_t, 500.0, 100.0)
    assert np.isnan(session_t[:3]).all() and np.allclose(session_t[3:], trace_t)
    # The hand came in notifications of three samples at 100 and 101 s; treated earlier, at 99 s.
    hand = RoleDeliveries(
        np.array([0.084, 0.094, 0.104, 0.114, 0.124]), np.array([100.0] * 3 + [101.0] * 2), 100.0
    )
    treated = RoleDeliveries(np.array([0.09, 0.10, 0.11, 0.12]), np.array([99.0] * 4), 100.0)
    roles = {"treated": treated, "hand": hand}
    assert decided_at(0.100, roles) == 101.0  # the hand's sample at 0.114 s came in its second notification
    assert decided_at(0.085, roles) == 100.0  # the hand's first notification was enough
    assert decided_at(0.120, roles) is None  # nobody has a sample past 0.13 s yet


async def test_paced_samples_report_a_pause_inside_one_late_delivery_as_a_lost_link() -> None:
    # 100 Hz with a 1.5 s pause at 2 s; the clock already reads 5 s at the first delivery (this
    # process was held up): everything is due at once, and the pause must still be a lost link.
    t = np.concatenate([np.arange(0.0, 2.0, 0.01), np.arange(3.5, 5.0, 0.01)])
    zeros = np.zeros((len(t), 3))
    source = PacedSamples(
        {"hand": SampleBlock("hand", t, zeros, zeros)}, {"hand": {"rate_hz": 100.0}}, link_gap_s=0.5
    )
    await source.start(SessionClock(1.0, t0_monotonic=time.monotonic() - 5.0))
    items = [item async for item in source.items()]
    links = [(i.link, round(i.t_s, 3)) for i in items if isinstance(i, LinkStatus)]
    assert links == [("up", 0.0), ("down", 2.49), ("up", 3.5)]
    blocks = [i for i in items if isinstance(i, SampleBlock)]
    assert [(float(b.t_s[0]), round(float(b.t_s[-1]), 2)) for b in blocks] == [(0.0, 1.99), (3.5, 4.99)]
