"""Stroke detection with the ``hand`` sensor (on the back of the treated hand): its frames aligned to the
``treated`` frames, and its evidence for every candidate contact and for a committed one.

A stroke on the fingers, between them, on the back of the hand or on the palm is felt where it is made:
the rubbing vibration reaches the watch at the forearm attenuated by distance and by half at each joint
crossed, and the wrist and finger joints take up most of the press and drag (simulators/variants/
regions.py), so the ``treated`` evidence alone barely shows it. The ``hand`` sensor sits past the wrist:

- ``h_hf``/``h_lf``: the hand's rubbing vibration and drag transients (log power, the same bands as
  ``treated``; :class:`~coach.signal.strokes.frames.FrameStream` treats any role but ``stroker`` alike);
- ``h_el``: the hand's pitch (a press on the hand tips it);
- ``h_gm``: the hand's largest high-passed turn (a hand fidget).

Every hand feature is a contrast of the hand's own frames (inside a candidate against just before and
after) or a difference to the ``treated`` frames, so no noise floor is needed. The features feed the
additional networks of the model's ``hand`` section (:class:`HandModel`), used only when the session
has a ``hand`` sensor; sessions without one are scored exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.signal.strokes.direction import DirectionModel, direction_model_from_dict
from coach.signal.strokes.feature_names import TREATED_FEATURES
from coach.signal.strokes.frames import Frames
from coach.signal.strokes.mlp import Mlp
from coach.signal.strokes.window_ops import iclip, running, suffix

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: The hand's frame columns carried in the ``treated`` history (prefixed ``h_``).
HAND_COLUMNS: Final = ("hf", "lf", "el", "gm")
#: The hand's own evidence of a candidate (:func:`candidate_hand_features`).
HAND_OWN_FEATURES: Final = (
    "h_hf_contrast",
    "h_hf_mid_contrast",
    "h_hf_rise",
    "h_hf_fall",
    "h_hf_over_treated",
    "h_lf_onset",
    "h_lf_release",
    "h_gyro_max",
    "h_hf_valley",
    "h_dip_deg",
)
HAND_FEATURES: Final = (
    *HAND_OWN_FEATURES,
    # and the ``treated`` evidence (TREATED_FEATURES) taken on the hand's own frames
    *(f"hand_{name}" for name in TREATED_FEATURES),
)
#: Evidence of a committed contact for the region networks: the hand's vibration against the
#: forearm's inside the contact, and its contrast to just before and after.
HAND_CONTACT_FEATURES: Final = ("h_over_t_in", "h_hf_contrast", "t_hf_contrast", "h_dip_deg")


@dataclass(slots=True)
class AlignedRole:
    """Frames of a second role kept by their own index, read per ``treated`` frame (the latest frame of
    the role that ends by the ``treated`` frame's end; the same rule as the ``stroker``'s)."""

    frame_s: float
    start: int = 0
    t0: float | None = None
    valid: BoolArray = field(default_factory=lambda: np.empty(0, dtype=bool))
    cols: dict[str, FloatArray] = field(default_factory=dict)

    def add(self, fr: Frames) -> None:
        if len(fr) == 0:
            return
        if self.t0 is None:
            self.t0 = float(fr.t_s[0]) - fr.start * self.frame_s
        names = [c for c in HAND_COLUMNS if c in fr.cols]
        if not self.cols:
            self.start, self.valid = fr.start, fr.valid.copy()
            self.cols = {k: fr.cols[k].copy() for k in names}
        else:
            self.valid = np.concatenate((self.valid, fr.valid))
            self.cols = {k: np.concatenate((self.cols[k], fr.cols[k])) for k in self.cols}

    def aligned(self, t_s: FloatArray, treated_frame_s: float) -> tuple[dict[str, FloatArray], BoolArray]:
        """Per ``treated`` frame starting at ``t_s``: the role's columns (NaN where none) and validity."""
        n = int(t_s.shape[0])
        out = {k: np.full(n, np.nan) for k in HAND_COLUMNS}
        ok = np.zeros(n, dtype=bool)
        if self.t0 is None or not self.cols:
            return out, ok
        j = np.floor((t_s + treated_frame_s - self.t0) / self.frame_s + 1e-6).astype(np.int64)
        j = j - 1 - self.start
        have = (j >= 0) & (j < self.valid.shape[0])
        jj = j[have]
        for k, v in self.cols.items():
            out[k][have] = v[jj]
        ok[have] = self.valid[jj]
        return out, ok

    def trim(self) -> None:
        keep = int(self.valid.shape[0]) - 200
        if keep > 500:
            self.valid = self.valid[keep:]
            self.cols = {k: v[keep:] for k, v in self.cols.items()}
            self.start += keep


def hand_columns(role: AlignedRole, t_s: FloatArray, treated_frame_s: float) -> dict[str, FloatArray]:
    """The ``h_*`` columns (and ``h_valid``) a ``treated`` frame run carries in the history."""
    cols, ok = role.aligned(t_s, treated_frame_s)
    out = {f"h_{k}": v for k, v in cols.items()}
    out["h_valid"] = ok.astype(np.float64)
    return out


