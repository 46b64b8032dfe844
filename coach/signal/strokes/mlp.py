"""The one small network of the detector, and the one clipped sigmoid.

:class:`Mlp` scores candidate contacts (:mod:`coach.signal.strokes.segments`) and gives the direction
of a committed one (:mod:`coach.signal.strokes.direction`); :func:`sigmoid` turns a log-odds into a
probability wherever the detector needs one. Parameters come from ``model.json``
(:mod:`coach.signal.strokes.trained`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray

BoolArray = npt.NDArray[np.bool_]

#: Log-odds are clipped to ±this before the exponential (no overflow; 40 is already certainty).
LOGIT_CLIP: Final = 40.0


def sigmoid(z: float) -> float:
    """1 / (1 + e^(−z)) with ``z`` clipped to ±:data:`LOGIT_CLIP`."""
    return 1.0 / (1.0 + math.exp(-max(-LOGIT_CLIP, min(LOGIT_CLIP, z))))


#: Inputs per matrix product in :meth:`Mlp.may_exceed_t`: few enough that OpenBLAS stays on one
#: thread (it spreads a product over threads above 65,536·4 multiply-adds, which costs more CPU than
#: it saves here), many enough that the Python loop is cheap.
_SCREEN_COLS: Final = 512


def _rounding_bound(
    lo: FloatArray, hi: FloatArray, w1: FloatArray, b1: FloatArray, w2: FloatArray, b2: float
) -> float:
    """A bound on how far two float64 evaluations of the network (any summation order) can differ,
    for any input inside the clip box ``[lo, hi]``, plus adding one number to the result (the prior).

    Each hidden unit's sum of ``K`` products and its bias is within ``γ(K+2)·S_h`` of the real value,
    ``S_h = Σ_k max(|lo_k|, |hi_k|)·|w1_kh| + |b1_h|`` (Higham, Accuracy and Stability of Numerical
    Algorithms, §3.1; ``γ(n) = n·u / (1 − n·u)``); the ReLU is 1-Lipschitz and ``|hidden_h| <= S_h``;
    the output sum of ``H`` products and its bias adds ``γ(H+2)·(Σ_h |w2_h|·S_h + |b2|)``. Both evaluations
    carry such an error, so their difference is within twice that; a factor 4 (and the prior's own
    rounding) on top. Infinite without a finite clip box: the screen then keeps every row.
    """
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return math.inf
    u = 2.0**-53

    def gamma(n: int) -> float:
        return n * u / (1.0 - n * u)

    k, h = w1.shape
    s_h = np.maximum(np.abs(lo), np.abs(hi)) @ np.abs(w1) + np.abs(b1)
    out_mag = float(np.abs(w2) @ s_h) + abs(b2)
    err = gamma(k + 2) * float(np.abs(w2) @ s_h) + gamma(h + 2) * out_mag
    return 4.0 * (2.0 * err + u * out_mag) + 1e-9


#: Beyond this magnitude of a clip bound or of the network's sums, the float32 screen is not used (its
#: inputs or sums could overflow float32): the float64 screen is.
_FLOAT32_SAFE: Final = 1e30


def _float32_bound(
    lo: FloatArray, hi: FloatArray, w1: FloatArray, b1: FloatArray, w2: FloatArray, b2: float
) -> float:
    """A bound on how far the network evaluated in float32 (inputs, weights and biases rounded to
    float32, sums in any order, FMA or not) can be from its real value, for any input inside the clip
    box ``[lo, hi]`` (infinite where float32 could overflow: the float64 screen is used then).

    Rounding to float32 is monotone, so clipping the rounded input with the rounded bounds is the
    rounded clipped input: each input and weight is within a factor ``1 + u`` of its float64 value
    (``u = 2**-24``), plus at most 2**-150 where it is tiny (gradual underflow). Each hidden unit's K
    products and its bias, summed in float32, are then within ``γ(K+3)·S_h`` of the real sum
    (``S_h = Σ_k max(|lo_k|, |hi_k|)·|w1_kh| + |b1_h|``; Higham §3.1, the two rounded factors of each
    product add two to the count); the ReLU is 1-Lipschitz; the output's H products and its bias add
    ``γ(H+2)`` of ``Σ_h |w2_h|·(S_h + e_h) + |b2|`` (``e_h`` the hidden unit's bound; the rounded ``w2``
    carries it ``1 + u`` times). Underflow (even flushed to zero) changes a
    number by less than 2**-126: counted generously as 2**-125 per input, weight, product and sum,
    times the largest weight it can meet."""
    bounds = np.maximum(np.abs(lo), np.abs(hi))
    if not np.all(np.isfinite(bounds)) or float(bounds.max(initial=0.0)) > _FLOAT32_SAFE:
        return math.inf
    u = 2.0**-24

    def gamma(n: int) -> float:
        return n * u / (1.0 - n * u)

    k, h = w1.shape
    a_w1, a_w2 = np.abs(w1), np.abs(w2)
    s_h = bounds @ a_w1 + np.abs(b1)
    if float(s_h.max(initial=0.0)) > _FLOAT32_SAFE or float(a_w2 @ s_h) + abs(b2) > _FLOAT32_SAFE:
        return math.inf
    tiny = 2.0**-125
    e_h = gamma(k + 3) * s_h + (3 * k + 2) * tiny * (1.0 + a_w1.max(axis=0) + bounds.max(initial=0.0))
    hidden_mag = float(a_w2 @ (s_h + e_h))
    w2_max = float(a_w2.max(initial=0.0))
    out = (1.0 + u) * float(a_w2 @ e_h) + gamma(h + 2) * (hidden_mag + abs(b2))
    return float(out + (3 * h + 2) * tiny * (1.0 + w2_max))


class Mlp:
    """One hidden layer (ReLU) → log-odds. The input standardisation (``mean``/``scale``) is folded
    into the first layer. ``einsum`` rather than BLAS: every row is summed in the same order whatever
    the batch, so a candidate's log-odds do not depend on the span it was decided in."""

    __slots__ = (
        "_clip_by_max_min",
        "_screen32",
        "_screen_err",
        "_w1t",
        "b1",
        "b2",
        "hi",
        "lo",
        "w1",
        "w2",
    )

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
        self._w1t = np.ascontiguousarray(self.w1.T)
        self._screen_err = _rounding_bound(self.lo, self.hi, self.w1, self.b1, self.w2, self.b2)
        # The screen in float32 (about half the memory traffic and twice the BLAS speed): its distance
        # to the real value is added to the float64 network's (the exact :meth:`logit`) in its bound.
        err32 = _float32_bound(self.lo, self.hi, self.w1, self.b1, self.w2, self.b2)
        self._screen32: tuple[npt.NDArray[Any], ...] | None = None
        if math.isfinite(err32) and math.isfinite(self._screen_err):
            self._screen_err += 4.0 * err32
            f32 = np.float32
            self._screen32 = (
                np.ascontiguousarray(self._w1t, dtype=f32),
                self.w2.astype(f32),
                self.b1.astype(f32)[:, None],
                self.lo.astype(f32)[:, None],
                self.hi.astype(f32)[:, None],
                np.array(self.b2, dtype=f32),
            )
        # np.clip(x, lo, hi) is min(max(x, lo), hi); np.maximum/np.minimum give the same bits except
        # for the sign of a zero equal to a zero bound, so without a zero bound they stand in for it
        # (np.clip's Python-level dispatch is most of a single row's cost: per contact, several rows).
        self._clip_by_max_min = not (bool((self.lo == 0.0).any()) or bool((self.hi == 0.0).any()))

    def logit(self, x: FloatArray) -> FloatArray:
        if self._clip_by_max_min:
            x = np.minimum(np.maximum(x, self.lo), self.hi)
        else:
            x = np.clip(x, self.lo, self.hi)
        hidden = np.maximum(np.einsum("nk,kh->nh", x, self.w1) + self.b1, 0.0)
        out: FloatArray = np.einsum("nh,h->n", hidden, self.w2) + self.b2
        return out

    def may_exceed(self, x: FloatArray, floor: float) -> BoolArray:
        """Per row of ``x`` (n, k): ``False`` only where :meth:`logit` is certainly ``<= floor``
        (:meth:`may_exceed_t` on the transpose)."""
        return self.may_exceed_t(np.ascontiguousarray(np.asarray(x, dtype=np.float64).T), floor)

    def may_exceed_t(self, xt: FloatArray | Sequence[FloatArray], floor: float) -> BoolArray:
        """Per column of ``xt`` (k, n; the inputs feature-major, or a sequence of such parts whose rows
        stack to k, read without stacking them): ``False`` only where :meth:`logit` of that input is
        certainly ``<= floor``.

        A cheap screen before :meth:`logit`: the same network through BLAS matrix products (summed in
        any order, so not bit for bit :meth:`logit`), keeping every input whose result is within a
        proven bound on the rounding difference of the two (:func:`_rounding_bound`) of ``floor`` or
        above. So the inputs it drops are exactly ones the exact network could never put above
        ``floor``.
        """
        parts = [xt] if isinstance(xt, np.ndarray) else list(xt)
        rows = np.cumsum([0] + [p.shape[0] for p in parts]).tolist()
        k, n = rows[-1], parts[0].shape[1]
        if self._screen32 is not None:
            # float32: the input rounded, then clipped with the rounded bounds (the same as rounding
            # the clipped input: rounding is monotone); the bound counts both networks' rounding.
            w1t, w2, b1, lo, hi, b2 = self._screen32
            dtype: type[np.floating[Any]] = np.float32
        else:
            w1t, w2 = self._w1t, self.w2
            lo, hi, b1, b2 = self.lo[:, None], self.hi[:, None], self.b1[:, None], np.array(self.b2)
            dtype = np.float64
        fast = np.empty(n, dtype=dtype)
        # In blocks that stay in the cache (no large temporaries) and on one BLAS thread.
        xc, z = np.empty((k, _SCREEN_COLS), dtype=dtype), np.empty((w1t.shape[0], _SCREEN_COLS), dtype=dtype)
        for i in range(0, n, _SCREEN_COLS):
            m = min(n - i, _SCREEN_COLS)
            xcb, zb = (xc, z) if m == _SCREEN_COLS else (xc[:, :m], z[:, :m])
            for part, r0, r1 in zip(parts, rows[:-1], rows[1:], strict=True):
                xcb[r0:r1] = part[:, i : i + m]
            np.maximum(xcb, lo, out=xcb)
            np.minimum(xcb, hi, out=xcb)
            np.matmul(w1t, xcb, out=zb)
            zb += b1
            np.maximum(zb, 0.0, out=zb)
            np.matmul(w2, zb, out=fast[i : i + m])
        fast += b2
        keep: BoolArray = ~(fast <= floor - self._screen_err)  # NaN is kept (and decided by logit)
        return keep

    @staticmethod
    def from_dict(d: dict[str, object]) -> Mlp:
        def arr(key: str) -> FloatArray:
            return np.asarray(d[key], dtype=np.float64)

        clip = (arr("clip_lo"), arr("clip_hi")) if "clip_lo" in d else None
        return Mlp(arr("mean"), arr("scale"), arr("w1"), arr("b1"), arr("w2"), float(d["b2"]), clip)  # type: ignore[arg-type]
