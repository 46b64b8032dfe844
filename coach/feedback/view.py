"""The interface between a live session and what shows it to people: :class:`SessionView`.

A session hands every event to its view (:meth:`SessionView.on_event`: posture, strokes, cadence,
cues and prompts, state changes, the self-report and the summary), reports each sensor's link and
battery (:meth:`SessionView.set_sensor`), keeps the shared :class:`ViewModel` up to date (time left,
target, the therapist link) and calls :meth:`SessionView.refresh` on every clock tick. The terminal
view, the session page and the voice are such views; :class:`Views` hands one session to several.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("coach.feedback")


@dataclass
class SensorView:
    link: str = "?"
    battery_pct: float | None = None


@dataclass
class ViewModel:
    """Everything the views show that does not come in events; the session writes it."""

    patient: str = ""
    session: str = ""
    state: str = "starting"
    state_reason: str = ""
    t_s: float = 0.0
    posture: dict[str, Any] = field(default_factory=dict)
    strokes: Counter[str] = field(default_factory=Counter)
    cadence_spm: float | None = None
    #: Whether the live cadence is trusted (the event's ``trusted``; the cadence confidence gate).
    cadence_trusted: bool = True
    time_left_s: float | None = None
    target_duration_s: float | None = None
    last_cue: str | None = None
    last_cue_t_s: float | None = None
    sensors: dict[str, SensorView] = field(default_factory=dict)
    broker: str = "off"
    pending: int = 0
    speed: float = 1.0


class SessionView(Protocol):
    """What a live session needs of a view.

    ``owns_model``: the view records events in :attr:`model` itself (:func:`update_model`); false
    when it shares the model with others in :class:`Views`, which records each event once.
    """

    model: ViewModel
    owns_model: bool

    def on_event(self, event: Mapping[str, Any]) -> None: ...

    def set_sensor(self, role: str, link: str, battery_pct: float | None = None) -> None: ...

    def refresh(self, *, force: bool = False) -> None: ...

    def close(self) -> None: ...


def update_model(m: ViewModel, event: Mapping[str, Any]) -> None:
    """What every view records of an event (the terminal view and the page share this)."""
    kind = event.get("type")
    m.t_s = max(m.t_s, float(event.get("t", 0.0)))
    if kind == "posture":
        m.posture = {k: v for k, v in event.items() if k not in ("type", "t", "id")}
    elif kind == "stroke":
        m.strokes[str(event.get("direction"))] += 1
    elif kind == "cadence":
        m.cadence_spm = event.get("strokes_per_min")
        m.cadence_trusted = event.get("trusted", True) is not False
    elif kind == "state":
        m.state, m.state_reason = str(event.get("state")), str(event.get("reason") or "")


class Views:
    """Several views of one session, sharing one :class:`ViewModel` (the session writes it once).

    Each view gets every call; one that raises is reported once and then left out, so a broken page
    never stops the terminal view or the session.
    """

    owns_model = True

    def __init__(self, views: Iterable[SessionView]) -> None:
        self.views = list(views)
        self.model = self.views[0].model if self.views else ViewModel()
        for view in self.views:
            view.model = self.model
            view.owns_model = False
        self.failed: list[tuple[SessionView, BaseException]] = []

    def _each(self, call: str, *args: Any, **kwargs: Any) -> None:
        for view in list(self.views):
            try:
                getattr(view, call)(*args, **kwargs)
            except Exception as exc:  # one broken view must not stop the session
                self.views.remove(view)
                self.failed.append((view, exc))
                log.error("%s stopped showing the session: %s", type(view).__name__, exc)

    def on_event(self, event: Mapping[str, Any]) -> None:
        update_model(self.model, event)
        self._each("on_event", event)

    def set_sensor(self, role: str, link: str, battery_pct: float | None = None) -> None:
        self._each("set_sensor", role, link, battery_pct)

    def refresh(self, *, force: bool = False) -> None:
        self._each("refresh", force=force)

    def close(self) -> None:
        self._each("close")
