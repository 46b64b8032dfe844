"""Posture on the pipeline's decision grid: elevation, forearm roll, wrist angles and their checks.

:class:`PostureEstimator` turns the filtered orientations of ``treated`` (and ``hand``) into the
posture quantities of docs/design.md §5 at the decision times of one span, vectorised over the span. The
only state carried between spans is the relative heading of the hand sensor (a
:class:`~coach.signal.wrist.HeadingOffsetTracker` updated once per block of decision points, about one
second), so any split of the session into spans gives the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.signal import quaternion as quat
from coach.signal.elevation import elevation_deg, is_elevated
from coach.signal.heading_rate import GATE_SIGMAS, RATE_SIGMA_RPS, StillWristRate
from coach.signal.posture_point import compute_point
from coach.signal.recalibration import RecalibrationWatch, rereferenced_treated_mount
from coach.signal.roles import Interpolated, RoleStream
from coach.signal.roll import MAX_ROLL_ELEVATION_DEG, arm_sign, raw_roll_deg, wrap_deg
from coach.signal.strap import HOLD_BLOCKS as STRAP_HOLD_BLOCKS
from coach.signal.strap import StrapTurnTracker, corrected_mounts
from coach.signal.wrist import (
    CONSTRAINT_TERMS,
    HeadingOffsetTracker,
    constraint_terms,
    heading_offset_to_align,
    is_neutral,
    neutral_whatever_the_turn,
    wrist_angles_deg,
)
from coach.trace.meta import Body

BoolArray = npt.NDArray[np.bool_]
#: Samples whose constraint residual changes by less than this per radian of δ are not used (tuned on
#: simulator seeds 0–29: 0.2; 0.4 starves the tracker).
MIN_CONSTRAINT_SENSITIVITY = 0.2
#: After a strap turn, the drift rate of the relative heading is at least this uncertain (rad/s). Was
#: the tracker's own starting value, 0.3°/s ("relearn the rate"); on the sensors family's tune seeds
#: 15000–15039 (with the twist step kept out of δ) 0 did better: wrist-neutral agreement within 2 min
#: after strap turns 0.920 -> 0.924, over whole sessions 0.921 -> 0.931 (the 30 seeds with turns): a
#: freed rate let δ run off after some turns faster than it learnt a new drift in others.
STRAP_RATE_SIGMA_RPS = 0.0
E_X = np.array([1.0, 0.0, 0.0])
E_Y = np.array([0.0, 1.0, 0.0])
E_Z = np.array([0.0, 0.0, 1.0])


@dataclass(slots=True)
class Thresholds:
    """The posture limits in force (docs/design.md §5 defaults; meta, config or commands change them)."""

    elevation_margin_m: float = 0.05
    wrist_flexion_deg: float = 15.0
    wrist_deviation_deg: float = 10.0


@dataclass(frozen=True, slots=True)
class PostureSetup:
    """What calibration fixed for the posture computation.

    Attributes:
        arm: ``left`` or ``right``.
        body: forearm length and elbow height.
        treated_mount_q: segment → sensor rotation of ``treated`` (``[w, x, y, z]``).
        roll_reference_deg: raw roll of the forearm in the ``still`` pose (0 without one).
        hand_mount_q: segment → sensor rotation of ``hand`` including the still-pose correction, or
            ``None`` without a hand sensor.
        heading_offset_rad: δ at the ``still`` pose, or ``None`` to take it at the first moment both
            sensors are seen (assuming a neutral wrist then).
        heading_offset_t_s: time of that δ.
    """

    arm: str
    body: Body
    treated_mount_q: FloatArray
    roll_reference_deg: float = 0.0
    hand_mount_q: FloatArray | None = None
    heading_offset_rad: float | None = None
    heading_offset_t_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PostureFrame:
    """Posture at the decision times of one span; NaN / ``observable`` False where unknown."""

    t_s: FloatArray
    treated_ok: BoolArray
    hand_ok: BoolArray
    elevation_deg: FloatArray
    roll_deg: FloatArray
    flexion_deg: FloatArray
    deviation_deg: FloatArray
    elevated: BoolArray
    neutral: BoolArray
    #: Rows after an ambiguous strap turn, where the wrist check can only say "neutral" (or null): the
    #: summary leaves them out of its wrist-neutral share, which they would otherwise raise. None: none.
    wrist_one_sided: BoolArray | None = None

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


class PostureEstimator:
    """Posture quantities per decision point (see the module docstring).

    Args:
        setup: calibration results.
        block_points: decision points per heading-tracker block.
        decision_hz: rate of the decision grid.
    """

    def __init__(self, setup: PostureSetup, block_points: int, decision_hz: float) -> None:
        self.setup = setup
        self.block_points = block_points
        self.decision_hz = decision_hz
        self._tracker: HeadingOffsetTracker | None = None
        if setup.hand_mount_q is not None and setup.heading_offset_rad is not None:
            self._tracker = HeadingOffsetTracker(setup.heading_offset_rad, t_s=setup.heading_offset_t_s)
        self._block = -1
        self._moments = _no_moments()
        self._moment_n = 0
        # The mountings in force: a strap turn re-references them (coach.signal.strap).
        self.treated_mount_q: FloatArray = setup.treated_mount_q
        self.hand_mount_q: FloatArray | None = setup.hand_mount_q
        self.strap = StrapTurnTracker()
        #: An ambiguous strap turn (both devices turned at once, :data:`coach.signal.strap.AMBIGUOUS_SHARE`)
        #: was found: from the next block on, until the next calibration, the wrist angles are null and
        #: the check says only "neutral" (where every split of the turn agrees) or null.
        self.wrist_uncertain = False
        #: After an ambiguous turn: the requests of the still pose and the search for it
        #: (:mod:`coach.signal.recalibration`); None when none is open.
        self.recalibration: RecalibrationWatch | None = None
        #: Cues of the re-calibration not yet said, ``(t, code)`` (the scheduler takes them).
        self.recalibration_cues: list[tuple[float, str]] = []
        self._recal_block = -1
        self._recal_parts: list[tuple[FloatArray, FloatArray]] = []
        self._twist_block = -1
        self._twist: list[FloatArray] = []  # times, and δ below, of the block's wrist samples
        self._twist_d: list[FloatArray] = []
        self._twist_qf: list[FloatArray] = []
        self._twist_qh: list[FloatArray] = []
        # The heading tracker at the end of recent blocks: a strap turn's blocks are taken back out.
        self._tracker_history: list[HeadingOffsetTracker | None] = []
        # A completed block's constraint moments (end time, moments, count), folded into the tracker
        # once the strap watcher has seen the block: not while a twist step is pending.
        self._fold: tuple[float, FloatArray, int, float | None] | None = None
        # The drift rate of δ seen while the wrist is still (coach.signal.heading_rate), per block.
        self._still_rate = StillWristRate()

    @property
    def heading_offset_rad(self) -> float | None:
        return None if self._tracker is None else self._tracker.delta_rad

    def compute(
        self,
        j: npt.NDArray[np.int64],
        t_s: FloatArray,
        treated: RoleStream,
        hand: RoleStream | None,
        thresholds: Thresholds,
    ) -> PostureFrame:
        """Posture at decision points ``j`` (consecutive indices) with times ``t_s``.

        Worked one heading block at a time, so a strap turn found at a block's end re-references the
        mountings from the next block on, whatever the split of the session into spans."""
        # Each role's orientation at every point of the span at once (row by row the same numbers as
        # per block); the blocks only matter with a wrist sensor (heading tracker, strap turns).
        tr = treated.interpolate(t_s)
        hd: Interpolated | None = None
        if hand is not None and self.hand_mount_q is not None and hand.tracker is not None:
            hd = hand.interpolate(t_s)
        else:
            return self._compute_part(j, t_s, tr, thresholds)
        return self._with_hand(j, t_s, tr, hd, thresholds)

    def _with_hand(
        self,
        j: npt.NDArray[np.int64],
        t_s: FloatArray,
        tr: Interpolated,
        hd: Interpolated,
        thresholds: Thresholds,
    ) -> PostureFrame:
        """A live step's one point in Python floats (:mod:`coach.signal.posture_point`, the same numbers),
        else :meth:`_compute_with_hand`."""
        if t_s.shape[0] == 1 and not self.wrist_uncertain and self.recalibration is None:
            return compute_point(self, j, t_s, tr, hd, thresholds)
        return self._compute_with_hand(j, t_s, tr, hd, thresholds)

    def _compute_with_hand(
        self,
        j: npt.NDArray[np.int64],
        t_s: FloatArray,
        tr: Interpolated,
        hd: Interpolated,
        thresholds: Thresholds,
    ) -> PostureFrame:
        """:meth:`_compute_part` block by block, but only what the heading tracker and the strap-turn
        watcher need (their state moves at block ends, and a strap turn changes the mountings from
        the next block on) is worked per block; the rest, row by row, once for the span: the same
        numbers as :meth:`_compute_part` per block."""
        s = self.setup
        n = t_s.shape[0]
        q_f = np.empty((n, 4))
        q_h = np.full((n, 4), np.nan)  # NaN where a block's wrist path did not run: flex, dev stay NaN
        delta = np.full(n, np.nan)
        hand_ok = hd.valid & tr.valid
        uncertain = np.zeros(n, bool)
        # The segment quaternions and constraint terms row by row for the rest of the span with the
        # mountings in force, worked out again only after a strap turn changes them (at a block's end).
        mounts: tuple[FloatArray, FloatArray | None] | None = None
        at = 0
        qf_rest = qh_rest = v_rest = np.empty((0, 4))
        for a, b in _block_runs(j, self.block_points):
            if b <= a:
                continue
            if mounts is None or mounts[0] is not self.treated_mount_q or mounts[1] is not self.hand_mount_q:
                mounts, at = (self.treated_mount_q, self.hand_mount_q), a
                qf_rest = quat.multiply(tr.quat[a:], self.treated_mount_q)
                if self.hand_mount_q is not None:
                    qh_rest = quat.multiply(hd.quat[a:], self.hand_mount_q)
                    v_rest = constraint_terms(quat.rotate(qf_rest, E_Y), quat.rotate(qh_rest, E_Z))
            qf = qf_rest[a - at : b - at]
            q_f[a:b] = qf
            uncertain[a:b] = self.wrist_uncertain
            ok = hand_ok[a:b]  # a view: updated in place
            # The tracker's blocks advance with time even when the wrist is not seen, so that any
            # split into spans updates it at the same block ends.
            if self.hand_mount_q is None or not (ok.any() or self._tracker is not None):
                ok[:] = False  # no wrist angles in this block (all False already without a mounting)
                continue
            qh = qh_rest[a - at : b - at]
            d = self._heading_offsets(j[a:b], t_s[a:b], qf, qh, ok, v_rest[a - at : b - at])
            ok &= np.isfinite(d)
            q_h[a:b], delta[a:b] = qh, d
            if s.heading_offset_rad is not None:
                # Only with a still-pose wrist reference does the twist start at zero.
                self._watch_strap(j[a:b], t_s[a:b], qf, qh, d, ok)
            self._fold_block()
            if self.recalibration is not None:
                self._watch_recalibration(j[a:b], t_s[a:b], tr.quat[a:b], hd.quat[a:b], ok)
        up = quat.rotate_inverse(q_f, E_Z)
        elev = elevation_deg(up)
        roll = arm_sign(s.arm) * wrap_deg(raw_roll_deg(up) - s.roll_reference_deg)
        roll = np.where(np.abs(elev) <= MAX_ROLL_ELEVATION_DEG, roll, np.nan)
        q_h_aligned = quat.multiply(quat.about_z(_nan_to_num(delta)), q_h)
        f, dv = wrist_angles_deg(q_f, q_h_aligned, s.arm)
        flex = np.where(hand_ok, f, np.nan)
        dev = np.where(hand_ok, dv, np.nan)
        elevated = tr.valid & is_elevated(elev, s.body, thresholds.elevation_margin_m)
        neutral = hand_ok & is_neutral(
            flex, dev, thresholds.wrist_flexion_deg, thresholds.wrist_deviation_deg
        )
        if uncertain.any():
            # After an ambiguous strap turn only the angles' magnitude is known: the check says
            # "neutral" where every split of the turn agrees, and is null elsewhere, as are the angles.
            unc = uncertain & hand_ok
            sure = neutral_whatever_the_turn(
                flex, dev, thresholds.wrist_flexion_deg, thresholds.wrist_deviation_deg
            )
            neutral = np.where(unc, sure, neutral)
            hand_ok = hand_ok & ~(unc & ~sure)
            flex = np.where(unc, np.nan, flex)
            dev = np.where(unc, np.nan, dev)
            return PostureFrame(t_s, tr.valid, hand_ok, elev, roll, flex, dev, elevated, neutral, uncertain)
        return PostureFrame(t_s, tr.valid, hand_ok, elev, roll, flex, dev, elevated, neutral)

    def _compute_part(
        self, j: npt.NDArray[np.int64], t_s: FloatArray, tr: Interpolated, thresholds: Thresholds
    ) -> PostureFrame:
        """Posture at points ``j`` without wrist angles (no wrist sensor tracked, or no mounting for
        it), from the forearm's orientation there: row by row, so the whole span at once."""
        s = self.setup
        q_f = quat.multiply(tr.quat, self.treated_mount_q)
        up = quat.rotate_inverse(q_f, E_Z)
        elev = elevation_deg(up)
        roll = arm_sign(s.arm) * wrap_deg(raw_roll_deg(up) - s.roll_reference_deg)
        roll = np.where(np.abs(elev) <= MAX_ROLL_ELEVATION_DEG, roll, np.nan)
        n = t_s.shape[0]
        flex = np.full(n, np.nan)
        dev = np.full(n, np.nan)
        hand_ok = np.zeros(n, bool)
        elevated = tr.valid & is_elevated(elev, s.body, thresholds.elevation_margin_m)
        neutral = hand_ok & is_neutral(
            flex, dev, thresholds.wrist_flexion_deg, thresholds.wrist_deviation_deg
        )
        return PostureFrame(t_s, tr.valid, hand_ok, elev, roll, flex, dev, elevated, neutral)

    def _watch_strap(
        self,
        j: npt.NDArray[np.int64],
        t_s: FloatArray,
        q_f: FloatArray,
        q_h: FloatArray,
        delta: FloatArray,
        ok: BoolArray,
    ) -> None:
        """Collect one block's wrist samples (times, δ, segment quaternions in each device's own earth
        frame); at the block's end, re-reference the mountings after a strap turn."""
        block = int(j[0]) // self.block_points
        if block != self._twist_block:
            self._twist_block, self._twist, self._twist_qf, self._twist_qh = block, [], [], []
            self._twist_d = []
        if ok.any():
            self._twist.append(t_s[ok])
            self._twist_d.append(delta[ok])
            self._twist_qf.append(q_f[ok])
            self._twist_qh.append(q_h[ok])
        if int(j[-1]) % self.block_points != self.block_points - 1:
            return
        end_t = (block + 1) * self.block_points / self.decision_hz
        tb, db = _joined(self._twist, 1), _joined(self._twist_d, 1)
        qf, qh = _joined(self._twist_qf, 4), _joined(self._twist_qh, 4)
        self._twist_block, self._twist, self._twist_qf, self._twist_qh = block + 1, [], [], []
        self._twist_d = []
        turn = self.strap.block(end_t, tb, qf, qh, db)
        if turn is not None or self.strap.step_pending:
            # A twist step the watcher is still judging (or a turn it found): the step breaks the joint
            # constraint, which would pull δ towards hiding it (a second turn soon after a first, while
            # δ's rate is uncertain, was hidden so), so this block's constraint is not folded in.
            self._fold = None
        self._fold_block()
        if turn is not None and self.hand_mount_q is not None:
            # The joint constraint of the turned blocks pulled δ and its rate: back to before them, and
            # the turn measured again with that δ.
            if len(self._tracker_history) > STRAP_HOLD_BLOCKS:
                before = self._tracker_history[-STRAP_HOLD_BLOCKS - 1]
                if before is not None:
                    # A device turned on its strap turns its gyro bias too, so the relative heading
                    # may drift at a new rate (a bias about another axis now reads as heading): the
                    # rate's link to δ is dropped, its uncertainty kept (STRAP_RATE_SIGMA_RPS).
                    self._tracker = dataclasses.replace(
                        before, p_rr=max(before.p_rr, STRAP_RATE_SIGMA_RPS**2), p_dr=0.0, p_rb=0.0
                    )
                    turn = self.strap.refine(turn, before.offset_at)
            self._tracker_history.clear()
            self.wrist_uncertain |= turn.ambiguous
            if turn.ambiguous and self.recalibration is None:
                # Ask for the still pose (its cue at this block's last point) and look for it.
                t_ask = end_t - 1.0 / self.decision_hz
                self.recalibration = RecalibrationWatch(t_ask, self.decision_hz)
                self.recalibration_cues.append((t_ask, "recalibrate_wrist"))
                self._recal_block, self._recal_parts = block + 1, []
            self.treated_mount_q, self.hand_mount_q = corrected_mounts(
                turn, self.treated_mount_q, self.hand_mount_q
            )
        t = self._tracker
        self._tracker_history.append(None if t is None else dataclasses.replace(t))
        del self._tracker_history[: -STRAP_HOLD_BLOCKS - 2]

    def _watch_recalibration(
        self,
        j: npt.NDArray[np.int64],
        t_s: FloatArray,
        q_treated: FloatArray,
        q_hand: FloatArray,
        ok: BoolArray,
    ) -> None:
        """Collect one block's device orientations while a re-calibration is asked for; at the block's
        end, look for the still pose, and once found re-reference the wrist from it."""
        watch = self.recalibration
        assert watch is not None
        block = int(j[0]) // self.block_points
        if block != self._recal_block:
            self._recal_block, self._recal_parts = block, []
        if ok.any():
            self._recal_parts.append((q_treated[ok], q_hand[ok]))
        if int(j[-1]) % self.block_points != self.block_points - 1:
            return
        t0 = block * self.block_points / self.decision_hz
        t_last = float(t_s[-1])
        qt = _joined([p[0] for p in self._recal_parts], 4)
        qh = _joined([p[1] for p in self._recal_parts], 4)
        self._recal_block, self._recal_parts = block + 1, []
        asked = len(watch.requests)
        hold = watch.block(t0, t_last, qt, qh, self.block_points)
        if len(watch.requests) > asked:
            self.recalibration_cues.append((watch.requests[-1], "recalibrate_wrist"))
        if hold is None or self.hand_mount_q is None:
            return
        # The still pose again: the forearm's roll read as at calibration, the hand and δ from it.
        q_t, q_h = hold
        treated_mount = rereferenced_treated_mount(q_t, self.treated_mount_q, self.setup.roll_reference_deg)
        _, hand_mount, delta0 = still_reference(q_t, treated_mount, q_h, self.hand_mount_q)
        if hand_mount is None or delta0 is None:
            return
        self.treated_mount_q, self.hand_mount_q = treated_mount, hand_mount
        # A fresh heading tracker, as calibration starts one (keeping the drift rate learnt before did
        # worse on the tune seed 15024: 0.538 -> 0.461 within 2 min after its turn).
        self._tracker = HeadingOffsetTracker(delta0, t_s=t_last)
        self._tracker_history.clear()
        self._fold = None
        self.strap.restart()
        self.strap.turns = [
            dataclasses.replace(tu, recalibrated_t_s=t_last)
            if tu.ambiguous and tu.recalibrated_t_s is None
            else tu
            for tu in self.strap.turns
        ]
        self.wrist_uncertain = False
        self.recalibration = None
        self.recalibration_cues.append((t_last, "recalibration_done"))

    def _heading_offsets(
        self,
        j: npt.NDArray[np.int64],
        t_s: FloatArray,
        q_f: FloatArray,
        q_h: FloatArray,
        ok: BoolArray,
        terms: FloatArray,
    ) -> FloatArray:
        """δ per decision point from the tracker, which is updated at each completed block (``terms``:
        the joint constraint's per-row terms of ``q_f`` and ``q_h``, :func:`constraint_terms`)."""
        n = j.shape[0]
        delta = np.full(n, np.nan)
        start = 0
        if self._tracker is None:
            first = int(np.argmax(ok))
            x_f = quat.rotate(q_f[first : first + 1], E_X)
            x_h = quat.rotate(q_h[first : first + 1], E_X)
            self._tracker = HeadingOffsetTracker(heading_offset_to_align(x_f, x_h), t_s=float(t_s[first]))
            self._block = int(j[first]) // self.block_points
            start = first
        tracker = self._tracker
        v = np.where(ok[:, None], terms, 0.0)
        blocks = j // self.block_points
        for a, b in _block_runs(j, self.block_points):
            if b <= start:
                continue
            a = max(a, start)
            block = int(blocks[a])
            if block != self._block:
                self._block, self._moments, self._moment_n = block, _no_moments(), 0
            d = tracker.offset_at(t_s[a:b])
            delta[a:b] = d
            seen = ok[a:b]
            self._still_rate.add(block, t_s[a:b][seen], q_f[a:b][seen], q_h[a:b][seen], d[seen])
            va = v[a:b]
            # Only samples where the constraint sees δ well enough: a small, systematic residual
            # (sensor inclination errors, a not quite neutral still pose) divided by a small
            # sensitivity would pull δ far off.
            sens = np.abs(-va[:, 0] * np.sin(d) + va[:, 1] * np.cos(d))
            use = ok[a:b] & (sens >= MIN_CONSTRAINT_SENSITIVITY)
            vu = va[use]
            self._moments += vu.T @ vu
            self._moment_n += int(use.sum())
            if int(j[b - 1]) % self.block_points == self.block_points - 1:
                # The block is complete: folded in at its end time (:meth:`_fold_block`), after the
                # strap watcher has seen it.
                end_t = (block + 1) * self.block_points / self.decision_hz
                self._fold_block()
                self._fold = (end_t, self._moments, self._moment_n, self._still_rate.take(block))
                self._block, self._moments, self._moment_n = block + 1, _no_moments(), 0
        return delta

    def _fold_block(self) -> None:
        """Fold the last completed block's constraint moments into the heading tracker."""
        if self._fold is not None and self._tracker is not None:
            end_t, moments, count, rate = self._fold
            self._tracker.update(end_t, moments, count)
            if rate is not None:
                self._tracker.observe_rate(rate, RATE_SIGMA_RPS, GATE_SIGMAS)
        self._fold = None


