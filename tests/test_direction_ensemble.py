"""An ensemble of direction networks stored as one network gives their mean log-odds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.stroke_fit import merge_networks, train_mlp
from coach.signal.strokes.direction import direction_model_from_dict


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def test_merged_network_is_the_mean_log_odds() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 7))
    y = (x[:, 0] - 0.5 * x[:, 3] + 0.3 * rng.normal(size=400) > 0).astype(float)
    nets = [train_mlp(x, y, hidden=6, epochs=4, batch=64, seed=s) for s in (1, 2, 3)]
    merged = direction_model_from_dict(merge_networks(nets))
    singles = [direction_model_from_dict(n) for n in nets]
    assert merged.n_inputs == 7
    for row in np.vstack([x[:20], 50.0 * x[:3]]):  # beyond the clip box too
        mean = float(np.mean([_logit(m.p(row)) for m in singles]))
        assert _logit(merged.p(row)) == pytest.approx(mean, abs=1e-9)
    assert merge_networks(nets[:1])["w2"] == nets[0]["w2"]


def test_networks_of_different_rows_are_refused() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(100, 3)), (rng.random(100) > 0.5).astype(float)
    a = train_mlp(x, y, hidden=4, epochs=1, batch=32, seed=1)
    b = train_mlp(x[:50], y[:50], hidden=4, epochs=1, batch=32, seed=1)
    with pytest.raises(ValueError, match="different rows"):
        merge_networks([a, b])
