"""What the session page shows, kept up to date from the session: :class:`PageView`.

A :class:`PageView` is a session view (:class:`coach.feedback.view.SessionView`): it receives every
event, the sensors' links and the clock ticks, and keeps one JSON-ready document of the page's
current screen (:meth:`PageView.snapshot`), already in the session's language. Each change is pushed
to every open page (:class:`Listeners`); a page that connects, or reconnects after a drop, first gets
the whole current document, so it never has to replay anything. Spoken lines (:meth:`PageView.say`)
go only to the pages open at that moment.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coach.cue_texts import OWN_TEXTS, cue_text, is_urgent, sensor_name
from coach.feedback.progress import assess
from coach.feedback.view import SensorView, ViewModel, update_model
from coach.i18n import Texts

CALIBRATION_STEPS = {
    "calibration_still": 1,
    "calibration_still_retry": 1,
    "calibration_rotate": 2,
    "calibration_rotate_retry": 2,
    "calibration_done": 3,
}
DEFAULT_FOREARM_M = 0.26
DEFAULT_ELBOW_TO_HEART_M = 0.0
DEFAULT_MARGIN_M = 0.05


@dataclass(eq=False)
class Client:
    """One open page: woken on every change; spoken lines queue up for it."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    says: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False


class Listeners:
    """The pages currently open."""

    def __init__(self) -> None:
        self.clients: set[Client] = set()

    def add(self) -> Client:
        client = Client()
        client.wake.set()  # the whole state first
        self.clients.add(client)
        return client

    def remove(self, client: Client) -> None:
        self.clients.discard(client)

    def changed(self) -> None:
        for c in self.clients:
            c.wake.set()

    def say(self, line: dict[str, Any]) -> None:
        for c in self.clients:
            c.says.append(line)
            c.wake.set()

    def __len__(self) -> int:
        return len(self.clients)