def _wsum(w: FloatArray) -> FloatArray:
    """The running sums of each end's window ``w`` (end, position) with a leading 0, held position-major
    (position 0 … width, end): a row gather of it reads contiguous memory, a column gather of the
    end-major sums did not. The same additions in the same order (an accumulate is sequential): one
    whole row of ends at a time (:func:`~coach.signal.strokes.window_ops.running`), not numpy's
    column-by-column walk of ``np.cumsum(axis=0)``."""
    out = np.empty((w.shape[1] + 1, w.shape[0]))
    out[0] = 0.0
    running(np.add, w.T, out[1:])
    return out


def _wmean(c: FloatArray, lo: IntArray, hi: IntArray) -> FloatArray:
    """Per end and candidate, the mean over window positions ``[lo, hi)`` from a :func:`_wsum` (clipped
    to the window; an empty range gives 0), as an (end, candidate) view."""
    width = c.shape[0] - 1
    lo = iclip(lo, 0, width)
    hi = iclip(hi, 0, width)
    out: FloatArray = ((c[hi] - c[lo]) / np.maximum(hi - lo, 1)[:, None]).T
    return out


def _suffix(w: FloatArray, stop: int, use_max: bool, start: IntArray, empty: float) -> FloatArray:
    """Per end and candidate, max (or min) of ``w[end, start:stop]`` (``empty`` where ``start >= stop``)
    as an (end, candidate) view: :func:`~coach.signal.strokes.window_ops.suffix` of the position-major
    windows (the same running extremes, taken from ``stop − 1`` down, one row of ends at a time)."""
    out: FloatArray = suffix(w.T, stop, use_max, start, empty).T
    return out


#: A history column's per-end windows, ``fill`` where a window reaches outside the history (or, masked,
#: where the hand's frames are not valid): ``rows(name, fill)``.
WindowRows = Callable[[str, float], FloatArray]


