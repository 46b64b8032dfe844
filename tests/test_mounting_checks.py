"""Mounting that checks itself (issue 9, item 5): strap turns re-referenced, implausible calibration
phases refused, a sensor on backwards, on the other arm or with roles swapped said, never coached
silently. Figures over many seeds: ``./run bench mounting``."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest

from calibration.phases import PhaseDetector
from calibration.plausibility import RoleSwapCheck
from coach.cue_texts import MOUNTING_CUES, PIPELINE_CUES
from coach.events import Event
from coach.pipeline import PipelineConfig, SessionPipeline
from coach.samples import FloatArray
from coach.signal import quaternion as quat
from coach.signal.strap import (
    StrapTurnTracker,
    corrected_mounts,
    turn_about_x_rad,
    turns_about_x_rad,
    twist_rad,
)
from coach.signal.wrist import is_neutral, neutral_whatever_the_turn, wrist_angles_deg
from simulators import simulate
from simulators.scenario import random_scenario

E_X = np.array([1.0, 0.0, 0.0])
E_Y = np.array([0.0, 1.0, 0.0])
T_S = np.arange(200) / 10.0


def _replay(session: object) -> list[dict[str, object]]:
    pipeline = SessionPipeline(session.meta, PipelineConfig(posture_hz=10.0))  # type: ignore[attr-defined]
    events: list[Event] = []
    blocks = session.blocks  # type: ignore[attr-defined]
    end = max(float(b.t_s[-1]) for b in blocks.values())
    for t in np.arange(0.0, end + 5.0, 5.0):
        for b in blocks.values():
            sel = (b.t_s >= t) & (b.t_s < t + 5.0)
            if sel.any():
                events += pipeline.feed(b.slice(int(np.argmax(sel)), int(np.argmax(sel)) + int(sel.sum())))
        events += pipeline.advance(float(t + 5.0) - 0.5)
    events += pipeline.finish()
    return [dict(e) for e in events]


def _warnings(events: list[dict[str, object]]) -> tuple[list[str], list[str]]:
    summary = [e for e in events if e["type"] == "summary"][-1]
    cal = summary["calibration"]
    assert isinstance(cal, dict)
    cues = [str(e["code"]) for e in events if e["type"] == "cue" and e["code"] in MOUNTING_CUES]
    return list(cal.get("mounting_warnings", [])), cues


def _session(
    seed: int, duration_s: float = 40.0, faults: Mapping[str, object] | None = None
) -> tuple[list[str], list[str]]:
    """Mounting warnings of the summary, and the mounting cues said, of a simulated session."""
    sc = random_scenario(seed, roles=("treated", "hand"), duration_s=duration_s)
    overrides = {f"mounting_faults.{k}": v for k, v in (faults or {}).items()}
    return _warnings(_replay(simulate(sc.replace(**overrides) if overrides else sc, seed)))


# -- strap turns -------------------------------------------------------------------------------


def _wrist_poses(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Forearm orientations (rolling and tilting) and hand = forearm · a 2-DoF wrist (no twist)."""
    t = np.arange(n) / 10.0
    q_f = quat.multiply(
        quat.about_axis(E_Y, -0.4 + 0.1 * np.sin(0.3 * t)), quat.about_axis(E_X, 0.3 * np.sin(0.1 * t))
    )
    flex = 0.2 * np.sin(0.7 * t + rng.uniform(0, 6))
    dev = 0.1 * np.sin(0.5 * t + rng.uniform(0, 6))
    wrist = quat.multiply(quat.about_axis(E_Y, flex), quat.about_axis(np.array([0.0, 0.0, 1.0]), dev))
    return q_f, quat.multiply(q_f, wrist)


@pytest.mark.parametrize("role", ["treated", "hand"])
def test_a_strap_turn_is_found_on_the_right_device_and_undone(role: str) -> None:
    rng = np.random.default_rng(3)
    q_f, q_h = _wrist_poses(200, rng)
    angle = math.radians(35.0)
    # The device turns about its segment's long axis at sample 95 (over 0.5 s) and stays turned.
    turn = np.clip((np.arange(200) - 95) / 5.0, 0.0, 1.0) * angle
    if role == "treated":
        q_f = quat.multiply(q_f, quat.about_axis(E_X, turn))
    else:
        q_h = quat.multiply(q_h, quat.about_axis(E_X, turn))
    tracker = StrapTurnTracker()
    found = []
    mf, mh = quat.IDENTITY.copy(), quat.IDENTITY.copy()
    for b in range(20):
        sl = slice(10 * b, 10 * b + 10)
        qf, qh = quat.multiply(q_f[sl], mf), quat.multiply(q_h[sl], mh)
        got = tracker.block(float(b + 1), T_S[sl], qf, qh, np.zeros(10))
        if got is not None:
            found.append(got)
            mf, mh = corrected_mounts(got, mf, mh)
    assert len(found) == 1
    assert found[0].role == role
    assert not found[0].ambiguous
    assert "wrist" not in found[0].summary()
    assert 10.0 <= found[0].t_s <= 13.0
    after = twist_rad(quat.multiply(q_f[150:], mf), quat.multiply(q_h[150:], mh))
    assert np.max(np.abs(np.degrees(after))) < 1.0


