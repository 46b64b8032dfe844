"""Stroke detection, stage 3: which way a committed contact went (docs/design.md §6).

Evidence from ``treated`` alone:

- **Drag.** Friction drags the limb a few millimetres along the glide while in contact: at onset the
  limb moves along the glide, at release it springs back. ``drag_mm`` = displacement along the forearm
  x axis across the onset minus across the release (each from the gravity-free acceleration, the
  limb at rest before and after), positive for a distal (toward the fingertips) glide.
- **Lever.** Pressing pitches the forearm down in proportion to the lever arm from the supported
  elbow: a distal glide moves the hand toward the wrist and deepens the dip as it goes, a proximal one
  lets it recover. ``lever_deg`` = elevation over the last third of the contact minus the first third,
  and ``step_asym_deg`` = release pitch step minus onset pitch step (larger at the wrist end).

Evidence from ``stroker`` (the massaging wrist):

- **Glide vector** over the contact (acceleration integrated twice with the hand at rest at both ends
  of the minimum-jerk glide, which cancels a constant bias). With the forearm elevated, a proximal
  glide goes down: ``vert`` = glide height change × sin(forearm elevation) is negative for proximal.
- **Glide axis.** Near horizontal that cue vanishes; the horizontal glide direction in the stroker's
  own earth frame is then compared with the *proximal direction* learned from the session's strokes
  whose vertical cue was strong (:class:`GlideAxis`), since the two sensors share no heading.

A small network per evidence set (:class:`NetDirection`, parameters in ``model.json``;
:class:`Logistic` for models trained before them) gives P(distal); the direction is ``unknown`` when
neither way reaches :data:`MIN_DIRECTION_PROB`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.signal.strokes.mlp import Mlp, sigmoid

#: Below this probability for either way the direction is ``unknown``.
MIN_DIRECTION_PROB: Final = 0.6
#: A stroke teaches the glide axis when its vertical cue is this clear.
AXIS_MIN_SIN_ELEVATION: Final = 0.25
AXIS_MIN_GLIDE_M: Final = 0.04
AXIS_MIN_VERTICAL_SHARE: Final = 0.15
AXIS_LEARNING_RATE: Final = 0.2

TREATED_DIRECTION_FEATURES: Final = (
    "drag_mm",
    "drag_on_mm",
    "drag_off_mm",
    "drag_dip",
    "lever_deg",
    "step_asym_deg",
)
STROKER_DIRECTION_FEATURES: Final = ("vert", "vert_share", "sin_elev", "axis")
#: The drag windows of :func:`treated_shape_evidence`: (start, end) offsets from the contact's found start
#: and end (s, ``None``: a quarter of the duration inward), and the rest before and after (s). None reaches
#: past ``t_b + 0.3`` s, which the detector always has when it decides (as :func:`treated_evidence`).
SHAPE_DRAG_WINDOWS: Final = (
    (0.0, 0.0, 0.5, 0.3),
    (-0.3, 0.3, 0.5, 0.0),
    (0.0, 0.3, 0.5, 0.0),
    (-0.3, 0.0, 0.5, 0.3),
    (None, None, 0.5, 0.3),
    (0.0, 0.0, 1.0, 0.3),
)
#: Bins of the profiles over the contact (with one bin before and one after) and over a wide window.
SHAPE_BINS: Final = 5
SHAPE_WIDE_BINS: Final = 12
SHAPE_WIDE_PRE_S: Final = 0.8
TREATED_SHAPE_FEATURES: Final = (
    *(f"drag_w{k}_mm" for k in range(1, len(SHAPE_DRAG_WINDOWS))),
    *(f"drag_w{k}_snr" for k in range(len(SHAPE_DRAG_WINDOWS))),
    *(f"disp_prof{k}" for k in range(SHAPE_BINS + 2)),
    *(f"el_prof{k}" for k in range(SHAPE_BINS + 2)),
    *(f"disp_wide{k}" for k in range(SHAPE_WIDE_BINS)),
    *(f"el_wide{k}" for k in range(SHAPE_WIDE_BINS)),
    "found_duration_s",
)


class GlideAxis:
    """The proximal horizontal glide direction in the stroker's earth frame, learned from clear strokes."""

    def __init__(self) -> None:
        self.vector = np.zeros(2)
        self.count = 0

    @property
    def weight(self) -> float:
        return min(1.0, self.count / 5.0)

    def cos_to(self, glide: FloatArray) -> float:
        """Cosine between a glide's horizontal part and the proximal axis (0 while unknown)."""
        h = glide[:2]
        nh, nv = _norm(h), _norm(self.vector)
        if self.count == 0 or nh < 1e-3 or nv < 1e-9:
            return 0.0
        return float(h @ self.vector) / (nh * nv)

    def learn(self, glide: FloatArray, sin_elev: float) -> None:
        """Teach the axis with a glide whose vertical part tells its direction clearly."""
        length = _norm(glide)
        if abs(sin_elev) < AXIS_MIN_SIN_ELEVATION or length < AXIS_MIN_GLIDE_M:
            return
        if abs(glide[2]) / length < AXIS_MIN_VERTICAL_SHARE:
            return
        proximal = glide[2] * sin_elev < 0.0
        h = glide[:2] * (1.0 if proximal else -1.0)
        nh = _norm(h)
        if nh < 1e-3:
            return
        h = h / nh
        self.vector = (
            h if self.count == 0 else (1 - AXIS_LEARNING_RATE) * self.vector + AXIS_LEARNING_RATE * h
        )
        self.count += 1


