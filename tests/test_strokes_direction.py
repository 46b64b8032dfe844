"""Split strokes merged, the direction networks' own file, and the forearm direction figure (issue 9)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.scoring import Score, TrueStroke, Truth, score_session
from coach.signal.strokes.api import Stroke, StrokeContext
from coach.signal.strokes.detector import MERGE_GAP_S, StrokeDetector, default_model
from coach.signal.strokes.direction import (
    TREATED_DIRECTION_FEATURES,
    TREATED_SHAPE_FEATURES,
    SampleRing,
    finite,
    treated_direction_input,
    treated_evidence,
    treated_shape_evidence,
)
from coach.signal.strokes.segmenter import Segment
from coach.signal.strokes.trained import (
    DIRECTION_KEYS,
    ModelFileError,
    read_direction,
    read_model,
    write_direction,
)


def _detector(strokes: list[Stroke]) -> StrokeDetector:
    det = StrokeDetector(StrokeContext("left", ("treated",), {"treated": 100.0}, 0.0, "meta"))
    by_a = dict(enumerate(strokes))
    det._stroke = lambda seg: (by_a[seg.a], None)  # type: ignore[method-assign]  # no region input
    return det


def _s(t0: float, t1: float, p_distal: float) -> Stroke:
    return Stroke(
        t0, t1, "distal" if p_distal >= 0.6 else "proximal", 0.9, "treated", t1 + 0.4, None, p_distal
    )


def test_a_contact_right_after_a_stroke_the_same_way_is_that_stroke_going_on() -> None:
    strokes = [
        _s(10.0, 10.8, 0.1),
        _s(10.9, 11.6, 0.2),  # 0.1 s later, proximal too: a re-grip, not a new stroke
        _s(11.7, 12.2, 0.3),  # and again: still the same stroke (the gap counts from the last part)
        _s(12.3, 13.0, 0.9),  # 0.1 s later but distal: a stroke the other way (a pressed return)
        _s(13.0 + MERGE_GAP_S + 0.05, 14.0, 0.9),  # distal again, after a lift: a new stroke
    ]
    det = _detector(strokes)
    out = det._reported([Segment(i, i + 1, 1.0, i + 2) for i in range(len(strokes))])
    assert [s.t_start_s for s in out] == [10.0, 12.3, strokes[4].t_start_s]
    assert det.merged == 2


def test_merging_carries_across_calls() -> None:
    strokes = [_s(5.0, 6.0, 0.8), _s(6.1, 7.0, 0.95)]
    det = _detector(strokes)
    assert len(det._reported([Segment(0, 1, 1.0, 2)])) == 1
    assert det._reported([Segment(1, 2, 1.0, 3)]) == []


def test_the_direction_file_round_trips_and_replaces_the_model_files_direction(tmp_path: Path) -> None:
    params, _ = read_model()
    direction = {k: params[k] for k in DIRECTION_KEYS}
    path = tmp_path / "direction.json"
    write_direction(path, direction, {"command": "test"})
    back = read_direction(path)
    assert back is not None and back[0] == direction
    with pytest.raises(ValueError):
        write_direction(path, {**direction, "bias": 1.0}, {})
    doc = json.loads(path.read_text())
    doc["parameters"]["bias"] = 1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError):
        read_direction(path)
    shipped = read_direction()
    if shipped is not None:  # the default detector uses the shipped direction networks
        x = np.linspace(-1.0, 1.0, len(shipped[0]["direction_treated"]["w1"]))
        from coach.signal.strokes.direction import direction_model_from_dict

        assert default_model().direction_treated.p(x) == direction_model_from_dict(
            shipped[0]["direction_treated"]
        ).p(x)


def test_forearm_direction_pools_forearm_strokes_and_unlabelled_ones() -> None:
    def session(region: str | None, called: list[str]) -> Score:
        true = tuple(TrueStroke(2.0 * i, 2.0 * i + 1.0, "proximal", region) for i in range(len(called)))
        events = [
            {"type": "stroke", "t": 2.0 * i + 1.2, "t_start": 2.0 * i, "t_end": 2.0 * i + 1.0, "direction": d}
            for i, d in enumerate(called)
        ]
        return score_session(events, Truth(true, None, 0.0, 100.0))

    labelled = session("forearm", ["proximal", "distal"])  # 1 of 2 right
    finger = session("finger", ["distal"] * 5)  # not the forearm: left out
    plain = session(None, ["proximal"] * 3)  # no region labels: forearm strokes, 3 of 3
    total = Score.pooled([labelled, finger, plain])
    assert total.forearm_direction_accuracy == pytest.approx(4 / 5)
    assert finger.forearm_direction_accuracy != finger.forearm_direction_accuracy  # NaN: none


def _ring(pos_mm: np.ndarray, t: np.ndarray, el: np.ndarray) -> SampleRing:
    """A ``treated`` ring whose forearm moves along its axis by ``pos_mm`` (lx is its second derivative)."""
    dt = float(t[1] - t[0])
    lx = np.gradient(np.gradient(pos_mm / 1000.0, dt), dt)
    ring = SampleRing()
    ring.push(t, {"lx": lx, "el": el})
    return ring


def test_the_shape_evidence_reads_nothing_the_detector_does_not_have_when_it_decides() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 10.0, 0.01)
    t_a, t_b = 4.0, 5.5
    lx, el = rng.normal(0.0, 0.05, t.size), 20.0 + rng.normal(0.0, 0.3, t.size)
    ring = SampleRing()
    ring.push(t, {"lx": lx, "el": el})
    x = treated_shape_evidence(ring, t_a, t_b)
    assert x.shape == (len(TREATED_SHAPE_FEATURES),) and np.isfinite(x).all()
    later = t >= t_b + 0.3  # the detector decides once it has samples to t_b + 0.3 s (and a little more)
    earlier = t < t_a - 1.0
    other = SampleRing()
    other.push(t, {"lx": np.where(later | earlier, 5.0, lx), "el": np.where(later | earlier, -40.0, el)})
    assert np.array_equal(treated_shape_evidence(other, t_a, t_b), x)
    inside = SampleRing()
    inside.push(t, {"lx": np.where(np.abs(t - 4.7) < 0.05, 5.0, lx), "el": el})
    assert not np.array_equal(treated_shape_evidence(inside, t_a, t_b), x)


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize(
    ("name", "shape_inputs"),
    [
        ("direction-shape-candidate-2026-12-07.json", len(TREATED_SHAPE_FEATURES) - 1),  # before the duration
        ("direction-watch-candidate-2026-12-07.json", len(TREATED_SHAPE_FEATURES)),
    ],
)
def test_a_treated_network_with_the_shape_inputs_follows_the_drag(
    sign: float, name: str, shape_inputs: int
) -> None:
    """A clean drag of 1.5 mm along the glide (distal: toward the fingers) under a pitch dip that tells
    nothing (symmetric): the shape network must call the way the limb was dragged."""
    path = Path(__file__).resolve().parents[1] / "benchmarks/data/models" / name
    params = read_direction(path)
    assert params is not None
    from coach.signal.strokes.direction import direction_model_from_dict

    net = direction_model_from_dict(params[0]["direction_treated"])
    assert net.n_inputs == len(TREATED_DIRECTION_FEATURES) + shape_inputs
    t = np.arange(0.0, 8.0, 0.01)
    t_a, t_b = 3.0, 4.5
    u = np.clip((t - t_a) / 0.25, 0.0, 1.0) * np.clip((t_b - t) / 0.25, 0.0, 1.0)
    bump = u * u * (3.0 - 2.0 * u)  # smooth on, hold, smooth off
    ring = _ring(sign * 1.5 * bump, t, 25.0 - 0.8 * bump)
    x = treated_direction_input(
        finite(treated_evidence(ring, t_a, t_b)), finite(treated_shape_evidence(ring, t_a, t_b)), net.n_inputs
    )
    p = net.p(x)
    assert (p >= 0.6) if sign > 0 else (p <= 0.4), p


def test_a_treated_network_reads_the_shape_evidence_it_was_trained_with() -> None:
    """The shape evidence only grows at its end: a network trained before ``found_duration_s`` reads the
    first part, a six-input network the six numbers alone."""
    x_t, x_shape = np.arange(6.0), 10.0 + np.arange(float(len(TREATED_SHAPE_FEATURES)))
    assert TREATED_SHAPE_FEATURES[-1] == "found_duration_s"
    assert np.array_equal(treated_direction_input(x_t, x_shape, 6), x_t)
    assert np.array_equal(treated_direction_input(x_t, None, 62), x_t)
    older = treated_direction_input(x_t, x_shape, 6 + len(TREATED_SHAPE_FEATURES) - 1)
    assert np.array_equal(older, np.concatenate((x_t, x_shape[:-1])))
    full = treated_direction_input(x_t, x_shape, 6 + len(TREATED_SHAPE_FEATURES))
    assert np.array_equal(full, np.concatenate((x_t, x_shape)))
