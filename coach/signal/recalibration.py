"""The still pose asked for again after an ambiguous strap turn, found, and the wrist re-referenced.

An ambiguous strap turn (both devices turned at once, :data:`coach.signal.strap.AMBIGUOUS_SHARE`)
leaves one angle unknown: a common turn of both segment frames about the forearm's long axis, which no
sensor pair on the two sides of the wrist can tell from a forearm roll (docs/signal.md, issue 9). What
fixes it is gravity in a pose whose forearm roll is known: the calibration's ``still`` pose (elbow
resting, hand raised, palm down, wrist straight). So the coach asks for that pose once more (cue
``recalibrate_wrist``), and :class:`RecalibrationWatch` looks for it in the data: the first
:data:`STILL_BLOCKS` consecutive one-second blocks, starting at least :data:`MIN_DELAY_S` after the
request, in which both devices are still (the spread of their angular rate about its block mean below
:data:`STILL_STD_RPS`, as the calibration's own still phase). From the last :data:`REFERENCE_BLOCKS`
of them :func:`rereference` turns the forearm device's mounting about its long axis so the pose reads
the still pose's forearm roll, and re-references the hand device and the heading offset as calibration
does (:func:`coach.signal.posture.still_reference`). No pose found within :data:`REPEAT_S`: the request
is repeated, at most :data:`MAX_REQUESTS` times in all.

Found from the samples alone (no session-layer phase times), so ``coach replay`` of a live session finds
the same hold and reproduces its events.
"""

from __future__ import annotations

import math

import numpy as np

from coach.samples import FloatArray
from coach.signal import quaternion as quat
from coach.signal.roll import raw_roll_deg, wrap_deg

#: Blocks that start at least this long after the request count (the person hears it and moves).
MIN_DELAY_S = 2.0
#: Consecutive still blocks that make the hold...
STILL_BLOCKS = 3
#: ...of which the last ones are the still pose the mountings are re-referenced from.
REFERENCE_BLOCKS = 2
#: A block is still when each device's angular rate (from its orientation, sample to sample) spreads
#: less than this about its block mean (the calibration phase detector's gyro spread,
#: :data:`calibration.phases.STILL_GYRO_STD_RPS`).
STILL_STD_RPS = 0.05
#: A block needs this share of its points with both devices seen.
MIN_SEEN_SHARE = 0.8
#: No hold found this long after a request: it is asked again...
REPEAT_S = 60.0
#: ...up to this many requests in all.
MAX_REQUESTS = 3
E_Z = np.array([0.0, 0.0, 1.0])
E_X = np.array([1.0, 0.0, 0.0])


def rate_spread_rps(q: FloatArray, rate_hz: float) -> float:
    """Spread (root of the summed per-axis variances) of the angular rate in the device frame, from
    consecutive orientations ``q`` (rows) sampled at ``rate_hz``; ``inf`` with fewer than 3 rows."""
    if q.shape[0] < 3:
        return math.inf
    rel = quat.multiply(quat.conjugate(q[:-1]), q[1:])
    rel = np.where(rel[:, :1] < 0, -rel, rel)
    v = rel[:, 1:]
    n = np.linalg.norm(v, axis=1)
    angle = 2.0 * np.arctan2(n, rel[:, 0])
    rate = np.where(n[:, None] > 1e-12, v * (angle / np.where(n > 1e-12, n, 1.0))[:, None], 0.0) * rate_hz
    return float(np.sqrt(rate.var(axis=0).sum()))


class RecalibrationWatch:
    """Requests of the still pose after an ambiguous strap turn, and the search for the hold.

    Args:
        t_request_s: time of the first request (a decision point).
        rate_hz: the decision grid's rate.
    """

    def __init__(self, t_request_s: float, rate_hz: float) -> None:
        self.rate_hz = rate_hz
        #: Every request's time (the cue ``recalibrate_wrist`` is said at each).
        self.requests: list[float] = [t_request_s]
        self._run: list[tuple[FloatArray, FloatArray]] = []

    def block(
        self, t0_s: float, t_last_s: float, q_treated: FloatArray, q_hand: FloatArray, points: int
    ) -> tuple[FloatArray, FloatArray] | None:
        """Fold one completed block: its first and last decision times, each device's orientation at
        the points where both were seen, and the block's number of points. Returns the hold's
        orientations (``treated``, ``hand``) once it is found."""
        if t0_s < self.requests[-1] + MIN_DELAY_S:
            return None
        still = (
            q_treated.shape[0] >= MIN_SEEN_SHARE * points
            and rate_spread_rps(q_treated, self.rate_hz) < STILL_STD_RPS
            and rate_spread_rps(q_hand, self.rate_hz) < STILL_STD_RPS
        )
        if not still:
            self._run.clear()
            if t_last_s - self.requests[-1] >= REPEAT_S and len(self.requests) < MAX_REQUESTS:
                self.requests.append(t_last_s)
            return None
        self._run.append((q_treated, q_hand))
        if len(self._run) < STILL_BLOCKS:
            return None
        use = self._run[-REFERENCE_BLOCKS:]
        return np.concatenate([u[0] for u in use]), np.concatenate([u[1] for u in use])


def roll_fix_rad(q_treated: FloatArray, treated_mount_q: FloatArray, roll_reference_deg: float) -> float:
    """The turn ``a`` about the forearm's long axis with which the mounting ``treated_mount_q · R_x(a)``
    reads the mean forearm roll over ``q_treated`` (device orientations) as ``roll_reference_deg``."""
    q_f = quat.multiply(q_treated, treated_mount_q)
    up = quat.rotate_inverse(q_f, E_Z).mean(axis=0)
    roll_now = float(raw_roll_deg(up / np.linalg.norm(up)))
    # R_x(a) on the right turns the forearm frame by a about its x: the roll read rises by a.
    return math.radians(float(wrap_deg(np.array(roll_reference_deg - roll_now))))


def rereferenced_treated_mount(
    q_treated: FloatArray, treated_mount_q: FloatArray, roll_reference_deg: float
) -> FloatArray:
    """The forearm device's mounting turned about the long axis so the hold reads the still pose's roll."""
    a = roll_fix_rad(q_treated, treated_mount_q, roll_reference_deg)
    return quat.multiply(treated_mount_q, quat.about_axis(E_X, a))
