"""What a sensor stream carries: blocks of IMU samples (the unit of data flowing from drivers and trace
readers into the pipeline) and link-status changes.

All arrays are in SI units and in the sensor frame of the device:
acceleration (specific force) in m/s², angular rate in rad/s, magnetic field in µT, pressure in Pa.
Times are seconds on the session clock (trace seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Sensor roles of docs/design.md §3. A session needs ``treated``; the others are optional.
ROLES: tuple[str, ...] = ("treated", "hand", "stroker")

#: Sample rates the coach supports, in Hz (the stroke detector's band filters need at least 10 Hz;
#: above 10 kHz a "sensor" is a broken clock, and its grid would be gigabytes). A trace's ``meta``
#: (:mod:`coach.trace.meta`) and the resampler (:mod:`coach.signal.resample`) both hold rates to it.
MIN_RATE_HZ = 10.0
MAX_RATE_HZ = 10_000.0

LinkState = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A sensor's link went ``up`` or ``down``, or its battery level was read, at session time ``t_s``.

    ``reason`` says why a link went down or what failed; ``address`` is the device's, where known.
    """

    role: str
    link: LinkState
    t_s: float
    battery_pct: float | None = None
    reason: str = ""
    address: str = ""

    @property
    def up(self) -> bool:
        return self.link == "up"


@dataclass(frozen=True, slots=True)
class SampleBlock:
    """Consecutive samples of one sensor role, in time order.

    Attributes:
        role: ``treated``, ``hand`` or ``stroker``.
        t_s: sample times, shape (n,), non-decreasing.
        acc_mps2: specific force, shape (n, 3).
        gyr_rps: angular rate, shape (n, 3).
        mag_ut: magnetic field, shape (n, 3), NaN where a value is missing; ``None`` when the sensor has none.
        pressure_pa: air pressure, shape (n,), NaN where missing; ``None`` when the sensor has none.
    """

    role: str
    t_s: FloatArray
    acc_mps2: FloatArray
    gyr_rps: FloatArray
    mag_ut: FloatArray | None = None
    pressure_pa: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def slice(self, start: int, stop: int) -> SampleBlock:
        """Samples ``start:stop`` as a new block (views, no copy)."""
        return SampleBlock(
            self.role,
            self.t_s[start:stop],
            self.acc_mps2[start:stop],
            self.gyr_rps[start:stop],
            None if self.mag_ut is None else self.mag_ut[start:stop],
            None if self.pressure_pa is None else self.pressure_pa[start:stop],
        )

    @staticmethod
    def concat(blocks: list[SampleBlock]) -> SampleBlock:
        """Join blocks of one role; optional channels survive only if every block has them."""
        if not blocks:
            raise ValueError("concat needs at least one block")
        role = blocks[0].role
        if any(b.role != role for b in blocks):
            raise ValueError("concat joins blocks of one role only")
        mags = [b.mag_ut for b in blocks if b.mag_ut is not None]
        pres = [b.pressure_pa for b in blocks if b.pressure_pa is not None]
        return SampleBlock(
            role,
            np.concatenate([b.t_s for b in blocks]),
            np.concatenate([b.acc_mps2 for b in blocks]),
            np.concatenate([b.gyr_rps for b in blocks]),
            np.concatenate(mags) if len(mags) == len(blocks) else None,
            np.concatenate(pres) if len(pres) == len(blocks) else None,
        )