@dataclass(frozen=True, slots=True)
class Logistic:
    """P(distal) = sigmoid(w · x + b)."""

    w: FloatArray
    b: float

    @property
    def n_inputs(self) -> int:
        return int(self.w.shape[0])

    def p(self, x: FloatArray) -> float:
        return sigmoid(float(x @ self.w + self.b))

    @staticmethod
    def from_dict(d: dict[str, object]) -> Logistic:
        return Logistic(np.asarray(d["w"], dtype=np.float64), float(d["b"]))  # type: ignore[arg-type]


class NetDirection:
    """P(distal) = sigmoid(network(x)): a small ReLU network (:class:`~coach.signal.strokes.mlp.Mlp`)
    that can learn what a linear model cannot, e.g. to trust the stroker's vertical cue where it is
    strong and the limb's drag where it is not."""

    __slots__ = ("net",)

    def __init__(self, net: Mlp) -> None:
        self.net = net

    @property
    def n_inputs(self) -> int:
        return int(self.net.w1.shape[0])

    def p(self, x: FloatArray) -> float:
        return sigmoid(float(self.net.logit(np.asarray(x, dtype=np.float64)[None, :])[0]))


DirectionModel = Logistic | NetDirection


def direction_model_from_dict(d: dict[str, Any]) -> DirectionModel:
    """A network when the trained parameters have layers (``w1``), else a logistic model."""
    if "w1" in d:
        return NetDirection(Mlp.from_dict(d))
    return Logistic.from_dict(d)


