"""The stroker's glide over windows around a found contact (issue 9, the helper's sensor)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coach.signal.strokes.direction import (
    STROKER_SHAPE_FEATURES,
    STROKER_SHAPE_WINDOWS,
    GlideAxis,
    SampleRing,
    stroker_shape_evidence,
)

if TYPE_CHECKING:
    from coach.signal.strokes.segments import FrameHistory


def _rings(t: np.ndarray, acc: np.ndarray, elevation_deg: float) -> tuple[SampleRing, SampleRing]:
    stroker, treated = SampleRing(), SampleRing()
    stroker.push(t, {"ax": acc[:, 0], "ay": acc[:, 1], "az": acc[:, 2]})
    treated.push(t, {"lx": np.zeros(t.size), "el": np.full(t.size, elevation_deg)})
    return stroker, treated


def _glide_acc(t: np.ndarray, t0: float, t1: float, vector_m: np.ndarray) -> np.ndarray:
    """The acceleration of a minimum-jerk glide by ``vector_m`` over ``[t0, t1)``."""
    dur = t1 - t0
    tau = np.clip((t - t0) / dur, 0.0, 1.0)
    k = (60.0 * tau - 180.0 * tau**2 + 120.0 * tau**3) / (dur * dur)
    k[(t < t0) | (t >= t1)] = 0.0
    out: np.ndarray = k[:, None] * vector_m[None, :]
    return out


def test_the_stroker_shape_evidence_reads_only_the_windows_around_the_contact() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 10.0, 0.01)
    t_a, t_b = 4.0, 5.2
    acc = rng.normal(0.0, 0.05, (t.size, 3))
    stroker, treated = _rings(t, acc, 25.0)
    axis = GlideAxis()
    x = stroker_shape_evidence(stroker, treated, t_a, t_b, axis)
    assert x.shape == (len(STROKER_SHAPE_FEATURES),) and np.isfinite(x).all()
    assert len(STROKER_SHAPE_FEATURES) == 4 * len(STROKER_SHAPE_WINDOWS)
    outside = (t >= t_b + 0.3) | (t < t_a - 0.3)  # the detector has samples to t_b + 0.3 s when it decides
    other, _ = _rings(t, np.where(outside[:, None], 3.0, acc), 25.0)
    assert np.array_equal(stroker_shape_evidence(other, treated, t_a, t_b, axis), x)


def test_a_glide_up_the_raised_forearm_reads_distal_in_the_windows_that_hold_it() -> None:
    """A distal glide on a raised forearm goes up (``vert`` > 0). Found 0.3 s late and 0.3 s short, the
    contact's own window holds only part of the glide; the widened window holds all of it."""
    t = np.arange(0.0, 10.0, 0.01)
    acc = _glide_acc(t, 4.0, 5.0, np.array([0.12, 0.05, 0.08]))
    stroker, treated = _rings(t, acc, 30.0)
    x = stroker_shape_evidence(stroker, treated, 4.0, 5.0, GlideAxis())
    vert = x[0::4]
    assert (vert > 0).all()  # every window of the true extent reads it right
    late = stroker_shape_evidence(stroker, treated, 4.3, 5.0, GlideAxis())
    wide = STROKER_SHAPE_WINDOWS.index((0.0, 1.0, 0.3, 0.3))
    assert late[4 * wide] > 0 and late[4 * wide + 3] > 0.05


def _history_with_stroker(rng: np.random.Generator, n: int, stroker_valid: np.ndarray) -> FrameHistory:
    """A frame history of ``n`` random treated and stroker frames (the stroker's valid where asked)."""
    from coach.signal.strokes.frames import Frames
    from coach.signal.strokes.segments import FrameHistory

    h = FrameHistory(0.1, 100.0)
    t_s = np.asarray(10.0 + 0.1 * np.arange(n), dtype=np.float64)
    h.add_stroker(Frames(0, t_s, stroker_valid, {"acc": rng.normal(size=(n, 3)), "gm": rng.normal(size=n)}))
    cols = {k: rng.normal(size=n) for k in ("hf", "lf", "el", "gm", "lz", "lx", "ex", "ey", "wx", "wy", "wz")}
    h.add_treated(Frames(0, t_s.copy(), np.ones(n, dtype=bool), cols))
    return h


def test_keep_treated_gives_each_candidate_the_larger_of_the_two_models_log_odds() -> None:
    from coach.signal.strokes.detector import DetectorModel
    from coach.signal.strokes.scoring import segment_logits
    from coach.signal.strokes.segments import segment_features
    from coach.signal.strokes.trained import read_model

    rng = np.random.default_rng(7)
    n = 500
    h = _history_with_stroker(rng, n, np.ones(n, dtype=bool))
    model = DetectorModel.from_dict(read_model()[0])
    assert model.with_stroker is not None
    batch = segment_features(h, np.arange(60, n - 3))
    assert batch.x_stroker is not None and batch.stroker_ok.any()
    args = (batch, model.treated, model.with_stroker, model.bias, model.bias_stroker)
    stroker_only = segment_logits(*args)
    treated_only = segment_logits(batch, model.treated, None, model.bias)
    both = segment_logits(*args, keep_treated=True)
    np.testing.assert_array_equal(both, np.maximum(stroker_only, treated_only))
    floored = segment_logits(*args, floor=0.0, keep_treated=True)
    np.testing.assert_array_equal(floored[both > 0.0], both[both > 0.0])


def test_the_treated_margin_lowers_only_the_treated_log_odds_where_the_stroker_is_valid() -> None:
    """With ``keep_treated``, ``treated_margin`` takes that much off the ``treated`` model's log-odds where
    the stroker's frames are valid (elsewhere the ``treated`` model decides alone, as before)."""
    from coach.signal.strokes.detector import DetectorModel
    from coach.signal.strokes.scoring import segment_logits
    from coach.signal.strokes.segments import segment_features
    from coach.signal.strokes.trained import read_model

    rng = np.random.default_rng(11)
    n = 500
    valid = np.ones(n, dtype=bool)
    valid[300:] = False  # the stroker's frames invalid late: the treated model alone there
    h = _history_with_stroker(rng, n, valid)
    model = DetectorModel.from_dict(read_model()[0])
    assert model.with_stroker is not None
    batch = segment_features(h, np.arange(60, n - 3))
    assert batch.x_stroker is not None and batch.stroker_ok.any() and (batch.ok & ~batch.stroker_ok).any()
    args = (batch, model.treated, model.with_stroker, model.bias, model.bias_stroker)
    stroker_only = segment_logits(*args)
    treated_only = segment_logits(batch, model.treated, None, model.bias)
    margin = 1.5
    got = segment_logits(*args, keep_treated=True, treated_margin=margin)
    s_ok = batch.stroker_ok & np.isfinite(stroker_only)
    want = np.where(s_ok, np.maximum(stroker_only, treated_only - margin), stroker_only)
    np.testing.assert_array_equal(got, want)
    assert (got[s_ok] < segment_logits(*args, keep_treated=True)[s_ok]).any()
    floored = segment_logits(*args, floor=0.0, keep_treated=True, treated_margin=margin)
    np.testing.assert_array_equal(floored[got > 0.0], got[got > 0.0])
