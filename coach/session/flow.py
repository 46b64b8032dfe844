"""A live session: screening → calibrating → active ⇄ paused → finished | aborted.

:class:`LiveSession` drives the whole flow for one person (its events go out through
:mod:`coach.session.event_sink`):

1. **screening** (docs/design.md §1): any "yes" (or no answer) blocks and tells the person to consult a
   clinician, unless a therapist's signed ``clear_screening`` is valid (now, or arriving meanwhile);
2. **calibrating**: guided ``still`` and ``rotate`` prompts with checks and retries
   (:mod:`coach.session.guided_calibration`); samples from the sources are recorded from ``t = 0`` on;
3. **active ⇄ paused**: the :class:`~coach.pipeline.SessionPipeline` (made once the calibration times
   are known, then fed everything recorded so far, exactly as ``coach replay`` will) turns blocks into
   events, ticked by the session clock (:mod:`coach.session.intake`); why the session is paused is
   :mod:`coach.session.links`; therapist commands arrive over MQTT (:mod:`coach.session.remote`);
4. **finished** at the target duration (or one key, a therapist's ``stop``, the end of the input),
   or **aborted**; then the person logs pain and swelling (0–10), and the summary goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from coach.clock import SessionClock, format_utc, utc_now
from coach.events import Event, Gap, StateEvent, make_event
from coach.feedback.view import SessionView
from coach.ids import new_session_id
from coach.mqtt.broker_config import BrokerSettings
from coach.mqtt.publisher import Publisher
from coach.mqtt.secrets import Secret
from coach.mqtt.spool import Spool
from coach.mqtt.topics import PatientTopics
from coach.pipeline import PipelineConfig, SessionPipeline
from coach.session.config import LiveConfig
from coach.session.console import Console, handle_stop_signals
from coach.session.event_sink import EventSink
from coach.session.guided_calibration import GuidedCalibration, Prompt
from coach.session.intake import Intake
from coach.session.links import Links
from coach.session.pacing import StallWatch
from coach.session.recorder import SessionRecorder
from coach.session.remote import Remote
from coach.session.results import ScriptedSelfReport, SelfReport, SessionResult, ask_self_report
from coach.session.screening import AnswerSource, ScreeningResult, run_screening
from coach.session.sources import SampleSource
from coach.session.store import LocalStore
from coach.summary import session_summary

log = logging.getLogger("coach.session")


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
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.answers = answers
        self.store = store
        self.self_report_source = self_report
        self.clock = clock or SessionClock()
        self.console = console
        self.view = view
        self.topics = PatientTopics(config.patient)
        self.session_id = config.session_id or new_session_id()
        record_dir = config.record_dir or (store.directory / "sessions")
        self.recorder = SessionRecorder(record_dir, self.session_id)
        self.phase = "starting"
        self.screening: ScreeningResult | None = None
        self.cleared_by: str | None = None
        self._final: list[Event] = []
        self._done = asyncio.Event()
        self._end_reason = ""
        self._end_aborted = False
        self._cleared = asyncio.Event()
        self._signalled = asyncio.Event()
        self._commands_recorded = 0
        self._active_accum_s = 0.0
        self._active_since: float | None = None
        self._t_pipeline = 0.0
        self._t_complete: float | None = None
        self._start_wall: datetime | None = None
        self._spool: Spool | None = None
        self.publisher: Publisher | None = None
        self.sink = EventSink(self.session_id, self.topics, self.recorder, None, view, on_event)
        self.links = Links(
            source.sensors,
            self.recorder,
            view,
            cue=lambda code, role, t_s: self.sink.session_cue(t_s, code, role=role),
            running=self.running,
            apply=self.apply,
        )
        self.remote = Remote(
            self.session_id,
            self.topics,
            store,
            secret,
            self._initial_settings(),
            self.links,
            view,
            self,
            lambda: self.publisher,
        )
        self.intake = Intake(
            source,
            self.recorder,
            self._on_link,
            self._pipeline_events,
            feed_interval_s=config.feed_interval_s,
            step_points=config.step_points,
            split_steps=config.split_steps,
            watch=StallWatch(source.sensors, config.tick_s, config.silence_s, config.loop_tolerance_s),
        )
        self.intake.near_end = self._near_end
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
            self.sink.publisher = self.publisher
        if self.view is not None:
            m = self.view.model
            m.patient, m.session, m.speed = config.patient, self.session_id, self.clock.speed
            m.target_duration_s = self.remote.settings["target_duration_s"]
            m.broker = "connecting" if self.publisher else "off"

    # ------------------------------------------------------------------------------------------
    # what the parts see of the session

    @property
    def pipeline(self) -> SessionPipeline | None:
        return self.intake.pipeline

    @property
    def guided(self) -> GuidedCalibration | None:
        return self.intake.guided

    @property
    def events_total(self) -> int:
        return self.sink.events_total

    @property
    def gaps(self) -> list[Gap]:
        return self.links.gaps

    @property
    def sample_time_s(self) -> float:
        """How far the samples are in (what the pipeline decides on; behind the clock when busy)."""
        return self.intake.sample_time_s(None, self.clock.now_s())

    def running(self) -> bool:
        return self.pipeline is not None and not self.pipeline.finished

    def apply(self, command: dict[str, Any], t_s: float) -> None:
        """Apply a command to the running pipeline (it records it for ``commands.jsonl``)."""
        assert self.pipeline is not None
        self.intake.feed_held()
        self._pipeline_events(self.pipeline.apply_command(command, t_s))

    def now_s(self) -> float:
        return self.clock.now_s()

    def state(self) -> str:
        return self._pipeline_state()

    def end(self, reason: str, *, aborted: bool) -> None:
        self._end(reason, aborted=aborted)

    def cleared(self) -> None:
        self._cleared.set()

    def handle_message(self, topic: str, payload: bytes) -> None:
        """Called by the publisher for every message on ``cmd`` and ``targets``."""
        self.remote.handle_message(topic, payload)

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
        handled = (
            handle_stop_signals(lambda sig: self._on_signal(f"stopped by signal {sig.name}"))
            if self.config.handle_signals
            else []
        )
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

    def _stop_keys(self) -> contextlib.AbstractContextManager[None]:
        """One key stops the session (the person may stop at any moment)."""
        if self.console is None:
            return contextlib.nullcontext()
        return self.console.stop_keys_while(self.request_stop)

    async def _stream(self) -> None:
        """Calibration, then the active session, until something ends it."""
        self.phase = "calibrating"
        guided = GuidedCalibration(list(self.source.sensors), **self.config.guided_calibration)
        self.intake.guided = guided
        self._start_wall = utc_now()
        self.clock.start()
        await self.source.start(self.clock)
        for prompt in guided.begin(0.0):
            self._prompt(prompt)
        self._status("calibrating")
        with self._stop_keys():
            end_of_input = lambda: self._end("end of input", aborted=self.pipeline is None)  # noqa: E731
            reader = asyncio.create_task(self.intake.read(self._done, end_of_input), name="session-reader")
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

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_status, last_flush = 0.0, loop.time()
        while not self._done.is_set():
            await asyncio.sleep(self.config.tick_s)
            if loop.time() - last_flush >= self.config.trace_flush_s:  # the trace: one write a second
                last_flush = loop.time()
                self.recorder.flush()
            self._tick(self.clock.now_s())
            if loop.time() - last_status >= 1.0:
                last_status = loop.time()
                self._status(self._pipeline_state())

    def _tick(self, t_s: float) -> None:
        self.intake.tick(time.monotonic(), self.clock.speed)
        failure = self.recorder.error or self.sink.failure
        if failure is not None:
            self._end(failure, aborted=True)  # a full or read-only disk: the folder is named
            return
        guided = self.guided
        if self.pipeline is None and guided is not None:
            # Judged on the samples' time, not the wall clock: a busy machine never fails it.
            for prompt in guided.step(self.intake.sample_time_s(guided.roles, t_s)):
                self._prompt(prompt)
            if guided.done:
                self._start_pipeline()
            elif guided.failed:
                self._end("calibration failed", aborted=True)
                return
        limit = self.remote.settings["target_duration_s"] * self.config.max_duration_factor + 60.0
        # On sample time too: a machine too busy to keep pace makes a session slower, not shorter.
        if self.intake.sample_time_s(None, t_s) > limit and not self._done.is_set():
            self._end("maximum session length reached", aborted=False)
        left = self._time_left()
        if self.view is not None:
            self.view.model.time_left_s = left
            if self.publisher is not None:
                self.view.model.pending = self.publisher.pending
                self.view.model.broker = "connected" if self.publisher.connected.is_set() else "offline"
            self.view.refresh()

    def _on_link(self, item: Any) -> None:
        self.links.on_link(item)
        self._status(self._pipeline_state())

    # ------------------------------------------------------------------------------------------
    # the person's own controls (the session page's Stop and Pause; the terminal's stop keys)

    def request_stop(self, reason: str = "stopped by the person") -> None:
        """End the session now, as a stop key does (aborted when it had not started coaching)."""
        self._end(reason, aborted=self.pipeline is None)

    def pause_by_person(self) -> bool:
        """Pause the active session (recorded like link pauses); ``False`` if not active or already paused."""
        return self.links.person(True, self.clock.now_s())

    def resume_by_person(self) -> bool:
        """End the person's own pause (the session resumes when no other reason holds it)."""
        return self.links.person(False, self.clock.now_s())

    def _on_signal(self, reason: str) -> None:
        """Ctrl-C or SIGTERM: the session ends properly (one during the self-report skips it)."""
        self._signalled.set()
        self._end(reason, aborted=self.pipeline is None)

    def _end(self, reason: str, *, aborted: bool) -> None:
        self.intake.closed = True  # nothing more recorded or fed: the stop goes where the samples are
        if not self._done.is_set():
            self._end_reason, self._end_aborted = reason, aborted
            self._done.set()

    # ------------------------------------------------------------------------------------------
    # the pipeline

    def _start_pipeline(self, with_calibration: bool = True, feed: bool = True) -> None:
        guided = self.guided
        phases = (guided.still, guided.rotate) if guided is not None and with_calibration else (None, None)
        settings, sensors, start = self.remote.settings, self.source.sensors, self._start_wall or utc_now()
        meta = self.config.trace_meta(settings, sensors, self.session_id, start, *phases)
        mounting = None if with_calibration else "nominal"
        pipeline = SessionPipeline(meta, PipelineConfig(posture_hz=self.config.posture_hz, mounting=mounting))
        if with_calibration or self.intake.has_buffered:
            self.recorder.open_trace(meta)
        self.intake.start_pipeline(pipeline, feed)
        self.phase = "active"
        self.links.pipeline_started()

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
            self.sink.show(e)
            if e["type"] == "cue" and e.get("code") == "session_complete" and self.config.end_at_target:
                self._t_complete = e["t"]
                self._end("target duration reached", aborted=False)
            ready.append(e)
        self.sink.pipeline_events(ready)

    def _track_active(self, event: StateEvent) -> None:
        t = float(event["t"])
        if self._active_since is not None:
            self._active_accum_s += t - self._active_since
            self._active_since = None
        if event["state"] == "active":
            self._active_since = t
        self._status(str(event["state"]))

    def _time_left(self) -> float | None:
        pipeline = self.pipeline
        target = (
            pipeline.target_duration_s if pipeline is not None else self.remote.settings["target_duration_s"]
        )
        if target is None:
            return None
        active = self._active_accum_s
        if self._active_since is not None:
            active += max(0.0, self._t_pipeline - self._active_since)
        return max(0.0, float(target) - active)

    def _near_end(self, t_s: float) -> bool:
        """Whether samples up to ``t_s`` may reach the target (5 s to spare): they go in in pieces."""
        left = self._time_left()
        return self.pipeline is not None and left is not None and t_s - self._t_pipeline >= left - 5.0

    def _pipeline_state(self) -> str:
        if self.pipeline is None:
            return self.phase if self.phase != "starting" else "screening"
        return self.pipeline.state if self.pipeline.state != "none" else "calibrating"

    # ------------------------------------------------------------------------------------------
    # session events, status

    def _session_t(self) -> float:
        """The session's own events go where the samples are, not the clock: on a busy machine the clock
        runs ahead, and a late stamp would push the session's end past where its replay ends."""
        if self.phase in ("starting", "screening"):
            return 0.0
        return self.intake.sample_time_s(None, self.clock.now_s())

    def _session_state(self, state: str, reason: str) -> None:
        self.sink.session_event(
            self._session_t(), "state", state=state, reason=reason, wall_utc=format_utc(utc_now())
        )

    def _session_cue(self, code: str, **fmt: str) -> None:
        self.sink.session_cue(self._session_t(), code, **fmt)

    def _prompt(self, prompt: Prompt) -> None:
        self.sink.session_event(self._session_t(), "cue", code=prompt.code, message=prompt.message)

    def _status(self, state: str, **extra: Any) -> None:
        if self.publisher is None:
            return
        self.sink.status(
            {
                "state": state,
                "session": self.session_id,
                "wall_utc": format_utc(utc_now()),
                "sensors": self.links.sensors(),
                "target_duration_s": self.remote.settings["target_duration_s"],
                "time_left_s": None if (left := self._time_left()) is None else round(left),
                **extra,
            }
        )

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
        self.intake.feed_held()  # recorded samples still waiting for their step: the trace holds them
        if not pipeline.finished and not aborted and reason != "end of input":
            # It ends where its samples are (at the target: where the pipeline said so), as a recorded
            # stop: a replay ends at the same point, whatever was still on its way when it ended.
            t_stop = self._t_complete
            if t_stop is None:
                t_stop = self.intake.sample_time_s(None, self.clock.now_s())
            stop = {"id": "coach-stop", "cmd": "stop", "args": {"reason": reason}, "by": "coach"}
            self._pipeline_events(pipeline.apply_command(stop, t_stop))
        if not pipeline.finished:
            self._pipeline_events(pipeline.finish(reason, aborted=aborted))
        final_state = next((e for e in self._final if e["type"] == "state"), None)
        aborted = final_state is not None and final_state["state"] == "aborted"
        merger = self.sink.merger
        merger.pipeline_done = True
        self.sink.sink(merger.release_all())
        pain, swelling = None, None
        if not aborted and self.config.self_report and self.self_report_source is not None:
            self._status("finished", self_report="asking")
            pain, swelling = await ask_self_report(
                self.self_report_source,
                self._signalled,
                self.console is not None and self.console.is_tty,
                self.config.self_report_wait_s,
            )
            if pain is not None or swelling is not None:
                t_end = final_state["t"] if final_state is not None else merger.last_t
                report = make_event(
                    self.sink.ids, "self_report", t_end, pain_0_10=pain, swelling_0_10=swelling
                )
                self.sink.show(report)
                self.sink.sink(merger.session(report))
        k, pipeline_summary = next((k, e) for k, e in enumerate(self._final) if e["type"] == "summary")
        assert pipeline_summary["type"] == "summary"
        self._final[k] = session_summary(
            pipeline_summary,
            session=self.session_id,
            gaps=self.links.all_gaps(float(pipeline_summary["t"]), include_open=True),
            dropped=self.source.dropped(),
            pain_0_10=pain,
            swelling_0_10=swelling,
            screening=None
            if self.screening is None
            else {"blocked_by": list(self.screening.blocked_by), "cleared_by": self.cleared_by},
        )
        final = merger.stamp_all(self._final)  # after the session's own events, never before
        summary = final[-1]
        assert summary["type"] == "summary"
        for e in final:
            self.sink.show(e)
        self.sink.sink(final)
        self.recorder.summary(summary)
        self._status("aborted" if aborted else "finished")
        offline = {"state": "offline", "session": self.session_id, "sensors": self.links.offline_sensors()}
        self.sink.final(summary, offline)
        self.recorder.close()
        spool_empty = True
        if self.publisher is not None:
            spool_empty = await self.sink.drain(self.config.drain_timeout_s)
            assert self._spool is not None
            with contextlib.suppress(sqlite3.Error, OSError):
                self._spool.close()
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
            self.sink.unsent,
        )


__all__ = ["LiveConfig", "LiveSession", "ScriptedSelfReport", "SelfReport", "SessionResult"]
