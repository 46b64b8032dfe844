"""Calibration: bias, gravity and sensor-to-segment alignment from still/rotate, phase detection, profiles."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from calibration.mounting import calibrate_sensor, long_axis, segment_mount, still_stats
from calibration.phases import PhaseDetector
from calibration.profiles import CalibrationProfile, ProfileStore, device_key, profile_from_calibration
from coach.errors import ConfigError
from coach.signal import quaternion as quat
from coach.trace.meta import TraceMeta
from tests.fixtures.events import last_summary
from tests.synthetic_imu import euler_zyx, imu_from_orientation

RATE = 100.0


def _mount(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """A mounting: columns are the segment axes in the sensor frame."""
    q = euler_zyx(np.radians([yaw_deg]), np.radians([pitch_deg]), np.radians([roll_deg]))
    mount: np.ndarray = quat.to_matrix(q)[0]
    return mount


def _calibration_session(
    mount: np.ndarray, bias: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """still (4 s) then rotate (6 s, two palm-down/palm-up turns) with the forearm 30° up, as a sensor
    mounted with ``mount`` measures it (plus a constant gyro bias)."""
    t_still = np.arange(0.0, 4.0, 1 / RATE)
    t_rot = np.arange(4.0, 10.0, 1 / RATE)
    t = np.concatenate((t_still, t_rot))
    roll = np.where(t < 4.0, 0.0, np.radians(75.0) * (1 - np.cos(2 * np.pi * (t - 4.0) / 3.0)))
    q_seg = euler_zyx(np.full(t.size, 0.7), np.full(t.size, math.radians(30.0)), roll)
    q_sensor = quat.multiply(q_seg, quat.from_matrix(mount.T))
    acc, gyr = imu_from_orientation(t, q_sensor)
    gyr = gyr + bias
    still = t < 4.0
    return {"still": (t[still], gyr[still], acc[still]), "rotate": (t[~still], gyr[~still], acc[~still])}


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"), [(0.0, 0.0, 0.0), (25.0, -10.0, 15.0), (-30.0, 20.0, -40.0)]
)
def test_still_and_rotate_recover_a_known_mounting(yaw: float, pitch: float, roll: float) -> None:
    mount = _mount(yaw, pitch, roll)
    bias = np.array([0.03, -0.12, 0.05])  # larger than VQF's own bias clip
    s = _calibration_session(mount, bias)
    cal = calibrate_sensor(s["still"][1:], s["rotate"][1:], RATE)
    assert cal.axis_source == "rotate" and cal.calibrated
    assert cal.gyro_bias_rps is not None
    np.testing.assert_allclose(cal.gyro_bias_rps, bias, atol=1e-3)
    for i in range(3):
        angle = math.degrees(math.acos(np.clip(cal.mount[:, i] @ mount[:, i], -1, 1)))
        assert angle < 0.5, f"axis {'xyz'[i]} off by {angle:.2f}°"
    np.testing.assert_allclose(cal.mount.T @ cal.mount, np.eye(3), atol=1e-12)
    assert np.linalg.det(cal.mount) == pytest.approx(1.0)


def test_long_axis_sign_is_the_one_closer_to_nominal_x() -> None:
    w = np.outer(np.sin(np.linspace(0, 12, 600)), [-0.9, 0.1, -0.2])
    est = long_axis(w, None, RATE)
    assert est.axis_sensor[0] > 0 and est.dominance > 0.99
    noisy = np.random.default_rng(0).normal(0, 1, (600, 3))
    assert not long_axis(noisy, None, RATE).ok


def test_fallbacks_without_phases_say_why() -> None:
    mount = _mount(20.0, 5.0, 0.0)
    s = _calibration_session(mount, np.zeros(3))
    still_only = calibrate_sensor(s["still"][1:], None, RATE)
    assert still_only.axis_source == "nominal" and still_only.calibrated
    np.testing.assert_allclose(still_only.mount[:, 0], [1, 0, 0])  # device x kept as the long axis
    assert "no rotate phase" in still_only.notes
    profile = calibrate_sensor(s["still"][1:], None, RATE, profile_axis=mount[:, 0])
    assert profile.axis_source == "profile"
    assert profile.mount[:, 0] @ mount[:, 0] > 1 - 1e-12
    none = calibrate_sensor(None, None, RATE)
    assert none.axis_source == "nominal" and not none.calibrated
    np.testing.assert_array_equal(none.mount, np.eye(3))
    moving = still_stats(s["rotate"][1], s["rotate"][2])
    assert not moving.ok and "not still" in moving.reason


def test_segment_mount_makes_a_right_handed_frame_with_z_from_gravity() -> None:
    m = segment_mount(np.array([1.0, 0.2, 0.1]), np.array([0.3, 0.0, 1.0]))
    np.testing.assert_allclose(m.T @ m, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.cross(m[:, 2], m[:, 0]), m[:, 1], atol=1e-12)
    assert m[:, 2] @ np.array([0.3, 0.0, 1.0]) > 0


def _stream(settle_s: float, still_s: float, rotate_s: float, after_s: float) -> tuple[np.ndarray, ...]:
    """A treated stream: settling motion, still, rotate (two turns), then arm motion."""
    t = np.arange(0.0, settle_s + still_s + rotate_s + after_s, 1 / RATE)
    a, b, c = settle_s, settle_s + still_s, settle_s + still_s + rotate_s
    pitch = np.radians(30.0) + np.where(t < a, np.radians(15.0) * np.sin(2 * np.pi * t / 1.3), 0.0)
    roll = np.where((t >= b) & (t < c), np.radians(70.0) * (1 - np.cos(4 * np.pi * (t - b) / rotate_s)), 0.0)
    pitch = pitch + np.where(t >= c, np.radians(20.0) * np.sin(2 * np.pi * (t - c) / 2.0), 0.0)
    q = euler_zyx(np.zeros(t.size), pitch, roll)
    acc, gyr = imu_from_orientation(t, q)
    rng = np.random.default_rng(2)
    gyr = gyr + np.array([0.02, -0.03, 0.01]) + rng.normal(0, 0.005, gyr.shape)
    acc = acc + rng.normal(0, 0.02, acc.shape)
    return t, gyr, acc


@pytest.mark.parametrize("block", [1, 37, 10_000])
def test_phase_detector_finds_still_and_rotate_whatever_the_blocks(block: int) -> None:
    t, gyr, acc = _stream(2.0, 4.0, 6.0, 5.0)
    det = PhaseDetector(RATE, 0.0)
    k = np.arange(t.size, dtype=np.int64)
    for i in range(0, t.size, block):
        det.feed(k[i : i + block], gyr[i : i + block], acc[i : i + block], int(min(i + block, t.size)))
    assert det.result is not None
    assert det.result.still is not None and det.result.rotate is not None
    s0, s1 = det.result.still
    r0, r1 = det.result.rotate
    assert 1.9 <= s0 <= 3.0 and 5.5 <= s1 <= 6.05
    assert 5.9 <= r0 <= 6.5 and 11.3 <= r1 <= 12.1
    assert r1 <= det.result.decided_s <= 13.0
    ref = PhaseDetector(RATE, 0.0)
    ref.feed(k, gyr, acc, t.size)
    assert ref.result == det.result


def test_phase_detector_gives_up_without_a_still_phase() -> None:
    t = np.arange(0.0, 70.0, 1 / RATE)
    q = euler_zyx(np.zeros(t.size), np.radians(30.0 + 20.0 * np.sin(t)), np.zeros(t.size))
    acc, gyr = imu_from_orientation(t, q)
    det = PhaseDetector(RATE, 0.0)
    det.feed(np.arange(t.size, dtype=np.int64), gyr, acc, t.size)
    assert det.result is not None and det.result.still is None and det.result.rotate is None
    assert 60.0 <= det.result.decided_s <= 61.0


def test_profiles_round_trip_in_a_private_folder(tmp_path: Path) -> None:
    meta = TraceMeta({"sensors": {"hand": {"device": "witmotion bwt901", "serial": "A1:B2"}}})
    key = device_key(meta, "hand")
    assert key == "hand-witmotion_bwt901-A1_B2"
    assert device_key(meta, "treated") is None
    store = ProfileStore(tmp_path / "cal")
    mount = _mount(15.0, 0.0, 0.0)
    prof = profile_from_calibration(key, "hand", "witmotion bwt901", mount, np.array([0.1, 0, 0]), None)
    path = store.save(prof)
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    back = store.load(key)
    assert back is not None and back.key == key
    np.testing.assert_allclose(back.long_axis_sensor, mount[:, 0])
    assert back.gravity_sensor is None
    assert store.load("nobody") is None
    path.write_text(json.dumps({"version": 1, "key": key}))
    with pytest.raises(ConfigError, match="not a calibration profile"):
        store.load(key)
    with pytest.raises(ConfigError):
        CalibrationProfile.from_json(
            {"version": 1, "key": "k", "role": "r", "device": "d", "long_axis_sensor": [3, 0, 0]}, "x"
        )


@pytest.mark.parametrize("in_meta", [True, False])
def test_the_pipeline_recovers_the_simulated_mounting(in_meta: bool) -> None:
    """A simulated session with a known mounting (the labels hold it): the axes the pipeline calibrates,
    from the meta phases or from detected ones, match it. For the hand, the rotate phase gives the
    forearm's pronation axis in the hand frame, which differs from the hand's own long axis by the
    wrist's pose in the still phase; the still-pose correction takes care of that (docs/signal.md)."""
    from coach.pipeline import SessionPipeline
    from simulators import random_scenario, simulate

    sc = random_scenario(3).replace(
        **{
            "duration_s": 40.0,
            "roles": "treated,hand",
            "sensors.treated.misalignment_deg": 25.0,
            "sensors.hand.misalignment_deg": 15.0,
            "calibration.in_meta": in_meta,
        }
    )
    session = simulate(sc, 3)
    p = SessionPipeline(session.meta)
    for block in session.blocks.values():
        p.feed(block)
    p.finish()
    cal = p.sensor_calibrations
    assert p.mounting == ("meta" if in_meta else "auto")
    for role in ("treated", "hand"):
        truth = quat.to_matrix(np.array(session.truth["sensors"][role]["mounting_wxyz"])).T
        assert session.truth["sensors"][role]["misalignment_deg"] > 10.0
        est = cal[role].mount
        assert cal[role].axis_source == "rotate"
        x_err = math.degrees(math.acos(np.clip(est[:, 0] @ truth[:, 0], -1, 1)))
        z_err = math.degrees(math.acos(np.clip(est[:, 2] @ truth[:, 2], -1, 1)))
        limit = 2.0 if role == "treated" else 10.0
        assert x_err < limit, (role, x_err)
        assert z_err < limit + 4.0, (role, z_err)  # z also carries the still pose's own angles
        bias = np.array(session.truth["sensors"][role]["gyr_bias0_rps"])
        assert cal[role].gyro_bias_rps is not None
        assert np.abs(cal[role].gyro_bias_rps - bias).max() < 0.01


