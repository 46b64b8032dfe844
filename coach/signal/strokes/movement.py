"""Stroke detection, stage 2c: the movement veto (docs/strokes.md, "Ordinary movement is not massage").

The candidate network (:mod:`~coach.signal.strokes.segments`) judges one contact from its own few
seconds. Ordinary movement (a fidget, rubbing lotion in, scratching, a strap tug, a knock, a gesture,
handling a phone, standing up, walking) can look like a contact there. The veto looks at the
*situation* of every committed contact before it is reported: the seconds before it and the frames up
to its decision (never later ones), and the contacts committed before it. Massage strokes come in
bouts, along the forearm, with the arm held up and still apart from the contact; ordinary movement
turns and moves the whole arm, leaves the floor of the drag band, and comes alone or without rhythm.

:func:`context_features` turns the situation into :data:`CONTEXT_FEATURES` (units in the names); a
small network (:class:`~coach.signal.strokes.mlp.Mlp`, trained by ``benchmarks/veto_training.py``)
gives the log-odds that the contact is a true stroke; :class:`MovementVeto` drops it when they fall
below the veto's threshold. The parameters are data with their provenance (``movement_veto.json``
beside this module, :func:`read_veto`).

A contact's features use frames ``[a − 6 s, committed_at + LOOKAHEAD]`` of the history, which the
history still holds when the contact is committed whatever the span boundaries (it keeps
``_KEEP`` = 7.7 s before the segmenter's base), and the contacts committed before it; so a veto
decision is the same for any cut of the session into spans.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from coach.samples import FloatArray
from coach.signal.strokes.direction import finite
from coach.signal.strokes.mlp import Mlp
from coach.signal.strokes.segments import LOOKAHEAD, FrameHistory
from coach.signal.strokes.trained import read_parameter_file

VETO_FILE: Final = "movement_veto.json"
VETO_FORMAT: Final = "retro-coach-movement-veto"
VETO_FORMAT_VERSION: Final = 1
#: Where the shipped veto lives in a source checkout (the trainer writes here).
VETO_SOURCE_PATH: Final = Path(__file__).resolve().with_name(VETO_FILE)

#: Frames before a contact's start that the veto reads (6 s; the history keeps 7.7 s).
BEFORE_FRAMES: Final = 60
#: Frames just before a contact (2 s): the approach.
NEAR_FRAMES: Final = 20
#: Contacts committed within this many seconds before a contact's start count as its bout.
BOUT_S: Final = 15.0

CONTEXT_FEATURES: Final = (
    "logit",
    "duration_s",
    "log_gyro_max_before",
    "log_gyro_max_near",
    "log_gyro_max_in",
    "log_gyro_max_after",
    "log_gyro_mean_long",
    "drag_band_max_near",
    "drag_band_mean_long",
    "drag_band_max_after",
    "vibration_in",
    "vibration_near",
    "vibration_long",
    "elevation_mean_deg",
    "elevation_std_deg",
    "elevation_range_near_deg",
    "log_lin_acc_std_long_mps2",
    "log_rate_std_long_rps",
    "log_along_share_in",
    "valid_share_long",
    "has_stroker",
    "stroker_log_gyro_in",
    "stroker_log_gyro_long",
    "bout_contacts",
    "since_last_contact_s",
    "bout_mean_logit",
    "bout_mean_gap_s",
    # the contact's own drag and pitch (coach.signal.strokes.direction.TREATED_DIRECTION_FEATURES)
    "drag_mm",
    "drag_on_mm",
    "drag_off_mm",
    "drag_dip",
    "lever_deg",
    "step_asym_deg",
)


#: A window of one column and whether every value in it is finite (then none needs dropping).
_Window = tuple[FloatArray, bool]
_NONE: Final[_Window] = (np.empty(0), True)


def _stat(w: _Window, fn: str, empty: float) -> float:
    """``fn`` of the finite values of a window (``empty`` when there are none). The same numbers as
    ``ndarray.max``/``min``/``mean``/``std`` (their pairwise sums, over the count), without their
    generality: this runs some 30 times per committed contact."""
    x, all_finite = w
    v = x if all_finite else x[np.isfinite(x)]
    n: int = v.shape[0]
    if n == 0:
        return empty
    if fn == "max":
        return float(np.maximum.reduce(v))
    if fn == "range":
        return float(np.maximum.reduce(v) - np.minimum.reduce(v))
    mean = float(np.add.reduce(v)) / n
    if fn == "std":
        d = v - mean
        return math.sqrt(float(np.add.reduce(d * d)) / n)
    return mean


@dataclass(slots=True)
class _Contact:
    t_start_s: float
    t_end_s: float
    logit: float


class ContactContext:
    """The contacts committed so far (their bout), and the features of the next one."""

    def __init__(self) -> None:
        self._recent: deque[_Contact] = deque(maxlen=16)

    def features(
        self, h: FrameHistory, a: int, b: int, decided: int, logit: float, drag: FloatArray
    ) -> FloatArray:
        """:data:`CONTEXT_FEATURES` of the contact of frames ``[a, b)`` committed with frames up to
        ``decided`` (inclusive) available (``drag``: its direction evidence); then it joins the bout
        of the contacts after it."""
        c = h.cols
        lo = max(h.start, a - BEFORE_FRAMES)
        hi = min(h.end, decided + 1)

        # Every window lies in [lo, hi): each column is checked for non-finite values there once.
        longs: dict[str, _Window] = {}

        def win(name: str, f0: int, f1: int) -> _Window:
            f0, f1 = max(lo, f0), min(hi, f1)
            if name not in c or f1 <= f0:
                return _NONE
            got = longs.get(name)
            if got is None:
                x = c[name][lo - h.start : hi - h.start]
                got = longs[name] = (x, bool(np.isfinite(x).all()))
            return got[0][f0 - lo : f1 - lo], got[1]

        near = (a - NEAR_FRAMES, a)
        before = (a - BEFORE_FRAMES, a)
        inside = (a, b)
        after = (b, hi)
        long = (lo, hi)
        lin = [win(k, *long) for k in ("ex", "ey", "lz")]
        rot = [win(k, *long) for k in ("wx", "wy", "wz")]
        lin_var = sum(_stat(v, "std", 0.0) ** 2 for v in lin)
        rot_var = sum(_stat(v, "std", 0.0) ** 2 for v in rot)
        inside_lin = sum(_stat(win(k, a, hi), "std", 0.0) ** 2 for k in ("ex", "ey", "lz"))
        along = _stat(win("lx", a, hi), "std", 0.0) ** 2
        ok = win("frame_ok", *long)
        has_s = "s_gm" in c
        t_a = float(h.t_s[a - h.start])
        t_b = t_a + (b - a) * h.frame_s
        bout = [r for r in self._recent if t_a - BOUT_S <= r.t_start_s < t_a]
        since = t_a - self._recent[-1].t_end_s if self._recent else BOUT_S
        gaps = np.diff([r.t_start_s for r in bout] + [t_a]) if bout else np.empty(0)
        x = np.array(
            [
                logit,
                (b - a) * h.frame_s,
                _stat(win("gm", *before), "max", -7.0),
                _stat(win("gm", *near), "max", -7.0),
                _stat(win("gm", *inside), "max", -7.0),
                _stat(win("gm", *after), "max", -7.0),
                _stat(win("gm", *long), "mean", -7.0),
                _stat(win("lfr", *near), "max", 0.0),
                _stat(win("lfr", *long), "mean", 0.0),
                _stat(win("lfr", *after), "max", 0.0),
                _stat(win("hfr", *inside), "mean", 0.0),
                _stat(win("hfr", *near), "mean", 0.0),
                _stat(win("hfr", *long), "mean", 0.0),
                _stat(win("el", *long), "mean", 0.0),
                _stat(win("el", *long), "std", 0.0),
                _stat(win("el", near[0], b), "range", 0.0),
                0.5 * np.log(lin_var + 1e-6),
                0.5 * np.log(rot_var + 1e-6),
                np.log((along + 1e-6) / (inside_lin + 1e-6)),
                _stat(ok, "mean", 0.0),
                float(has_s),
                _stat(win("s_gm", *inside), "max", -7.0) if has_s else 0.0,
                _stat(win("s_gm", *long), "mean", -7.0) if has_s else 0.0,
                float(len(bout)),
                min(max(since, 0.0), BOUT_S),
                float(np.mean([r.logit for r in bout])) if bout else 0.0,
                float(gaps.mean()) if gaps.shape[0] else BOUT_S,
                *[min(max(v, -100.0), 100.0) for v in finite(drag).tolist()],
            ]
        )
        self._recent.append(_Contact(t_a, t_b, logit))
        return finite(x)


@dataclass(frozen=True, slots=True)
class MovementVeto:
    """The veto's network and threshold: a contact is reported when its log-odds reach ``least``."""

    net: Mlp
    least: float

    def keep(self, x: FloatArray) -> tuple[bool, float]:
        """Whether the contact with features ``x`` is reported, and its log-odds."""
        z = float(self.net.logit(x[None, :])[0])
        return z >= self.least, z

    @staticmethod
    def from_dict(d: dict[str, Any]) -> MovementVeto:
        names = tuple(d.get("features", ()))
        if names != CONTEXT_FEATURES:
            raise ValueError(f"movement veto features {names} differ from this code's {CONTEXT_FEATURES}")
        return MovementVeto(Mlp.from_dict(d["net"]), float(d["least"]))


class VetoFileError(ValueError):
    """A file that is not a movement-veto file of a version this code reads."""


def read_veto(path: str | Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``parameters`` and ``provenance`` of a veto file (default: the shipped one)."""
    return read_parameter_file(path, VETO_FILE, VETO_FORMAT, VETO_FORMAT_VERSION, VetoFileError)


def write_veto(path: str | Path, parameters: dict[str, Any], provenance: dict[str, Any]) -> None:
    """Write a veto file (floats as shortest ``repr``: it reads back bit for bit)."""
    doc = {
        "format": VETO_FORMAT,
        "version": VETO_FORMAT_VERSION,
        "provenance": provenance,
        "parameters": parameters,
    }
    text = json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    if json.loads(text)["parameters"] != parameters:
        raise ValueError("the parameters do not survive a JSON round trip (numpy values? tuples?)")
    Path(path).write_text(text, encoding="utf-8")


def decided_frame(committed_at: int) -> int:
    """The last frame a contact committed at ``committed_at`` may use."""
    return committed_at + LOOKAHEAD
