"""The default stroke detector (see docs/strokes.md): :func:`create_detector` for the pipeline slot
of :mod:`coach.signal.strokes.api`.

Three stages, all streaming and independent of how the session is cut into spans:

1. :mod:`~coach.signal.strokes.frames`: each role's calibrated samples → 10 Hz frames of physical
   evidence (rubbing vibration, drag transients, pitch, vertical push, rotation; the stroker's motion).
2. :mod:`~coach.signal.strokes.segments`: every candidate contact of 0.3–5 s gets a vector of evidence
   and log-odds from a small trained network (:mod:`~coach.signal.strokes.mlp`);
   :mod:`~coach.signal.strokes.segmenter` keeps the best non-overlapping set and commits a contact one
   frame after its end (about 0.4 s after it).
3. :mod:`~coach.signal.strokes.direction`: the direction of a committed contact from the limb's drag
   and pitch (``treated``), and from the glide of the massaging wrist (``stroker``) when present.

The trained parameters are data (``model.json``, :mod:`~coach.signal.strokes.trained`). The detector
reads only the :class:`~coach.signal.strokes.api.StrokeStep` spans and the
:class:`~coach.signal.strokes.api.StrokeContext`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from coach.samples import FloatArray
from coach.signal.strokes.api import MAX_STROKE_LATENCY_S, Stroke, StrokeContext, StrokeStep
from coach.signal.strokes.direction import (
    MIN_DIRECTION_PROB,
    DirectionModel,
    GlideAxis,
    SampleRing,
    direction_model_from_dict,
    stroker_evidence,
    stroker_glide,
    treated_evidence,
)
from coach.signal.strokes.frames import BoolArray, FrameStream
from coach.signal.strokes.mlp import Mlp, sigmoid
from coach.signal.strokes.movement import ContactContext, MovementVeto, decided_frame, read_veto
from coach.signal.strokes.scoring import segment_logits
from coach.signal.strokes.segmenter import Segment, Segmenter
from coach.signal.strokes.segments import (
    LOOKAHEAD,
    FrameHistory,
    IntArray,
    candidates_possible,
    segment_features,
)
from coach.signal.strokes.trained import read_model
from coach.units import GRAVITY_MPS2

_EPS: Final = 1e-9
#: A region is reported when its share of the regions' probabilities reaches this; else ``None``.
REGION_MIN_SHARE: Final = 0.8
#: Candidate end frames scored at once (60 s of frames).
_ENDS_PER_BATCH: Final = 600
#: A run of end frames where no candidate is possible (a gap) this long is skipped, not scored.
_MIN_SKIP_FRAMES: Final = 20


@dataclass(frozen=True, slots=True)
class DetectorModel:
    """The trained parameters (the ``parameters`` of ``model.json``)."""

    treated: Mlp
    with_stroker: Mlp | None
    bias: float
    bias_stroker: float
    direction_treated: DirectionModel
    direction_stroker: DirectionModel | None
    calib_a: float  # P(stroke) = sigmoid(calib_a · log-odds + calib_b)
    calib_b: float
    quiet_max: tuple[float, float] | None = None
    screen: tuple[FloatArray, float, float] | None = None
    #: One-vs-rest networks per region, per evidence set (``treated``, ``stroker``); None: no regions.
    region: dict[str, dict[str, Mlp]] | None = None
    #: The movement veto (:mod:`~coach.signal.strokes.movement`); None: every committed contact counts.
    veto: MovementVeto | None = None

    @staticmethod
    def from_dict(d: dict[str, Any]) -> DetectorModel:
        return DetectorModel(
            Mlp.from_dict(d["treated"]),
            Mlp.from_dict(d["with_stroker"]) if d.get("with_stroker") else None,
            float(d.get("bias", 0.0)),
            float(d.get("bias_stroker", d.get("bias", 0.0))),
            direction_model_from_dict(d["direction_treated"]),
            direction_model_from_dict(d["direction_stroker"]) if d.get("direction_stroker") else None,
            float(d.get("calib_a", 1.0)),
            float(d.get("calib_b", 0.0)),
            (float(d["quiet_max"][0]), float(d["quiet_max"][1])) if d.get("quiet_max") else None,
            (
                np.asarray(d["screen"]["w"], dtype=np.float64),
                float(d["screen"]["b"]),
                float(d["screen"]["least"]),
            )
            if d.get("screen")
            else None,
            {
                evidence: {reg: Mlp.from_dict(net) for reg, net in nets.items()}
                for evidence, nets in d["region"].items()
                if nets
            }
            if d.get("region")
            else None,
            MovementVeto.from_dict(d["movement_veto"]) if d.get("movement_veto") else None,
        )


_DEFAULT: DetectorModel | None = None


def default_model() -> DetectorModel:
    """The shipped model (``model.json``) with the shipped movement veto (``movement_veto.json``), read
    once."""
    global _DEFAULT
    if _DEFAULT is None:
        parameters, _ = read_model()
        if "movement_veto" not in parameters:
            parameters = {**parameters, "movement_veto": read_veto()[0]}
        _DEFAULT = DetectorModel.from_dict(parameters)
    return _DEFAULT


#: What the default detector cannot judge, by whether the session has a ``stroker`` sensor (measured:
#: ``./run bench families``, region recall per sensor set, docs/strokes.md). ``finger_strokes``: strokes
#: on the fingers and between them are mostly missed (the watch at the forearm barely feels them, and the
#: detector does not read the ``hand`` sensor). ``hand_strokes``: strokes on the back of the hand and the
#: palm are often missed.
UNSEEN: Final[dict[bool, tuple[str, ...]]] = {
    False: ("finger_strokes", "hand_strokes"),
    True: ("finger_strokes",),
}


def unseen_strokes(roles: tuple[str, ...]) -> tuple[str, ...]:
    """The ``checks_off`` names of what the default detector cannot judge with these sensor roles."""
    return UNSEEN["stroker" in roles]


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """What the detector knew about one committed contact (for training and diagnostics)."""

    t_start_s: float
    t_end_s: float
    logit: float
    treated: FloatArray
    stroker: FloatArray | None
    p_distal: float
    #: The movement veto's evidence (:data:`~coach.signal.strokes.movement.CONTEXT_FEATURES`), its
    #: log-odds (None without a veto) and whether the contact was reported.
    context: FloatArray | None = None
    veto_logit: float | None = None
    reported: bool = True


class StrokeDetector:
    """Streaming stroke detector (the :class:`~coach.signal.strokes.api.StrokeDetector` protocol).

    ``model=None`` only builds the frame history (for training); ``keep_frames`` keeps all of it;
    ``record`` keeps a :class:`ContactRecord` per committed contact in :attr:`records`.
    """

    def __init__(
        self,
        context: StrokeContext,
        model: DetectorModel | str | None = "default",
        *,
        keep_frames: bool = False,
        record: bool = False,
    ) -> None:
        self.context = context
        if isinstance(model, str):
            if model != "default":
                raise ValueError(f"unknown model {model!r}")
            model = default_model()
        self.model: DetectorModel | None = model
        rate = float(context.rates_hz["treated"])
        self._treated = FrameStream("treated", rate)
        self._stroker: FrameStream | None = None
        s_frame_s = 0.1
        if "stroker" in context.roles:
            self._stroker = FrameStream("stroker", float(context.rates_hz["stroker"]))
            s_frame_s = self._stroker.frame_s
        self.history = FrameHistory(self._treated.frame_s, rate, keep_all=keep_frames, s_frame_s=s_frame_s)
        self.history.has_stroker = self._stroker is not None
        self._last_sample_s = (self._treated.k - 1) / rate
        # Latest frame after a contact's end at which it can still be reported in time.
        max_late = math.floor((MAX_STROKE_LATENCY_S + self._last_sample_s) / self._treated.frame_s + 1e-6)
        self.segmenter = Segmenter(max(0, max_late - LOOKAHEAD - 1))
        self.axis = GlideAxis()
        self.contacts = ContactContext()
        self._ring_t = SampleRing()
        self._ring_s = SampleRing() if self._stroker is not None else None
        self.records: list[ContactRecord] | None = [] if record else None
        #: What this detector cannot judge with the session's sensors (summary ``checks_off``).
        self.checks_off: tuple[str, ...] = unseen_strokes(context.roles)

    # -- the slot protocol -----------------------------------------------------------------------
    #: The roles :meth:`process` reads (the pipeline need not work out the others' signals).
    roles_read: tuple[str, ...] = ("treated", "stroker")

    def quiet_until_s(self) -> float:
        """A span ending at or before this time cannot make :meth:`process` return a stroke: it
        completes no ``treated`` frame, so :meth:`_advance` has nothing new to score (``-inf`` before
        the first span; half a sample early, so a span boundary's rounding cannot matter). The pipeline
        may hold such spans and hand them over joined with the next."""
        return self._treated.next_frame_at_s - 0.5 / self._treated.rate_hz

    def process(self, step: StrokeStep) -> list[Stroke]:
        if self._stroker is not None and "stroker" in step.roles:
            s = step.roles["stroker"]
            self.history.add_stroker(self._stroker.push(s))
            if self._ring_s is not None:
                lin = s.acc_lin_earth_mps2
                self._ring_s.push(s.t_s, {"ax": lin[:, 0], "ay": lin[:, 1], "az": lin[:, 2]})
        tr = step.roles["treated"]
        self.history.add_treated(self._treated.push(tr))
        lx = tr.acc_mps2[:, 0] - GRAVITY_MPS2 * tr.up[:, 0]
        self._ring_t.push(tr.t_s, {"lx": lx, "el": tr.elevation_deg})
        return self._advance()

    def finish(self, t_end_s: float) -> list[Stroke]:
        """End of input: every contact whose evidence was complete has been reported by ``process``;
        one still pending (in contact, or without the frames after it) is dropped."""
        return []

    # -- internals -------------------------------------------------------------------------------
    def _advance(self) -> list[Stroke]:
        h = self.history
        last_end = h.end - 1 - LOOKAHEAD
        first = self.segmenter.next_end
        if first > last_end:
            return []
        if self.model is None:
            self.segmenter.next_end = last_end + 1
            h.trim(last_end)
            return []
        m = self.model
        out: list[Stroke] = []
        # A long span (a replay reads ~10 minutes at a time) is scored in slices of frames: the evidence
        # of one end does not depend on the others, and the memory stays bounded (~50 MB a slice).
        for lo in range(first, last_end + 1, _ENDS_PER_BATCH):
            batch_ends = np.arange(lo, min(lo + _ENDS_PER_BATCH, last_end + 1), dtype=np.int64)
            for ends, score in _runs(batch_ends, candidates_possible(h, batch_ends)):
                if not score:
                    # No candidate can be scored here (a gap in the data): nothing to compute.
                    out += self._reported(self.segmenter.skip(int(ends[-1]) + 1))
                    continue
                batch = segment_features(h, ends)
                logits = segment_logits(
                    batch,
                    m.treated,
                    m.with_stroker,
                    m.bias,
                    m.bias_stroker,
                    m.quiet_max,
                    m.screen,
                    floor=0.0,  # the segmenter uses only positive log-odds
                )
                # Only ends with a positive log-odds need a step of the programme; the runs between them
                # are crossed with Segmenter.skip (exactly what stepping through them would do).
                for i in np.flatnonzero((logits > 0.0).any(axis=1)).tolist():
                    e = int(ends[i])
                    out += self._reported(self.segmenter.skip(e))
                    out += self._reported(self.segmenter.step(e, logits[i]))
                out += self._reported(self.segmenter.skip(int(ends[-1]) + 1))
        h.trim(self.segmenter.base)
        keep_s = self._frame_t(min(self.segmenter.base, h.end - 1)) - 2.0
        self._ring_t.trim_before(keep_s)
        if self._ring_s is not None:
            self._ring_s.trim_before(keep_s)
        return out

    def _frame_t(self, f: int) -> float:
        h = self.history
        return float(h.t_s[f - h.start])

    def _reported(self, segments: list[Segment]) -> list[Stroke]:
        """The strokes of committed segments, in order, without those the movement veto drops."""
        return [s for s in map(self._stroke, segments) if s is not None]

    def _stroke(self, seg: Segment) -> Stroke | None:
        """The stroke of a committed contact, or None when the movement veto drops it."""
        assert self.model is not None
        m = self.model
        t_start, t_end = self._frame_t(seg.a), self._frame_t(seg.b)
        decided = self._frame_t(seg.committed_at + LOOKAHEAD) + self._last_sample_s
        x_t = treated_evidence(self._ring_t, t_start, t_end)
        x_c: FloatArray | None = None
        keep, z_veto = True, None
        if m.veto is not None or self.records is not None:
            x_c = self.contacts.features(
                self.history, seg.a, seg.b, decided_frame(seg.committed_at), seg.logit, x_t
            )
            if m.veto is not None:
                keep, z_veto = m.veto.keep(x_c)
        if not keep and self.records is None:
            return None
        p_distal = m.direction_treated.p(np.nan_to_num(x_t))
        sensor = "treated"
        x_s: FloatArray | None = None
        glide = None
        if m.direction_stroker is not None and self._ring_s is not None:
            glide = stroker_glide(self._ring_s, self._ring_t, t_start, t_end)
        if glide is not None and m.direction_stroker is not None:
            x_s = stroker_evidence(glide[0], glide[1], self.axis)
            p_distal = m.direction_stroker.p(np.nan_to_num(np.concatenate((x_t, x_s))))
            sensor = "stroker"
            if keep:  # a vetoed contact teaches nothing (recording must not change what is reported)
                self.axis.learn(glide[0], glide[1])
        if p_distal >= MIN_DIRECTION_PROB:
            direction, p_dir = "distal", p_distal
        elif p_distal <= 1.0 - MIN_DIRECTION_PROB:
            direction, p_dir = "proximal", 1.0 - p_distal
        else:
            direction, p_dir = "unknown", max(p_distal, 1.0 - p_distal)
        p_stroke = sigmoid(m.calib_a * seg.logit + m.calib_b)
        if self.records is not None:
            self.records.append(
                ContactRecord(t_start, t_end, seg.logit, x_t, x_s, p_distal, x_c, z_veto, keep)
            )
        if not keep:
            return None
        region = self._region(x_t, x_s, t_end - t_start)
        return Stroke(
            t_start,
            t_end,
            direction,  # type: ignore[arg-type]
            p_stroke * p_dir,
            sensor,
            decided,
            region,
            p_distal,
        )

    def _region(self, x_t: FloatArray, x_s: FloatArray | None, duration_s: float) -> str | None:
        """The region whose share of the one-vs-rest probabilities reaches :data:`REGION_MIN_SHARE`."""
        nets_by = self.model.region if self.model is not None else None
        if not nets_by:
            return None
        x = np.concatenate((np.nan_to_num(x_t), [duration_s]))
        nets = nets_by.get("treated")
        if x_s is not None and nets_by.get("stroker"):
            x, nets = np.concatenate((x, np.nan_to_num(x_s))), nets_by["stroker"]
        if not nets:
            return None
        p = {reg: sigmoid(float(net.logit(x[None, :])[0])) for reg, net in nets.items()}
        best = max(p, key=lambda k: p[k])
        return best if p[best] / max(sum(p.values()), _EPS) >= REGION_MIN_SHARE else None


def _runs(ends: IntArray, possible: BoolArray) -> list[tuple[IntArray, bool]]:
    """``ends`` cut into runs to score (``True``) and runs to skip (``False``: at least
    :data:`_MIN_SKIP_FRAMES` ends in a row where no candidate is possible; shorter ones are scored,
    which finds nothing there either). The evidence of an end does not depend on the other ends of its
    batch, so cutting changes no number."""
    impossible = np.concatenate(([False], ~possible, [False]))
    edges = np.flatnonzero(np.diff(impossible.astype(np.int8)))
    out: list[tuple[IntArray, bool]] = []
    at = 0
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if b - a < _MIN_SKIP_FRAMES:
            continue
        if a > at:
            out.append((ends[at:a], True))
        out.append((ends[a:b], False))
        at = b
    if at < ends.shape[0]:
        out.append((ends[at:], True))
    return out


def create_detector(context: StrokeContext) -> StrokeDetector:
    """The pipeline's default detector (see the module docstring)."""
    return StrokeDetector(context)
