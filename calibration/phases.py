"""Finding the ``still`` and ``rotate`` phases in a stream when ``meta`` does not give them.

:class:`PhaseDetector` reads the ``treated`` sensor on its uniform grid in windows of
:data:`WINDOW_S` and walks a small state machine over complete windows:

1. *still*: windows whose gyro spread, accelerometer spread and gravity direction change are all
   small, in a plausible pose (forearm raised, palm down: :data:`STILL_MIN_UP_Z`, :data:`STILL_MIN_UP_X`;
   an opening stand with the arm hanging is not a still phase); a run of at least :data:`MIN_STILL_S`
   is the still phase. It ends at the first window that
   is not still. No still run starting within :data:`SEARCH_LIMIT_S` of the first sample: give up.
2. *rotate*: within :data:`ROTATE_START_WITHIN_S` after still, the first window turning faster than
   :data:`ROTATE_MIN_RPS` (bias removed) starts it; it ends after :data:`ROTATE_QUIET_S` of slow
   windows or :data:`ROTATE_MAX_S`. None starting in time, or a turn that is not about the device's
   long axis (:data:`ROTATE_MIN_AXIS_X`: a sit-down, a reach): a still-only calibration.

Every decision is made at a data time (``decided_s``: the end of the window that settled it) and
depends only on samples before that time, so feeding the stream in any blocks gives the same phases
and the same decision time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

WINDOW_S = 0.1
MIN_STILL_S = 2.5
#: A still run this long is taken as the still phase even if the arm stays still afterwards.
MAX_STILL_S = 20.0
SEARCH_LIMIT_S = 60.0
STILL_GYRO_STD_RPS = 0.05
STILL_ACC_STD_MPS2 = 0.35
STILL_GRAVITY_TOL_MPS2 = 1.2
STILL_TILT_STEP_RAD = math.radians(0.75)
#: After this many still windows, a window whose mean gyro is this far from the run's mean is turning.
STILL_BIAS_WINDOWS = 5
STILL_TURN_RPS = 0.04
#: The end of a detected still run is trimmed by this much (the turn that ended it starts slowly).
STILL_END_TRIM_S = 0.2
ROTATE_START_WITHIN_S = 4.0
ROTATE_MIN_RPS = 0.5
ROTATE_SLOW_RPS = 0.25
ROTATE_QUIET_S = 0.6
ROTATE_MAX_S = 12.0
ROTATE_MIN_S = 1.0
#: Plausible still pose (the forearm resting raised, palm down): the up direction in the device frame
#: has at least this z (the device face up; an arm hanging at the side has it sideways) and at least this
#: x (the long axis no steeper than ~45° down: an arm hanging, or a sensor on backwards on a steeply
#: raised arm, is not a calibration pose).
STILL_MIN_UP_Z = 0.25
STILL_MIN_UP_X = -0.7
#: Plausible rotate phase: a pronation/supination turn, about an axis within 45° of the device's x.
ROTATE_MIN_AXIS_X = math.cos(math.radians(45.0))


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """The outcome of the search: phase times (or ``None``) and when it was decided."""

    still: tuple[float, float] | None
    rotate: tuple[float, float] | None
    decided_s: float


class PhaseDetector:
    """Incremental still/rotate finder over one role's grid samples (see the module docstring).

    Args:
        rate_hz: the grid rate.
        t0_s: time of grid index 0.
    """

    def __init__(self, rate_hz: float, t0_s: float) -> None:
        self.rate_hz = rate_hz
        self.t0_s = t0_s
        self._win = max(1, round(WINDOW_S * rate_hz))
        self._k: list[npt.NDArray[np.int64]] = []
        self._gyr: list[FloatArray] = []
        self._acc: list[FloatArray] = []
        self._next_window = 0
        self._state = "still"
        self._run_start: int | None = None  # first window of the current still run
        self._last_up: FloatArray | None = None
        self._still: tuple[int, int] | None = None  # windows [a, b)
        self._bias = np.zeros(3)
        self._bias_sum = np.zeros(3)
        self._run_n = 0
        self._rot_start: int | None = None
        self._rot_last_fast: int | None = None
        self._scatter = np.zeros((3, 3))
        self.result: PhaseResult | None = None

    @property
    def decided(self) -> bool:
        return self.result is not None

    @property
    def searched_windows(self) -> int:
        """Windows examined so far (the search is settled up to the end of the last one)."""
        return self._next_window

    def window_time(self, w: int) -> float:
        return self.t0_s + w * self._win / self.rate_hz

    def feed(
        self, k: npt.NDArray[np.int64], gyr_rps: FloatArray, acc_mps2: FloatArray, frontier_k: int
    ) -> None:
        """Add grid samples; ``frontier_k``: every grid index below it has been decided (gaps included)."""
        if self.result is not None:
            return
        if k.size:
            self._k.append(k)
            self._gyr.append(gyr_rps)
            self._acc.append(acc_mps2)
        complete = frontier_k // self._win
        if complete <= self._next_window:
            return
        ks = np.concatenate(self._k) if self._k else np.empty(0, np.int64)
        gyr = np.concatenate(self._gyr) if self._gyr else np.empty((0, 3))
        acc = np.concatenate(self._acc) if self._acc else np.empty((0, 3))
        for w in range(self._next_window, complete):
            sel = (ks >= w * self._win) & (ks < (w + 1) * self._win)
            self._step(w, gyr[sel], acc[sel])
            if self.decided:
                break
        self._next_window = complete
        keep = ks >= self._next_window * self._win
        self._k, self._gyr, self._acc = [ks[keep]], [gyr[keep]], [acc[keep]]

    def _step(self, w: int, gyr: FloatArray, acc: FloatArray) -> None:
        end_s = self.window_time(w + 1)
        if self._state == "still":
            still = self._is_still(gyr, acc)
            if still and self._run_start is None:
                if end_s - self.t0_s > SEARCH_LIMIT_S:
                    self.result = PhaseResult(None, None, end_s)
                    return
                self._run_start = w
            elif (
                still
                and self._run_start is not None
                and (w + 1 - self._run_start) * WINDOW_S >= MAX_STILL_S - 1e-9
            ):
                self._still = (self._run_start, w + 1)
                self._state = "rotate_wait"
            elif not still:
                if self._run_start is not None and (w - self._run_start) * WINDOW_S >= MIN_STILL_S - 1e-9:
                    self._still = (self._run_start, w)
                    self._state = "rotate_wait"
                    return
                self._run_start = None
                if end_s - self.t0_s > SEARCH_LIMIT_S:
                    self.result = PhaseResult(None, None, end_s)
            return
        assert self._still is not None
        still_span = (self.window_time(self._still[0]), self.window_time(self._still[1]) - STILL_END_TRIM_S)
        rate = float(np.linalg.norm(gyr.mean(axis=0) - self._bias)) if gyr.shape[0] else 0.0
        if self._state == "rotate_wait":
            if rate >= ROTATE_MIN_RPS:
                self._state, self._rot_start, self._rot_last_fast = "rotate", w, w
                w_c = gyr - self._bias
                self._scatter = w_c.T @ w_c
            elif end_s - still_span[1] >= ROTATE_START_WITHIN_S:
                self.result = PhaseResult(still_span, None, end_s)
            return
        assert self._rot_start is not None and self._rot_last_fast is not None
        # Turning about the axis of the phase so far (a different motion afterwards ends the phase).
        w_c = gyr - self._bias
        axis = np.linalg.eigh(self._scatter)[1][:, -1]
        along = abs(float(w_c.mean(axis=0) @ axis)) if w_c.shape[0] else 0.0
        turning = along >= ROTATE_SLOW_RPS or (
            w_c.shape[0] and float(np.abs(w_c @ axis).max()) >= ROTATE_MIN_RPS
        )
        if turning:
            self._rot_last_fast = w
            self._scatter = self._scatter + w_c.T @ w_c
        quiet = (w - self._rot_last_fast) * WINDOW_S >= ROTATE_QUIET_S - 1e-9
        too_long = (w + 1 - self._rot_start) * WINDOW_S >= ROTATE_MAX_S - 1e-9
        if quiet or too_long:
            rot = (self.window_time(self._rot_start), self.window_time(self._rot_last_fast + 1))
            axis = np.linalg.eigh(self._scatter)[1][:, -1]
            if rot[1] - rot[0] < ROTATE_MIN_S or abs(float(axis[0])) < ROTATE_MIN_AXIS_X:
                # Too short, or not a turn of the forearm about its length (standing up, sitting down).
                self.result = PhaseResult(still_span, None, end_s)
            else:
                self.result = PhaseResult(still_span, rot, end_s)

    def _is_still(self, gyr: FloatArray, acc: FloatArray) -> bool:
        if gyr.shape[0] < max(2, self._win // 2):
            self._last_up = None
            return False  # a gap is not still
        a = acc.mean(axis=0)
        g = float(np.linalg.norm(a))
        up = a / g if g > 0 else a
        tilt_ok = (
            self._last_up is None
            or float(np.arccos(np.clip(up @ self._last_up, -1, 1))) < STILL_TILT_STEP_RAD
        )
        self._last_up = up
        mean = gyr.mean(axis=0)
        # A slow turn has a small spread but a mean away from the run's bias.
        turning = (
            self._run_n >= STILL_BIAS_WINDOWS and float(np.linalg.norm(mean - self._bias)) > STILL_TURN_RPS
        )
        ok = (
            float(np.linalg.norm(gyr.std(axis=0))) < STILL_GYRO_STD_RPS
            and float(np.linalg.norm(acc.std(axis=0))) < STILL_ACC_STD_MPS2
            and abs(g - 9.81) < STILL_GRAVITY_TOL_MPS2
            and float(up[2]) >= STILL_MIN_UP_Z
            and float(up[0]) >= STILL_MIN_UP_X
            and tilt_ok
            and not turning
        )
        if not ok:
            self._run_n, self._bias_sum = 0, np.zeros(3)
            return False
        if self._run_start is None:
            self._run_n, self._bias_sum = 0, np.zeros(3)
        # Running mean of the still run's gyro: the bias that the turn checks remove.
        self._run_n += 1
        self._bias_sum = self._bias_sum + mean
        self._bias = self._bias_sum / self._run_n
        return True
