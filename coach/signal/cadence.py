"""Cadence, as defined in docs/design.md §5 (pure functions of stroke start times).

- A *bout* is a run of strokes whose start-to-start gaps are all under 10 s.
- Active stroking time = Σ over bouts of (last start − first start + the bout's median start-to-start
  period); a one-stroke bout counts 0.
- Summary ``mean_cadence_spm`` = 60 · (strokes in bouts of ≥ 2) / active time.
- Live cadence = 60 · (n − 1) / (last start − first start) over the stroke starts in the last 30 s
  (n ≥ 2), sent as a ``cadence`` event after each stroke.

:func:`mean_cadence_spm` is the definition, exactly (the benchmarks score against it on the true
strokes). The summary reports :func:`estimate_mean_cadence`: the same definition applied to the
strokes the coach found, with the rhythm's corrections for the strokes the sensors missed or split
(docs/strokes.md, "Issue 9: cadence estimate").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coach.samples import FloatArray
from coach.signal.median import median_1d

BOUT_GAP_S = 10.0
LIVE_WINDOW_S = 30.0

# The rhythm-aware estimate (:func:`estimate_mean_cadence`); tuned on the tune seeds of the physics
# families (docs/strokes.md, "Issue 9: cadence estimate").
#: A gap within ± this share of k periods counts as k periods.
RHYTHM_TOL = 0.35
#: Bouts of fewer detected strokes keep the definition as it is.
RHYTHM_MIN_STROKES = 3
#: In a bout the sensors see fully, a gap of about 2 periods is one missed stroke; 3 periods or more is a
#: pause the patient made (a pause of 2 periods is never filled).
RHYTHM_MAX_PERIODS = 2
#: A bout is seen fully when at least this share of its gaps is one period.
RHYTHM_STEADY_SHARE = 0.8
#: In a bout where the sensors miss strokes (fewer one-period gaps), gaps up to this many periods are
#: missed strokes.
RHYTHM_MAX_PERIODS_MISSING = 4
#: A start less than this share of a period after the last is the same stroke found twice (unless the
#: two go opposite ways: a helper's pressed return is a stroke of its own).
RHYTHM_SPLIT_SHARE = 0.45


#: The cadence confidence gate (:func:`cadence_trusted`, :func:`live_cadence_trusted`): the summary's
#: cadence is trusted only when at least this many gaps between found starts lie in bouts of ≥
#: :data:`RHYTHM_MIN_STROKES` ...
TRUST_MIN_GAPS = 16
#: ... and at least this share of them is one period of the bout's rhythm. Where strokes go missing or
#: split, the gaps stop being one period and the estimate's corrections are guesses. Both chosen on the
#: tune seeds (``python -m benchmarks.cadence_gate``; docs/strokes.md, "Issue 9: a cadence confidence gate").
TRUST_MIN_SHARE = 0.75
#: The live gate reads the gaps of the starts in the live window (:data:`LIVE_WINDOW_S`) with the same
#: share, from this many gaps on (the first strokes of a bout are never trusted).
LIVE_TRUST_MIN_GAPS = 3


def bouts(starts_s: Sequence[float] | FloatArray) -> list[FloatArray]:
    """Split sorted stroke start times into bouts (gaps < :data:`BOUT_GAP_S`)."""
    starts = np.sort(np.asarray(starts_s, dtype=np.float64))
    if starts.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(starts) >= BOUT_GAP_S) + 1
    return list(np.split(starts, cuts))


def active_stroking_s(starts_s: Sequence[float] | FloatArray) -> float:
    """Σ over bouts of (last − first start + median period); one-stroke bouts count 0."""
    total = 0.0
    for bout in bouts(starts_s):
        if bout.size >= 2:
            total += float(bout[-1] - bout[0] + median_1d(np.diff(bout)))
    return total


def mean_cadence_spm(starts_s: Sequence[float] | FloatArray) -> float | None:
    """Summary cadence (strokes/min) or ``None`` when no bout has two strokes."""
    active = active_stroking_s(starts_s)
    if active <= 0:
        return None
    in_bouts = sum(int(b.size) for b in bouts(starts_s) if b.size >= 2)
    return 60.0 * in_bouts / active


def _rhythm(gaps: FloatArray) -> tuple[float, FloatArray] | None:
    """The rhythm's period (the median of the gaps within :data:`RHYTHM_TOL` of the median gap) and the
    gaps in periods, or ``None`` when the median gap is not positive."""
    period = median_1d(gaps)
    if not period > 0.0:
        return None
    near = gaps[np.abs(gaps / period - 1.0) <= RHYTHM_TOL]
    if near.size:
        period = median_1d(near)
    return period, gaps / period


def live_cadence_trusted(starts_s: Sequence[float] | FloatArray, now_s: float) -> bool:
    """Whether the live cadence at ``now_s`` has a rhythm to stand on: the starts in its window have at
    least :data:`LIVE_TRUST_MIN_GAPS` gaps and :data:`TRUST_MIN_SHARE` of them are one period."""
    starts = np.sort(np.asarray(starts_s, dtype=np.float64))
    recent = starts[(starts > now_s - LIVE_WINDOW_S) & (starts <= now_s)]
    if recent.size < LIVE_TRUST_MIN_GAPS + 1:
        return False
    rhythm = _rhythm(np.diff(recent))
    return rhythm is not None and float(np.mean(np.abs(rhythm[1] - 1.0) <= RHYTHM_TOL)) >= TRUST_MIN_SHARE


def live_cadence_spm(starts_s: Sequence[float] | FloatArray, now_s: float) -> float | None:
    """Live cadence at ``now_s`` over the starts in ``(now_s − 30 s, now_s]``; ``None`` if fewer than 2."""
    starts = np.sort(np.asarray(starts_s, dtype=np.float64))
    recent = starts[(starts > now_s - LIVE_WINDOW_S) & (starts <= now_s)]
    if recent.size < 2 or recent[-1] <= recent[0]:
        return None
    return 60.0 * (recent.size - 1) / float(recent[-1] - recent[0])


@dataclass(frozen=True, slots=True)
class CadenceEstimate:
    """The summary's cadence estimate: strokes/min (``None`` when no bout has two strokes), the strokes
    counted in bouts of ≥ 2 after the rhythm's corrections, and the corrections themselves."""

    spm: float | None
    strokes_counted: int
    strokes_inferred: int
    starts_merged: int
    #: Gaps between found starts inside bouts of at least :data:`RHYTHM_MIN_STROKES`, and how many of
    #: them are one period (within :data:`RHYTHM_TOL`): the evidence :func:`cadence_trusted` weighs.
    rhythm_gaps: int = 0
    one_period_gaps: int = 0


