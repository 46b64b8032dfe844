"""The still pose asked for again after an ambiguous strap turn (coach/signal/recalibration.py), and the
simulated person who obeys the request (simulators/plan.py, ``calibration.recalibration_requests_s``)."""

from __future__ import annotations

import math

import numpy as np

from coach.signal import quaternion as quat
from coach.signal.posture import PostureEstimator, PostureFrame, PostureSetup, Thresholds
from coach.signal.recalibration import (
    MAX_REQUESTS,
    MIN_DELAY_S,
    REPEAT_S,
    RecalibrationWatch,
    rereferenced_treated_mount,
)
from coach.signal.roles import Interpolated
from coach.signal.roll import raw_roll_deg
from coach.trace.meta import Body

E_X = np.array([1.0, 0.0, 0.0])
E_Y = np.array([0.0, 1.0, 0.0])
E_Z = np.array([0.0, 0.0, 1.0])
HZ = 50.0


def _roll_read(q_dev: np.ndarray, mount: np.ndarray) -> float:
    up = quat.rotate_inverse(quat.multiply(q_dev, mount), E_Z).mean(axis=0)
    return float(raw_roll_deg(up))


def test_the_forearm_mounting_is_turned_so_the_hold_reads_the_still_pose_roll() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        mount = quat.normalize(rng.normal(size=4))
        seg = quat.multiply(quat.about_z(rng.uniform(-3, 3)), quat.about_axis(E_Y, -rng.uniform(0.0, 0.8)))
        turn = quat.about_axis(E_X, rng.uniform(-1.2, 1.2))  # the strap turned by up to ~70°
        q_dev = np.tile(quat.multiply(quat.multiply(seg, turn), quat.conjugate(mount)), (10, 1))
        ref = float(rng.uniform(-10.0, 10.0))
        fixed = rereferenced_treated_mount(q_dev, mount, ref)
        assert abs(_roll_read(q_dev, fixed) - ref) < 1e-6
        # Only the rotation about the segment's long axis changes: the long axis stays where it was.
        np.testing.assert_allclose(quat.rotate(fixed, E_X), quat.rotate(mount, E_X), atol=1e-9)


def _still(n: int, q: np.ndarray, drift_rps: float = 0.0) -> np.ndarray:
    """``n`` orientations of a device at rest (turning at a constant drift rate about its z)."""
    t = np.arange(n) / HZ
    return quat.multiply(np.tile(q, (n, 1)), quat.about_axis(E_Z, drift_rps * t))


def _moving(n: int, q: np.ndarray) -> np.ndarray:
    t = np.arange(n) / HZ
    return quat.multiply(np.tile(q, (n, 1)), quat.about_axis(E_X, 0.3 * np.sin(2 * math.pi * t)))


def test_the_hold_is_found_only_after_the_request_and_the_request_is_repeated() -> None:
    q = quat.about_axis(E_Y, -0.4)
    watch = RecalibrationWatch(10.0, HZ)
    pts = int(HZ)
    # Still blocks right after the request do not count (the person has not moved yet)...
    for b in range(10, 10 + int(MIN_DELAY_S)):
        assert watch.block(float(b), b + 0.98, _still(pts, q), _still(pts, q), pts) is None
    # ...moving ones break a run; then three still blocks (a slow gyro drift is still) make the hold.
    b0 = 10 + int(MIN_DELAY_S)
    assert watch.block(float(b0), b0 + 0.98, _moving(pts, q), _still(pts, q), pts) is None
    got = None
    for k in range(1, 4):
        got = watch.block(float(b0 + k), b0 + k + 0.98, _still(pts, q, 0.01), _still(pts, q, -0.02), pts)
        assert (got is None) == (k < 3)
    assert got is not None and got[0].shape == (2 * pts, 4) and got[1].shape == (2 * pts, 4)
    # A block with too few points where both devices were seen does not count.
    other = RecalibrationWatch(0.0, HZ)
    for b in range(3, 6):
        assert other.block(float(b), b + 0.98, _still(10, q), _still(10, q), pts) is None
    # No hold for REPEAT_S: asked again, at most MAX_REQUESTS times.
    t = 0.0
    while t < 5 * REPEAT_S:
        other.block(t, t + 0.98, _moving(pts, q), _moving(pts, q), pts)
        t += 1.0
    assert len(other.requests) == MAX_REQUESTS
    assert other.requests[1] - other.requests[0] >= REPEAT_S


