"""A live session: screening → calibrating → active ⇄ paused → finished | aborted.

:class:`LiveSession` drives the whole flow for one person:

1. **screening** (DESIGN.md §1): the contraindication questions; any "yes" (or no answer) blocks and
   tells the person to consult a clinician, unless a therapist's signed ``clear_screening`` is valid
   (now, or arriving while the coach waits);
2. **calibrating**: guided ``still`` and ``rotate`` prompts with checks and retries
   (:mod:`coach.session.calibration`); samples from the sources are recorded from ``t = 0`` on;
3. **active ⇄ paused**: the :class:`~coach.pipeline.SessionPipeline` (made once the calibration times
   are known, then fed everything recorded so far, exactly as ``coach replay`` will) turns blocks into
   events, ticked by the session clock; the pipeline pauses when the ``treated`` sensor falls silent,
   and the session pauses it (a recorded command) while any other sensor's link is down; therapist
   commands arrive over MQTT, verified and audited;
4. **finished** at the target duration (or one key, a therapist's ``stop``, the end of the input),
   or **aborted**; then the person logs pain and swelling (0–10), and the summary goes out.

Every event goes to the terminal view at once, and, in ``t`` order, to the MQTT spool and the events
file. Events the session adds to the pipeline's (its ``screening`` state, calibration prompts, link
cues, the ``self_report``) carry ids ``session-<type>-<n>``, so the pipeline's own ids stay those a
replay of the trace produces.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets as pysecrets
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from coach.errors import ValidationError
from coach.events import Event, EventIds, make_event
from coach.feedback.audio import AudioCues
from coach.feedback.messages import english as cue_english
from coach.feedback.view import SessionView
from coach.mqtt.broker_config import BrokerSettings
from coach.mqtt.commands import (
    Command,
    CommandError,
    format_utc,
    parse_command,
    parse_targets,
    utc_now,
)
from coach.mqtt.publisher import Publisher
from coach.mqtt.secrets import Secret
from coach.mqtt.spool import Spool
from coach.mqtt.topics import PatientTopics, check_id
from coach.pipeline import PipelineConfig, SessionPipeline
from coach.samples import FloatArray, SampleBlock
from coach.session.calibration import GuidedCalibration, Prompt
from coach.session.console import STOP_KEYS, Console
from coach.session.recorder import SessionRecorder, as_recorded
from coach.session.screening import AnswerSource, ScreeningResult, run_screening
from coach.session.sources import LinkStatus, Notified, SampleSource, SessionClock, SourceItem
from coach.session.store import LocalStore
from coach.trace import TraceMeta

log = logging.getLogger("coach.session")

DEFAULT_TARGET_DURATION_S = 720.0


@dataclass
class LiveConfig:
    """How a live session runs (see docs/live-sessions.md for the matching TOML keys)."""

    patient: str
    arm: str | None = None
    body: dict[str, float] | None = None
    target_duration_s: float = DEFAULT_TARGET_DURATION_S
    cadence_spm: tuple[float, float] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    posture_hz: float = 1.0
    #: The pipeline is told that no sample older than ``advance_lag_s`` of wall time (times the clock
    #: speed in session seconds) will still arrive: longer than any delivery delay of a live sensor.
    advance_lag_s: float = 0.3
    #: ... and no earlier than this many session seconds before the newest sample fed.
    gap_margin_s: float = 0.5
    #: Wall seconds between clock ticks.
    tick_s: float = 0.1
    #: Feed the pipeline at most this often (wall seconds; 0: as soon as a notification is in). Larger
    #: values cost less CPU and add up to that much latency (benchmarks/bench_live.py measures both).
    feed_interval_s: float = 0.0
    #: After a blocking screening answer, how long to wait for a therapist's clearance.
    screening_wait_s: float = 600.0
    #: Wait this long at the start for the broker and the retained targets (wall seconds).
    connect_wait_s: float = 3.0
    self_report: bool = True
    self_report_wait_s: float = 300.0
    end_at_target: bool = True
    #: A session never runs longer than this many target durations (plus calibration).
    max_duration_factor: float = 2.0
    record_dir: Path | None = None
    session_id: str | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    drain_timeout_s: float = 10.0
    #: SIGINT/SIGTERM end the session properly (the commands set this; tests and embedders need not).
    handle_signals: bool = False

    def __post_init__(self) -> None:
        check_id(self.patient, "patient id")
        if self.session_id is not None:
            check_id(self.session_id, "session id")
        if not 10 <= self.target_duration_s <= 3600:
            raise ValidationError(f"target_duration_s must be 10–3600 s, not {self.target_duration_s}")


class SelfReport(Protocol):
    """After the session: pain and swelling, 0–10 each (``None`` when not given)."""

    async def report(self) -> tuple[int | None, int | None]: ...


@dataclass
class ScriptedSelfReport:
    pain_0_10: int | None = None
    swelling_0_10: int | None = None

    async def report(self) -> tuple[int | None, int | None]:
        return self.pain_0_10, self.swelling_0_10


@dataclass
class SessionResult:
    session_id: str
    state: str
    reason: str
    trace_path: Path | None
    summary_path: Path
    events_path: Path
    commands_path: Path
    summary: Event
    events_total: int
    spool_empty: bool


def new_session_id(now: datetime | None = None) -> str:
    when = (now or utc_now()).astimezone(UTC)
    return f"s-{when:%Y%m%dT%H%M%SZ}-{pysecrets.token_hex(2)}"


class _SessionIds(EventIds):
    """Ids ``session-<type>-<n>`` for the events the session adds to the pipeline's."""

    __slots__ = ()

    def next(self, event_type: str) -> str:
        return "session-" + super().next(event_type)