def estimate_mean_cadence(
    starts_s: Sequence[float] | FloatArray, directions: Sequence[str] | None = None
) -> CadenceEstimate:
    """The §5 mean cadence of the strokes the patient made, estimated from the strokes the coach found.

    Per bout (as :func:`bouts`) of at least :data:`RHYTHM_MIN_STROKES` starts: the period is the median
    of the gaps within :data:`RHYTHM_TOL` of the median gap (the bout's rhythm); a gap of about k periods
    (k ≤ :data:`RHYTHM_MAX_PERIODS`, or ≤ :data:`RHYTHM_MAX_PERIODS_MISSING` when fewer than
    :data:`RHYTHM_STEADY_SHARE` of the gaps are one period) counts k − 1 strokes the sensors missed; a
    start within :data:`RHYTHM_SPLIT_SHARE` of a period of the last is not counted again, unless
    ``directions`` (one per start, in the same order) says the two went opposite ways (``proximal`` and
    ``distal``). The active time is the bout's span plus that period. Shorter bouts count as the
    definition counts them.
    """
    t = np.asarray(starts_s, dtype=np.float64)
    if directions is not None and len(directions) != t.size:
        raise ValueError("one direction per stroke start")
    order = np.argsort(t, kind="stable")
    t = t[order]
    dirs = None if directions is None else [directions[i] for i in order]
    counted = 0
    inferred = 0
    merged = 0
    rhythm_gaps = 0
    one_period = 0
    active = 0.0
    first = 0
    for bout in bouts(t):
        i0, first = first, first + int(bout.size)
        if bout.size < 2:
            continue
        gaps = np.diff(bout)
        period = median_1d(gaps)
        n = int(bout.size)
        rhythm = _rhythm(gaps) if bout.size >= RHYTHM_MIN_STROKES else None
        if rhythm is not None:
            period, r = rhythm
            k = np.rint(r)
            ones = int(np.count_nonzero(np.abs(r - 1.0) <= RHYTHM_TOL))
            rhythm_gaps += int(r.size)
            one_period += ones
            steady = ones / r.size
            k_max = RHYTHM_MAX_PERIODS if steady >= RHYTHM_STEADY_SHARE else RHYTHM_MAX_PERIODS_MISSING
            fill = (k >= 2) & (k <= k_max) & (np.abs(r - k) <= RHYTHM_TOL)
            add = int(np.sum(k[fill] - 1.0))
            split = r < RHYTHM_SPLIT_SHARE
            if dirs is not None:
                for j in np.flatnonzero(split):
                    if {dirs[i0 + j], dirs[i0 + j + 1]} == {"proximal", "distal"}:
                        split[j] = False
            drop = int(np.count_nonzero(split))
            inferred += add
            merged += drop
            n += add - drop
        counted += n
        active += float(bout[-1] - bout[0] + period)
    spm = 60.0 * counted / active if active > 0 else None
    return CadenceEstimate(spm, counted if spm is not None else 0, inferred, merged, rhythm_gaps, one_period)


def cadence_trusted(estimate: CadenceEstimate) -> bool:
    """Whether the summary's cadence estimate has a rhythm to stand on (the cadence confidence gate): at
    least :data:`TRUST_MIN_GAPS` gaps in bouts of ≥ :data:`RHYTHM_MIN_STROKES` found starts, of which
    :data:`TRUST_MIN_SHARE` are one period. Otherwise the summary abstains (docs/events.md)."""
    return (
        estimate.spm is not None
        and estimate.rhythm_gaps >= TRUST_MIN_GAPS
        and estimate.one_period_gaps >= TRUST_MIN_SHARE * estimate.rhythm_gaps
    )
