"""From body kinematics to what one IMU measures, sample by sample.

For a role and a uniform grid of true sample times, :func:`render_role` evaluates the body model on a
grid ``OVERSAMPLE`` times finer (the chip samples faster than it outputs), derives

- angular rate in the segment frame by central differences of orientation, and
- specific force ``R⁻¹ (p̈ − g)`` from second differences of the sensor's position, plus the
  accelerations the model adds directly (limb slide, rubbing vibration),

rotates both into the device frame (mounting), runs the chip's causal low-pass, decimates to the
output rate and applies the device's errors. It works in chunks, so memory stays flat on long sessions.
"""

from __future__ import annotations

import numpy as np

from coach.samples import FloatArray
from coach.units import GRAVITY_MPS2
from simulators import quat
from simulators.body import BodyModel
from simulators.devices import OVERSAMPLE, DeviceErrors, DeviceFilter, DeviceNoise

_CHUNK_SAMPLES = 2048


def segment_signals(
    model: BodyModel, role: str, t0_s: float, step_s: float, n: int
) -> tuple[FloatArray, FloatArray]:
    """True specific force (m/s²) and angular rate (rad/s) in the *segment* frame at ``t0 + k·step``.

    Evaluates the model at one extra time on each side for the central differences.
    """
    t_ext: FloatArray = t0_s + (np.arange(n + 2, dtype=np.float64) - 1.0) * step_s
    kin = model.kinematics(role, t_ext)
    gyr = quat.body_rate_rps(kin.rot, t_ext)[1:-1]
    p = kin.pos_m
    acc_earth = (p[2:] - 2.0 * p[1:-1] + p[:-2]) / (step_s * step_s)
    acc_earth[:, 2] += GRAVITY_MPS2
    specific = quat.rotate_inv(kin.rot[1:-1], acc_earth) + kin.extra_acc_mps2[1:-1]
    return np.asarray(specific), gyr


def render_role(
    model: BodyModel,
    role: str,
    errors: DeviceErrors,
    t0_s: float,
    period_s: float,
    n: int,
    noise: DeviceNoise,
    *,
    lowpass: bool = True,
) -> tuple[FloatArray, FloatArray]:
    """Measured (acc, gyr) in the device frame at true times ``t0 + k·period`` for k < n."""
    acc = np.empty((n, 3))
    gyr = np.empty((n, 3))
    fine = period_s / OVERSAMPLE
    filt = DeviceFilter(errors, 1.0 / fine) if lowpass else None
    to_sensor = quat.conj(quat.from_rotation(errors.mount))
    for k0 in range(0, n, _CHUNK_SAMPLES):
        k1 = min(n, k0 + _CHUNK_SAMPLES)
        if lowpass:
            f_seg, w_seg = segment_signals(model, role, t0_s + k0 * period_s, fine, (k1 - k0) * OVERSAMPLE)
        else:
            f_seg, w_seg = segment_signals(model, role, t0_s + k0 * period_s, period_s, k1 - k0)
        x = np.hstack([quat.rotate(to_sensor, f_seg), quat.rotate(to_sensor, w_seg)])
        if filt is not None:
            x = filt(x)[::OVERSAMPLE]
        t_k: FloatArray = t0_s + np.arange(k0, k1, dtype=np.float64) * period_s
        acc[k0:k1], gyr[k0:k1] = noise(t_k, x[:, :3], x[:, 3:])
    return acc, gyr
