"""The stroke detector's frame history: recent frames of ``treated`` with running noise floors (the 20th
percentile of the last minute, per 1 s block), the ``stroker`` frames aligned to them, and the sizes of
a candidate contact (:data:`D_MIN`–:data:`D_MAX` frames, :data:`LOOKBACK` before, :data:`LOOKAHEAD`
after) that decide how much history is kept. :mod:`coach.signal.strokes.segments` scores candidates
over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.signal.strokes.derived import derived_rows
from coach.signal.strokes.frames import Frames
from coach.signal.strokes.hand import AlignedRole, hand_columns

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

D_MIN: Final = 3
D_MAX: Final = 50
DURATIONS: Final = np.arange(D_MIN, D_MAX + 1)
#: Frames past a candidate's end that its evidence may use.
LOOKAHEAD: Final = 2
#: Frames before a candidate's start that its evidence uses.
LOOKBACK: Final = 5
FLOOR_BLOCK: Final = 10
FLOOR_WINDOW_BLOCKS: Final = 60
FLOOR_QUANTILE: Final = 20.0
#: Frames of history kept beyond what the longest candidate needs.
_KEEP: Final = D_MAX + LOOKBACK + LOOKAHEAD + 20


@dataclass(slots=True)
class FrameHistory:
    """Recent frames of ``treated`` (with floors) and ``stroker`` aligned to them, by absolute index."""

    frame_s: float
    rate_hz: float
    keep_all: bool = False
    start: int = 0  # absolute index of row 0
    t_s: FloatArray = field(default_factory=lambda: np.empty(0))
    valid: BoolArray = field(default_factory=lambda: np.empty(0, dtype=bool))
    cols: dict[str, FloatArray] = field(default_factory=dict)
    _floors: dict[int, tuple[float, float]] = field(default_factory=dict)
    # stroker frames, own indices
    s_start: int = 0
    s_t0: float | None = None
    s_frame_s: float = 0.1
    s_valid: BoolArray = field(default_factory=lambda: np.empty(0, dtype=bool))
    s_cols: dict[str, FloatArray] = field(default_factory=dict)
    has_stroker: bool = False
    #: The ``hand`` sensor's frames (None: the session has none; :mod:`~coach.signal.strokes.hand`).
    hand: AlignedRole | None = None
    #: The ``hand`` sensor's own frames as a history of their own (its evidence is taken with the same
    #: code as the ``treated`` evidence, per candidate at the same times).
    hand_hist: FrameHistory | None = None
    #: Per frame, the signals derived from its neighbours (:mod:`~coach.signal.strokes.derived`),
    #: worked out as frames arrive (a frame's last two again when the next come: they read two ahead).
    der: dict[str, FloatArray] = field(default_factory=dict)

    def hand_index(self, b: IntArray) -> IntArray:
        """The latest ``hand_hist`` frame that ends by the end of ``treated`` frame ``b`` (absolute; the
        stroker's rule): it is complete whenever that ``treated`` frame is, since a span carries every
        role up to the same time."""
        hh = self.hand_hist
        assert hh is not None and hh.t_s.shape[0] and self.t_s.shape[0]
        t0_t = float(self.t_s[0]) - self.start * self.frame_s
        t0_h = float(hh.t_s[0]) - hh.start * hh.frame_s
        ends_s = t0_t + (b + 1) * self.frame_s - t0_h
        out: IntArray = np.floor(ends_s / hh.frame_s + 1e-6).astype(np.int64) - 1
        return out

    @property
    def end(self) -> int:
        """Absolute index one past the last frame."""
        return self.start + int(self.t_s.shape[0])

    def add_stroker(self, fr: Frames) -> None:
        self.has_stroker = True
        if len(fr) == 0:
            return
        if self.s_t0 is None:
            self.s_t0 = float(fr.t_s[0]) - fr.start * self.s_frame_s
        if not self.s_cols:
            self.s_start = fr.start
            self.s_valid = fr.valid.copy()
            self.s_cols = {k: v.copy() for k, v in fr.cols.items()}
        else:
            self.s_valid = np.concatenate((self.s_valid, fr.valid))
            self.s_cols = {k: np.concatenate((self.s_cols[k], v)) for k, v in fr.cols.items()}

    def add_treated(self, fr: Frames) -> None:
        if len(fr) == 0:
            return
        hf_floor, lf_floor = self._floors_for(fr)
        cols = dict(fr.cols)
        cols["hf_floor"] = hf_floor
        cols["hfr"] = cols["hf"] - hf_floor
        cols["lfr"] = cols["lf"] - lf_floor
        cols["el_sin"] = np.sin(np.radians(cols["el"]))
        cols["frame_ok"] = fr.valid.astype(np.float64)  # the sensor's own validity (floors use it)
        valid = fr.valid & np.isfinite(hf_floor) & np.isfinite(lf_floor)
        if self.has_stroker:
            sacc, sgm, sval = self._align_stroker(fr)
            cols["s_ax"], cols["s_ay"], cols["s_az"], cols["s_gm"] = sacc[:, 0], sacc[:, 1], sacc[:, 2], sgm
            cols["s_valid"] = sval.astype(np.float64)
        if self.hand is not None:
            cols.update(hand_columns(self.hand, fr.t_s, self.frame_s))
        n_old = int(self.t_s.shape[0]) if self.cols else 0
        if not self.cols:
            self.start, self.t_s, self.valid, self.cols = fr.start, fr.t_s.copy(), valid, cols
        else:
            self.t_s = np.concatenate((self.t_s, fr.t_s))
            self.valid = np.concatenate((self.valid, valid))
            self.cols = {k: np.concatenate((self.cols[k], cols[k])) for k in self.cols}
        self._derive_from(max(n_old - 2, 0))

    def _derive_from(self, r0: int) -> None:
        """:attr:`der` of rows ``r0`` on (every earlier row's neighbours are all in)."""
        new = derived_rows(self.cols, self.valid, self.frame_s, r0)
        if not self.der:
            self.der = new
        else:
            self.der = {k: np.concatenate((v[:r0], new[k])) for k, v in self.der.items()}

    def trim(self, keep_from: int) -> None:
        """Forget treated frames before absolute index ``keep_from`` (less a safety margin)."""
        if self.keep_all:
            return
        cut = min(keep_from - _KEEP, self.end - FLOOR_BLOCK * FLOOR_WINDOW_BLOCKS - FLOOR_BLOCK) - self.start
        if cut > 500:
            self.t_s, self.valid = self.t_s[cut:], self.valid[cut:]
            self.cols = {k: v[cut:] for k, v in self.cols.items()}
            self.der = {k: v[cut:] for k, v in self.der.items()}
            self.start += cut
            self._floors = {j: f for j, f in self._floors.items() if (j + 1) * FLOOR_BLOCK > self.start}
        if self.hand is not None:
            self.hand.trim()
        if self.s_cols:
            s_keep = int(self.s_valid.shape[0]) - 200
            if s_keep > 500:
                self.s_valid = self.s_valid[s_keep:]
                self.s_cols = {k: v[s_keep:] for k, v in self.s_cols.items()}
                self.s_start += s_keep

    def _floors_for(self, fr: Frames) -> tuple[FloatArray, FloatArray]:
        """Per frame: the 20th percentiles of ``hf`` and ``lf`` over the previous minute's valid frames,
        fixed per 1 s block (NaN while there are too few)."""
        idx = fr.start + np.arange(len(fr))
        blocks = idx // FLOOR_BLOCK
        # consecutive frames: the distinct blocks are every block from the first to the last
        present = range(int(blocks[0]), int(blocks[-1]) + 1)
        new = [j for j in present if j not in self._floors]
        if new:
            window = FLOOR_BLOCK * FLOOR_WINDOW_BLOCKS
            lo, hi = (new[0] - FLOOR_WINDOW_BLOCKS) * FLOOR_BLOCK, new[-1] * FLOOR_BLOCK
            hf_vals = self._values("hf", lo, hi, fr)
            lf_vals = self._values("lf", lo, hi, fr)
            starts = (np.asarray(new) - FLOOR_WINDOW_BLOCKS) * FLOOR_BLOCK - lo
            rows = starts[:, None] + np.arange(window)[None, :]
            m_hf, m_lf = hf_vals[rows], lf_vals[rows]
            f_hf, f_lf = _row_percentile(m_hf), _row_percentile(m_lf)
            for j, fh, fl in zip(new, f_hf, f_lf, strict=True):
                self._floors[j] = (float(fh), float(fl))
        table = np.array([self._floors[j] for j in present])
        pos = blocks - present.start
        return table[pos, 0], table[pos, 1]

    def _values(self, name: str, lo: int, hi: int, fr: Frames) -> FloatArray:
        """Column ``name`` over absolute frames ``[lo, hi)`` from history and ``fr``; NaN where unknown
        or invalid."""
        out = np.full(hi - lo, np.nan)
        sources = [(fr.start, fr.valid, fr.cols)]
        if self.cols:
            sources.insert(0, (self.start, self.cols["frame_ok"] > 0.5, self.cols))
        for start, valid, cols in sources:
            n = int(valid.shape[0])
            a, b = max(lo - start, 0), min(hi - start, n)
            if b > a:
                out[start + a - lo : start + b - lo] = np.where(valid[a:b], cols[name][a:b], np.nan)
        return out

    def _align_stroker(self, fr: Frames) -> tuple[FloatArray, FloatArray, BoolArray]:
        """For each treated frame, the latest stroker frame that ends by the treated frame's end."""
        n = len(fr)
        acc = np.full((n, 3), np.nan)
        gm = np.full(n, np.nan)
        ok = np.zeros(n, dtype=bool)
        if self.s_t0 is None or not self.s_cols:
            return acc, gm, ok
        ends = fr.t_s + self.frame_s
        j = np.floor((ends - self.s_t0) / self.s_frame_s + 1e-6).astype(np.int64) - 1 - self.s_start
        have = (j >= 0) & (j < self.s_valid.shape[0])
        jj = j[have]
        acc[have] = self.s_cols["acc"][jj]
        gm[have] = self.s_cols["gm"][jj]
        ok[have] = self.s_valid[jj]
        return acc, gm, ok


def _row_percentile(m: FloatArray) -> FloatArray:
    """Per row, the FLOOR_QUANTILE percentile of the finite values (numpy's linear method); NaN for a
    row with fewer than half a block of them. One sort for all rows."""
    finite = np.isfinite(m)
    count = finite.sum(axis=1)
    srt = np.sort(np.where(finite, m, np.inf), axis=1)
    pos = FLOOR_QUANTILE / 100.0 * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    rows = np.arange(m.shape[0])
    v_lo, v_hi = srt[rows, lo], srt[rows, hi]
    v_lo = np.where(np.isfinite(v_lo), v_lo, 0.0)
    v_hi = np.where(np.isfinite(v_hi), v_hi, 0.0)
    out = v_lo + (pos - lo) * np.where(hi > lo, v_hi - v_lo, 0.0)
    out = np.where(count >= FLOOR_BLOCK // 2, out, np.nan)
    return out
