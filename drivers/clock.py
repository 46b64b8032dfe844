"""Sample clocks: per-sample times on the session clock from device timestamps or from arrival times.

Every device's notifications are stamped on arrival with one host clock (the session clock). Radio delivery
only ever *delays* a packet (jitter, connection events, bunching), so the arrival times lie on or above a
line ``arrival ≈ offset + slope · x`` whose lower envelope is the device's clock mapped onto the host
clock (Moon, Skelly & Towsley 1999: clock skew from the lower bound of one-way delays, a linear program
solved on the lower convex hull). ``x`` is the device time of a packet's last sample where the profile
sends timestamps (:class:`DeviceTimeClock`), or its sample index times the nominal period where it sends
nothing (:class:`ArrivalClock`). The envelope is unaffected by jitter and bunching (they lie above it)
and its slope is the device's drift. What remains unknown is the constant minimum latency of each radio
link (docs/design.md §8): all of a device's times are late by it.

Lost packets: with timestamps or counters a loss is a jump in ``x``. Without, a packet assigned the
index of a lost one arrives late by whole packet periods, and so do all later ones; :class:`ArrivalClock`
holds packets for ``hold_s`` and infers a loss when even the least-delayed packet within the hold sits
more than half a packet period above the envelope's usual level.

Times handed out never go backwards: they follow the fitted line through a slew limit (each step is
0.5–1.2 times the nominal step), so a refit moves them smoothly instead of jumping.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from coach.samples import FloatArray

T = TypeVar("T")

#: Each output step stays within (1 - SLEW_DOWN) and (1 + SLEW_UP) times the nominal step (except across
#: a gap): times move smoothly when the fit changes, and catch up quickly when it drops (a late start).
SLEW_DOWN = 0.5
SLEW_UP = 0.2
#: How long a segment started after an inferred loss goes by the previous segment's offset.
CARRY_S = 2.0
#: A held packet less than this many packet periods above the envelope's usual level was not preceded
#: by a loss (its index would make it at least one period late).
LOSS_FLOOR = 0.6


class EnvelopeFit:
    """Lower-envelope lines ``y ≈ offset_s + slope·x`` with one slope and an offset per segment.

    A segment starts wherever the ``x`` of the points may have shifted by an unknown amount (an inferred
    loss re-indexes the samples that follow, a reconnect restarts the indices, a device rebooted):
    segments share the slope (the device's drift) but each has its own offset, so a step at a segment
    boundary can never tilt the slope. Points are thinned to one per bin of ``bin_x`` (the lowest) and kept
    for ``window_s`` of ``y``. The slope maximises the total height of the lines under their points (the
    LP of Moon et al., solved by ternary search: the objective is concave), clamped to
    ``slope0 · (1 ± tolerance)``, and is estimated once the segments span ``min_span_x`` in all (before
    that: ``slope0``).

    Args:
        slope0: nominal slope (1.0: ``x`` and ``y`` in seconds of nominally equal clocks).
        tolerance: how far (relative) the true slope may be from ``slope0``.
        window_s: how much history the fit uses (seconds of ``y``).
        bin_x: bin width for thinning the points.
        min_span_x: the span of points needed before the slope is estimated.
    """

    def __init__(
        self,
        slope0: float = 1.0,
        tolerance: float = 1e-3,
        window_s: float = 300.0,
        bin_x: float = 0.25,
        min_span_x: float | None = None,
    ) -> None:
        self.slope0 = slope0
        self.tolerance = tolerance
        self.window_s = window_s
        self.bin_x = bin_x
        self.min_span_x = (10.0 if tolerance <= 0.01 else 1.0) if min_span_x is None else min_span_x
        self.slope = slope0
        self._x_ref: float | None = None
        self._pts: deque[tuple[int, int, float, float]] = deque()  # (segment, bin, x - x_ref, y)
        self._segment = 0
        self._offset: float | None = None  # of the current segment, for x relative to x_ref
        self._last_fit_y: float | None = None
        self._carry: float | None = None
        self._segment_start_y: float | None = None

    def new_segment(self, carry: bool = False) -> None:
        """Later points may be shifted in ``x`` against earlier ones: give them their own offset.

        With ``carry`` (the shift is believed known, e.g. an inferred loss), the new segment starts from
        the old offset and only lowers it, until it has ``CARRY_S`` of its own points to go by.
        """
        self._segment += 1
        self._carry = self._offset if carry else None
        self._segment_start_y = None
        self._offset = self._carry

    @property
    def ready(self) -> bool:
        return self._offset is not None

    def add(self, x: float, y: float) -> None:
        if self._x_ref is None:
            self._x_ref = x
        xr = x - self._x_ref
        b = math.floor(xr / self.bin_x)
        last = self._pts[-1] if self._pts else None
        if last is not None and last[0] == self._segment and last[1] == b:
            if y - self.slope0 * xr < last[3] - self.slope0 * last[2]:
                self._pts[-1] = (self._segment, b, xr, y)
        else:
            self._pts.append((self._segment, b, xr, y))
        while self._pts and self._pts[0][3] < y - self.window_s:
            self._pts.popleft()
        if self._segment_start_y is None:
            self._segment_start_y = y
        h = y - self.slope * xr
        if self._offset is None or h < self._offset:
            self._offset = h  # the line goes under every point at once

    def refit(self, every_s: float = 2.0) -> None:
        """Re-estimate the slope and the current offset (at most every ``every_s`` of ``y``)."""
        if not self._pts:
            return
        y_last = self._pts[-1][3]
        if self._last_fit_y is not None and y_last - self._last_fit_y < every_s:
            return
        self._last_fit_y = y_last
        arr = np.array(self._pts, dtype=np.float64)
        seg, x, y = arr[:, 0].astype(np.int64), arr[:, 2], arr[:, 3]
        starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
        span = float(np.sum(np.maximum.reduceat(x, starts) - np.minimum.reduceat(x, starts)))
        if span >= self.min_span_x and len(x) >= 3:
            self.slope = _lp_slope(
                x, y, starts, self.slope0 * (1 - self.tolerance), self.slope0 * (1 + self.tolerance)
            )
        cur = seg == self._segment
        if cur.any():
            own = float(np.min(y[cur] - self.slope * x[cur]))
            young = self._segment_start_y is not None and y_last - self._segment_start_y < CARRY_S
            self._offset = min(own, self._carry) if self._carry is not None and young else own

    def predict(self, x: FloatArray) -> FloatArray:
        """The current segment's line at ``x``."""
        if self._x_ref is None or self._offset is None:
            raise RuntimeError("no points in this segment yet")
        return self._offset + self.slope * (np.asarray(x, dtype=np.float64) - self._x_ref)

    def predict1(self, x: float) -> float:
        if self._x_ref is None or self._offset is None:
            raise RuntimeError("no points in this segment yet")
        return self._offset + self.slope * (x - self._x_ref)


def _lp_slope(x: FloatArray, y: FloatArray, starts: np.ndarray, lo: float, hi: float) -> float:
    """The slope in ``[lo, hi]`` maximising Σ_segments n_s·min_{i∈s}(y_i − slope·x_i) + slope·Σ x_i:
    the lines under all points of their segment with the largest total height (least total delay)."""
    counts = np.diff(np.r_[starts, len(x)])
    sum_x = float(x.sum())

    def objective(slope: float) -> float:
        return float(np.sum(counts * np.minimum.reduceat(y - slope * x, starts)) + slope * sum_x)

    a, b = lo, hi
    for _ in range(60):
        m1, m2 = a + (b - a) / 3, b - (b - a) / 3
        if objective(m1) < objective(m2):
            a = m1
        else:
            b = m2
    return (a + b) / 2


@dataclass(frozen=True, slots=True)
class Gap:
    """Samples missing before a released packet: ``missing`` (estimated when not counted) and why."""

    missing: int
    reason: str  # "lost" (packets lost on a live link) or "reconnect"


@dataclass(frozen=True, slots=True)
class Timed(Generic[T]):
    """A released packet with one session-clock time per sample, and the gap before it (if any)."""

    item: T
    t_s: FloatArray
    gap: Gap | None = None


@dataclass
class _Out:
    """The slew-limited, never-decreasing output mapping of one stream."""

    period_s: float
    last_x: float | None = None
    last_t: float | None = None

    def times(self, x: FloatArray, target: FloatArray, gap: bool) -> FloatArray:
        if len(x) == 1:
            xi, ti = float(x[0]), float(target[0])
            if self.last_t is not None and self.last_x is not None:
                dx = max(xi - self.last_x, 0.0)
                hi = math.inf if gap else self.last_t + (1 + SLEW_UP) * dx
                ti = min(max(ti, self.last_t + (1 - SLEW_DOWN) * dx), hi)
            self.last_x, self.last_t = xi, ti
            return np.array([ti])
        if self.last_t is not None and self.last_x is not None and len(x):
            # The common case, vectorised: every step already within the slew bounds.
            dx = np.diff(np.r_[self.last_x, x])
            dt = np.diff(np.r_[self.last_t, target])
            ok = (dx >= 0) & (dt >= (1 - SLEW_DOWN) * dx) & (dt <= (1 + SLEW_UP) * dx)
            if gap:
                ok[0] = dx[0] >= 0 and dt[0] >= (1 - SLEW_DOWN) * dx[0]
            if ok.all():
                self.last_x, self.last_t = float(x[-1]), float(target[-1])
                return target.copy()
        out = np.empty_like(target)
        for i, (xi, ti) in enumerate(zip(x.tolist(), target.tolist(), strict=True)):
            if self.last_t is None or self.last_x is None:
                t = ti
            else:
                dx = max(xi - self.last_x, 0.0)
                if gap and i == 0:
                    lo, hi = self.last_t + (1 - SLEW_DOWN) * dx, math.inf
                else:
                    lo, hi = self.last_t + (1 - SLEW_DOWN) * dx, self.last_t + (1 + SLEW_UP) * dx
                t = min(max(ti, lo), hi)
            out[i] = t
            self.last_x, self.last_t = xi, t
        return out


class DeviceTimeClock(Generic[T]):
    """Times for a stream whose packets carry device timestamps.

    ``push`` takes each packet's per-sample device times (as transmitted: wrapping at ``wrap_s``) and
    its arrival time; packets come out at once (``pop``) with session-clock times. A jump of the device
    time by more than 1.5 periods is a gap of lost samples; a jump back by more than a second is a
    rebooted device (a new segment of the fit). Several streams of one device clock pass one ``fit``.

    The first ``settle_s`` of arrivals are held and timed together once they are over: a process held
    up just as the stream starts (a program starting beside it) receives the first packets in one late
    burst, and times handed out from the burst's first packets alone would be late, then squeezed
    (times never go back) until the fit recovers. After the burst the fit rests on its last packets
    and on the healthy arrivals that follow, so the same device samples get the same times however
    late the process was. Later stalls do not matter: delayed arrivals lie above the envelope.
    """

    def __init__(
        self,
        rate_hz: float,
        tolerance: float = 1e-3,
        wrap_s: float | None = None,
        fit: EnvelopeFit | None = None,
        settle_s: float = 1.0,
    ) -> None:
        self.period_s = 1.0 / rate_hz
        self.wrap_s = wrap_s
        # Streams of one device clock (Polar's ACC and GYRO frames) share one fit: one mapping.
        self.fit = fit if fit is not None else EnvelopeFit(1.0, tolerance)
        self._out = _Out(self.period_s)
        self._wraps = 0.0
        self._last_raw: float | None = None
        self._last_x: float | None = None
        self._ready: list[Timed[T]] = []
        self._segment_gap: Gap | None = None
        self.samples_lost = 0
        self.settle_s = settle_s
        self._first_arrival: float | None = None
        self._settling: list[tuple[T, FloatArray, Gap | None]] | None = []

    def new_segment(self) -> None:
        """After a reconnect: the device clock runs on, so the mapping is kept; the next packet is
        marked as coming after a gap."""
        self._segment_gap = Gap(0, "reconnect")

    def _unwrap(self, raw: FloatArray) -> FloatArray:
        if not self.wrap_s:
            return raw
        x = np.empty_like(raw)
        for i, r in enumerate(raw.tolist()):
            if self.wrap_s and self._last_raw is not None and r < self._last_raw - self.wrap_s / 2:
                self._wraps += self.wrap_s
            self._last_raw = r
            x[i] = r + self._wraps
        return x

    def push(self, item: T, device_time_s: FloatArray, arrival_s: float) -> None:
        x = self._unwrap(np.asarray(device_time_s, dtype=np.float64))
        gap = self._segment_gap
        self._segment_gap = None
        if self._last_x is not None:
            step = float(x[0]) - self._last_x
            if step < -1.0:  # the device clock went back: it rebooted
                self.fit.new_segment()
                self._out = _Out(self.period_s)
                gap = Gap(0, gap.reason if gap else "lost")
            elif step > 1.5 * self.period_s:
                missing = round(step / self.period_s) - 1
                self.samples_lost += missing
                gap = Gap(missing, gap.reason if gap else "lost")
        self._last_x = float(x[-1])
        self.fit.add(float(x[-1]), arrival_s)
        self.fit.refit()
        if self._settling is not None:
            if self._first_arrival is None:
                self._first_arrival = arrival_s
            self._settling.append((item, x, gap))
            self._settle(arrival_s, False)
            return
        self._time(item, x, gap)

    def _time(self, item: T, x: FloatArray, gap: Gap | None) -> None:
        target = self.fit.predict(x)
        self._ready.append(Timed(item, self._out.times(x, target, gap is not None), gap))

    def _settle(self, now_s: float | None, flush: bool) -> None:
        """Time the packets held at the start once ``settle_s`` of arrivals is over (or on ``flush``)."""
        if self._settling is None or self._first_arrival is None:
            return
        if not flush and (now_s is None or now_s - self._first_arrival < self.settle_s):
            return
        held, self._settling = self._settling, None
        for item, x, gap in held:
            self._time(item, x, gap)

    def pop(self, now_s: float | None = None, flush: bool = False) -> list[Timed[T]]:
        self._settle(now_s, flush)
        ready, self._ready = self._ready, []
        return ready


@dataclass
class _Pending(Generic[T]):
    item: T
    n: int
    arrival_s: float
    k: int  # index of the first sample (provisional until released)
    gap: Gap | None = None


class ArrivalClock(Generic[T]):
    """Times for a stream whose packets carry no time: sample indices regularised against arrivals.

    Args:
        rate_hz: nominal sample rate.
        tolerance: how far the true rate may be from nominal (relative).
        hold_s: how long a packet is held before release, so that later arrivals can show that
            packets before it were lost (the output latency of this clock).
    """

    def __init__(self, rate_hz: float, tolerance: float = 1e-3, hold_s: float = 0.3) -> None:
        self.period_s = 1.0 / rate_hz
        self.hold_s = hold_s
        self.fit = EnvelopeFit(1.0, tolerance)
        self._out = _Out(self.period_s)
        self._pending: deque[_Pending[T]] = deque()
        self._next_k = 0
        self._mins: deque[tuple[float, float]] = deque()  # (arrival, least excess) of recent releases
        self._segment_gap: Gap | None = None
        self._last_arrival: float | None = None
        self._resume_s: float | None = None
        self._baseline = (0.0, -math.inf)  # (value, arrival when computed)
        self.samples_lost = 0

    def new_segment(self) -> None:
        """After a reconnect (call ``pop(..., flush=True)`` first): index afresh, keep the drift."""
        self._segment_gap = Gap(0, "reconnect")

    def push(self, item: T, n: int, arrival_s: float) -> None:
        if self._segment_gap is not None and not self._pending:
            self.fit.new_segment()
            self._mins.clear()
            self._next_k = 0
            self._last_arrival = None
            self._out = _Out(self.period_s)
        p = _Pending(item, n, arrival_s, self._next_k, self._segment_gap)
        self._segment_gap = None
        if self._pending and arrival_s - self._pending[-1].arrival_s > 0.5 * self.hold_s:
            self._resume_s = arrival_s  # flow resumes after a silence
        self._pending.append(p)
        self._next_k += n
        self.fit.add(self._x_last(p), arrival_s)  # provisional index: a missed loss only puts it higher

    def _x_last(self, p: _Pending[T]) -> float:
        return (p.k + p.n - 1) * self.period_s

    def pop(self, now_s: float, flush: bool = False) -> list[Timed[T]]:
        """Release the packets held for ``hold_s`` (all of them with ``flush``).

        Call it after pushing every notification that arrived up to ``now_s``. After a silence (a
        stall, then a bunch) the head waits ``hold_s`` past the end of the silence, so that packets
        flowing normally again, not only the delayed bunch, show whether any were lost.
        """
        out: list[Timed[T]] = []
        while self._pending and (flush or now_s >= self._release_time()):
            out.append(self._release(infer_loss=not flush))
        return out

    def _release_time(self) -> float:
        head = self._pending[0].arrival_s
        resume = self._resume_s if self._resume_s is not None and self._resume_s > head else head
        return resume + self.hold_s

    def _least_excess(self) -> float:
        return min(p.arrival_s - self.fit.predict1(self._x_last(p)) for p in self._pending)

    def _baseline_at(self, t: float) -> float:
        """The usual least excess over the envelope (median of recent releases), refreshed every 0.25 s."""
        value, when = self._baseline
        if t - when >= 0.25 or not self._mins:
            value = float(np.median([v for _, v in self._mins])) if self._mins else 0.0
            self._baseline = (value, t)
        return value

    def _release(self, infer_loss: bool = True) -> Timed[T]:
        head = self._pending[0]
        self.fit.refit()
        baseline = self._baseline_at(head.arrival_s)
        packet_s = head.n * self.period_s * self.fit.slope
        head_excess = head.arrival_s - self.fit.predict1(self._x_last(head))
        record = True
        if head_excess - baseline <= LOSS_FLOOR * packet_s:
            # An on-time head: no loss before it. The least excess of the held packets is only needed
            # for the baseline, which a sample every 50 ms describes well enough.
            record = not self._mins or head.arrival_s - self._mins[-1][0] >= 0.05
            m = self._least_excess() if record else head_excess
        else:
            m = self._least_excess()
        gap = head.gap
        if infer_loss and m - baseline > LOSS_FLOOR * packet_s:
            lost = head.n * round((m - baseline) / packet_s)
            for p in self._pending:
                p.k += lost
            self._next_k += lost
            self.samples_lost += lost
            gap = Gap(lost, gap.reason if gap else "lost")
            # The re-indexed samples get their own offset: a wrong guess cannot tilt the slope.
            self.fit.new_segment(carry=True)
            for p in self._pending:
                self.fit.add(self._x_last(p), p.arrival_s)
            m = min(p.arrival_s - self.fit.predict1(self._x_last(p)) for p in self._pending)
        if record:
            self._mins.append((head.arrival_s, m))
        while self._mins and self._mins[0][0] < head.arrival_s - 5.0:
            self._mins.popleft()
        self._pending.popleft()
        self._last_arrival = head.arrival_s
        x = (head.k + np.arange(head.n, dtype=np.float64)) * self.period_s
        return Timed(head.item, self._out.times(x, self.fit.predict(x), gap is not None), gap)


@dataclass
class ClockStats:
    """What a stream's clock has seen (for diagnostics and the benchmark)."""

    rate_hz: float
    slope: float
    samples_lost: int = 0
    extra: dict[str, float] = field(default_factory=dict)
