"""Scoring for the variant-family benchmark (part of :mod:`benchmarks.scoring`, docs/design.md §9 extended).

- **Per region**: recall, direction accuracy, distal recall and stroke latency p95 over the true strokes
  of each region (a detected stroke has no true region unless it matches one, so precision is only
  pooled); the events' ``region`` field: the share of matched strokes that name one, and how often it
  is right.
- **Regions the sensor set can see**: the session's summary names, in ``calibration.checks_off``, what
  the detector cannot judge with its sensors (``finger_strokes``, ``hand_strokes``); the true strokes
  of those regions (:data:`UNSEEN_REGIONS`) and the detections matched to them are left out of the
  "seen" F1 (issue 9 states its F1 target over the regions a sensor set can see). Detected
  strokes that match nothing still count as false. The all-region figures stay beside them. The same
  for cadence: beside the error against every true stroke, the error against the §5 cadence of the true
  strokes in the regions the sensor set can see (shown, not the target's figure).
- **Cadence coverage** (the cadence confidence gate): the share of sessions with a true cadence in which
  the summary gave one (the error is over those); of the live ``cadence`` events, the share marked
  ``trusted`` and their error.
- **False strokes**: in recordings without massage, every reported stroke per minute; during ordinary
  movement, reported strokes that match no true stroke and whose middle lies in a movement interval
  (widened by :data:`MOVEMENT_PAD_S`), per minute of that kind of movement.
- **Cue precision**: a ``stroke_toward_elbow`` cue is right when a true distal stroke ended within
  :data:`CUE_LOOKBACK_S` before it (the cue follows the stroke that caused it). **Wrong-direction cues
  per 10 minutes of correct massage**: cues that are not right, given inside a bout whose true strokes are
  all proximal (start-to-start gaps < 10 s, docs/design.md §5), per 10 minutes of such bouts (first start to
  last end + :data:`CUE_LOOKBACK_S`).
- **Wrist through strap tugs**: wrist-neutral agreement (as in the posture score) over the
  :data:`STRAP_WINDOW_S` after each strap tug or strap turn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from benchmarks.scoring import Score, TrueStroke, Truth

CUE_CODE: Final = "stroke_toward_elbow"
CUE_LOOKBACK_S: Final = 6.0
MOVEMENT_PAD_S: Final = 0.5
STRAP_WINDOW_S: Final = 120.0
BOUT_GAP_S: Final = 10.0
#: The regions each ``checks_off`` name of the stroke detector leaves unjudged (strokes/detector.py).
UNSEEN_REGIONS: Final[dict[str, frozenset[str]]] = {
    "finger_strokes": frozenset({"finger", "between_fingers"}),
    "hand_strokes": frozenset({"back_of_hand", "palm"}),
}


def unseen_regions(events: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The regions the session's last summary says its sensors cannot judge (none without a summary)."""
    summaries = [e for e in events if e.get("type") == "summary"]
    cal = summaries[-1].get("calibration") if summaries else None
    names = cal.get("checks_off") if isinstance(cal, Mapping) else None
    out: set[str] = set()
    for name in names or ():
        out |= UNSEEN_REGIONS.get(str(name), frozenset())
    return frozenset(out)


def score_seen(
    events: Sequence[Mapping[str, Any]],
    true: Sequence[TrueStroke],
    n_detected: int,
    pairs: list[tuple[int, int]],
    out: Score,
) -> None:
    unseen = unseen_regions(events)

    def is_seen(s: TrueStroke) -> bool:
        return s.region is None or s.region not in unseen

    hidden_matched = sum(1 for ti, _ in pairs if not is_seen(true[ti]))
    out.seen_true = sum(1 for s in true if is_seen(s))
    out.seen_detected = n_detected - hidden_matched
    out.seen_matched = len(pairs) - hidden_matched


def score_cadence_seen(events: Sequence[Mapping[str, Any]], truth: Truth, out: Score) -> None:
    """Summary ``mean_cadence_spm`` against the §5 cadence of the true strokes in the regions the sensor
    set can see (as :func:`score_seen`); sessions where either is undefined are left out."""
    from coach.signal.cadence import mean_cadence_spm

    unseen = unseen_regions(events)
    starts = [s.t_start_s for s in truth.strokes if s.region is None or s.region not in unseen]
    true_spm = mean_cadence_spm(starts)
    summaries = [e for e in events if e.get("type") == "summary"]
    reported = summaries[-1].get("mean_cadence_spm") if summaries else None
    if true_spm is not None and reported is not None:
        out.cadence_seen_abs_err_spm = [abs(float(reported) - true_spm)]


def score_live_trust(events: Sequence[Mapping[str, Any]], truth: Truth, out: Score) -> None:
    """Live ``cadence`` events: how many, how many marked ``trusted`` (the cadence confidence gate; an
    event without the field counts as trusted), and the trusted ones' error against the live cadence of
    the true strokes that had ended by the event's ``t``."""
    from coach.signal.cadence import live_cadence_spm

    ends = np.array([s.t_end_s for s in truth.strokes], dtype=np.float64)
    starts = np.array([s.t_start_s for s in truth.strokes], dtype=np.float64)
    for e in events:
        if e.get("type") != "cadence" or e.get("strokes_per_min") is None:
            continue
        out.live_cadence_events += 1
        if e.get("trusted", True) is not True:
            continue
        out.live_cadence_trusted += 1
        expect = live_cadence_spm(starts[ends <= float(e["t"])], float(e["t"]))
        if expect is not None:
            out.live_cadence_trusted_abs_err_spm.append(abs(float(e["strokes_per_min"]) - expect))


