"""Stroke detection, stage 2c: the movement veto (docs/strokes.md, "Ordinary movement is not massage").

The candidate network (:mod:`~coach.signal.strokes.segments`) judges one contact from its own few
seconds. Ordinary movement (a fidget, rubbing lotion in, scratching, a strap tug, a knock, a gesture,
handling a phone, standing up, walking) can look like a contact there. The veto looks at the
*situation* of every committed contact before it is reported: the seconds before it and the frames up
to its decision (never later ones), and the contacts committed before it. Massage strokes come in
bouts, along the forearm, with the arm held up and still apart from the contact; ordinary movement
turns and moves the whole arm, leaves the floor of the drag band, and comes alone or without rhythm.

:meth:`ContactContext.features` turns the situation into :data:`CONTEXT_FEATURES` (units in the
names). Besides how the arm moves around the contact, they describe what massage is whatever movement
is around it: the arm still for most of the window, strokes of one length, pace, axis, place and
vibration within a bout, a rhythm of 0.8–4 s in the vibration, a stroker that moves while the treated
arm does not. A small network (:class:`~coach.signal.strokes.mlp.Mlp`, trained by
``benchmarks/veto_training.py``) gives the log-odds that the contact is a true stroke, less a penalty
for lying outside the *massage envelope* (the range true strokes span); :class:`MovementVeto` drops the
contact when they fall below the veto's threshold. With a :class:`Rhythm`, a contact that continues
a steady bout of strokes the veto reported is judged with the rhythm's own envelope weight and
threshold (:meth:`ContactContext.steady`). The parameters are data with their provenance
(``movement_veto.json`` beside this module, :func:`read_veto`).

A contact's features use frames ``[a − 6 s, committed_at + LOOKAHEAD]`` of the history, which the
history still holds when the contact is committed whatever the span boundaries (it keeps
``_KEEP`` = 7.7 s before the segmenter's base), and the contacts committed before it; so a veto
decision is the same for any cut of the session into spans.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.signal.strokes.contact_stats import RHYTHM_LAGS as RHYTHM_LAGS  # the rhythm's lags
from coach.signal.strokes.contact_stats import _correlation, _cv, _finite, _lmean, _median, _periodicity
from coach.signal.strokes.direction import TREATED_DIRECTION_FEATURES, finite
from coach.signal.strokes.mlp import Mlp
from coach.signal.strokes.segments import LOOKAHEAD, FrameHistory
from coach.signal.strokes.trained import read_parameter_file
from coach.signal.strokes.veto_kinematics import KINEMATIC_FEATURES, kinematic_features
from coach.signal.strokes.veto_tails import Tails as Tails  # the envelope taken jointly
from coach.signal.strokes.window_stats import BEFORE_FRAMES as BEFORE_FRAMES  # the veto reads these frames
from coach.signal.strokes.window_stats import NEAR_FRAMES as NEAR_FRAMES
from coach.signal.strokes.window_stats import clean_stats, scalar_stats
from coach.signal.strokes.window_stats import stat as _stat

VETO_FILE: Final = "movement_veto.json"
VETO_FORMAT: Final = "retro-coach-movement-veto"
VETO_FORMAT_VERSION: Final = 1
#: Where the shipped veto lives in a source checkout (the trainer writes here).
VETO_SOURCE_PATH: Final = Path(__file__).resolve().with_name(VETO_FILE)

#: Contacts committed within this many seconds before a contact's start count as its bout.
BOUT_S: Final = 15.0

#: What the veto's network reads (the second round's 49 numbers; :data:`CONTEXT_FEATURES` adds the
#: kinematic ones, read by the kinematic tails and by a network trained on them).
NETWORK_FEATURES: Final = (
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
    # the contact's own drag and pitch, as the direction network reads them
    *TREATED_DIRECTION_FEATURES,
    # what massage is, whatever the movement around it: the arm still, strokes of one rhythm, length,
    # axis and place, a stroker that moves while the treated arm does not
    "still_share_long",
    "log_duration_outside_design",
    "bout_duration_cv",
    "bout_gap_cv",
    "log_duration_vs_bout",
    "log_gap_vs_bout",
    "bout_along_share",
    "along_share_vs_bout",
    "bout_elevation_spread_deg",
    "elevation_vs_bout_deg",
    "vibration_in_vs_bout",
    "vibration_periodicity",
    "gyro_periodicity",
    "stroker_gyro_rise_in",
    "stroker_over_treated_gyro_in",
    "stroker_vibration_coupling",
)
#: Every feature of a contact: :data:`NETWORK_FEATURES` and how the treated wrist itself moves
#: (:mod:`~coach.signal.strokes.veto_kinematics`, sixth round).
CONTEXT_FEATURES: Final = (*NETWORK_FEATURES, *KINEMATIC_FEATURES)

#: Frame columns of ``treated`` (and the ``stroker`` columns aligned to it) that the veto reads.
WINDOW_COLUMNS: Final = (
    "gm",
    "lfr",
    "hfr",
    "el",
    "ex",
    "ey",
    "lz",
    "wx",
    "wy",
    "wz",
    "lx",
    "frame_ok",
    "s_gm",
    "s_ax",
    "s_ay",
    "s_az",
)
#: A frame counts as still when its largest high-passed angular rate is below this (log rad/s; 0.35 rad/s).
STILL_LOG_RPS: Final = math.log(0.35)
#: Stroke durations of the design (docs/design.md §6).
DESIGN_DURATION_S: Final = (0.8, 4.0)


@dataclass(slots=True)
class _Contact:
    t_start_s: float
    t_end_s: float
    logit: float
    along: float
    elevation_deg: float
    vibration: float
    #: Whether the veto let it through (every contact counts for the bout features either way).
    reported: bool = True


_BOUT_ALONG: Final = CONTEXT_FEATURES.index("bout_along_share")
#: At most this many reported strokes before a contact say what its rhythm is.
RHYTHM_CONTACTS: Final = 6


@dataclass(frozen=True, slots=True)
class Rhythm:
    """An established rhythm of massage (docs/strokes.md, "third round"): at least ``contacts`` strokes
    reported in the :data:`BOUT_S` before a contact, their start-to-start gaps alike (coefficient of
    variation at most ``gap_cv``), and the contact continuing them: its gap to the last reported stroke
    and its duration within a factor ``ratio`` of theirs (medians). Such a contact is judged with the
    envelope weight ``weight`` and the threshold ``least`` instead of the veto's own: strokes in a steady
    bout are massage whatever a single one looks like, while a contact that starts something new (the
    first strokes of a bout, or a movement) meets the veto's full test."""

    contacts: int
    ratio: float
    gap_cv: float
    weight: float
    least: float
    #: The bout's mean share of motion along the forearm (``bout_along_share``, log) must reach this
    #: for the leniency (fourth round): a rhythm of strokes glides along the forearm, a rhythm of
    #: taps (a phone held in the hand) does not. None: any axis (the third round's rule).
    along_min: float | None = None

    def admits(self, x: FloatArray) -> bool:
        """Whether a contact with features ``x`` that continues the rhythm's timing is in a bout of
        strokes along the forearm (always, without ``along_min``)."""
        return self.along_min is None or float(x[_BOUT_ALONG]) >= self.along_min

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Rhythm:
        along = d.get("along_min")
        return Rhythm(
            int(d["contacts"]),
            float(d["ratio"]),
            float(d["gap_cv"]),
            float(d["weight"]),
            float(d["least"]),
            None if along is None else float(along),
        )


