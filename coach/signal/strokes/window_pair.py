"""Two histories' one-end candidate windows side by side: the live detector's ``treated`` history and
the hand sensor's own, whose treated evidence is then one window computation of two columns
(:func:`coach.signal.strokes.segments.segment_features`: every step of it is per column, so each
column's numbers are those of a computation of its own)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray

BoolArray = npt.NDArray[np.bool_]
Columns = tuple[Mapping[str, FloatArray], Mapping[str, FloatArray]]  # a history's columns, derived ones


def two_columns(
    x: npt.NDArray[np.generic], y: npt.NDArray[np.generic], at_x: int, at_y: int, width: int
) -> FloatArray:
    """``x[at_x : at_x + width]`` and ``y[at_y : at_y + width]`` as the two columns of a float64 array."""
    out = np.empty((width, 2))
    out[:, 0] = x[at_x : at_x + width]
    out[:, 1] = y[at_y : at_y + width]
    return out


def pair_getter(
    a: Columns, b: Columns, valid_2: BoolArray, at_a: int, at_b: int, width: int
) -> Callable[[str, float, bool], FloatArray]:
    """``w(name, fill, derived)``: column ``name`` (of the derived signals if ``derived``) of history
    ``a`` and ``b`` side by side, ``fill`` where ``valid_2`` is False."""

    def w(name: str, fill: float, derived: bool) -> FloatArray:
        k = 1 if derived else 0
        out: FloatArray = np.where(valid_2, two_columns(a[k][name], b[k][name], at_a, at_b, width), fill)
        return out

    return w
