"""Cadence definitions (docs/design.md §5) and the cue debounce."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coach.cue_texts import PIPELINE_CUES as MESSAGES
from coach.feedback.cues import CueEngine, HeldCue
from coach.signal.cadence import active_stroking_s, bouts, live_cadence_spm, mean_cadence_spm


def test_bouts_split_at_gaps_of_ten_seconds() -> None:
    starts = [0.0, 3.0, 6.0, 15.9, 30.0, 32.0]
    parts = bouts(starts)
    assert [b.tolist() for b in parts] == [[0.0, 3.0, 6.0, 15.9], [30.0, 32.0]]
    assert [b.tolist() for b in bouts([20.0, 0.0, 9.99])] == [[0.0, 9.99], [20.0]]  # any order
    assert len(bouts([0.0, 10.0])) == 2  # a gap of exactly 10 s ends the bout


def test_summary_cadence_counts_bouts_of_two_or_more() -> None:
    # Bout A: 0, 3, 6 (median period 3 → 6 + 3 = 9 s); bout B: 40 alone (counts 0); bout C: 60, 64
    # (median 4 → 4 + 4 = 8 s). 5 strokes in 17 s.
    starts = [0.0, 3.0, 6.0, 40.0, 60.0, 64.0]
    assert active_stroking_s(starts) == pytest.approx(17.0)
    assert mean_cadence_spm(starts) == pytest.approx(60.0 * 5 / 17.0)
    assert mean_cadence_spm([5.0]) is None
    assert mean_cadence_spm([]) is None


def test_live_cadence_uses_the_last_30_seconds() -> None:
    starts = [0.0, 10.0, 20.0, 25.0, 28.0]
    # At t = 31 the window (1, 31] holds 10, 20, 25, 28: 3 periods over 18 s.
    assert live_cadence_spm(starts, 31.0) == pytest.approx(60.0 * 3 / 18.0)
    assert live_cadence_spm([28.0], 31.0) is None
    assert live_cadence_spm(np.arange(0.0, 60.0, 3.0), 59.0) == pytest.approx(20.0)


def _times(n: int, dt: float = 0.02, t0: float = 0.0) -> np.ndarray:
    return t0 + dt * np.arange(n)


def test_a_condition_must_hold_one_second_and_repeats_every_ten() -> None:
    cue = HeldCue("raise_hand", hold_s=1.0, repeat_s=10.0)
    t = _times(1500)  # 30 s at 50 Hz
    cond = np.zeros(1500, bool)
    cond[100:140] = True  # 0.8 s: too short, no cue
    cond[200:1500] = True  # from t = 4 s on
    got = cue.step(t, cond, 0.02)
    assert got == pytest.approx([5.0, 15.0, 25.0])


def test_a_broken_run_restarts_the_hold_and_keeps_the_repeat_limit() -> None:
    cue = HeldCue("straighten_wrist", hold_s=1.0, repeat_s=10.0)
    t = _times(1000)
    cond = np.zeros(1000, bool)
    cond[0:100] = True  # cue at 1.0
    cond[150:1000] = True  # from 3.0: held by 4.0, but the last cue was at 1.0: next at 11.0
    assert cue.step(t, cond, 0.02) == pytest.approx([1.0, 11.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12), st.integers(0, 2**31 - 1))
def test_cue_times_do_not_depend_on_how_the_span_is_split(cuts: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    t = _times(n)
    # A condition with runs of random lengths.
    cond = np.repeat(rng.random(60) < 0.5, n // 60)
    whole = HeldCue("raise_hand", 1.0, 10.0).step(t, cond, 0.02)
    split = HeldCue("raise_hand", 1.0, 10.0)
    got: list[float] = []
    pos = 0
    for c in cuts:
        got += split.step(t[pos : pos + c], cond[pos : pos + c], 0.02)
        pos += c
        if pos >= n:
            break
    if pos < n:
        got += split.step(t[pos:], cond[pos:], 0.02)
    assert got == whole


def test_time_cues_fire_once_when_the_active_time_reaches_them() -> None:
    engine = CueEngine()
    t = np.arange(0.0, 800.0, 1.0)
    elapsed = np.clip(t - 100.0, 0.0, None)  # 100 s of calibration/pauses first
    got = engine.time_left(t, elapsed, 600.0)
    assert got == [(400.0, "five_minutes_left"), (640.0, "one_minute_left"), (700.0, "session_complete")]
    assert engine.time_left(t, elapsed, 600.0) == []
    assert all(code in MESSAGES and MESSAGES[code] for _, code in got)


def test_distal_stroke_cue_is_rate_limited() -> None:
    engine = CueEngine()
    assert engine.distal_stroke(5.0) == [(5.0, "stroke_toward_elbow")]
    assert engine.distal_stroke(12.0) == []
    assert engine.distal_stroke(15.0) == [(15.0, "stroke_toward_elbow")]
