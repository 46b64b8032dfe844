"""Where a live session's events go, in order: the views at once (terminal, session page, voice:
:class:`coach.feedback.view.Views`); then, in ``t`` order, the MQTT spool (first: what the events file
shows is already safe), the events file, and a callback.

Events the session adds to the pipeline's (its ``screening`` state, calibration prompts, link cues,
the ``self_report``) carry ids ``session-<type>-<n>``, so the pipeline's own ids stay those a replay
of the trace produces; :class:`Merger` slots them in among the pipeline's by ``t``. The retained
status document goes out through :meth:`EventSink.status` (only when it changed).
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Callable
from typing import Any

from coach.clock import format_utc, utc_now
from coach.cue_texts import english as cue_english
from coach.events import Event, EventIds, encode, make_event, with_t
from coach.feedback.view import SessionView
from coach.mqtt.publisher import Publisher
from coach.mqtt.topics import PatientTopics
from coach.session.recorder import SessionRecorder

log = logging.getLogger("coach.session")


class SessionIds(EventIds):
    """Ids ``session-<type>-<n>`` for the events the session adds to the pipeline's."""

    __slots__ = ()

    def next(self, event_type: str) -> str:
        return "session-" + super().next(event_type)


class Merger:
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
            e = with_t(e, self.last_t)
        self.last_t = e["t"]
        return e


class EventSink:
    """The session's outlets (see the module docstring)."""

    def __init__(
        self,
        session_id: str,
        topics: PatientTopics,
        recorder: SessionRecorder,
        publisher: Publisher | None,
        view: SessionView | None,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.session_id = session_id
        self.topics = topics
        self.recorder = recorder
        self.publisher = publisher
        self.view = view
        self.on_event = on_event
        self.ids = SessionIds()
        self.merger = Merger()
        self.events_total = 0
        self._last_status = ""
        #: Why events can no longer be kept for delivery (the spool's disk), or ``None``.
        self.error: str | None = None
        self.unsent = 0

    def session_event(self, t_s: float, event_type: str, **fields: Any) -> Event:
        """An event of the session's own at ``t_s``: shown at once, sent in ``t`` order."""
        event = make_event(self.ids, event_type, round(max(t_s, 0.0), 6), **fields)
        self.show(event)
        self.sink(self.merger.session(event))
        return event

    def session_cue(self, t_s: float, code: str, **fmt: str) -> None:
        self.session_event(t_s, "cue", code=code, message=cue_english(code, **fmt), **fmt)

    def pipeline_events(self, events: list[Event]) -> None:
        """Pipeline events (already shown), sent in ``t`` order with the session's."""
        self.sink(self.merger.pipeline(events))

    def show(self, event: Event) -> None:
        if self.view is not None:
            self.view.on_event(event)

    def sink(self, events: list[Event]) -> None:
        if not events:
            return
        if self.publisher is not None and self.error is None:  # the spool first: the events file shows
            # only what is already safe
            topic = self.topics.events(self.session_id)
            try:
                for e in events:
                    self.publisher.enqueue(topic, encode(e))
            except (sqlite3.Error, OSError) as exc:  # a full or read-only disk under the spool
                folder = self.publisher.spool.path.parent
                self.error = (
                    f"cannot write the delivery spool in {folder}: {exc} (is the disk full or read-only?)"
                )
                log.error("%s", self.error)
        self.recorder.events(events)
        self.events_total += len(events)
        if self.on_event is not None:
            for e in events:
                self.on_event(e)

    def status(self, doc: dict[str, Any]) -> None:
        """Publish the retained status document if it changed (``wall_utc`` aside)."""
        if self.publisher is None:
            return
        key = json.dumps({k: v for k, v in doc.items() if k != "wall_utc"}, sort_keys=True)
        if key == self._last_status:
            return
        self._last_status = key
        self.publisher.set_retained(self.topics.status, json.dumps(doc, separators=(",", ":")).encode())

    @property
    def failure(self) -> str | None:
        """Why events can no longer be kept for delivery (the spool's disk), or ``None``."""
        spool_error = None if self.publisher is None else self.publisher.spool_error
        return self.error or spool_error

    def final(self, summary: Event, offline: dict[str, Any]) -> None:
        """The retained summary, and the ``offline`` status said on the way out (after the last one)."""
        if self.publisher is None or self.error is not None:
            return
        try:
            self.publisher.enqueue(self.topics.summary(self.session_id), encode(summary), retain=True)
        except (sqlite3.Error, OSError) as exc:
            self.error = f"cannot write the delivery spool: {exc}"
            log.error("%s", self.error)
            return
        doc = {**offline, "wall_utc": format_utc(utc_now())}
        self.publisher.set_final_retained(self.topics.status, json.dumps(doc, separators=(",", ":")).encode())

    async def drain(self, timeout_s: float) -> bool:
        """Send what the spool holds, for at most ``timeout_s``; whether all of it went out (what is
        left stays in the spool for the next run: "N events kept, sent next time")."""
        publisher = self.publisher
        if publisher is None:
            return False
        try:
            empty = await publisher.stop(timeout_s)
            self.unsent = publisher.spool.unsent()
            return empty
        except (sqlite3.Error, OSError, ExceptionGroup) as exc:
            log.error("the delivery spool failed while sending: %s", exc)
            return False