def test_both_straps_turning_at_once_leave_the_wrist_uncertain() -> None:
    """Both devices turn about their long axes within the same second (opposite ways, as on the tune
    seed 15024): the twist sees only the difference, so the turn is marked ambiguous, and the summary
    says why the wrist check is off from then on."""
    q_f, q_h = _wrist_poses(200, np.random.default_rng(3))
    ramp = np.clip((np.arange(200) - 95) / 5.0, 0.0, 1.0)
    q_f = quat.multiply(q_f, quat.about_axis(E_X, ramp * math.radians(30.0)))
    q_h = quat.multiply(q_h, quat.about_axis(E_X, ramp * math.radians(-45.0)))
    tracker = StrapTurnTracker()
    found = [
        got
        for b in range(20)
        if (
            got := tracker.block(
                float(b + 1),
                T_S[10 * b : 10 * b + 10],
                q_f[10 * b : 10 * b + 10],
                q_h[10 * b : 10 * b + 10],
                np.zeros(10),
            )
        )
        is not None
    ]
    assert len(found) == 1 and found[0].ambiguous
    assert found[0].summary()["wrist"] == "uncertain_both_devices_turned"


def test_turns_about_x_are_the_x_share_of_each_step_for_a_whole_array_at_once() -> None:
    rng = np.random.default_rng(5)
    q0 = quat.normalize(rng.normal(size=(50, 4)))
    angle = rng.uniform(-1.0, 1.0, 50)
    # A pure turn about the segment's own x axis, in both hemispheres of the quaternion.
    q1 = quat.multiply(q0, quat.about_axis(E_X, angle)) * np.where(np.arange(50) % 2, -1.0, 1.0)[:, None]
    np.testing.assert_allclose(turns_about_x_rad(q0, q1), angle, atol=1e-12)
    # A turn about y has no x share; no turn at all gives zero, not NaN.
    assert np.all(np.abs(turns_about_x_rad(q0, quat.multiply(q0, quat.about_axis(E_Y, angle)))) < 1e-12)
    assert np.array_equal(turns_about_x_rad(q0, q0), np.zeros(50))
    # The one-pair form is the same number as the array form, bit for bit.
    q2 = quat.normalize(q0 + 0.05 * rng.normal(size=(50, 4)))
    whole = turns_about_x_rad(q0, q2)
    assert [turn_about_x_rad(a, b) for a, b in zip(q0, q2, strict=True)] == whole.tolist()


def test_the_twist_of_whole_blocks_is_the_quaternion_formula_bit_for_bit() -> None:
    """twist_rad's (n, 4) path (the Hamilton product as signed, reordered terms) gives the numbers of
    the quaternion module's conjugate, product, normalisation and arctan2, for any row count, nearly
    unnormalised rows, zeros of either sign and a NaN."""

    def reference(qf: FloatArray, qh: FloatArray) -> FloatArray:
        w, x, y, z = np.moveaxis(quat.normalize(quat.multiply(quat.conjugate(qf), qh)), -1, 0)
        return np.asarray(np.arctan2(-(2 * (y * z - w * x)), 1 - 2 * (x * x + z * z)))

    rng = np.random.default_rng(11)
    for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 40, 50, 200]:
        for trial in range(40):
            qf = quat.normalize(rng.normal(size=(n, 4))) * rng.uniform(0.99, 1.01, (n, 1))
            qh = quat.normalize(rng.normal(size=(n, 4)))
            if n and trial % 4 == 0:
                qf[rng.integers(0, n), rng.integers(0, 4)] = rng.choice([0.0, -0.0])
                qh[rng.integers(0, n)] = [1.0, 0.0, -0.0, 0.0]
            if n and trial % 9 == 0:
                qh[rng.integers(0, n), 2] = np.nan
            assert twist_rad(qf, qh).tobytes() == reference(qf, qh).tobytes(), (n, trial)
    # One pair, and a single row against a block, take the general path.
    qf, qh = quat.normalize(rng.normal(size=(2, 4)))
    assert twist_rad(qf, qh).tobytes() == reference(qf, qh).tobytes()
    assert twist_rad(qf[None, :], qh[None, :]).tobytes() == reference(qf[None, :], qh[None, :]).tobytes()


