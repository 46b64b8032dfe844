"""Physics invariants of the simulator: each could fail if the model, its frames or its labels were wrong.

The checks read sensor samples (and the labelled mounting) and compare them with the labels, or check
the frame conventions against SciPy; none of them re-derives a number the same way the code under
test does.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import signal
from scipy.spatial.transform import Rotation
from scipy.stats import spearmanr

from coach.units import GRAVITY_MPS2
from simulators import (
    Episode,
    FidgetSpec,
    PostureSpec,
    Scenario,
    SensorSpec,
    StrokeSpec,
    quat,
    random_scenario,
    simulate,
)
from simulators.body import BodyModel
from simulators.devices import DeviceNoise
from simulators.frames import (
    elevation_rad,
    forearm_quat,
    forearm_rotation,
    roll_rad,
    wrist_angles,
    wrist_quat,
    wrist_rotation,
)
from simulators.motion import render_role
from simulators.plan import plan_session
from simulators.session import SimulatedSession, _prepare
from simulators.truth import posture_at, posture_grid

ALL = ("treated", "hand", "stroker")


def _sensors(rate: float = 100.0, misalignment: float = 25.0, **kw: object) -> dict[str, SensorSpec]:
    return {r: SensorSpec(rate_hz=rate, misalignment_deg=misalignment, **kw) for r in ALL}  # type: ignore[arg-type]


def _segment_from_sensor(session: SimulatedSession, role: str) -> np.ndarray:
    """The labelled mounting (truth), used to take samples into the segment frame."""
    return np.asarray(session.truth["sensors"][role]["mounting_wxyz"])


@pytest.fixture(scope="module")
def ideal() -> SimulatedSession:
    """A 100 s session, three sensors at 200 Hz, no device errors or transport faults."""
    sc = Scenario(
        duration_s=100,
        sensors=_sensors(200.0),
        sensor_errors=False,
        transport_faults=False,
        strokes=StrokeSpec(pause_s=(6.0, 10.0), bout_strokes=(5.0, 8.0)),
        fidgets=FidgetSpec(per_10min=6.0, stroker_per_10min=30.0),
    )
    return simulate(sc, 2)


@pytest.fixture(scope="module")
def realistic() -> SimulatedSession:
    """The same kind of session with good-class device errors (no transport faults, for indexing)."""
    sc = Scenario(
        duration_s=100,
        sensors={r: SensorSpec(rate_hz=200.0) for r in ("treated", "stroker")},
        transport_faults=False,
        strokes=StrokeSpec(pause_s=(6.0, 10.0), bout_strokes=(5.0, 8.0)),
        fidgets=FidgetSpec(per_10min=0.0),
    )
    return simulate(sc, 2)


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_the_same_session_bit_for_bit() -> None:
    sc = random_scenario(3, duration_s=40, roles=ALL)
    a, b = simulate(sc, 3), simulate(sc, 3)
    for role in sc.roles:
        assert np.array_equal(a.blocks[role].t_s, b.blocks[role].t_s)
        assert np.array_equal(a.blocks[role].acc_mps2, b.blocks[role].acc_mps2)
        assert np.array_equal(a.blocks[role].gyr_rps, b.blocks[role].gyr_rps)
    assert a.truth == b.truth
    assert a.meta == b.meta
    c = simulate(sc, 4)
    assert not np.array_equal(a.blocks["treated"].acc_mps2[:100], c.blocks["treated"].acc_mps2[:100])


def test_adding_a_sensor_leaves_the_others_unchanged() -> None:
    sc = random_scenario(8, duration_s=40, roles=("treated",))
    alone = simulate(sc, 8)
    with_hand = simulate(sc.replace(roles=("treated", "hand")), 8)
    assert np.array_equal(alone.blocks["treated"].acc_mps2, with_hand.blocks["treated"].acc_mps2)
    assert alone.truth["strokes"] == with_hand.truth["strokes"]


# -- gravity and rotation ------------------------------------------------------------------------


def test_at_rest_acc_is_gravity_along_the_true_elevation(ideal: SimulatedSession) -> None:
    still = ideal.meta.phase("still")
    assert still is not None
    for role in ("treated", "hand"):
        b = ideal.blocks[role]
        m = (b.t_s > still[0] + 0.5) & (b.t_s < still[1] - 0.5)
        acc = b.acc_mps2[m]
        # Tremor and breathing are all that moves: a few hundredths of g per sample, nothing on average.
        assert np.abs(np.linalg.norm(acc, axis=1) - GRAVITY_MPS2).max() < 0.15
        assert abs(np.linalg.norm(acc.mean(axis=0)) - GRAVITY_MPS2) < 0.01
        # Into the segment frame with the labelled mounting: x-component = g · sin(elevation of segment x).
        seg = quat.rotate(_segment_from_sensor(ideal, role), acc)
        elev_acc = np.rad2deg(np.arcsin(seg[:, 0] / np.linalg.norm(seg, axis=1)))
        if role == "treated":
            truth = posture_at(ideal.model, b.t_s[m])["elevation_deg"]
        else:
            fa = ideal.model.forearm(b.t_s[m])
            truth = np.rad2deg(elevation_rad(quat.to_rotation(ideal.model.hand_rotation(b.t_s[m], fa))))
        assert np.abs(elev_acc - truth).max() < 1.0, role
        assert abs(elev_acc.mean() - truth.mean()) < 0.05, role
        # Palm down in the still pose: gravity (specific force) mostly along dorsal +z.
        assert (seg[:, 2] > 0.8 * GRAVITY_MPS2 * np.cos(np.deg2rad(truth))).all()


def test_realistic_devices_still_read_about_one_g_at_rest(realistic: SimulatedSession) -> None:
    still = realistic.meta.phase("still")
    assert still is not None
    b = realistic.blocks["treated"]
    m = (b.t_s > still[0]) & (b.t_s < still[1])
    norm = np.linalg.norm(b.acc_mps2[m], axis=1)
    assert abs(norm.mean() - GRAVITY_MPS2) < 0.05 * GRAVITY_MPS2
    assert 0.005 < norm.std() < 0.1  # noise is there, but small


@pytest.mark.parametrize("role", ALL)
def test_integrating_the_true_gyro_reproduces_the_orientation_change(role: str) -> None:
    sc = Scenario(duration_s=60, sensors=_sensors(100.0))
    model, devices = _prepare(sc, 4)
    e = devices[role]
    n = 5000
    noise = DeviceNoise(e, np.random.default_rng(0), enabled=False)
    _, gyr = render_role(model, role, e, 0.0, 0.01, n, noise, lowpass=False)
    t = np.arange(n, dtype=np.float64) * 0.01
    q_sensor = quat.mul(model.kinematics(role, t).rot, quat.from_rotation(e.mount))
    for a, b in ((100, 1100), (500, 4999)):  # through the calibration turns, then strokes and returns
        q = q_sensor[a].copy()
        for k in range(a, b):
            q = quat.mul(q, quat.from_rotvec(0.5 * (gyr[k] + gyr[k + 1]) * 0.01))
        err = np.rad2deg(np.linalg.norm(quat.to_rotvec(quat.mul(quat.conj(q), q_sensor[b]))))
        total = np.rad2deg(np.linalg.norm(quat.to_rotvec(quat.mul(quat.conj(q_sensor[a]), q_sensor[b]))))
        assert err < 0.05, (role, a, b, err, total)


def test_fast_quaternions_match_scipy_and_the_truth_decomposition() -> None:
    rng = np.random.default_rng(1)
    n = 200
    heading, elev, roll = rng.uniform(-3, 3, n), rng.uniform(-1.2, 1.2, n), rng.uniform(-2, 2, n)
    flex, dev = rng.uniform(-1, 1, n), rng.uniform(-0.6, 0.6, n)
    for arm in ("left", "right"):
        fast = quat.to_rotation(forearm_quat(heading, elev, roll, arm))
        ref = forearm_rotation(heading, elev, roll, arm)
        assert np.allclose((fast.inv() * ref).magnitude(), 0.0, atol=1e-9)
        assert np.allclose(elevation_rad(ref), elev, atol=1e-9)
        assert np.allclose(roll_rad(ref, arm), roll, atol=1e-9)
        w_fast = quat.to_rotation(wrist_quat(flex, dev, arm))
        assert np.allclose((w_fast.inv() * wrist_rotation(flex, dev, arm)).magnitude(), 0.0, atol=1e-9)
    rv = rng.normal(0, 1, (n, 3))
    assert np.allclose(quat.to_rotvec(quat.from_rotvec(rv)), Rotation.from_rotvec(rv).as_rotvec(), atol=1e-9)
    v = rng.normal(0, 1, (n, 3))
    q = quat.from_rotvec(rv)
    assert np.allclose(quat.rotate(q, v), quat.to_rotation(q).apply(v), atol=1e-12)


# -- sign conventions ----------------------------------------------------------------------------


@pytest.mark.parametrize("arm", ["left", "right"])
def test_wrist_and_roll_angles_round_trip_with_anatomical_signs(arm: str) -> None:
    rng = np.random.default_rng(2)
    flex, dev = rng.uniform(-0.8, 0.8, 100), rng.uniform(-0.5, 0.5, 100)
    got_flex, got_dev = wrist_angles(wrist_rotation(flex, dev, arm), arm)
    assert np.allclose(got_flex, flex, atol=1e-9) and np.allclose(got_dev, dev, atol=1e-9)
    # Geometry, not the code's own formulas: the thumb side is +y_F on a right arm and -y_F on a left arm
    # (palm down, fingers forward, z up: y = z × x points left, where a right thumb points).
    thumb_side = np.array([0.0, 1.0 if arm == "right" else -1.0, 0.0])
    hand_x = wrist_rotation(np.array([0.0]), np.array([0.3]), arm).apply([1.0, 0.0, 0.0])[0]
    assert hand_x @ thumb_side > 0.25  # radial deviation (+) turns the fingers toward the thumb
    hand_x = wrist_rotation(np.array([0.3]), np.array([0.0]), arm).apply([1.0, 0.0, 0.0])[0]
    assert hand_x[2] < -0.25  # palmar flexion (+) turns the fingers toward the palm (-z)
    up = forearm_rotation(np.zeros(1), np.zeros(1), np.array([0.5]), arm).apply(thumb_side)[0]
    assert up[2] > 0.4  # supination (+) turns the thumb side up, toward palm up


@pytest.mark.parametrize("arm", ["left", "right"])
def test_episodes_show_in_truth_and_samples_with_anatomical_signs(arm: str) -> None:
    episodes = (
        Episode(kind="wrist", t_start_s=20.0, duration_s=10.0, transition_s=1.0, flexion_deg=30.0),
        Episode(kind="wrist", t_start_s=34.0, duration_s=10.0, transition_s=1.0, deviation_deg=15.0),
        Episode(kind="roll", t_start_s=48.0, duration_s=10.0, transition_s=1.0, roll_deg=40.0),
    )
    sc = Scenario(
        duration_s=62,
        arm=arm,
        sensors=_sensors(100.0),
        sensor_errors=False,
        transport_faults=False,
        strokes=StrokeSpec(enabled=False),
        fidgets=FidgetSpec(per_10min=0.0),
        posture=PostureSpec(
            episodes=episodes,
            lowered_per_10min=0.0,
            wrist_per_10min=0.0,
            roll_per_10min=0.0,
            wrist_drift_deg=0.5,
        ),
    )
    s = simulate(sc, 5)
    post = s.truth["posture"]
    t = np.asarray(post["t"])

    def hold(a: float, b: float) -> np.ndarray:
        return (t > a + 2.0) & (t < b - 2.0)

    flex, dev, roll = (
        np.asarray(post[k]) for k in ("wrist_flexion_deg", "wrist_deviation_deg", "forearm_roll_deg")
    )
    assert 22 < flex[hold(20, 30)].mean() < 38
    assert 8 < dev[hold(34, 44)].mean() < 22
    assert 32 < roll[hold(48, 58)].mean() < 48
    assert not np.asarray(post["wrist_neutral"])[hold(20, 30)].any()

    # Samples: palmar flexion tips the hand's x-axis below the forearm's (gravity along x, segment frames).
    def seg_acc(role: str, a: float, b: float) -> np.ndarray:
        blk = s.blocks[role]
        m = (blk.t_s > a + 2.0) & (blk.t_s < b - 2.0)
        return np.asarray(quat.rotate(_segment_from_sensor(s, role), blk.acc_mps2[m]).mean(axis=0))

    f_t, f_h = seg_acc("treated", 20, 30), seg_acc("hand", 20, 30)
    elev_t = np.rad2deg(np.arcsin(f_t[0] / np.linalg.norm(f_t)))
    elev_h = np.rad2deg(np.arcsin(f_h[0] / np.linalg.norm(f_h)))
    assert 20 < elev_t - elev_h < 40
    # Supination: the thumb side (+y on a right arm, -y on a left arm) turns up, so gravity appears there.
    f_roll = seg_acc("treated", 48, 58)
    thumb = 1.0 if arm == "right" else -1.0
    assert thumb * f_roll[1] > GRAVITY_MPS2 * np.sin(np.deg2rad(25.0))


def test_elevated_label_follows_the_wrist_height_rule_with_meta_body() -> None:
    s = simulate(random_scenario(21, duration_s=200), 21)
    body = s.meta.body
    post = s.truth["posture"]
    elev = np.deg2rad(np.asarray(post["elevation_deg"]))
    height = body.elbow_to_heart_m + body.forearm_length_m * np.sin(elev)
    on_edge = np.abs(height - 0.05) < 2e-4  # rounding in the file
    assert np.array_equal(np.asarray(post["elevated"])[~on_edge], (height >= 0.05)[~on_edge])
    assert np.allclose(post["wrist_height_m"], height, atol=2e-4)
    assert (~np.asarray(post["elevated"])).any() and np.asarray(post["elevated"]).any()


# -- strokes -------------------------------------------------------------------------------------


def test_contact_brings_rubbing_vibration_to_the_treated_sensor(realistic: SimulatedSession) -> None:
    b = realistic.blocks["treated"]
    sos = signal.butter(4, [20, 40], btype="bandpass", fs=200, output="sos")
    band = np.linalg.norm(signal.sosfiltfilt(sos, b.acc_mps2, axis=0), axis=1)
    truth = realistic.truth
    contact, labelled = [], []
    for st in truth["strokes"]:
        d = st["t_end"] - st["t_start"]
        m = (b.t_s > st["t_start"] + 0.25 * d) & (b.t_s < st["t_end"] - 0.25 * d)
        contact.append(np.sqrt(np.mean(band[m] ** 2)))
        labelled.append(st["vibration_rms_mps2"])
    quiet = []
    for seg in truth["stroker_path"]:
        if (
            seg["kind"] in ("return", "rest")
            and seg["t_end"] - seg["t_start"] > 0.5
            and seg["t_start"] > truth["active"][0]
        ):
            m = (b.t_s > seg["t_start"] + 0.1) & (b.t_s < seg["t_end"] - 0.1)
            quiet.append(np.sqrt(np.mean(band[m] ** 2)))
    assert len(contact) >= 8 and len(quiet) >= 4
    assert np.median(contact) > 3.0 * np.median(quiet)
    assert spearmanr(contact, labelled).statistic > 0.4  # grows with the labelled level (force and speed)


def test_stroker_moves_along_the_limb_in_the_labelled_direction(ideal: SimulatedSession) -> None:
    sb = ideal.blocks["stroker"]
    q_sensor = quat.mul(ideal.model.kinematics("stroker", sb.t_s).rot, _segment_from_sensor(ideal, "stroker"))
    lin = quat.rotate(q_sensor, sb.acc_mps2)
    lin[:, 2] -= GRAVITY_MPS2
    x_forearm = quat.rotate(ideal.model.forearm(sb.t_s).rot, np.array([1.0, 0.0, 0.0]))
    along = (lin * x_forearm).sum(axis=1)
    strokes = ideal.truth["strokes"]
    assert {s["direction"] for s in strokes} == {"proximal", "distal"} or len(strokes) < 6
    dt = float(np.median(np.diff(sb.t_s)))
    for st in strokes:
        m = (sb.t_s >= st["t_start"]) & (sb.t_s <= st["t_end"])
        velocity = np.cumsum(along[m]) * dt  # starts from rest relative to the limb
        displacement = float(velocity.sum() * dt)
        sign = 1.0 if st["direction"] == "distal" else -1.0
        assert sign * displacement > 0.75 * st["length_m"], st
        assert abs(displacement) < 1.25 * st["length_m"], st


def test_pressing_tilts_gravity_along_x_by_the_labelled_press() -> None:
    """With every other motion switched off, the only elevation change is the press of each stroke."""
    quiet = PostureSpec(
        lowered_per_10min=0.0,
        roll_per_10min=0.0,
        wrist_per_10min=0.0,
        height_drift_m=0.0,
        fatigue_m=0.0,
        breathing_deg=0.0,
        tremor_mps2=0.0,
        heading_drift_deg=0.0,
        roll_drift_deg=0.0,
    )
    sc = Scenario(
        duration_s=90,
        sensors={"treated": SensorSpec(rate_hz=100)},
        sensor_errors=False,
        transport_faults=False,
        fidgets=FidgetSpec(per_10min=0.0),
        strokes=StrokeSpec(contact_angle_deg=0.0),
        posture=quiet,
    )
    s = simulate(sc, 3)
    b = s.blocks["treated"]
    seg = quat.rotate(_segment_from_sensor(s, "treated"), b.acc_mps2)
    low = signal.sosfiltfilt(signal.butter(2, 2.0, fs=100, output="sos"), seg, axis=0)
    elev = np.rad2deg(np.arcsin(low[:, 0] / np.linalg.norm(low, axis=1)))
    still = s.meta.phase("still")
    assert still is not None
    ref = elev[(b.t_s > still[0]) & (b.t_s < still[1])].mean()
    dips, press = [], []
    for st in s.truth["strokes"]:
        d = st["t_end"] - st["t_start"]
        mid = (b.t_s > st["t_start"] + 0.4 * d) & (b.t_s < st["t_end"] - 0.3 * d)
        dips.append(ref - elev[mid].mean())
        press.append(st["press_deg"])
    assert len(dips) > 10
    assert min(dips) > 0.03  # every stroke presses the hand down (dorsal contact)
    assert max(dips) < max(press)  # never more than the largest press (the lever shrinks toward the elbow)
    assert np.corrcoef(dips, press)[0, 1] > 0.7


def test_slide_acceleration_flips_between_onset_and_release() -> None:
    plan = plan_session(random_scenario(6, duration_s=120), 6)
    model = BodyModel(plan)
    st = plan.strokes
    assert len(st) > 10
    for i in range(len(st)):
        ts, te = float(st.t_start_s[i]), float(st.t_end_s[i])
        t_on = np.linspace(ts, ts + float(st.ramp_on_s[i]), 200)
        t_off = np.linspace(te - float(st.ramp_off_s[i]), te + 0.15, 200)
        slide_on = model.response.evaluate(t_on)[0]
        slide_off = model.response.evaluate(t_off)[0]
        first_on = slide_on[np.argmax(np.abs(slide_on) > 0.3 * np.abs(slide_on).max())]
        first_off = slide_off[np.argmax(np.abs(slide_off) > 0.3 * np.abs(slide_off).max())]
        assert np.sign(first_on) == st.direction[i], i  # dragged along the glide at onset
        assert np.sign(first_off) == -st.direction[i], i  # springs back at release


def test_stroke_parameters_stay_in_the_design_ranges() -> None:
    for seed in range(6):
        truth = simulate(random_scenario(seed, duration_s=150), seed).truth
        for st in truth["strokes"]:
            contact = st["t_end"] - st["t_start"]
            assert 0.8 - 1e-3 <= contact <= 4.0 + 1e-3
            assert 2.0 - 1e-3 <= st["force_n"] <= 20.0 + 1e-3
            assert 0.08 - 1e-3 <= st["length_m"] <= 0.30 + 1e-3
            assert 0.05 - 1e-3 <= st["mean_speed_mps"] <= 0.25 + 1e-3
            assert 0.02 - 1e-4 <= st["vibration_rms_mps2"] <= 0.2 + 1e-4
            assert 0.2 - 1e-3 <= st["ramp_on_s"] <= 0.5 + 1e-3 or st["ramp_on_s"] <= contact / 2.5 + 1e-3
        starts = [s["t_start"] for s in truth["strokes"]]
        assert all(b > a for a, b in itertools.pairwise(starts))
        ends = [s["t_end"] for s in truth["strokes"]]
        assert all(s2 > e1 for e1, s2 in zip(ends, starts[1:], strict=False))  # one contact at a time
        for f in truth["fidgets"]:
            assert all(s["t_end"] < f["t_start"] or s["t_start"] > f["t_end"] for s in truth["strokes"])


def test_fidgets_move_the_arm_without_contact(ideal: SimulatedSession) -> None:
    truth = ideal.truth
    assert truth["fidgets"], "the fixture asks for fidgets"
    still = ideal.meta.phase("still")
    assert still is not None
    roles = {f["role"] for f in truth["fidgets"]}
    assert roles == {"treated", "stroker"}
    for f in truth["fidgets"]:
        blk = ideal.blocks[f["role"]]
        gyr = np.linalg.norm(blk.gyr_rps, axis=1)
        quiet = gyr[(blk.t_s > still[0]) & (blk.t_s < still[1])].max()
        m = (blk.t_s >= f["t_start"]) & (blk.t_s <= f["t_end"])
        assert gyr[m].max() > 3.0 * quiet, f
        assert all(s["t_end"] < f["t_start"] or s["t_start"] > f["t_end"] for s in truth["strokes"]), f


# -- mounting and corpus -------------------------------------------------------------------------


def test_mounting_stays_within_limits() -> None:
    for seed in range(10):
        sc = random_scenario(seed, duration_s=30)
        truth = simulate(sc, seed).truth
        for role, info in truth["sensors"].items():
            bound = sc.sensors[role].misalignment_deg
            hi = bound[1] if isinstance(bound, tuple) else bound
            assert info["misalignment_deg"] <= hi + 1e-6 <= 30.0 + 1e-6
            assert info["x_axis_angle_deg"] <= info["misalignment_deg"] + 1e-6 <= 45.0
            q = np.asarray(info["mounting_wxyz"])
            assert abs(np.linalg.norm(q) - 1.0) < 1e-5


@pytest.mark.slow
def test_random_corpus_meets_the_distal_and_lowered_shares() -> None:
    """docs/design.md §9: ≥ 20 % distal strokes and ≥ 15 % of the (active) time lowered, on 30 seeds."""
    distal = total = 0
    lowered = samples = 0
    for seed in range(100, 130):
        sc = random_scenario(seed)
        plan = plan_session(sc, seed)
        distal += int((plan.strokes.direction > 0).sum())
        total += len(plan.strokes)
        t = posture_grid(sc.duration_s)
        t = t[(t >= plan.active[0]) & (t <= plan.active[1])]
        elevated = np.asarray(posture_at(BodyModel(plan), t)["elevated"], dtype=bool)
        lowered += int(np.count_nonzero(~elevated))
        samples += len(t)
    assert distal / total >= 0.20
    assert lowered / samples >= 0.15