class SampleRing:
    """Recent samples of one role: times and named columns (NaN where invalid). The owner trims it to
    what undecided contacts may still need.

    :meth:`displacement` keeps the double integrals of ``lx`` it worked out, by sample range, until
    the samples change: the treated direction evidence of one contact reads the same windows several
    times (:func:`treated_evidence`'s window is also :data:`SHAPE_DRAG_WINDOWS`' first and third and
    the shape profile's), and the same samples give the same numbers."""

    def __init__(self) -> None:
        self.t_s: FloatArray = np.empty(0)
        self.cols: dict[str, FloatArray] = {}
        self._pos: dict[tuple[int, int], FloatArray] = {}

    def push(self, t_s: FloatArray, cols: dict[str, FloatArray]) -> None:
        if t_s.shape[0] == 0:
            return
        self._pos.clear()
        if not self.cols:
            self.t_s, self.cols = t_s.copy(), {k: v.copy() for k, v in cols.items()}
        else:
            self.t_s = np.concatenate((self.t_s, t_s))
            self.cols = {k: np.concatenate((self.cols[k], cols[k])) for k in self.cols}

    def trim_before(self, t_s: float) -> None:
        """Forget samples older than ``t_s`` (in batches, to keep copies rare)."""
        cut = int(self.t_s.searchsorted(t_s))
        if cut > 2000:
            self._pos.clear()
            self.t_s = self.t_s[cut:]
            self.cols = {k: v[cut:] for k, v in self.cols.items()}

    def window(self, t0: float, t1: float) -> tuple[FloatArray, dict[str, FloatArray]]:
        i, j = self.t_s.searchsorted((t0, t1)).tolist()
        return self.t_s[i:j], {k: v[i:j] for k, v in self.cols.items()}

    def displacement(
        self, t0: float, t1: float, min_samples: int
    ) -> tuple[FloatArray, dict[str, FloatArray], FloatArray | None]:
        """:meth:`window` and :func:`_double_integral` of its ``lx`` (read-only; None when the window
        has fewer than ``min_samples`` samples)."""
        i, j = self.t_s.searchsorted((t0, t1)).tolist()
        return self.t_s[i:j], {k: v[i:j] for k, v in self.cols.items()}, self._integral(i, j, min_samples)

    def lx_displacement(self, t0: float, t1: float, min_samples: int) -> tuple[FloatArray, FloatArray | None]:
        """:meth:`displacement` without the window's columns."""
        i, j = self.t_s.searchsorted((t0, t1)).tolist()
        return self.t_s[i:j], self._integral(i, j, min_samples)

    def _integral(self, i: int, j: int, min_samples: int) -> FloatArray | None:
        if j - i < min_samples:
            return None
        pos = self._pos.get((i, j))
        if pos is None:
            pos = _double_integral(self.t_s[i:j], self.cols["lx"][i:j])
            pos.flags.writeable = False
            self._pos[(i, j)] = pos
        return pos


def _norm(x: FloatArray) -> float:
    """``np.linalg.norm(x)`` of a contiguous 1-D float64 array: the same number (numpy takes the square
    root of ``x.dot(x)``; both square roots are correctly rounded), without its generality."""
    return math.sqrt(float(x.dot(x)))


_ARANGES: dict[int, FloatArray] = {}


def _arange(num: int) -> FloatArray:
    """``np.arange(num, dtype=np.float64)``, read-only and kept for the window lengths a replay meets."""
    y = _ARANGES.get(num)
    if y is None:
        y = np.arange(num, dtype=np.float64)
        if num <= 4096:
            y.flags.writeable = False
            _ARANGES[num] = y
    return y


def _linspace(start: float, stop: float, num: int) -> FloatArray:
    """``np.linspace(start, stop, num)`` for two floats, the same numbers by the same steps (numpy's
    own algorithm, without its generality: it is called a few thousand times a replay)."""
    delta = stop - start
    div = num - 1
    if div > 0:
        step = delta / div
        if step == 0:
            y = _arange(num) / div
            y *= delta
        else:
            y = _arange(num) * step
    else:
        y = _arange(num) * delta
    y += start
    if num > 1:
        y[-1] = stop
    return y


#: ``_linspace(0.0, 1.0, SHAPE_BINS + 1)``: the contact's bin edges as fractions of its duration.
_UNIT_BINS: Final = _linspace(0.0, 1.0, SHAPE_BINS + 1)
_UNIT_BINS.flags.writeable = False


def _mean(x: FloatArray) -> float:
    """``x.mean()`` of a 1-D float64 array: the same number (numpy's pairwise sum over the count),
    without the generality of ``ndarray.mean``; NaN when empty."""
    n = x.shape[0]
    return float(np.add.reduce(x)) / n if n else math.nan


def _nanmean(x: FloatArray) -> float:
    """``np.nanmean`` of a 1-D float64 array: the same number (the pairwise sum with NaN as 0, over the
    count of the others); NaN when there are none (without numpy's warning)."""
    nan = np.isnan(x)
    n: int = x.shape[0] - int(np.count_nonzero(nan))
    if n == 0:
        return math.nan
    return float(np.add.reduce(np.where(nan, 0.0, x) if n < x.shape[0] else x)) / n


