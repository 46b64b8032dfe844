"""The default stroke detector (see docs/strokes.md): :func:`create_detector` for the pipeline slot
of :mod:`coach.signal.strokes.api`.

Three stages, all streaming and independent of how the session is cut into spans:

1. :mod:`~coach.signal.strokes.frames`: each role's calibrated samples → 10 Hz frames of physical
   evidence (rubbing vibration, drag transients, pitch, vertical push, rotation; the stroker's motion).
2. :mod:`~coach.signal.strokes.segments`: every candidate contact of 0.3–5 s gets a vector of evidence
   and log-odds from a small trained network (:mod:`~coach.signal.strokes.mlp`);
   :mod:`~coach.signal.strokes.segmenter` keeps the best non-overlapping set and commits a contact one
   frame after its end (about 0.4 s after it). A contact that continues the last stroke (a re-grip:
   :data:`MERGE_GAP_S`) is not reported again.
3. :mod:`~coach.signal.strokes.direction`: the direction of a committed contact from the limb's drag
   and pitch (``treated``), and from the glide of the massaging wrist (``stroker``) when present.

The trained parameters are data (``model.json``, :mod:`~coach.signal.strokes.trained`). The detector
reads only the :class:`~coach.signal.strokes.api.StrokeStep` spans and the
:class:`~coach.signal.strokes.api.StrokeContext`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
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
    finite,
    stroker_evidence,
    stroker_glide,
    stroker_shape_evidence,
    treated_direction_input,
    treated_evidence,
    treated_shape_evidence,
)
from coach.signal.strokes.frames import BoolArray, FrameStream
from coach.signal.strokes.hand import AlignedRole, HandModel, contact_hand_evidence
from coach.signal.strokes.mlp import Mlp, sigmoid
from coach.signal.strokes.movement import ContactContext, MovementVeto, decided_frame, read_veto
from coach.signal.strokes.pitch_gate import PitchGate, PitchRange
from coach.signal.strokes.scoring import segment_logits
from coach.signal.strokes.segmenter import Segment, Segmenter
from coach.signal.strokes.segments import (
    LOOKAHEAD,
    FrameHistory,
    IntArray,
    candidates_possible,
    segment_features,
)
from coach.signal.strokes.trained import read_direction, read_model
from coach.units import GRAVITY_MPS2

_EPS: Final = 1e-9
#: A region is reported when its share of the regions' probabilities reaches this; else ``None``.
REGION_MIN_SHARE: Final = 0.8
#: A contact that starts less than this after the last reported stroke's end, with its P(distal) on the
#: same side of 0.5, is that stroke going on after a re-grip or a stick-slip release (docs/strokes.md,
#: "split strokes"): it is not reported again. Between two true strokes the hand lifts and returns
#: (0.5 s or more on every family's tune seeds but the helper's pressed returns, which go the other way).
MERGE_GAP_S: Final = 0.25
#: With a ``stroker``, a candidate may keep the larger of the stroker model's log-odds and the ``treated``
#: model's (``segment_logits(keep_treated=...)``): the stroker model, trained where the wrist follows the
#: glide, misses ``helper``-family strokes the watch alone finds. Off: on the tune seeds it raised helper
#: recall 0.82 -> 0.91 but doubled false strokes in ordinary movement with a stroker (docs/strokes.md,
#: "direction with the helper's sensor, third session").
STROKER_KEEPS_TREATED: Final = False
#: With :data:`STROKER_KEEPS_TREATED`, the ``treated`` model's log-odds count less this much there
#: (``segment_logits(treated_margin=...)``). Tried on the tune seeds at 0, 1 and 2: the helper's recall
#: gain shrinks with the margin faster than the cost in ``contact`` and ``regions`` (split strokes, the
#: helper's-sensor direction), so neither is on (docs/strokes.md, "the helper's recall, fourth session").
STROKER_TREATED_MARGIN: Final = 0.0
#: Candidate end frames scored at once (60 s of frames).
_ENDS_PER_BATCH: Final = 600
#: A run of end frames where no candidate is possible (a gap) this long is skipped, not scored.
_MIN_SKIP_FRAMES: Final = 20
#: Frames the detector waits for late ``hand`` frames before scoring without them.
_HAND_MAX_LAG: Final = 10


#: A stroke's region networks (by region) and their input row.
_RegionInput = tuple[dict[str, Mlp], FloatArray]


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
    #: Networks used only with a ``hand`` sensor (:mod:`~coach.signal.strokes.hand`); None: it is ignored.
    hand: HandModel | None = None
    #: The watch-alone direction's pitch range gate (:mod:`~coach.signal.strokes.pitch_gate`); None: no gate.
    pitch_gate: PitchGate | None = None

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
            HandModel.from_dict(d["hand"]) if d.get("hand") else None,
            PitchGate.from_dict(d["direction_pitch_gate"]) if d.get("direction_pitch_gate") else None,
        )


_DEFAULT: DetectorModel | None = None


def default_model() -> DetectorModel:
    """The shipped model (``model.json``) with the shipped direction networks (``direction.json``, when
    present) and movement veto (``movement_veto.json``), read once."""
    global _DEFAULT
    if _DEFAULT is None:
        parameters, _ = read_model()
        direction = read_direction()
        if direction is not None:  # direction networks trained apart (benchmarks.direction_training)
            parameters = {**parameters, **direction[0]}
        if "movement_veto" not in parameters:
            parameters = {**parameters, "movement_veto": read_veto()[0]}
        _DEFAULT = DetectorModel.from_dict(parameters)
    return _DEFAULT


#: What the default detector cannot judge, by whether the session has a ``stroker`` sensor (measured:
#: ``./run bench families``, region recall per sensor set, docs/strokes.md). ``finger_strokes``: strokes
#: on the fingers and between them are mostly missed (the watch at the forearm barely feels them; the
#: shipped model has no ``hand`` section, and the hand-sensor candidate brings finger recall with every
#: sensor from 0.24 to 0.53 only, not to the 0.8 that would let the name go). ``hand_strokes``: strokes on
#: the back of the hand and the palm are often missed (with ``treated`` + ``hand``: 0.56 and 0.41).
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
    #: With a ``hand`` sensor: the direction evidence taken on the hand, and
    #: :data:`~coach.signal.strokes.hand.HAND_CONTACT_FEATURES` (None where its frames were not valid).
    hand: FloatArray | None = None
    hand_contact: FloatArray | None = None
    #: :data:`~coach.signal.strokes.direction.TREATED_SHAPE_FEATURES` (recorded, or read by a direction
    #: network that takes them).
    treated_shape: FloatArray | None = None
    #: :data:`~coach.signal.strokes.direction.STROKER_SHAPE_FEATURES` (recorded, or read by a stroker
    #: direction network that takes them).
    stroker_shape: FloatArray | None = None


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
        self._hand: FrameStream | None = None
        self._ring_h: SampleRing | None = None
        if "hand" in context.roles and (model is None or model.hand is not None or record):
            self._hand = FrameStream("hand", float(context.rates_hz["hand"]))
            self.history.hand = AlignedRole(self._hand.frame_s)
            self.history.hand_hist = FrameHistory(
                self._hand.frame_s, float(context.rates_hz["hand"]), keep_all=keep_frames
            )
            self._ring_h = SampleRing()
        self._last_sample_s = (self._treated.k - 1) / rate
        # Latest frame after a contact's end at which it can still be reported in time.
        max_late = math.floor((MAX_STROKE_LATENCY_S + self._last_sample_s) / self._treated.frame_s + 1e-6)
        self.segmenter = Segmenter(max(0, max_late - LOOKAHEAD - 1))
        self.axis = GlideAxis()
        self.pitch = PitchRange(None if model is None else model.pitch_gate)
        self.contacts = ContactContext()
        self._ring_t = SampleRing()
        self._ring_s = SampleRing() if self._stroker is not None else None
        self.records: list[ContactRecord] | None = [] if record else None
        #: End and P(distal) of the last reported stroke (or of the contact merged into it).
        self._last_end_s = -math.inf
        self._last_distal = False
        #: Contacts not reported because they continued the stroke before them.
        self.merged = 0
        #: What this detector cannot judge with the session's sensors (summary ``checks_off``).
        self.checks_off: tuple[str, ...] = unseen_strokes(context.roles)

    # -- the slot protocol -----------------------------------------------------------------------
    @property
    def roles_read(self) -> tuple[str, ...]:
        """The roles :meth:`process` reads (the pipeline need not work out the others' signals): the
        ``hand`` only when the model has hand networks (or contacts are recorded)."""
        return ("treated", "stroker", "hand") if self._hand is not None else ("treated", "stroker")

    def quiet_until_s(self) -> float:
        """A span ending at or before this time cannot make :meth:`process` return a stroke: it
        completes no ``treated`` frame, nor a ``hand`` frame scoring may wait for (:meth:`_hand_wait`),
        so :meth:`_advance` has nothing new to score (``-inf`` before the first span; half a sample
        early, so a span boundary's rounding cannot matter). The pipeline may hold such spans and hand
        them over joined with the next.

        With nothing pending in the segmenter (:attr:`Segmenter.idle`) and no end left unscored, one
        frame later: the next ``treated`` frame lets exactly one end be scored (a ``hand`` frame before
        it none), and that end's step cannot commit a contact, so a live detector runs about every
        other frame between contacts."""
        quiet = self._treated.next_frame_at_s - 0.5 / self._treated.rate_hz
        if (
            self.model is not None
            and self.segmenter.idle
            and self.segmenter.next_end == self.history.end - LOOKAHEAD
        ):
            return quiet + self._treated.frame_s
        if self._hand is not None:
            quiet = min(quiet, self._hand.next_frame_at_s - 0.5 / self._hand.rate_hz)
        return quiet

    def process(self, step: StrokeStep) -> list[Stroke]:
        if self._stroker is not None and "stroker" in step.roles:
            s = step.roles["stroker"]
            self.history.add_stroker(self._stroker.push(s))
            if self._ring_s is not None:
                lin = s.acc_lin_earth_mps2
                self._ring_s.push(s.t_s, {"ax": lin[:, 0], "ay": lin[:, 1], "az": lin[:, 2]})
        if self._hand is not None and self.history.hand is not None and "hand" in step.roles:
            hs = step.roles["hand"]
            hand_frames = self._hand.push(hs)
            self.history.hand.add(hand_frames)
            if self.history.hand_hist is not None:
                self.history.hand_hist.add_treated(hand_frames)
            if self._ring_h is not None:
                hlx = hs.acc_mps2[:, 0] - GRAVITY_MPS2 * hs.up[:, 0]
                self._ring_h.push(hs.t_s, {"lx": hlx, "el": hs.elevation_deg})
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
        last_end = self._hand_wait(h.end - 1 - LOOKAHEAD)
        first = self.segmenter.next_end
        if first > last_end:
            return []
        if self.model is None:
            self.segmenter.next_end = last_end + 1
            h.trim(last_end)
            return []
        m = self.model
        # The contacts committed in this call, described after the segmenter has run (its choices do
        # not depend on what is reported, and the history is not trimmed before the end of the call),
        # so their per-contact evidence is worked out in batches.
        committed: list[Segment] = []
        # A long span (a replay reads ~10 minutes at a time) is scored in slices of frames: the evidence
        # of one end does not depend on the others, and the memory stays bounded (~50 MB a slice).
        for lo in range(first, last_end + 1, _ENDS_PER_BATCH):
            batch_ends = np.arange(lo, min(lo + _ENDS_PER_BATCH, last_end + 1), dtype=np.int64)
            for ends, score in _runs(batch_ends, candidates_possible(h, batch_ends)):
                if not score:
                    # No candidate can be scored here (a gap in the data): nothing to compute.
                    committed += self.segmenter.skip(int(ends[-1]) + 1)
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
                    hand=m.hand,
                    keep_treated=STROKER_KEEPS_TREATED,
                    treated_margin=STROKER_TREATED_MARGIN,
                )
                # Only ends with a positive log-odds need a step of the programme; the runs between them
                # are crossed with Segmenter.skip (exactly what stepping through them would do).
                for i in np.flatnonzero((logits > 0.0).any(axis=1)).tolist():
                    e = int(ends[i])
                    committed += self.segmenter.skip(e)
                    committed += self.segmenter.step(e, logits[i])
                committed += self.segmenter.skip(int(ends[-1]) + 1)
        out = self._reported(committed)
        h.trim(self.segmenter.base)
        if h.hand_hist is not None and h.hand_hist.t_s.shape[0] and h.t_s.shape[0]:
            base = np.array([min(self.segmenter.base, h.end - 1)], dtype=np.int64)
            h.hand_hist.trim(int(h.hand_index(base)[0]))
        keep_s = self._frame_t(min(self.segmenter.base, h.end - 1)) - 2.0
        self._ring_t.trim_before(keep_s)
        if self._ring_s is not None:
            self._ring_s.trim_before(keep_s)
        if self._ring_h is not None:
            self._ring_h.trim_before(keep_s)
        return out

    def _hand_wait(self, last_end: int) -> int:
        """The last end frame to score now: with a ``hand`` history, only ends whose hand frames have all
        arrived (so the hand evidence does not depend on how spans are cut); a hand sensor more than
        :data:`_HAND_MAX_LAG` frames behind (stopped) is not waited for."""
        h = self.history
        hh = h.hand_hist
        if hh is None or self.model is None or self.model.hand is None or not h.t_s.shape[0]:
            return last_end
        if not hh.t_s.shape[0]:
            return last_end if h.end - h.start > _HAND_MAX_LAG else h.start - 1
        lo = max(self.segmenter.next_end, last_end - _HAND_MAX_LAG)
        ends = np.arange(lo, last_end + 1, dtype=np.int64)
        if not ends.size:
            return last_end
        have = h.hand_index(ends) + LOOKAHEAD < hh.end
        if have.all() or (not have.any() and lo == last_end - _HAND_MAX_LAG):
            return last_end
        return int(ends[have].max()) if have.any() else lo - 1

    def _frame_t(self, f: int) -> float:
        h = self.history
        return float(h.t_s[f - h.start])

    def _reported(self, segments: list[Segment]) -> list[Stroke]:
        """The strokes of committed segments, in order, without those the movement veto drops and those
        that continue the stroke before them (:data:`MERGE_GAP_S`)."""
        out: list[Stroke] = []
        m = self.model
        if segments and m is not None and (m.veto is not None or self.records is not None):
            self.contacts.prepare(self.history, [(g.a, g.b, decided_frame(g.committed_at)) for g in segments])
        strokes = [self._stroke(seg) for seg in segments]
        for s in self._with_regions(strokes):
            if s is None:
                continue
            distal = s.p_distal is not None and s.p_distal >= 0.5
            if s.t_start_s - self._last_end_s < MERGE_GAP_S and distal == self._last_distal:
                self._last_end_s = s.t_end_s
                self.merged += 1
                continue
            self._last_end_s, self._last_distal = s.t_end_s, distal
            out.append(s)
        return out

    def _with_regions(self, strokes: list[tuple[Stroke, _RegionInput | None] | None]) -> list[Stroke | None]:
        """The strokes with their regions (:meth:`_region_input`), each region network run once over
        the rows of all strokes that read it (a row's log-odds do not depend on the other rows)."""
        rows: dict[int, list[int]] = {}
        for i, got in enumerate(strokes):
            if got is not None and got[1] is not None:
                rows.setdefault(id(got[1][0]), []).append(i)
        regions: dict[int, str | None] = {}
        for idx in rows.values():
            first = strokes[idx[0]]
            assert first is not None and first[1] is not None
            nets = first[1][0]
            x = np.stack([got[1][1] for i in idx if (got := strokes[i]) is not None and got[1] is not None])
            logits = {reg: net.logit(x).tolist() for reg, net in nets.items()}
            for r, i in enumerate(idx):
                p = {reg: sigmoid(z[r]) for reg, z in logits.items()}
                best = max(p, key=lambda k: p[k])
                regions[i] = best if p[best] / max(sum(p.values()), _EPS) >= REGION_MIN_SHARE else None
        return [
            None if got is None else (got[0] if i not in regions else replace(got[0], region=regions[i]))
            for i, got in enumerate(strokes)
        ]

    def _stroke(self, seg: Segment) -> tuple[Stroke, _RegionInput | None] | None:
        """The stroke of a committed contact (its region left to :meth:`_with_regions`) and what its
        region is judged from, or None when the movement veto drops it."""
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
                keep, z_veto = m.veto.keep(x_c, self.contacts.steady(m.veto.rhythm))
                self.contacts.decided(keep)
        if not keep and self.records is None:
            return None
        # The direction: from the stroker's glide where there is one, else from the hand's evidence where
        # there is, else from the forearm's alone; the forearm's network (and its shape evidence) runs
        # only when it decides (or for the records), since it gives the same number wherever it runs.
        x_shape = (
            finite(treated_shape_evidence(self._ring_t, t_start, t_end)) if self.records is not None else None
        )
        p_distal: float | None = None
        sensor = "treated"
        x_s: FloatArray | None = None
        x_ss: FloatArray | None = None
        glide = None
        if m.direction_stroker is not None and self._ring_s is not None:
            glide = stroker_glide(self._ring_s, self._ring_t, t_start, t_end)
        if glide is not None and m.direction_stroker is not None:
            x_s = stroker_evidence(glide[0], glide[1], self.axis)
            x_in = np.concatenate((x_t, x_s))
            # A network that takes more inputs reads the glide over windows around the contact too.
            if m.direction_stroker.n_inputs > x_in.shape[0] or self.records is not None:
                assert self._ring_s is not None
                x_ss = stroker_shape_evidence(self._ring_s, self._ring_t, t_start, t_end, self.axis)
                if m.direction_stroker.n_inputs > x_in.shape[0]:
                    x_in = np.concatenate((x_in, x_ss))
            p_distal = m.direction_stroker.p(finite(x_in))
            sensor = "stroker"
            if keep:  # a vetoed contact teaches nothing (recording must not change what is reported)
                self.axis.learn(glide[0], glide[1])
        x_h: FloatArray | None = None
        x_hc: FloatArray | None = None
        if self._ring_h is not None and "h_valid" in self.history.cols:
            h = self.history
            x_hc = contact_hand_evidence(h.cols, seg.a - h.start, seg.b - h.start)
            x_h = None if x_hc is None else finite(treated_evidence(self._ring_h, t_start, t_end))
            if x_h is not None and x_s is None and m.hand is not None and m.hand.direction is not None:
                p_distal = m.hand.direction.p(finite(np.concatenate((x_t, x_h))))
                sensor = "hand"
        if p_distal is None:
            reads_shape = m.direction_treated.n_inputs > x_t.shape[0]  # a network with the shape evidence
            if reads_shape and x_shape is None:
                x_shape = finite(treated_shape_evidence(self._ring_t, t_start, t_end))
            x_dir = treated_direction_input(
                finite(x_t), x_shape if reads_shape else None, m.direction_treated.n_inputs
            )
            p_distal = self.pitch.p_distal(m.direction_treated, x_dir, learn=keep)
        if p_distal >= MIN_DIRECTION_PROB:
            direction, p_dir = "distal", p_distal
        elif p_distal <= 1.0 - MIN_DIRECTION_PROB:
            direction, p_dir = "proximal", 1.0 - p_distal
        else:
            direction, p_dir = "unknown", max(p_distal, 1.0 - p_distal)
        p_stroke = sigmoid(m.calib_a * seg.logit + m.calib_b)
        if self.records is not None:
            self.records.append(
                ContactRecord(
                    t_start,
                    t_end,
                    seg.logit,
                    x_t,
                    x_s,
                    p_distal,
                    x_c,
                    z_veto,
                    keep,
                    x_h,
                    x_hc,
                    x_shape,
                    None if x_ss is None else finite(x_ss),
                )
            )
        if not keep:
            return None
        stroke = Stroke(
            t_start,
            t_end,
            direction,  # type: ignore[arg-type]
            p_stroke * p_dir,
            sensor,
            decided,
            None,
            p_distal,
        )
        return stroke, self._region_input(x_t, x_s, t_end - t_start, x_h, x_hc)

    def _region_input(
        self,
        x_t: FloatArray,
        x_s: FloatArray | None,
        duration_s: float,
        x_h: FloatArray | None = None,
        x_hc: FloatArray | None = None,
    ) -> _RegionInput | None:
        """The region networks and their input row for a stroke (None: no region is judged). The
        region is the one whose share of the one-vs-rest probabilities reaches
        :data:`REGION_MIN_SHARE` (with a ``hand`` sensor, the hand section's networks where the hand's
        evidence is complete)."""
        m = self.model
        nets_by = m.region if m is not None else None
        x = np.concatenate((finite(x_t), [duration_s]))
        nets: dict[str, Mlp] | None = None
        if m is not None and m.hand is not None and m.hand.region and x_h is not None and x_hc is not None:
            x, nets = np.concatenate((x, x_h, x_hc)), m.hand.region
        elif nets_by:
            nets = nets_by.get("treated")
            if x_s is not None and nets_by.get("stroker"):
                x, nets = np.concatenate((x, finite(x_s))), nets_by["stroker"]
        if not nets:
            return None
        return nets, x


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
