"""What the simulated sensors measure: motion sources, evaluated at any true times.

A simulated device samples on its own clock, so it asks its source for the ideal signals (sensor frame,
SI units, before any encoding) at its own true sample times:

- :class:`SessionMotion` wraps the session simulator's :func:`simulators.simulate_motion` output (one
  uniform grid per role) and interpolates it linearly; it can be started late (:meth:`start_at`): a
  live session's patient begins when the coach's prompts begin, and holds the first pose until then.
- :class:`SyntheticMotion` is a small analytic source (slow turns, a 25 Hz buzz, an earth field), for
  devices that nobody wears in a test and for driver tests that need signals at any time.
"""

from __future__ import annotations

import math
import zlib
from typing import Protocol

import numpy as np

from coach.samples import FloatArray, SampleBlock
from coach.units import GRAVITY_MPS2

EARTH_FIELD_UT = np.array([18.0, 0.0, -44.0])


class MotionSource(Protocol):
    """Ideal per-role IMU signals at true times ``t_s`` (seconds of the simulated world)."""

    def sample(self, role: str, t_s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(acc_mps2, gyr_rps, mag_ut)``, each of shape ``(len(t_s), 3)``."""
        ...


class SyntheticMotion:
    """Slow roll and pitch swings (different per role), a small 25 Hz buzz, a fixed earth field.

    Deterministic in ``seed``; smooth, so values at nearby times are close (an honest test signal for
    quantisation and timing checks).
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._params: dict[str, np.ndarray] = {}

    def _p(self, role: str) -> np.ndarray:
        if role not in self._params:
            # amplitude (rad) and frequency (Hz) of roll and pitch, phases, buzz amplitude (m/s²)
            r = np.random.default_rng([self.seed, zlib.crc32(role.encode())])
            self._params[role] = np.array(
                [r.uniform(0.2, 0.6), r.uniform(0.1, 0.4), r.uniform(0.1, 0.5), r.uniform(0.05, 0.3),
                 r.uniform(0, 2 * math.pi), r.uniform(0, 2 * math.pi), r.uniform(0.02, 0.1)]
            )  # fmt: skip
        return self._params[role]

    def sample(self, role: str, t_s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        a_r, a_p, f_r, f_p, ph_r, ph_p, buzz = self._p(role)
        t = np.asarray(t_s, dtype=np.float64)
        roll = a_r * np.sin(2 * math.pi * f_r * t + ph_r)
        pitch = a_p * np.sin(2 * math.pi * f_p * t + ph_p)
        roll_rate = a_r * 2 * math.pi * f_r * np.cos(2 * math.pi * f_r * t + ph_r)
        pitch_rate = a_p * 2 * math.pi * f_p * np.cos(2 * math.pi * f_p * t + ph_p)
        # gravity in the sensor frame (x forward, z up when level), roll about x then pitch about y
        g = (
            np.stack([-np.sin(pitch), np.cos(pitch) * np.sin(roll), np.cos(pitch) * np.cos(roll)], axis=1)
            * GRAVITY_MPS2
        )
        acc = g + buzz * np.sin(2 * math.pi * 25.0 * t)[:, None] * np.array([1.0, 0.5, 0.2])
        gyr = np.stack([roll_rate, pitch_rate, 0.1 * roll_rate * pitch_rate], axis=1)
        cr, sr, cp, sp = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch)
        bx, by, bz = EARTH_FIELD_UT
        mag = np.stack(
            [cp * bx - sp * bz, sr * sp * bx + cr * by + sr * cp * bz, cr * sp * bx - sr * by + cr * cp * bz],
            axis=1,
        )
        return acc, gyr, mag


class SessionMotion:
    """A simulated session's per-role signals (``simulate_motion(...).blocks``), interpolated.

    Before :meth:`start_at` (or before its first sample) the first sample holds; after its end, the last.
    Roles the session does not have fall back to ``fallback`` (default: :class:`SyntheticMotion`).
    """

    def __init__(self, blocks: dict[str, SampleBlock], fallback: MotionSource | None = None) -> None:
        self.blocks = blocks
        self.fallback = fallback or SyntheticMotion()
        self.start_s = 0.0

    def start_at(self, world_t_s: float) -> None:
        """The session's t = 0 is at world time ``world_t_s`` (the patient follows the prompts from then)."""
        self.start_s = world_t_s

    def sample(self, role: str, t_s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        block = self.blocks.get(role)
        if block is None:
            return self.fallback.sample(role, t_s)
        t = np.asarray(t_s, dtype=np.float64) - self.start_s
        acc = np.stack([np.interp(t, block.t_s, block.acc_mps2[:, i]) for i in range(3)], axis=1)
        gyr = np.stack([np.interp(t, block.t_s, block.gyr_rps[:, i]) for i in range(3)], axis=1)
        if block.mag_ut is not None:
            mag = np.stack([np.interp(t, block.t_s, block.mag_ut[:, i]) for i in range(3)], axis=1)
        else:
            mag = self.fallback.sample(role, t_s)[2]
        return acc, gyr, mag
