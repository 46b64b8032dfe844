"""The sensors' links during a live session, and the one owner of why the session is paused.

A session is paused while any *reason* holds: ``therapist`` (a therapist's ``pause`` until their
``resume``), ``person`` (the person's own Pause on the session page until their Resume) or
``link:<role>`` (that sensor's link is down). The pipeline pauses by itself when the
``treated`` sensor falls silent (a gap in its samples, :mod:`coach.pipeline.states`), so only the other
sensors' links are reasons here. When the first reason appears a ``pause`` command goes to the
pipeline, when the last one goes a ``resume``: recorded in ``commands.jsonl`` like every command, so a
replay pauses at the same points. A therapist's own pause and resume travel as their commands; the
coach's for a lost link or the person's pause as ``by: "coach"`` commands.

Links also keep the link table of the status document (``up``/``down``, battery, the device profile
when known) and the gaps of the
summary (``{"role", "start_s", "end_s"}``), and tell the person with a cue when a sensor is lost or back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from coach.clock import format_utc, utc_now
from coach.events import Gap
from coach.feedback.view import SessionView
from coach.samples import LinkStatus
from coach.session.recorder import SessionRecorder

Command = dict[str, Any]


class Links:
    """Link table, gaps and pause reasons (see the module docstring).

    Args:
        sensors: the session's sensors (each starts ``down`` until its link is reported up), as the
            source gives them (:attr:`coach.session.sources.SampleSource.sensors`: ``device`` is the
            device profile; ``unknown`` or missing when the source does not know it).
        cue: ``cue(code, role, t_s)``: a session cue for the person, at the link change's own time
            (``LinkStatus.t_s``: where the samples stopped or came back, not when the change was read).
        running: whether a pipeline is running (commands go nowhere before or after).
        apply: ``apply(command, t_s)``: apply a command to the running pipeline (and record it).
    """

    THERAPIST = "therapist"
    PERSON = "person"

    def __init__(
        self,
        sensors: Mapping[str, Mapping[str, Any]],
        recorder: SessionRecorder,
        view: SessionView | None,
        cue: Callable[[str, str, float], None],
        running: Callable[[], bool],
        apply: Callable[[Command, float], None],
    ) -> None:
        self.recorder = recorder
        self.view = view
        self.cue = cue
        self.running = running
        self.apply = apply
        self.devices = {r: str(d) for r, s in sensors.items() if (d := s.get("device")) and d != "unknown"}
        self.table: dict[str, dict[str, Any]] = {r: {"link": "down", "battery_pct": None} for r in sensors}
        self.down_since: dict[str, float] = {}
        self.gaps: list[Gap] = []
        self.reasons: set[str] = set()
        self._coach_commands = 0

    # -- links ------------------------------------------------------------------------------------

    def on_link(self, item: LinkStatus) -> None:
        link = self.table.setdefault(item.role, {"link": "down", "battery_pct": None})
        was_up = link["link"] == "up"
        link["link"] = "up" if item.up else "down"
        if item.battery_pct is not None:
            link["battery_pct"] = round(float(item.battery_pct))
        self.recorder.link(item.role, item.up)
        if self.view is not None:
            self.view.set_sensor(item.role, link["link"], item.battery_pct)
        if was_up and not item.up:
            self.down_since[item.role] = item.t_s
            self.cue("sensor_lost", item.role, item.t_s)
            if item.role != "treated":  # the pipeline pauses by itself when `treated` falls silent
                self.pause(f"link:{item.role}", item.t_s)
        elif item.up and not was_up and item.role in self.down_since:
            start = self.down_since.pop(item.role)
            self.gaps.append({"role": item.role, "start_s": round(start, 3), "end_s": round(item.t_s, 3)})
            self.cue("sensor_back", item.role, item.t_s)
            if item.role != "treated":
                self.resume(f"link:{item.role}", item.t_s)

    def pipeline_started(self) -> None:
        """The pipeline exists now: sensors already down pause it."""
        for role, link in self.table.items():
            if role != "treated" and link["link"] == "down" and role in self.down_since:
                self.pause(f"link:{role}", self.down_since[role])

    def all_gaps(self, end_s: float, include_open: bool) -> list[Gap]:
        """The summary's gaps; links still down end at ``end_s`` (when ``include_open``)."""
        open_gaps: list[Gap] = [
            {"role": role, "start_s": round(start, 3), "end_s": round(end_s, 3)}
            for role, start in self.down_since.items()
            if include_open
        ]
        return sorted(self.gaps + open_gaps, key=lambda g: (g["start_s"], g["role"]))

    def sensors(self) -> dict[str, dict[str, Any]]:
        """The status document's ``sensors``: per role ``{"link", "battery_pct"}``, and ``"device"`` (the
        device profile, e.g. ``witmotion-bwt901``) when the session knows it (the monitor's FHIR Device)."""
        out = {role: dict(v) for role, v in self.table.items()}
        for role, device in self.devices.items():
            out.setdefault(role, {"link": "down", "battery_pct": None})["device"] = device
        return out

    def offline_sensors(self) -> dict[str, dict[str, Any]]:
        """The ``sensors`` of the coach's own ``offline`` status at the end (it has let go of the
        sensors): every link down; the last battery level and the device profile kept, so the monitor
        still knows which devices measured (its FHIR Device)."""
        return {role: {**v, "link": "down"} for role, v in self.sensors().items()}

    # -- pausing ----------------------------------------------------------------------------------

    def pause(self, reason: str, t_s: float) -> None:
        was = bool(self.reasons)
        self.reasons.add(reason)
        if not was:
            self._coach_command("pause", t_s)

    def resume(self, reason: str, t_s: float) -> None:
        if reason not in self.reasons:
            return
        self.reasons.discard(reason)
        if not self.reasons:
            self._coach_command("resume", t_s)

    def person(self, pause: bool, t_s: float) -> bool:
        """The person's own Pause (``pause``) or Resume on the session page: whether it changed anything
        (``False`` when no pipeline runs, or the person's pause is already on, or off)."""
        if not self.running() or (self.PERSON in self.reasons) == pause:
            return False
        if pause:
            self.pause(self.PERSON, t_s)
        else:
            self.resume(self.PERSON, t_s)
        return True

    def therapist(self, command: Command, t_s: float) -> tuple[bool, str]:
        """A therapist's ``pause`` or ``resume`` (a running session): whether it applied, and why."""
        if command["cmd"] == "pause":
            if self.THERAPIST in self.reasons:
                return False, "already paused"
            self.reasons.add(self.THERAPIST)
            if len(self.reasons) == 1:
                self.apply(command, t_s)
            return True, "paused"
        if self.THERAPIST not in self.reasons:
            return False, "not paused by a therapist"
        self.reasons.discard(self.THERAPIST)
        if not self.reasons:
            self.apply(command, t_s)
            return True, "resumed"
        return True, "resumed when the lost sensor is back"

    def _coach_command(self, name: str, t_s: float) -> None:
        """A pause/resume of the coach's own (a sensor's link), recorded like a therapist's command."""
        if not self.running():
            return
        self._coach_commands += 1
        command: Command = {
            "id": f"coach-{name}-{self._coach_commands}",
            "cmd": name,
            "args": {},
            "issued_at": format_utc(utc_now()),
            "by": "coach",
        }
        self.apply(command, t_s)
