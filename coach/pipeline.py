"""The streaming pipeline: IMU samples in, coaching events (DESIGN.md §7) out.

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
grid step plus the gap limit (``max_gap_s``) past it, well inside the 0.5 s of DESIGN.md §7.

Roles. ``treated`` holds the clock; ``hand`` and ``stroker`` when the trace has them (``meta.sensors``
or their first sample). A role that falls silent has a gap: once the clock (or another sample of that
role) is ``max_gap_s`` past its last sample its grid points are missing, so it does not hold the
others; its posture fields are null inside the gap. A ``treated`` gap longer than ``pause_after_s``
pauses the session (``state`` paused, then active when samples return).

Calibration (DESIGN.md §4): from the ``meta`` phases, or phases detected in the stream
(:mod:`calibration.phases`), or none (``nominal``: device axes are segment axes). Until it ends the
session is ``calibrating``: posture fields are null and cues are quiet. The filters start then, with
the ``still`` gyro bias, over everything buffered since the first sample. See docs/signal.md.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from calibration.mounting import SensorCalibration, calibrate_sensor, nominal
from calibration.phases import PhaseDetector
from calibration.profiles import ProfileStore, device_key, profile_from_calibration
from coach.errors import ValidationError
from coach.events import Event, EventIds, make_event
from coach.feedback.cues import MESSAGES, CueEngine
from coach.samples import ROLES, FloatArray, SampleBlock
from coach.signal import quaternion as quat
from coach.signal.cadence import BOUT_GAP_S, live_cadence_spm
from coach.signal.posture import PostureEstimator, PostureFrame, PostureSetup, Thresholds, still_reference
from coach.signal.roles import RoleStream
from coach.signal.strokes import create_detector
from coach.signal.strokes.api import (
    MAX_STROKE_LATENCY_S,
    DetectorFactory,
    RoleSignals,
    Stroke,
    StrokeContext,
    StrokeDetector,
    StrokeStep,
)
from coach.summary import SummaryBuilder
from coach.trace.meta import TraceMeta

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

MOUNTINGS: Final = ("meta", "auto", "nominal")
#: Longest span of decision points processed at once: memory stays bounded through a long gap.
MAX_SPAN_S: Final = 60.0
GRAVITY_MPS2: Final = 9.80665
_EPS: Final = 1e-9
# Order of events that share a time: state changes first, cues last.
_PRIORITY: Final = {"state": 0, "posture": 1, "stroke": 2, "cadence": 3, "cue": 4, "summary": 5}
#: Therapist commands the pipeline acts on (names and args as in coach.mqtt.commands); ``set_targets``
#: takes a whole targets document; ``clear_screening`` belongs to the session layer and is ignored here.
COMMANDS: Final = (
    "set_target_duration",
    "set_cadence_range",
    "set_thresholds",
    "set_targets",
    "pause",
    "resume",
    "stop",
    "clear_screening",
)
_THRESHOLD_KEYS: Final = ("elevation_margin_m", "wrist_flexion_deg", "wrist_deviation_deg")


@dataclass(slots=True)
class PipelineConfig:
    """How a :class:`SessionPipeline` runs. ``None`` means: from ``meta``, else the default.

    Attributes:
        posture_hz: rate of the regular ``posture`` events (DESIGN.md §7; default 1).
        mounting: ``meta`` | ``auto`` | ``nominal``; ``None``: ``meta`` when the trace has calibration
            times, else ``auto``.
        elevation_margin_m, wrist_flexion_deg, wrist_deviation_deg: posture limits
            (``meta.thresholds``, else 0.05 m, 15°, 10°).
        cadence_min_spm, cadence_max_spm: cadence range for the ``faster`` / ``slower`` cues
            (``meta.cadence_spm`` ``{"min_spm", "max_spm"}``, else 8 and 40 strokes/min, the range of
            DESIGN.md §6).
        target_duration_s: session target for the time cues (``meta.target_duration_s``, else none).
        state_events: emit ``state`` events (calibrating → active ⇄ paused → finished).
        cues: emit ``cue`` events.
        stroke_detector: ``"default"`` (``coach.signal.strokes.create_detector``), a factory, or
            ``None`` for no stroke detection.
        profiles: a calibration-profile store: replaces a missing ``rotate`` step with a saved long
            axis and saves new ones (live sessions; replays leave it ``None``).
        decision_hz: lowest rate of the decision grid.
        max_gap_s: samples further apart than this are a gap (no interpolation across it).
        pause_after_s: a ``treated`` gap longer than this pauses the session.
        reset_gap_s: a gap longer than this restarts the orientation filter (bias and heading kept).
        cue_hold_s, cue_repeat_s: cue debounce (DESIGN.md §5: 1 s and 10 s).
    """

    posture_hz: float = 1.0
    mounting: str | None = None
    elevation_margin_m: float | None = None
    wrist_flexion_deg: float | None = None
    wrist_deviation_deg: float | None = None
    cadence_min_spm: float | None = None
    cadence_max_spm: float | None = None
    target_duration_s: float | None = None
    state_events: bool = True
    cues: bool = True
    stroke_detector: str | DetectorFactory | None = "default"
    profiles: ProfileStore | None = None
    decision_hz: float = 50.0
    max_gap_s: float = 0.25
    pause_after_s: float = 1.0
    reset_gap_s: float = 0.3
    cue_hold_s: float = 1.0
    cue_repeat_s: float = 10.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.posture_hz) and 0 < self.posture_hz <= 1000):
            raise ValidationError(f"posture_hz must be in (0, 1000], not {self.posture_hz!r}")
        if self.mounting is not None and self.mounting not in MOUNTINGS:
            raise ValidationError(f"mounting must be one of {', '.join(MOUNTINGS)}, not {self.mounting!r}")
        if not 0 < self.max_gap_s < self.pause_after_s:
            raise ValidationError("need 0 < max_gap_s < pause_after_s")


@dataclass(slots=True)
class _Calibration:
    """The session's calibration outcome (for the summary and the posture setup)."""

    mounting: str
    still: tuple[float, float] | None = None
    rotate: tuple[float, float] | None = None
    sensors: dict[str, SensorCalibration] = field(default_factory=dict)
    checks_off: list[str] = field(default_factory=list)


