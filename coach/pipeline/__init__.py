"""The streaming pipeline: IMU samples in, coaching events (docs/design.md §7) out.

    pipeline = SessionPipeline(meta, PipelineConfig(posture_hz=1))
    events = pipeline.feed(block)            # any block size, any role interleaving
    events += pipeline.advance(t_s)          # live clock: no sample older than t_s will still arrive
    events += pipeline.apply_command({"cmd": "pause", "args": {}}, t_s)
    events += pipeline.finish()              # drops a stroke in contact, then state + summary

How time works. Each role is resampled onto its own uniform grid and filtered with VQF
(:mod:`coach.signal.roles`). Decisions are made on one fixed *decision grid* ``t_j = j / decision_hz``
(50 Hz, or the next multiple of ``posture_hz`` above it). The pipeline processes decision points in
order, as far as every expected role's samples are decided (all samples of a role up to one grid step
past the point have arrived, or its gap is proven by the clock). So every output depends only on the
samples, never on block sizes or on when ``advance`` was called: a live session and a replay of its
trace give the same events, and feeding a trace in chunks of any size gives exactly the same events as
one pass. An event's ``t`` is the decision time it describes; the pipeline never waits more than one
grid step plus the gap limit (``max_gap_s``) past it, well inside the 0.5 s of docs/design.md §7.

Roles. ``treated`` holds the clock; ``hand`` and ``stroker`` when the trace has them (``meta.sensors``
or their first sample). A role that falls silent has a gap: once the clock (or another sample of that
role) is ``max_gap_s`` past its last sample its grid points are missing, so it does not hold the
others; its posture fields are null inside the gap. A ``treated`` gap longer than ``pause_after_s``
pauses the session (``state`` paused, then active when samples return).

Calibration (docs/design.md §4): from the ``meta`` phases, or phases detected in the stream
(:mod:`calibration.phases`), or none (``nominal``: device axes are segment axes). Until it ends the
session is ``calibrating``: posture fields are null and cues are quiet. The filters start then, with
the ``still`` gyro bias, over everything buffered since the first sample. See docs/signal.md.

The parts, one job each:

- :mod:`~coach.pipeline.scheduler`: :class:`SessionPipeline`, the decision grid and the public API;
- :mod:`~coach.pipeline.calibrating`: when calibration ends, what it found, the posture setup;
- :mod:`~coach.pipeline.states`: the session state and the one owner of why it is paused;
- :mod:`~coach.pipeline.commands`: when a command takes effect, the targets it sets;
- :mod:`~coach.pipeline.stroke_input`: the stroke detector seam (signals in, strokes out);
- :mod:`~coach.pipeline.coaching`: stroke, cadence and cue events;
- :mod:`~coach.pipeline.emit`: event order, ids and the posture events;
- :mod:`~coach.pipeline.config`: :class:`PipelineConfig`.
"""

from coach.pipeline.config import MOUNTINGS, PipelineConfig
from coach.pipeline.scheduler import SessionPipeline
from coach.pipeline.stroke_input import load_default_detector

__all__ = ["MOUNTINGS", "PipelineConfig", "SessionPipeline", "load_default_detector"]
