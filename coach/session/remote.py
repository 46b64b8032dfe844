"""The therapist, remotely: signed commands and the retained targets over MQTT, for a live session.

Every command is verified (:mod:`coach.mqtt.commands`: its signature, that it is bound to this session or
to "the next session", and not expired), checked against the vocabulary
(:mod:`coach.commands`), applied once (a command delivered twice gets its first answer), audited in the
local store and answered on ``cmd_result``. Settings (target duration, cadence range, thresholds) are
kept in the local store, newest ``issued_at`` first, and apply from the session start or, while the
pipeline runs, at once. ``pause`` and ``resume`` go to :class:`coach.session.links.Links`, the one owner of
why the session is paused; ``clear_screening`` records a clearance and lets a blocked session start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from coach.clock import format_utc
from coach.commands import setting_values, targets_command
from coach.errors import ValidationError
from coach.feedback.view import SessionView
from coach.mqtt.commands import Command, CommandError, parse_command, parse_targets
from coach.mqtt.publisher import Publisher
from coach.mqtt.secrets import Secret
from coach.mqtt.topics import PatientTopics
from coach.session.links import Links
from coach.session.store import LocalStore

log = logging.getLogger("coach.session")


class SessionControl(Protocol):
    """What the remote side may do to the session."""

    @property
    def phase(self) -> str: ...

    def running(self) -> bool:
        """A pipeline is running (not yet finished)."""
        ...

    def apply(self, command: dict[str, Any], t_s: float) -> None:
        """Apply a command to the running pipeline (and record it)."""

    def now_s(self) -> float: ...

    def state(self) -> str:
        """The session state, for replies."""
        ...

    def end(self, reason: str, *, aborted: bool) -> None: ...

    def cleared(self) -> None:
        """A therapist's clearance arrived."""


class Remote:
    """Commands and targets for one session (see the module docstring)."""

    def __init__(
        self,
        session_id: str,
        topics: PatientTopics,
        store: LocalStore,
        secret: Secret | None,
        settings: dict[str, float],
        links: Links,
        view: SessionView | None,
        control: SessionControl,
        publisher: Callable[[], Publisher | None],
    ) -> None:
        self.session_id = session_id
        self.topics = topics
        self.store = store
        self.secret = secret
        #: The settings in force: the config's, with the therapist's (the store's) over them.
        self.settings = settings
        self.links = links
        self.view = view
        self.control = control
        self._publisher = publisher

    def handle_message(self, topic: str, payload: bytes) -> None:
        """Called by the publisher for every message on ``cmd`` and ``targets``."""
        if topic == self.topics.cmd:
            self._on_command(payload)
        elif topic == self.topics.targets:
            self._on_targets(payload)

    def _reply(self, cmd_id: str | None, ok: bool, reason: str) -> dict[str, Any]:
        result = {"cmd_id": cmd_id, "ok": ok, "reason": reason}
        publisher = self._publisher()
        if publisher is not None:
            publisher.enqueue(self.topics.cmd_result, json.dumps(result, separators=(",", ":")).encode())
        return result

    def _on_command(self, payload: bytes) -> None:
        secret = self.secret.reveal() if self.secret is not None else None
        try:
            command = parse_command(payload, secret, session=self.session_id)
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
        t_now = self.control.now_s()
        running = self.control.running()
        if name == "clear_screening":
            clearance = self.store.add_clearance(
                command.id, int(args["valid_days"]), command.by, command.issued_at
            )
            self.control.cleared()
            return True, f"screening cleared until {format_utc(clearance.valid_until)}"
        if name in ("set_target_duration", "set_cadence_range", "set_thresholds"):
            applied = self.store.update_settings(setting_values(name, args), command.issued_at)
            if not applied:
                return False, "a newer setting is already in force"
            self._settings_applied(applied)
            if running:
                self.control.apply(command.record(), t_now)
                return True, "applied now"
            return True, "stored: applies from the session start"
        if name == "stop":
            if running:
                self.control.apply(command.record(), t_now)
                return True, "session stopped"
            if self.control.phase in ("screening", "calibrating"):
                self.control.end("stopped by the therapist", aborted=True)
                return True, "session aborted"
            return False, "no session running"
        if name in ("pause", "resume"):
            if not running:
                return False, f"nothing to {name}: the session is {self.control.state()}"
            return self.links.therapist(command.record(), t_now)
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
        self._settings_applied(applied)
        if self.control.running():
            command = targets_command(applied, targets.issued_at, targets.by)
            self.control.apply(command, self.control.now_s())

    def _settings_applied(self, applied: dict[str, float]) -> None:
        self.settings.update(applied)
        if self.view is not None and "target_duration_s" in applied:
            self.view.model.target_duration_s = applied["target_duration_s"]
