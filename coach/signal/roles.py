"""One sensor role's stream inside the pipeline: resampling, orientation, and a buffer of results.

:class:`RoleStream` takes raw :class:`~coach.samples.SampleBlock` s, puts them on the role's uniform
grid (:mod:`coach.signal.resample`), and, once the pipeline starts the filter (after calibration, when
the gyro bias is known), runs VQF on them (:mod:`coach.signal.orientation`). Grid samples that arrive
before the filter starts wait in :attr:`RoleStream.pending` and are filtered from the start then, so
the filter has converged by the end of calibration. Results wait in a :class:`GridBuffer` until the
pipeline's decision steps have used them.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from coach.samples import FloatArray, SampleBlock
from coach.signal import quaternion as quat
from coach.signal.orientation import OrientationTracker
from coach.signal.resample import GridBatch, IntArray, UniformResampler

#: VQF's gyro-bias clip (°/s) when no ``still`` bias is known: VQF's default 2 °/s is below the zero-rate
#: offset of a cheap MEMS gyro (the MPU-6000/6050 specification allows ±20 °/s). 25 °/s: on the
#: simulator's ``sensors`` family (3–12 °/s per axis, no calibration, nominal mounting) elevated agreement
#: 0.941 → 0.979 over 8 seeds against 8 °/s, and unchanged on good gyros (docs/signal.md §2).
UNCALIBRATED_BIAS_CLIP_DPS = 25.0
#: :meth:`RoleStream.interpolate` of at most this many times from a buffer of at most this many rows
#: (a live step) is worked in Python floats: fewer calls, the same numbers.
SMALL_QUERY = 8
SMALL_BUFFER = 64


@dataclass(slots=True)
class GridBuffer:
    """Valid grid samples of one role in index order: raw signals, and orientation once filtered."""

    k: IntArray
    t_s: FloatArray
    acc_mps2: FloatArray
    gyr_rps: FloatArray
    quat: FloatArray
    bias_rps: FloatArray

    @staticmethod
    def empty() -> GridBuffer:
        return GridBuffer(
            np.empty(0, np.int64),
            np.empty(0),
            np.empty((0, 3)),
            np.empty((0, 3)),
            np.empty((0, 4)),
            np.empty((0, 3)),
        )

    def __len__(self) -> int:
        return int(self.k.shape[0])

    def append(self, other: GridBuffer) -> None:
        if not len(other):
            return
        if not len(self):
            self.k, self.t_s, self.acc_mps2 = other.k, other.t_s, other.acc_mps2
            self.gyr_rps, self.quat, self.bias_rps = other.gyr_rps, other.quat, other.bias_rps
            return
        self.k = np.concatenate((self.k, other.k))
        self.t_s = np.concatenate((self.t_s, other.t_s))
        self.acc_mps2 = np.concatenate((self.acc_mps2, other.acc_mps2))
        self.gyr_rps = np.concatenate((self.gyr_rps, other.gyr_rps))
        self.quat = np.concatenate((self.quat, other.quat))
        self.bias_rps = np.concatenate((self.bias_rps, other.bias_rps))

    def select(self, mask_or_slice: slice | np.ndarray) -> GridBuffer:
        return GridBuffer(
            self.k[mask_or_slice],
            self.t_s[mask_or_slice],
            self.acc_mps2[mask_or_slice],
            self.gyr_rps[mask_or_slice],
            self.quat[mask_or_slice],
            self.bias_rps[mask_or_slice],
        )

    def between(self, t_from_s: float, t_to_s: float) -> GridBuffer:
        """Samples with ``t_from_s <= t < t_to_s``."""
        return self.select(self.rows_between(t_from_s, t_to_s))

    def rows_between(self, t_from_s: float, t_to_s: float) -> slice:
        """The rows of :meth:`between` (without copying out every column)."""
        a = int(np.searchsorted(self.t_s, t_from_s - 1e-9, side="left"))
        b = int(np.searchsorted(self.t_s, t_to_s - 1e-9, side="left"))
        return slice(a, b)

    def drop_before(self, t_s: float) -> None:
        """Forget samples older than ``t_s``."""
        a = int(np.searchsorted(self.t_s, t_s, side="left"))
        if a:
            rest = self.select(slice(a, None))
            self.k, self.t_s, self.acc_mps2 = rest.k, rest.t_s, rest.acc_mps2
            self.gyr_rps, self.quat, self.bias_rps = rest.gyr_rps, rest.quat, rest.bias_rps


@dataclass(frozen=True, slots=True)
class Interpolated:
    """A role's orientation at query times: ``valid`` where both surrounding grid samples exist."""

    valid: np.ndarray
    quat: FloatArray