def finite(x: FloatArray) -> FloatArray:
    """``np.nan_to_num(x)`` (NaN → 0, ±inf → ±the largest float), without its cost when there is
    nothing to replace."""
    if bool(np.isfinite(x).all()):
        return x
    out: FloatArray = np.nan_to_num(x)
    return out


def _clip(x: float, limit: float) -> float:
    """``np.clip(x, -limit, limit)`` of a float (NaN stays NaN)."""
    return min(max(x, -limit), limit)


def _double_integral(t: FloatArray, acc: FloatArray) -> FloatArray:
    """Displacement profile from acceleration over a window where the limb is at rest at both ends:
    velocity and position drifts are removed so both end at zero."""
    dt = float(t[-1] - t[0]) / max(t.shape[0] - 1, 1)  # a uniform grid
    finite = np.isfinite(acc)
    if finite.all():  # the usual case: no gather, no select (the same numbers)
        x = acc - _mean(acc)
    else:
        x = np.where(finite, acc - (_mean(acc[finite]) if finite.any() else 0.0), 0.0)
    vel = x.cumsum()
    vel *= dt
    vel -= _linspace(0.0, float(vel[-1]), vel.shape[0])
    pos: FloatArray = vel.cumsum()
    pos *= dt
    pos -= _linspace(float(pos[0]), float(pos[-1]), pos.shape[0])
    return pos