def _session(alpha_rad: float) -> tuple[PostureEstimator, PostureFrame]:
    """20 s at 50 Hz, forearm raised 20°: moving 0–6 s, the still pose (palm down, wrist straight)
    6–12 s, then the forearm supinated 30° with the wrist flexed 12°. Both devices sit turned by
    ``alpha_rad`` about the limb (a common turn of both straps), with the wrist check uncertain and the
    still pose asked for at 0.5 s, as after an ambiguous turn."""
    n = 1000
    t = np.arange(n) / HZ
    roll = np.where(t < 6.0, 0.4 * np.sin(2 * math.pi * 0.5 * t), np.where(t < 12.0, 0.0, math.radians(30.0)))
    flex = np.where(t < 6.0, 0.1 * np.sin(2 * math.pi * 0.7 * t), np.where(t < 12.0, 0.0, math.radians(12.0)))
    q_f = quat.multiply(quat.about_axis(E_Y, np.full(n, -math.radians(20.0))), quat.about_axis(E_X, roll))
    q_h = quat.multiply(q_f, quat.about_axis(E_Y, flex))
    turn = quat.about_axis(E_X, np.full(n, alpha_rad))
    setup = PostureSetup("right", Body(), quat.IDENTITY.copy(), 0.0, quat.IDENTITY.copy(), 0.0, 0.0)
    est = PostureEstimator(setup, block_points=50, decision_hz=HZ)
    est.wrist_uncertain = True
    est.recalibration = RecalibrationWatch(0.5, HZ)
    ones = np.ones(n, bool)
    j = np.arange(n, dtype=np.int64)
    frame = est._compute_with_hand(
        j,
        t,
        Interpolated(ones, quat.multiply(q_f, turn)),
        Interpolated(ones, quat.multiply(q_h, turn)),
        Thresholds(),
    )
    return est, frame


def test_after_the_still_pose_is_held_the_wrist_and_roll_read_right_again() -> None:
    est, frame = _session(math.radians(35.0))
    _, plain = _session(0.0)
    assert est.recalibration is None and not est.wrist_uncertain
    assert [c for _, c in est.recalibration_cues] == ["recalibration_done"]
    t_done = est.recalibration_cues[0][0]
    assert 6.0 + MIN_DELAY_S <= t_done < 12.0
    before = frame.t_s <= t_done
    # Uncertain until the hold: angles null; after it the angles and the roll read as without the turn.
    assert np.isnan(frame.flexion_deg[before]).all()
    late = frame.t_s >= 13.0
    np.testing.assert_allclose(frame.flexion_deg[late], plain.flexion_deg[late], atol=0.5)
    np.testing.assert_allclose(frame.deviation_deg[late], plain.deviation_deg[late], atol=0.5)
    np.testing.assert_allclose(frame.roll_deg[late], plain.roll_deg[late], atol=0.5)
    assert abs(float(np.median(frame.flexion_deg[late])) - 12.0) < 1.0
    # Without the hold (a still pose never held) nothing changes: still uncertain, nothing said.
    est2 = PostureEstimator(est.setup, block_points=50, decision_hz=HZ)
    est2.wrist_uncertain = True
    est2.recalibration = RecalibrationWatch(0.5, HZ)
    n = 500
    tt = np.arange(n) / HZ
    q = quat.multiply(
        quat.about_axis(E_Y, np.full(n, -0.35)), quat.about_axis(E_X, 0.4 * np.sin(2 * math.pi * tt))
    )
    ones = np.ones(n, bool)
    est2._compute_with_hand(
        np.arange(n, dtype=np.int64), tt, Interpolated(ones, q), Interpolated(ones, q), Thresholds()
    )
    assert est2.wrist_uncertain and est2.recalibration is not None and not est2.recalibration_cues


def test_the_simulated_person_obeys_without_changing_what_came_before() -> None:
    """The same session with a request at 60 s: every sample before it is the same; no stroke starts
    from the request to the end of the hold; during the hold the wrist is in its still pose."""
    from simulators import simulate
    from simulators.scenario import random_scenario

    sc = random_scenario(7, roles=("treated", "hand"), duration_s=120.0)
    a = simulate(sc, 7)
    b = simulate(sc.replace(**{"calibration.recalibration_requests_s": [60.0]}), 7)
    for role in ("treated", "hand"):
        ta, tb = a.blocks[role].t_s, b.blocks[role].t_s
        pre = ta < 60.0
        assert np.array_equal(ta[pre], tb[: int(pre.sum())])
        assert np.array_equal(a.blocks[role].gyr_rps[pre], b.blocks[role].gyr_rps[: int(pre.sum())])
        assert np.array_equal(a.blocks[role].acc_mps2[pre], b.blocks[role].acc_mps2[: int(pre.sum())])
    hold = b.model.plan.calibration.recalibrations[0]
    assert hold.request_s == 60.0 and 60.0 < hold.move_s < hold.end_s <= 120.0
    starts = b.model.plan.strokes.t_start_s
    assert not np.any((starts >= 60.0) & (starts < hold.end_s))
    labels = b.truth
    assert labels["calibration"]["recalibrations"][0]["request"] == 60.0
    p = labels["posture"]
    tt = np.asarray(p["t"])
    held = (tt > hold.move_s + hold.ramp_s) & (tt < hold.end_s - hold.ramp_s)
    assert held.sum() >= 30
    assert np.all(np.asarray(p["wrist_neutral"], bool)[held])
    assert np.max(np.abs(np.asarray(p["forearm_roll_deg"], float)[held])) < 10.0
