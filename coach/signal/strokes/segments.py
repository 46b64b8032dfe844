"""Stroke detection, stage 2: frames → scored candidate contacts (segments).

A candidate contact is a run of frames ``[a, b)`` lasting :data:`D_MIN`–:data:`D_MAX` frames
(0.3–5 s; docs/design.md §6 gives 0.8–4 s). Every candidate gets a vector of physical evidence
(:func:`segment_features`): vibration inside against just before and after, the pitch dip and its
steps, the drag transients at both ends, transients and vibration valleys inside (two strokes merged),
large rotations (fidgets, posture changes), the vertical push and release, duration. A small neural
network (:class:`~coach.signal.strokes.mlp.Mlp`, parameters in ``model.json``, trained on simulated
sessions by ``benchmarks/stroke_training.py``) turns the vector into the log-odds that the candidate is
one stroke (:func:`coach.signal.strokes.scoring.segment_logits`).

:class:`~coach.signal.strokes.segmenter.Segmenter` then picks non-overlapping candidates with the
largest total log-odds (a semi-Markov dynamic programme over frames) and commits a candidate as soon as
the best path keeps it one frame after its end. Everything a candidate uses lies at most
:data:`LOOKAHEAD` frames past its end, so a stroke is decided about 0.4 s after its end.

:class:`FrameHistory` (:mod:`coach.signal.strokes.frame_history`) keeps the recent frames; its names
are imported here too, where the detector has always found them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from coach.samples import FloatArray
from coach.signal.strokes.feature_names import STROKER_FEATURES, TREATED_FEATURES
from coach.signal.strokes.frame_history import (
    D_MAX,
    D_MIN,
    DURATIONS,
    LOOKAHEAD,
    LOOKBACK,
    BoolArray,
    FrameHistory,
    IntArray,
)
from coach.signal.strokes.hand import HAND_OWN_FEATURES, candidate_hand_features
from coach.signal.strokes.window_ops import cmean as _cmean
from coach.signal.strokes.window_ops import csum as _csum
from coach.signal.strokes.window_ops import iclip as _iclip
from coach.signal.strokes.window_ops import running as _running
from coach.signal.strokes.window_ops import suffix as _suffix
from coach.signal.strokes.window_ops import window_max as _window_max
from coach.signal.strokes.window_pair import pair_getter, two_columns

# --------------------------------------------------------------------------------------------------
# Evidence for candidates


def _cumsum0(x: FloatArray) -> FloatArray:
    out: FloatArray = np.concatenate((np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)))
    return out


def _mean(c: FloatArray, lo: IntArray, hi: IntArray) -> FloatArray:
    n = c.shape[0] - 1
    lo = np.clip(lo, 0, n)
    hi = np.clip(hi, 0, n)
    out: FloatArray = (c[hi] - c[lo]) / np.maximum(hi - lo, 1)
    return out


@dataclass(slots=True)
class SegmentBatch:
    """Evidence for the candidates ending at ``ends`` (absolute frame indices), every duration."""

    ends: IntArray
    #: (n_ends, n_durations, len(TREATED_FEATURES)); a view of a feature-major array
    x_treated: FloatArray
    x_stroker: FloatArray | None  # (n_ends, n_durations, len(STROKER_FEATURES)), likewise
    ok: BoolArray  # (n_ends, n_durations): every frame it uses is valid
    stroker_ok: BoolArray  # (n_ends, n_durations)
    #: (n_ends, n_durations, 2): the quietest the limb was before the candidate (in its window, up to
    #: ~5 s back): lowest frame rotation ``gm`` and lowest drag-band level ``lfr``.
    context: FloatArray
    #: (n_ends, n_durations, len(HAND_FEATURES)) with a ``hand`` sensor, and where its frames are valid.
    x_hand: FloatArray | None = None
    hand_ok: BoolArray | None = None


#: Frames of the per-end window before the end frame ``b`` (the longest candidate, its look-back, and
#: a margin for the derived signals), and the window length.
_W0: Final = D_MAX + LOOKBACK + 6
_WLEN: Final = _W0 + LOOKAHEAD + 1


class _Range:
    """Window positions ``[lo, hi)`` per candidate row (clipped to a window of :data:`_WLEN` frames) and
    their count: :func:`~coach.signal.strokes.window_ops.cmean`'s index work done once, since every
    window puts its candidates at the same positions."""

    __slots__ = ("hi", "hi_rows", "lo", "lo_rows", "n")

    def __init__(self, lo: IntArray, hi: IntArray) -> None:
        self.lo = _iclip(lo, 0, _WLEN)
        self.hi = _iclip(hi, 0, _WLEN)
        self.n = np.maximum(self.hi - self.lo, 1)[:, None]
        self.lo_rows, self.hi_rows = _rows_of(self.lo), _rows_of(self.hi)

    def mean(self, c: FloatArray) -> FloatArray:
        """``cmean(c, lo, hi)`` of a :func:`~coach.signal.strokes.window_ops.csum` of a window."""
        if c.shape[0] != _WLEN + 1:
            return _cmean(c, self.lo, self.hi)
        out: FloatArray = (c[self.hi_rows] - c[self.lo_rows]) / self.n
        return out


def _rows_of(idx: IntArray) -> IntArray | slice:
    """Rows ``idx`` of an array as a slice where they are one row (read once, broadcast over the
    candidates) or consecutive rows either way (a view): the same values as gathering them."""
    first, last, k = int(idx[0]), int(idx[-1]), int(idx.shape[0])
    if bool((idx == first).all()):
        return slice(first, first + 1)
    step = 1 if last > first else -1
    if bool((idx == first + step * np.arange(k)).all()):
        return slice(first, None if last + step < 0 else last + step, step)
    return idx


_A: Final = _W0 - DURATIONS  # candidate starts in a window (its end at _W0)
_BB: Final = np.full_like(_A, _W0)
_IN, _IN_S = _Range(_A + 1, _BB), _Range(_A, _BB)
_MID = _Range(_A + DURATIONS // 4, _W0 - DURATIONS // 4)
_PRE, _PRE_EL, _POST = _Range(_A - 5, _A - 1), _Range(_A - 4, _A - 1), _Range(_BB + 1, _BB + 3)


_T = TypeVar("_T", bound=np.generic)


class _Windows:
    """Per end ``b``, the frames ``[b − _W0, b + LOOKAHEAD]`` of a history of ``n`` frames, as
    (window position, end) arrays: position-major, so the running sums and extremes along a window
    and the gathers of candidate positions run over whole contiguous rows of ends. Consecutive ends
    inside the history (the detector's case) are a strided view of the column (window position ``p``
    of end ``e`` is frame ``b_0 − _W0 + p + e``); other ends are gathered, once worked out for all
    the columns taken through it."""

    __slots__ = ("first", "idx", "inside", "m")

    def __init__(self, b: IntArray, n: int) -> None:
        self.m = m = int(b.shape[0])
        self.first: int | None = None
        if m and int(b[-1]) - int(b[0]) == m - 1 and int(b[0]) - _W0 >= 0 and int(b[-1]) + LOOKAHEAD < n:
            self.first = int(b[0]) - _W0
            return
        idx = b[None, :] - _W0 + np.arange(_WLEN)[:, None]
        self.inside = (idx >= 0) & (idx < n)
        self.idx = np.clip(idx, 0, max(n - 1, 0))

    def take(self, x: npt.NDArray[_T]) -> npt.NDArray[_T]:
        """The windows of column ``x`` (the edge frame where a window reaches outside the history)."""
        if self.first is not None:
            if self.m == 1:  # the live detector's one end a frame: a plain slice, the same values
                col: npt.NDArray[_T] = x[self.first : self.first + _WLEN, None]
                return col
            step = x.strides[0]
            view: npt.NDArray[_T] = as_strided(
                x[self.first :], shape=(_WLEN, self.m), strides=(step, step), writeable=False
            )
            return view
        out: npt.NDArray[_T] = x[self.idx]
        return out

    def masked(self, x: FloatArray, valid: BoolArray, fill: float) -> FloatArray:
        """For consecutive ends inside the history (``first`` set): the windows of ``x`` with ``fill``
        where ``valid`` (the history's own per-frame validity) is False, masked once per frame the
        windows span and then viewed as windows: the same values as masking the windows themselves
        (``np.where(take(valid), take(x), fill)``), each frame's where done once instead of once per
        window it is in (~70 times)."""
        assert self.first is not None
        lo, hi = self.first, self.first + _WLEN + self.m - 1
        col: FloatArray = np.where(valid[lo:hi], x[lo:hi], fill)
        if self.m == 1:
            return col[:, None]
        view: FloatArray = as_strided(
            col, shape=(_WLEN, self.m), strides=(col.strides[0],) * 2, writeable=False
        )
        return view

    def all_valid(self, valid: BoolArray, lo_pos: IntArray) -> BoolArray:
        """For consecutive ends inside the history (``first`` set): per position ``lo_pos`` (rows) and end,
        whether the frames at window positions ``[lo_pos, _WLEN)`` are all ``valid``, from one count of
        the invalid frames the windows span (exact integers: the same answer as the windows' own
        running count of invalid frames)."""
        assert self.first is not None
        lo, hi = self.first, self.first + _WLEN + self.m - 1
        count = np.zeros(hi - lo + 1, dtype=np.int64)
        np.cumsum(~valid[lo:hi], out=count[1:])
        e = np.arange(self.m)
        out: BoolArray = count[_WLEN + e][None, :] == count[lo_pos[:, None] + e[None, :]]
        return out

    def rows(self, x: FloatArray, fill: float) -> FloatArray:
        """The windows of column ``x``, ``fill`` outside the history."""
        if self.first is not None:
            return self.take(x)
        out: FloatArray = np.where(self.inside, x[self.idx], fill)
        return out


def candidates_possible(h: FrameHistory, ends: IntArray) -> BoolArray:
    """Per end frame (absolute), whether any candidate ending there can be ``ok``: the frames even the
    shortest one uses (``[b − D_MIN − LOOKBACK, b + LOOKAHEAD]``) are all held and valid. Where not,
    :func:`segment_features` would find every candidate not ``ok``, so it need not run."""
    n = int(h.t_s.shape[0])
    b_rel = np.asarray(ends, dtype=np.int64) - h.start
    lo, hi = b_rel - D_MIN - LOOKBACK, b_rel + LOOKAHEAD
    inside = (lo >= 0) & (hi < n)
    bad = np.concatenate(([0], np.cumsum(~h.valid)))
    out: BoolArray = inside & (bad[_iclip(hi + 1, 0, n)] - bad[_iclip(lo, 0, n)] == 0)
    return out


def segment_features(
    h: FrameHistory, ends: IntArray, x_out: FloatArray | None = None, with_context: bool = True
) -> SegmentBatch:
    """Evidence for every candidate ``[b − d, b)`` with ``b`` in ``ends`` and ``d`` in DURATIONS.

    Uses frames from ``b − d − LOOKBACK`` to ``b + LOOKAHEAD``; candidates reaching outside the history
    or touching an invalid frame are not ``ok``. Each end is computed from its own window of frames, so
    the numbers do not depend on which other ends are in the batch (span invariance, bit for bit).

    Internally every array is (window position or duration, end): the batch's arrays are transposed
    views of (feature, duration, end) arrays. ``x_out``: such an array to hold the treated evidence in
    (the hand's pass writes into the hand networks' input); ``with_context=False``: the batch's
    ``context`` is left empty (the hand's pass, which does not read it).
    """
    ends = np.asarray(ends, dtype=np.int64)
    c = h.cols
    n = int(h.t_s.shape[0])
    b_rel = ends - h.start
    fs = h.frame_s
    win = _Windows(b_rel, n)
    hand_part: tuple[FloatArray, BoolArray] | None = None
    pair = _hand_pair(h, ends, win) if "h_valid" in c else None
    if pair is None:
        valid_w = win.rows(h.valid.astype(np.float64), 0.0) > 0.5
        x_t, ok, quiet_gm, quiet_lf = _treated_evidence(
            _window_getter(win, valid_w, c, h.der, h.valid),
            valid_w,
            b_rel,
            n,
            fs,
            math.log2(h.rate_hz / 100.0),
            c["hf_floor"][_iclip(b_rel, 0, max(n - 1, 0))][None, :],
            x_out,
            with_context,
            None if win.first is None else win.all_valid(h.valid, _A - LOOKBACK),
        )
    else:
        # The live detector's one end a frame, with the hand sensor's own history: its treated
        # evidence as a second column of the same window arithmetic (every step is per column), not
        # a second call.
        hand, h_rel, h_win = pair
        assert win.first is not None and h_win.first is not None
        assert x_out is None and with_context  # the treated history's own call
        at = (win.first, h_win.first, _WLEN)
        valid_2 = two_columns(h.valid, hand.valid, *at) > 0.5
        x_2, ok_2, gm_2, lf_2 = _treated_evidence(
            pair_getter((h.cols, h.der), (hand.cols, hand.der), valid_2, *at),
            valid_2,
            np.concatenate((b_rel, h_rel)),
            np.array([n, int(hand.t_s.shape[0])]),
            np.array([[fs, hand.frame_s]]),
            np.array([math.log2(h.rate_hz / 100.0), math.log2(hand.rate_hz / 100.0)]),
            np.concatenate((c["hf_floor"][b_rel], hand.cols["hf_floor"][h_rel]))[None, :],
        )
        assert gm_2 is not None and lf_2 is not None
        x_t, ok = np.ascontiguousarray(x_2[:, :, :1]), ok_2[:, :1]
        valid_w, quiet_gm, quiet_lf = np.ascontiguousarray(valid_2[:, :1]), gm_2[:, :1], lf_2[:, :1]
        hand_part = (x_2[:, :, 1:], ok_2[:, 1:])
    context = (
        np.stack((quiet_gm, quiet_lf), axis=-1).transpose(1, 0, 2)
        if quiet_gm is not None and quiet_lf is not None
        else np.empty((0, 0, 2))
    )
    B = _W0  # the end frame's position in each window; candidate starts:
    A = _W0 - DURATIONS
    D = DURATIONS
    n_d, n_e = D.shape[0], ends.shape[0]
    x_s: FloatArray | None = None
    s_ok = np.zeros(ok.shape, dtype=bool)
    if "s_valid" in c:
        if win.first is not None:  # masked frame by frame (_Windows.masked), the same values
            sv_col = (c["s_valid"] > 0.5) & h.valid
            sv = win.take(sv_col)
            sacc = [win.masked(c[k], sv_col, 0.0) for k in ("s_ax", "s_ay", "s_az")]
            sgm = win.masked(c["s_gm"], sv_col, -7.0)
        else:
            sv = (win.rows(c["s_valid"], 0.0) > 0.5) & valid_w
            sacc = [np.where(sv, win.rows(c[k], 0.0), 0.0) for k in ("s_ax", "s_ay", "s_az")]
            sgm = np.where(sv, win.rows(c["s_gm"], -7.0), -7.0)
        cp2 = _csum(sacc[0] ** 2 + sacc[1] ** 2 + sacc[2] ** 2)
        x_s = np.empty((len(STROKER_FEATURES), n_d, n_e))
        np.log(_IN_S.mean(cp2) + 1e-4, out=x_s[0])
        np.log(0.5 * (_PRE.mean(cp2) + _POST.mean(cp2)) + 1e-4, out=x_s[1])
        glide2 = sum(_glide_rows(sa, A, B, fs) ** 2 for sa in sacc)
        np.sqrt(glide2, out=x_s[2])
        x_s[3] = _suffix(sgm, B, True, A, -7.0)
        cg = _csum(sgm)
        x_s[4] = 0.5 * (_PRE.mean(cg) + _POST.mean(cg))
        if win.first is not None:
            s_ok = ok & win.all_valid(sv_col, A - LOOKBACK)
        else:
            sinv = _csum((~sv).astype(np.float64))
            s_ok = ok & ((sinv[B + LOOKAHEAD + 1][None, :] - sinv[A - LOOKBACK]) == 0)
    x_tr = x_t.transpose(2, 1, 0)  # (end, duration, feature), as the batch holds it
    ok_e = np.ascontiguousarray(ok.T)
    x_h: FloatArray | None = None
    h_ok: BoolArray | None = None
    if "h_valid" in c:
        # (feature, duration, end) like x_t, so the screen reads it without a copy: the hand's own
        # features, then the treated features of the hand's history, each written in place
        k_h = len(HAND_OWN_FEATURES)
        fm = np.empty((k_h + x_tr.shape[-1], n_d, n_e))
        t_hf = win.rows(c["hf"], 0.0)
        pre: tuple[BoolArray, Callable[[str, float], FloatArray], FloatArray] | None = None
        if win.first is not None:  # masked frame by frame (_Windows.masked), the same values
            hv_col = (c["h_valid"] > 0.5) & h.valid
            pre = (
                win.take(hv_col),
                lambda name, fill: win.masked(c[name], hv_col, fill),
                win.masked(c["hf"], h.valid, 0.0),
            )
        h_ok = candidate_hand_features(
            lambda name, fill: win.rows(c[name], fill), valid_w, t_hf, B, A, LOOKAHEAD, fm[:k_h], pre
        )
        h_ok = h_ok & ok_e
        hh = h.hand_hist
        if hand_part is not None:  # the live detector's pair: the hand history's treated evidence is in
            fm[k_h:] = hand_part[0]
            h_ok = h_ok & hand_part[1].T
        elif hh is not None and hh.t_s.shape[0]:
            hb = segment_features(hh, h.hand_index(ends), fm[k_h:], with_context=False)
            h_ok = h_ok & hb.ok
        else:
            fm[k_h:] = 0.0
            h_ok = np.zeros(ok_e.shape, dtype=bool)
        x_h = fm.transpose(2, 1, 0)
    return SegmentBatch(
        ends,
        x_tr,
        None if x_s is None else x_s.transpose(2, 1, 0),
        ok_e,
        np.ascontiguousarray(s_ok.T),
        context,
        x_h,
        h_ok,
    )


def _treated_evidence(
    w: Callable[[str, float, bool], FloatArray],
    valid_w: BoolArray,
    b_rel: IntArray,
    n: int | IntArray,
    fs: float | FloatArray,
    log2_rate: float | FloatArray,
    floor: FloatArray,
    x_out: FloatArray | None = None,
    with_context: bool = True,
    all_valid: BoolArray | None = None,
) -> tuple[FloatArray, BoolArray, FloatArray | None, FloatArray | None]:
    """:func:`segment_features`' treated evidence of windows (window position, end): the features
    (feature, duration, end), ``ok`` (duration, end) and the quietest ``gm`` and ``lfr`` before each
    candidate (duration, end). ``w(name, fill, derived)``: a column's windows, ``fill`` where not
    valid; ``n``, ``fs``, ``log2_rate``: the history's (or per end, as arrays); ``floor``: (1, end);
    ``x_out``: the array to write the features in; ``with_context=False``: no quietest values (None);
    ``all_valid``: (duration, end) whether each candidate's frames are all valid, when the caller
    counted that on the column (:meth:`_Windows.all_valid`)."""
    B = _W0  # the end frame's position in each window; candidate starts:
    A = _W0 - DURATIONS
    D = DURATIONS
    n_d, n_e = D.shape[0], b_rel.shape[0]
    hfr, lfr, el, gm = w("hfr", 0.0, False), w("lfr", 0.0, False), w("el", 0.0, False), w("gm", -7.0, False)
    el_step, dz, hf5 = w("el_step", 0.0, True), w("dz", 0.0, True), w("hf5", 0.0, True)
    exc, turn = w("excursion_mm", 0.0, True), w("turn_deg", 0.0, True)
    ch, ce = _csum(hfr), _csum(el)
    hf_in = _IN.mean(ch)
    hf_mid = _MID.mean(ch)
    hf_pre = _PRE.mean(ch)
    hf_post = _POST.mean(ch)
    out_hf = 0.5 * (hf_pre + hf_post)
    el_in = _IN.mean(ce)
    el_pre = _PRE_EL.mean(ce)
    el_post = _POST.mean(ce)
    lf_on = _window_max(lfr, A - 1, 6, True, B + LOOKAHEAD)
    lf_off = lfr[B - 3 : B + 1].max(axis=0)[None, :]
    valley = _suffix(hf5, B - 2, False, A + 3, 0.0) - hf_in
    valley = np.where((D >= 8)[:, None], valley, 0.0)
    el_rng = _suffix(el, B + 3, True, A - 3, 0.0) - _suffix(el, B + 3, False, A - 3, 0.0)
    quiet_gm: FloatArray | None = None
    quiet_lf: FloatArray | None = None
    if with_context:
        # ``np.where(valid_w, gm, 9.0)``: the getter's windows with another fill, the same values
        quiet_gm = _running(np.minimum, w("gm", 9.0, False), np.empty(gm.shape))[A - 1]
        quiet_lf = _running(np.minimum, w("lfr", 99.0, False), np.empty(lfr.shape))[A - 1]
    # (feature, duration, end): what the screen reads, a whole feature at a time
    x_t = np.empty((len(TREATED_FEATURES), n_d, n_e)) if x_out is None else x_out
    x_t[0] = hf_in - out_hf
    x_t[1] = hf_mid - out_hf
    x_t[2] = hf_in
    x_t[3] = hf_in - hf_pre
    x_t[4] = hf_in - hf_post
    x_t[5] = 0.5 * (el_pre + el_post) - el_in
    x_t[6] = el_in - el_pre
    x_t[7] = el_post - el_in
    x_t[8] = lf_on
    x_t[9] = lf_off
    np.minimum(lf_on, lf_off, out=x_t[10])
    x_t[11] = _suffix(lfr, B - 3, True, A + 5, -3.0)
    x_t[12] = valley
    x_t[13] = _suffix(gm, B + 2, True, A - 1, -7.0)
    np.log(el_rng + 0.05, out=x_t[14])
    x_t[15] = _window_max(el_step, A - 1, 6, False, B)
    x_t[16] = el_step[B - 3 : B + 1].max(axis=0)[None, :]
    x_t[17] = _window_max(dz, A - 1, 6, False, B) * 1000.0
    x_t[18] = dz[B - 3 : B + 1].max(axis=0)[None, :] * 1000.0
    np.log(_suffix(exc, B + 1, True, A - 3, 0.0) + 0.1, out=x_t[19])
    np.log(_suffix(turn, B + 1, True, A - 3, 0.0) + 0.1, out=x_t[20])
    dur = D[:, None] * fs
    x_t[21] = dur
    x_t[22] = np.log(dur)
    x_t[23] = np.where(np.isfinite(floor), floor, 0.0)
    x_t[24] = log2_rate
    if all_valid is None:
        inv = _csum((~valid_w).astype(np.float64))
        all_valid = (inv[B + LOOKAHEAD + 1][None, :] - inv[A - LOOKBACK]) == 0
    ok = all_valid
    ok = ok & (b_rel[None, :] - D[:, None] - LOOKBACK >= 0) & (b_rel[None, :] + LOOKAHEAD < n)
    return x_t, ok, quiet_gm, quiet_lf


def _window_getter(
    win: _Windows,
    valid_w: BoolArray,
    cols: dict[str, FloatArray],
    der: dict[str, FloatArray],
    valid: BoolArray,
) -> Callable[[str, float, bool], FloatArray]:
    """``w(name, fill, derived)``: the windows of a column, ``fill`` where ``valid_w`` (the windows of
    the history's ``valid``) is False."""

    def w(name: str, fill: float, derived: bool) -> FloatArray:
        x = (der if derived else cols)[name]
        if win.first is not None:  # consecutive ends inside the history: masked frame by frame
            return win.masked(x, valid, fill)
        # valid_w is False outside the history, so one where does what win.rows' and this did
        out: FloatArray = np.where(valid_w, win.take(x), fill)
        return out

    return w


def _hand_pair(
    h: FrameHistory, ends: IntArray, win: _Windows
) -> tuple[FrameHistory, IntArray, _Windows] | None:
    """The hand sensor's history, its end frames and windows when both histories' windows are plain
    slices (the live detector's one end a frame); else None."""
    hh = h.hand_hist
    if hh is None or not hh.t_s.shape[0] or win.m != 1 or win.first is None:
        return None
    h_rel = h.hand_index(ends) - hh.start
    h_win = _Windows(h_rel, int(hh.t_s.shape[0]))
    return None if h_win.first is None else (hh, h_rel, h_win)


def _glide_rows(acc: FloatArray, a: IntArray, b: int, frame_s: float) -> FloatArray:
    """:func:`glide_displacement` of one axis for per-end windows (window position, end), candidate
    starts ``a`` (one per row of the result) and the common end ``b``."""
    idx = np.arange(acc.shape[0], dtype=np.float64)[:, None]
    c1 = _csum(acc)
    ci = _csum(acc * idx)
    s1 = c1[b][None, :] - c1[a]
    si = ci[b][None, :] - ci[a]
    dd = (b - a).astype(np.float64)[:, None]
    out: FloatArray = frame_s * frame_s * (s1 * (b - (dd + 1.0) / 2.0) - si)
    return out


def glide_displacement(acc: FloatArray, a: IntArray, b: IntArray, frame_s: float) -> FloatArray:
    """Displacement over frames ``[a, b)`` from acceleration frames ``acc`` (n, 3), assuming the hand is at
    rest at both ends (a minimum-jerk glide): the linear velocity drift is removed, which also removes
    any constant acceleration bias. Returns (..., 3) in metres."""
    n = acc.shape[0]
    idx = np.arange(n, dtype=np.float64)[:, None]
    c1 = _cumsum0(acc)
    ci = _cumsum0(acc * idx)
    lo = np.clip(a, 0, n)
    hi = np.clip(b, 0, n)
    s1 = c1[hi] - c1[lo]
    si = ci[hi] - ci[lo]
    d = (hi - lo).astype(np.float64)[..., None]
    weight_b = hi.astype(np.float64)[..., None] - (d + 1.0) / 2.0
    out: FloatArray = frame_s * frame_s * (s1 * weight_b - si)
    return out


__all__ = [
    "DURATIONS",
    "D_MAX",
    "D_MIN",
    "LOOKAHEAD",
    "LOOKBACK",
    "BoolArray",
    "FrameHistory",
    "IntArray",
    "SegmentBatch",
    "candidates_possible",
    "glide_displacement",
    "segment_features",
]
