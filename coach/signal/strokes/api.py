"""The stroke-detector slot: what :class:`~coach.pipeline.SessionPipeline` gives a stroke detector, and
what it expects back. The pipeline owns time, calibration and orientation; a detector only looks at
calibrated, uniformly sampled signals and says which strokes it saw.

How a detector plugs in
-----------------------
A detector is a factory ``(context: StrokeContext) -> StrokeDetector``. The pipeline uses the default
one, :func:`coach.signal.strokes.create_detector`, when ``PipelineConfig.stroke_detector`` is
``"default"`` (the default). Tests and tools can pass any factory instead
(``PipelineConfig.stroke_detector`` accepts a callable), or ``None`` to switch detection off.

The call sequence
-----------------
1. ``create_detector(context)`` once, when calibration has ended (the mounting is known).
2. ``process(step)`` for consecutive, non-overlapping spans ``[step.t_from_s, step.t_to_s)`` that tile
   the session from the end of calibration on. Spans are aligned to the pipeline's decision grid but
   have **any length**: one grid step while a live session ticks, minutes when a file is replayed in
   big chunks. A detector must give the same strokes whatever the span boundaries are (carry filter
   state, e.g. ``sosfilt`` with ``zi``, and pending candidates across calls; test it with hypothesis
   over span lengths, as ``tests/test_pipeline_chunks.py`` does for the pipeline).
3. ``finish(t_end_s)`` once at the end of input: return the strokes whose contact has ended but that
   were not yet reported; a stroke still in contact is dropped (docs/design.md §7).

What comes back
---------------
A list of :class:`Stroke`. ``decided_s`` is the trace time at which the detector had everything it
used to decide, and becomes the event's ``t``. It must satisfy
``t_end_s <= decided_s <= t_end_s + MAX_STROKE_LATENCY_S`` and ``step.t_from_s <= decided_s <
step.t_to_s`` (a detector never decides about a time it has already been past); so after ``process``
returns for a span ending at ``T``, every decision up to ``T`` is final. The pipeline checks this,
clamps offenders into the span and counts them in ``SessionPipeline.stroke_contract_violations``.
Cadence events follow each stroke.

Two optional members make a live session cheaper (the pipeline calls ``process`` about 40 times a
second there): ``roles_read``, a tuple of the roles ``process`` reads (the others' signals are then
not worked out), and ``quiet_until_s()``, a trace time such that a span ending at or before it cannot
make ``process`` return a stroke (the default detector: the sample that completes its next 0.1 s
frame). The pipeline then holds such spans and hands them over joined with the next one: by the rule
above the strokes are the same, and they come back in the same pipeline step as without holding.

A detector may carry ``checks_off``, a tuple of names of what it cannot judge with the session's sensors
(the default detector: :func:`coach.signal.strokes.detector.unseen_strokes`); the pipeline adds them to
the summary's ``calibration.checks_off``.

Everything per sample must be vectorised numpy (no Python loop over samples): the replay of a
15-minute trace has a budget of well under a second for the detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray

BoolArray = npt.NDArray[np.bool_]
Direction = Literal["proximal", "distal", "unknown"]

#: docs/design.md §7: a stroke event comes no later than this after the stroke's end.
MAX_STROKE_LATENCY_S: Final = 0.5


@dataclass(frozen=True, slots=True)
class RoleSignals:
    """One sensor role's calibrated signals on its own uniform time grid, inside one span.

    Every grid point of the span is present (``t_s = t0 + k / rate_hz``); where the sensor had a gap
    (no samples within the pipeline's interpolation limit) ``valid`` is False and the values are NaN.

    Frames: ``segment`` is the forearm segment frame for ``treated`` (x distal along the forearm,
    z dorsal, y = z × x; from calibration, or the device axes under nominal mounting), the hand
    segment frame for ``hand``, and the device frame for ``stroker``. ``earth`` is this sensor's own
    6D VQF earth frame: z up, but the heading (rotation about z) is arbitrary and differs between
    sensors, and drifts slowly; only vertical components compare across roles.

    Attributes:
        role: ``treated``, ``hand`` or ``stroker``.
        rate_hz: the grid rate.
        t_s: grid times (n,).
        valid: (n,) False inside gaps.
        acc_mps2: specific force in the segment frame (n, 3) (at rest: +9.81 along up).
        gyr_rps: angular rate in the segment frame, gyro bias removed (VQF's running estimate) (n, 3).
        quat: segment → earth orientation, ``[w, x, y, z]`` (n, 4).
        up: the earth's up direction in the segment frame, unit (n, 3) (gravity direction reversed).
        x_earth: the segment x axis in the earth frame, unit (n, 3) (for ``treated``: the forearm axis).
        acc_lin_earth_mps2: acceleration without gravity in the earth frame (n, 3).
        elevation_deg: angle of the segment x axis above the horizontal (n,).
    """

    role: str
    rate_hz: float
    t_s: FloatArray
    valid: BoolArray
    acc_mps2: FloatArray
    gyr_rps: FloatArray
    quat: FloatArray
    up: FloatArray
    x_earth: FloatArray
    acc_lin_earth_mps2: FloatArray
    elevation_deg: FloatArray

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


@dataclass(frozen=True, slots=True)
class StrokeStep:
    """The data of one processing span ``[t_from_s, t_to_s)`` for every role the session has.

    ``roles`` always holds ``treated``; ``stroker`` and ``hand`` when the trace has them. A role that
    is silent for the whole span is still present, all ``valid`` False.
    """

    t_from_s: float
    t_to_s: float
    roles: dict[str, RoleSignals]


@dataclass(frozen=True, slots=True)
class StrokeContext:
    """What a detector knows when it is created (after calibration).

    Attributes:
        arm: treated arm, ``left`` or ``right``.
        roles: roles of the session (``treated`` first).
        rates_hz: grid rate per role.
        start_s: start of the first span (the end of calibration).
        mounting: where the segment frames came from: ``meta``, ``auto`` or ``nominal``.
        axes_calibrated: per role, whether the segment frame came from a calibration (True) or is the
            device frame (False).
        forearm_length_m: from ``meta.body``.
    """

    arm: str
    roles: tuple[str, ...]
    rates_hz: dict[str, float]
    start_s: float
    mounting: str
    axes_calibrated: dict[str, bool] = field(default_factory=dict)
    forearm_length_m: float = 0.26


@dataclass(frozen=True, slots=True)
class Stroke:
    """One detected stroke (docs/design.md §5: contact start and end of one glide).

    Attributes:
        t_start_s: start of contact.
        t_end_s: end of contact.
        direction: ``proximal`` (toward the elbow: correct), ``distal`` or ``unknown``.
        confidence: 0–1.
        sensor: the role whose signals decided it (``treated`` or ``stroker``).
        decided_s: trace time of the decision (becomes the event's ``t``), see the module docs.
        region: where the stroke went (``finger``, ``between_fingers``, ``back_of_hand``, ``palm``,
            ``forearm``) when the evidence tells it, else ``None``.
        p_distal: the detector's probability that the glide went distal (``None``: not estimated);
            the coaching asks for it before it tells the person to stroke the other way.
    """

    t_start_s: float
    t_end_s: float
    direction: Direction
    confidence: float
    sensor: str
    decided_s: float
    region: str | None = None
    p_distal: float | None = None


class StrokeDetector(Protocol):
    """A streaming stroke detector (see the module docstring for the contract)."""

    def process(self, step: StrokeStep) -> list[Stroke]:
        """Consume one span; return the strokes decided inside it."""
        ...

    def finish(self, t_end_s: float) -> list[Stroke]:
        """End of input at ``t_end_s``: strokes that ended but were not yet reported; drop any in contact."""
        ...


DetectorFactory = Callable[[StrokeContext], StrokeDetector]
