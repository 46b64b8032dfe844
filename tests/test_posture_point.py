"""The live step's one-point posture (coach.signal.posture_point) gives the array way's numbers bit for
bit, point by point against the array way fed the same one-point spans (and to 1e-9 against one call
for the whole span, a replay), through heading blocks, a tracker that starts at the first wrist seen, gaps of
either sensor and NaN orientations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coach.signal import quaternion as quat
from coach.signal.posture import PostureEstimator, PostureFrame, PostureSetup, Thresholds
from coach.signal.roles import Interpolated
from coach.trace.meta import Body

_FIELDS = (
    "t_s",
    "treated_ok",
    "hand_ok",
    "elevation_deg",
    "roll_deg",
    "flexion_deg",
    "deviation_deg",
    "elevated",
    "neutral",
)
_TURNED_AT = 560


def _session(
    seed: int, n: int, setup: PostureSetup
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times, the forearm and hand sensors' orientations (each in its own earth frame: the hand's turned by
    a drifting heading; the segments' through ``setup``'s mountings), each sensor's validity, with gaps and
    NaN rows."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 50.0
    steps = rng.normal(scale=0.04, size=(n, 3))
    q_f = quat.IDENTITY[None, :].repeat(n, axis=0)
    q = quat.about_axis(np.array([0.0, 1.0, 0.0]), -0.4)
    for i in range(n):  # a random walk of the forearm, raised about 23° at the start
        q = quat.normalize(quat.multiply(q, quat.about_axis(steps[i] / (np.linalg.norm(steps[i]) + 1e-12),
                                                            float(np.linalg.norm(steps[i])))))  # fmt: skip
        q_f[i] = q
    flex = np.radians(14.0 * np.sin(t / 1.7) + rng.normal(scale=2.0, size=n))
    dev = np.radians(9.0 * np.cos(t / 2.3) + rng.normal(scale=2.0, size=n))
    rel = quat.multiply(
        quat.about_axis(np.array([0.0, 1.0, 0.0]), flex), quat.about_axis(np.array([0.0, 0.0, 1.0]), dev)
    )
    heading = quat.about_z(0.3 + 0.002 * t)
    q_h = quat.multiply(heading, quat.multiply(q_f, rel))
    assert setup.hand_mount_q is not None
    q_f = quat.multiply(q_f, quat.conjugate(setup.treated_mount_q))  # sensor ⊗ mount = segment
    q_h = quat.multiply(q_h, quat.conjugate(setup.hand_mount_q))
    tr_ok = np.ones(n, bool)
    hd_ok = np.ones(n, bool)
    hd_ok[:7] = False  # the wrist first seen a few points in
    hd_ok[120:180] = False  # a gap of the hand sensor across a block's end
    tr_ok[300:305] = False  # and of the forearm's
    q_f[300:305] = np.nan
    q_h[~hd_ok] = np.nan
    return t, q_f, q_h, tr_ok, hd_ok


def _setup(with_still_pose: bool) -> PostureSetup:
    mount_t = quat.normalize(np.array([0.97, 0.05, -0.2, 0.1]))
    mount_h = quat.normalize(np.array([0.9, -0.3, 0.1, 0.2]))
    still = 0.25 if with_still_pose else None
    return PostureSetup("left", Body(), mount_t, 3.5, mount_h, still, 0.0)


def _same(a: PostureFrame, b: PostureFrame, where: str) -> None:
    for name in _FIELDS:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype and x.shape == y.shape, (where, name)
        assert x.tobytes() == y.tobytes(), (where, name, x, y)


@pytest.mark.parametrize("with_still_pose", [True, False])
@pytest.mark.parametrize("seed", [3, 4])
def test_one_point_posture_is_the_array_way_bit_for_bit(with_still_pose: bool, seed: int) -> None:
    n = 620
    setup = _setup(with_still_pose)
    t, q_f, q_h, tr_ok, hd_ok = _session(seed, n, setup)
    j = np.arange(n, dtype=np.int64)
    limits = Thresholds(wrist_flexion_deg=15.0, wrist_deviation_deg=10.0)
    point = PostureEstimator(setup, block_points=50, decision_hz=50.0)
    steps = PostureEstimator(setup, block_points=50, decision_hz=50.0)
    whole = PostureEstimator(setup, block_points=50, decision_hz=50.0)
    frames: list[PostureFrame] = []
    neutral_seen = 0
    for i in range(n):
        s = slice(i, i + 1)
        tr, hd = Interpolated(tr_ok[s].copy(), q_f[s].copy()), Interpolated(hd_ok[s].copy(), q_h[s].copy())
        if i == _TURNED_AT:  # as after an ambiguous strap turn: the point takes the array way then
            point.wrist_uncertain = steps.wrist_uncertain = True
        a = point._with_hand(j[s], t[s], tr, hd, limits)  # compute()'s call after interpolating
        b = steps._compute_with_hand(j[s], t[s], tr, hd, limits)
        _same(a, b, f"point {i}")
        frames.append(a)
        neutral_seen += int(a.neutral[0])
    # One call for the whole span (a replay): the same posture, but not bit for bit, in the array way
    # too: a block's joint-constraint moments are summed row by row here and by one matrix product
    # there, so the heading tracker's δ differs in its last bits from the next block on.
    replay = whole._compute_with_hand(j, t, Interpolated(tr_ok, q_f), Interpolated(hd_ok, q_h), limits)
    for name in _FIELDS:
        joined = np.concatenate([np.asarray(getattr(f, name)) for f in frames[:_TURNED_AT]])
        part = np.asarray(getattr(replay, name))[:_TURNED_AT]
        assert np.allclose(joined, part, rtol=0.0, atol=1e-9, equal_nan=True), name
    # The cases the comparison went through: wrist seen and not, neutral and not, a tracker that moved.
    assert 0 < neutral_seen < int(replay.hand_ok.sum()) < n
    assert frames[_TURNED_AT - 1].wrist_one_sided is None and frames[_TURNED_AT].wrist_one_sided is not None
    assert np.isnan(replay.flexion_deg[~replay.hand_ok]).all()
    assert point.heading_offset_rad is not None and point.heading_offset_rad == steps.heading_offset_rad
    assert not math.isclose(point.heading_offset_rad, 0.25 if with_still_pose else 0.0, abs_tol=1e-6)