def continues_rhythm(
    reported: list[tuple[float, float]], t_start_s: float, t_end_s: float, rhythm: Rhythm
) -> bool:
    """Whether a contact of ``[t_start_s, t_end_s]`` continues the ``rhythm`` of the strokes reported
    before it (``reported``: their spans in order, s)."""
    bout = [(a, b) for a, b in reported if t_start_s - BOUT_S <= a < t_start_s][-RHYTHM_CONTACTS:]
    if len(bout) < max(rhythm.contacts, 2):
        return False
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(bout)]
    g0 = _median(gaps)
    d0 = _median([b - a for a, b in bout])
    gap, d, r = t_start_s - bout[-1][0], t_end_s - t_start_s, rhythm.ratio
    return g0 > 0.0 and _cv(gaps) <= rhythm.gap_cv and g0 / r <= gap <= g0 * r and d0 / r <= d <= d0 * r


@dataclass(frozen=True, slots=True)
class ContactWindow:
    """What the veto reads of one committed contact: :data:`WINDOW_COLUMNS` over frames
    ``[lo, hi)`` (the seconds before it up to its decision), the contact at ``[a, b)`` of them."""

    cols: dict[str, FloatArray]
    a: int
    b: int
    t_a_s: float
    frame_s: float
    has_stroker: bool
    logit: float
    drag: FloatArray


