"""The ``sensors`` family: cheap IMUs and a strap that turns.

Per worn sensor (drawn from the seed, per role):

- **gyro offsets beyond VQF's bias estimate**: MPU-6050-class zero-rate offsets of 3–12 °/s on each
  axis (random sign; the MPU-6000/6050 product specification allows ±20 °/s; VQF's rest bias estimate
  is clipped at 2 °/s by default);
- **temperature drift**: the device warms 5–15 K on the skin (τ 3–10 min), the room drifts (σ 1–3 K,
  τ 2–5 min), and 30 % of sessions have a step of ±2–5 K (τ 1–3 min, a window, a heater); gyro
  temperature coefficients 0.03–0.2 °/s/K and accelerometer 0.5–2 mg/K per axis (random sign);
- **coarse quantisation**: 10–13 effective bits over the full scale instead of 16 (firmware that packs
  samples for BLE);
- **saturation on knocks**: accelerometer ±2 g (60 %) or ±4 g, gyroscope ±250 °/s (60 %) or ±500 °/s
  (the MPU-6050's power-on defaults and the next setting);
- **a strap that turns mid-session** (the treated sensor in 70 % of sessions, the hand sensor in 30 %):
  the device turns 15–60° about the forearm (or hand) axis over 0.3–1.5 s and stays there: a mounting
  change, labelled with its time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coach.samples import FloatArray
from coach.units import GRAVITY_MPS2
from simulators.frames import min_jerk
from simulators.processes import SmoothProcess, rng_for

_DEG = np.pi / 180.0
_MG = GRAVITY_MPS2 * 1e-3  # one milli-g in m/s²


@dataclass(frozen=True)
class SensorVariant:
    """One device's drawn cheap-IMU behaviour (SI units)."""

    gyr_offset_rps: FloatArray  # replaces the class's initial gyro bias
    gyr_tempco_rps_per_k: FloatArray
    acc_tempco_mps2_per_k: FloatArray
    warm_k: float
    warm_tau_s: float
    step_k: float
    step_at_s: float
    step_tau_s: float
    room: SmoothProcess
    bits: int
    acc_range_g: float
    gyro_range_dps: float

    def temperature_k(self, t_s: FloatArray) -> FloatArray:
        """Device temperature relative to the session start (K)."""
        t = np.asarray(t_s, dtype=np.float64)
        warm = self.warm_k * (1.0 - np.exp(-np.clip(t, 0.0, None) / self.warm_tau_s))
        step = self.step_k * (1.0 - np.exp(-np.clip(t - self.step_at_s, 0.0, None) / self.step_tau_s))
        return np.asarray(warm + step + self.room(t) - self.room(np.zeros(1))[0])

    def labels(self) -> dict[str, object]:
        return {
            "gyr_offset_dps": [round(float(v) / _DEG, 3) for v in self.gyr_offset_rps],
            "gyr_tempco_dps_per_k": [round(float(v) / _DEG, 4) for v in self.gyr_tempco_rps_per_k],
            "acc_tempco_mg_per_k": [round(float(v) / _MG, 4) for v in self.acc_tempco_mps2_per_k],
            "warm_k": round(self.warm_k, 3),
            "step_k": round(self.step_k, 3),
            "step_at_s": round(self.step_at_s, 3),
            "bits": self.bits,
            "acc_range_g": self.acc_range_g,
            "gyro_range_dps": self.gyro_range_dps,
        }


def draw_sensor_variant(seed: int, role: str, duration_s: float) -> SensorVariant:
    rng = rng_for(seed, "variant", "sensors", role)
    offset = rng.uniform(3.0, 12.0, 3) * rng.choice([-1.0, 1.0], 3) * _DEG
    step = rng.random() < 0.3
    return SensorVariant(
        gyr_offset_rps=offset,
        gyr_tempco_rps_per_k=rng.uniform(0.03, 0.2, 3) * rng.choice([-1.0, 1.0], 3) * _DEG,
        acc_tempco_mps2_per_k=rng.uniform(0.5, 2.0, 3) * rng.choice([-1.0, 1.0], 3) * _MG,
        warm_k=float(rng.uniform(5.0, 15.0)),
        warm_tau_s=float(rng.uniform(180.0, 600.0)),
        step_k=float(rng.uniform(2.0, 5.0) * rng.choice([-1.0, 1.0])) if step else 0.0,
        step_at_s=float(rng.uniform(0.2, 0.8) * duration_s),
        step_tau_s=float(rng.uniform(60.0, 180.0)),
        room=SmoothProcess(rng, duration_s, float(rng.uniform(1.0, 3.0)), float(rng.uniform(120.0, 300.0))),
        bits=int(rng.integers(10, 14)),
        acc_range_g=2.0 if rng.random() < 0.6 else 4.0,
        gyro_range_dps=250.0 if rng.random() < 0.6 else 500.0,
    )


@dataclass(frozen=True)
class MountChange:
    """A device turning on its strap about the segment's long axis (x), then staying there."""

    role: str
    t_start_s: float
    t_end_s: float
    angle_rad: float

    def angle(self, t_s: FloatArray) -> FloatArray:
        return np.asarray(self.angle_rad * min_jerk((t_s - self.t_start_s) / (self.t_end_s - self.t_start_s)))

    def labels(self) -> dict[str, object]:
        return {
            "role": self.role,
            "t_start": round(self.t_start_s, 4),
            "t_end": round(self.t_end_s, 4),
            "angle_deg": round(float(np.rad2deg(self.angle_rad)), 3),
        }


def draw_mount_changes(
    seed: int, roles: tuple[str, ...], active: tuple[float, float], busy: list[tuple[float, float]]
) -> tuple[MountChange, ...]:
    """Strap turns of the treated (70 %) and hand (30 %) sensors at a moment without contact."""
    rng = rng_for(seed, "variant", "mount")
    out = []
    for role, p in (("treated", 0.7), ("hand", 0.3)):
        if role not in roles or rng.random() >= p:
            continue
        for _ in range(40):
            t0 = float(
                rng.uniform(
                    active[0] + 0.2 * (active[1] - active[0]), active[1] - 0.15 * (active[1] - active[0])
                )
            )
            dur = float(rng.uniform(0.3, 1.5))
            if all(t0 + dur + 0.5 < a or t0 - 0.5 > b for a, b in busy):
                angle = float(rng.uniform(15.0, 60.0) * rng.choice([-1.0, 1.0])) * _DEG
                out.append(MountChange(role, t0, t0 + dur, angle))
                break
    return tuple(out)


def quantise(x: FloatArray, full_scale: float, bits: int) -> FloatArray:
    lsb = full_scale / 2.0 ** (bits - 1)
    return np.asarray(np.round(x / lsb) * lsb)
