"""Stroke detection, stage 1: one role's calibrated samples → 10 Hz *frames* of physical evidence.

Each role's samples (:class:`~coach.signal.strokes.api.RoleSignals`, uniform grid, any span length)
are filtered sample by sample (``sosfilt`` with carried state, :mod:`coach.signal.iir`) and summarised
in frames of ``k = round(rate_hz / 10)`` samples (0.1 s at 50, 100 and 200 Hz). Frames are counted from
the role's first sample, so the frames and every value in them are the same whatever the span boundaries are.

What a ``treated`` frame holds (docs/design.md §6, the physics of a stroke):

- ``hf``: log mean power of the linear acceleration above ``min(15 Hz, 0.55 · Nyquist)``: the rubbing
  vibration (20–40 Hz) while in contact; tremor (8–12 Hz) stays mostly below the band.
- ``lf``: log mean power of the linear acceleration in 1.5–7 Hz: the drag transients at contact onset
  and release (the limb's damped spring, 3–6 Hz), and any larger arm movement.
- ``el``: forearm elevation (°): pressing pitches the forearm down by a fraction of a degree to ~2°.
- ``gm``: log of the largest high-passed angular rate (rad/s): fidgets and posture changes turn the
  forearm far more than a stroke does.
- ``lz``: vertical linear acceleration (earth frame): pressing pushes the limb down, release lets it up.
- ``ex``, ``ey``: horizontal linear acceleration (earth frame): with ``lz``, how far the limb moves (a
  stroke drags it a few millimetres, a fidget moves it centimetres).
- ``wx``, ``wy``, ``wz``: high-passed angular rate (segment frame): how far the forearm turns.
- ``lx``: linear acceleration along the forearm (x, distal): the friction drag, along the glide.

A ``stroker`` frame holds ``acc`` (linear acceleration in the stroker's earth frame, 3 columns) and
``gm``. Linear acceleration is specific force minus gravity along the filter's ``up``.

Frames touching a gap (a grid point with ``valid`` False) and the :data:`SETTLE_FRAMES` after it are
marked invalid: the filters ring after the jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.signal import iir
from coach.signal.strokes.api import RoleSignals
from coach.units import GRAVITY_MPS2

BoolArray = npt.NDArray[np.bool_]

FRAME_HZ: Final = 10.0
#: Frames after a gap that stay invalid while the band filters settle.
SETTLE_FRAMES: Final = 5
HF_MAX_CUTOFF_HZ: Final = 15.0
LF_BAND_HZ: Final = (1.5, 7.0)
GYRO_HIGHPASS_HZ: Final = 0.5
_LOG_EPS: Final = 1e-9


def samples_per_frame(rate_hz: float) -> int:
    return max(1, round(rate_hz / FRAME_HZ))


class _Filter:
    """A causal SOS filter over several channels with state carried between calls."""

    def __init__(self, sos: FloatArray, channels: int) -> None:
        self.sos = sos
        self.zi = np.zeros((sos.shape[0], 2, channels))

    def __call__(self, x: FloatArray) -> FloatArray:
        if x.shape[0] == 0:
            return np.empty_like(x)
        y, self.zi = iir.sosfilt(self.sos, x, self.zi)
        out: FloatArray = y
        return out


@dataclass(slots=True)
class Frames:
    """A run of consecutive frames of one role (columns are arrays of equal length)."""

    start: int  # index of the first frame
    t_s: FloatArray  # time of each frame's first sample
    valid: BoolArray
    cols: dict[str, FloatArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


class FrameStream:
    """Turns one role's spans into frames (see the module docstring)."""

    def __init__(self, role: str, rate_hz: float) -> None:
        self.role = role
        self.rate_hz = float(rate_hz)
        self.k = samples_per_frame(rate_hz)
        self.frame_s = self.k / self.rate_hz
        nyq = 0.5 * self.rate_hz
        self._treated = role != "stroker"
        if self._treated:
            hf_cut = min(HF_MAX_CUTOFF_HZ, 0.55 * nyq)
            self._hp = _Filter(iir.butter_sos(4, hf_cut, "highpass", self.rate_hz), 3)
            lo, hi = LF_BAND_HZ
            self._bp = _Filter(
                iir.butter_sos(4, [lo, min(hi, 0.45 * self.rate_hz)], "bandpass", self.rate_hz), 3
            )
        self._ghp = _Filter(iir.butter_sos(2, GYRO_HIGHPASS_HZ, "highpass", self.rate_hz), 3)
        self._n_frames = 0
        self._since_bad = 1 << 30  # frames since the last invalid frame
        self._tail: dict[str, FloatArray] = {}  # per-sample values of the unfinished frame
        self._tail_t: FloatArray = np.empty(0)
        self._tail_valid: BoolArray = np.empty(0, dtype=bool)
        self._last_t = -math.inf  # time of the last sample pushed

    @property
    def frames_done(self) -> int:
        return self._n_frames

    @property
    def next_frame_at_s(self) -> float:
        """Time of the sample that will complete the next frame (samples are consecutive grid points;
        ``-inf`` before the first push)."""
        return self._last_t + (self.k - int(self._tail_t.shape[0])) / self.rate_hz

    def push(self, sig_: RoleSignals) -> Frames:
        """Consume one span of this role; return the frames it completed."""
        valid = np.asarray(sig_.valid, dtype=bool)
        all_valid = bool(valid.all())
        per = self._per_sample(sig_, valid, all_valid)
        if sig_.t_s.shape[0]:
            self._last_t = float(sig_.t_s[-1])
        if self._tail_t.shape[0]:
            t = np.concatenate((self._tail_t, sig_.t_s))
            ok = np.concatenate((self._tail_valid, valid))
            all_valid = all_valid and bool(self._tail_valid.all())
            per = {k: np.concatenate((self._tail[k], v)) if k in self._tail else v for k, v in per.items()}
        else:  # a frame's samples in one span (a live step's usual case): nothing to join
            t, ok = sig_.t_s, valid
        n_full = t.shape[0] // self.k
        cut = n_full * self.k
        self._tail_t, self._tail_valid = t[cut:], ok[cut:]
        self._tail = {k: v[cut:] for k, v in per.items()}
        start = self._n_frames
        self._n_frames += n_full
        if n_full == 0:
            return Frames(start, np.empty(0), np.empty(0, dtype=bool), {k: np.empty(0) for k in per})
        shape = (n_full, self.k)
        f_valid: BoolArray = np.asarray(ok[:cut].reshape(shape).all(axis=1), dtype=bool)
        f_valid = self._apply_settle(f_valid)
        cols: dict[str, FloatArray] = {}
        # A frame's mean is np.mean's own arithmetic (its sum along the frame, then a division by the
        # count) without np.mean's Python-level wrapper, ~10 µs a column on a live step's one frame.
        k = self.k
        for name, v in per.items():
            block = v[:cut].reshape(shape + v.shape[1:])
            if name == "gm":
                cols[name] = np.log(np.maximum.reduce(block, axis=1) + 1e-3)
            elif name in ("hf", "lf"):
                cols[name] = np.log(np.add.reduce(block, axis=1) / k + _LOG_EPS)
            else:
                cols[name] = np.add.reduce(block, axis=1) / k
        if not (all_valid and f_valid.all()):
            bad = ~f_valid
            for v in cols.values():  # invalid frames carry no numbers
                v[bad] = np.nan
        return Frames(start, t[: cut : self.k].copy(), f_valid, cols)

    def _apply_settle(self, f_valid: BoolArray) -> BoolArray:
        """Invalidate the SETTLE_FRAMES frames after every invalid one (the count carries over)."""
        n = f_valid.shape[0]
        idx = np.arange(n)
        last_bad = np.maximum.accumulate(np.where(f_valid, -1, idx))
        since = np.where(last_bad >= 0, idx - last_bad, self._since_bad + idx + 1)
        if n:
            self._since_bad = min(int(since[-1]), 1 << 30)
        out: BoolArray = f_valid & (since > SETTLE_FRAMES)
        return out

    def _per_sample(self, s: RoleSignals, valid: BoolArray, all_valid: bool) -> dict[str, FloatArray]:
        if all_valid:  # np.where would copy every value as it is
            acc, up, gyr, lin_earth = s.acc_mps2, s.up, s.gyr_rps, s.acc_lin_earth_mps2
            el = s.elevation_deg
        else:
            acc = np.where(valid[:, None], s.acc_mps2, 0.0)
            up = np.where(valid[:, None], s.up, 0.0)
            gyr = np.where(valid[:, None], s.gyr_rps, 0.0)
            lin_earth = np.where(valid[:, None], s.acc_lin_earth_mps2, 0.0)
            el = np.where(valid, s.elevation_deg, 0.0)
        lin = acc - GRAVITY_MPS2 * up
        g_hp = self._ghp(gyr)
        out: dict[str, FloatArray] = {"gm": np.sqrt(np.einsum("ij,ij->i", g_hp, g_hp))}
        if self._treated:
            out["wx"], out["wy"], out["wz"] = g_hp[:, 0], g_hp[:, 1], g_hp[:, 2]
            out["ex"], out["ey"] = lin_earth[:, 0], lin_earth[:, 1]
        if self._treated:
            hp = self._hp(lin)
            bp = self._bp(lin)
            out["hf"] = np.einsum("ij,ij->i", hp, hp)
            out["lf"] = np.einsum("ij,ij->i", bp, bp)
            out["el"] = el
            out["lz"] = lin_earth[:, 2]
            out["lx"] = lin[:, 0]
        else:
            out["acc"] = lin_earth
        return out


def frame_count(duration_s: float, rate_hz: float) -> int:
    """Frames in ``duration_s`` of samples at ``rate_hz`` (for tests and buffers)."""
    return math.floor(duration_s * rate_hz / samples_per_frame(rate_hz))
