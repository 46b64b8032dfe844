"""Streaming resampling of one sensor's samples onto a uniform time grid.

VQF needs a fixed sampling time, and real streams are not uniform: BLE jitter, dropped packets, whole
disconnections, clocks that run a little fast. :class:`UniformResampler` puts each role on its own
grid ``t_k = t0 + k / rate_hz`` (``t0``: the role's first sample; ``rate_hz``: ``meta.sensors.<role>
.rate_hz``, or the median sample interval of the first half second) and interpolates linearly between
the raw samples around each grid point. A grid point whose surrounding raw samples are more than
``max_gap_s`` apart is a gap: it is not emitted.

Every output depends only on the samples, never on how they were split into blocks or on when
:meth:`UniformResampler.pull` was called, so a live session and a replay of its trace agree exactly.
The clock (``clock_s``: no sample older than this will still arrive) only lets a silent sensor's gap
be decided before its next sample shows up. A gap costs nothing per grid point: only the points near
raw samples are ever computed, so an hour without samples takes no memory.

Rates outside :data:`coach.samples.MIN_RATE_HZ`–``MAX_RATE_HZ`` (given, or measured from timestamps that are
nanoseconds apart) are refused with a :class:`~coach.errors.ValidationError`; the role is then ignored.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coach.errors import ValidationError
from coach.samples import MAX_RATE_HZ, MIN_RATE_HZ, FloatArray

IntArray = npt.NDArray[np.int64]

#: Raw samples used to measure the rate when ``meta`` does not give it.
RATE_WINDOW_S = 0.5
#: Times closer than this are the same instant (trace files store microseconds).
_EPS_S = 1e-9
#: Rate used when the first half second holds fewer than two samples.
FALLBACK_RATE_HZ = 100.0
#: At most this many raw samples or grid points (a live step): worked in Python floats (fewer calls).
SMALL = 8


def _increasing_after(t: list[float], last_s: float, frontier_s: float) -> bool:
    """Whether the times rise strictly, all after ``last_s`` and none before ``frontier_s`` (a block
    with nothing late or repeated)."""
    if t and not t[0] >= frontier_s:
        return False
    prev = last_s
    for x in t:  # a plain loop: no generator to resume per sample
        if not x > prev:
            return False
        prev = x
    return True


def check_rate(rate_hz: float, what: str) -> float:
    """``rate_hz`` if it is a supported grid rate, else a :class:`ValidationError` naming ``what``."""
    if not (math.isfinite(rate_hz) and MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ):
        raise ValidationError(
            f"{what}: a rate of {rate_hz:.6g} Hz is outside the supported {MIN_RATE_HZ:g}–{MAX_RATE_HZ:g} Hz"
        )
    return float(rate_hz)


@dataclass(frozen=True, slots=True)
class GridBatch:
    """Grid points decided by one :meth:`UniformResampler.pull` (valid points only).

    ``k`` are grid indices (``t_s = t0 + k / rate_hz``); gaps are the indices left out.
    """

    k: IntArray
    t_s: FloatArray
    acc_mps2: FloatArray
    gyr_rps: FloatArray

    def __len__(self) -> int:
        return int(self.k.shape[0])


def _empty_batch() -> GridBatch:
    return GridBatch(np.empty(0, np.int64), np.empty(0), np.empty((0, 3)), np.empty((0, 3)))


class UniformResampler:
    """Raw samples in (:meth:`push`), uniform grid points out (:meth:`pull`).

    Args:
        rate_hz: grid rate, or ``None`` to measure it from the first :data:`RATE_WINDOW_S` of samples.
        max_gap_s: raw samples further apart than this leave the grid points between them empty.
    """

    def __init__(self, rate_hz: float | None, max_gap_s: float) -> None:
        self.rate_hz: float | None = None if rate_hz is None else check_rate(rate_hz, "sample rate")
        #: Why this stream was refused (its samples are ignored from then on), or ``None``.
        self.refused: str | None = None
        self.max_gap_s = max_gap_s
        self.t0_s: float | None = None
        self.late_samples = 0
        self.duplicate_samples = 0
        self._next_k = 0
        self._frontier_s = -math.inf  # every grid point before this is decided
        self._t = np.empty(0)
        self._acc = np.empty((0, 3))
        self._gyr = np.empty((0, 3))

    @property
    def last_sample_s(self) -> float:
        return float(self._t[-1]) if self._t.size else -math.inf

    @property
    def frontier_s(self) -> float:
        """All grid points with ``t < frontier_s`` have been decided (emitted or found to be gaps)."""
        return self._frontier_s

    @property
    def next_k(self) -> int:
        """Every grid index below this has been decided."""
        return self._next_k

    @property
    def dt_s(self) -> float | None:
        return None if self.rate_hz is None else 1.0 / self.rate_hz

    def grid_time(self, k: IntArray | int) -> FloatArray:
        assert self.t0_s is not None and self.rate_hz is not None
        return np.asarray(self.t0_s + np.asarray(k, dtype=np.float64) / self.rate_hz, dtype=np.float64)

    def push(self, t_s: FloatArray, acc_mps2: FloatArray, gyr_rps: FloatArray) -> None:
        """Append raw samples (time order). Samples not after the last one or before the decided
        frontier are late (dropped, counted in :attr:`late_samples`); a repeated time keeps the first
        sample (counted in :attr:`duplicate_samples`)."""
        if t_s.size == 0 or self.refused is not None:
            return
        if t_s.size > SMALL or not _increasing_after(t_s.tolist(), self.last_sample_s, self._frontier_s):
            t_s, acc_mps2, gyr_rps = self._fresh(t_s, acc_mps2, gyr_rps)
            if t_s.size == 0:
                return
        if self.t0_s is None:
            self.t0_s = float(t_s[0])
        self._t = np.concatenate((self._t, t_s))
        self._acc = np.concatenate((self._acc, acc_mps2))
        self._gyr = np.concatenate((self._gyr, gyr_rps))

    def _fresh(
        self, t_s: FloatArray, acc_mps2: FloatArray, gyr_rps: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The samples of a block that are neither late nor repeated (see :meth:`push`)."""
        # Within a block times are non-decreasing: drop the stale head and repeated times. A sample
        # exactly at the frontier is not late: a clock promises no sample *older* than itself, and
        # the grid points it decided all lie before it.
        fresh = (t_s > self.last_sample_s) & (t_s >= self._frontier_s)
        # (t_s[1:] - t_s[:-1] is np.diff(t_s), without its dispatch)
        repeat = np.concatenate(([False], t_s[1:] - t_s[:-1] <= 0)) | (t_s == self.last_sample_s)
        if not fresh.all() or repeat.any():
            self.duplicate_samples += int(repeat.sum())
            self.late_samples += int((~fresh & ~repeat).sum())
            keep = fresh & ~repeat
            t_s, acc_mps2, gyr_rps = t_s[keep], acc_mps2[keep], gyr_rps[keep]
        return t_s, acc_mps2, gyr_rps

    def pull(self, clock_s: float = -math.inf) -> GridBatch:
        """Decide every grid point the samples (and the clock) allow; return the valid ones."""
        if self.t0_s is None or self.refused is not None:
            return _empty_batch()
        if self.rate_hz is None and not self._measure_rate(clock_s):
            return _empty_batch()
        assert self.rate_hz is not None
        last = self.last_sample_s
        # Grid points up to the last sample can be interpolated now; beyond it only a clock that is
        # more than max_gap_s past the last sample proves a gap.
        limit = last
        gap_by_clock = clock_s - last > self.max_gap_s
        if gap_by_clock:
            limit = clock_s
        k_end = math.floor((limit - self.t0_s) * self.rate_hz + 1e-9)
        if gap_by_clock and self.t0_s + k_end / self.rate_hz >= clock_s:
            k_end -= 1  # points at or after the clock are not decided yet
        if k_end < self._next_k:
            self._frontier_s = max(self._frontier_s, limit if gap_by_clock else last)
            return _empty_batch()
        if not gap_by_clock and k_end - self._next_k < SMALL and 0 < self._t.size <= SMALL:
            small = self._pull_small(k_end)
            if small is not None:
                return small
        k = self._points_near_samples(self._next_k, k_end)
        tk = self.grid_time(k)
        t = self._t
        eps = _EPS_S
        i = np.searchsorted(t, tk + eps, side="right") - 1
        before_first = i < 0
        i = np.maximum(i, 0)
        exact = np.abs(tk - t[i]) <= eps
        j = np.minimum(i + 1, t.size - 1)
        span = t[j] - t[i]
        inside = ~before_first & (tk <= last + eps)
        ok = inside & (exact | ((span > 0) & (span <= self.max_gap_s)))
        # np.clip(…, 0.0, 1.0)'s numbers without its dispatch (they could differ only in the sign of a
        # zero, and a zero fraction is an exact point: replaced by 0.0 below)
        f = np.minimum(np.maximum((tk - t[i]) / np.where(span > 0, span, 1.0), 0.0), 1.0)
        f = np.where(exact, 0.0, f)[:, None]
        acc = self._acc[i] * (1 - f) + self._acc[j] * f
        gyr = self._gyr[i] * (1 - f) + self._gyr[j] * f
        self._next_k = int(k_end) + 1
        self._frontier_s = max(self._frontier_s, limit if gap_by_clock else last)
        # Keep only the raw sample at or before the next grid point, and everything after it.
        t_next = float(self.grid_time(self._next_k))
        drop = max(int(np.searchsorted(t, t_next + eps, side="right")) - 1, 0)
        if drop:
            self._t, self._acc, self._gyr = t[drop:], self._acc[drop:], self._gyr[drop:]
        return GridBatch(k[ok], tk[ok], acc[ok], gyr[ok])

    def _pull_small(self, k_end: int) -> GridBatch | None:
        """:meth:`pull`'s result up to ``k_end`` (not a gap proven by the clock) for a live step: a few
        grid points and raw samples, in Python floats: the same IEEE operations on the same numbers
        in the same order as the array way (``np.searchsorted`` as ``bisect``, ``np.floor``/``ceil``
        as ``math``'s), for a tenth of the calls. ``None`` when the raw samples hold a gap (the array
        way then decides which points it leaves out)."""
        assert self.t0_s is not None and self.rate_hz is not None
        t = self._t.tolist()
        n_t = len(t)
        max_gap, eps, t0, rate = self.max_gap_s, _EPS_S, self.t0_s, self.rate_hz
        for a, b in itertools.pairwise(t):
            if b - a > max_gap:
                return None
        last = t[-1]
        # _points_near_samples with one run of samples
        lo = max(math.floor((t[0] - t0) * rate) - 1, self._next_k)
        hi = min(math.ceil((last - t0) * rate) + 1, k_end)
        acc_rows, gyr_rows = self._acc.tolist(), self._gyr.tolist()
        k_ok: list[int] = []
        t_ok: list[float] = []
        acc_ok: list[list[float]] = []
        gyr_ok: list[list[float]] = []
        for k in range(lo, hi + 1):
            tk = t0 + float(k) / rate
            i = bisect.bisect_right(t, tk + eps) - 1
            if i < 0 or not tk <= last + eps:
                continue  # before the first sample, or after the last: not valid
            d = tk - t[i]
            exact = -eps <= d <= eps  # abs(d) <= eps, without the call
            j = i + 1 if i + 1 < n_t else n_t - 1
            span = t[j] - t[i]
            if not (exact or (span > 0 and span <= max_gap)):
                continue
            f = 0.0
            if not exact:  # np.minimum(np.maximum(x, 0.0), 1.0) (x > 0 here: d > eps)
                f = d / (span if span > 0 else 1.0)
                f = 1.0 if f > 1.0 else f
            g = 1 - f
            a0, a1, w0, w1 = acc_rows[i], acc_rows[j], gyr_rows[i], gyr_rows[j]
            k_ok.append(k)
            t_ok.append(tk)
            acc_ok.append([a0[0] * g + a1[0] * f, a0[1] * g + a1[1] * f, a0[2] * g + a1[2] * f])
            gyr_ok.append([w0[0] * g + w1[0] * f, w0[1] * g + w1[1] * f, w0[2] * g + w1[2] * f])
        self._next_k = k_end + 1
        self._frontier_s = max(self._frontier_s, last)
        t_next = t0 + float(self._next_k) / rate
        drop = max(bisect.bisect_right(t, t_next + eps) - 1, 0)
        if drop:
            self._t, self._acc, self._gyr = self._t[drop:], self._acc[drop:], self._gyr[drop:]
        if not k_ok:
            return _empty_batch()
        return GridBatch(
            np.array(k_ok, dtype=np.int64),
            np.array(t_ok),
            np.array(acc_ok).reshape(-1, 3),
            np.array(gyr_ok).reshape(-1, 3),
        )

    def _points_near_samples(self, k0: int, k1: int) -> IntArray:
        """The grid indices in ``[k0, k1]`` that can be valid: within a grid step of a run of raw
        samples no more than ``max_gap_s`` apart (every other point is a gap and never emitted)."""
        assert self.t0_s is not None and self.rate_hz is not None
        t = self._t
        if t.size == 0 or k1 < k0:
            return np.empty(0, np.int64)
        breaks = np.flatnonzero(t[1:] - t[:-1] > self.max_gap_s)  # np.diff(t)
        run_first = np.concatenate((t[:1], t[breaks + 1]))
        run_last = np.concatenate((t[breaks], t[-1:]))
        lo = np.maximum(np.floor((run_first - self.t0_s) * self.rate_hz).astype(np.int64) - 1, k0)
        hi = np.minimum(np.ceil((run_last - self.t0_s) * self.rate_hz).astype(np.int64) + 1, k1)
        some = hi >= lo
        lo, hi = lo[some], hi[some]
        if lo.size == 0:
            return np.empty(0, np.int64)
        if lo.size == 1:
            return np.arange(int(lo[0]), int(hi[0]) + 1, dtype=np.int64)
        # The union of the runs' ranges, sorted (what np.unique of their concatenation gives): +1 where
        # a range starts, -1 past its end, covered where the running count is positive.
        base = int(lo.min())
        width = int(hi.max()) - base + 2
        opened = np.bincount(lo - base, minlength=width)
        depth = np.cumsum(opened - np.bincount(hi - base + 1, minlength=width))
        out: IntArray = np.flatnonzero(depth > 0).astype(np.int64) + base
        return out

    def _measure_rate(self, clock_s: float) -> bool:
        assert self.t0_s is not None
        end = self.t0_s + RATE_WINDOW_S
        if self.last_sample_s < end and clock_s < end:
            return False
        window = self._t[self._t < end]
        dt = np.diff(window)
        dt = dt[dt > 0]
        rate = float(1.0 / np.median(dt)) if dt.size else FALLBACK_RATE_HZ
        try:
            self.rate_hz = check_rate(rate, "samples in the first half second")
        except ValidationError as exc:
            self.refused = str(exc)
            self._t, self._acc, self._gyr = np.empty(0), np.empty((0, 3)), np.empty((0, 3))
            raise
        return True
