"""Noise-free IMU signals from a known orientation trajectory, for unit tests of the signal core.

``imu_from_orientation(t, q)`` gives what an ideal sensor with orientation ``q(t)`` (sensor → earth,
``[w, x, y, z]``) measures at rest in translation: specific force ``R(q)ᵀ · (0, 0, g)`` and body angular
rate from the quaternion derivative. Small and exact, so tests can check signs and values.
"""

from __future__ import annotations

import numpy as np

from coach.samples import FloatArray, SampleBlock
from coach.signal import quaternion as quat

G = 9.80665


def imu_from_orientation(t_s: FloatArray, q: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Specific force (m/s²) and angular rate (rad/s) in the sensor frame for orientations ``q``."""
    q = quat.normalize(q)
    # Keep the quaternion continuous so the finite difference is smooth.
    flip = np.cumprod(np.where(np.sum(q[1:] * q[:-1], axis=1) < 0, -1.0, 1.0))
    q = q.copy()
    q[1:] *= flip[:, None]
    acc = quat.rotate_inverse(q, np.array([0.0, 0.0, G]))
    dq = np.gradient(q, t_s, axis=0)
    omega = 2.0 * quat.multiply(quat.conjugate(q), dq)[:, 1:]
    return acc, omega


def block(role: str, t_s: FloatArray, q: FloatArray) -> SampleBlock:
    acc, gyr = imu_from_orientation(t_s, q)
    return SampleBlock(role, t_s, acc, gyr)


def euler_zyx(heading_rad: FloatArray, pitch_up_rad: FloatArray, roll_rad: FloatArray) -> FloatArray:
    """Orientation with a heading, an x axis pitched up by ``pitch_up_rad`` and a roll about x."""
    qz = quat.about_axis(np.array([0.0, 0.0, 1.0]), heading_rad)
    qy = quat.about_axis(np.array([0.0, 1.0, 0.0]), -np.asarray(pitch_up_rad))
    qx = quat.about_axis(np.array([1.0, 0.0, 0.0]), roll_rad)
    return quat.multiply(qz, quat.multiply(qy, qx))
