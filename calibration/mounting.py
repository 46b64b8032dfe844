"""Gyro bias, gravity reference and sensor-to-segment alignment from the calibration phases
(docs/design.md §4).

- ``still`` (arm resting elevated, palm down, wrist neutral): the mean gyro is the gyro bias; the
  mean specific force is gravity in the sensor frame, which fixes the dorsal z axis (up, palm down).
- ``rotate`` (palm-down/palm-up turns): the dominant rotation axis of the gyro (first principal axis
  of ``Σ ω ωᵀ``) is the forearm long axis; of its two signs the one closer to the device's nominal x.

The segment frame: x = the long axis (from ``rotate``, else from a saved profile, else the device x
axis), z = gravity at ``still`` made perpendicular to x (so the still pose has zero roll), y = z × x.
Without ``still`` the segment frame is the device frame (nominal mounting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: The rotate phase counts only if one axis carries this share of the rotation energy...
MIN_AXIS_DOMINANCE = 0.7
#: ...and the sensor turned at least this far in total.
MIN_ROTATE_ANGLE_RAD = math.radians(60.0)
#: Gravity must read within this of 9.81 m/s² during ``still`` (else the phase was not still).
GRAVITY_TOLERANCE_MPS2 = 1.5
#: Mean gyro norm above this during ``still`` means the arm moved: the bias is not trusted.
MAX_STILL_GYRO_STD_RPS = 0.1

NOMINAL_X: FloatArray = np.array([1.0, 0.0, 0.0])


@dataclass(frozen=True, slots=True)
class StillStats:
    """What the ``still`` phase says about one sensor."""

    gyro_bias_rps: FloatArray
    gravity_sensor: FloatArray  # unit vector: the up direction in the sensor frame
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AxisEstimate:
    """The long axis found in the ``rotate`` phase (unit, sensor frame)."""

    axis_sensor: FloatArray
    dominance: float
    angle_rad: float
    ok: bool
    reason: str = ""
    #: Largest and smallest turn about the axis (signed, rad) from the phase's start.
    turn_range_rad: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class SensorCalibration:
    """One sensor's calibration result.

    Attributes:
        mount: 3×3 matrix whose columns are the segment's x, y, z axes in the sensor frame
            (``v_sensor = mount @ v_segment``).
        gyro_bias_rps: bias from ``still`` (``None`` without a usable still phase).
        gravity_sensor: up direction in the sensor frame at ``still`` (``None`` without one).
        axis_source: where x came from: ``rotate``, ``profile`` or ``nominal``.
        notes: human-readable remarks (why a phase was not used).
    """

    mount: FloatArray
    gyro_bias_rps: FloatArray | None
    gravity_sensor: FloatArray | None
    axis_source: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: The rotate phase's largest and smallest turn about x (rad, from its start), when it was used.
    turn_range_rad: tuple[float, float] | None = None

    @property
    def calibrated(self) -> bool:
        return self.gravity_sensor is not None


def still_stats(gyr_rps: FloatArray, acc_mps2: FloatArray) -> StillStats:
    """Bias and gravity from the samples of a ``still`` phase."""
    if gyr_rps.shape[0] < 3:
        return StillStats(np.zeros(3), np.array([0.0, 0.0, 1.0]), False, "too few samples in still")
    bias = gyr_rps.mean(axis=0)
    acc = acc_mps2.mean(axis=0)
    g = float(np.linalg.norm(acc))
    up = acc / g if g > 0 else np.array([0.0, 0.0, 1.0])
    if abs(g - 9.81) > GRAVITY_TOLERANCE_MPS2:
        return StillStats(bias, up, False, f"|acc| {g:.2f} m/s² is not gravity: the arm was not still")
    spread = float(np.linalg.norm(gyr_rps.std(axis=0)))
    if spread > MAX_STILL_GYRO_STD_RPS:
        return StillStats(bias, up, False, f"gyro spread {spread:.3f} rad/s: the arm moved during still")
    return StillStats(bias, up, True)


def long_axis(gyr_rps: FloatArray, bias_rps: FloatArray | None, rate_hz: float) -> AxisEstimate:
    """Dominant rotation axis of a ``rotate`` phase, signed toward the device's nominal x."""
    w = gyr_rps - (bias_rps if bias_rps is not None else 0.0)
    if w.shape[0] < 3:
        return AxisEstimate(NOMINAL_X.copy(), 0.0, 0.0, False, "too few samples in rotate")
    scatter = w.T @ w
    vals, vecs = np.linalg.eigh(scatter)
    axis = vecs[:, -1]
    if axis[0] < 0:
        axis = -axis
    total = float(vals.sum())
    dominance = float(vals[-1] / total) if total > 0 else 0.0
    angle = float(np.abs(w @ axis).sum() / rate_hz)
    turned = np.cumsum(w @ axis) / rate_hz
    span = (float(turned.max()), float(turned.min()))
    if dominance < MIN_AXIS_DOMINANCE:
        return AxisEstimate(
            axis, dominance, angle, False, f"no dominant rotation axis ({dominance:.2f})", span
        )
    if angle < MIN_ROTATE_ANGLE_RAD:
        return AxisEstimate(axis, dominance, angle, False, f"turned only {math.degrees(angle):.0f}°", span)
    return AxisEstimate(axis, dominance, angle, True, "", span)


