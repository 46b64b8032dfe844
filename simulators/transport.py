"""When samples are taken, and which of them arrive with what timestamps.

- The device samples at its own oscillator's rate: true times ``τ_k = τ_0 + k / (rate · (1 + ε))``
  (``ε`` = rate error; meta keeps the nominal rate).
- The host stamps them on the session clock: ``t_k = τ_k + offset + drift · τ_k + jitter_k``, kept
  non-decreasing (a trace requires it). After each reconnection the offset steps a little (the clock
  link is re-established).
- BLE notifications carry ``samples_per_packet`` samples; each packet is lost with ``drop_rate``.
- Whole disconnections (gaps) lose every sample taken inside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from simulators.devices import DeviceClass
from simulators.scenario import SensorSpec, draw


@dataclass(frozen=True)
class Clock:
    """A device's sampling clock and the host's timestamps for it (all seconds)."""

    t0_s: float  # true time of the first sample
    period_s: float  # true sample period
    offset_s: float
    drift_ppm: float
    jitter_s: float
    rate_error_ppm: float

    def true_times(self, duration_s: float) -> FloatArray:
        n = int(np.floor((duration_s - self.t0_s) / self.period_s)) + 1
        return np.asarray(self.t0_s + np.arange(max(n, 0)) * self.period_s)


@dataclass(frozen=True)
class Faults:
    """Losses of one sensor: packet drops and disconnections (true-time intervals)."""

    drop_rate: float
    samples_per_packet: int
    gaps: tuple[tuple[float, float], ...]
    gap_offset_steps_s: tuple[float, ...]


def ideal_clock(rate_hz: float) -> Clock:
    """Samples exactly at ``k / rate_hz`` stamped with their true times."""
    return Clock(0.0, 1.0 / rate_hz, 0.0, 0.0, 0.0, 0.0)


def draw_clock(spec: SensorSpec, cls: DeviceClass, rng: np.random.Generator) -> Clock:
    """A device clock with the scenario's (or the class's default) errors."""

    def pick(value: float | tuple[float, float] | None, sigma: float) -> float:
        if value is None:
            return float(np.clip(rng.normal(0.0, sigma), -3.0 * sigma, 3.0 * sigma))
        return draw(value, rng)

    offset = pick(spec.clock_offset_s, cls.clock_offset_s)
    drift = pick(spec.clock_drift_ppm, cls.clock_drift_ppm)
    jitter = abs(pick(spec.jitter_s, 0.0)) if spec.jitter_s is not None else cls.jitter_s
    rate_error = pick(spec.rate_error_ppm, cls.rate_error_ppm)
    period = 1.0 / (spec.rate_hz * (1.0 + rate_error * 1e-6))
    # First sample within one period of t = 0, late enough that no timestamp is negative.
    t0 = max(float(rng.uniform(0.0, period)), -offset + 4.0 * jitter + 1e-3)
    return Clock(t0, period, offset, drift, jitter, rate_error)


def draw_faults(
    spec: SensorSpec,
    rng: np.random.Generator,
    duration_s: float,
    quiet: list[tuple[float, float]],
    jitter_s: float,
) -> Faults:
    """Drops and gaps of one sensor; random gaps avoid the ``quiet`` intervals (calibration)."""
    gaps = [(start, start + dur) for start, dur in spec.gaps]
    n = int(rng.poisson(draw(spec.gaps_per_10min, rng) * duration_s / 600.0))
    for _ in range(n):
        dur = draw(spec.gap_s, rng)
        for _try in range(50):
            start = float(rng.uniform(0.0, max(0.0, duration_s - dur)))
            span = (start - 1.0, start + dur + 1.0)
            if all(span[1] <= a or span[0] >= b for a, b in quiet + gaps):
                gaps.append((start, start + dur))
                break
    gaps.sort()
    steps = tuple(float(rng.normal(0.0, max(0.002, jitter_s))) for _ in gaps)
    return Faults(draw(spec.drop_rate, rng), spec.samples_per_packet, tuple(gaps), steps)


def deliver(
    tau_s: FloatArray, clock: Clock, faults: Faults | None, rng: np.random.Generator
) -> tuple[npt.NDArray[np.bool_], FloatArray, int]:
    """Which samples arrive and their session-clock timestamps.

    Returns ``(keep_mask, t_reported_s for the kept samples, samples lost to packet loss outside gaps)``.
    """
    n = len(tau_s)
    keep = np.ones(n, dtype=bool)
    dropped = 0
    offset = np.full(n, clock.offset_s)
    if faults is not None:
        for (a, b), step in zip(faults.gaps, faults.gap_offset_steps_s, strict=True):
            keep &= ~((tau_s >= a) & (tau_s < b))
            offset[tau_s >= b] += step
        if faults.drop_rate > 0 and n:
            packets = np.arange(n) // faults.samples_per_packet
            lost = (rng.random(int(packets[-1]) + 1) < faults.drop_rate)[packets]
            dropped = int((lost & keep).sum())  # lost to packet loss, not counting samples inside gaps
            keep &= ~lost
    t = tau_s + offset + clock.drift_ppm * 1e-6 * tau_s
    if clock.jitter_s > 0:
        t = t + rng.normal(0.0, clock.jitter_s, n)
    t_kept = np.maximum.accumulate(t[keep]) if keep.any() else t[keep]
    return keep, np.maximum(t_kept, 0.0), dropped