def test_a_live_pipeline_saves_profiles_and_a_saved_axis_replaces_a_missing_rotate(tmp_path: Path) -> None:
    from coach.pipeline import PipelineConfig, SessionPipeline
    from simulators import random_scenario, simulate

    sc = random_scenario(3).replace(duration_s=30.0, roles="treated")
    session = simulate(sc, 3)
    store = ProfileStore(tmp_path / "profiles")
    first = SessionPipeline(session.meta, PipelineConfig(profiles=store))
    first.feed(session.blocks["treated"])
    first.finish()
    key = device_key(session.meta, "treated")
    assert key is not None
    saved = store.load(key)
    assert saved is not None
    axis = first.sensor_calibrations["treated"].mount[:, 0]
    np.testing.assert_allclose(saved.long_axis_sensor, axis, atol=1e-9)
    # The next session has a still phase but no rotate phase: the saved axis is used.
    raw = dict(session.meta.raw)
    raw["calibration"] = {"still": raw["calibration"]["still"]}
    second = SessionPipeline(TraceMeta(raw), PipelineConfig(profiles=store))
    second.feed(session.blocks["treated"])
    events = second.finish()
    assert second.sensor_calibrations["treated"].axis_source == "profile"
    assert "forearm_axis" not in last_summary(events)["calibration"]["checks_off"]
    # A replay (no store) never touches profiles.
    third = SessionPipeline(TraceMeta(raw))
    third.feed(session.blocks["treated"])
    assert "forearm_axis" in last_summary(third.finish())["calibration"]["checks_off"]
