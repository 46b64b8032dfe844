"""The stroke evidence's per-frame derived signals (coach.signal.strokes.derived): worked out as frames
arrive, in Python floats for a live step's few rows, they are the numbers the array way gives over the
whole history, bit for bit, whatever the steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from coach.signal.strokes.derived import _derived, _derived_small, derived_rows
from coach.signal.strokes.frames import Frames
from coach.signal.strokes.segments import FrameHistory

NAMES = ("hf", "lf", "el", "gm", "lz", "lx", "ex", "ey", "wx", "wy", "wz")


def _columns(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    cols = {k: rng.normal(size=n) * 10.0 ** rng.integers(-6, 4, size=n) for k in NAMES}
    cols["hfr"] = rng.normal(size=n)
    for v in cols.values():
        v[rng.integers(0, n, size=n // 20)] = -0.0
    valid = rng.random(n) > 0.1
    return cols, valid


@pytest.mark.parametrize("seed", range(6))
def test_python_floats_give_the_array_way_bit_for_bit(seed: int) -> None:
    cols, valid = _columns(60, seed)
    whole = _derived(cols, valid, 0.1, 0, 60)
    for r0 in (0, 1, 3, 7, 20, 56, 57, 58, 59):
        small = _derived_small(cols, valid, 0.1, r0)
        for name, v in whole.items():
            assert small[name].tobytes() == v[r0:].tobytes(), (name, r0)


def test_a_history_fed_frame_by_frame_derives_what_it_derives_at_once() -> None:
    n = 300
    rng = np.random.default_rng(3)
    cols = {k: rng.normal(size=n) for k in NAMES}
    valid = np.ones(n, dtype=bool)
    valid[100:104] = False
    t_s = 10.0 + 0.1 * np.arange(n, dtype=np.float64)

    def frames(a: int, b: int) -> Frames:
        return Frames(a, t_s[a:b].copy(), valid[a:b].copy(), {k: v[a:b].copy() for k, v in cols.items()})

    at_once = FrameHistory(0.1, 100.0, keep_all=True)
    at_once.add_treated(frames(0, n))
    stepped = FrameHistory(0.1, 100.0, keep_all=True)
    cuts = [0, 1, 2, 5, 6, 7, 30, 31, 150, 151, 152, 299, n]
    for a, b in itertools.pairwise(cuts):
        stepped.add_treated(frames(a, b))
    assert at_once.der.keys() == stepped.der.keys()
    for name, v in at_once.der.items():
        assert v.tobytes() == stepped.der[name].tobytes(), name
    # and each row is what the array way gives over the whole history
    ref = derived_rows(at_once.cols, at_once.valid, 0.1, 0)
    for name, v in ref.items():
        assert v.tobytes() == stepped.der[name].tobytes(), name


def test_a_changed_neighbour_changes_the_value() -> None:
    cols, valid = _columns(40, 9)
    valid[:] = True
    before = _derived_small(cols, valid, 0.1, 30)["turn_deg"]
    cols["wz"][30 + 2] += 1.0  # two frames ahead is read...
    assert _derived_small(cols, valid, 0.1, 30)["turn_deg"][0] != before[0]
    cols["wz"][30 + 3] += 1.0  # ...three is not
    assert (
        _derived_small(cols, valid, 0.1, 30)["turn_deg"][0]
        == _derived(cols, valid, 0.1, 0, 40)["turn_deg"][30]
    )