def test_a_twist_step_is_pending_while_judged_and_not_for_ever() -> None:
    """While a twist step is being judged the estimator keeps it out of the heading offset (a second
    turn soon after a first was hidden by δ); a step without a device turn behind it (a heading error)
    stops being pending after MAX_PENDING_BLOCKS, so δ can follow it again."""
    from coach.signal.strap import MAX_PENDING_BLOCKS

    q_f, q_h = _wrist_poses(200, np.random.default_rng(6))
    # A heading error of 40° (twist without any device turning about its x), after 5 s seen right.
    delta = np.full(200, math.radians(40.0))
    tracker = StrapTurnTracker()
    pending = []
    for b in range(20):
        sl = slice(10 * b, 10 * b + 10)
        d = delta[sl] if b >= 5 else np.zeros(10)
        assert tracker.block(float(b + 1), T_S[sl], q_f[sl], q_h[sl], d) is None
        pending.append(tracker.step_pending)
    first = pending.index(True)
    assert first >= 5
    assert pending[first : first + MAX_PENDING_BLOCKS] == [True] * MAX_PENDING_BLOCKS
    assert not any(pending[first + MAX_PENDING_BLOCKS :])
    assert not any(pending[:first])


def test_a_tug_that_springs_back_is_not_a_strap_turn() -> None:
    q_f, q_h = _wrist_poses(200, np.random.default_rng(4))
    # 25° for 0.8 s, then back.
    bump = np.where((np.arange(200) >= 95) & (np.arange(200) < 103), math.radians(25.0), 0.0)
    q_f = quat.multiply(q_f, quat.about_axis(E_X, bump))
    tracker = StrapTurnTracker()
    for b in range(20):
        sl = slice(10 * b, 10 * b + 10)
        assert tracker.block(float(b + 1), T_S[sl], q_f[sl], q_h[sl], np.zeros(10)) is None


# -- automatic phases ------------------------------------------------------------------------


def _detect(acc: np.ndarray, gyr: np.ndarray, rate_hz: float = 50.0) -> object:
    det = PhaseDetector(rate_hz, 0.0)
    k = np.arange(acc.shape[0], dtype=np.int64)
    det.feed(k, gyr, acc, acc.shape[0])
    return det.result


def test_an_arm_hanging_at_the_side_is_not_a_still_phase() -> None:
    rng = np.random.default_rng(1)
    n = 50 * 70
    acc = np.tile([-9.7, 0.3, 1.0], (n, 1)) + rng.normal(0, 0.02, (n, 3))  # x pointing down, face sideways
    gyr = rng.normal(0, 0.005, (n, 3))
    res = _detect(acc, gyr)
    assert res is not None and res.still is None  # type: ignore[attr-defined]


def test_a_raised_still_forearm_then_a_turn_not_about_its_length_gives_no_rotate() -> None:
    rng = np.random.default_rng(2)
    still = np.tile([3.0, 0.0, 9.3], (50 * 4, 1)) + rng.normal(0, 0.02, (200, 3))
    # 3 s of turning about the device's y axis (a sit-down, a reach), not about x.
    turn_g = np.tile([0.0, 1.2, 0.0], (150, 1))
    acc = np.vstack([still, np.tile([3.0, 0.0, 9.3], (150, 1)), np.tile([3.0, 0.0, 9.3], (400, 1))])
    gyr = np.vstack([rng.normal(0, 0.005, (200, 3)), turn_g, rng.normal(0, 0.005, (400, 3))])
    res = _detect(acc, gyr)
    assert res is not None
    assert res.still is not None and res.rotate is None  # type: ignore[attr-defined]


# -- swapped roles (unit) --------------------------------------------------------------------


def test_role_swap_check_needs_the_watch_to_turn_more_than_the_hand() -> None:
    rng = np.random.default_rng(5)
    for treated_sd, hand_sd, swapped in ((0.2, 0.4, False), (0.4, 0.2, True)):
        check = RoleSwapCheck()
        for _ in range(130):
            check.feed("treated", rng.normal(0, treated_sd, (50, 3)), 50.0)
            check.feed("hand", rng.normal(0, hand_sd, (50, 3)), 50.0)
        assert check.decide() is swapped
        assert check.decided


# -- whole sessions ----------------------------------------------------------------------------