def segment_mount(x_sensor: FloatArray, up_sensor: FloatArray | None) -> FloatArray:
    """Columns x, y, z of the segment in the sensor frame: x given, z = up made perpendicular to x."""
    x = np.asarray(x_sensor, dtype=np.float64)
    x = x / np.linalg.norm(x)
    if up_sensor is None:
        # No gravity reference: the device z made perpendicular to x.
        up_sensor = np.array([0.0, 0.0, 1.0])
    z = up_sensor - (up_sensor @ x) * x
    if np.linalg.norm(z) < 1e-6:
        # The long axis is vertical at still: z cannot come from gravity; use the device z.
        z = np.array([0.0, 0.0, 1.0]) - x[2] * x
    z = z / np.linalg.norm(z)
    y = np.cross(z, x)
    return np.column_stack((x, y, z))


def calibrate_sensor(
    still: tuple[FloatArray, FloatArray] | None,
    rotate: tuple[FloatArray, FloatArray] | None,
    rate_hz: float,
    profile_axis: FloatArray | None = None,
) -> SensorCalibration:
    """One sensor's calibration from its samples in each phase (``(gyr_rps, acc_mps2)`` or ``None``).

    Falls back step by step: no usable rotate → the profile's long axis → the device x axis; no usable
    still → the nominal mounting (device axes are the segment axes) with no bias.
    """
    notes: list[str] = []
    bias: FloatArray | None = None
    up: FloatArray | None = None
    if still is not None:
        stats = still_stats(*still)
        if stats.ok:
            bias, up = stats.gyro_bias_rps, stats.gravity_sensor
        else:
            notes.append(f"still not used: {stats.reason}")
    else:
        notes.append("no still phase")
    axis_source = "nominal"
    x = NOMINAL_X
    turn_range: tuple[float, float] | None = None
    if rotate is not None:
        est = long_axis(rotate[0], bias, rate_hz)
        if est.ok:
            x, axis_source, turn_range = est.axis_sensor, "rotate", est.turn_range_rad
        else:
            notes.append(f"rotate not used: {est.reason}")
    else:
        notes.append("no rotate phase")
    if axis_source == "nominal" and profile_axis is not None:
        x, axis_source = np.asarray(profile_axis, dtype=np.float64), "profile"
    if up is None:
        if axis_source == "nominal":
            return SensorCalibration(np.eye(3), None, None, "nominal", tuple(notes))
        return SensorCalibration(segment_mount(x, None), None, None, axis_source, tuple(notes), turn_range)
    return SensorCalibration(segment_mount(x, up), bias, up, axis_source, tuple(notes), turn_range)


def nominal() -> SensorCalibration:
    """Device axes are the segment axes; no bias, no gravity reference."""
    return SensorCalibration(np.eye(3), None, None, "nominal", ("nominal mounting",))
