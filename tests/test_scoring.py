"""docs/design.md §9 scoring (benchmarks/scoring.py): matching, stroke figures, posture, latency, cadence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.scoring import (
    PostureTruth,
    Score,
    TrueStroke,
    Truth,
    match_strokes,
    outside,
    sample_gaps,
    score_session,
)
from coach.signal.cadence import mean_cadence_spm


def _stroke_event(
    t0: float, t1: float, direction: str, t: float | None = None, conf: float = 0.9
) -> dict[str, Any]:
    return {
        "type": "stroke",
        "t": t1 + 0.2 if t is None else t,
        "id": f"stroke-{t0}",
        "t_start": t0,
        "t_end": t1,
        "direction": direction,
        "confidence": conf,
        "sensor": "treated",
    }


def _truth(strokes: list[TrueStroke], posture: PostureTruth | None = None) -> Truth:
    return Truth(tuple(strokes), posture, 0.0, 100.0)


def test_overlap_threshold_is_half_of_the_shorter_interval() -> None:
    true = np.array([[10.0, 12.0]])
    assert match_strokes(true, np.array([[11.0, 15.0]])) == [(0, 0)]  # 1 s of the shorter 2 s: exactly 50 %
    assert match_strokes(true, np.array([[11.1, 15.0]])) == []  # 0.9 s of 2 s
    assert match_strokes(true, np.array([[11.5, 11.9]])) == [(0, 0)]  # inside: 100 % of the shorter
    assert match_strokes(true, np.array([[12.0, 13.0]])) == []  # touching is no overlap


def test_matching_is_one_to_one_and_maximal() -> None:
    # Two detections inside one true stroke: only one may match.
    assert len(match_strokes(np.array([[0.0, 4.0]]), np.array([[0.0, 1.9], [2.0, 4.0]]))) == 1
    # A greedy "best overlap first" would give d0 to t1 and leave t0 unmatched; the maximum matching
    # pairs d0-t0 and d1-t1.
    true = np.array([[0.0, 1.0], [0.6, 2.0]])
    det = np.array([[0.4, 1.2], [1.0, 2.0]])
    pairs = match_strokes(true, det)
    assert len(pairs) == 2
    assert sorted(pairs) == [(0, 0), (1, 1)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0.1, 5)), min_size=0, max_size=12))
def test_matching_pairs_are_candidates_and_unique(raw: list[tuple[float, float]]) -> None:
    iv = np.array([[a, a + d] for a, d in raw]).reshape(-1, 2)
    shifted = iv + 0.3
    pairs = match_strokes(iv, shifted)
    assert len({p[0] for p in pairs}) == len(pairs) == len({p[1] for p in pairs})
    for i, j in pairs:
        lo, hi = max(iv[i, 0], shifted[j, 0]), min(iv[i, 1], shifted[j, 1])
        assert hi - lo >= 0.5 * min(iv[i, 1] - iv[i, 0], shifted[j, 1] - shifted[j, 0]) - 1e-9
    # Matching a set with itself matches everything.
    assert len(match_strokes(iv, iv)) == len(iv)


def test_stroke_figures_count_unknown_as_wrong_and_show_distal_recall() -> None:
    truth = _truth(
        [
            TrueStroke(1.0, 2.0, "proximal"),
            TrueStroke(4.0, 5.0, "distal"),
            TrueStroke(7.0, 8.0, "distal"),
            TrueStroke(10.0, 11.0, "proximal"),
        ]
    )
    events = [
        _stroke_event(1.1, 2.0, "proximal"),
        _stroke_event(4.0, 5.1, "proximal"),  # wrong direction
        _stroke_event(7.0, 8.0, "unknown"),  # unknown: wrong
        _stroke_event(20.0, 21.0, "proximal"),  # false positive
    ]
    s = score_session(events, truth)
    assert (s.strokes_true, s.strokes_detected, s.strokes_matched) == (4, 4, 3)
    assert s.precision == pytest.approx(0.75)
    assert s.recall == pytest.approx(0.75)
    assert s.f1 == pytest.approx(0.75)
    assert s.direction_accuracy == pytest.approx(1 / 3)
    assert s.direction_unknown == 1
    assert s.distal_recall == 0.0  # the detector never said distal
    assert s.stroke_latencies_s == pytest.approx([0.2, 0.3, 0.2])


def test_perfect_detector_scores_one() -> None:
    rng = np.random.default_rng(3)
    starts = np.cumsum(rng.uniform(2.0, 5.0, 30))
    true = [TrueStroke(a, a + 1.2, "distal" if rng.random() < 0.3 else "proximal") for a in starts]
    events = [_stroke_event(s.t_start_s, s.t_end_s, s.direction) for s in true]
    s = score_session(events, _truth(true))
    assert s.f1 == 1.0
    assert s.direction_accuracy == 1.0
    assert s.distal_recall == 1.0
    assert s.stroke_latency_p95_s == pytest.approx(0.2)


def _posture_truth() -> PostureTruth:
    t = np.arange(200) / 10.0
    elev = np.where((t >= 5.0) & (t < 12.0), -5.0, 20.0)
    return PostureTruth(
        t_s=t,
        elevated=elev > 10.0,
        elevation_deg=elev,
        observable=np.ones(t.size, dtype=bool),
        wrist_neutral=np.ones(t.size, dtype=bool),
        flexion_deg=np.zeros(t.size),
        wrist_observable=np.ones(t.size, dtype=bool),
    )


def _posture(
    t: float, elevated: bool | None, elev: float | None, neutral: bool | None = True
) -> dict[str, Any]:
    return {
        "type": "posture",
        "t": t,
        "id": f"posture-{t}",
        "elevated": elevated,
        "elevation_deg": elev,
        "wrist_neutral": neutral,
        "wrist_flexion_deg": None if neutral is None else 1.0,
        "wrist_deviation_deg": None if neutral is None else 0.0,
        "forearm_roll_deg": 0.0,
    }


def test_posture_uses_latest_event_and_counts_null_as_wrong() -> None:
    truth = Truth((), _posture_truth(), 2.0, 20.0)
    events = [
        _posture(0.0, None, None, None),  # calibration: not scored
        _posture(2.0, None, None, None),  # null while observable: wrong, 1 s
        _posture(3.0, True, 21.0),
        _posture(5.5, False, -4.0),  # 0.5 s late: 5 samples wrong
        _posture(12.0, True, 19.0),  # on time
    ]
    s = score_session(events, truth)
    n = 180  # 2.0 ... 19.9
    assert s.elevated_scored == n
    assert s.elevated_null == 10
    assert s.elevated_agree == n - 10 - 5
    assert s.elevated_agreement == pytest.approx((n - 15) / n)
    # MAE where a value exists: 21 vs 20 for 2 s, 21 vs -5 for 0.5 s, -4 vs -5 for 6.5 s, 19 vs 20 for 8 s
    expect = (20 * 1.0 + 5 * 26.0 + 65 * 1.0 + 80 * 1.0) / 170
    assert s.elevation_mae_deg == pytest.approx(expect)
    assert s.elevation_coverage == pytest.approx(170 / 180)
    assert s.elevated_change_latencies_s == pytest.approx([0.5, 0.0])
    assert s.wrist_agreement == pytest.approx(170 / 180)
    assert s.flexion_mae_deg == pytest.approx(1.0)


def test_missed_posture_change_is_infinite_latency() -> None:
    truth = Truth((), _posture_truth(), 2.0, 20.0)
    events = [_posture(2.0, True, 20.0)]  # never reports the lowering
    s = score_session(events, truth)
    assert s.elevated_change_latencies_s[0] == math.inf
    assert s.elevated_change_p95_s == math.inf


def test_unobservable_truth_is_not_scored() -> None:
    p = _posture_truth()
    gap = outside(p.t_s, [(8.0, 10.0)])
    p2 = PostureTruth(p.t_s, p.elevated, p.elevation_deg, gap, p.wrist_neutral, p.flexion_deg, gap)
    events = [_posture(2.0, True, 20.0), _posture(5.0, False, -5.0), _posture(8.0, None, None, None)]
    s = score_session(events, Truth((), p2, 2.0, 10.0))
    assert s.elevated_scored == 80 - 19  # 2.0 ... 9.9, but 8.1 ... 9.9 are inside the gap
    assert s.elevated_agree == s.elevated_scored - 1  # 8.0 itself is observable but null


def test_cadence_against_the_true_starts() -> None:
    starts = np.arange(0.0, 60.0, 3.0)  # 20 spm
    true = [TrueStroke(a, a + 1.0, "proximal") for a in starts]
    events: list[dict[str, Any]] = [_stroke_event(a, a + 1.0, "proximal") for a in starts]
    events.append({"type": "cadence", "t": 10.2, "id": "cadence-1", "strokes_per_min": 21.0})
    events.append({"type": "summary", "t": 70.0, "id": "summary-1", "mean_cadence_spm": 19.5})
    s = score_session(events, _truth(true))
    assert mean_cadence_spm(starts) == pytest.approx(20.0)
    assert s.cadence_abs_err_spm == pytest.approx([0.5])
    assert s.live_cadence_abs_err_spm == pytest.approx([1.0])  # ended by 10.2: starts 0, 3, 6 → 20 spm


def test_cadence_missing_when_reported_null() -> None:
    starts = np.arange(0.0, 30.0, 3.0)
    true = [TrueStroke(a, a + 1.0, "proximal") for a in starts]
    events = [{"type": "summary", "t": 40.0, "id": "summary-1", "mean_cadence_spm": None}]
    s = score_session(events, _truth(true))
    assert s.cadence_missing == 1
    assert s.cadence_abs_err_spm == []


def test_scores_pool_counts_not_averages() -> None:
    a = score_session([_stroke_event(0.0, 1.0, "proximal")], _truth([TrueStroke(0.0, 1.0, "proximal")]))
    b = score_session([], _truth([TrueStroke(0.0, 1.0, "proximal")] * 3))
    total = Score.pooled([a, b])
    assert total.sessions == 2
    assert total.recall == pytest.approx(1 / 4)  # pooled; the mean of session recalls would be 0.5
    assert total.precision == 1.0


def test_sample_gaps() -> None:
    t = np.array([0.0, 0.01, 0.02, 0.5, 0.51, 2.0])
    assert sample_gaps(t, 0.25) == [(0.02, 0.5), (0.51, 2.0)]


# --------------------------------------------------------------------------------------------------
# Variant-family figures (benchmarks/scoring_families.py): regions, false strokes, cues, straps


def _cue(t: float, code: str = "stroke_toward_elbow") -> dict[str, Any]:
    return {"type": "cue", "t": t, "id": f"cue-{t}", "code": code, "message": "..."}


def test_region_figures_count_only_that_regions_strokes() -> None:
    true = [
        TrueStroke(0.0, 1.0, "proximal", "finger"),
        TrueStroke(2.0, 3.0, "distal", "finger"),
        TrueStroke(4.0, 6.0, "proximal", "forearm"),
    ]
    events = [_stroke_event(2.0, 3.0, "proximal"), _stroke_event(4.0, 6.0, "proximal")]
    s = score_session(events, _truth(true))
    assert s.region_true == {"finger": 2, "forearm": 1}
    assert s.region_recall("finger") == pytest.approx(0.5)
    assert s.region_direction_accuracy("finger") == 0.0  # the distal finger stroke called proximal
    assert s.region_distal_recall("finger") == 0.0
    assert s.region_recall("forearm") == 1.0 and s.region_direction_accuracy("forearm") == 1.0
    assert math.isnan(s.region_recall("palm"))


def test_region_latency_is_per_region_and_pools() -> None:
    true = [TrueStroke(0.0, 1.0, "proximal", "finger"), TrueStroke(4.0, 6.0, "proximal", "forearm")]
    events = [_stroke_event(0.0, 1.0, "proximal", t=1.9), _stroke_event(4.0, 6.0, "proximal", t=6.3)]
    s = score_session(events, _truth(true))
    assert s.region_latency_p95_s("finger") == pytest.approx(0.9)
    assert s.region_latency_p95_s("forearm") == pytest.approx(0.3)
    assert math.isnan(s.region_latency_p95_s("palm"))
    both = s + score_session([_stroke_event(0.0, 1.0, "proximal", t=1.1)], _truth(true[:1]))
    assert sorted(lat for r, lat, _, _ in both.stroke_timing_s if r == "finger") == pytest.approx([0.1, 0.9])
    # The detected contact here is the true one: the latency is all decision delay after its end.
    assert [end for _, _, end, _ in both.stroke_timing_s] == pytest.approx([0.0, 0.0, 0.0])


def test_every_stroke_is_false_in_a_massage_free_recording() -> None:
    truth = Truth((), None, 0.0, 120.0, massage_free=True)
    events = [_stroke_event(10.0, 11.0, "distal"), _stroke_event(50.0, 51.0, "proximal")]
    s = score_session(events, truth)
    assert s.massage_free_minutes == pytest.approx(2.0)
    assert s.massage_free_false_per_min == pytest.approx(1.0)
    assert s.massage_free_distal == 1
    # Not massage-free: the same strokes are not counted there.
    assert score_session(events, Truth((), None, 0.0, 120.0)).massage_free_strokes == 0


def test_false_strokes_during_movement_by_kind() -> None:
    truth = Truth(
        (TrueStroke(40.0, 41.0, "proximal"),),
        None,
        0.0,
        200.0,
        movements=(("walk", 10.0, 40.0), ("phone", 100.0, 130.0)),
    )
    events = [
        _stroke_event(12.0, 13.0, "distal"),  # false, during walking
        _stroke_event(40.0, 41.0, "proximal"),  # a true stroke at the edge of the walk: not false
        _stroke_event(60.0, 61.0, "proximal"),  # false but outside any movement
        _stroke_event(129.8, 130.6, "proximal"),  # false, its middle 0.2 s after the phone: still counted
    ]
    s = score_session(events, truth)
    assert s.movement_false == {"walk": 1, "phone": 1}
    assert s.movement_false_per_min("walk") == pytest.approx(2.0)
    assert s.movement_false_per_min() == pytest.approx(2.0)  # 2 false strokes in 1 min of movement
    # each listed one by one (`./run bench families -- --list-false`), pooled scores keep them all
    assert s.movement_false_at == [("walk", 12.0, 13.0, "distal"), ("phone", 129.8, 130.6, "proximal")]
    assert len((s + s).movement_false_at) == 4


def test_cue_precision_and_wrong_cues_in_correct_massage() -> None:
    true = [TrueStroke(10.0 + 3.0 * k, 11.0 + 3.0 * k, "proximal") for k in range(10)]  # 10-38 s, all right
    true += [TrueStroke(100.0 + 3.0 * k, 101.0 + 3.0 * k, "distal") for k in range(5)]  # a wrong bout
    events = [
        _cue(20.5),  # during correct massage: wrong cue
        _cue(104.5),  # 0.5 s after a true distal stroke ended: right
        _cue(150.0),  # long after any distal stroke: wrong, outside correct massage
        _cue(104.6, "raise_hand"),  # other cues do not count
    ]
    s = score_session(events, Truth(tuple(true), None, 0.0, 200.0))
    assert s.cues_direction == 3
    assert s.cue_precision == pytest.approx(1 / 3)
    assert s.cues_wrong_in_correct == 1
    # Correct massage: 10 s to the last end (38 s) + 6 s look-back = 34 s.
    assert s.correct_massage_s == pytest.approx(34.0)
    assert s.wrong_cues_per_10min == pytest.approx(600.0 / 34.0)


def test_wrist_agreement_through_strap_tugs_scores_only_after_them() -> None:
    p = _posture_truth()
    truth = Truth((), p, 0.0, 20.0, strap_events=((10.0, 11.0),))
    events = [_posture(0.0, True, 20.0, True), _posture(15.0, True, 20.0, False)]  # wrong from 15 s
    s = score_session(events, truth)
    assert s.strap_wrist_scored == 100  # 10.0 ... 19.9
    assert s.strap_wrist_agreement == pytest.approx(0.5)
    assert score_session(events, Truth((), p, 0.0, 20.0)).strap_wrist_scored == 0


def test_seen_f1_leaves_out_only_the_regions_the_summary_says_are_unjudged() -> None:
    true = (
        TrueStroke(0.0, 1.0, "proximal", "forearm"),
        TrueStroke(3.0, 4.0, "proximal", "finger"),
        TrueStroke(6.0, 7.0, "proximal", "between_fingers"),
        TrueStroke(9.0, 10.0, "proximal", "palm"),
    )
    truth = Truth(strokes=true, posture=None, active_from_s=0.0, active_to_s=20.0)
    # Found: the forearm stroke, the finger stroke, and one stroke where nothing happened.
    strokes = [_stroke_event(0.0, 1.0, "proximal"), _stroke_event(3.0, 4.0, "proximal")]
    strokes.append(_stroke_event(12.0, 13.0, "proximal"))
    calibration = {"checks_off": ["finger_strokes"]}
    summary = {"type": "summary", "t": 20.0, "id": "summary", "calibration": calibration}
    s = score_session([*strokes, summary], truth)
    # All regions: 2 of 4 true found, 2 of 3 detections right.
    assert s.f1 == pytest.approx(2 * 2 / (4 + 3))
    # Seen: fingers and between them are left out with the finger detection; palm (missed) and the
    # false stroke still count.
    assert (s.seen_true, s.seen_detected, s.seen_matched) == (2, 2, 1)
    assert s.f1_seen == pytest.approx(2 * 1 / (2 + 2))
    # Without a summary nothing is left out.
    plain = score_session(strokes, truth)
    assert plain.f1_seen == pytest.approx(plain.f1)


def test_seen_cadence_is_the_definition_over_the_regions_the_summary_does_not_leave_out() -> None:
    fingers = [TrueStroke(t, t + 1.0, "proximal", "finger") for t in (0.0, 1.5, 3.0, 4.5, 6.0)]
    forearm = [TrueStroke(t, t + 1.0, "proximal", "forearm") for t in (12.0, 15.0, 18.0)]
    truth = Truth(strokes=(*fingers, *forearm), posture=None, active_from_s=0.0, active_to_s=30.0)
    summary = {"type": "summary", "t": 30.0, "id": "summary", "mean_cadence_spm": 20.0}
    # Every stroke: one bout of 8 strokes over 18 + 1.5 s; seen (no fingers): 3 strokes over 6 + 3 s.
    off = score_session([{**summary, "calibration": {"checks_off": ["finger_strokes"]}}], truth)
    assert off.cadence_abs_err_spm == pytest.approx([abs(20.0 - 60.0 * 8 / 19.5)])
    assert off.cadence_seen_abs_err_spm == pytest.approx([0.0])
    # Nothing left out: the two figures agree.
    plain = score_session([{**summary, "calibration": {"checks_off": []}}], truth)
    assert plain.cadence_seen_abs_err_spm == pytest.approx(plain.cadence_abs_err_spm)
