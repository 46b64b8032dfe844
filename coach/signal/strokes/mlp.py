"""The one small network of the detector, and the one clipped sigmoid.

:class:`Mlp` scores candidate contacts (:mod:`coach.signal.strokes.segments`) and gives the direction
of a committed one (:mod:`coach.signal.strokes.direction`); :func:`sigmoid` turns a log-odds into a
probability wherever the detector needs one. Parameters come from ``model.json``
(:mod:`coach.signal.strokes.trained`).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from coach.samples import FloatArray

#: Log-odds are clipped to ±this before the exponential (no overflow; 40 is already certainty).
LOGIT_CLIP: Final = 40.0


def sigmoid(z: float) -> float:
    """1 / (1 + e^(−z)) with ``z`` clipped to ±:data:`LOGIT_CLIP`."""
    return 1.0 / (1.0 + math.exp(-max(-LOGIT_CLIP, min(LOGIT_CLIP, z))))


class Mlp:
    """One hidden layer (ReLU) → log-odds. The input standardisation (``mean``/``scale``) is folded
    into the first layer. ``einsum`` rather than BLAS: every row is summed in the same order whatever
    the batch, so a candidate's log-odds do not depend on the span it was decided in."""

    __slots__ = ("b1", "b2", "hi", "lo", "w1", "w2")

    def __init__(
        self,
        mean: FloatArray,
        scale: FloatArray,
        w1: FloatArray,
        b1: FloatArray,
        w2: FloatArray,
        b2: float,
        clip: tuple[FloatArray, FloatArray] | None = None,
    ) -> None:
        # Inputs are clipped to the range seen in training (0.1-99.9 %): a ReLU network extrapolates
        # linearly, so evidence far outside what it learned from (a hand waving a sensor around) must
        # not produce arbitrarily confident answers.
        self.lo: FloatArray
        self.hi: FloatArray
        self.lo, self.hi = (
            clip if clip is not None else (np.full(mean.shape, -np.inf), np.full(mean.shape, np.inf))
        )
        self.w1 = w1 / scale[:, None]
        self.b1 = b1 - (mean / scale) @ w1
        self.w2 = w2
        self.b2 = float(b2)

    def logit(self, x: FloatArray) -> FloatArray:
        x = np.clip(x, self.lo, self.hi)
        hidden = np.maximum(np.einsum("nk,kh->nh", x, self.w1) + self.b1, 0.0)
        out: FloatArray = np.einsum("nh,h->n", hidden, self.w2) + self.b2
        return out

    @staticmethod
    def from_dict(d: dict[str, object]) -> Mlp:
        def arr(key: str) -> FloatArray:
            return np.asarray(d[key], dtype=np.float64)

        clip = (arr("clip_lo"), arr("clip_hi")) if "clip_lo" in d else None
        return Mlp(arr("mean"), arr("scale"), arr("w1"), arr("b1"), arr("w2"), float(d["b2"]), clip)  # type: ignore[arg-type]