class PageView:
    """The page's document, from the session's events (see the module docstring)."""

    def __init__(
        self,
        tr: Texts,
        *,
        helper: bool = False,
        body: Mapping[str, float] | None = None,
        elevation_margin_m: float = DEFAULT_MARGIN_M,
        cadence_spm: tuple[float, float] | None = None,
        history: Sequence[Mapping[str, Any]] = (),
        question_count: int = 6,
    ) -> None:
        self.tr = tr
        self.helper = helper
        body = body or {}
        self.forearm_m = float(body.get("forearm_length_m", DEFAULT_FOREARM_M))
        self.elbow_to_heart_m = float(body.get("elbow_to_heart_m", DEFAULT_ELBOW_TO_HEART_M))
        self.margin_m = elevation_margin_m
        self.cadence_spm = cadence_spm
        self.history = list(history)
        self.question_count = question_count
        self.model = ViewModel()
        self.owns_model = True
        self.listeners = Listeners()
        self.seq = 0
        self.screen = "starting"
        self.question: dict[str, Any] | None = None
        self.questions_done = 0
        self.calibration: dict[str, Any] | None = None
        self.cue: dict[str, Any] | None = None
        self._cue_event: Mapping[str, Any] | None = None
        self.blocked = False
        self.pause_reason = ""
        self.stopping = False
        self.report: dict[str, Any] = {"step": None, "pain": None, "swelling": None}
        self.summary: Mapping[str, Any] | None = None
        self.ended_reason = ""
        self.says = 0
        self._shown_left: int | None = None

    # -- session view ------------------------------------------------------------------------------
    def on_event(self, event: Mapping[str, Any]) -> None:
        if self.owns_model:
            update_model(self.model, event)
        kind = event.get("type")
        if kind == "cue":
            self._on_cue(event)
        elif kind == "state":
            self._on_state(str(event.get("state")), str(event.get("reason") or ""))
        elif kind == "self_report":
            self.report.update(pain=event.get("pain_0_10"), swelling=event.get("swelling_0_10"))
        elif kind == "summary":
            self.summary = event
            if self.screen not in ("ended", "blocked"):
                self.screen = "summary"
                progress = assess(event, self.history, self.tr)
                self.say(progress.sentence, code="summary")
        self.changed()

    def set_sensor(self, role: str, link: str, battery_pct: float | None = None) -> None:
        if self.owns_model:
            sensor = self.model.sensors.setdefault(role, SensorView())
            sensor.link = link
            if battery_pct is not None:
                sensor.battery_pct = battery_pct
        self.changed()

    def refresh(self, *, force: bool = False) -> None:
        left = self.model.time_left_s
        shown = None if left is None else math.ceil(left)
        if force or shown != self._shown_left:
            self._shown_left = shown
            self.changed()

    def close(self) -> None:
        self.changed()

    # -- what the session and the inputs tell -----------------------------------------------------
    def _on_cue(self, event: Mapping[str, Any]) -> None:
        code = str(event.get("code", ""))
        self._cue_event = event
        text = cue_text(self.tr, event, helper=self.helper)
        urgent = is_urgent(code)
        self.cue = {"id": str(event.get("id", "")), "code": code, "text": text, "urgent": urgent,
                    "t": event.get("t"), "wall_ms": int(time.time() * 1000)}  # fmt: skip
        if code in CALIBRATION_STEPS:
            self.screen = "calibrating"
            self.calibration = {
                "step": CALIBRATION_STEPS[code],
                "steps": 3,
                "code": code.removesuffix("_retry"),
                "retry": code.endswith("_retry"),
                "text": text,
            }
        elif code == "calibration_failed":
            self.screen, self.ended_reason = "ended", "calibration"
        elif code == "screening_blocked":
            self.screen, self.blocked = "blocked", True
        elif code == "screening_cleared":
            self.screen, self.blocked = "cleared", False
        elif code == "sensor_lost" and not self.pause_reason:
            self.pause_reason = "sensor"
        self.say(text, code=code, urgent=urgent, cue_id=self.cue["id"])

    def _on_state(self, state: str, reason: str) -> None:
        if state == "active":
            self.screen, self.pause_reason = "active", ""
        elif state == "paused":
            self.screen = "paused"
            if not self.pause_reason:
                # the person's own pause and a lost link are known before the state event comes
                self.pause_reason = "sensor" if "silent" in reason else (
                    "therapist" if "command" in reason else "other"
                )  # fmt: skip
        elif state == "aborted":
            if self.screen != "blocked":
                self.screen = "ended"
                if not self.ended_reason:
                    self.ended_reason = (
                        "stopped" if "stop" in reason else ("blocked" if self.blocked else "other")
                    )
        elif state == "finished" and self.screen not in ("report", "summary"):
            self.screen = "finishing"

    def ask_question(self, code: str, text: str) -> None:
        self.questions_done = min(self.questions_done, self.question_count)
        self.question = {"code": code, "text": self.tr(text), "index": self.questions_done + 1,
                         "count": self.question_count, "answer": None}  # fmt: skip
        self.screen = "question"
        self.say(self.question["text"], code=f"question_{code}")
        self.changed()

    def show_answer(self, code: str, answer: bool | None) -> None:
        if self.question is not None and self.question["code"] == code:
            self.question["answer"] = answer
        self.changed()

    def question_done(self) -> None:
        self.questions_done += 1
        if self.questions_done >= self.question_count and self.screen == "question":
            self.screen = "connecting"
        self.changed()

    def ask_report(self, step: str | None) -> None:
        self.report["step"] = step
        if step is not None:
            self.screen = "report"
            question = {"pain": "report_pain_question", "swelling": "report_swelling_question"}[step]
            from coach.patient_page.texts import PAGE_TEXTS

            self.say(self.tr(PAGE_TEXTS[question]), code=f"report_{step}")
        self.changed()

    def person_paused(self, paused: bool) -> None:
        self.pause_reason = "person" if paused else ""
        code = "paused_by_person" if paused else "resumed_by_person"
        self.say(self.tr(OWN_TEXTS[code]), code=code)
        self.changed()

    def person_stopped(self) -> None:
        self.stopping = True
        self.say(self.tr(OWN_TEXTS["session_stopped"]), code="session_stopped", urgent=True)
        self.changed()

    def set_helper(self, helper: bool) -> None:
        self.helper = helper
        if self.cue is not None and self._cue_event is not None:  # the cue on screen speaks to the new person
            self.cue["text"] = cue_text(self.tr, self._cue_event, helper=helper)
        self.changed()

    def say(self, text: str, *, code: str = "", urgent: bool = False, cue_id: str = "") -> None:
        """Send a line to be spoken by the pages open now."""
        self.says += 1
        self.listeners.say({"n": self.says, "id": cue_id or f"say-{self.says}", "code": code,
                            "text": text, "urgent": urgent, "lang": self.tr.language})  # fmt: skip

    def current_lines(self) -> list[dict[str, Any]]:
        """What a page opened just now should say: the question or the advice on screen."""
        text = ""
        if self.screen == "question" and self.question is not None and self.question["answer"] is None:
            text = self.question["text"]
        elif self.screen in ("blocked", "calibrating") and self.cue is not None:
            text = self.cue["text"]
        elif self.screen == "report" and self.report["step"] is not None:
            from coach.patient_page.texts import PAGE_TEXTS

            text = self.tr(PAGE_TEXTS[f"report_{self.report['step']}_question"])
        if not text:
            return []
        return [{"n": self.says, "id": f"now-{self.seq}", "code": f"now_{self.screen}", "text": text,
                 "urgent": self.screen == "blocked", "lang": self.tr.language}]  # fmt: skip

    def changed(self) -> None:
        self.seq += 1
        self.listeners.changed()

    # -- the document ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        m, tr = self.model, self.tr
        p = m.posture
        elevation = p.get("elevation_deg")
        height = (
            None
            if elevation is None
            else round(self.elbow_to_heart_m + self.forearm_m * math.sin(math.radians(float(elevation))), 3)
        )
        wrist = p.get("wrist_neutral")
        order = {"treated": 0, "hand": 1, "stroker": 2}
        sensors = [
            {"role": role, "name": sensor_name(tr, role, helper=self.helper), "link": s.link,
             "battery_pct": None if s.battery_pct is None else round(s.battery_pct)}
            for role, s in sorted(m.sensors.items(), key=lambda kv: order.get(kv[0], 9))
        ]  # fmt: skip
        spm = m.cadence_spm
        verdict = None
        if spm is not None and self.cadence_spm is not None and m.cadence_trusted:
            # No fast/slow verdict on a live cadence the coach does not trust (it gives no cue either).
            lo, hi = self.cadence_spm
            verdict = "fast" if spm > hi else ("slow" if spm < lo else "good")
        doc: dict[str, Any] = {
            "seq": self.seq,
            "lang": tr.language,
            "helper": self.helper,
            "screen": self.screen,
            "state": m.state,
            "stopping": self.stopping,
            "question": self.question,
            "calibration": self.calibration,
            "cue": self.cue,
            "posture": {
                "elevated": p.get("elevated"),
                "height_m": height,
                "margin_m": self.margin_m,
                "wrist": None if wrist is None else ("straight" if wrist else "bent"),
            },
            "strokes": {
                "total": sum(m.strokes.values()),
                "proximal": m.strokes["proximal"],
                "distal": m.strokes["distal"],
                "unknown": m.strokes["unknown"],
            },
            "rhythm": {"spm": None if spm is None else round(float(spm)), "verdict": verdict},
            "time": {
                "left_s": None if m.time_left_s is None else math.ceil(m.time_left_s),
                "target_s": m.target_duration_s,
            },
            "sensors": sensors,
            "pause_reason": self.pause_reason,
            "report": dict(self.report),
            "ended_reason": self.ended_reason,
            "summary": self._summary_doc(),
        }
        return doc

    def _summary_doc(self) -> dict[str, Any] | None:
        s = self.summary
        if s is None:
            return None
        progress = assess(s, self.history, self.tr)

        def pct(v: Any) -> int | None:
            return None if v is None else round(100 * float(v))

        return {
            # the massage itself: active time (no calibration, no pauses) when the summary has it
            "duration_s": s.get("active_s", s.get("duration_s")),
            "strokes_total": s.get("strokes_total"),
            "strokes_proximal": s.get("strokes_proximal"),
            "strokes_distal": s.get("strokes_distal"),
            "strokes_unknown": s.get("strokes_unknown"),
            "raised_pct": pct(s.get("elevated_fraction")),
            "wrist_pct": pct(s.get("wrist_neutral_fraction")),
            "pain": s.get("pain_0_10"),
            "swelling": s.get("swelling_0_10"),
            "progress": progress.as_dict(),
        }
