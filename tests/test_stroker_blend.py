"""The stroker blend (benchmarks.stroker_blend): one network whose log-odds are the weighted sum."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmarks.stroke_fit import train_mlp
from benchmarks.stroker_blend import blend_networks
from coach.signal.strokes.mlp import Mlp


def _net(seed: int, shift: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0 + seed, size=(400, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > shift).astype(np.float64)
    return train_mlp(x, y, hidden=4, epochs=3, seed=seed)


def test_blend_is_the_weighted_sum_inside_both_boxes() -> None:
    a, b = _net(0, 0.0), _net(1, 0.3)
    blend = Mlp.from_dict(blend_networks([a, b], [0.75, 0.25]))
    lo = np.maximum(np.asarray(a["clip_lo"]), np.asarray(b["clip_lo"]))
    hi = np.minimum(np.asarray(a["clip_hi"]), np.asarray(b["clip_hi"]))
    x = np.random.default_rng(2).uniform(lo, hi, size=(50, 3))
    want = 0.75 * Mlp.from_dict(a).logit(x) + 0.25 * Mlp.from_dict(b).logit(x)
    np.testing.assert_allclose(blend.logit(x), want, rtol=1e-9, atol=1e-9)
    # outside the tighter box the blend clips (each network alone would extrapolate a little further)
    far = np.full((1, 3), 1e3)
    np.testing.assert_allclose(blend.logit(far), blend.logit(hi[None, :]))


def test_weight_one_is_the_network_itself() -> None:
    a = _net(0, 0.0)
    x = np.random.default_rng(3).uniform(np.asarray(a["clip_lo"]), np.asarray(a["clip_hi"]), size=(20, 3))
    got = Mlp.from_dict(blend_networks([a, a], [1.0, 0.0])).logit(x)
    np.testing.assert_allclose(got, Mlp.from_dict(a).logit(x), rtol=1e-9, atol=1e-9)


def test_boxes_that_do_not_meet_are_refused() -> None:
    a, b = _net(0, 0.0), _net(1, 0.0)
    b = {**b, "clip_lo": [v + 1e3 for v in b["clip_lo"]], "clip_hi": [v + 1e3 for v in b["clip_hi"]]}
    with pytest.raises(ValueError, match="do not meet"):
        blend_networks([a, b], [0.5, 0.5])