def treated_evidence(ring: SampleRing, t_a: float, t_b: float) -> FloatArray:
    """``TREATED_DIRECTION_FEATURES`` of the contact ``[t_a, t_b)`` from ``treated`` samples (``lx``: linear
    acceleration along the forearm, ``el``: elevation).

    ``drag_mm``: mean displacement along x inside the contact; ``drag_on_mm``/``drag_off_mm``: the
    displacement change across the onset and (minus) across the release; ``drag_dip``: the x
    displacement regressed on the pitch dip (the press profile), so it needs no contact times; ``lever_deg``:
    the elevation trend over the middle of the contact; ``step_asym_deg``: release minus onset pitch step.
    """
    t, c, pos = ring.displacement(t_a - 0.5, t_b + 0.3, 10)
    if pos is None:
        return np.zeros(len(TREATED_DIRECTION_FEATURES))
    # The time masks of a window are index ranges (``t`` is sorted): same elements, same sums.
    i_a, i_b = t.searchsorted((t_a, t_b)).tolist()
    drag_mm = 1000.0 * _mean(pos[i_a:i_b]) if i_b > i_a else 0.0
    t_on, p_on = ring.lx_displacement(t_a - 0.4, t_a + 0.5, 10)
    t_off, p_off = ring.lx_displacement(t_b - 0.5, t_b + 0.3, 10)
    drag_on = drag_off = 0.0
    if p_on is not None:
        k_on = int(t_on.searchsorted(t_a))
        drag_on = 1000.0 * (_mean(p_on[k_on:]) - _mean(p_on[:k_on]))
    if p_off is not None:
        k_off = int(t_off.searchsorted(t_b))
        drag_off = 1000.0 * (_mean(p_off[:k_off]) - _mean(p_off[k_off:]))
    el = c["el"]
    e = finite(el - _nanmean(el))
    k = max(1, e.shape[0] // 10)
    e = e - _linspace(_mean(e[:k]), _mean(e[-k:]), e.shape[0])
    drag_dip = -1000.0 * float(pos @ e) / max(float(e @ e), 1e-9)
    dur = t_b - t_a
    el_ok = np.isfinite(el)
    m_lo, m_hi = t.searchsorted((t_a + 0.2 * dur, t_b - 0.2 * dur)).tolist()
    mid = el_ok[m_lo:m_hi] if m_hi > m_lo else el_ok[:0]
    lever = 0.0
    if mid.sum() >= 3:
        t_mid, el_mid = t[m_lo:m_hi][mid], el[m_lo:m_hi][mid]
        tm = t_mid - _mean(t_mid)
        lever = float((tm @ (el_mid - _mean(el_mid))) / max(float(tm @ tm), 1e-12)) * 0.6 * dur
    bounds = t.searchsorted(
        (t_a + 0.05, t_a + 0.3, t_a - 0.25, t_a, t_b, t_b + 0.25, t_b - 0.3, t_b - 0.05)
    ).tolist()

    def mean(q: int) -> float:
        lo, hi = bounds[q], bounds[q + 1]
        if hi <= lo:
            return 0.0
        sel = el[lo:hi][el_ok[lo:hi]]
        return _mean(sel) if sel.shape[0] else 0.0

    onset_step = mean(0) - mean(2)
    release_step = mean(4) - mean(6)
    return np.array([drag_mm, drag_on, drag_off, _clip(drag_dip, 50.0), lever, release_step + onset_step])


def _window_drag(ring: SampleRing, a: float, b: float, pre: float, post: float) -> tuple[float, float]:
    """Mean displacement along the forearm inside ``[a, b)`` (mm; integrated over ``[a - pre, b + post)``
    with the limb at rest at both ends) and the same against the RMS displacement outside ``[a, b)``."""
    t, pos = ring.lx_displacement(a - pre, b + post, 10)
    if pos is None:
        return 0.0, 0.0
    i, j = t.searchsorted((a, b)).tolist()
    outside = np.concatenate((pos[:i], pos[j:]))
    noise = math.sqrt(_mean(outside * outside)) if outside.shape[0] else 0.0
    dm = _mean(pos[i:j]) if j > i else 0.0
    return 1000.0 * dm, dm / max(noise, 1e-7)


def _bin_means(x: FloatArray, idx: list[int]) -> FloatArray:
    """Means of ``x`` between consecutive indices (0 for an empty bin)."""
    return np.array([_mean(x[i:j]) if j > i else 0.0 for i, j in itertools.pairwise(idx)])


def _filled(el: FloatArray) -> FloatArray:
    """Elevation with its gaps (NaN) at its mean (0 when all are gaps)."""
    m = _nanmean(el)
    return np.where(np.isfinite(el), el, 0.0 if math.isnan(m) else m)


def treated_shape_evidence(ring: SampleRing, t_a: float, t_b: float) -> FloatArray:
    """``TREATED_SHAPE_FEATURES`` of the contact ``[t_a, t_b)``: what :func:`treated_evidence` summarises
    in six numbers, given to the direction network in a form that tolerates a contact found with the
    wrong extent and contact mechanics other than a forearm hanging from a supported elbow.

    - the drag (mean displacement along the forearm) over windows around the found contact
      (:data:`SHAPE_DRAG_WINDOWS`: widened, extended at either end, its middle half, a longer rest
      before), in mm and against the displacement's RMS outside the window (scale-free: force and limb
      stiffness vary stroke to stroke);
    - the displacement and the elevation (pitch) profiles: the mean in each fifth of the contact and
      in the rest before and after, and in 12 equal bins over ``[t_a - 0.8, t_b + 0.3)``, each divided
      by its RMS (their shape, not their size: a see-saw support or a rocking strap changes the pitch's
      sign and shape, not the drag's);
    - the found contact's duration (s). The drags and profiles above are means over windows whose length
      follows the found contact, so their size for the same stroke depends on it: a network without it
      called the long, slow strokes' contacts (found too short, the release beyond the window) proximal
      too often while still ranking them right (docs/strokes.md, third session).

    Nothing reaches past ``t_b + 0.3`` s (the detector has those samples when it decides).
    """
    out: list[float] = []
    dur = t_b - t_a
    mm: list[float] = []
    snr: list[float] = []
    for da, db, pre, post in SHAPE_DRAG_WINDOWS:
        a = t_a + (0.25 * dur if da is None else da)
        b = t_b + (-0.25 * dur if db is None else db)
        p_pre = pre + (0.25 * dur if da is None else 0.0)
        p_post = post + (0.25 * dur if db is None else 0.0)
        d_mm, d_snr = _window_drag(ring, a, b, p_pre, p_post)
        mm.append(d_mm)
        snr.append(d_snr)
    out += mm[1:] + snr
    prof = np.zeros(SHAPE_BINS + 2)
    elp = np.zeros(SHAPE_BINS + 2)
    t, c, pos = ring.displacement(t_a - 0.5, t_b + 0.3, 10)
    if pos is not None:
        edges = np.concatenate(([t_a - 0.5], t_a + dur * _UNIT_BINS, [t_b + 0.3]))
        idx = t.searchsorted(edges).tolist()
        prof = _bin_means(pos, idx) / (math.sqrt(_mean(pos * pos)) + 1e-9)
        el = _filled(c["el"])
        el = el - (_mean(el[: idx[1]]) if idx[1] > 0 else 0.0)
        elp = _bin_means(el, idx) / (math.sqrt(_mean(el * el)) + 1e-9)
    wp = np.zeros(SHAPE_WIDE_BINS)
    we = np.zeros(SHAPE_WIDE_BINS)
    t, c, pos = ring.displacement(t_a - SHAPE_WIDE_PRE_S, t_b + 0.3, SHAPE_WIDE_BINS)
    n = t.shape[0]
    if pos is not None:
        idx = [(q * n) // SHAPE_WIDE_BINS for q in range(SHAPE_WIDE_BINS + 1)]
        wp = _bin_means(pos, idx) / (math.sqrt(_mean(pos * pos)) + 1e-9)
        el = _filled(c["el"])
        k = min(5, n)
        el = el - _linspace(_mean(el[:k]), _mean(el[-k:]), n)
        we = _bin_means(el, idx)
        we = we / (math.sqrt(_mean(we * we)) + 1e-9)
    return np.concatenate((np.array(out), prof, elp, wp, we, [dur]))


def treated_direction_input(x_t: FloatArray, x_shape: FloatArray | None, n_inputs: int) -> FloatArray:
    """What a ``treated`` direction network with ``n_inputs`` inputs reads: the six numbers of
    :func:`treated_evidence`, then as much of the shape evidence as it was trained with (the shape
    evidence only ever grows at its end, so a network trained before an addition reads its first part)."""
    if x_shape is None or n_inputs <= x_t.shape[0]:
        return x_t
    return np.concatenate((x_t, x_shape[: n_inputs - x_t.shape[0]]))


def stroker_glide(
    ring: SampleRing, treated: SampleRing, t_a: float, t_b: float
) -> tuple[FloatArray, float] | None:
    """The stroker's glide vector over ``[t_a, t_b)`` (earth frame, m) and the forearm's mean sin(elevation).

    The glide is the least-squares amplitude of a minimum-jerk acceleration profile fitted to each axis
    of the stroker's linear acceleration: zero-mean, so a constant bias cancels, and it weighs the
    middle of the contact, where the glide accelerates, over its uncertain ends.
    """
    return stroker_glides(ring, treated, t_a, t_b)[0]


def stroker_glides(
    ring: SampleRing, treated: SampleRing, *spans: float
) -> list[tuple[FloatArray, float] | None]:
    """:func:`stroker_glide` of each window ``[spans[2q], spans[2q + 1])``: the same numbers, with the
    samples gathered, their finiteness and the forearm's sin(elevation) worked out once over all the
    windows (elementwise, then sliced: the same elements, the same sums of the same slices)."""
    edges: list[int] = ring.t_s.searchsorted(spans).tolist()  # ring.window without its other columns
    lo, hi = min(edges), max(edges)
    c = ring.cols
    # ``np.stack((ax, ay, az), axis=-1)``: the same C-ordered (n, 3) array.
    acc_all = np.empty((hi - lo, 3))
    acc_all[:, 0], acc_all[:, 1], acc_all[:, 2] = c["ax"][lo:hi], c["ay"][lo:hi], c["az"][lo:hi]
    ok_all: npt.NDArray[np.bool_] = np.logical_and.reduce(np.isfinite(acc_all), axis=1)  # .all(axis=1)
    el = treated.cols.get("el")
    el_edges: list[int] = [] if el is None else treated.t_s.searchsorted(spans).tolist()
    if el is not None:
        e_lo, e_hi = min(el_edges), max(el_edges)
        el_ok_all = np.isfinite(el[e_lo:e_hi])
        sin_all = np.sin(np.radians(el[e_lo:e_hi]))
    out: list[tuple[FloatArray, float] | None] = []
    for q in range(0, len(spans), 2):
        t_a, t_b = spans[q], spans[q + 1]
        i, j = edges[q], edges[q + 1]
        t = ring.t_s[i:j]
        n = t.shape[0]
        if n < 5:
            out.append(None)
            continue
        ok = ok_all[i - lo : j - lo]
        n_ok = int(np.count_nonzero(ok))
        if n_ok / n < 0.8:  # ``ok.mean() < 0.8``: the count is exact in float64, one rounded division
            out.append(None)
            continue
        acc = acc_all[i - lo : j - lo].copy() if n_ok == n else acc_all[i - lo : j - lo][ok]
        if n_ok < n:
            t = t[ok]
        dur = t_b - t_a
        tau = (t - t_a) / dur
        k = 60.0 * tau - 180.0 * tau**2 + 120.0 * tau**3
        kk = float(k @ k)
        if kk <= 0.0:
            out.append(None)
            continue
        glide = dur * dur * (k @ acc) / kk
        if el is None:
            out.append(None)
            continue
        a, b = el_edges[q] - e_lo, el_edges[q + 1] - e_lo
        if not el_ok_all[a:b].any():
            out.append(None)
            continue
        out.append((glide, _nanmean(sin_all[a:b])))
    return out


def stroker_evidence(glide: FloatArray, sin_elev: float, axis: GlideAxis) -> FloatArray:
    """``STROKER_DIRECTION_FEATURES`` for one glide."""
    length = max(_norm(glide), 0.02)
    share = float(glide[2]) / length
    return np.array([share * sin_elev * 10.0, share, sin_elev, axis.cos_to(glide) * axis.weight])


#: The stroker's glide over windows around the found contact (:func:`stroker_shape_evidence`): (start,
#: end) as fractions of the found duration from its start, and seconds added before and after. The
#: minimum-jerk fit reads the glide's sign right when its window is the glide (0.995 with the true extents
#: on the regions tune sessions) and wrong when the found contact is off it (0.88 with the found ones):
#: the middle half, each half and a widened window tell the network where the glide lies in the window.
STROKER_SHAPE_WINDOWS: Final = (
    (0.25, 0.75, 0.0, 0.0),
    (0.0, 0.5, 0.0, 0.0),
    (0.5, 1.0, 0.0, 0.0),
    (0.0, 1.0, 0.3, 0.3),
    (0.0, 1.0, 0.3, 0.0),
    (0.0, 1.0, 0.0, 0.3),
)
STROKER_SHAPE_FEATURES: Final = tuple(
    f"{name}_w{k}" for k in range(len(STROKER_SHAPE_WINDOWS)) for name in ("vert", "share", "axis", "glide_m")
)


def stroker_shape_evidence(
    ring: SampleRing, treated: SampleRing, t_a: float, t_b: float, axis: GlideAxis
) -> FloatArray:
    """``STROKER_SHAPE_FEATURES`` of the contact ``[t_a, t_b)``: :func:`stroker_evidence` and the glide's
    length over each of :data:`STROKER_SHAPE_WINDOWS` (zeros where a window has too few valid samples).
    Nothing reaches past ``t_b + 0.3`` s (the detector has those samples when it decides)."""
    dur = t_b - t_a
    out = [0.0] * len(STROKER_SHAPE_FEATURES)
    spans = [
        x
        for fa, fb, pre, post in STROKER_SHAPE_WINDOWS
        for x in (t_a + fa * dur - pre, t_a + fb * dur + post)
    ]
    for k, g in enumerate(stroker_glides(ring, treated, *spans)):
        if g is None:
            continue
        glide, sin_elev = g
        # :func:`stroker_evidence`'s first, second and fourth numbers, the same operations.
        norm = _norm(glide)
        share = float(glide[2]) / max(norm, 0.02)
        out[4 * k : 4 * k + 4] = (share * sin_elev * 10.0, share, axis.cos_to(glide) * axis.weight, norm)
    return np.array(out)
