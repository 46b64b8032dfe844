"""The movement veto's kinematic evidence (coach/signal/strokes/veto_kinematics.py) and its tails: the
wrist's own travel and acceleration, and a veto file that takes them off every contact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coach.samples import FloatArray
from coach.signal.strokes.movement import CONTEXT_FEATURES, MovementVeto, read_veto
from coach.signal.strokes.veto_kinematics import KINEMATIC_FEATURES, kinematic_features

FRAME_S = 0.1


def _cols(ex: FloatArray) -> dict[str, FloatArray]:
    z = np.zeros_like(ex)
    return {"ex": ex, "ey": z.copy(), "lz": z.copy()}


def _out_and_back(n: int, a: int, dur_frames: int, dist_m: float) -> FloatArray:
    """Frame-mean acceleration of a wrist that moves ``dist_m`` out and back (1 − cos) from frame ``a``."""
    t = np.arange(n, dtype=np.float64) * FRAME_S
    t0, d = a * FRAME_S, dur_frames * FRAME_S
    u = np.clip((t - t0) / d, 0.0, 1.0)
    inside = (t >= t0) & (t <= t0 + d)
    acc = np.where(inside, 0.5 * dist_m * (2.0 * math.pi / d) ** 2 * np.cos(2.0 * math.pi * u), 0.0)
    return acc


def test_an_out_and_back_wrist_travels_by_its_distance() -> None:
    a, b, n = 60, 72, 76
    still = kinematic_features(_cols(np.zeros(n)), a, b, FRAME_S)
    moved = kinematic_features(_cols(_out_and_back(n, a, 12, 0.04)), a, b, FRAME_S)
    assert moved[1] > math.log(15.0)  # about half the 40 mm excursion off the window's mean path
    assert moved[1] > still[1] + 4.0
    assert moved[0] > 3.0 and moved[2] > still[2] + 3.0  # it accelerates inside, not before


def test_a_sensor_offset_is_no_travel() -> None:
    a, b, n = 60, 72, 76
    biased = kinematic_features(_cols(np.full(n, 0.3)), a, b, FRAME_S)
    assert biased[1] < math.log(0.2)
    assert biased[0] == pytest.approx(0.0, abs=1e-9)


def test_a_veto_file_with_kinematic_tails_drops_a_travelling_contact() -> None:
    parameters, _ = read_veto()
    k = len(KINEMATIC_FEATURES)
    tails = {
        "features": list(KINEMATIC_FEATURES),
        "levels": [0.01, 0.001],
        "lo": [[-1.0, -1.5]] * k,
        "hi": [[1.0, 1.5]] * k,
        "free": 2.0,
        "weight": 1.0,
    }
    plain = MovementVeto.from_dict(parameters)
    veto = MovementVeto.from_dict({**parameters, "kinematics": tails})
    x = np.zeros(len(CONTEXT_FEATURES))
    assert veto.keep(x) == plain.keep(x)  # inside the tails: nothing taken off
    j = [CONTEXT_FEATURES.index(f) for f in KINEMATIC_FEATURES]
    x[j] = 1.4  # in the outer 1 % on all three: 3 × log(0.01/~0.0017) nats, beyond the free 2
    z_plain, z = plain.keep(x)[1], veto.keep(x)[1]
    assert z < z_plain - 1.0


def test_the_refit_takes_the_benchmarks_sessions_with_their_sensor_sets() -> None:
    from benchmarks.veto_refit import _corpus, bench_keys

    keys = bench_keys("tune", "sensors=3,mix=1").split(",")
    assert keys == [
        "fam:sensors@treated:15000",
        "fam:sensors@treated+hand:15001",
        "fam:sensors@treated+stroker:15002",
        "fam:mix@treated:40000",
    ]
    named = [_corpus(k) for k in (keys[0], "1003", "real:spsw_har/train/s01")]
    assert named == ["sensors", "today", "real"]


def _reference_kinematic_features(cols: dict[str, FloatArray], a: int, b: int, frame_s: float) -> list[float]:
    """The features as first written (``np.stack``, ``ndarray.mean``/``max``, ``np.median``): the
    quicker module must give these numbers bit for bit."""
    acc = np.nan_to_num(np.stack([cols["ex"], cols["ey"], cols["lz"]], axis=1))
    mag = np.sqrt(np.einsum("ij,ij->i", acc, acc))
    inside = mag[a:b]
    near = mag[max(0, a - 20) : a]
    med = float(np.median(near)) if near.shape[0] else 0.0
    ratio = math.log((float(inside.mean()) + 1e-3) / (med + 1e-3)) if near.shape[0] else 0.0
    seg = acc[max(0, a - 5) :]
    travel = 0.0
    if seg.shape[0] >= 4:

        def detrended(x: FloatArray) -> FloatArray:
            y = np.cumsum(x, axis=0) * frame_s
            t = np.arange(y.shape[0], dtype=np.float64) - (y.shape[0] - 1) / 2.0
            out: FloatArray = y - y.mean(axis=0) - t[:, None] * ((t @ y) / float(t @ t))[None, :]
            return out

        pos = detrended(detrended(seg - seg.mean(axis=0)))
        travel = 1000.0 * float(np.sqrt(np.einsum("ij,ij->i", pos, pos)).max())
    return [ratio, math.log(travel + 0.1), math.log(float(inside.max()) + 1e-3)]


def test_the_features_are_the_first_formulas_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    for trial in range(400):
        n = int(rng.integers(2, 160))
        a = int(rng.integers(0, n - 1))
        b = int(rng.integers(a + 1, n + 1))
        cols = {k: rng.normal(0.0, 0.5, n) * rng.choice([0.0, 1.0, 30.0]) for k in ("ex", "ey", "lz")}
        if trial % 5 == 0:
            cols["ex"][rng.integers(0, n, 3)] = np.nan
        want = _reference_kinematic_features(cols, a, b, FRAME_S)
        got = kinematic_features(cols, a, b, FRAME_S)
        assert [x.hex() for x in got] == [x.hex() for x in want], (trial, got, want)