def cadence_coverage(s: Score) -> float:
    """Of the sessions with a true cadence, the share in which the summary gave one (did not abstain)."""
    return s.cadence_given / s.cadence_sessions if s.cadence_sessions else math.nan


def live_trusted_share(s: Score) -> float:
    """Of the live ``cadence`` events, the share marked ``trusted``."""
    return s.live_cadence_trusted / s.live_cadence_events if s.live_cadence_events else math.nan


def live_cadence_trusted_mae_spm(s: Score) -> float:
    errs = s.live_cadence_trusted_abs_err_spm
    return float(np.mean(errs)) if errs else math.nan


def score_regions(
    true: Sequence[TrueStroke],
    detected: Sequence[Mapping[str, Any]],
    pairs: list[tuple[int, int]],
    out: Score,
) -> None:
    for s in true:
        if s.region is not None:
            out.region_true[s.region] += 1
    for ti, di in pairs:
        s = true[ti]
        if s.region is None:
            continue
        called = str(detected[di]["direction"])
        out.region_matched[s.region] += 1
        named = detected[di].get("region")
        if named is not None:
            out.region_named[s.region] += 1
            out.region_named_right[s.region] += named == s.region
        out.region_direction_correct[s.region] += called == s.direction
        if s.direction == "distal":
            out.region_distal_matched[s.region] += 1
            out.region_distal_called[s.region] += called == "distal"


def score_false_strokes(
    detected: Sequence[Mapping[str, Any]], matched: set[int], truth: Truth, out: Score
) -> None:
    if truth.massage_free:
        out.massage_free_minutes = max(0.0, truth.active_to_s - truth.active_from_s) / 60.0
        out.massage_free_strokes = len(detected)
        out.massage_free_distal = sum(1 for e in detected if e.get("direction") == "distal")
    for kind, a, b in truth.movements:
        lo, hi = max(a, truth.active_from_s), min(b, truth.active_to_s)
        if hi > lo:
            out.movement_ms[kind] += round((hi - lo) * 1000.0)
    for di, e in enumerate(detected):
        if di in matched:
            continue
        mid = 0.5 * (float(e["t_start"]) + float(e["t_end"]))
        for kind, a, b in truth.movements:
            if a - MOVEMENT_PAD_S <= mid <= b + MOVEMENT_PAD_S:
                out.movement_false[kind] += 1
                out.movement_false_at.append(
                    (kind, float(e["t_start"]), float(e["t_end"]), str(e.get("direction")))
                )
                break


def _bouts(strokes: Sequence[TrueStroke]) -> list[list[TrueStroke]]:
    ordered = sorted(strokes, key=lambda s: s.t_start_s)
    bouts: list[list[TrueStroke]] = []
    for s in ordered:
        if bouts and s.t_start_s - bouts[-1][-1].t_start_s < BOUT_GAP_S:
            bouts[-1].append(s)
        else:
            bouts.append([s])
    return bouts


def score_cues(events: Sequence[Mapping[str, Any]], truth: Truth, out: Score) -> None:
    cues = [float(e["t"]) for e in events if e.get("type") == "cue" and e.get("code") == CUE_CODE]
    distal_ends = np.array([s.t_end_s for s in truth.strokes if s.direction == "distal"], dtype=np.float64)
    correct_spans = [
        (b[0].t_start_s, max(s.t_end_s for s in b) + CUE_LOOKBACK_S)
        for b in _bouts(truth.strokes)
        if all(s.direction == "proximal" for s in b)
    ]
    out.correct_massage_s = float(sum(hi - lo for lo, hi in correct_spans))
    for t in cues:
        ok = bool(np.any((distal_ends >= t - CUE_LOOKBACK_S) & (distal_ends <= t + 0.1)))
        out.cues_direction += 1
        out.cues_direction_correct += ok
        if not ok and any(lo <= t <= hi for lo, hi in correct_spans):
            out.cues_wrong_in_correct += 1


def score_strap_wrist(events: Sequence[Mapping[str, Any]], truth: Truth, out: Score) -> None:
    from benchmarks.scoring import _latest_values

    p = truth.posture
    if p is None or p.wrist_neutral is None or p.wrist_observable is None or not truth.strap_events:
        return
    sel = np.zeros(p.t_s.shape, dtype=bool)
    for a, _ in truth.strap_events:
        sel |= (p.t_s >= a) & (p.t_s < min(a + STRAP_WINDOW_S, truth.active_to_s))
    sel &= p.wrist_observable & (p.t_s >= truth.active_from_s)
    if not sel.any():
        return
    neutral, has = _latest_values(events, p.t_s[sel], "wrist_neutral")
    out.strap_wrist_scored = int(sel.sum())
    out.strap_wrist_agree = int(np.count_nonzero(has & ((neutral > 0.5) == p.wrist_neutral[sel])))
