"""Stroke evidence, per frame: signals derived from a frame's neighbours (the pitch step, the vertical
push, the smoothed vibration, how far the limb moved and turned over a second), kept with the frame
history (:attr:`coach.signal.strokes.segments.FrameHistory.der`) as frames arrive, so a live step works
out its one new frame instead of every frame of a candidate's window again."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray

BoolArray = npt.NDArray[np.bool_]
Cols = Mapping[str, FloatArray]


def derived_rows(cols: Cols, valid: BoolArray, frame_s: float, r0: int) -> dict[str, FloatArray]:
    """The derived signals of history rows ``r0`` to the end (``cols``, ``valid``: the frame history's
    columns and validity), neighbours past either end of the history 0.0. A row's value reads rows up
    to two ahead: worked out again when they come."""
    n = int(valid.shape[0])
    if n - r0 <= _SMALL_DERIVE:
        return _derived_small(cols, valid, frame_s, r0)
    a = max(r0 - _BACK, 0)
    return {k: v[r0 - a :] for k, v in _derived(cols, valid, frame_s, a, n).items()}


#: Frames before and after a frame that its derived signals read (:func:`_derived`).
_BACK: Final = 7
_AHEAD: Final = 2
#: Up to this many rows, :attr:`FrameHistory.der` is worked out in Python floats (a live step's one
#: new frame and the two before it: numpy's cost per call is most of the work there).
_SMALL_DERIVE: Final = 4
_DERIVED: Final = ("el_step", "dz", "hf5", "excursion_mm", "turn_deg")


def _derived(cols: Cols, valid: BoolArray, frame_s: float, a: int, b: int) -> dict[str, FloatArray]:
    """Per-frame signals derived from a few neighbouring frames (``f - 7`` … ``f + 2``), for history
    rows ``[a, b)``, 0.0 for neighbours outside them (and where a frame is not valid).

    Each value is an explicit sum of the same neighbours in the same order, so it does not depend on
    which rows were asked for, as long as its neighbours are inside them.
    """
    c = cols
    ok = valid[a:b]

    def col(name: str) -> FloatArray:
        return np.where(ok, c[name][a:b], 0.0)

    fs = frame_s
    el, lz, hfr = col("el"), col("lz"), col("hfr")
    se, sz, sh = _shifts(el), _shifts(lz), _shifts(hfr)
    el_step = 0.5 * (se(1) + se(2)) - 0.5 * (se(-2) + se(-1))
    dz = (2.0 * sz(-2) + sz(-1) - sz(1) - 2.0 * sz(2)) * (fs * fs)
    hf5 = (sh(-2) + sh(-1) + hfr + sh(1) + sh(2)) / 5.0
    # How far the limb moves and turns over the second ending two frames ahead of each frame: the
    # displacement with the limb at rest at both ends of the window (a zero-mean ramp), and the angle.
    disp2 = np.zeros(b - a)
    for name in ("ex", "ey", "lz"):
        sa = _shifts(col(name))
        dk = np.zeros(b - a)
        for i in range(10):  # frames f-7 ... f+2, weights 4.5 ... -4.5
            dk += (4.5 - i) * sa(i - 7)
        disp2 += (dk * fs * fs) ** 2
    turn2 = np.zeros(b - a)
    for name in ("wx", "wy", "wz"):
        so = _shifts(col(name))
        tk = np.zeros(b - a)
        for i in range(10):
            tk += so(i - 7)
        turn2 += (tk * fs) ** 2
    return {
        "el_step": el_step,
        "dz": dz,
        "hf5": hf5,
        "excursion_mm": np.sqrt(disp2) * 1000.0,
        "turn_deg": np.degrees(np.sqrt(turn2)),
    }


def _derived_small(cols: Cols, valid: BoolArray, frame_s: float, r0: int) -> dict[str, FloatArray]:
    """:func:`_derived` of rows ``r0`` to the end, neighbours outside the history 0.0, in Python
    floats: the same IEEE operations in the same order (``x ** 2`` as ``x * x``, as numpy squares;
    ``np.degrees`` as ``math.degrees``, both one multiplication by 180/π;
    tests/test_strokes_derived.py holds the two ways to each other bit for bit)."""
    n = int(valid.shape[0])
    lo, hi = max(r0 - _BACK, 0), n  # rows read (neighbours past the end are 0.0)
    pad_lo = r0 - _BACK - lo  # negative when the history starts less than _BACK rows before r0
    ok = valid[lo:hi].tolist()
    fs = frame_s
    fs2 = fs * fs

    def col(name: str) -> list[float]:
        vals = [v if k else 0.0 for v, k in zip(cols[name][lo:hi].tolist(), ok, strict=True)]
        # index i of the list is row r0 - _BACK + i
        return [0.0] * (-pad_lo) + vals + [0.0] * _AHEAD

    rows = {name: col(name) for name in ("el", "lz", "hfr", "ex", "ey", "wx", "wy", "wz")}
    el, lz, hfr = rows["el"], rows["lz"], rows["hfr"]
    out: dict[str, list[float]] = {k: [] for k in _DERIVED}
    for r in range(r0, n):
        i = r - r0 + _BACK  # row r in the lists
        out["el_step"].append(0.5 * (el[i + 1] + el[i + 2]) - 0.5 * (el[i - 2] + el[i - 1]))
        out["dz"].append((2.0 * lz[i - 2] + lz[i - 1] - lz[i + 1] - 2.0 * lz[i + 2]) * fs2)
        out["hf5"].append((hfr[i - 2] + hfr[i - 1] + hfr[i] + hfr[i + 1] + hfr[i + 2]) / 5.0)
        disp2 = 0.0
        for name in ("ex", "ey", "lz"):
            x = rows[name]
            dk = 0.0
            for k in range(10):
                dk += (4.5 - k) * x[i + k - 7]
            v = dk * fs * fs
            disp2 += v * v
        turn2 = 0.0
        for name in ("wx", "wy", "wz"):
            x = rows[name]
            tk = 0.0
            for k in range(10):
                tk += x[i + k - 7]
            v = tk * fs
            turn2 += v * v
        out["excursion_mm"].append(math.sqrt(disp2) * 1000.0)
        out["turn_deg"].append(math.degrees(math.sqrt(turn2)))
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


def _shifts(x: FloatArray, pad: int = 8) -> Callable[[int], FloatArray]:
    """``k ↦ x[f + k]`` at each frame ``f`` (0.0 past the ends) for ``|k| <= pad``: views of one
    zero-padded copy, not a fresh array per shift."""
    n = x.shape[0]
    xp = np.zeros(n + 2 * pad)
    xp[pad : pad + n] = x

    def at(k: int) -> FloatArray:
        view: FloatArray = xp[pad + k : pad + k + n]
        return view

    return at
