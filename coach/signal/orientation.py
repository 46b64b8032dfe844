"""Orientation of one sensor with VQF (the C++ ``vqf.VQF``, online, state carried across blocks).

The filter runs in 6D (gyroscope + accelerometer): magnetometers on a wrist are disturbed (docs/domain.md
§2) and the posture checks need only the inclination. ``updateBatch`` loops over the samples in
compiled code; this wrapper adds what a stream with gaps needs:

- after a gap longer than ``reset_gap_s`` the filter is reset (its inclination then re-converges
  from the accelerometer at once, instead of over ``tauAcc``) with its gyro bias estimate kept;
- across a reset the heading is carried over (a heading correction about the earth vertical), so that
  the relative heading of two sensors (used for the wrist) does not jump.
"""

from __future__ import annotations

import itertools

import numpy as np
import vqf

from coach.samples import FloatArray
from coach.signal import quaternion as quat
from coach.signal.resample import IntArray


class OrientationTracker:
    """VQF on one role's uniform grid.

    Args:
        rate_hz: the grid rate.
        reset_gap_s: a gap longer than this resets the filter (bias and heading kept).
        bias_clip_dps: VQF's ``biasClip`` (°/s); ``None`` keeps VQF's default (2 °/s).
    """

    def __init__(self, rate_hz: float, reset_gap_s: float = 0.3, bias_clip_dps: float | None = None) -> None:
        self.rate_hz = rate_hz
        self._filter = (
            vqf.VQF(1.0 / rate_hz)
            if bias_clip_dps is None
            else vqf.VQF(1.0 / rate_hz, biasClip=bias_clip_dps)
        )
        self._reset_gap_k = max(1, round(reset_gap_s * rate_hz))
        self._last_k: int | None = None
        self._last_q: FloatArray | None = None
        self._heading_fix: FloatArray = quat.IDENTITY.copy()
        self._pending_heading = False
        self.resets = 0

    def set_bias(self, bias_rps: FloatArray, sigma_rps: float = -1.0) -> None:
        """Start from a known gyro bias (from the ``still`` phase); VQF keeps refining it."""
        self._filter.setBiasEstimate(np.ascontiguousarray(bias_rps, dtype=np.float64), sigma_rps)

    def bias_rps(self) -> FloatArray:
        bias, _sigma = self._filter.getBiasEstimate()
        return np.asarray(bias, dtype=np.float64)

    def update(self, k: IntArray, gyr_rps: FloatArray, acc_mps2: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Feed grid samples (indices ``k``, increasing); return the quaternions ``(n, 4)`` and the gyro
        bias estimates ``(n, 3)`` after each sample."""
        n = k.shape[0]
        if n == 0:
            return np.empty((0, 4)), np.empty((0, 3))
        first_prev = self._last_k if self._last_k is not None else int(k[0]) - 1
        if int(k[-1]) - first_prev <= self._reset_gap_k and not self._pending_heading:
            # Increasing k: no step can exceed the gap (the usual live step). One run, no reset: the
            # loop below without its output copies (the same calls on the same numbers).
            out = self._filter.updateBatch(np.ascontiguousarray(gyr_rps), np.ascontiguousarray(acc_mps2))
            q_run = quat.multiply(self._heading_fix, out["quat6D"])
            self._last_q = q_run[-1].copy()  # not a view of the rows handed out
            self._last_k = int(k[-1])
            bias_run: FloatArray = out["bias"]
            return q_run, bias_run
        prev = np.concatenate(([first_prev], k[:-1]))
        cut_list: list[int] = np.flatnonzero(k - prev > self._reset_gap_k).tolist()
        cut_set = set(cut_list)
        bounds = [0, *cut_list, n]
        q_out = np.empty((n, 4))
        b_out = np.empty((n, 3))
        for a, b in itertools.pairwise(bounds):
            if a == b:
                continue
            if a in cut_set:
                self._reset()
            out = self._filter.updateBatch(
                np.ascontiguousarray(gyr_rps[a:b]), np.ascontiguousarray(acc_mps2[a:b])
            )
            q = out["quat6D"]
            if self._pending_heading:
                # First samples after a reset: turn the new heading onto the last one before the gap.
                assert self._last_q is not None
                turn = quat.heading_rad(self._last_q) - quat.heading_rad(q[0])
                self._heading_fix = quat.about_z(turn)
                self._pending_heading = False
            q = quat.multiply(self._heading_fix, q)
            q_out[a:b] = q
            b_out[a:b] = out["bias"]
            self._last_q = q[-1]
        self._last_k = int(k[-1])
        return q_out, b_out

    def _reset(self) -> None:
        bias, sigma = self._filter.getBiasEstimate()
        self._filter.resetState()
        self._filter.setBiasEstimate(bias, sigma)
        self._pending_heading = self._last_q is not None
        self.resets += 1