def _block_runs(j: npt.NDArray[np.int64], block_points: int) -> list[tuple[int, int]]:
    """``(start, end)`` rows of each run of points ``j`` in one heading block (``j // block_points``), in
    order; ``[(0, 0)]`` for no points. A live step's few points in Python ints (the same runs as the
    array way, without its four numpy calls)."""
    n = j.shape[0]
    if n <= 8:
        blocks = [x // block_points for x in j.tolist()]
        runs: list[tuple[int, int]] = []
        a = 0
        for i in range(1, n):
            if blocks[i] != blocks[i - 1]:
                runs.append((a, i))
                a = i
        runs.append((a, n))
        return runs
    bounds = np.flatnonzero(np.diff(j // block_points)) + 1
    starts = np.concatenate(([0], bounds)).tolist()
    return list(zip(starts, np.concatenate((bounds, [n])).tolist(), strict=True))


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _nan_to_num(x: FloatArray) -> FloatArray:
    """``np.nan_to_num(x)`` of a 1-D float64 array; a live step's few points in Python floats (the same
    numbers: NaN → 0, ±inf → ±the largest float) for a tenth of its cost."""
    if x.shape[0] > 8:
        return np.nan_to_num(x)
    big = _FLOAT_MAX
    rows = [0.0 if v != v else (v if -big <= v <= big else math.copysign(big, v)) for v in x.tolist()]
    return np.array(rows, dtype=np.float64)


def _no_moments() -> FloatArray:
    """Empty joint-constraint moments of one block (:func:`coach.signal.wrist.constraint_terms`)."""
    return np.zeros((CONSTRAINT_TERMS, CONSTRAINT_TERMS))


def _joined(parts: list[FloatArray], width: int) -> FloatArray:
    """``np.concatenate(parts)`` without its copy for a single part (a block seen in one span)."""
    if len(parts) == 1:
        return parts[0]
    if parts:
        return np.concatenate(parts)
    return np.empty((0, 4)) if width == 4 else np.empty(0)


def still_reference(
    q_treated: FloatArray,
    treated_mount_q: FloatArray,
    q_hand: FloatArray | None,
    hand_mount_q: FloatArray | None,
) -> tuple[float, FloatArray | None, float | None]:
    """From orientations over the ``still`` pose: the roll reference (deg), the hand's effective mount
    (mount × still correction, so the still pose reads as a neutral wrist) and δ at still (rad)."""
    q_f = quat.multiply(q_treated, treated_mount_q)
    up = quat.rotate_inverse(q_f, E_Z).mean(axis=0)
    roll_ref = float(raw_roll_deg(up / np.linalg.norm(up)))
    if q_hand is None or hand_mount_q is None:
        return roll_ref, None, None
    q_h = quat.multiply(q_hand, hand_mount_q)
    delta0 = heading_offset_to_align(quat.rotate(q_f, E_X), quat.rotate(q_h, E_X))
    rel = quat.multiply(quat.conjugate(q_f), quat.multiply(quat.about_z(delta0), q_h))
    rel = np.where(rel[:, :1] < 0, -rel, rel)
    q_ref = quat.normalize(rel.mean(axis=0))
    return roll_ref, quat.multiply(hand_mount_q, quat.conjugate(q_ref)), delta0
