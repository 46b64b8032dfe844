"""The live terminal view of a session: posture, wrist, strokes and direction tally, cadence, time
left, the latest cue, sensor links and battery, and the link to the therapist.

On a terminal (also over SSH: plain VT100 cursor moves, ASCII only) a small panel is redrawn in place
at most 4 times a second, with cues and prompts scrolling above it. Anywhere else (a pipe, a log file,
``coach demo`` in CI) it prints one line per cue, prompt or state change and a status line every few
seconds. It writes to stderr by default: stdout is for JSON Lines only (DESIGN.md §7).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class SensorView:
    link: str = "?"
    battery_pct: float | None = None


@dataclass
class ViewModel:
    """Everything the view shows; updated from events and the session."""

    patient: str = ""
    session: str = ""
    state: str = "starting"
    state_reason: str = ""
    t_s: float = 0.0
    posture: dict[str, Any] = field(default_factory=dict)
    strokes: Counter[str] = field(default_factory=Counter)
    cadence_spm: float | None = None
    time_left_s: float | None = None
    target_duration_s: float | None = None
    last_cue: str | None = None
    last_cue_t_s: float | None = None
    sensors: dict[str, SensorView] = field(default_factory=dict)
    broker: str = "off"
    pending: int = 0
    speed: float = 1.0


def _clock(t_s: float | None) -> str:
    if t_s is None:
        return "--:--"
    t = max(0, round(t_s))
    return f"{t // 60:02d}:{t % 60:02d}"


def _num(value: Any, fmt: str = "{:5.1f}") -> str:
    return "  -  " if value is None else fmt.format(value)


class TerminalView:
    """Render a :class:`ViewModel` to a text stream."""

    PANEL_LINES = 6

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        interactive: bool | None = None,
        redraw_s: float = 0.25,
        status_every_s: float = 5.0,
    ) -> None:
        self.out = out or sys.stderr
        isatty = getattr(self.out, "isatty", lambda: False)
        self.interactive = bool(isatty()) if interactive is None else interactive
        self.redraw_s = redraw_s
        self.status_every_s = status_every_s
        self.model = ViewModel()
        self._drawn = 0
        self._last_draw = 0.0
        self._last_status = time.monotonic()
        self.lines_written = 0

    # -- updates -----------------------------------------------------------------------------------
    def on_event(self, event: Mapping[str, Any]) -> None:
        m = self.model
        kind = event.get("type")
        m.t_s = max(m.t_s, float(event.get("t", 0.0)))
        if kind == "posture":
            m.posture = {k: v for k, v in event.items() if k not in ("type", "t", "id")}
        elif kind == "stroke":
            m.strokes[str(event.get("direction"))] += 1
        elif kind == "cadence":
            m.cadence_spm = event.get("strokes_per_min")
        elif kind == "cue":
            m.last_cue, m.last_cue_t_s = str(event.get("message")), float(event["t"])
            self.say(f"[{_clock(event['t'])}] {event.get('message')}")
        elif kind == "state":
            m.state, m.state_reason = str(event.get("state")), str(event.get("reason") or "")
            self.say(
                f"[{_clock(event['t'])}] session {m.state}"
                + (f" ({m.state_reason})" if m.state_reason else "")
            )
        elif kind == "summary":
            self.say(format_summary(event))
        self.refresh()

    def set_sensor(self, role: str, link: str, battery_pct: float | None = None) -> None:
        sensor = self.model.sensors.setdefault(role, SensorView())
        changed = sensor.link != link
        sensor.link = link
        if battery_pct is not None:
            sensor.battery_pct = battery_pct
        if changed and link == "down":
            self.say(f"[{_clock(self.model.t_s)}] the {role} sensor lost its link")
        elif changed and link == "up" and self.model.state not in ("starting", "screening"):
            self.say(f"[{_clock(self.model.t_s)}] the {role} sensor is connected")
        self.refresh()

    def say(self, text: str) -> None:
        """A line that stays (cue, prompt, state change), printed above the panel."""
        self._clear_panel()
        self.out.write(text + "\n")
        self.lines_written += 1
        self._drawn = 0
        self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.interactive:
            if force or now - self._last_draw >= self.redraw_s:
                self._draw_panel()
                self._last_draw = now
        elif now - self._last_status >= self.status_every_s and self.model.state in ("active", "paused"):
            self.out.write(self.status_line() + "\n")
            self.out.flush()
            self.lines_written += 1
            self._last_status = now

    def close(self) -> None:
        if self.interactive:
            self._draw_panel()
            self.out.write("\n")
        self.out.flush()

    # -- rendering ---------------------------------------------------------------------------------
    def _clear_panel(self) -> None:
        if self.interactive and self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the panel's first line, clear below

    def _draw_panel(self) -> None:
        self._clear_panel()
        lines = self.panel()
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self._drawn = len(lines)

    def panel(self) -> list[str]:
        m = self.model
        p = m.posture
        elevated = p.get("elevated")
        hand = "RAISED" if elevated else ("LOW   " if elevated is False else "  ?   ")
        wrist = p.get("wrist_neutral")
        wrist_txt = "NEUTRAL" if wrist else ("BENT   " if wrist is False else "  -    ")
        target = f" / {_clock(m.target_duration_s)}" if m.target_duration_s else ""
        sensors = "   ".join(
            f"{role} {s.link.upper() if s.link == 'down' else s.link}"
            + (f" {s.battery_pct:.0f}%" if s.battery_pct is not None else "")
            for role, s in sorted(m.sensors.items())
        )
        total = sum(m.strokes.values())
        left = _clock(m.time_left_s)
        tally = (
            f"toward elbow {m.strokes['proximal']}, toward fingers {m.strokes['distal']}, "
            f"unclear {m.strokes['unknown']}"
        )
        return [
            f"retro-coach  {m.patient}  {m.session}   {m.state.upper():<11} time left {left}{target}",
            f"Posture   hand {hand} elevation {_num(p.get('elevation_deg'))} deg   wrist {wrist_txt} "
            f"(flex {_num(p.get('wrist_flexion_deg'))}, dev {_num(p.get('wrist_deviation_deg'))})"
            f"  roll {_num(p.get('forearm_roll_deg'))}",
            f"Strokes   {total:4d}  ({tally})   cadence {_num(m.cadence_spm)} /min",
            f"Cue       [{_clock(m.last_cue_t_s)}] {m.last_cue or '-'}",
            f"Sensors   {sensors or '-'}   |  therapist link: {m.broker} ({m.pending} waiting)",
            "Press q (or space) to stop." + (f"   [demo clock x{m.speed:g}]" if m.speed != 1 else ""),
        ]

    def status_line(self) -> str:
        m = self.model
        p = m.posture
        elevated = {True: "hand raised", False: "hand LOW", None: "hand ?"}[p.get("elevated")]
        wrist = {True: "wrist neutral", False: "wrist BENT", None: "wrist -"}[p.get("wrist_neutral")]
        links = ",".join(f"{r} {s.link}" for r, s in sorted(m.sensors.items()))
        angle = _num(p.get("elevation_deg"), "{:.0f}")
        tally = (
            f"elbow {m.strokes['proximal']}, fingers {m.strokes['distal']}, unclear {m.strokes['unknown']}"
        )
        return (
            f"[{_clock(m.t_s)}] {m.state} | {elevated} {angle} deg | {wrist} | "
            f"strokes {sum(m.strokes.values())} ({tally}) | {_num(m.cadence_spm, '{:.1f}').strip()}/min | "
            f"left {_clock(m.time_left_s)} | {links} | mqtt {m.broker} ({m.pending} waiting)"
        )


def format_summary(summary: Mapping[str, Any]) -> str:
    """The end-of-session summary in plain words."""

    def pct(v: Any) -> str:
        return "-" if v is None else f"{100 * float(v):.0f}%"

    cadence = summary.get("mean_cadence_spm")
    g = summary.get
    tally = (
        f"{g('strokes_total', 0)} (toward the elbow {g('strokes_proximal', 0)}, "
        f"toward the fingers {g('strokes_distal', 0)}, unclear {g('strokes_unknown', 0)})"
    )
    lines = [
        "Session summary",
        f"  duration            {_clock(summary.get('duration_s'))}",
        f"  strokes             {tally}",
        f"  mean cadence        {'-' if cadence is None else f'{cadence:.1f} strokes/min'}",
        f"  hand raised         {pct(summary.get('elevated_fraction'))} of the time",
        f"  wrist neutral       {pct(summary.get('wrist_neutral_fraction'))} of the time",
    ]
    if summary.get("pain_0_10") is not None or summary.get("swelling_0_10") is not None:
        lines.append(f"  pain / swelling     {g('pain_0_10', '-')} / {g('swelling_0_10', '-')} (0–10)")
    gaps = summary.get("gaps") or []
    if gaps:
        lines.append(
            f"  sensor gaps         {len(gaps)} ("
            + ", ".join(f"{g['role']} {g['start_s']:.0f}–{g['end_s']:.0f} s" for g in gaps)
            + ")"
        )
    return "\n".join(lines)
