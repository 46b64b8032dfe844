"""The decision grid: :class:`SessionPipeline` takes samples and the clock, and decides, point by point,
in order, as far as every expected role's samples are in (see :mod:`coach.pipeline`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from calibration.mounting import SensorCalibration
from calibration.plausibility import CHECKS_OFF, SWAPPED_CODE, RoleSwapCheck
from coach.clock import wall_utc
from coach.errors import ValidationError
from coach.events import Event
from coach.pipeline.calibrating import Calibrating, CalibrationOutcome, posture_setup
from coach.pipeline.coaching import BoolArray, Coaching
from coach.pipeline.commands import SETTINGS_COMMANDS, CommandQueue, Targets
from coach.pipeline.config import PipelineConfig
from coach.pipeline.emit import Emitter, PostureEvents
from coach.pipeline.states import SessionStates
from coach.pipeline.stroke_input import StrokeInput
from coach.samples import ROLES, FloatArray, SampleBlock
from coach.signal.posture import PostureEstimator, PostureFrame, Thresholds
from coach.signal.roles import RoleStream
from coach.signal.strokes.api import Stroke, StrokeContext
from coach.summary import SummaryBuilder, calibration_summary
from coach.trace.meta import TraceMeta

_EPS = 1e-9
#: Longest span of decision points processed at once: memory stays bounded through a long gap.
MAX_SPAN_S: Final = 60.0


class SessionPipeline:
    """Samples in, events out (see :mod:`coach.pipeline`)."""

    def __init__(self, meta: TraceMeta, config: PipelineConfig | None = None) -> None:
        self.meta = meta
        self.config = cfg = config or PipelineConfig()
        self.targets = Targets.initial(
            meta,
            cfg.elevation_margin_m,
            cfg.wrist_flexion_deg,
            cfg.wrist_deviation_deg,
            cfg.cadence_min_spm,
            cfg.cadence_max_spm,
            cfg.target_duration_s,
        )
        ratio = max(1, math.ceil(cfg.decision_hz / cfg.posture_hz - 1e-9))
        self.decision_hz = cfg.posture_hz * ratio
        self._dt = 1.0 / self.decision_hz
        self._block_points = max(1, round(self.decision_hz))
        self._max_span = max(1, round(MAX_SPAN_S * self.decision_hz))
        self.roles: dict[str, RoleStream] = {}
        self._expected = {"treated"} | {r for r in meta.sensor_roles if r in ROLES}
        self._clock = -math.inf
        self._j_next: int | None = None
        self.finished = False
        self._emitter = Emitter()
        self._calibrating = Calibrating(meta, cfg.mounting, self.decision_hz)
        self._estimator: PostureEstimator | None = None
        self._role_check: RoleSwapCheck | None = None
        self._role_check_t = 0.0
        self._strokes = StrokeInput(cfg.stroke_detector)
        self._states = SessionStates(self._dt, cfg.pause_after_s, cfg.state_events, self._wall)
        self._posture = PostureEvents(ratio, self._dt)
        self._summary = SummaryBuilder(self._dt)
        self._coaching = Coaching(
            self.targets,
            self._summary,
            self._dt,
            self.decision_hz,
            cfg.cues,
            cfg.cue_hold_s,
            cfg.cue_repeat_s,
        )
        self._commands = CommandQueue()
        self._needs: tuple[tuple[int, int, int], dict[str, float]] | None = None  # next_point_needs_s
        # A step's second half (strokes, cues), left for complete() by feed_many(split=True), and the
        # ready limit of the call that left it (see complete()).
        self._deferred: Callable[[], list[Event]] | None = None
        self._deferred_pump: tuple[int, float | None] = (0, None)

    # ------------------------------------------------------------------------------------------
    # Public API

    def feed(self, block: SampleBlock) -> list[Event]:
        """Add samples of one role; return the events they decided."""
        return self.feed_many([block])

    def feed_many(self, blocks: list[SampleBlock], *, split: bool = False) -> list[Event]:
        """Add samples of any roles (each role's blocks in time order) and decide once: one step for
        what arrived together, the same events as feeding the blocks one by one (the pipeline decides
        on sample time only), for the fixed cost of one call.

        ``split``: when the call decides a single point, return only its ``state`` and ``posture``
        events and leave the rest of the step (the stroke detector, cues) for :meth:`complete`; see
        there."""
        done = self.complete()
        if self.finished:
            return done
        fed: set[str] = set()
        for block in blocks:
            if len(block) == 0:
                continue
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
            fed.add(block.role)
        return done + self._pump(only=fed, split=split) if fed else done

    @property
    def deferred(self) -> bool:
        """Whether a step's second half waits for :meth:`complete`."""
        return self._deferred is not None

    def complete(self) -> list[Event]:
        """The rest of a step that ``feed_many(split=True)`` left: the stroke detector's strokes, the
        cadence and cues of that decision point, then whatever else was ready in that call.

        A live caller sends the first half's events (posture, state) before the detector runs, yielding
        to its event loop in between. The stream is the same as without the split: the first half's
        events sort before anything the rest can add (strokes are decided at or after the point, at
        most :data:`~coach.pipeline.stroke_input` ``_EPS`` before it, and the emitter orders by ``t`` to
        the microsecond, then by type), and the first half is split off only when that holds. Every
        other call (feed, advance, a command, the end) completes a waiting second half first."""
        rest = self._deferred
        if rest is None:
            return []
        self._deferred = None
        out = rest()
        ready, final_end_s = self._deferred_pump
        return out + self._loop(ready, final_end_s, False)

    def next_point_needs_s(self, step_points: int = 1) -> dict[str, float] | None:
        """Per expected role, the sample time its samples must reach before the next decision point can
        be decided (``None``: the pipeline has not started, or a role has no samples yet; feed at once).
        With ``step_points`` > 1: before the last point of the step that holds the next point, the first
        point from there on that is a multiple of ``step_points``, carries a regular ``posture`` event
        or completes a stroke-detector frame (:meth:`_step_last`): those events are not held back.

        Feeding samples that do not reach these times decides nothing (the ready limit cannot move), so
        a live caller may hold them and feed them together once they do: fewer, larger steps, the same
        events (only later, by up to a step)."""
        if self._j_next is None or self.finished:
            return None
        # Asked at every notification; the answer changes only with the next point or the roles (a
        # started stream stays started): worked out again only then.
        key = (self._j_next, step_points, len(self._expected))
        if self._needs is not None and self._needs[0] == key:
            return self._needs[1]
        j = self._step_last(self._j_next, step_points)
        t_next = j * self._dt
        needs: dict[str, float] = {}
        for role in self._expected:
            stream = self.roles.get(role)
            if stream is None or not stream.started:
                return None
            # _ready_limit: the point needs frontier >= t + dt and frontier - 1 / rate >= t.
            needs[role] = max(t_next + self._dt, t_next + 1.0 / stream.rate_hz) - 2e-6 / self.decision_hz
        self._needs = (key, needs)
        return needs

    def _step_last(self, j: int, step_points: int) -> int:
        """The last point of a live step starting at ``j``: the first point from ``j`` on that is a
        multiple of ``step_points``, is on the posture grid, or completes a stroke-detector frame."""
        if step_points <= 1:
            return j
        every = self._posture.posture_every
        last = min(-(-j // step_points) * step_points, -(-j // every) * every)
        frame = self._strokes.run_point(self.decision_hz)
        return min(last, frame) if frame is not None and frame >= j else last

    def advance(self, t_s: float) -> list[Event]:
        """The live clock: no sample older than ``t_s`` will arrive (silent roles are gaps up to it)."""
        done = self.complete()
        if self.finished:
            return done
        self._clock = max(self._clock, float(t_s))
        return done + self._pump()

    def apply_command(self, command: dict[str, Any], t_s: float) -> list[Event]:
        """Apply a therapist command at ``t_s`` (or at once, if the pipeline is already past it).

        ``command`` is ``{"cmd": name, "args": {...}}`` (extra keys such as ``id`` are ignored), with the
        commands of :mod:`coach.commands`: ``set_target_duration`` (``target_duration_s``),
        ``set_cadence_range`` (``min_spm``, ``max_spm``), ``set_thresholds`` (any of
        ``elevation_margin_m``, ``wrist_flexion_deg``, ``wrist_deviation_deg``), ``pause``, ``resume``,
        ``stop``; also ``set_targets`` with a targets document (``target_duration_s``, ``cadence_spm``,
        ``thresholds``). ``clear_screening`` is the session's business and is ignored. The time it
        took effect (on the decision grid) is recorded in :attr:`applied_commands`, for the session's
        ``commands.jsonl``.
        """
        done = self.complete()
        if self.finished:
            return done
        j = math.ceil(float(t_s) * self.decision_hz - 1e-6)
        if self._j_next is not None:
            j = max(j, self._j_next)
        self._commands.add(command, j)
        return done + self._pump()

    def finish(self, reason: str = "end_of_input", *, aborted: bool = False) -> list[Event]:
        """End of input: decide everything left, drop a stroke in contact, then ``state`` and ``summary``.

        ``aborted`` ends in state ``aborted`` instead of ``finished`` (bad input, a session abort).
        """
        done = self.complete()
        if self.finished:
            return done
        ends = [s.resampler.last_sample_s for s in self.roles.values() if s.resampler.t0_s is not None]
        end_s = max(ends) if ends else max(self._clock, 0.0)
        stop = self._commands.first_stop()
        if stop is not None:
            # A recorded stop ends the session where the live one ended, even after the last sample.
            end_s = max(end_s, stop * self._dt)
        out = done + self._pump(final_end_s=end_s)
        if not self.finished:
            out += self._close(end_s, reason, aborted)
        return out

    @property
    def state(self) -> str:
        """``none``, ``calibrating``, ``active``, ``paused``, ``finished`` or ``aborted``."""
        return self._states.state

    @property
    def target_duration_s(self) -> float | None:
        return self.targets.target_duration_s

    @property
    def thresholds(self) -> Thresholds:
        return self.targets.thresholds

    @property
    def ids(self) -> Any:
        return self._emitter.ids

    @property
    def applied_commands(self) -> list[tuple[float, dict[str, Any]]]:
        """``(t_s, command)`` of every command applied, in order (for the session's commands file)."""
        return self._commands.applied

    @property
    def stroke_contract_violations(self) -> int:
        return self._strokes.contract_violations

    @property
    def late_samples(self) -> int:
        """Samples dropped because they came after the pipeline had decided their time."""
        return sum(s.resampler.late_samples for s in self.roles.values())

    @property
    def sensor_calibrations(self) -> dict[str, SensorCalibration]:
        """Per role, what calibration found (empty until calibration has ended)."""
        cal = self._calibrating.outcome
        return dict(cal.sensors) if cal is not None else {}

    @property
    def mounting(self) -> str:
        return self._calibrating.mounting

    # ------------------------------------------------------------------------------------------
    # The processing loop

    def _pump(
        self, final_end_s: float | None = None, only: set[str] | None = None, split: bool = False
    ) -> list[Event]:
        """Resample what arrived (only roles ``only`` after a feed: the clock did not move), then process
        every decision point that is ready."""
        out: list[Event] = []
        clock = self._clock
        if final_end_s is not None:
            clock = max(clock, final_end_s + self.config.max_gap_s + 1.0)
        self._pull_roles(clock, only)
        if self._j_next is None:
            started: list[Event] = []
            if not self._start(started):
                return out
            out += self._emitter.flush(started)
        # Nothing in the loop moves a role's frontier or the clock: how far the samples allow is
        # worked out once per call (it was, with the same answer, once per turn of the loop).
        return out + self._loop(self._ready_limit(clock, final_end_s), final_end_s, split)

    def _loop(self, ready: int, final_end_s: float | None, split: bool) -> list[Event]:
        """Process the decision points below ``ready``, calibration's end and commands in their places.
        ``split``: where the stroke detector runs at the last point of the ready span (only there), that
        point is a span of its own whose second half is left for :meth:`complete` (the loop goes on from
        there then); the points before it are one span."""
        out: list[Event] = []
        assert self._j_next is not None
        calibrating = self._calibrating
        while not self.finished:
            limit = min(ready, self._j_next + self._max_span)
            if calibrating.outcome is None:
                limit = min(limit, calibrating.limit(self._j_next, final_end_s))
            next_command = self._commands.next_point()
            if next_command is not None:
                limit = min(limit, max(next_command, self._j_next))
            if limit > self._j_next:
                j0 = self._j_next
                halves = split and limit == ready and self._strokes.runs_only_at_last(j0, limit, self._dt)
                if halves and limit - j0 > 1:
                    limit -= 1  # the points before the last in one span, the last split on the next turn
                    halves = False
                self._j_next = limit
                out += self._process(j0, limit, halves)
                if self._deferred is not None:
                    self._deferred_pump = (ready, final_end_s)
                    return out
                continue
            if calibrating.due(self._j_next, ready):
                assert calibrating.j_end is not None
                out += self._calibrate(calibrating.j_end)
                continue
            command = self._commands.pop_due(self._j_next)
            if command is not None:
                out += self._apply(command, self._j_next)
                continue
            break
        self._trim()
        return out

    def _pull_roles(self, clock: float, only: set[str] | None = None) -> None:
        for stream in self.roles.values():
            if only is not None and stream.role not in only:
                continue
            batch = stream.pull(clock)
            if self._estimator is not None and stream.tracker is None and stream.started:
                # A role heard from only after calibration: filtered uncalibrated (nominal mounting).
                stream.start_filter(None)
            self._calibrating.watch(stream, batch)

    def _start(self, pending: list[Event]) -> bool:
        treated = self.roles.get("treated")
        if treated is None or treated.resampler.t0_s is None or not treated.started:  # its rate known too
            return False
        # The session starts with the treated sensor's first sample (it holds the clock).
        self._j_next = math.ceil(treated.resampler.t0_s * self.decision_hz - 1e-6)
        self._summary.start_s = self._j_next * self._dt
        cal = self._calibrating.outcome
        if cal is not None:
            # Nominal mounting: no calibration phase.
            self._after_calibration(cal, self._j_next)
            self._states.set(pending, self._j_next, "active", "nominal mounting: no calibration")
        else:
            reason = f"calibration from {self._calibrating.requested}"
            self._states.set(pending, self._j_next, "calibrating", reason)
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

    # ------------------------------------------------------------------------------------------
    # Calibration ends

    def _calibrate(self, j_cal: int) -> list[Event]:
        """The calibration phases are over: compute the mounting, start the filters, go active."""
        queued: list[Event] = []
        cal = self._calibrating.calibrate(self.roles, self.config.profiles)
        self._after_calibration(cal, j_cal)
        self._states.set(queued, j_cal, "active", f"calibrated ({cal.mounting})")
        for code in cal.warnings:
            self._coaching.mounting_warning(j_cal * self._dt, code, queued)
        return self._emitter.flush(queued)

    def _after_calibration(self, cal: CalibrationOutcome, j_cal: int) -> None:
        """Start the filters, fix the posture references, attach the stroke detector."""
        setup, mounts = posture_setup(
            cal, self.roles, self._expected, self.meta, j_cal * self._dt, self._strokes.factory is not None
        )
        self._strokes.mounts = mounts
        self._estimator = PostureEstimator(setup, self._block_points, self.decision_hz)
        both = all(r in self.roles and self.roles[r].started for r in ("treated", "hand"))
        self._role_check = RoleSwapCheck() if both and not cal.warnings else None
        self._role_check_t = j_cal * self._dt
        if self._strokes.factory is not None:
            roles = tuple(r for r in ROLES if r in self.roles and self.roles[r].started)
            self._strokes.attach(
                StrokeContext(
                    arm=self.meta.arm,
                    roles=roles,
                    rates_hz={r: self.roles[r].rate_hz for r in roles},
                    start_s=j_cal * self._dt,
                    mounting=cal.mounting,
                    axes_calibrated={r: cal.sensors[r].axis_source in ("rotate", "profile") for r in roles},
                    forearm_length_m=self.meta.body.forearm_length_m,
                )
            )
            # What the detector says it cannot judge with this session's sensors (summary checks_off).
            cal.checks_off += [str(c) for c in getattr(self._strokes.detector, "checks_off", ())]

    # ------------------------------------------------------------------------------------------
    # One span of decision points

    def _process(self, j0: int, j1: int, split: bool = False) -> list[Event]:
        j = np.arange(j0, j1, dtype=np.int64)
        t: FloatArray = j.astype(np.float64) * self._dt
        pending: list[Event] = []
        if self._calibrating.outcome is None or self._estimator is None:
            # Calibrating: posture is not observable; no cues, no strokes.
            self._posture.calibrating(j, pending)
            return self._emitter.flush(pending)
        treated = self.roles["treated"]
        hand = self.roles.get("hand")
        frame = self._estimator.compute(
            j, t, treated, hand if hand is not None and hand.started else None, self.targets.thresholds
        )
        active = self._states.span(j, t, frame.treated_ok, pending)
        self._posture.span(j, frame, pending)
        t0 = float(t[0])
        if split and pending and j1 - j0 == 1 and round(t0 - 2 * _EPS, 6) == round(t0, 6):
            # The first half's events (state, posture at t0) go out now; whatever the rest adds is at
            # t0 - _EPS or later and of a later type, so it sorts after them (see complete()).
            first = self._emitter.flush(pending)
            self._deferred = lambda: self._emitter.flush(self._second_half(t, frame, active, []))
            return first
        return self._emitter.flush(self._second_half(t, frame, active, pending))

    def _second_half(
        self, t: FloatArray, frame: PostureFrame, active: BoolArray, pending: list[Event]
    ) -> list[Event]:
        """A span's strokes, cadence and cues (after its posture and state events), and the summary."""
        strokes = self._strokes.strokes(self.roles, t[0], t[-1] + self._dt)
        self._coaching.strokes(strokes, active, t, pending)
        est = self._estimator
        if est is not None and est.recalibration_cues:
            # The still pose asked for after an ambiguous strap turn, and thanks once it was held.
            for t_cue, code in est.recalibration_cues:
                self._coaching.recalibration_cue(t_cue, code, pending)
            est.recalibration_cues.clear()
        self._coaching.span(t, frame, active, pending)
        wrist_seen = (
            frame.hand_ok if frame.wrist_one_sided is None else frame.hand_ok & ~frame.wrist_one_sided
        )
        self._summary.add_span(active, frame.treated_ok, frame.elevated, wrist_seen, frame.neutral)
        self._check_roles(t[-1] + self._dt, pending)
        return pending

    def _check_roles(self, t_end_s: float, pending: list[Event]) -> None:
        """Feed the swapped-roles check the span's rotation of ``treated`` and ``hand``; say it once found."""
        check, cal = self._role_check, self._calibrating.outcome
        if check is None or check.decided or cal is None:
            return
        for role in ("treated", "hand"):
            stream = self.roles.get(role)
            if stream is None or not stream.started or stream.tracker is None:
                continue
            buf = stream.out
            rows = buf.rows_between(self._role_check_t, t_end_s)
            mount = cal.sensors[role].mount
            check.feed(role, (buf.gyr_rps[rows] - buf.bias_rps[rows]) @ mount, stream.rate_hz)
        self._role_check_t = t_end_s
        if check.decide():
            cal.warnings.append(SWAPPED_CODE)
            cal.checks_off += CHECKS_OFF[SWAPPED_CODE]
            self._coaching.mounting_warning(t_end_s - self._dt, SWAPPED_CODE, pending)

    # ------------------------------------------------------------------------------------------
    # Commands and the end

    def _apply(self, command: dict[str, Any], j: int) -> list[Event]:
        pending: list[Event] = []
        name = command["cmd"]
        args = command.get("args") or {}
        t = j * self._dt
        self._commands.applied.append((round(t, 6), command))
        if name in SETTINGS_COMMANDS:
            if self.targets.apply(name, args):
                self._coaching.cues.target_changed()
        elif name == "pause":
            self._states.pause_command(pending, j)
        elif name == "resume":
            self._states.resume_command(pending, j)
        elif name == "stop":
            events = self._emitter.flush(pending)
            return events + self._close(t, str(args.get("reason") or "stopped by command"), False)
        return self._emitter.flush(pending)

    def _close(self, end_s: float, reason: str, aborted: bool) -> list[Event]:
        pending: list[Event] = []
        end_t = max(end_s, self._emitter.last_t)
        for s in self._strokes.finish(self.roles, end_t):
            if not s.t_end_s <= end_t + _EPS:
                continue
            decided = min(max(s.decided_s, s.t_end_s, self._emitter.last_t), end_t)
            self._coaching.stroke(
                Stroke(s.t_start_s, s.t_end_s, s.direction, s.confidence, s.sensor, decided), pending
            )
        self._states.set(pending, 0, "aborted" if aborted else "finished", reason, t_s=end_t)
        out = self._emitter.flush(pending)
        cal = self._calibrating.outcome or CalibrationOutcome(
            self._calibrating.requested, checks_off=["calibration_not_completed"]
        )
        turns = [] if self._estimator is None else self._estimator.strap.turns
        calibration = calibration_summary(
            cal.mounting,
            cal.still,
            cal.rotate,
            cal.checks_off,
            cal.warnings,
            [s.summary() for s in turns],
        )
        t_sum = max(round(end_t, 6), self._emitter.last_t)
        summary = self._summary.event(t_sum, end_t, self._wall(end_t), calibration)
        out += self._emitter.flush([summary])
        self.finished = True
        return out

    def _wall(self, t_s: float) -> str | None:
        return wall_utc(self.meta.start_utc, t_s)

    def _trim(self) -> None:
        if self._j_next is None or self._calibrating.outcome is None:
            return
        t_next = self._j_next * self._dt
        held = self._strokes.held_from_s  # spans the stroke detector has not been given yet
        if held is not None:
            t_next = min(t_next, held)
        for stream in self.roles.values():
            if stream.started:
                stream.out.drop_before(t_next - 3.0 / stream.rate_hz)
