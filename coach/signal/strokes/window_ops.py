"""Arithmetic along candidate windows laid out position-major: (window position, end) arrays, so each
numpy call runs over a whole contiguous row of ends (the stroke evidence of
:mod:`coach.signal.strokes.segments`). Frames are 10 Hz evidence frames; positions and ranges are
window positions (rows), one column per candidate end."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray

IntArray = npt.NDArray[np.int64]

# Up to this many columns one ``accumulate`` call beats a call per row (measured: 1 column 1 µs
# against 29 µs for 60 rows, 64 columns 13 against 33 µs, 256 columns 77 against 42 µs).
_ACCUMULATE_COLS = 64


def running(fn: np.ufunc, x: FloatArray, out: FloatArray, backward: bool = False) -> FloatArray:
    """``fn.accumulate(x, axis=0)`` into ``out`` (``backward``: from the last row to the first): the
    same operations in the same order, one whole row of ends per call (numpy's accumulate along the
    leading axis walks each column on its own, several times slower for a few hundred columns or
    more). Up to :data:`_ACCUMULATE_COLS` columns (the live detector's one end a frame) a single
    ``accumulate`` is faster: it walks each column in the same order, so every bit is the same."""
    rows = x.shape[0]
    if x.ndim == 2 and rows > 0 and x.shape[1] <= _ACCUMULATE_COLS:
        if backward:
            fn.accumulate(x[::-1], axis=0, out=out[:rows][::-1])
        else:
            fn.accumulate(x, axis=0, out=out[:rows])
        return out
    if backward:
        out[rows - 1] = x[rows - 1]
        for i in range(rows - 2, -1, -1):
            fn(out[i + 1], x[i], out=out[i])
    else:
        out[0] = x[0]
        for i in range(1, rows):
            fn(out[i - 1], x[i], out=out[i])
    return out


def iclip(i: IntArray, lo: int, hi: int) -> IntArray:
    """``np.clip`` of integer positions: the same integers, without ``np.clip``'s Python-level
    dispatch (several µs a call, paid many times a step on the live detector's one-end windows)."""
    out: IntArray = np.minimum(np.maximum(i, lo), hi)
    return out


def csum(w: FloatArray) -> FloatArray:
    """Per end (column), the cumulative sum along the window with a leading 0 (positions 0 … window
    length, as rows)."""
    out = np.empty((w.shape[0] + 1, w.shape[1]))
    out[0] = 0.0
    running(np.add, w, out[1:])
    return out


def cmean(c: FloatArray, lo: IntArray, hi: IntArray) -> FloatArray:
    """Per end (column), the mean over window positions ``[lo, hi)`` (one pair per candidate row) from
    a :func:`csum`; positions are clipped to the window, an empty range gives 0."""
    width = c.shape[0] - 1
    lo = iclip(lo, 0, width)
    hi = iclip(hi, 0, width)
    out: FloatArray = (c[hi] - c[lo]) / np.maximum(hi - lo, 1)[:, None]
    return out


def suffix(w: FloatArray, stop: int, use_max: bool, start: IntArray, empty: float) -> FloatArray:
    """Per end (column), max (or min) of ``w[start:stop, end]`` for each candidate row; ``empty``
    where ``start >= stop``."""
    acc = running(np.maximum if use_max else np.minimum, w[:stop], np.empty((stop, w.shape[1])), True)
    out = acc[iclip(start, 0, stop - 1)]
    out = np.where((start < stop)[:, None], out, empty)
    return out


def window_max(w: FloatArray, start: IntArray, width: int, use_max: bool, last: int) -> FloatArray:
    """Per end (column), max (or min) over ``w[s:s+width, end]`` for each candidate start ``s``, never
    past position ``last`` (a derived value there would need frames the history may not hold yet)."""
    fn = np.maximum if use_max else np.minimum
    if start.shape[0] and int(start.min()) >= 0:
        # A sliding max over the window positions (cut at ``last``), then one gather: the same set of
        # values per candidate as below, and a max (min) is exact whatever the order.
        part = w[: last + 1]
        m = part.copy()
        for k in range(1, min(width, last + 1)):
            fn(m[:-k], part[k:], out=m[:-k])
        slid: FloatArray = m[np.minimum(start, last)]
        return slid
    out = w[iclip(start, 0, last)]
    for k in range(1, width):
        out = fn(out, w[iclip(start + k, 0, last)])
    return out


#: numpy sums a float64 row of at most this many values with eight running sums (its pairwise sum
#: recurses only above it); :func:`row_sums` reproduces that case.
_PAIRWISE_BLOCK = 128


def _row_sums(v: FloatArray, n: IntArray) -> FloatArray:
    """:func:`row_sums` without the check (numpy's pairwise sum for rows of at most 128 values: eight
    running sums over whole blocks of eight, combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the
    last ``n % 8`` values added one by one; fewer than eight values are added one by one from 0)."""
    rows = v.shape[0]
    out = np.zeros(rows)
    if rows == 0:
        return out
    q = n - n % 8
    q_max = int(q.max())
    if q_max:
        acc = np.where(np.arange(q_max) < q[:, None], v[:, :q_max], 0.0)
        r = acc[:, :8].copy()
        for c in range(8, q_max, 8):
            r += acc[:, c : c + 8]
        out = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
    at = np.arange(rows)
    for j in range(int((n % 8).max())):
        # Adding an exact 0.0 (a row without a j-th remaining value) changes no sum but a zero's sign,
        # which the final ``0.0 +`` (numpy starts from 0.0) makes the same.
        out += np.where(j < n % 8, v[at, np.minimum(q + j, v.shape[1] - 1)], 0.0)
    for i in np.flatnonzero(n > _PAIRWISE_BLOCK).tolist():
        out[i] = np.add.reduce(v[i, : int(n[i])])
    result: FloatArray = 0.0 + out
    return result


def _pairwise_matches_numpy() -> bool:
    """Whether :func:`_row_sums` gives numpy's ``np.add.reduce`` bit for bit on this numpy: rows of the
    lengths that take each of its ways (0–17, around the blocks of eight, up to 128) with values of
    mixed signs over 16 orders of magnitude, zeros of both signs among them (the values from integer
    arithmetic: a random generator's set-up would cost more than the check)."""
    lengths = np.array([*range(18), 23, 24, 25, 31, 40, 63, 64, 65, 79, 100, 127, 128], dtype=np.int64)
    width = 128
    i = np.arange(lengths.shape[0] * width, dtype=np.int64)
    frac = (i * 2654435761 % 1000003).astype(np.float64) / 1000003.0 - 0.5
    v = (frac * 10.0 ** (i * 7 % 17 - 8)).reshape(lengths.shape[0], width)
    v[:, ::13] = -0.0
    v[:, 5::17] = 0.0
    v = np.where(np.arange(width) < lengths[:, None], v, 0.0)
    ref = np.array([np.add.reduce(v[k, :n]) for k, n in enumerate(lengths.tolist())])
    return bool(_row_sums(v, lengths).tobytes() == ref.tobytes())


_PAIRWISE_OK: bool | None = None


def row_sums(v: FloatArray, n: IntArray) -> FloatArray:
    """Per row ``i`` of ``v`` (rows, width), ``np.add.reduce(v[i, :n[i]])`` bit for bit, in a few
    calls for all rows: numpy's own summation order (its pairwise sum) done across the rows at once.
    The values of a row past ``n[i]`` must be 0.0. On a numpy whose sum is found to take another
    order (checked once, on random rows of every length), each row is summed by ``np.add.reduce``."""
    global _PAIRWISE_OK
    if _PAIRWISE_OK is None:
        _PAIRWISE_OK = _pairwise_matches_numpy()
    if _PAIRWISE_OK:
        return _row_sums(v, n)
    return np.array([np.add.reduce(v[i, : int(k)]) for i, k in enumerate(n.tolist())], dtype=np.float64)