class RoleStream:
    """Raw samples of one role in; filtered grid samples out (see the module docstring)."""

    def __init__(self, role: str, rate_hz: float | None, max_gap_s: float, reset_gap_s: float) -> None:
        self.role = role
        self.resampler = UniformResampler(rate_hz, max_gap_s)
        self.reset_gap_s = reset_gap_s
        self.tracker: OrientationTracker | None = None
        self.pending = GridBuffer.empty()  # grid samples not yet filtered
        self.out = GridBuffer.empty()  # filtered grid samples not yet used up
        self.samples_in = 0
        self.gyro_offset_rps = np.zeros(3)

    @property
    def started(self) -> bool:
        return self.resampler.t0_s is not None and self.resampler.rate_hz is not None

    @property
    def rate_hz(self) -> float:
        assert self.resampler.rate_hz is not None
        return self.resampler.rate_hz

    @property
    def t0_s(self) -> float:
        assert self.resampler.t0_s is not None
        return self.resampler.t0_s

    def push(self, block: SampleBlock) -> None:
        self.samples_in += len(block)
        self.resampler.push(block.t_s, block.acc_mps2, block.gyr_rps)

    def frontier_s(self, clock_s: float) -> float:
        """Every grid sample before this time is decided (a role not yet heard from: the clock)."""
        if self.resampler.t0_s is None or self.resampler.rate_hz is None:
            return clock_s
        return max(self.resampler.frontier_s, -math.inf)

    def pull(self, clock_s: float) -> GridBatch:
        """Resample what the samples and the clock allow; filter it if the filter runs, else keep it."""
        batch = self.resampler.pull(clock_s)
        if len(batch):
            self._take(batch)
        return batch

    def start_filter(self, bias_rps: FloatArray | None) -> None:
        """Start VQF and filter everything pending.

        With a gyro bias from the ``still`` phase, it is taken off every sample before VQF, which then
        estimates only what remains (its own estimate is clipped to ±2 °/s, less than a cheap gyro's
        bias). Without one, VQF estimates the whole bias, with its clip widened to
        :data:`UNCALIBRATED_BIAS_CLIP_DPS`.
        """
        if bias_rps is None:
            self.gyro_offset_rps = np.zeros(3)
            self.tracker = OrientationTracker(self.rate_hz, self.reset_gap_s, UNCALIBRATED_BIAS_CLIP_DPS)
        else:
            self.gyro_offset_rps = np.asarray(bias_rps, dtype=np.float64)
            self.tracker = OrientationTracker(self.rate_hz, self.reset_gap_s)
        pending, self.pending = self.pending, GridBuffer.empty()
        if len(pending):
            self._filter(pending)

    def _take(self, batch: GridBatch) -> None:
        tracker = self.tracker
        if tracker is not None:  # filtered at once (without placeholders for what the filter gives)
            q, residual = tracker.update(batch.k, batch.gyr_rps - self.gyro_offset_rps, batch.acc_mps2)
            self.out.append(
                GridBuffer(
                    batch.k, batch.t_s, batch.acc_mps2, batch.gyr_rps, q, residual + self.gyro_offset_rps
                )
            )
            return
        n = len(batch)
        buf = GridBuffer(
            batch.k, batch.t_s, batch.acc_mps2, batch.gyr_rps, np.empty((n, 4)), np.empty((n, 3))
        )
        self.pending.append(buf)

    def _filter(self, buf: GridBuffer) -> None:
        assert self.tracker is not None
        q, residual = self.tracker.update(buf.k, buf.gyr_rps - self.gyro_offset_rps, buf.acc_mps2)
        buf.quat, buf.bias_rps = q, residual + self.gyro_offset_rps
        self.out.append(buf)

    def interpolate(self, t_query: FloatArray) -> Interpolated:
        """Orientation at ``t_query`` (sorted) from the filtered buffer; invalid across gaps."""
        buf = self.out
        n = t_query.shape[0]
        if len(buf) == 0 or n == 0:
            return Interpolated(np.zeros(n, bool), np.full((n, 4), np.nan))
        if n <= SMALL_QUERY and len(buf) <= SMALL_BUFFER:
            small = self._interpolate_small(t_query.tolist())
            if small is not None:
                return small
        t = buf.t_s
        i = np.searchsorted(t, t_query + 1e-9, side="right") - 1
        ok = i >= 0
        i = np.minimum(np.maximum(i, 0), len(buf) - 1)  # np.clip's numbers (integers), cheaper
        exact = np.abs(t[i] - t_query) <= 1e-9
        j = np.minimum(i + 1, len(buf) - 1)
        consecutive = (buf.k[j] == buf.k[i] + 1) & (t[j] >= t_query)
        valid = ok & (exact | consecutive)
        span = np.where(t[j] > t[i], t[j] - t[i], 1.0)
        # np.clip's numbers where they are used (they differ only in the sign of a zero, and a zero
        # fraction is an exact point: replaced by 0.0 below), for a third of its cost.
        f = np.minimum(np.maximum((t_query - t[i]) / span, 0.0), 1.0)
        f = np.where(exact | ~consecutive, 0.0, f)[:, None]
        q0 = buf.quat[i]
        q1 = buf.quat[j]
        q1 = np.where(np.sum(q0 * q1, axis=1, keepdims=True) < 0, -q1, q1)
        q = quat.normalize((1.0 - f) * q0 + f * q1)
        q[~valid] = np.nan
        return Interpolated(valid, q)

    def _interpolate_small(self, t_query: list[float]) -> Interpolated | None:
        """:meth:`interpolate` for a live step (a few query times, a short buffer) in Python floats: the
        same IEEE operations in the same order as the array way (``np.searchsorted`` as ``bisect``;
        numpy sums a row of four left to right, and ``np.linalg.norm`` is the square root of that sum
        of squares), for a fraction of the calls. ``None`` in the case it would divide by a zero norm
        (the array way then gives what numpy gives)."""
        buf = self.out
        t, ks, quats = buf.t_s.tolist(), buf.k.tolist(), buf.quat.tolist()
        last = len(t) - 1
        valid: list[bool] = []
        rows: list[list[float]] = []
        for x in t_query:
            i = bisect.bisect_right(t, x + 1e-9) - 1
            if i < 0:  # before the buffer: not valid
                valid.append(False)
                rows.append([math.nan] * 4)
                continue
            d = t[i] - x
            exact = -1e-9 <= d <= 1e-9  # abs(d) <= 1e-9, without the call
            j = i + 1 if i < last else last
            consecutive = ks[j] == ks[i] + 1 and t[j] >= x
            if not (exact or consecutive):
                valid.append(False)
                rows.append([math.nan] * 4)
                continue
            f = 0.0
            if not exact and consecutive:  # np.clip's numbers: x - t[i] > 1e-9 here
                f = (x - t[i]) / (t[j] - t[i] if t[j] > t[i] else 1.0)
                f = 1.0 if f > 1.0 else f
            (w0, x0, y0, z0), (w1, x1, y1, z1) = quats[i], quats[j]
            if ((w0 * w1 + x0 * x1) + y0 * y1) + z0 * z1 < 0:
                w1, x1, y1, z1 = -w1, -x1, -y1, -z1
            g = 1.0 - f
            b = (g * w0 + f * w1, g * x0 + f * x1, g * y0 + f * y1, g * z0 + f * z1)
            norm = math.sqrt(((b[0] * b[0] + b[1] * b[1]) + b[2] * b[2]) + b[3] * b[3])
            if norm == 0.0:
                return None
            valid.append(True)
            rows.append([b[0] / norm, b[1] / norm, b[2] / norm, b[3] / norm])
        return Interpolated(np.array(valid, dtype=bool), np.array(rows, dtype=np.float64).reshape(-1, 4))
