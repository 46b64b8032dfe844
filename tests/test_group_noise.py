"""Group noise in ``train_mlp``: off, the fit is unchanged; on, the network leans less on the group."""

from __future__ import annotations

import numpy as np

from benchmarks.direction_training import elevation_columns
from benchmarks.stroke_fit import train_mlp
from coach.signal.strokes.direction import TREATED_DIRECTION_FEATURES, TREATED_SHAPE_FEATURES
from coach.signal.strokes.mlp import Mlp


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Column 0 tells the label cleanly, column 1 through noise, column 2 nothing."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) > 0.5).astype(float)
    s = 2.0 * y - 1.0
    x = np.column_stack((s + 0.2 * rng.normal(size=n), s + 1.0 * rng.normal(size=n), rng.normal(size=n)))
    return x, y


def test_without_noise_the_fit_is_unchanged() -> None:
    x, y = _rows(300, 0)
    plain = train_mlp(x, y, hidden=5, epochs=3, batch=64, seed=2)
    assert train_mlp(x, y, hidden=5, epochs=3, batch=64, seed=2, group=[0], group_noise=0.0) == plain
    assert train_mlp(x, y, hidden=5, epochs=3, batch=64, seed=2, group=[0], group_noise=1.0) != plain


def test_noise_on_a_group_moves_the_network_to_the_other_evidence() -> None:
    x, y = _rows(2000, 1)
    plain = Mlp.from_dict(train_mlp(x, y, hidden=8, epochs=30, batch=128, seed=1))
    noisy = Mlp.from_dict(train_mlp(x, y, hidden=8, epochs=30, batch=128, seed=1, group=[0], group_noise=3.0))
    # column 0 says one way, column 1 the other, as strongly
    conflict = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]])
    follows_col0_plain = np.sign(plain.logit(conflict)) == np.array([1.0, -1.0])
    follows_col1_noisy = np.sign(noisy.logit(conflict)) == np.array([-1.0, 1.0])
    assert follows_col0_plain.all()
    assert follows_col1_noisy.all()


def test_elevation_columns_are_the_elevation_profiles() -> None:
    names = (*TREATED_DIRECTION_FEATURES, *TREATED_SHAPE_FEATURES)
    cols = elevation_columns()
    assert {names[c] for c in cols} == {n for n in names if n.startswith("el_")}
    assert len(cols) == 19
