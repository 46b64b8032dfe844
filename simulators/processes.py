"""Random processes in continuous time: drawn once on a knot grid, then evaluated at any times.

The body model is evaluated on each sensor's own sample grid (different rates, clock drift), so every
random ingredient must be a function of time rather than a sampled array. Slow drifts are
Ornstein-Uhlenbeck processes on knots joined by a C² cubic spline; narrowband oscillations
(tremor) are sums of sinusoids with slowly varying amplitude.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.interpolate import CubicSpline

from coach.samples import FloatArray


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """An independent generator for one named ingredient of one seeded session.

    Keyed by name, so adding a sensor or an episode type leaves every other ingredient's draw unchanged.
    """
    if seed < 0:
        raise ValueError("seed must be >= 0")
    key = [zlib.crc32(n.encode()) for n in names]
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, *key]))


class SmoothProcess:
    """A scalar Ornstein-Uhlenbeck drift (σ, correlation time τ) as a C² spline of time.

    Starts at ``start`` (0 by default: the prescribed pose at the session start) and relaxes toward
    the stationary spread σ. Knots every τ/5 (at least 0.2 s), covering ``[-2, duration_s + 2]``.
    """

    def __init__(
        self, rng: np.random.Generator, duration_s: float, sigma: float, tau_s: float, start: float = 0.0
    ) -> None:
        dt = max(0.2, tau_s / 5.0)
        knots = np.arange(-2.0, duration_s + 2.0 + dt, dt)
        a = np.exp(-dt / tau_s)
        shocks = rng.normal(0.0, sigma * np.sqrt(1.0 - a * a), len(knots))
        values = np.empty(len(knots))
        x = start
        for i in range(len(knots)):
            values[i] = x
            x = a * x + shocks[i]
        self.sigma = sigma
        self._spline = CubicSpline(knots, values, bc_type="natural", extrapolate=True)

    def __call__(self, t_s: FloatArray) -> FloatArray:
        return np.asarray(self._spline(t_s), dtype=np.float64)


class Narrowband:
    """A narrowband oscillation around ``centre_hz`` with unit RMS on average.

    A sum of ``n`` sinusoids at centre ± ``spread_hz`` with random phases; the amplitude wanders slowly
    (× 0.5–1.5) like physiological tremor does.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        duration_s: float,
        centre_hz: float,
        spread_hz: float = 0.7,
        n: int = 3,
    ) -> None:
        self.freqs_hz = centre_hz + rng.uniform(-spread_hz, spread_hz, n)
        self.phases = rng.uniform(0.0, 2.0 * np.pi, n)
        self.weights = np.sqrt(2.0 / n) * np.ones(n)
        self._envelope = SmoothProcess(rng, duration_s, 0.25, 8.0, start=0.0)

    def __call__(self, t_s: FloatArray) -> FloatArray:
        t = np.asarray(t_s, dtype=np.float64)
        out = np.zeros_like(t)
        for f, p, w in zip(self.freqs_hz, self.phases, self.weights, strict=True):
            out += w * np.sin(2.0 * np.pi * f * t + p)
        return out * np.clip(1.0 + self._envelope(t), 0.5, 1.5)
