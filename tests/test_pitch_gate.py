"""The watch-alone direction's pitch range gate: a session whose pitch inputs leave the training range is
judged by the pitch-free network (coach/signal/strokes/pitch_gate.py, benchmarks/pitch_gate_fit.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.pitch_gate_fit import fit_pitch_gate, free_columns, largest_share, pitch_columns
from coach.signal.strokes.detector import DetectorModel
from coach.signal.strokes.direction import (
    TREATED_DIRECTION_FEATURES,
    TREATED_SHAPE_FEATURES,
    Logistic,
)
from coach.signal.strokes.pitch_gate import PitchGate, PitchRange
from coach.signal.strokes.trained import (
    DIRECTION_KEYS,
    ModelFileError,
    read_direction,
    read_model,
    write_direction,
)

N_IN = len(TREATED_DIRECTION_FEATURES) + len(TREATED_SHAPE_FEATURES)


def _gate(max_share: float = 0.5, min_contacts: int = 4) -> PitchGate:
    cols = np.array(pitch_columns(), dtype=np.int64)
    # the pitch-free network reads column 0 (drag_mm): distal when positive
    w = np.zeros(N_IN)
    w[0] = 10.0
    free = np.array(free_columns(), dtype=np.int64)
    return PitchGate(
        cols,
        np.full(cols.shape, -1.0),
        np.full(cols.shape, 1.0),
        max_share,
        min_contacts,
        Logistic(w, 0.0),
        free,
    )


def _pitch_net() -> Logistic:
    """A pitch network that reads only ``lever_deg``: distal when it is positive."""
    w = np.zeros(N_IN)
    w[TREATED_DIRECTION_FEATURES.index("lever_deg")] = 10.0
    return Logistic(w, 0.0)


def _x(drag: float, lever: float) -> np.ndarray:
    x = np.zeros(N_IN)
    x[0] = drag
    x[TREATED_DIRECTION_FEATURES.index("lever_deg")] = lever
    return x


def test_pitch_columns_are_the_lever_step_and_elevation_profiles() -> None:
    names = (*TREATED_DIRECTION_FEATURES, *TREATED_SHAPE_FEATURES)
    picked = [names[i] for i in pitch_columns()]
    assert "lever_deg" in picked and "step_asym_deg" in picked and "el_wide0" in picked
    assert not any(n.startswith(("drag", "disp")) for n in picked)
    zeroed = [names[i] for i in free_columns()]
    assert set(zeroed) == {*picked, "drag_dip"}  # the pitch-free network does not read the pitch dip either


def test_a_session_inside_the_range_keeps_the_pitch_network() -> None:
    state, pitch = PitchRange(_gate()), _pitch_net()
    for _ in range(10):  # lever 0.5 (in range) says distal, the drag says proximal
        assert state.p_distal(pitch, _x(-0.5, 0.5), learn=True) > 0.9
    assert not state.gated


def test_a_session_out_of_range_switches_to_the_pitch_free_network_after_min_contacts() -> None:
    state, pitch = PitchRange(_gate(max_share=0.5, min_contacts=4)), _pitch_net()
    got = [state.p_distal(pitch, _x(-0.5, 3.0), learn=True) for _ in range(6)]
    # the first three read the pitch (distal); from the fourth the share 1.0 > 0.5 gates: the drag decides
    assert all(p > 0.9 for p in got[:3]) and all(p < 0.1 for p in got[3:])
    assert state.gated


def test_vetoed_contacts_do_not_count_and_the_share_must_exceed_the_threshold() -> None:
    state, pitch = PitchRange(_gate(max_share=0.5, min_contacts=4)), _pitch_net()
    for _ in range(6):
        state.p_distal(pitch, _x(-0.5, 3.0), learn=False)
    assert (state.seen, state.gated) == (0, False)
    for lever in (3.0, 3.0, 0.0, 0.0):  # half out of range: not above 0.5
        state.p_distal(pitch, _x(-0.5, lever), learn=True)
    assert (state.seen, state.outside, state.gated) == (4, 2, False)
    state.p_distal(pitch, _x(-0.5, 3.0), learn=True)
    assert state.gated


def test_without_a_gate_the_pitch_network_decides() -> None:
    state = PitchRange(None)
    for _ in range(10):
        assert state.p_distal(_pitch_net(), _x(-0.5, 3.0), learn=True) > 0.9
    assert not state.gated


def test_largest_share_reads_each_session_from_its_min_contacts_th_contact() -> None:
    a = np.array([True, True, False, False, False, False])  # shares 1, 1, .67, .5, .4, .33
    b = np.array([False, False, False, True])
    assert largest_share([a, b], min_contacts=4) == pytest.approx(0.5)
    assert largest_share([a, b], min_contacts=1) == 1.0
    assert largest_share([b], min_contacts=5) == 0.0


def test_the_fitted_gate_never_fires_on_its_training_sessions() -> None:
    rng = np.random.default_rng(3)
    cols = pitch_columns()
    x = rng.normal(0.0, 1.0, (400, N_IN))
    y = (x[:, 0] > 0).astype(float)
    pitch = {
        "clip_lo": np.percentile(x, 0.1, axis=0).tolist(),
        "clip_hi": np.percentile(x, 99.9, axis=0).tolist(),
    }
    seen: list[np.ndarray] = []

    def fit(xf: np.ndarray, yf: np.ndarray) -> dict[str, object]:
        seen.append(xf)
        return {"w": [0.0] * N_IN, "b": 0.0}

    sessions = [x[i : i + 40] for i in range(0, 400, 40)]
    d, note = fit_pitch_gate(pitch, x, y, sessions, fit)
    # the pitch inputs and drag_dip at zero, the drag kept
    assert np.all(seen[0][:, free_columns()] == 0.0) and np.all(seen[0][:, 0] == x[:, 0])
    assert d["free_columns"] == free_columns() and d["columns"] == cols
    gate = PitchGate.from_dict(d)
    for s in sessions:
        state = PitchRange(gate)
        for row in s:
            state.p_distal(_pitch_net(), row, learn=True)
            assert not state.gated
    assert note["pitch_gate_sessions"] == 10
    out_of_range = np.zeros(N_IN)
    out_of_range[cols] = 50.0
    state = PitchRange(gate)
    for _ in range(gate.min_contacts):
        state.p_distal(_pitch_net(), out_of_range, learn=True)
    assert state.gated


def test_the_direction_file_takes_the_gate_as_its_one_optional_section(tmp_path: Path) -> None:
    params, _ = read_model()
    direction = {k: params[k] for k in DIRECTION_KEYS}
    gate = {
        "columns": pitch_columns(),
        "lo": [-1.0] * len(pitch_columns()),
        "hi": [1.0] * len(pitch_columns()),
        "max_share": 0.5,
        "min_contacts": 5,
        "free": params["direction_treated"],
    }
    path = tmp_path / "direction.json"
    write_direction(path, {**direction, "direction_pitch_gate": gate}, {"command": "test"})
    back = read_direction(path)
    assert back is not None and back[0]["direction_pitch_gate"] == gate
    model = DetectorModel.from_dict({**params, **back[0]})
    assert model.pitch_gate is not None and model.pitch_gate.max_share == 0.5
    # a gate without free_columns zeroes its pitch inputs only
    assert np.array_equal(model.pitch_gate.free_columns, model.pitch_gate.columns)
    assert DetectorModel.from_dict(params).pitch_gate is None
    with pytest.raises(ValueError):
        write_direction(path, {**direction, "pitch_gate": gate}, {})
    with pytest.raises(ModelFileError):
        path.write_text(path.read_text().replace('"direction_pitch_gate"', '"pitch_gate"'))
        read_direction(path)