class ContactContext:
    """The contacts committed so far (their bout), and the features of the next one.

    ``windows`` (None unless a trainer sets a list) keeps every contact's :class:`ContactWindow`, so
    that features can be recomputed without replaying (:meth:`window_features`)."""

    def __init__(self) -> None:
        self._recent: deque[_Contact] = deque(maxlen=16)
        self.windows: list[ContactWindow] | None = None
        #: Window statistics worked out ahead (:meth:`prepare`), by (a, b, decided).
        self._prepared: dict[tuple[int, int, int], dict[str, float]] = {}

    @staticmethod
    def _window(h: FrameHistory, a: int, decided: int) -> tuple[int, int]:
        """Frames ``[lo, hi)`` of the history the veto reads for a contact starting at ``a``."""
        return max(h.start, a - BEFORE_FRAMES), min(h.end, decided + 1)

    def prepare(self, h: FrameHistory, contacts: list[tuple[int, int, int]]) -> None:
        """Work out the window statistics of the contacts ``(a, b, decided)`` about to be described by
        :meth:`features` (in any order, before the history changes), all at once: the numbers are the
        same as one contact at a time, with numpy's fixed cost paid once per batch instead of per
        contact. Windows with a non-finite value are left to :meth:`features`."""
        self._prepared = {}
        if not contacts:
            return
        cols: dict[str, FloatArray] = {k: h.cols[k] for k in WINDOW_COLUMNS if k in h.cols}
        if "gm" not in cols:
            return
        spans = np.array([(*self._window(h, a, d), a, b) for a, b, d in contacts], dtype=np.int64)
        lo, hi = spans[:, 0] - h.start, spans[:, 1] - h.start
        bad = np.zeros(lo.shape[0], dtype=np.int64)
        for v in cols.values():
            off = np.concatenate(([0], np.cumsum(~np.isfinite(v))))
            bad += off[hi] - off[lo]
        ok = np.flatnonzero((bad == 0) & (hi > lo))
        if not ok.size:
            return
        lo_w = spans[ok, 0]
        stats = clean_stats(cols, lo[ok], (hi - lo)[ok], spans[ok, 2] - lo_w, spans[ok, 3] - lo_w)
        for i, st in zip(ok.tolist(), stats, strict=True):
            self._prepared[contacts[i]] = st

    def features(
        self, h: FrameHistory, a: int, b: int, decided: int, logit: float, drag: FloatArray
    ) -> FloatArray:
        """:data:`CONTEXT_FEATURES` of the contact of frames ``[a, b)`` committed with frames up to
        ``decided`` (inclusive) available (``drag``: its direction evidence); then it joins the bout
        of the contacts after it."""
        lo, hi = self._window(h, a, decided)
        cols: dict[str, FloatArray] = {
            k: h.cols[k][lo - h.start : hi - h.start] for k in WINDOW_COLUMNS if k in h.cols
        }
        w = ContactWindow(
            cols, a - lo, b - lo, float(h.t_s[a - h.start]), h.frame_s, "s_gm" in h.cols, logit, drag
        )
        if self.windows is not None:
            self.windows.append(replace(w, cols={k: v.copy() for k, v in cols.items()}, drag=drag.copy()))
        return self._features(w, self._prepared.pop((a, b, decided), None))

    def window_features(self, w: ContactWindow) -> FloatArray:
        """:data:`CONTEXT_FEATURES` of one contact's window; the contact then joins the bout."""
        return self._features(w, None)

    def _features(self, w: ContactWindow, prepared: dict[str, float] | None) -> FloatArray:
        """:meth:`window_features`, with the window's statistics when :meth:`prepare` worked them out
        (its columns are then all finite)."""
        c = w.cols
        a, b = w.a, w.b
        n = int(c["gm"].shape[0]) if "gm" in c else 0

        def win(name: str, f0: int, f1: int) -> FloatArray:
            f0, f1 = max(0, f0), min(n, f1)
            if name not in c or f1 <= f0:
                return np.empty(0)
            return c[name][f0:f1]

        if prepared is None:
            clean = {k for k, v in c.items() if bool(np.isfinite(v).all())}
            prepared = scalar_stats(c, a, b, clean)
        else:
            clean = set(c)
        s = prepared

        long = (0, n)
        lin_var = sum(s[f"{k}_std_long"] ** 2 for k in ("ex", "ey", "lz"))
        rot_var = sum(s[f"{k}_std_long"] ** 2 for k in ("wx", "wy", "wz"))
        inside_lin = sum(s[f"{k}_std_from_a"] ** 2 for k in ("ex", "ey", "lz"))
        along_var = s["lx_std_from_a"] ** 2
        along = float(np.log((along_var + 1e-6) / (inside_lin + 1e-6)))
        has_s = w.has_stroker and "s_gm" in c
        t_a = w.t_a_s
        duration = (b - a) * w.frame_s
        t_b = t_a + duration
        bout = [r for r in self._recent if t_a - BOUT_S <= r.t_start_s < t_a]
        since = t_a - self._recent[-1].t_end_s if self._recent else BOUT_S
        starts = [r.t_start_s for r in bout] + [t_a]
        gaps = np.diff(starts) if bout else np.empty(0)
        durations = [r.t_end_s - r.t_start_s for r in bout] + [duration]
        el_in = s["el_mean_in"]
        hf_in = s["hfr_mean_in"]
        gm_long = win("gm", *long)
        g = gm_long if "gm" in clean else gm_long[np.isfinite(gm_long)]
        d_lo, d_hi = DESIGN_DURATION_S
        if has_s:
            s_mean_in = s["s_gm_mean_in"]
            # the mean just before the contact (the mean inside when there are no frames before it)
            s_mean_near = s["s_gm_mean_near"] if min(n, a) > max(0, a - NEAR_FRAMES) else s_mean_in
            s_acc = np.sqrt(sum(_finite(win(k, *long), k in clean) ** 2 for k in ("s_ax", "s_ay", "s_az")))
            hf_long = _finite(win("hfr", *long), "hfr" in clean)
            coupling = (
                _correlation(s_acc, hf_long)
                if s_acc.shape[0] > 3
                and _stat(s_acc, "std", 0.0, clean=True) > 1e-9
                and _stat(hf_long, "std", 0.0, clean=True) > 1e-9
                else 0.0
            )
            stroker = [
                s_mean_in - s_mean_near,
                s_mean_in - s["gm_mean_in"],
                coupling,
            ]
        else:
            stroker = [0.0, 0.0, 0.0]
        x = np.array(
            [
                w.logit,
                duration,
                s["gm_max_before"],
                s["gm_max_near"],
                s["gm_max_in"],
                s["gm_max_after"],
                s["gm_mean_long"],
                s["lfr_max_near"],
                s["lfr_mean_long"],
                s["lfr_max_after"],
                hf_in,
                s["hfr_mean_near"],
                s["hfr_mean_long"],
                s["el_mean_long"],
                s["el_std_long"],
                s["el_range_near_b"],
                0.5 * np.log(lin_var + 1e-6),
                0.5 * np.log(rot_var + 1e-6),
                along,
                s["frame_ok_mean_long"],
                float(has_s),
                s["s_gm_max_in"] if has_s else 0.0,
                s["s_gm_mean_long"] if has_s else 0.0,
                float(len(bout)),
                min(max(since, 0.0), BOUT_S),
                _lmean([r.logit for r in bout]) if bout else 0.0,
                _stat(gaps, "mean", BOUT_S, clean=True),
                *[min(max(v, -100.0), 100.0) for v in finite(w.drag).tolist()],  # np.clip, finite values
                int(np.count_nonzero(g < STILL_LOG_RPS)) / g.shape[0] if g.shape[0] else 0.0,
                max(0.0, math.log(d_lo / max(duration, 1e-3)), math.log(max(duration, 1e-3) / d_hi)),
                _cv(durations),
                _cv(gaps.tolist()),
                math.log(duration / _median(durations[:-1])) if bout else 0.0,
                math.log(max(gaps[-1], 1e-3) / _median(gaps[:-1].tolist())) if gaps.shape[0] > 1 else 0.0,
                _lmean([r.along for r in bout]) if bout else along,
                along - _lmean([r.along for r in bout]) if bout else 0.0,
                _stat(np.array([r.elevation_deg for r in bout] + [el_in]), "std", 0.0, clean=True),
                el_in - _median([r.elevation_deg for r in bout]) if bout else 0.0,
                hf_in - _lmean([r.vibration for r in bout]) if bout else 0.0,
                _periodicity(win("hfr", *long), "hfr" in clean),
                _periodicity(gm_long, "gm" in clean),
                *stroker,
                *kinematic_features(c, a, b, w.frame_s),
            ]
        )
        self._recent.append(_Contact(t_a, t_b, w.logit, along, el_in, hf_in))
        out: FloatArray = finite(x)
        return out

    def steady(self, rhythm: Rhythm | None) -> bool:
        """Whether the last contact (the one :meth:`features` just described) continues an established
        ``rhythm`` of the strokes reported before it."""
        if rhythm is None or not self._recent:
            return False
        c = self._recent[-1]
        spans = [(r.t_start_s, r.t_end_s) for r in list(self._recent)[:-1] if r.reported]
        return continues_rhythm(spans, c.t_start_s, c.t_end_s, rhythm)

    def decided(self, reported: bool) -> None:
        """Whether the veto let the last contact through (it then counts for the rhythm of the next)."""
        if self._recent:
            self._recent[-1].reported = reported