def test_mounting_warnings_have_words_in_the_cue_texts() -> None:
    for code in MOUNTING_CUES:
        assert PIPELINE_CUES[code] == MOUNTING_CUES[code]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"backwards": "treated"}, "check_watch_backwards"),
        ({"backwards": "hand"}, "check_hand_sensor_backwards"),
        ({"wrong_arm": True}, "check_sensor_arm"),
    ],
)
def test_a_mounting_fault_is_said(fault: dict[str, object], code: str) -> None:
    warnings, cues = _session(2003, faults=fault)
    assert warnings == [code]
    assert cues == [code]


def test_swapped_roles_are_said() -> None:
    warnings, cues = _session(2004, duration_s=150.0, faults={"swap_roles": True})
    assert warnings == ["check_sensor_roles"]
    assert cues == ["check_sensor_roles"]


@pytest.mark.parametrize("seed", [2005, 2006, 2007])
def test_no_mounting_warning_on_a_correctly_worn_session(seed: int) -> None:
    warnings, cues = _session(seed, duration_s=150.0)
    assert warnings == [] and cues == []


@pytest.mark.parametrize("arm", ["right", "left"])
def test_after_an_ambiguous_turn_neutral_is_said_only_where_every_split_of_the_turn_agrees(arm: str) -> None:
    """Both segment frames turned by the same unknown α about the long axis (what an ambiguous strap
    turn leaves): the check says "neutral" only where the wrist is neutral for every α, so never for a
    wrist outside the limits, and always for one well inside the circle of the smaller limit."""
    rng = np.random.default_rng(11)
    flex = rng.uniform(-40.0, 40.0, 400)
    dev = rng.uniform(-30.0, 30.0, 400)
    # The true wrist: hand = forearm · R_y(β) R_z(±γ) (deviation's sign per arm, coach.signal.wrist).
    q_f = quat.normalize(rng.normal(size=(400, 4)))
    sign = 1.0 if arm == "right" else -1.0
    rel = quat.multiply(
        quat.about_axis(E_Y, np.radians(flex)),
        quat.about_axis(np.array([0.0, 0.0, 1.0]), np.radians(sign * dev)),
    )
    q_h = quat.multiply(q_f, rel)
    for alpha_deg in (-40.0, -15.0, 0.0, 25.0, 60.0):
        turn = quat.about_axis(E_X, np.full(400, math.radians(alpha_deg)))
        f_read, d_read = wrist_angles_deg(quat.multiply(q_f, turn), quat.multiply(q_h, turn), arm)
        said = neutral_whatever_the_turn(f_read, d_read, 15.0, 10.0)
        truly = is_neutral(flex, dev, 15.0, 10.0)
        assert not np.any(said & ~truly)
        well_inside = np.hypot(flex, dev) <= 9.5
        assert np.all(said[well_inside])
        assert said.sum() < truly.sum()


def test_after_an_ambiguous_turn_the_posture_frame_gives_only_neutral_or_null() -> None:
    """The posture estimator after an ambiguous turn: angles null, "neutral" where the wrist is within
    the smaller limit whatever the split, null (not "not neutral") elsewhere, every row marked one-sided
    for the summary; before such a turn the same wrist gives both answers."""
    from coach.signal.posture import PostureEstimator, PostureSetup, Thresholds
    from coach.signal.roles import Interpolated
    from coach.trace.meta import Body

    n = 200
    t = np.arange(n) / 50.0
    j = np.arange(n, dtype=np.int64)
    flex = np.where(np.arange(n) < 100, 5.0, 30.0)  # 5° then 30° palmar flexion, forearm raised 30°
    q_f = quat.about_axis(E_Y, np.full(n, -math.radians(30.0)))
    q_h = quat.multiply(q_f, quat.about_axis(E_Y, np.radians(flex)))
    setup = PostureSetup("right", Body(), quat.IDENTITY.copy(), 0.0, quat.IDENTITY.copy(), 0.0, 0.0)
    ones = np.ones(n, bool)
    for uncertain in (False, True):
        est = PostureEstimator(setup, block_points=50, decision_hz=50.0)
        est.wrist_uncertain = uncertain
        frame = est._compute_with_hand(j, t, Interpolated(ones, q_f), Interpolated(ones, q_h), Thresholds())
        if not uncertain:
            assert frame.wrist_one_sided is None
            assert frame.hand_ok.all() and frame.neutral[:100].all() and not frame.neutral[100:].any()
            continue
        assert frame.wrist_one_sided is not None and frame.wrist_one_sided.all()
        assert np.isnan(frame.flexion_deg).all() and np.isnan(frame.deviation_deg).all()
        assert frame.hand_ok[:100].all() and frame.neutral[:100].all()
        assert not frame.hand_ok[100:].any()