def candidate_hand_features(
    rows: WindowRows,
    valid_w: BoolArray,
    t_hf: FloatArray,
    end_pos: int,
    starts: IntArray,
    lookahead: int,
    out: FloatArray,
    masked: tuple[BoolArray, WindowRows, FloatArray] | None = None,
) -> BoolArray:
    """Hand evidence of every candidate: ``rows(name, fill)`` gives the per-end window of a history
    column, ``valid_w`` the windows' ``treated`` validity and ``t_hf`` the windows of ``treated`` raw
    ``hf``, all position-major (window position, end); candidates run from window position ``starts``
    (one per duration) to ``end_pos``.

    Writes :data:`HAND_OWN_FEATURES` into ``out`` (feature, duration, end), as segments.py holds its
    evidence; returns (n_ends, n_durations): where every hand frame the candidate uses is valid (from
    ``starts − 5`` to ``end_pos + lookahead``).

    The windows are masked position-major and worked on as their (end, position) views, so their
    running sums and extremes run along whole contiguous rows of ends (the same numbers).

    ``masked``: the same windows masked already (segments.py masks consecutive ends' windows frame by
    frame): the hand's validity windows, ``masked_rows(name, fill)`` (a column's windows, ``fill`` where
    the hand's frames are not valid) and ``t_hf``'s windows with 0 where ``valid_w`` is False."""
    masked_rows: WindowRows
    if masked is None:
        hv_p = (rows("h_valid", 0.0) > 0.5) & valid_w

        def mask_rows(name: str, fill: float) -> FloatArray:
            return np.asarray(np.where(hv_p, rows(name, fill), fill))

        masked_rows, t_masked = mask_rows, np.where(valid_w, t_hf, 0.0)
    else:
        hv_p, masked_rows, t_masked = masked
    hv = hv_p.T
    hf = masked_rows("h_hf", 0.0).T
    lf = masked_rows("h_lf", 0.0).T
    el = masked_rows("h_el", 0.0).T
    gm = masked_rows("h_gm", -7.0).T
    A, B = starts, end_pos
    bb = np.full_like(A, B)
    ch, cl, ce, ct = _wsum(hf), _wsum(lf), _wsum(el), _wsum(t_masked.T)
    d = B - A
    hf_in = _wmean(ch, A + 1, bb)
    hf_mid = _wmean(ch, A + d // 4, B - d // 4)
    hf_pre = _wmean(ch, A - 5, A - 1)
    hf_post = _wmean(ch, bb + 1, bb + 3)
    out_hf = 0.5 * (hf_pre + hf_post)
    t_in = _wmean(ct, A + 1, bb)
    lf_pre = _wmean(cl, A - 5, A - 1)
    lf_post = _wmean(cl, bb + 1, bb + 3)
    lf_onset = _onset_max(lf, A - 1, np.minimum(A + 5, bb)) - lf_pre
    lf_release = np.broadcast_to(lf[:, B - 3 : B + 1].max(axis=1)[:, None], hf_in.shape) - lf_post
    gmax = _suffix(gm, B + 2, True, A - 1, -7.0)
    # vibration valleys inside (two strokes merged over a return): 5-frame means along the window
    pos = np.arange(hf.shape[1])
    lo5, hi5 = iclip(pos - 2, 0, hf.shape[1]), iclip(pos + 3, 0, hf.shape[1])
    hf5 = ((ch[hi5] - ch[lo5]) / np.maximum(hi5 - lo5, 1)[:, None]).T  # ch: the running sums of hf
    valley = _suffix(hf5, B - 2, False, A + 3, 0.0) - hf_in
    valley = np.where((d >= 8)[None, :], valley, 0.0)
    el_in = _wmean(ce, A + 1, bb)
    el_pre = _wmean(ce, A - 4, A - 1)
    el_post = _wmean(ce, bb + 1, bb + 3)
    feats = (
        hf_in - out_hf,
        hf_mid - out_hf,
        hf_in - hf_pre,
        hf_in - hf_post,
        hf_in - t_in,
        lf_onset,
        lf_release,
        gmax,
        valley,
        0.5 * (el_pre + el_post) - el_in,
    )
    for i, f in enumerate(feats):
        out[i] = f.T
    inv = _wsum((~hv).astype(np.float64))
    ok: BoolArray = ((inv[B + lookahead + 1][None, :] - inv[np.clip(A - 5, 0, None)]) == 0).T
    return ok


def _onset_max(w: FloatArray, lo: IntArray, hi: IntArray) -> FloatArray:
    """Per row, the max of ``w[row, lo:hi]`` per candidate column (6 positions at most)."""
    # Position-major (candidate, row), as the windows are laid out (``w.T`` is contiguous there): whole
    # rows gathered, and the result an (row, candidate) view whose transpose the caller copies as is.
    wt = w.T
    out = np.full((lo.shape[0], w.shape[0]), -20.0)
    use = np.empty((lo.shape[0], w.shape[0]), dtype=bool)
    for k in range(6):
        p = lo + k
        # ``np.where(use, np.maximum(out, x), out)`` in place: the same maxima where used, the rest kept
        use[:] = (p < hi)[:, None]
        np.maximum(out, wt[iclip(p, 0, w.shape[1] - 1)], out=out, where=use)
    view: FloatArray = out.T
    return view


def _mean(x: FloatArray) -> float:
    """``np.mean`` of a 1-D float64 array: the same number (numpy's pairwise sum over the count)."""
    n: int = x.shape[0]
    return float(np.add.reduce(x)) / n if n else math.nan


def contact_hand_evidence(cols: dict[str, FloatArray], a: int, b: int) -> FloatArray | None:
    """:data:`HAND_CONTACT_FEATURES` of a committed contact over history rows ``[a, b)`` (None when the
    hand's frames there are not all valid)."""
    n = int(cols["h_valid"].shape[0])
    lo, hi = a - 5, b + 3
    if lo < 0 or hi > n or not bool((cols["h_valid"][lo:hi] > 0.5).all()):
        return None
    h, t, e = cols["h_hf"], cols["hf"], cols["h_el"]
    if not (np.isfinite(h[lo:hi]).all() and np.isfinite(t[lo:hi]).all()):
        return None
    h_in, t_in = _mean(h[a:b]), _mean(t[a:b])
    h_out = 0.5 * (_mean(h[a - 5 : a - 1]) + _mean(h[b + 1 : b + 3]))
    t_out = 0.5 * (_mean(t[a - 5 : a - 1]) + _mean(t[b + 1 : b + 3]))
    e_out = 0.5 * (_mean(e[a - 4 : a - 1]) + _mean(e[b + 1 : b + 3]))
    return np.array([h_in - t_in, h_in - h_out, t_in - t_out, e_out - _mean(e[a:b])])


@dataclass(frozen=True, slots=True)
class HandModel:
    """The ``hand`` section of the model: networks used only when the session has a ``hand`` sensor.

    ``with_hand``: candidate log-odds from ``treated`` + hand evidence; ``with_all``: with the
    ``stroker``'s too (where its frames are valid); ``direction``: P(distal) from the ``treated``
    direction evidence and the same evidence taken on the hand (when the stroker's glide is not
    available); ``region``: one-vs-rest region networks on the direction evidence, the duration and
    :data:`HAND_CONTACT_FEATURES`."""

    with_hand: Mlp
    with_all: Mlp | None
    bias_hand: float
    bias_all: float
    direction: DirectionModel | None = None
    region: dict[str, Mlp] | None = None

    @staticmethod
    def from_dict(d: dict[str, Any]) -> HandModel:
        return HandModel(
            Mlp.from_dict(d["with_hand"]),
            Mlp.from_dict(d["with_all"]) if d.get("with_all") else None,
            float(d.get("bias_hand", 0.0)),
            float(d.get("bias_all", d.get("bias_hand", 0.0))),
            direction_model_from_dict(d["direction"]) if d.get("direction") else None,
            {reg: Mlp.from_dict(net) for reg, net in d["region"].items()} if d.get("region") else None,
        )