class _Merger:
    """Orders session events among pipeline events by ``t``.

    The pipeline's events come in ``t`` order but lag the clock. A session event waits until the
    pipeline has emitted an event at or after its time (or the pipeline is finished), so the stream
    stays non-decreasing in ``t``; held events are released with ``t`` raised to the last one sent.
    """

    def __init__(self) -> None:
        self.held: list[Event] = []
        self.last_t = -math.inf
        self.pipeline_done = False

    def session(self, event: Event) -> list[Event]:
        self.held.append(event)
        self.held.sort(key=lambda e: e["t"])
        return self.release_all() if self.pipeline_done else []

    def pipeline(self, events: list[Event]) -> list[Event]:
        out: list[Event] = []
        for e in events:
            while self.held and self.held[0]["t"] <= e["t"]:
                out.append(self._stamp(self.held.pop(0)))
            out.append(self._stamp(e))
        return out

    def stamp_all(self, events: list[Event]) -> list[Event]:
        """Events sent as they are, ``t`` raised to the last one sent where needed."""
        return [self._stamp(e) for e in events]

    def release_all(self) -> list[Event]:
        out = [self._stamp(e) for e in self.held]
        self.held.clear()
        return out

    def _stamp(self, e: Event) -> Event:
        if e["t"] < self.last_t:
            e = {**e, "t": self.last_t}
        self.last_t = e["t"]
        return e


