"""A strap that turns mid-session: found from the wrist's missing third degree of freedom, and undone.

The wrist has two degrees of freedom (flexion about the forearm's y axis, deviation about the hand's z
axis, :mod:`coach.signal.wrist`): the hand cannot twist about its long axis relative to the forearm;
pronation and supination turn the forearm, with the watch on it. So the relative rotation of the two
segments, split as ``R_w = R_y(β) · R_z(γ) · R_x(τ)``, has a **twist** ``τ`` that stays near zero all
session (the ``still`` pose makes it zero). A device that turns on its strap about the limb (a tug that
does not spring back, a strap pushed round) breaks that: the turn appears as a step in ``τ`` of the
strap's angle (exactly for the hand device, to first order in the wrist angles for the watch), and
from then on every wrist angle is computed through a wrong mounting.

:class:`StrapTurnTracker` takes the median twist of each one-second block (the heading tracker's
blocks). When :data:`HOLD_BLOCKS` consecutive blocks sit more than :data:`STEP_DEG` from zero and within
:data:`AGREE_DEG` of each other, the strap has turned: the device that turned is the one that rotated
more about its own long axis over those blocks and the block before (a forearm roll turns both), and its
mounting is turned back by the median twist (re-referenced), so the wrist reads right again a couple of
seconds after the turn. A tug that springs back within a second never holds long enough to count.

Two guards against false turns and two repairs (docs/signal.md §4): a heading error δ_err also makes
twist (∝ δ_err · sin elevation) but no turn of one device against the other, so a step counts only when
the devices' own rotations about their long axes over the blocks account for at least
:data:`TURN_SHARE` of it; the estimator then takes the heading tracker back to before the turned blocks,
measures the turn again with that δ (:meth:`StrapTurnTracker.refine`) and drops the link between δ and
its drift rate. While a twist step is being judged (:attr:`StrapTurnTracker.step_pending`, at most
:data:`MAX_PENDING_BLOCKS` blocks) the estimator keeps that block's constraint out of δ, which would
otherwise pull δ to hide the turn.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coach.events import StrapTurnSummary
from coach.samples import FloatArray
from coach.signal import quaternion as quat

#: A block's median twist this far from zero is off (a heading error adds ~δ_err · sin(elevation)).
STEP_DEG = 8.0
#: ...for this many consecutive blocks...
HOLD_BLOCKS = 2
#: ...agreeing within this.
AGREE_DEG = 5.0
#: The devices' own rotations over the last blocks must account for this share of the twist step.
TURN_SHARE = 0.5
#: A twist step is kept out of the heading offset's tracking for at most this many blocks (then it is
#: taken as a heading error, which also makes twist, and tracked as before).
MAX_PENDING_BLOCKS = HOLD_BLOCKS + 1
#: A turn is ambiguous when the device that turned less rotated about its own long axis by at least this
#: share of the twist step in the second around it (both straps at once, or a turn during a forearm
#: roll: the twist sees only the difference). On the tune seeds 15000–15039 the 40 turns found had
#: 0.00–0.03, except 15024 (both straps at once, opposite ways) at 0.21 (docs/signal.md, issue 9).
AMBIGUOUS_SHARE = 0.1
#: A block needs this many wrist samples to count.
MIN_BLOCK_SAMPLES = 3
E_X = np.array([1.0, 0.0, 0.0])


def twist_rad(q_forearm: FloatArray, q_hand: FloatArray) -> FloatArray:
    """Twist τ of the hand about its long axis relative to the forearm (rad), from segment quaternions in
    one earth frame: ``R_w = R_y(β) R_z(γ) R_x(τ)`` with ``R_w = R_F⁻¹ R_H``."""
    # The two entries of the rotation matrix of R_w it needs (as coach.signal.quaternion.to_matrix
    # computes them): r11 = 1 − 2(x² + z²), r12 = 2(yz − wx).
    if q_forearm.ndim != 2 or q_forearm.shape != q_hand.shape or q_forearm.dtype != np.float64:
        w, x, y, z = np.moveaxis(quat.normalize(quat.multiply(quat.conjugate(q_forearm), q_hand)), -1, 0)
        return np.asarray(np.arctan2(-(2 * (y * z - w * x)), 1 - 2 * (x * x + z * z)))
    # The same numbers for (n, 4) arrays (a posture block's ~40 rows) in a third of the numpy calls:
    # conj(F) ⊗ H as (4, n) components (the same bits as quat.multiply), the norm's sum of squares in
    # the order numpy's reduction adds four numbers.
    m = quat.conjugate_times_rows(q_forearm, q_hand)
    sq = m * m
    norm = sq[0] + sq[1]
    norm += sq[2]
    norm += sq[3]
    np.sqrt(norm, out=norm)
    m /= norm
    w, x, y, z = m
    return np.asarray(np.arctan2(-(2 * (y * z - w * x)), 1 - 2 * (x * x + z * z)))


def turns_about_x_rad(q_from: FloatArray, q_to: FloatArray) -> FloatArray:
    """Rotation about the segment's own x axis from each ``q_from`` to its ``q_to`` (rad, signed), for
    whole arrays at once: the angle of ``q_from⁻¹ q_to`` times the x share of its axis."""
    rel = quat.multiply(quat.conjugate(q_from), q_to)
    rel = np.where(rel[..., :1] < 0, -rel, rel)
    vx, vy, vz = rel[..., 1], rel[..., 2], rel[..., 3]
    n = np.sqrt((vx * vx + vy * vy) + vz * vz)
    small = n < 1e-12
    angle = 2.0 * np.arctan2(n, rel[..., 0])
    out: FloatArray = np.where(small, 0.0, angle * vx / np.where(small, 1.0, n))
    return out


def turn_about_x_rad(q_from: FloatArray, q_to: FloatArray) -> float:
    """:func:`turns_about_x_rad` for one pair of orientations."""
    return float(turns_about_x_rad(q_from, q_to))


@dataclass(frozen=True, slots=True)
class StrapTurn:
    """A detected strap turn: which device, by how much (rad, twist removed), decided at ``t_s``."""

    role: str
    twist_rad: float
    t_s: float
    #: Both devices turned about their long axes around the step (:data:`AMBIGUOUS_SHARE`): the twist
    #: sees only their difference, so the wrist angles are uncertain until the next calibration (null;
    #: the check says "neutral" only where every split agrees:
    #: :func:`coach.signal.wrist.neutral_whatever_the_turn`).
    ambiguous: bool = False
    #: When the still pose asked for after an ambiguous turn was found and the wrist re-referenced
    #: (:mod:`coach.signal.recalibration`); None: not (yet).
    recalibrated_t_s: float | None = None

    def summary(self) -> StrapTurnSummary:
        """The summary's ``calibration.strap_turns`` entry; an ambiguous turn says why the wrist check
        is uncertain from then on (``wrist``: ``uncertain_both_devices_turned``)."""
        out: StrapTurnSummary = {
            "t": round(self.t_s, 3),
            "role": self.role,
            "angle_deg": round(math.degrees(self.twist_rad), 1),
        }
        if self.ambiguous:
            out["wrist"] = "uncertain_both_devices_turned"
        if self.recalibrated_t_s is not None:
            out["recalibrated_t"] = round(self.recalibrated_t_s, 3)
        return out


class StrapTurnTracker:
    """Block-by-block strap-turn detector (see the module docstring)."""

    def __init__(self) -> None:
        self._medians: list[float] = []
        self._blocks: list[tuple[FloatArray, FloatArray, FloatArray]] = []  # (twist, q_f, q_h) per block
        # Per block: the two devices' last samples of the block before (or None), so the relative turn
        # about x can be summed from one sample to the next when a hold asks for it (rarely).
        self._before: list[tuple[FloatArray, FloatArray] | None] = []
        self._last: tuple[FloatArray, FloatArray] | None = None
        self._raw: list[tuple[FloatArray, FloatArray]] = []  # per block: times and the hand's raw quats
        self._hold: tuple[FloatArray, FloatArray, FloatArray] | None = None  # t, q_f, raw q_h of a hold
        self.turns: list[StrapTurn] = []
        #: The last block's median twist is a step off zero that the watcher is still judging (within
        #: :data:`MAX_PENDING_BLOCKS` consecutive off blocks): the estimator keeps it out of δ.
        self.step_pending = False
        self._off_run = 0

    def restart(self) -> None:
        """Forget the blocks seen so far (the mountings were re-referenced: the twist starts at zero)."""
        self._medians.clear()
        self._blocks.clear()
        self._before.clear()
        self._raw.clear()
        self._last = None
        self._hold = None
        self._off_run = 0
        self.step_pending = False

    def block(
        self, t_end_s: float, t_s: FloatArray, q_f: FloatArray, q_h_raw: FloatArray, delta: FloatArray
    ) -> StrapTurn | None:
        """Fold in one completed block: times, segment quaternions in each device's own earth frame and
        the heading offset δ that aligns them (rows where the wrist was seen). Returns the strap turn this
        block settles, if any; :meth:`refine` may then re-measure it with a better δ."""
        q_h = quat.multiply(quat.about_z(delta), q_h_raw)
        twist = twist_rad(q_f, q_h)
        self._hold = None
        self.step_pending = False
        if twist.shape[0] < MIN_BLOCK_SAMPLES:
            # Not seen: the hold restarts (a turn is judged on consecutive, observed blocks).
            self._medians.clear()
            self._blocks.clear()
            self._before.clear()
            self._last = None
            self._off_run = 0
            return None
        med = _circular_median(twist)
        self._off_run = self._off_run + 1 if abs(med) > math.radians(STEP_DEG) else 0
        self.step_pending = 0 < self._off_run <= MAX_PENDING_BLOCKS
        self._medians.append(med)
        self._blocks.append((twist, q_f, q_h))
        self._raw.append((t_s, q_h_raw))
        self._before.append(self._last)
        self._last = (q_f[-1], q_h[-1])
        keep = HOLD_BLOCKS + 2
        self._medians, self._blocks = self._medians[-keep:], self._blocks[-keep:]
        self._raw = self._raw[-keep:]
        self._before = self._before[-keep:]
        recent = self._medians[-HOLD_BLOCKS:]
        if len(recent) < HOLD_BLOCKS:
            return None
        step = math.radians(STEP_DEG)
        agree = math.radians(AGREE_DEG)
        if not all(abs(m) > step for m in recent) or max(recent) - min(recent) > agree:
            return None
        # A twist that comes from a heading error (an orientation-based quantity) has no turn of one
        # device against the other behind it: the devices' own rotations must show the step.
        turned = sum(
            _relative_turn(before, b[1], b[2]) for before, b in zip(self._before, self._blocks, strict=True)
        )
        tau0 = float(np.median(recent))
        if turned * tau0 <= 0 or abs(turned) < TURN_SHARE * abs(tau0):
            return None
        role, other = self._which_turned(tau0)
        qf = np.concatenate([b[1] for b in self._blocks[-HOLD_BLOCKS:]])
        qh = np.concatenate([b[2] for b in self._blocks[-HOLD_BLOCKS:]])
        found = StrapTurn(
            role,
            _zero_twist(role, tau0, qf, qh),
            t_end_s,
            other >= AMBIGUOUS_SHARE * abs(tau0),
        )
        self._hold = (
            np.concatenate([r[0] for r in self._raw[-HOLD_BLOCKS:]]),
            qf,
            np.concatenate([r[1] for r in self._raw[-HOLD_BLOCKS:]]),
        )
        self.turns.append(found)
        self._medians.clear()
        self._blocks.clear()
        self._before.clear()
        self._raw.clear()
        self._last = None
        self._off_run = 0
        return found

    def refine(self, turn: StrapTurn, delta_at: Callable[[FloatArray], FloatArray]) -> StrapTurn:
        """Re-measure the turn just found with the heading offsets ``delta_at(t)`` (the estimator's from
        before the turn: the turned blocks pulled δ, and a δ error shows as twist ∝ sin(elevation))."""
        if self._hold is None or not self.turns or self.turns[-1] is not turn:
            return turn
        t, qf, qh_raw = self._hold
        qh = quat.multiply(quat.about_z(delta_at(t)), qh_raw)
        better = dataclasses.replace(turn, twist_rad=_zero_twist(turn.role, turn.twist_rad, qf, qh))
        self.turns[-1] = better
        self._hold = None
        return better

    def _which_turned(self, tau: float) -> tuple[str, float]:
        """The device that rotated more about its own long axis over the second around the step (a
        forearm roll at the same time turns both), and how much the other one rotated (rad, ≥ 0)."""
        tw = np.concatenate([b[0] for b in self._blocks])
        qf = np.concatenate([b[1] for b in self._blocks])
        qh = np.concatenate([b[2] for b in self._blocks])
        # The step: the first sample past half the twist.
        past = np.flatnonzero(np.abs(tw) > 0.5 * abs(tau))
        i = int(past[0]) if past.size else tw.shape[0] // 2
        half = max(2, tw.shape[0] // (2 * len(self._blocks)))
        a, b = max(0, i - half), min(tw.shape[0] - 1, i + half)
        turn_f = abs(turn_about_x_rad(qf[a], qf[b]))
        turn_h = abs(turn_about_x_rad(qh[a], qh[b]))
        return ("treated", turn_h) if turn_f >= turn_h else ("hand", turn_f)


def _relative_turn(before: tuple[FloatArray, FloatArray] | None, q_f: FloatArray, q_h: FloatArray) -> float:
    """Sum over a block of the hand's turn about its x minus the watch's about its own (rad), sample to
    sample in each device's own frame (no heading involved), from ``before`` (the two devices' last
    samples of the block before, if it was seen) on."""
    if before is not None:
        q_f = np.vstack((before[0][None, :], q_f))
        q_h = np.vstack((before[1][None, :], q_h))
    if q_f.shape[0] < 2:
        return 0.0
    steps = turns_about_x_rad(q_h[:-1], q_h[1:]) - turns_about_x_rad(q_f[:-1], q_f[1:])
    # Summed in sample order (a cumulative sum adds one by one, as a loop over the samples would).
    return float(np.cumsum(steps)[-1])


def _circular_median(angle_rad: FloatArray) -> float:
    """The angle of the median sine and the median cosine: ``np.median`` of each, taken from one sort
    (``np.median``'s own overhead was most of a block's cost). Its exact numbers: the middle value, or
    the two middle values' sum halved; a NaN, or a zero (whose sign may depend on the sort), goes to
    ``np.median`` itself."""
    both = np.stack((np.sin(angle_rad), np.cos(angle_rad)))
    n = both.shape[1]
    if n:
        s = np.sort(both, axis=1)
        h = n // 2
        mid = s[:, h] if n % 2 else (s[:, h - 1] + s[:, h]) / 2
        sin_m, cos_m = float(mid[0]), float(mid[1])
        if sin_m != 0.0 and cos_m != 0.0 and not math.isnan(s[0, -1]) and not math.isnan(s[1, -1]):
            return float(np.arctan2(sin_m, cos_m))  # not math.atan2: numpy's may differ by an ULP
    sin_m, cos_m = np.median(both, axis=1)
    return float(np.arctan2(sin_m, cos_m))


def _zero_twist(role: str, tau: float, qf: FloatArray, qh: FloatArray) -> float:
    """The turn of ``role``'s device that brings the median twist of these samples to zero (for the watch
    the twist is the strap's angle only to first order in the wrist angles)."""
    c = tau
    for _ in range(4):
        if role == "treated":
            rest = twist_rad(quat.multiply(qf, quat.about_axis(E_X, c)), qh)
        else:
            rest = twist_rad(qf, quat.multiply(qh, quat.about_axis(E_X, -c)))
        c += _circular_median(rest)
    return c


def corrected_mounts(
    turn: StrapTurn, treated_mount_q: FloatArray, hand_mount_q: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The two mountings with the turned device's turned back about its segment's x axis.

    A watch turned by α reads the forearm as ``R_F·R_x(α)``, so ``R_w`` gains ``R_x(−α)`` on the left
    (twist −α): its mounting is multiplied by ``R_x(τ)``. A hand device turned by α adds ``R_x(α)`` on
    the right (twist α): its mounting is multiplied by ``R_x(−τ)``.
    """
    if turn.role == "treated":
        return quat.multiply(treated_mount_q, quat.about_axis(E_X, turn.twist_rad)), hand_mount_q
    return treated_mount_q, quat.multiply(hand_mount_q, quat.about_axis(E_X, -turn.twist_rad))