@dataclass(frozen=True, slots=True)
class MovementVeto:
    """The veto's network and threshold: a contact is reported when its log-odds reach ``least``.

    The *envelope* says what massage is in numbers: for each feature in ``envelope`` (indices into
    :data:`CONTEXT_FEATURES`), the range ``[lo, hi]`` that the true strokes of the training sessions
    span, and its spread ``scale``. A contact outside it on any of them loses ``weight`` log-odds per
    ``scale`` beyond the range, whatever the network learned from the movements it was shown.
    ``kinematics`` (sixth round): tails of their own on :data:`KINEMATIC_FEATURES` (indices
    ``kinematic``), taken off every contact, in a rhythm too: a contact during which the wrist itself
    moves as no true stroke's does is not a stroke, however steady the bout around it."""

    net: Mlp
    least: float
    envelope: tuple[int, ...] = ()
    lo: FloatArray | None = None
    hi: FloatArray | None = None
    scale: FloatArray | None = None
    weight: float = 0.0
    rhythm: Rhythm | None = None
    tails: Tails | None = None
    #: How many of :data:`CONTEXT_FEATURES` (from the first) the network reads.
    n_net: int = len(NETWORK_FEATURES)
    kinematics: Tails | None = None
    kinematic: tuple[int, ...] = ()

    def outside(self, x: FloatArray) -> float:
        """How far (in ``scale`` units, summed) the contact lies outside the massage envelope."""
        if not self.envelope or self.lo is None or self.hi is None or self.scale is None:
            return 0.0
        v = x[list(self.envelope)]
        return float(np.maximum(0.0, np.maximum(self.lo - v, v - self.hi) / self.scale).sum())

    def keep(self, x: FloatArray, steady: bool = False) -> tuple[bool, float]:
        """Whether the contact with features ``x`` is reported, and its log-odds; ``steady``: it
        continues an established rhythm of strokes (:class:`Rhythm`, :meth:`ContactContext.steady`)."""
        weight, least = self.weight, self.least
        if steady and self.rhythm is not None and self.rhythm.admits(x):
            weight, least = self.rhythm.weight, self.rhythm.least
        z = float(self.net.logit(x[None, : self.n_net])[0]) - weight * self.outside(x) - self._tail_loss(x)
        return z >= least, z

    def _tail_loss(self, x: FloatArray) -> float:
        """The log-odds the envelope's :class:`Tails` and the kinematic tails take off (0 without them)."""
        loss = 0.0 if self.tails is None or not self.envelope else self.tails.loss(x[list(self.envelope)])
        if self.kinematics is not None:
            loss += self.kinematics.loss(x[list(self.kinematic)])
        return loss

    def decide(self, x: FloatArray, spans: FloatArray) -> tuple[npt.NDArray[np.bool_], FloatArray]:
        """:meth:`keep` for a session's committed contacts in order at once (features ``x``, one row
        each; ``spans``: their start and end, s), with the rhythm of the strokes reported before each,
        as :class:`ContactContext` keeps it in a replay (the 15 contacts before each)."""
        n = x.shape[0]
        keep = np.zeros(n, dtype=bool)
        z = np.zeros(n, dtype=np.float64)
        if n == 0:
            return keep, z
        net = self.net.logit(x[:, : self.n_net])
        out = np.array([self.outside(r) for r in x], dtype=np.float64)
        tail = np.array([self._tail_loss(r) for r in x], dtype=np.float64)
        recent: deque[tuple[float, float, bool]] = deque(maxlen=15)
        for i in range(n):
            a, b = float(spans[i, 0]), float(spans[i, 1])
            weight, least = self.weight, self.least
            if (
                self.rhythm is not None
                and self.rhythm.admits(x[i])
                and continues_rhythm([(p, q) for p, q, k in recent if k], a, b, self.rhythm)
            ):
                weight, least = self.rhythm.weight, self.rhythm.least
            z[i] = float(net[i]) - weight * float(out[i]) - float(tail[i])
            keep[i] = z[i] >= least
            recent.append((a, b, bool(keep[i])))
        return keep, z

    @staticmethod
    def from_dict(d: dict[str, Any]) -> MovementVeto:
        names = tuple(d.get("features", ()))
        if names not in (NETWORK_FEATURES, CONTEXT_FEATURES):
            raise ValueError(f"movement veto features {names} differ from this code's {CONTEXT_FEATURES}")
        env = d.get("envelope") or {}
        idx = tuple(CONTEXT_FEATURES.index(f) for f in env.get("features", ()))
        rhythm = Rhythm.from_dict(d["rhythm"]) if d.get("rhythm") else None
        tails = Tails.from_dict(env["tails"]) if env.get("tails") else None
        kin = d.get("kinematics") or {}
        extra: dict[str, Any] = {"n_net": len(names)}
        if kin:
            extra["kinematics"] = Tails.from_dict(kin)
            extra["kinematic"] = tuple(CONTEXT_FEATURES.index(f) for f in kin["features"])
        if not idx:
            return MovementVeto(Mlp.from_dict(d["net"]), float(d["least"]), rhythm=rhythm, **extra)
        return MovementVeto(
            Mlp.from_dict(d["net"]),
            float(d["least"]),
            idx,
            np.asarray(env["lo"], dtype=np.float64),
            np.asarray(env["hi"], dtype=np.float64),
            np.asarray(env["scale"], dtype=np.float64),
            float(env["weight"]),
            rhythm,
            tails,
            **extra,
        )


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