class LiveSession:
    """One live session; ``await LiveSession(...).run()`` returns a :class:`SessionResult`."""

    def __init__(
        self,
        config: LiveConfig,
        source: SampleSource,
        *,
        answers: AnswerSource,
        store: LocalStore,
        self_report: SelfReport | None = None,
        broker: BrokerSettings | None = None,
        spool_path: Path | None = None,
        secret: Secret | None = None,
        clock: SessionClock | None = None,
        console: Console | None = None,
        view: SessionView | None = None,
        audio: AudioCues | None = None,
        on_event: Callable[[Event], None] | None = None,
        on_decided: Callable[[Event, float], None] | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.answers = answers
        self.store = store
        self.self_report_source = self_report
        self.secret = secret
        self.clock = clock or SessionClock()
        self.console = console
        self.view = view
        self.audio = audio or AudioCues(False)
        self.on_event = on_event
        #: Called with each pipeline event a notification decided and that notification's entry time
        #: into the driver (``time.monotonic()``); for the live-latency benchmark.
        self.on_decided = on_decided
        self._notes: list[tuple[str, FloatArray, FloatArray]] = []
        self._fed_until: dict[str, float] = {}
        self._fed_before: dict[str, float] = {}
        self.topics = PatientTopics(config.patient)
        self.session_id = config.session_id or new_session_id()
        record_dir = config.record_dir or (store.directory / "sessions")
        self.recorder = SessionRecorder(record_dir, self.session_id)
        self.phase = "starting"
        self.pipeline: SessionPipeline | None = None
        self.calibration: GuidedCalibration | None = None
        self.screening: ScreeningResult | None = None
        self.cleared_by: str | None = None
        self._ids = _SessionIds()
        self._merger = _Merger()
        self._final: list[Event] = []
        self._buffered: list[SampleBlock] = []
        self._done = asyncio.Event()
        self._end_reason = ""
        self._end_aborted = False
        self._cleared = asyncio.Event()
        self._links: dict[str, dict[str, Any]] = {
            r: {"link": "down", "battery_pct": None} for r in source.sensors
        }
        self._down_since: dict[str, float] = {}
        self.gaps: list[dict[str, Any]] = []
        self._pause_reasons: set[str] = set()
        self._link_cmds = 0
        self._commands_recorded = 0
        self._active_accum_s = 0.0
        self._active_since: float | None = None
        self._t_pipeline = 0.0
        self.events_total = 0
        self._start_wall: datetime | None = None
        self._settings = self._initial_settings()
        self._last_status = ""
        self._spool: Spool | None = None
        self.publisher: Publisher | None = None
        if broker is not None:
            self._spool = Spool(spool_path or store.directory / "spool.sqlite3")
            self.publisher = Publisher(
                broker,
                self._spool,
                client_id=f"coach-{config.patient}",
                will=(self.topics.status, b'{"state": "offline"}'),
                subscriptions=[self.topics.cmd, self.topics.targets],
                on_message=self.handle_message,
            )
        if self.view is not None:
            m = self.view.model
            m.patient, m.session, m.speed = config.patient, self.session_id, self.clock.speed
            m.target_duration_s = self._settings["target_duration_s"]
            m.broker = "connecting" if self.publisher else "off"

    # ------------------------------------------------------------------------------------------
    # settings

    def _initial_settings(self) -> dict[str, float]:
        cfg = self.config
        settings: dict[str, float] = {"target_duration_s": cfg.target_duration_s}
        if cfg.cadence_spm is not None:
            settings["cadence_min_spm"], settings["cadence_max_spm"] = cfg.cadence_spm
        settings.update(cfg.thresholds)
        settings.update(self.store.settings())  # the therapist's, when set, win over the config file
        return settings

    # ------------------------------------------------------------------------------------------
    # the flow

    async def run(self) -> SessionResult:
        if self.publisher is not None:
            self.publisher.start()
        self._status("screening")
        handled = self._handle_signals() if self.config.handle_signals else []
        try:
            await self._wait_for_link()
            screen = asyncio.create_task(self._screen(), name="screening")
            ended = asyncio.create_task(self._done.wait())
            await asyncio.wait({screen, ended}, return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            if not screen.done():  # stopped (a signal, the therapist) while the questions were asked
                screen.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await screen
            elif screen.result() and not self._done.is_set():
                await self._stream()
            else:
                self._end(self._end_reason or "screening blocked: consult a clinician", aborted=True)
        finally:
            with contextlib.suppress(Exception):
                await self.source.close()
            if self.console is not None:
                self.console.stop_keys()
        try:
            return await self._close()
        finally:
            loop = asyncio.get_running_loop()
            for sig in handled:
                loop.remove_signal_handler(sig)

    def _handle_signals(self) -> list[signal.Signals]:
        """SIGINT and SIGTERM end the session properly (summary, publish, files); a second one acts as
        usual (the handler removes itself)."""
        loop = asyncio.get_running_loop()
        handled = []

        def on_signal(sig: signal.Signals) -> None:
            loop.remove_signal_handler(sig)
            self._end(f"stopped by signal {sig.name}", aborted=self.pipeline is None)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
                continue
            handled.append(sig)
        return handled

    async def _wait_for_link(self) -> None:
        if self.publisher is None:
            return
        try:
            await asyncio.wait_for(self.publisher.subscribed.wait(), self.config.connect_wait_s)
            await asyncio.sleep(0.3)  # retained targets arrive right after the subscription
        except TimeoutError:
            log.warning("no broker yet: the session starts; events wait in the spool")

    async def _screen(self) -> bool:
        self.phase = "screening"
        self._session_state("screening", "safety questions")
        result = await run_screening(self.answers)
        self.screening = result
        self.store.audit(
            "screening",
            session=self.session_id,
            blocked_by=list(result.blocked_by),
            answered=len(result.answers),
        )
        if not result.blocked:
            return True
        clearance = self.store.valid_clearance()
        if clearance is not None:
            self.cleared_by = clearance.cmd_id
            self.store.audit(
                "clearance_used", session=self.session_id, cmd_id=clearance.cmd_id, by=clearance.by
            )
            self._session_cue("screening_cleared")
            return True
        self._session_cue("screening_blocked")
        self._status("screening", screening="blocked")
        with self._stop_keys():
            cleared = asyncio.create_task(self._cleared.wait())
            done = asyncio.create_task(self._done.wait())
            finished, _ = await asyncio.wait(
                {cleared, done}, timeout=self.config.screening_wait_s, return_when=asyncio.FIRST_COMPLETED
            )
            for task in (cleared, done):
                task.cancel()
        if self._cleared.is_set() and not self._done.is_set():
            self._session_cue("screening_cleared")
            return True
        if not finished:
            self._end_reason = "screening blocked: consult a clinician (no clearance)"
        return False

    @contextlib.contextmanager
    def _stop_keys(self) -> Any:
        console = self.console
        if console is None:
            yield
            return

        def on_key(byte: int) -> None:
            if byte in STOP_KEYS:
                self._end("stopped by the person", aborted=self.pipeline is None)

        with console.key_mode():
            console.watch_keys(on_key)
            try:
                yield
            finally:
                console.stop_keys()

    async def _stream(self) -> None:
        """Calibration, then the active session, until something ends it."""
        self.phase = "calibrating"
        self.calibration = GuidedCalibration(list(self.source.sensors), **self.config.calibration)
        self._start_wall = utc_now()
        self.clock.start()
        await self.source.start(self.clock)
        for prompt in self.calibration.begin(0.0):
            self._prompt(prompt)
        self._status("calibrating")
        with self._stop_keys():
            reader = asyncio.create_task(self._read_source(), name="session-reader")
            ticker = asyncio.create_task(self._tick_loop(), name="session-ticker")
            try:
                await self._done.wait()
            finally:
                for task in (reader, ticker):
                    task.cancel()
                for task in (reader, ticker):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    error = None if task.cancelled() else task.exception()
                    if error is not None:
                        raise error

    async def _read_source(self) -> None:
        """Take items as they come; process what has piled up in one go (larger blocks, fewer calls)."""
        inbox: list[SourceItem] = []
        wake = asyncio.Event()
        ended = False

        async def receive() -> None:
            nonlocal ended
            try:
                async for item in self.source.items():
                    inbox.append(item)
                    wake.set()
            finally:
                ended = True
                wake.set()

        receiver = asyncio.create_task(receive(), name="session-receiver")
        try:
            loop = asyncio.get_running_loop()
            last_feed = 0.0
            while not self._done.is_set():
                await wake.wait()
                wake.clear()
                if self.config.feed_interval_s > 0:
                    # Fewer, larger pipeline calls: each costs about the same whatever its size.
                    await asyncio.sleep(max(0.0, last_feed + self.config.feed_interval_s - loop.time()))
                    last_feed = loop.time()
                items, inbox[:] = list(inbox), []
                self._process(items)
                if ended and not inbox:
                    await asyncio.wait({receiver})
                    error = None if receiver.cancelled() else receiver.exception()
                    if error is not None:
                        raise error
                    self._end("end of input", aborted=self.pipeline is None)
                    return
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver

    def _process(self, items: list[SourceItem]) -> None:
        """Blocks of one role that arrived together are fed as one; link changes keep their place."""
        held: dict[str, list[SampleBlock]] = {}
        notes: list[tuple[str, FloatArray, FloatArray]] = []  # (role, sample times, entered) per block

        def flush() -> None:
            self._notes = list(notes)
            self._fed_before = dict(self._fed_until)
            try:
                for blocks in held.values():
                    self._on_block(blocks[0] if len(blocks) == 1 else SampleBlock.concat(blocks))
            finally:
                self._notes = []
            held.clear()
            notes.clear()

        for item in items:
            if isinstance(item, LinkStatus):
                flush()
                self._on_link(item)
                continue
            block = item.block if isinstance(item, Notified) else item
            if isinstance(item, Notified) and len(block):
                entered = np.broadcast_to(
                    np.asarray(item.entered_monotonic_s, dtype=np.float64), (len(block),)
                )
                notes.append((block.role, block.t_s, entered))
            held.setdefault(block.role, []).append(block)
        flush()

    def _decider(self, t_s: float) -> float | None:
        """When the data that completed a decision at ``t_s`` entered the driver: for each role whose
        samples had not reached ``t_s`` plus one sample period before this batch (what the pipeline
        waits for), the entry time of its first sample that far; the latest of those (the last piece
        that was missing). ``None`` outside a batch."""
        notes = self._notes
        if not notes:
            return None
        latest: float | None = None
        for role in {role for role, _, _ in notes}:
            # The pipeline decides a time once every role has a sample one sample period past it.
            rate = self.source.sensors.get(role, {}).get("rate_hz") or 100.0
            need = t_s + 1.0 / float(rate) - 1e-6
            if self._fed_before.get(role, -math.inf) >= need:
                continue
            for r, t, entered in notes:
                if r == role and t[-1] >= need:
                    when = float(entered[int(np.searchsorted(t, need, side="left"))])
                    latest = when if latest is None else max(latest, when)
                    break
        if latest is None:  # every role had reached t_s before: the batch's first sample completed it
            latest = min(float(entered[0]) for _, _, entered in notes)
        return latest

    async def _tick_loop(self) -> None:
        last_status = 0.0
        loop = asyncio.get_running_loop()
        while not self._done.is_set():
            await asyncio.sleep(self.config.tick_s)
            self._tick(self.clock.now_s())
            if loop.time() - last_status >= 1.0:
                last_status = loop.time()
                self._status(self._pipeline_state())

    def _tick(self, t_s: float) -> None:
        self.recorder.flush()
        cal = self.calibration
        if self.pipeline is None and cal is not None:
            for prompt in cal.step(t_s):
                self._prompt(prompt)
            if cal.done:
                self._start_pipeline()
            elif cal.failed:
                self._end("calibration failed", aborted=True)
                return
        if self.pipeline is not None and not self.pipeline.finished and self._fed_until:
            # Silent sensors become gaps only against the clock and against data already fed: when
            # this process falls behind (a busy machine), samples waiting in its queue are not late.
            freshest = max(self._fed_until.values())
            horizon = min(
                t_s - self.config.advance_lag_s * self.clock.speed, freshest - self.config.gap_margin_s
            )
            self._pipeline_events(self.pipeline.advance(horizon))
        limit = self._settings["target_duration_s"] * self.config.max_duration_factor + 60.0
        if t_s > limit and not self._done.is_set():
            self._end("maximum session length reached", aborted=False)
        if self.view is not None:
            self.view.model.time_left_s = self._time_left()
            if self.publisher is not None:
                self.view.model.pending = self.publisher.pending
                self.view.model.broker = "connected" if self.publisher.connected.is_set() else "offline"
            self.view.refresh()

    # ------------------------------------------------------------------------------------------
    # samples and links

    def _on_block(self, block: SampleBlock) -> None:
        if not len(block):
            return
        block = as_recorded(block)  # what a replay of the trace will read, digit for digit
        self.recorder.add(block)
        if self.pipeline is None:
            self._buffered.append(block)
            if self.calibration is not None:
                self.calibration.feed(block)
            return
        if not self.pipeline.finished:
            self._pipeline_events(self.pipeline.feed(block))
        self._fed_until[block.role] = max(self._fed_until.get(block.role, -math.inf), float(block.t_s[-1]))

    def _on_link(self, item: LinkStatus) -> None:
        link = self._links.setdefault(item.role, {"link": "down", "battery_pct": None})
        was_up = link["link"] == "up"
        link["link"] = "up" if item.up else "down"
        if item.battery_pct is not None:
            link["battery_pct"] = round(float(item.battery_pct))
        self.recorder.link(item.role, item.up)
        if self.view is not None:
            self.view.set_sensor(item.role, link["link"], item.battery_pct)
        if was_up and not item.up:
            self._down_since[item.role] = item.t_s
            self._session_cue("sensor_lost", role=item.role)
            if item.role != "treated":  # the pipeline pauses by itself when `treated` falls silent
                self._pause(f"link:{item.role}", item.t_s)
        elif item.up and not was_up and item.role in self._down_since:
            start = self._down_since.pop(item.role)
            self.gaps.append({"role": item.role, "start_s": round(start, 3), "end_s": round(item.t_s, 3)})
            self._session_cue("sensor_back", role=item.role)
            if item.role != "treated":
                self._resume(f"link:{item.role}", item.t_s)
        self._status(self._pipeline_state())

    def _pause(self, reason: str, t_s: float) -> None:
        was = bool(self._pause_reasons)
        self._pause_reasons.add(reason)
        if not was:
            self._coach_command("pause", t_s)

    def _resume(self, reason: str, t_s: float) -> None:
        if reason not in self._pause_reasons:
            return
        self._pause_reasons.discard(reason)
        if not self._pause_reasons:
            self._coach_command("resume", t_s)

    def _coach_command(self, name: str, t_s: float) -> None:
        """A pause/resume of the coach's own (a sensor's link), recorded like a therapist's command."""
        if self.pipeline is None or self.pipeline.finished:
            return
        self._link_cmds += 1
        command = {
            "id": f"coach-{name}-{self._link_cmds}",
            "cmd": name,
            "args": {},
            "issued_at": format_utc(utc_now()),
            "by": "coach",
        }
        self._pipeline_events(self.pipeline.apply_command(command, t_s))

    # ------------------------------------------------------------------------------------------
    # the pipeline

    def _meta(self, with_calibration: bool) -> TraceMeta:
        s = self._settings
        raw: dict[str, Any] = {
            "start_utc": format_utc(self._start_wall or utc_now()),
            "sensors": {role: dict(info) for role, info in self.source.sensors.items()},
            "target_duration_s": s["target_duration_s"],
            "session_id": self.session_id,
        }
        if self.config.arm is not None:
            raw["arm"] = self.config.arm
        if self.config.body:
            raw["body"] = dict(self.config.body)
        thresholds = {
            k: s[k] for k in ("elevation_margin_m", "wrist_flexion_deg", "wrist_deviation_deg") if k in s
        }
        if thresholds:
            raw["thresholds"] = thresholds
        if "cadence_min_spm" in s and "cadence_max_spm" in s:
            raw["cadence_spm"] = {"min_spm": s["cadence_min_spm"], "max_spm": s["cadence_max_spm"]}
        cal = self.calibration
        if with_calibration and cal is not None and cal.still is not None and cal.rotate is not None:
            raw["calibration"] = {"still": list(cal.still), "rotate": list(cal.rotate)}
        return TraceMeta(raw)

    def _start_pipeline(self, with_calibration: bool = True, feed: bool = True) -> None:
        meta = self._meta(with_calibration)
        mounting = None if with_calibration else "nominal"
        self.pipeline = SessionPipeline(
            meta, PipelineConfig(posture_hz=self.config.posture_hz, mounting=mounting)
        )
        if with_calibration or self._buffered:
            self.recorder.open_trace(meta)
        buffered, self._buffered = self._buffered, []
        for block in buffered if feed else []:
            self._pipeline_events(self.pipeline.feed(block))
        self.phase = "active"
        for role, link in self._links.items():
            if role != "treated" and link["link"] == "down" and role in self._down_since:
                self._pause(f"link:{role}", self._down_since[role])

    def _pipeline_events(self, events: list[Event]) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        while self._commands_recorded < len(pipeline.applied_commands):
            t_s, command = pipeline.applied_commands[self._commands_recorded]
            self.recorder.command(t_s, command)
            self._commands_recorded += 1
        if not events:
            return
        ready: list[Event] = []
        for e in events:
            self._t_pipeline = e["t"]
            if e["type"] == "state":
                self._track_active(e)
            if self._final or (e["type"] == "state" and e["state"] in ("finished", "aborted")):
                self._final.append(e)  # held until the self-report is in
                if e["type"] == "state":
                    self._end(str(e.get("reason") or "finished"), aborted=e["state"] == "aborted")
                continue
            self._show(e)
            if self.on_decided is not None and (entered := self._decider(float(e["t"]))) is not None:
                self.on_decided(e, entered)
            if e["type"] == "cue" and e.get("code") == "session_complete" and self.config.end_at_target:
                self._end("target duration reached", aborted=False)
            ready.append(e)
        self._sink(self._merger.pipeline(ready))

    def _track_active(self, event: Event) -> None:
        t = float(event["t"])
        if self._active_since is not None:
            self._active_accum_s += t - self._active_since
            self._active_since = None
        if event["state"] == "active":
            self._active_since = t
        self._status(str(event["state"]))

    def _time_left(self) -> float | None:
        target = (
            self.pipeline.target_duration_s
            if self.pipeline is not None
            else self._settings["target_duration_s"]
        )
        if target is None:
            return None
        active = self._active_accum_s
        if self._active_since is not None:
            active += max(0.0, self._t_pipeline - self._active_since)
        return max(0.0, float(target) - active)

    def _pipeline_state(self) -> str:
        if self.pipeline is None:
            return self.phase if self.phase != "starting" else "screening"
        return self.pipeline.state if self.pipeline.state != "none" else "calibrating"

    # ------------------------------------------------------------------------------------------
    # session events, cues, status

    def _session_event(self, event_type: str, **fields: Any) -> Event:
        t = self.clock.now_s() if self.phase not in ("starting", "screening") else 0.0
        event = make_event(self._ids, event_type, round(max(t, 0.0), 6), **fields)
        self._show(event)
        self._sink(self._merger.session(event))
        return event

    def _session_state(self, state: str, reason: str) -> None:
        self._session_event("state", state=state, reason=reason, wall_utc=format_utc(utc_now()))

    def _session_cue(self, code: str, **fmt: str) -> None:
        self._session_event("cue", code=code, message=cue_english(code, **fmt), **fmt)

    def _prompt(self, prompt: Prompt) -> None:
        self._session_event("cue", code=prompt.code, message=prompt.message)

    def _show(self, event: Event) -> None:
        if self.view is not None:
            self.view.on_event(event)
        if event["type"] == "cue" and self.audio.enabled:
            task = asyncio.get_running_loop().create_task(self.audio.play(str(event["message"])))
            task.add_done_callback(lambda t: t.exception())

    def _sink(self, events: list[Event]) -> None:
        if not events:
            return
        if self.publisher is not None:  # the spool first: what the events file shows is already safe
            topic = self.topics.events(self.session_id)
            for e in events:
                self.publisher.enqueue(topic, json.dumps(e, allow_nan=False, separators=(",", ":")).encode())
        self.recorder.events(events)
        self.events_total += len(events)
        if self.on_event is not None:
            for e in events:
                self.on_event(e)

    def _status(self, state: str, **extra: Any) -> None:
        if self.publisher is None:
            return
        doc: dict[str, Any] = {
            "state": state,
            "session": self.session_id,
            "wall_utc": format_utc(utc_now()),
            "sensors": {role: dict(v) for role, v in self._links.items()},
            "target_duration_s": self._settings["target_duration_s"],
            "time_left_s": None if (left := self._time_left()) is None else round(left),
            **extra,
        }
        key = json.dumps({k: v for k, v in doc.items() if k != "wall_utc"}, sort_keys=True)
        if key == self._last_status:
            return
        self._last_status = key
        self.publisher.set_retained(self.topics.status, json.dumps(doc, separators=(",", ":")).encode())

    # ------------------------------------------------------------------------------------------
    # the person's own controls (the session page's Stop and Pause; the terminal's stop keys)

    def request_stop(self, reason: str = "stopped by the person") -> None:
        """End the session now, as a stop key does (aborted when it had not started coaching)."""
        self._end(reason, aborted=self.pipeline is None)

    def pause_by_person(self) -> bool:
        """Pause the active session (recorded like the coach's link pauses); ``False`` when not active."""
        if self.pipeline is None or self.pipeline.finished or "person" in self._pause_reasons:
            return False
        self._pause("person", self.clock.now_s())
        return True

    def resume_by_person(self) -> bool:
        """End the person's own pause (the session resumes when no other reason holds it)."""
        if self.pipeline is None or self.pipeline.finished or "person" not in self._pause_reasons:
            return False
        self._resume("person", self.clock.now_s())
        return True

    def _end(self, reason: str, *, aborted: bool) -> None:
        if not self._done.is_set():
            self._end_reason, self._end_aborted = reason, aborted
            self._done.set()

    # ------------------------------------------------------------------------------------------
    # the end

    async def _close(self) -> SessionResult:
        reason, aborted = self._end_reason or "finished", self._end_aborted
        if self.pipeline is None:
            # Never calibrated: the pipeline still closes the session (state and summary). It is not
            # fed the calibration attempts (it would coach them as if calibrated); they are in the trace.
            self._start_pipeline(with_calibration=False, feed=False)
        pipeline = self.pipeline
        assert pipeline is not None
        if not pipeline.finished:
            self._pipeline_events(pipeline.finish(reason, aborted=aborted))
        final_state = next((e for e in self._final if e["type"] == "state"), None)
        aborted = final_state is not None and final_state["state"] == "aborted"
        self._merger.pipeline_done = True
        self._sink(self._merger.release_all())
        pain, swelling = None, None
        if not aborted and self.config.self_report and self.self_report_source is not None:
            self._status("finished", self_report="asking")
            with contextlib.suppress(TimeoutError):
                pain, swelling = await asyncio.wait_for(
                    self.self_report_source.report(), self.config.self_report_wait_s
                )
            if pain is not None or swelling is not None:
                t_end = final_state["t"] if final_state is not None else self._merger.last_t
                report = make_event(self._ids, "self_report", t_end, pain_0_10=pain, swelling_0_10=swelling)
                self._show(report)
                self._sink(self._merger.session(report))
        summary = next(e for e in self._final if e["type"] == "summary")
        summary.update(
            {
                "session": self.session_id,
                "gaps": self._all_gaps(float(summary["t"])),
                "pain_0_10": pain,
                "swelling_0_10": swelling,
                "screening": None
                if self.screening is None
                else {"blocked_by": list(self.screening.blocked_by), "cleared_by": self.cleared_by},
            }
        )
        final = self._merger.stamp_all(self._final)  # after the session's own events, never before
        summary = final[-1]
        for e in final:
            self._show(e)
        self._sink(final)
        self.recorder.summary(summary)
        if self.publisher is not None:
            self.publisher.enqueue(
                self.topics.summary(self.session_id),
                json.dumps(summary, allow_nan=False, separators=(",", ":")).encode(),
                retain=True,
            )
            self._status("aborted" if aborted else "finished")
            self.publisher.set_final_retained(
                self.topics.status,
                json.dumps(
                    {"state": "offline", "session": self.session_id, "wall_utc": format_utc(utc_now())},
                    separators=(",", ":"),
                ).encode(),
            )
        self.recorder.close()
        spool_empty = True
        if self.publisher is not None:
            spool_empty = await self.publisher.stop(self.config.drain_timeout_s)
            assert self._spool is not None
            self._spool.close()
        await self.audio.close()
        if self.view is not None:
            self.view.close()
        return SessionResult(
            self.session_id,
            "aborted" if aborted else "finished",
            str(final_state.get("reason")) if final_state else reason,
            self.recorder.trace_path if self.recorder.trace_path.exists() else None,
            self.recorder.summary_path,
            self.recorder.events_path,
            self.recorder.commands_path,
            summary,
            self.events_total,
            spool_empty,
        )

    def _all_gaps(self, end_s: float) -> list[dict[str, Any]]:
        open_gaps = [
            {"role": role, "start_s": round(start, 3), "end_s": round(end_s, 3)}
            for role, start in self._down_since.items()
            if self.pipeline is not None
        ]
        return sorted(self.gaps + open_gaps, key=lambda g: (g["start_s"], g["role"]))

    # ------------------------------------------------------------------------------------------
    # MQTT: commands and targets

    def handle_message(self, topic: str, payload: bytes) -> None:
        """Called by the publisher for every message on ``cmd`` and ``targets``."""
        if topic == self.topics.cmd:
            self._on_command(payload)
        elif topic == self.topics.targets:
            self._on_targets(payload)

    def _reply(self, cmd_id: str | None, ok: bool, reason: str) -> dict[str, Any]:
        result = {"cmd_id": cmd_id, "ok": ok, "reason": reason}
        if self.publisher is not None:
            self.publisher.enqueue(self.topics.cmd_result, json.dumps(result, separators=(",", ":")).encode())
        return result

    def _on_command(self, payload: bytes) -> None:
        secret = self.secret.reveal() if self.secret is not None else None
        try:
            command = parse_command(payload, secret)
        except CommandError as exc:
            self.store.audit(
                "command_rejected", session=self.session_id, cmd_id=exc.cmd_id, reason=exc.reason
            )
            log.warning("therapist command rejected: %s", exc.reason)
            self._reply(exc.cmd_id, False, exc.reason)
            return
        previous = self.store.command_result(command.id)
        if previous is not None:
            self._reply(command.id, bool(previous["ok"]), str(previous["reason"]))
            return
        try:
            ok, reason = self._apply(command)
        except ValidationError as exc:
            ok, reason = False, f"invalid: {exc}"
        result = self._reply(command.id, ok, reason)
        self.store.record_command(command.id, result)
        self.store.audit(
            "command",
            session=self.session_id,
            cmd_id=command.id,
            cmd=command.cmd,
            args=command.args,
            by=command.by,
            issued_at=command.issued_at,
            ok=ok,
            reason=reason,
        )

    def _apply(self, command: Command) -> tuple[bool, str]:
        name, args = command.cmd, command.args
        t_now = self.clock.now_s()
        running = self.pipeline is not None and not self.pipeline.finished
        if name == "clear_screening":
            clearance = self.store.add_clearance(
                command.id, int(args["valid_days"]), command.by, command.issued_at
            )
            self._cleared.set()
            return True, f"screening cleared until {format_utc(clearance.valid_until)}"
        if name in ("set_target_duration", "set_cadence_range", "set_thresholds"):
            values = _setting_values(name, args)
            applied = self.store.update_settings(values, command.issued_at)
            if not applied:
                return False, "a newer setting is already in force"
            self._settings.update(applied)
            if self.view is not None and "target_duration_s" in applied:
                self.view.model.target_duration_s = applied["target_duration_s"]
            if running:
                assert self.pipeline is not None
                self._pipeline_events(self.pipeline.apply_command(command.record(), t_now))
                return True, "applied now"
            return True, "stored: applies from the session start"
        if name == "stop":
            if running:
                assert self.pipeline is not None
                self._pipeline_events(self.pipeline.apply_command(command.record(), t_now))
                return True, "session stopped"
            if self.phase in ("screening", "calibrating"):
                self._end("stopped by the therapist", aborted=True)
                return True, "session aborted"
            return False, "no session running"
        if name in ("pause", "resume"):
            if not running:
                return False, f"nothing to {name}: the session is {self._pipeline_state()}"
            if name == "pause":
                if "therapist" in self._pause_reasons:
                    return False, "already paused"
                self._pause_reasons.add("therapist")
                assert self.pipeline is not None
                if len(self._pause_reasons) == 1:
                    self._pipeline_events(self.pipeline.apply_command(command.record(), t_now))
                return True, "paused"
            if "therapist" not in self._pause_reasons:
                return False, "not paused by a therapist"
            self._pause_reasons.discard("therapist")
            assert self.pipeline is not None
            if not self._pause_reasons:
                self._pipeline_events(self.pipeline.apply_command(command.record(), t_now))
                return True, "resumed"
            return True, "resumed when the lost sensor is back"
        return False, f"unknown command {name!r}"

    def _on_targets(self, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained message
        secret = self.secret.reveal() if self.secret is not None else None
        try:
            targets = parse_targets(payload, secret)
        except CommandError as exc:
            self.store.audit("targets_rejected", session=self.session_id, reason=exc.reason)
            log.warning("targets rejected: %s", exc.reason)
            return
        values: dict[str, float] = {}
        if targets.target_duration_s is not None:
            values["target_duration_s"] = targets.target_duration_s
        if targets.cadence_spm is not None:
            values["cadence_min_spm"], values["cadence_max_spm"] = targets.cadence_spm
        values.update(targets.thresholds)
        applied = self.store.update_settings(values, targets.issued_at)
        self.store.audit(
            "targets", session=self.session_id, by=targets.by, issued_at=targets.issued_at, applied=applied
        )
        if not applied:
            return
        self._settings.update(applied)
        if self.view is not None and "target_duration_s" in applied:
            self.view.model.target_duration_s = applied["target_duration_s"]
        if self.pipeline is not None and not self.pipeline.finished:
            args: dict[str, Any] = {}
            if "target_duration_s" in applied:
                args["target_duration_s"] = applied["target_duration_s"]
            cad = {k: applied[f"cadence_{k}"] for k in ("min_spm", "max_spm") if f"cadence_{k}" in applied}
            if cad:
                args["cadence_spm"] = cad
            th = {
                k: v for k, v in applied.items() if not k.startswith("cadence_") and k != "target_duration_s"
            }
            if th:
                args["thresholds"] = th
            command = {
                "id": f"targets-{targets.issued_at}",
                "cmd": "set_targets",
                "args": args,
                "by": targets.by,
            }
            self._pipeline_events(self.pipeline.apply_command(command, self.clock.now_s()))


def _setting_values(name: str, args: dict[str, Any]) -> dict[str, float]:
    if name == "set_target_duration":
        return {"target_duration_s": float(args["target_duration_s"])}
    if name == "set_cadence_range":
        return {"cadence_min_spm": float(args["min_spm"]), "cadence_max_spm": float(args["max_spm"])}
    return {k: float(v) for k, v in args.items()}