def load_default_detector() -> DetectorFactory | None:
    """The default stroke detector's factory, :func:`coach.signal.strokes.create_detector`."""
    return create_detector


class SessionPipeline:
    """Samples in, events out (see the module docstring)."""

    def __init__(self, meta: TraceMeta, config: PipelineConfig | None = None) -> None:
        self.meta = meta
        self.config = cfg = config or PipelineConfig()
        self.arm = meta.arm
        self.body = meta.body
        th = meta.thresholds
        self.thresholds = Thresholds(
            _pick(cfg.elevation_margin_m, th.get("elevation_margin_m"), 0.05),
            _pick(cfg.wrist_flexion_deg, th.get("wrist_flexion_deg"), 15.0),
            _pick(cfg.wrist_deviation_deg, th.get("wrist_deviation_deg"), 10.0),
        )
        cad = meta.raw.get("cadence_spm")
        cad = cad if isinstance(cad, dict) else {}
        self.cadence_min_spm: float | None = _pick(cfg.cadence_min_spm, _num_or_none(cad.get("min_spm")), 8.0)
        self.cadence_max_spm: float | None = _pick(
            cfg.cadence_max_spm, _num_or_none(cad.get("max_spm")), 40.0
        )
        self.target_duration_s = cfg.target_duration_s or meta.target_duration_s
        ratio = max(1, math.ceil(cfg.decision_hz / cfg.posture_hz - 1e-9))
        self.decision_hz = cfg.posture_hz * ratio
        self._posture_every = ratio
        self._dt = 1.0 / self.decision_hz
        self._block_points = max(1, round(self.decision_hz))
        self._max_span = max(1, round(MAX_SPAN_S * self.decision_hz))
        self.ids = EventIds()
        self.roles: dict[str, RoleStream] = {}
        self._expected = {"treated"} | {r for r in meta.sensor_roles if r in ROLES}
        self._clock = -math.inf
        self._j_next: int | None = None
        self.finished = False
        # Calibration.
        has_phases = meta.phase("still") is not None or meta.phase("rotate") is not None
        requested = cfg.mounting or ("meta" if has_phases else "auto")
        self._requested_mounting = requested
        self._cal: _Calibration | None = None
        self._j_cal: int | None = None
        self._phase_detector: PhaseDetector | None = None
        if requested == "meta" and has_phases:
            ends = [p[1] for p in (meta.phase("still"), meta.phase("rotate")) if p is not None]
            self._j_cal = math.ceil(max(ends) * self.decision_hz - 1e-6)
        elif requested == "meta":
            self._cal = self._nominal_calibration("nominal", ["calibration_phases"])
        elif requested == "nominal":
            self._cal = self._nominal_calibration("nominal", [])
        self._estimator: PostureEstimator | None = None
        self._mounts_q: dict[str, FloatArray] = {}
        self._mounts: dict[str, FloatArray] = {}
        # Strokes.
        self._detector_factory = self._resolve_detector(cfg.stroke_detector)
        self._detector: StrokeDetector | None = None
        self.stroke_contract_violations = 0
        self._recent_starts: list[float] = []
        self._last_stroke_start = -math.inf
        self._cadence_value = math.nan
        self._span_strokes: list[tuple[float, float, float | None]] = []
        # Session state.
        self.state = "none"
        self._paused_by_command = False
        self._gap_start: float | None = None
        self._paused_by_gap = False
        self._prev_flags: tuple[int, int] | None = None
        self._elapsed_active_s = 0.0
        self._cues = CueEngine(cfg.cue_hold_s, cfg.cue_repeat_s)
        self._summary = SummaryBuilder(self._dt)
        self._commands: list[tuple[int, int, dict[str, Any]]] = []
        self._command_seq = 0
        self.applied_commands: list[tuple[float, dict[str, Any]]] = []
        self._last_event_t = -math.inf

    # ------------------------------------------------------------------------------------------
    # Public API

    def feed(self, block: SampleBlock) -> list[Event]:
        """Add samples of one role; return the events they decided."""
        if self.finished or len(block) == 0:
            return []
        if block.role not in ROLES:
            raise ValidationError(f"unknown sensor role {block.role!r} (known: {', '.join(ROLES)})")
        stream = self.roles.get(block.role)
        if stream is None:
            stream = RoleStream(
                block.role,
                self.meta.sensor(block.role).rate_hz,
                self.config.max_gap_s,
                self.config.reset_gap_s,
            )
            self.roles[block.role] = stream
            self._expected.add(block.role)
        stream.push(block)
        return self._pump(only=block.role)

    def advance(self, t_s: float) -> list[Event]:
        """The live clock: no sample older than ``t_s`` will arrive (silent roles are gaps up to it)."""
        if self.finished:
            return []
        self._clock = max(self._clock, float(t_s))
        return self._pump()

    def apply_command(self, command: dict[str, Any], t_s: float) -> list[Event]:
        """Apply a therapist command at ``t_s`` (or at once, if the pipeline is already past it).

        ``command`` is ``{"cmd": name, "args": {...}}`` (extra keys such as ``id`` are ignored), with the
        commands of :mod:`coach.mqtt.commands`: ``set_target_duration`` (``target_duration_s``),
        ``set_cadence_range`` (``min_spm``, ``max_spm``), ``set_thresholds`` (any of
        ``elevation_margin_m``, ``wrist_flexion_deg``, ``wrist_deviation_deg``), ``pause``, ``resume``,
        ``stop``; also ``set_targets`` with a targets document (``target_duration_s``, ``cadence_spm``,
        ``thresholds``). ``clear_screening`` is the session's business and is ignored. The time it
        took effect (on the decision grid) is recorded in :attr:`applied_commands`, for the session's
        ``commands.jsonl``.
        """
        if self.finished:
            return []
        _validate_command(command)
        j = math.ceil(float(t_s) * self.decision_hz - 1e-6)
        if self._j_next is not None:
            j = max(j, self._j_next)
        self._commands.append((j, self._command_seq, command))
        self._command_seq += 1
        self._commands.sort(key=lambda c: (c[0], c[1]))
        return self._pump()

    def finish(self, reason: str = "end_of_input", *, aborted: bool = False) -> list[Event]:
        """End of input: decide everything left, drop a stroke in contact, then ``state`` and ``summary``.

        ``aborted`` ends in state ``aborted`` instead of ``finished`` (bad input, a session abort).
        """
        if self.finished:
            return []
        ends = [s.resampler.last_sample_s for s in self.roles.values() if s.resampler.t0_s is not None]
        end_s = max(ends) if ends else max(self._clock, 0.0)
        stops = [j for j, _, c in self._commands if c["cmd"] == "stop"]
        if stops:
            # A recorded stop ends the session where the live one ended, even after the last sample.
            end_s = max(end_s, stops[0] * self._dt)
        out = self._pump(final_end_s=end_s)
        if not self.finished:
            out += self._close(end_s, reason, aborted)
        return out

    @property
    def late_samples(self) -> int:
        """Samples dropped because they came after the pipeline had decided their time."""
        return sum(s.resampler.late_samples for s in self.roles.values())

    @property
    def sensor_calibrations(self) -> dict[str, SensorCalibration]:
        """Per role, what calibration found (empty until calibration has ended)."""
        return dict(self._cal.sensors) if self._cal is not None else {}

    @property
    def mounting(self) -> str:
        return self._cal.mounting if self._cal is not None else self._requested_mounting

    # ------------------------------------------------------------------------------------------
    # The processing loop

    def _pump(self, final_end_s: float | None = None, only: str | None = None) -> list[Event]:
        """Resample what arrived (only role ``only`` after a feed: the clock did not move), then process
        every decision point that is ready."""
        out: list[Event] = []
        clock = self._clock
        if final_end_s is not None:
            clock = max(clock, final_end_s + self.config.max_gap_s + 1.0)
        self._pull_roles(clock, only)
        if self._j_next is None:
            started: list[tuple[float, str, dict[str, Any]]] = []
            if not self._start(started):
                return out
            out += self._emit(started)
        assert self._j_next is not None
        while not self.finished:
            ready = self._ready_limit(clock, final_end_s)
            limit = min(ready, self._j_next + self._max_span)
            if self._cal is None:
                limit = min(limit, self._calibration_limit(final_end_s))
            if self._commands:
                limit = min(limit, max(self._commands[0][0], self._j_next))
            if limit > self._j_next:
                out += self._process(self._j_next, limit)
                self._j_next = limit
                continue
            if (
                self._cal is None
                and self._j_cal is not None
                and self._j_next >= self._j_cal
                and ready > self._j_cal
            ):
                out += self._calibrate(self._j_cal)
                continue
            if self._commands and self._commands[0][0] <= self._j_next:
                _, _, command = self._commands.pop(0)
                out += self._apply(command, self._j_next)
                continue
            break
        self._trim()
        return out

    def _pull_roles(self, clock: float, only: str | None = None) -> None:
        for stream in self.roles.values():
            if only is not None and stream.role != only:
                continue
            batch = stream.pull(clock)
            if self._estimator is not None and stream.tracker is None and stream.started:
                # A role heard from only after calibration: filtered uncalibrated (nominal mounting).
                stream.start_filter(None)
            if stream.role == "treated" and self._cal is None and self._requested_mounting == "auto":
                if self._phase_detector is None and stream.started:
                    self._phase_detector = PhaseDetector(stream.rate_hz, stream.t0_s)
                    # Everything resampled so far is in the pending buffer.
                    p = stream.pending
                    self._phase_detector.feed(p.k, p.gyr_rps, p.acc_mps2, stream.resampler.next_k)
                elif self._phase_detector is not None:
                    self._phase_detector.feed(batch.k, batch.gyr_rps, batch.acc_mps2, stream.resampler.next_k)

    def _start(self, pending: list[Any]) -> bool:
        treated = self.roles.get("treated")
        if treated is None or treated.resampler.t0_s is None or not treated.started:  # its rate known too
            return False
        # The session starts with the treated sensor's first sample (it holds the clock).
        self._j_next = math.ceil(treated.resampler.t0_s * self.decision_hz - 1e-6)
        self._summary.start_s = self._j_next * self._dt
        if self._cal is not None:
            # Nominal mounting: no calibration phase.
            self._setup_after_calibration(self._j_next)
            self._set_state(pending, self._j_next, "active", "nominal mounting: no calibration")
        else:
            self._set_state(
                pending, self._j_next, "calibrating", f"calibration from {self._requested_mounting}"
            )
        return True

    def _ready_limit(self, clock: float, final_end_s: float | None) -> int:
        """Decision points below this index have all their samples decided."""
        if final_end_s is not None:
            return math.floor(final_end_s * self.decision_hz + 1e-6) + 1
        limit = math.inf
        for role in self._expected:
            stream = self.roles.get(role)
            if stream is None or not stream.started:
                frontier = clock
                margin = 0.0
            else:
                frontier = stream.resampler.frontier_s
                margin = 1.0 / stream.rate_hz
            if frontier == -math.inf:
                return self._j_next if self._j_next is not None else 0
            limit = min(limit, math.floor((frontier - margin) * self.decision_hz + 1e-6) + 1)
            # The stroke detector gets every sample before the span's end (t < j1 · dt): they must all
            # be decided, or a span boundary would change what it sees (chunk invariance).
            limit = min(limit, math.floor(frontier * self.decision_hz + 1e-6))
        return int(limit) if math.isfinite(limit) else (self._j_next or 0)

    def _calibration_limit(self, final_end_s: float | None) -> int:
        """While calibration is undecided, how far the calibrating state is certain."""
        if self._j_cal is not None:
            return self._j_cal
        det = self._phase_detector
        if det is None:
            return self._j_next or 0
        if det.result is not None:
            self._j_cal = max(math.ceil(det.result.decided_s * self.decision_hz - 1e-6), self._j_next or 0)
            return self._j_cal
        if final_end_s is not None:
            # The input ended during the search: stay calibrating to the end.
            return math.floor(final_end_s * self.decision_hz + 1e-6) + 1
        searched = det.window_time(det.searched_windows)
        return math.ceil(searched * self.decision_hz - 1e-6)

    # ------------------------------------------------------------------------------------------
    # Calibration

    def _nominal_calibration(self, mounting: str, off: list[str]) -> _Calibration:
        cal = _Calibration(mounting)
        cal.checks_off = list(off)
        return cal

    def _calibrate(self, j_cal: int) -> list[Event]:
        """The calibration phases are over: compute the mounting, start the filters, go active."""
        queued: list[tuple[float, str, dict[str, Any]]] = []
        if self._requested_mounting == "meta":
            still, rotate, mounting = self.meta.phase("still"), self.meta.phase("rotate"), "meta"
        else:
            res = self._phase_detector.result if self._phase_detector is not None else None
            still = res.still if res is not None else None
            rotate = res.rotate if res is not None else None
            mounting = "auto" if still is not None else "nominal"
        cal = _Calibration(mounting, still, rotate)
        if mounting == "nominal":
            cal.checks_off.append("calibration_phases")
        for role, stream in self.roles.items():
            if not stream.started:
                continue
            pending = stream.pending
            sel_still = _phase_data(pending, still)
            sel_rot = _phase_data(pending, rotate) if role != "stroker" else None
            profile_axis = self._profile_axis(role) if role != "stroker" else None
            sc = calibrate_sensor(sel_still, sel_rot, stream.rate_hz, profile_axis)
            if role == "stroker":
                sc = SensorCalibration(np.eye(3), sc.gyro_bias_rps, sc.gravity_sensor, "device", sc.notes)
            cal.sensors[role] = sc
            self._save_profile(role, sc)
        self._cal = cal
        self._setup_after_calibration(j_cal)
        self._set_state(queued, j_cal, "active", f"calibrated ({mounting})")
        return self._emit(queued)

    def _profile_axis(self, role: str) -> FloatArray | None:
        store = self.config.profiles
        key = device_key(self.meta, role)
        if store is None or key is None:
            return None
        profile = store.load(key)
        return None if profile is None else np.asarray(profile.long_axis_sensor)

    def _save_profile(self, role: str, sc: SensorCalibration) -> None:
        store = self.config.profiles
        key = device_key(self.meta, role)
        if store is None or key is None or sc.axis_source != "rotate":
            return
        device = str(self.meta.sensor(role).device)
        store.save(profile_from_calibration(key, role, device, sc.mount, sc.gyro_bias_rps, sc.gravity_sensor))

    def _setup_after_calibration(self, j_cal: int) -> None:
        """Start the filters, fix the posture references, attach the stroke detector."""
        cal = self._cal
        assert cal is not None
        for role, stream in self.roles.items():
            sc = cal.sensors.get(role) or nominal()
            cal.sensors[role] = sc
            if stream.tracker is None and stream.started:
                stream.start_filter(sc.gyro_bias_rps)
            self._mounts[role] = sc.mount
            self._mounts_q[role] = quat.from_matrix(sc.mount)
        treated = cal.sensors.get("treated") or nominal()
        hand_sc = cal.sensors.get("hand")
        roll_ref = 0.0
        hand_mount_q = self._mounts_q.get("hand") if "hand" in self._expected else None
        if "hand" in self._expected and hand_mount_q is None:
            hand_mount_q = quat.IDENTITY.copy()
        delta0: float | None = None
        t_ref = j_cal * self._dt
        if cal.still is not None and treated.calibrated:
            q_t, q_h = _still_quats(self.roles["treated"], self.roles.get("hand"), cal.still)
            if q_t is not None:
                use_hand = q_h is not None and hand_sc is not None and hand_sc.calibrated
                roll_ref, eff, d0 = still_reference(
                    q_t,
                    self._mounts_q["treated"],
                    q_h if use_hand else None,
                    hand_mount_q if use_hand else None,
                )
                if eff is not None:
                    hand_mount_q, delta0, t_ref = eff, d0, cal.still[1]
        off = cal.checks_off
        if treated.gyro_bias_rps is None:
            off += ["gyro_bias", "roll_reference"]
        if treated.axis_source not in ("rotate", "profile"):
            off.append("forearm_axis")
        if "hand" not in self._expected:
            off.append("wrist_neutral")
        elif delta0 is None:
            off.append("wrist_reference")
        if self._detector_factory is None:
            off.append("strokes")
        setup = PostureSetup(
            self.arm,
            self.body,
            self._mounts_q.get("treated", quat.IDENTITY.copy()),
            roll_ref,
            hand_mount_q,
            delta0,
            t_ref,
        )
        self._estimator = PostureEstimator(setup, self._block_points, self.decision_hz)
        if self._detector_factory is not None:
            roles = tuple(r for r in ROLES if r in self.roles and self.roles[r].started)
            context = StrokeContext(
                arm=self.arm,
                roles=roles,
                rates_hz={r: self.roles[r].rate_hz for r in roles},
                start_s=j_cal * self._dt,
                mounting=cal.mounting,
                axes_calibrated={r: cal.sensors[r].axis_source in ("rotate", "profile") for r in roles},
                forearm_length_m=self.body.forearm_length_m,
            )
            self._detector = self._detector_factory(context)

    # ------------------------------------------------------------------------------------------
    # One span of decision points

    def _process(self, j0: int, j1: int) -> list[Event]:
        j = np.arange(j0, j1, dtype=np.int64)
        t: FloatArray = j.astype(np.float64) * self._dt
        pending: list[tuple[float, str, dict[str, Any]]] = []
        if self._cal is None or self._estimator is None:
            # Calibrating: posture is not observable; no cues, no strokes.
            for jj in j[j % self._posture_every == 0].tolist():
                pending.append((jj * self._dt, "posture", _null_posture()))
            self._prev_flags = (-1, -1)
            return self._emit(pending)
        treated = self.roles["treated"]
        hand = self.roles.get("hand")
        frame = self._estimator.compute(
            j, t, treated, hand if hand is not None and hand.started else None, self.thresholds
        )
        active = self._states(j, t, frame, pending)
        self._posture_events(j, frame, pending)
        strokes = self._strokes(t[0], t[-1] + self._dt)
        self._stroke_events(strokes, active, t, pending)
        if self.config.cues:
            self._cue_events(t, frame, active, pending)
        else:
            self._cadence_track(t)
        self._summary.add_span(active, frame.treated_ok, frame.elevated, frame.hand_ok, frame.neutral)
        return self._emit(pending)

    def _states(self, j: IntArray, t: FloatArray, frame: PostureFrame, pending: list[Any]) -> BoolArray:
        """Pauses from ``treated`` gaps (and commands); returns the active mask of the span."""
        ok = frame.treated_ok
        n = ok.shape[0]
        idx = np.arange(n)
        last_ok = np.maximum.accumulate(np.where(ok, idx, -1))
        carried = self._gap_start if self._gap_start is not None else t[0]
        gap_start = np.where(last_ok >= 0, t[np.minimum(last_ok + 1, n - 1)], carried)
        gap_pause = ~ok & (t - gap_start >= self.config.pause_after_s - _EPS)
        self._gap_start = None if ok[-1] else float(gap_start[-1])
        paused = gap_pause | self._paused_by_command
        prev = self.state == "paused"
        change = np.flatnonzero(np.diff(np.concatenate(([prev], paused))) != 0)
        for i in change.tolist():
            if paused[i]:
                reason = "treated sensor silent" if gap_pause[i] else "paused by command"
                self._set_state(pending, int(j[i]), "paused", reason)
            else:
                self._set_state(pending, int(j[i]), "active", "treated sensor back")
        self._paused_by_gap = bool(gap_pause[-1])
        return ~paused

    def _posture_events(self, j: IntArray, frame: PostureFrame, pending: list[Any]) -> None:
        elev_flag = np.where(frame.treated_ok, frame.elevated.astype(np.int8), -1)
        neut_flag = np.where(frame.hand_ok, frame.neutral.astype(np.int8), -1)
        prev_e, prev_n = (
            self._prev_flags if self._prev_flags is not None else (int(elev_flag[0]), int(neut_flag[0]))
        )
        change = (np.diff(np.concatenate(([prev_e], elev_flag))) != 0) | (
            np.diff(np.concatenate(([prev_n], neut_flag))) != 0
        )
        emit = change | (j % self._posture_every == 0)
        self._prev_flags = (int(elev_flag[-1]), int(neut_flag[-1]))
        for i in np.flatnonzero(emit).tolist():
            ok = bool(frame.treated_ok[i])
            hok = bool(frame.hand_ok[i])
            pending.append(
                (
                    int(j[i]) * self._dt,
                    "posture",
                    {
                        "elevated": bool(frame.elevated[i]) if ok else None,
                        "elevation_deg": _num(frame.elevation_deg[i], 3) if ok else None,
                        "wrist_neutral": bool(frame.neutral[i]) if hok else None,
                        "wrist_flexion_deg": _num(frame.flexion_deg[i], 2) if hok else None,
                        "wrist_deviation_deg": _num(frame.deviation_deg[i], 2) if hok else None,
                        "forearm_roll_deg": _num(frame.roll_deg[i], 2) if ok else None,
                    },
                )
            )

    def _strokes(self, t_from: float, t_to: float) -> list[Stroke]:
        if self._detector is None:
            return []
        step = StrokeStep(
            t_from, t_to, {r: self._role_signals(s, t_from, t_to) for r, s in self.roles.items() if s.started}
        )
        strokes = self._detector.process(step)
        return [self._clamp_stroke(s, t_from, t_to) for s in strokes]

    def _clamp_stroke(self, s: Stroke, t_from: float, t_to: float) -> Stroke:
        """Hold a detector to the slot contract: decided inside the span, at most 0.5 s after the end."""
        decided = s.decided_s
        ok_latency = s.t_end_s - _EPS <= decided <= s.t_end_s + MAX_STROKE_LATENCY_S + _EPS
        if ok_latency and t_from - _EPS <= decided < t_to:
            return s
        self.stroke_contract_violations += 1
        decided = min(max(decided, t_from), t_to - 1e-6)
        return Stroke(
            min(s.t_start_s, decided), min(s.t_end_s, decided), s.direction, s.confidence, s.sensor, decided
        )

    def _stroke_events(
        self, strokes: list[Stroke], active: BoolArray, t: FloatArray, pending: list[Any]
    ) -> None:
        for s in sorted(strokes, key=lambda s: (s.decided_s, s.t_start_s)):
            self._one_stroke(s, pending)
            if self.config.cues and s.direction == "distal":
                i = min(max(0, math.floor((s.decided_s - t[0]) * self.decision_hz + 1e-6)), len(t) - 1)
                if active[i]:
                    for tc, code in self._cues.distal_stroke(s.decided_s):
                        pending.append((tc, "cue", {"code": code, "message": MESSAGES[code]}))
                        self._summary.add_cue(code)

    def _one_stroke(self, s: Stroke, pending: list[Any]) -> None:
        direction = s.direction if s.direction in ("proximal", "distal", "unknown") else "unknown"
        pending.append(
            (
                s.decided_s,
                "stroke",
                {
                    "t_start": round(s.t_start_s, 4),
                    "t_end": round(s.t_end_s, 4),
                    "direction": direction,
                    "confidence": round(min(1.0, max(0.0, float(s.confidence))), 3),
                    "sensor": s.sensor,
                },
            )
        )
        self._summary.add_stroke(s.t_start_s, direction)
        self._recent_starts = [x for x in self._recent_starts if x > s.decided_s - 60.0] + [s.t_start_s]
        spm = live_cadence_spm(self._recent_starts, s.decided_s)
        if spm is not None:
            pending.append((s.decided_s, "cadence", {"strokes_per_min": round(spm, 2)}))
        self._span_strokes.append((s.decided_s, s.t_start_s, spm))

    def _cue_events(self, t: FloatArray, frame: PostureFrame, active: BoolArray, pending: list[Any]) -> None:
        conds: dict[str, BoolArray] = {
            "raise_hand": active & frame.treated_ok & ~frame.elevated,
            "straighten_wrist": active & frame.hand_ok & ~frame.neutral,
        }
        value, last_start = self._cadence_track(t)
        # Cadence holds from its event until the next, and lapses when stroking stops for a bout gap.
        fresh = t - last_start < BOUT_GAP_S
        with np.errstate(invalid="ignore"):
            too_fast = value > (self.cadence_max_spm if self.cadence_max_spm is not None else np.inf)
            too_slow = value < (self.cadence_min_spm if self.cadence_min_spm is not None else -np.inf)
        conds["slower"] = active & fresh & too_fast
        conds["faster"] = active & fresh & too_slow
        cues = self._cues.conditions(t, self._dt, conds)
        elapsed: FloatArray = self._elapsed_active_s + np.cumsum(active).astype(np.float64) * self._dt
        self._elapsed_active_s = float(elapsed[-1])
        cues += self._cues.time_left(t, elapsed, self.target_duration_s)
        for tc, code in cues:
            pending.append((tc, "cue", {"code": code, "message": MESSAGES[code]}))
            self._summary.add_cue(code)

    def _cadence_track(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per decision point: the live cadence in force (NaN: none) and the latest stroke start known
        by then; folds this span's strokes into the carried values."""
        value = np.full(t.shape[0], self._cadence_value)
        last_start = np.full(t.shape[0], self._last_stroke_start)
        for decided, start, spm in sorted(self._span_strokes):
            after = t >= decided - _EPS
            last_start = np.where(after, np.maximum(last_start, start), last_start)
            if spm is not None:
                value = np.where(after, spm, value)
            self._last_stroke_start = max(self._last_stroke_start, start)
            if spm is not None:
                self._cadence_value = spm
        self._span_strokes.clear()
        return value, last_start

    # ------------------------------------------------------------------------------------------
    # Stroke-detector input

    def _role_signals(self, stream: RoleStream, t_from: float, t_to: float) -> RoleSignals:
        rate, t0 = stream.rate_hz, stream.t0_s
        k_a = math.ceil((t_from - t0) * rate - 1e-6)
        k_b = math.ceil((t_to - t0) * rate - 1e-6)
        k = np.arange(max(k_a, 0), max(k_b, 0), dtype=np.int64)
        n = k.shape[0]
        buf = stream.out
        pos = np.searchsorted(buf.k, k)
        pos_c = np.minimum(pos, max(len(buf) - 1, 0))
        valid = (pos < len(buf)) & (buf.k[pos_c] == k) if len(buf) else np.zeros(n, bool)
        src = pos_c[valid]
        m = self._mounts.get(stream.role, np.eye(3))
        if stream.role == "stroker":
            m = np.eye(3)
        mq = quat.from_matrix(m)

        def full(width: int) -> FloatArray:
            return np.full((n, width), np.nan)

        acc, gyr, q = full(3), full(3), full(4)
        acc[valid] = buf.acc_mps2[src] @ m
        gyr[valid] = (buf.gyr_rps[src] - buf.bias_rps[src]) @ m
        q[valid] = quat.multiply(buf.quat[src], mq)
        up = quat.rotate_inverse(q, np.array([0.0, 0.0, 1.0]))
        x_earth = quat.rotate(q, np.array([1.0, 0.0, 0.0]))
        lin = quat.rotate(q, acc) - np.array([0.0, 0.0, GRAVITY_MPS2])
        elev = np.degrees(np.arcsin(np.clip(up[:, 0], -1.0, 1.0)))
        return RoleSignals(stream.role, rate, t0 + k / rate, valid, acc, gyr, q, up, x_earth, lin, elev)

    # ------------------------------------------------------------------------------------------
    # Commands, states, events, the end

    def _apply(self, command: dict[str, Any], j: int) -> list[Event]:
        pending: list[tuple[float, str, dict[str, Any]]] = []
        name = command["cmd"]
        args = command.get("args") or {}
        t = j * self._dt
        self.applied_commands.append((round(t, 6), command))
        if name == "set_targets":
            cad = args.get("cadence_spm") or {}
            self._set_targets(args.get("target_duration_s"), cad.get("min_spm"), cad.get("max_spm"))
            self._set_thresholds(args.get("thresholds") or {})
        elif name == "set_target_duration":
            self._set_targets(args.get("target_duration_s"), None, None)
        elif name == "set_cadence_range":
            self._set_targets(None, args.get("min_spm"), args.get("max_spm"))
        elif name == "set_thresholds":
            self._set_thresholds(args)
        elif name == "pause":
            if not self._paused_by_command:
                self._paused_by_command = True
                if self.state == "active":
                    self._set_state(pending, j, "paused", "paused by command")
        elif name == "resume":
            if self._paused_by_command:
                self._paused_by_command = False
                if self.state == "paused" and not self._paused_by_gap:
                    self._set_state(pending, j, "active", "resumed by command")
        elif name == "stop":
            events = self._emit(pending)
            return events + self._close(t, str(args.get("reason") or "stopped by command"), False)
        return self._emit(pending)

    def _set_targets(self, duration_s: Any, min_spm: Any, max_spm: Any) -> None:
        if duration_s is not None:
            self.target_duration_s = float(duration_s)
            self._cues.target_changed()
        if min_spm is not None:
            self.cadence_min_spm = float(min_spm)
        if max_spm is not None:
            self.cadence_max_spm = float(max_spm)

    def _set_thresholds(self, args: dict[str, Any]) -> None:
        for key in _THRESHOLD_KEYS:
            if args.get(key) is not None:
                setattr(self.thresholds, key, float(args[key]))

    def _set_state(
        self, pending: list[Any], j: int, state: str, reason: str, t_s: float | None = None
    ) -> None:
        if state == self.state:
            return
        self.state = state
        if self.config.state_events:
            t = j * self._dt if t_s is None else t_s
            pending.append((t, "state", {"state": state, "reason": reason, "wall_utc": self._wall(t)}))

    def _emit(self, pending: list[tuple[float, str, dict[str, Any]]]) -> list[Event]:
        out: list[Event] = []
        pending.sort(key=lambda e: (e[0], _PRIORITY[e[1]]))
        for t, typ, fields in pending:
            t_out = max(round(t, 6), self._last_event_t)
            self._last_event_t = t_out
            out.append(make_event(self.ids, typ, t_out, **fields))
        return out

    def _close(self, end_s: float, reason: str, aborted: bool) -> list[Event]:
        pending: list[tuple[float, str, dict[str, Any]]] = []
        end_t = max(end_s, self._last_event_t)
        if self._detector is not None:
            for s in self._detector.finish(end_t):
                if not s.t_end_s <= end_t + _EPS:
                    continue
                decided = min(max(s.decided_s, s.t_end_s, self._last_event_t), end_t)
                self._one_stroke(
                    Stroke(s.t_start_s, s.t_end_s, s.direction, s.confidence, s.sensor, decided), pending
                )
        self._set_state(pending, 0, "aborted" if aborted else "finished", reason, t_s=end_t)
        out = self._emit(pending)
        cal = self._cal or _Calibration(self._requested_mounting, checks_off=["calibration_not_completed"])
        calibration = {
            "mounting": cal.mounting,
            "still": None if cal.still is None else [round(cal.still[0], 3), round(cal.still[1], 3)],
            "rotate": None if cal.rotate is None else [round(cal.rotate[0], 3), round(cal.rotate[1], 3)],
            "checks_off": sorted(set(cal.checks_off)),
        }
        fields = self._summary.fields(end_t, self._wall(end_t), calibration)
        t_sum = max(round(end_t, 6), self._last_event_t)
        out.append(make_event(self.ids, "summary", t_sum, **fields))
        self._last_event_t = t_sum
        self.finished = True
        return out

    def _wall(self, t_s: float) -> str | None:
        start = self.meta.start_utc
        if not start:
            return None
        try:
            t0 = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            return None
        if t0.tzinfo is None:
            t0 = t0.replace(tzinfo=dt.UTC)
        wall = t0 + dt.timedelta(seconds=t_s)
        return wall.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _trim(self) -> None:
        if self._j_next is None or self._cal is None:
            return
        t_next = self._j_next * self._dt
        for stream in self.roles.values():
            if stream.started:
                stream.out.drop_before(t_next - 3.0 / stream.rate_hz)

    @staticmethod
    def _resolve_detector(choice: str | DetectorFactory | None) -> DetectorFactory | None:
        if choice is None:
            return None
        if choice == "default":
            return load_default_detector()
        if isinstance(choice, str):
            raise ValidationError(f"stroke_detector must be 'default', a factory or None, not {choice!r}")
        return choice


def _pick(*values: float | None) -> float:
    for v in values:
        if v is not None:
            return float(v)
    raise AssertionError("a default is always given")


def _num(v: float, digits: int) -> float | None:
    return round(float(v), digits) if math.isfinite(v) else None


def _null_posture() -> dict[str, Any]:
    return {
        "elevated": None,
        "elevation_deg": None,
        "wrist_neutral": None,
        "wrist_flexion_deg": None,
        "wrist_deviation_deg": None,
        "forearm_roll_deg": None,
    }


def _phase_data(buf: Any, span: tuple[float, float] | None) -> tuple[FloatArray, FloatArray] | None:
    if span is None:
        return None
    sel = buf.between(span[0], span[1])
    if len(sel) < 3:
        return None
    return sel.gyr_rps, sel.acc_mps2


def _still_quats(
    treated: RoleStream, hand: RoleStream | None, span: tuple[float, float]
) -> tuple[FloatArray | None, FloatArray | None]:
    """Orientations over the ``still`` phase: treated's, and hand's at the same times (rows where both
    exist), or ``None``."""
    if treated.tracker is None:
        return None, None
    sel = treated.out.between(span[0], span[1])
    if len(sel) < 3:
        return None, None
    if hand is None or hand.tracker is None:
        return sel.quat, None
    h = hand.interpolate(sel.t_s)
    if int(h.valid.sum()) < 3:
        return sel.quat, None
    return sel.quat[h.valid], h.quat[h.valid]


def _validate_command(command: Any) -> None:
    """Shape and numbers of a command (ranges are checked where commands arrive: coach.mqtt.commands)."""
    if not isinstance(command, dict) or command.get("cmd") not in COMMANDS:
        name = command.get("cmd") if isinstance(command, dict) else command
        raise ValidationError(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
    args = command.get("args") or {}
    if not isinstance(args, dict):
        raise ValidationError("command args must be an object")
    numbers = dict(args)
    if command["cmd"] == "set_targets":
        for sub in ("cadence_spm", "thresholds"):
            inner = args.get(sub) or {}
            if not isinstance(inner, dict):
                raise ValidationError(f"set_targets: {sub} must be an object")
            numbers.update(inner)
    for key in ("target_duration_s", "min_spm", "max_spm", *_THRESHOLD_KEYS):
        value = numbers.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError(f"command {command['cmd']}: {key} must be a number, not {value!r}")


def _num_or_none(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


__all__ = ["MOUNTINGS", "PipelineConfig", "SessionPipeline", "load_default_detector"]
