"""Accuracy scoring of docs/design.md §9, usable on any labelled recording (simulated or real).

Inputs are the coach's events (docs/design.md §7 dicts, as ``coach replay`` prints them) and a
:class:`Truth`: true strokes (contact start, end, direction), a 10 Hz posture truth, and the active
session (after calibration). :func:`score_session` gives a :class:`Score` of raw counts; scores add up
(``sum(scores, Score())``) so that corpus figures are pooled over strokes and time, not averaged
over sessions.

Definitions (docs/design.md §9, and the decisions it leaves open, also in docs/strokes.md):

- **Strokes.** A detected stroke matches a true one when their intervals overlap by at least 50 % of
  the shorter one; matching is one to one (a maximum matching, ties broken by overlap). Precision,
  recall and F1 over all strokes; beside them the same over the regions the sensor set can see (true
  strokes in a region the session's summary lists as unjudged in ``checks_off``, and the detected
  strokes matched to them, are left out: :data:`benchmarks.scoring_families.UNSEEN_REGIONS`).
  Direction accuracy over matched strokes, ``unknown`` counting as
  wrong. Distal recall: among matched true-distal strokes, the share called ``distal`` (so that a
  detector that always says ``proximal`` shows).
- **Stroke latency.** Event ``t`` − true ``t_end`` over matched strokes (p95 against 0.5 s).
- **Posture.** At each 10 Hz truth time of the active session, the latest ``posture`` event with
  ``t`` ≤ that time. Where the truth is observable a ``null`` (or no event yet) counts as wrong in the
  agreements; the angle MAEs are over the times that have a value (their coverage is reported beside).
  Every truth time weighs the same (0.1 s), so agreements are time-weighted.
- **Posture change latency.** For each change of the true ``elevated`` (or ``wrist_neutral``) whose new
  state then holds for at least :data:`CHANGE_HOLD_S`, the time until the reported state equals the
  new state (0 when it already did). A change the coach never reports before the truth changes again
  counts as missed (infinite latency).
- **Cadence.** Summary ``mean_cadence_spm`` against the §5 cadence of the true stroke starts (absolute
  error per session where the summary gave one, with the coverage: the share of sessions it did not
  abstain in; beside it, against the §5 cadence of the true strokes in the regions the sensor
  set can see, :func:`benchmarks.scoring_families.score_cadence_seen`); live ``cadence`` events
  against the live cadence of the true strokes that had ended by the event's ``t``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from coach.signal.cadence import live_cadence_spm, mean_cadence_spm

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: docs/design.md §9: two strokes match when they overlap by at least this share of the shorter one.
MIN_OVERLAP_OF_SHORTER: Final = 0.5
#: A truth posture change counts for the latency figure only if its new state holds this long.
CHANGE_HOLD_S: Final = 2.0
POSTURE_TRUTH_HZ: Final = 10.0


@dataclass(frozen=True, slots=True)
class TrueStroke:
    """One true stroke: contact start and end (s), ``proximal`` or ``distal``, and its region if known."""

    t_start_s: float
    t_end_s: float
    direction: str
    region: str | None = None


@dataclass(frozen=True, slots=True)
class PostureTruth:
    """Posture truth on a uniform 10 Hz grid.

    ``observable`` marks the times where elevation is observable (the ``treated`` sensor is sending);
    ``wrist_observable`` where the wrist is (``treated`` and ``hand`` sending), or ``None`` when the
    session has no ``hand`` sensor (the wrist check is then off and not scored).
    """

    t_s: FloatArray
    elevated: BoolArray
    elevation_deg: FloatArray
    observable: BoolArray
    wrist_neutral: BoolArray | None = None
    flexion_deg: FloatArray | None = None
    wrist_observable: BoolArray | None = None


@dataclass(frozen=True, slots=True)
class Truth:
    """What a labelled recording says happened, over the active session ``[active_from_s, active_to_s)``.

    ``movements``: ordinary movement that is not massage, as ``(kind, start, end)``; ``strap_events``:
    times the treated or hand device turned on its strap (a tug or for good); ``massage_free``: the
    recording has no massage at all (every stroke is false).
    """

    strokes: tuple[TrueStroke, ...]
    posture: PostureTruth | None
    active_from_s: float
    active_to_s: float
    movements: tuple[tuple[str, float, float], ...] = ()
    strap_events: tuple[tuple[float, float], ...] = ()
    massage_free: bool = False


@dataclass(slots=True)
class Score:
    """Raw counts of one session or of a pooled corpus; add scores with ``+`` or :meth:`pooled`."""

    sessions: int = 0
    strokes_true: int = 0
    strokes_detected: int = 0
    strokes_matched: int = 0
    direction_correct: int = 0
    direction_unknown: int = 0
    true_distal: int = 0
    true_distal_matched: int = 0
    distal_called_distal: int = 0
    stroke_latencies_s: list[float] = field(default_factory=list)
    stroke_confidences: list[float] = field(default_factory=list)  # of every detected stroke
    stroke_confidence_ok: list[bool] = field(default_factory=list)  # matched with the right direction
    elevated_scored: int = 0
    elevated_agree: int = 0
    elevated_null: int = 0
    elevation_abs_err_sum_deg: float = 0.0
    elevation_err_count: int = 0
    wrist_scored: int = 0
    wrist_agree: int = 0
    wrist_null: int = 0
    flexion_abs_err_sum_deg: float = 0.0
    flexion_err_count: int = 0
    elevated_change_latencies_s: list[float] = field(default_factory=list)
    wrist_change_latencies_s: list[float] = field(default_factory=list)
    cadence_abs_err_spm: list[float] = field(default_factory=list)
    cadence_missing: int = 0  # sessions where exactly one of true and reported cadence is defined
    cadence_sessions: int = 0  # sessions with a true cadence; of them, the summary gave a cadence in:
    cadence_given: int = 0  # (the rest it abstained: the cadence confidence gate, or too few strokes)
    # Beside it: against the cadence of the true strokes in the regions the sensor set can see.
    cadence_seen_abs_err_spm: list[float] = field(default_factory=list)
    live_cadence_abs_err_spm: list[float] = field(default_factory=list)
    # Live cadence events, those marked trusted, and the trusted ones' errors (scoring_families.py).
    live_cadence_events: int = 0
    live_cadence_trusted: int = 0
    live_cadence_trusted_abs_err_spm: list[float] = field(default_factory=list)
    # Regions, ordinary movement, cues and strap events (benchmarks/scoring_families.py).
    region_true: Counter[str] = field(default_factory=Counter)
    region_matched: Counter[str] = field(default_factory=Counter)
    region_direction_correct: Counter[str] = field(default_factory=Counter)
    region_distal_matched: Counter[str] = field(default_factory=Counter)
    region_distal_called: Counter[str] = field(default_factory=Counter)
    region_named: Counter[str] = field(default_factory=Counter)  # matched strokes whose event names a region
    region_named_right: Counter[str] = field(default_factory=Counter)  # ... and names the true one
    # Per matched stroke: (true region or "", latency, detected − true end, detected − true start), s.
    stroke_timing_s: list[tuple[str, float, float, float]] = field(default_factory=list)
    # Strokes in the regions the sensor set can see (the summary's ``checks_off``; scoring_families.py).
    seen_true: int = 0
    seen_detected: int = 0
    seen_matched: int = 0
    massage_free_minutes: float = 0.0
    massage_free_strokes: int = 0
    massage_free_distal: int = 0  # of those, called distal (each would cue the wrong way)
    movement_ms: Counter[str] = field(default_factory=Counter)  # milliseconds of movement per kind
    movement_false: Counter[str] = field(default_factory=Counter)
    # each of those false strokes: kind of movement, the stroke's start and end (s), direction called
    movement_false_at: list[tuple[str, float, float, str]] = field(default_factory=list)
    cues_direction: int = 0
    cues_direction_correct: int = 0
    cues_wrong_in_correct: int = 0
    correct_massage_s: float = 0.0
    strap_wrist_scored: int = 0
    strap_wrist_agree: int = 0

    def __add__(self, other: Score) -> Score:
        out = Score()
        for f in fields(Score):
            a, b = getattr(self, f.name), getattr(other, f.name)
            setattr(out, f.name, a + b)  # ints, floats and lists all add
        return out

    @staticmethod
    def pooled(scores: Iterable[Score]) -> Score:
        total = Score()
        for s in scores:
            total = total + s
        return total

    # -- strokes ----------------------------------------------------------------------------
    @property
    def precision(self) -> float:
        return _ratio(self.strokes_matched, self.strokes_detected)

    @property
    def recall(self) -> float:
        return _ratio(self.strokes_matched, self.strokes_true)

    @property
    def f1(self) -> float:
        denom = self.strokes_detected + self.strokes_true
        return _ratio(2 * self.strokes_matched, denom)

    @property
    def f1_seen(self) -> float:
        """F1 over the regions the session's sensors can see (issue 9: the target's definition)."""
        return _ratio(2 * self.seen_matched, self.seen_detected + self.seen_true)

    @property
    def recall_seen(self) -> float:
        return _ratio(self.seen_matched, self.seen_true)

    @property
    def direction_accuracy(self) -> float:
        return _ratio(self.direction_correct, self.strokes_matched)

    @property
    def distal_recall(self) -> float:
        return _ratio(self.distal_called_distal, self.true_distal_matched)

    @property
    def stroke_latency_p95_s(self) -> float:
        return _percentile(self.stroke_latencies_s, 95.0)

    # -- posture ----------------------------------------------------------------------------
    @property
    def elevated_agreement(self) -> float:
        return _ratio(self.elevated_agree, self.elevated_scored)

    @property
    def elevation_mae_deg(self) -> float:
        return _ratio(self.elevation_abs_err_sum_deg, self.elevation_err_count)

    @property
    def elevation_coverage(self) -> float:
        return _ratio(self.elevation_err_count, self.elevated_scored)

    @property
    def wrist_agreement(self) -> float:
        return _ratio(self.wrist_agree, self.wrist_scored)

    @property
    def flexion_mae_deg(self) -> float:
        return _ratio(self.flexion_abs_err_sum_deg, self.flexion_err_count)

    @property
    def elevated_change_p95_s(self) -> float:
        return _percentile(self.elevated_change_latencies_s, 95.0)

    @property
    def wrist_change_p95_s(self) -> float:
        return _percentile(self.wrist_change_latencies_s, 95.0)

    # -- cadence ----------------------------------------------------------------------------
    @property
    def cadence_mae_spm(self) -> float:
        return float(np.mean(self.cadence_abs_err_spm)) if self.cadence_abs_err_spm else math.nan

    @property
    def cadence_max_err_spm(self) -> float:
        return float(np.max(self.cadence_abs_err_spm)) if self.cadence_abs_err_spm else math.nan

    @property
    def cadence_seen_mae_spm(self) -> float:
        errs = self.cadence_seen_abs_err_spm
        return float(np.mean(errs)) if errs else math.nan

    @property
    def live_cadence_mae_spm(self) -> float:
        errs = self.live_cadence_abs_err_spm
        return float(np.mean(errs)) if errs else math.nan

    # -- regions, movement, cues, straps ----------------------------------------------------
    def region_recall(self, region: str) -> float:
        return _ratio(self.region_matched[region], self.region_true[region])

    def region_direction_accuracy(self, region: str) -> float:
        return _ratio(self.region_direction_correct[region], self.region_matched[region])

    @property
    def forearm_direction_accuracy(self) -> float:
        """Direction accuracy over matched strokes on the forearm: those labelled ``forearm`` and those
        without a region label (sessions outside the regions family stroke the forearm up to the wrist)."""
        labelled_matched = sum(self.region_matched.values())
        labelled_correct = sum(self.region_direction_correct.values())
        matched = self.region_matched["forearm"] + self.strokes_matched - labelled_matched
        correct = self.region_direction_correct["forearm"] + self.direction_correct - labelled_correct
        return _ratio(correct, matched)

    def region_distal_recall(self, region: str) -> float:
        return _ratio(self.region_distal_called[region], self.region_distal_matched[region])

    def region_latency_p95_s(self, region: str) -> float:
        return _percentile([lat for r, lat, _, _ in self.stroke_timing_s if r == region], 95.0)

    def region_named_share(self, region: str) -> float:
        """Of the matched strokes of ``region``, the share whose event names a region."""
        return _ratio(self.region_named[region], self.region_matched[region])

    def region_named_accuracy(self, region: str) -> float:
        """Of the matched strokes of ``region`` whose event names a region, the share named right."""
        return _ratio(self.region_named_right[region], self.region_named[region])

    @property
    def massage_free_false_per_min(self) -> float:
        """Strokes reported per minute of recordings without any massage."""
        return _ratio(self.massage_free_strokes, self.massage_free_minutes)

    def movement_false_per_min(self, kind: str | None = None) -> float:
        """False strokes per minute of ordinary movement (of one kind, or of all)."""
        if kind is None:
            return _ratio(sum(self.movement_false.values()), sum(self.movement_ms.values()) / 60000.0)
        return _ratio(self.movement_false[kind], self.movement_ms[kind] / 60000.0)

    @property
    def cue_precision(self) -> float:
        """Share of "stroke toward your elbow" cues given while the recent true strokes were distal."""
        return _ratio(self.cues_direction_correct, self.cues_direction)

    @property
    def wrong_cues_per_10min(self) -> float:
        """Direction cues per 10 minutes of correct (all-proximal) massage."""
        return _ratio(self.cues_wrong_in_correct, self.correct_massage_s / 600.0)

    @property
    def strap_wrist_agreement(self) -> float:
        """Wrist-neutral agreement in the two minutes after each strap tug or turn."""
        return _ratio(self.strap_wrist_agree, self.strap_wrist_scored)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    # ``inverted_cdf``: an observed value (no interpolation), and infinities (missed) stay infinite.
    return float(np.percentile(np.asarray(values, dtype=np.float64), q, method="inverted_cdf"))


# --------------------------------------------------------------------------------------------------
# Strokes


def match_strokes(
    true_iv: FloatArray, det_iv: FloatArray, min_overlap: float = MIN_OVERLAP_OF_SHORTER
) -> list[tuple[int, int]]:
    """One-to-one matches ``(true index, detected index)`` between two sets of intervals (n, 2).

    A pair is a candidate when the intervals overlap by at least ``min_overlap`` of the shorter one.
    Among candidates the matching has the most pairs (ties: the largest total overlap share), found
    per connected group of candidates with the Hungarian method.
    """
    true_iv = np.asarray(true_iv, dtype=np.float64).reshape(-1, 2)
    det_iv = np.asarray(det_iv, dtype=np.float64).reshape(-1, 2)
    if true_iv.size == 0 or det_iv.size == 0:
        return []
    lo = np.maximum(true_iv[:, None, 0], det_iv[None, :, 0])
    hi = np.minimum(true_iv[:, None, 1], det_iv[None, :, 1])
    overlap = np.clip(hi - lo, 0.0, None)
    shorter = np.minimum((true_iv[:, 1] - true_iv[:, 0])[:, None], (det_iv[:, 1] - det_iv[:, 0])[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(shorter > 0, overlap / shorter, 0.0)
    candidate = (share >= min_overlap) & (overlap > 0)
    ti, di = np.nonzero(candidate)
    if ti.size == 0:
        return []
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_t, n_d = true_iv.shape[0], det_iv.shape[0]
    graph = coo_matrix((np.ones(ti.size), (ti, n_t + di)), shape=(n_t + n_d, n_t + n_d))
    _, label = connected_components(graph, directed=False)
    pairs: list[tuple[int, int]] = []
    comp_of_edge = label[ti]
    for comp in np.unique(comp_of_edge):
        sel = comp_of_edge == comp
        rows, cols = np.unique(ti[sel]), np.unique(di[sel])
        if rows.size == 1 and cols.size == 1:
            pairs.append((int(rows[0]), int(cols[0])))
            continue
        sub_ok = candidate[np.ix_(rows, cols)]
        weight = np.where(sub_ok, 1.0 + 1e-3 * share[np.ix_(rows, cols)], 0.0)
        r, c = linear_sum_assignment(weight, maximize=True)
        for a, b in zip(r, c, strict=True):
            if sub_ok[a, b]:
                pairs.append((int(rows[a]), int(cols[b])))
    return sorted(pairs)


def _score_strokes(events: Sequence[Mapping[str, Any]], truth: Truth, out: Score) -> None:
    detected = [e for e in events if e.get("type") == "stroke"]
    true = list(truth.strokes)
    out.strokes_true = len(true)
    out.strokes_detected = len(detected)
    out.true_distal = sum(1 for s in true if s.direction == "distal")
    true_iv = np.array([[s.t_start_s, s.t_end_s] for s in true], dtype=np.float64).reshape(-1, 2)
    det_iv = np.array([[float(e["t_start"]), float(e["t_end"])] for e in detected], dtype=np.float64).reshape(
        -1, 2
    )
    pairs = match_strokes(true_iv, det_iv)
    out.strokes_matched = len(pairs)
    ok_by_det = [False] * len(detected)
    for ti, di in pairs:
        s, e = true[ti], detected[di]
        called = str(e["direction"])
        if called == s.direction:
            out.direction_correct += 1
            ok_by_det[di] = True
        if called == "unknown":
            out.direction_unknown += 1
        if s.direction == "distal":
            out.true_distal_matched += 1
            out.distal_called_distal += called == "distal"
        out.stroke_latencies_s.append(float(e["t"]) - s.t_end_s)
        out.stroke_timing_s.append(
            (
                s.region or "",
                float(e["t"]) - s.t_end_s,
                float(e["t_end"]) - s.t_end_s,
                float(e["t_start"]) - s.t_start_s,
            )
        )
    out.stroke_confidences = [float(e.get("confidence", math.nan)) for e in detected]
    out.stroke_confidence_ok = ok_by_det
    from benchmarks.scoring_families import score_false_strokes, score_regions, score_seen

    score_regions(true, detected, pairs, out)
    score_seen(events, true, len(detected), pairs, out)
    score_false_strokes(detected, {di for _, di in pairs}, truth, out)


# --------------------------------------------------------------------------------------------------
# Posture


def _latest_values(
    events: Sequence[Mapping[str, Any]], t_s: FloatArray, key: str
) -> tuple[FloatArray, BoolArray]:
    """The value of ``key`` in the latest posture event at each time (NaN where none/null) and a mask
    of where a value exists. Booleans come back as 0.0/1.0."""
    posture = [e for e in events if e.get("type") == "posture"]
    ev_t = np.array([float(e["t"]) for e in posture], dtype=np.float64)
    vals = np.array([math.nan if e.get(key) is None else float(e[key]) for e in posture], dtype=np.float64)
    idx = np.searchsorted(ev_t, t_s, side="right") - 1
    got = np.full(t_s.shape, math.nan)
    has_event = idx >= 0
    got[has_event] = vals[idx[has_event]]
    return got, np.isfinite(got)


def _change_latencies(
    t_s: FloatArray,
    truth_state: BoolArray,
    observable: BoolArray,
    events: Sequence[Mapping[str, Any]],
    key: str,
) -> list[float]:
    """Latency of each truth change of ``key`` whose new state holds ≥ CHANGE_HOLD_S (inf if missed)."""
    if t_s.size < 2:
        return []
    posture = [e for e in events if e.get("type") == "posture"]
    ev_t = np.array([float(e["t"]) for e in posture], dtype=np.float64)
    ev_v = np.array([math.nan if e.get(key) is None else float(e[key]) for e in posture], dtype=np.float64)
    state = truth_state.astype(np.int8)
    change = np.flatnonzero(np.diff(state) != 0) + 1  # first index of each new state
    bounds = np.append(change, t_s.size)
    out: list[float] = []
    for k, i in enumerate(change):
        j_end = bounds[k + 1]  # the truth changes again here
        t_change, t_next = float(t_s[i]), float(t_s[j_end - 1]) + 1.0 / POSTURE_TRUTH_HZ
        if t_next - t_change < CHANGE_HOLD_S or not bool(np.all(observable[i:j_end])):
            continue
        new = float(state[i])
        # Reported state at the change, then every report up to the next truth change.
        before = np.searchsorted(ev_t, t_change, side="right") - 1
        if before >= 0 and ev_v[before] == new:
            out.append(0.0)
            continue
        later = np.flatnonzero((ev_t > t_change) & (ev_t < t_next) & (ev_v == new))
        out.append(float(ev_t[later[0]] - t_change) if later.size else math.inf)
    return out


def _score_posture(events: Sequence[Mapping[str, Any]], truth: Truth, out: Score) -> None:
    p = truth.posture
    if p is None:
        return
    active = (p.t_s >= truth.active_from_s) & (p.t_s < truth.active_to_s)
    sel = active & p.observable
    t = p.t_s[sel]
    elevated, has_elevated = _latest_values(events, t, "elevated")
    elevation, has_elevation = _latest_values(events, t, "elevation_deg")
    out.elevated_scored = int(t.size)
    out.elevated_null = int(np.count_nonzero(~has_elevated))
    out.elevated_agree = int(np.count_nonzero(has_elevated & ((elevated > 0.5) == p.elevated[sel])))
    err = np.abs(elevation[has_elevation] - p.elevation_deg[sel][has_elevation])
    out.elevation_abs_err_sum_deg = float(err.sum())
    out.elevation_err_count = int(err.size)
    out.elevated_change_latencies_s = _change_latencies(
        p.t_s[active], p.elevated[active], p.observable[active], events, "elevated"
    )
    if p.wrist_neutral is None or p.wrist_observable is None:
        return
    wsel = active & p.wrist_observable
    tw = p.t_s[wsel]
    neutral, has_neutral = _latest_values(events, tw, "wrist_neutral")
    out.wrist_scored = int(tw.size)
    out.wrist_null = int(np.count_nonzero(~has_neutral))
    out.wrist_agree = int(np.count_nonzero(has_neutral & ((neutral > 0.5) == p.wrist_neutral[wsel])))
    if p.flexion_deg is not None:
        flexion, has_flexion = _latest_values(events, tw, "wrist_flexion_deg")
        ferr = np.abs(flexion[has_flexion] - p.flexion_deg[wsel][has_flexion])
        out.flexion_abs_err_sum_deg = float(ferr.sum())
        out.flexion_err_count = int(ferr.size)
    out.wrist_change_latencies_s = _change_latencies(
        p.t_s[active], p.wrist_neutral[active], p.wrist_observable[active], events, "wrist_neutral"
    )


# --------------------------------------------------------------------------------------------------
# Cadence


def _score_cadence(events: Sequence[Mapping[str, Any]], truth: Truth, out: Score) -> None:
    starts = np.array(sorted(s.t_start_s for s in truth.strokes), dtype=np.float64)
    true_spm = mean_cadence_spm(starts)
    summaries = [e for e in events if e.get("type") == "summary"]
    reported = summaries[-1].get("mean_cadence_spm") if summaries else None
    if true_spm is not None and reported is not None:
        out.cadence_abs_err_spm = [abs(float(reported) - true_spm)]
    elif (true_spm is None) != (reported is None):
        out.cadence_missing = 1
    out.cadence_sessions = int(true_spm is not None)
    out.cadence_given = int(true_spm is not None and reported is not None)
    ends = np.array([s.t_end_s for s in truth.strokes], dtype=np.float64)
    true_starts = np.array([s.t_start_s for s in truth.strokes], dtype=np.float64)
    for e in events:
        if e.get("type") != "cadence" or e.get("strokes_per_min") is None:
            continue
        t_e = float(e["t"])
        expect = live_cadence_spm(true_starts[ends <= t_e], t_e)
        if expect is not None:
            out.live_cadence_abs_err_spm.append(abs(float(e["strokes_per_min"]) - expect))


def score_session(events: Sequence[Mapping[str, Any]], truth: Truth) -> Score:
    """Score one session's events against its truth."""
    out = Score(sessions=1)
    _score_strokes(events, truth, out)
    _score_posture(events, truth, out)
    _score_cadence(events, truth, out)
    from benchmarks.scoring_families import (
        score_cadence_seen,
        score_cues,
        score_live_trust,
        score_strap_wrist,
    )

    score_cadence_seen(events, truth, out)
    score_live_trust(events, truth, out)
    score_cues(events, truth, out)
    score_strap_wrist(events, truth, out)
    return out


# --------------------------------------------------------------------------------------------------
# Sample gaps


def sample_gaps(t_s: FloatArray, max_step_s: float) -> list[tuple[float, float]]:
    """Intervals ``(last sample, next sample)`` where a sensor sent nothing for more than ``max_step_s``."""
    t = np.asarray(t_s, dtype=np.float64)
    if t.size < 2:
        return []
    i = np.flatnonzero(np.diff(t) > max_step_s)
    return [(float(t[k]), float(t[k + 1])) for k in i]


def outside(t_s: FloatArray, intervals: Sequence[tuple[float, float]], pad_s: float = 0.0) -> BoolArray:
    """True where ``t_s`` lies in none of ``intervals`` (each widened by ``pad_s`` at the end)."""
    ok = np.ones(np.shape(t_s), dtype=bool)
    for a, b in intervals:
        ok &= ~((t_s > a) & (t_s < b + pad_s))
    return ok
