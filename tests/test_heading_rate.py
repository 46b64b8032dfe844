"""The drift rate of the relative heading seen while the wrist is still (coach.signal.heading_rate)."""

from __future__ import annotations

import math

import numpy as np

from coach.signal import quaternion as quat
from coach.signal.heading_rate import GATE_SIGMAS, RATE_SIGMA_RPS, StillWristRate
from coach.signal.posture import MIN_CONSTRAINT_SENSITIVITY
from coach.signal.wrist import HeadingOffsetTracker, constraint_terms
from tests.synthetic_imu import euler_zyx

E_X, E_Y, E_Z = np.eye(3)
RATE_HZ = 50.0
DRIFT_DPS = 0.3


def _session(
    duration_s: float, flex_deg: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The forearm horizontal (the joint constraint blind to δ), palm down with a little roll, the wrist
    still (or flexing ``flex_deg`` back and forth); the hand's earth frame drifts against the forearm's by
    DRIFT_DPS: times, forearm and hand (in its own earth frame) segment quaternions, true δ."""
    t = np.arange(0.0, duration_s, 1.0 / RATE_HZ)
    forearm = euler_zyx(
        np.full(t.size, 0.3), np.zeros(t.size), np.radians(3.0 * np.sin(2 * np.pi * t / 60.0))
    )
    wrist = quat.multiply(
        quat.about_axis(E_Y, np.radians(5.0 + flex_deg * np.sin(2 * np.pi * t / 1.3))),
        quat.about_axis(E_Z, np.full(t.size, np.radians(3.0))),
    )
    delta = np.radians(10.0 + DRIFT_DPS * t)
    hand = quat.multiply(quat.about_z(-delta), quat.multiply(forearm, wrist))
    return t, forearm, hand, delta


def _track(
    t: np.ndarray, forearm: np.ndarray, hand: np.ndarray, delta0: float, rates: bool
) -> tuple[np.ndarray, int]:
    """δ per row from a tracker fed one-second blocks (the joint constraint, and with ``rates`` the
    still-wrist rate observations), and the number of observations it took."""
    block = int(RATE_HZ)
    tracker = HeadingOffsetTracker(delta0, t_s=0.0)
    still = StillWristRate()
    est = np.full(t.size, np.nan)
    v = constraint_terms(quat.rotate(forearm, E_Y), quat.rotate(hand, E_Z))
    taken = 0
    for b in range(t.size // block):
        sl = slice(b * block, (b + 1) * block)
        est[sl] = d = tracker.offset_at(t[sl])
        # Fed in pieces of uneven size, as spans and the live path's single points come.
        for a, z in ((0, 1), (1, 17), (17, block)):
            piece = slice(b * block + a, b * block + z)
            still.add(b, t[piece], forearm[piece], hand[piece], d[a:z])
        # As the estimator does: only samples where the constraint sees δ (none, forearm horizontal).
        vb = v[sl][np.abs(-v[sl, 0] * np.sin(d) + v[sl, 1] * np.cos(d)) >= MIN_CONSTRAINT_SENSITIVITY]
        tracker.update(float(t[sl][-1] + 1.0 / RATE_HZ), vb.T @ vb, vb.shape[0])
        rate = still.take(b)
        if rates and rate is not None:
            taken += tracker.observe_rate(rate, RATE_SIGMA_RPS, GATE_SIGMAS)
    return est, taken


def test_a_still_wrist_shows_the_drift_rate_the_blind_constraint_cannot() -> None:
    t, forearm, hand, delta = _session(180.0)
    tail = t >= 120.0
    without, _ = _track(t, forearm, hand, float(delta[0]), rates=False)
    with_rates, taken = _track(t, forearm, hand, float(delta[0]), rates=True)
    err_without = np.degrees(np.abs(without - delta))[tail]
    err_with = np.degrees(np.abs(with_rates - delta))[tail]
    assert np.nanmin(err_without) > 25.0  # δ coasts at rate 0 while the truth drifts 0.3 °/s
    assert taken >= 150
    assert np.nanmax(err_with) < 2.0


def test_no_rate_from_a_moving_wrist_or_a_turning_forearm() -> None:
    t, forearm, hand, delta = _session(10.0, flex_deg=8.0)
    still = StillWristRate()
    block = slice(0, int(RATE_HZ))
    still.add(0, t[block], forearm[block], hand[block], np.full(int(RATE_HZ), delta[0]))
    assert still.take(0) is None  # the wrist flexed: its reading changed across the vertical
    t, forearm, hand, delta = _session(10.0)
    turned = quat.multiply(quat.about_axis(E_Z, np.radians(5.0 * t)), forearm)
    hand_turned = quat.multiply(quat.about_axis(E_Z, np.radians(5.0 * t)), hand)
    still.add(1, t[block], turned[block], hand_turned[block], np.full(int(RATE_HZ), delta[0]))
    assert still.take(1) is None  # the forearm turned 5° within the block
    still.add(2, t[block], forearm[block], hand[block], np.full(int(RATE_HZ), delta[0]))
    rate = still.take(2)
    assert rate is not None and abs(math.degrees(rate) - DRIFT_DPS) < 0.05
