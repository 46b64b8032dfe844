"""The live terminal view of a session: posture, wrist, strokes and direction tally, cadence, time
left, the latest cue, sensor links and battery, and the link to the therapist.

On a terminal (also over SSH: plain VT100 cursor moves, ASCII only) a small panel is redrawn in place
at most 4 times a second, with cues and prompts scrolling above it, in time order. Every panel line is
cut to the terminal's width (read at every redraw, so a resize is followed): a line that wrapped would
leave copies of the panel in the scrollback. After the session the panel is drawn once more and left
as it is, with the summary, without the time left or the stop key. Anywhere else (a pipe, a log file,
``coach demo`` in CI) it prints one line per cue, prompt or state change and a status line every few
seconds. It writes to stderr by default: stdout is for JSON Lines only (docs/design.md §7).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from coach.cue_texts import cue_text, sensor_name
from coach.feedback.view import SensorView, ViewModel, update_model
from coach.i18n import N_, Texts, texts
from coach.samples import ROLES

__all__ = ["SensorView", "TerminalView", "ViewModel", "format_summary"]

STATE_NAMES: dict[str, str] = {
    "starting": N_("starting"),
    "screening": N_("safety questions"),
    "calibrating": N_("calibrating"),
    "active": N_("active"),
    "paused": N_("paused"),
    "finished": N_("finished"),
    "aborted": N_("ended early"),
}
LINK_NAMES: dict[str, str] = {
    "up": N_("up"),
    "down": N_("down"),
    "?": N_("?"),
    "connecting": N_("connecting"),
    "connected": N_("connected"),
    "offline": N_("offline"),
    "off": N_("off"),
}
# TRANSLATORS: the terminal panel's lines; keep the placeholders, the spacing may change.
PANEL_HEAD = N_("retro-coach  {patient}  {session}   {state} time left {left}{target}")
PANEL_POSTURE = N_(
    "Posture   hand {hand} elevation {elevation} deg   wrist {wrist} (flex {flexion}, dev {deviation})  "
    "roll {roll}"
)
PANEL_STROKES = N_(
    "Strokes   {total}  (toward elbow {proximal}, toward fingers {distal}, unclear {unknown})   "
    "cadence {cadence} /min"
)
PANEL_CUE = N_("Cue       [{time}] {cue}")
PANEL_SENSORS = N_("Sensors   {sensors}   |  therapist link: {link} ({pending} waiting)")
PANEL_STOP = N_("Press q (or space) to stop.")
PANEL_HEAD_END = N_("retro-coach  {patient}  {session}   {state}")
PANEL_BATTERY = N_("battery {pct}%")
DEMO_CLOCK = N_("[demo clock x{speed}]")
HAND_RAISED, HAND_LOW = N_("RAISED"), N_("LOW")
WRIST_NEUTRAL, WRIST_BENT = N_("NEUTRAL"), N_("BENT")
STATUS_LINE = N_(
    "[{time}] {state} | {hand} {angle} deg | {wrist} | strokes {total} (elbow {proximal}, "
    "fingers {distal}, unclear {unknown}) | {cadence}/min | left {left} | {links} | "
    "therapist link {link} ({pending} waiting)"
)
STATUS_HAND = {True: N_("hand raised"), False: N_("hand LOW"), None: N_("hand ?")}
STATUS_WRIST = {True: N_("wrist neutral"), False: N_("wrist BENT"), None: N_("wrist -")}
STATE_LINE = N_("[{time}] session {state}")
SENSOR_LOST_LINE = N_("[{time}] {sensor} sensor: connection lost")
SENSOR_UP_LINE = N_("[{time}] {sensor} sensor: connected")
SUMMARY_TITLE = N_("Session summary")
SUMMARY_ROWS = {
    "duration": N_("duration"),
    "strokes": N_("strokes"),
    "cadence": N_("mean rhythm"),
    "raised": N_("hand raised"),
    "wrist": N_("wrist straight"),
    "pain": N_("pain / swelling"),
    "gaps": N_("sensor gaps"),
}
SUMMARY_TALLY = N_("{total} (toward the elbow {proximal}, toward the fingers {distal}, unclear {unknown})")
SUMMARY_CADENCE = N_("{spm} strokes a minute")
SUMMARY_SHARE = N_("{pct} of the time")
SUMMARY_SCORES = N_("{pain} / {swelling} (0–10)")


def _clock(t_s: float | None) -> str:
    if t_s is None:
        return "--:--"
    t = max(0, round(t_s))
    return f"{t // 60:02d}:{t % 60:02d}"


def _role_order(item: tuple[str, Any]) -> tuple[int, str]:
    """Forearm, hand, the massaging wrist: where they sit, from the treated arm out."""
    return (ROLES.index(item[0]) if item[0] in ROLES else len(ROLES), item[0])


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
        tr: Texts | None = None,
        helper: bool = False,
    ) -> None:
        self.out = out or sys.stderr
        self.tr = tr or texts("en")
        self.helper = helper
        self.owns_model = True
        isatty = getattr(self.out, "isatty", lambda: False)
        self.interactive = bool(isatty()) if interactive is None else interactive
        self.redraw_s = redraw_s
        self.status_every_s = status_every_s
        self.model = ViewModel()
        self._drawn = 0
        self._last_draw = 0.0
        self._last_status = time.monotonic()
        self.lines_written = 0
        self.ended = False

    # -- updates -----------------------------------------------------------------------------------
    def on_event(self, event: Mapping[str, Any]) -> None:
        m, tr = self.model, self.tr
        if self.owns_model:
            update_model(m, event)
        kind = event.get("type")
        if kind == "cue":
            m.last_cue, m.last_cue_t_s = cue_text(tr, event, helper=self.helper), float(event["t"])
            self.say(f"[{_clock(event['t'])}] {m.last_cue}")
        elif kind == "state":
            state = str(event.get("state"))
            # The pipeline's reasons are for the therapist and the logs ("calibrated (meta)"); the
            # person reads the state, and why a session ended early.
            reason = event.get("reason") if state == "aborted" else None
            self.say(
                tr(STATE_LINE, time=_clock(event["t"]), state=tr(STATE_NAMES.get(state, state)))
                + (f" ({reason})" if reason else "")
            )
        elif kind == "summary":
            self.say(format_summary(event, tr))
        self.refresh()

    def set_sensor(self, role: str, link: str, battery_pct: float | None = None) -> None:
        sensor = self.model.sensors.setdefault(role, SensorView())
        changed = sensor.link != link
        sensor.link = link
        if battery_pct is not None:
            sensor.battery_pct = battery_pct
        name = sensor_name(self.tr, role, helper=self.helper)
        when = _clock(self.model.t_s)
        if changed and link == "down":
            self.say(self.tr(SENSOR_LOST_LINE, time=when, sensor=name))
        elif changed and link == "up" and self.model.state not in ("starting", "screening"):
            self.say(self.tr(SENSOR_UP_LINE, time=when, sensor=name))
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
        """The end: the panel is drawn a last time and stays (no time left, no stop key)."""
        self.ended = True
        if self.interactive:
            self._draw_panel()
            self._drawn = 0  # it stays where it is: nothing below it is ever moved up over it
        self.out.flush()

    # -- rendering ---------------------------------------------------------------------------------
    def _clear_panel(self) -> None:
        if self.interactive and self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the panel's first line, clear below

    def _draw_panel(self) -> None:
        self._clear_panel()
        width = self._width()
        lines = [line[: width - 1] for line in self.panel()]  # never wraps: one screen line each
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self._drawn = len(lines)

    def _width(self) -> int:
        """The terminal's width now (it follows resizes); 80 when it cannot tell."""
        try:
            return max(20, os.get_terminal_size(self.out.fileno()).columns)
        except (AttributeError, OSError, ValueError):
            return int(os.environ.get("COLUMNS", "80") or 80)

    def _link(self, link: str) -> str:
        return self.tr(LINK_NAMES[link]) if link in LINK_NAMES else link

    def panel(self) -> list[str]:
        m, tr = self.model, self.tr
        p = m.posture
        elevated = p.get("elevated")
        hand = tr(HAND_RAISED) if elevated else (tr(HAND_LOW) if elevated is False else "?")
        wrist = p.get("wrist_neutral")
        wrist_txt = tr(WRIST_NEUTRAL) if wrist else (tr(WRIST_BENT) if wrist is False else "-")
        target = f" / {_clock(m.target_duration_s)}" if m.target_duration_s else ""
        sensors = "   ".join(
            f"{sensor_name(tr, role, helper=self.helper)} "
            + (self._link(s.link).upper() if s.link == "down" else self._link(s.link))
            + (", " + tr(PANEL_BATTERY, pct=f"{s.battery_pct:.0f}") if s.battery_pct is not None else "")
            for role, s in sorted(m.sensors.items(), key=_role_order)
        )
        state = tr(STATE_NAMES.get(m.state, m.state)).upper()
        stop = tr(PANEL_STOP) + ("   " + tr(DEMO_CLOCK, speed=f"{m.speed:g}") if m.speed != 1 else "")
        head = (
            tr(PANEL_HEAD_END, patient=m.patient, session=m.session, state=state)
            if self.ended
            else tr(
                PANEL_HEAD,
                patient=m.patient,
                session=m.session,
                state=f"{state:<11}",
                left=_clock(m.time_left_s),
                target=target,
            )
        )
        lines = [
            head,
            tr(PANEL_POSTURE, hand=f"{hand:<6}", elevation=_num(p.get("elevation_deg")),
               wrist=f"{wrist_txt:<7}",
               flexion=_num(p.get("wrist_flexion_deg")), deviation=_num(p.get("wrist_deviation_deg")),
               roll=_num(p.get("forearm_roll_deg"))),
            tr(PANEL_STROKES, total=f"{sum(m.strokes.values()):4d}", proximal=m.strokes["proximal"],
               distal=m.strokes["distal"], unknown=m.strokes["unknown"], cadence=_num(m.cadence_spm)),
            tr(PANEL_CUE, time=_clock(m.last_cue_t_s), cue=m.last_cue or "-"),
            tr(PANEL_SENSORS, sensors=sensors or "-", link=self._link(m.broker), pending=m.pending),
        ]  # fmt: skip
        return lines if self.ended else [*lines, stop]

    def status_line(self) -> str:
        m, tr = self.model, self.tr
        p = m.posture
        links = ",".join(
            f"{sensor_name(tr, r, helper=self.helper)} {self._link(s.link)}"
            for r, s in sorted(m.sensors.items())
        )
        return tr(
            STATUS_LINE,
            time=_clock(m.t_s),
            state=tr(STATE_NAMES.get(m.state, m.state)),
            hand=tr(STATUS_HAND[p.get("elevated")]),
            angle=_num(p.get("elevation_deg"), "{:.0f}"),
            wrist=tr(STATUS_WRIST[p.get("wrist_neutral")]),
            total=sum(m.strokes.values()),
            proximal=m.strokes["proximal"],
            distal=m.strokes["distal"],
            unknown=m.strokes["unknown"],
            cadence=_num(m.cadence_spm, "{:.1f}").strip(),
            left=_clock(m.time_left_s),
            links=links,
            link=self._link(m.broker),
            pending=m.pending,
        )


def format_summary(summary: Mapping[str, Any], tr: Texts | None = None) -> str:
    """The end-of-session summary in plain words, in ``tr``'s language (English by default)."""
    tr = tr or texts("en")

    def pct(v: Any) -> str:
        return "-" if v is None else tr(SUMMARY_SHARE, pct=f"{100 * float(v):.0f}%")

    g = summary.get
    cadence = g("mean_cadence_spm")
    rows: list[tuple[str, str]] = [
        ("duration", _clock(g("duration_s"))),
        ("strokes", tr(SUMMARY_TALLY, total=g("strokes_total", 0), proximal=g("strokes_proximal", 0),
                       distal=g("strokes_distal", 0), unknown=g("strokes_unknown", 0))),
        ("cadence", "-" if cadence is None else tr(SUMMARY_CADENCE, spm=f"{cadence:.1f}")),
        ("raised", pct(g("elevated_fraction"))),
        ("wrist", pct(g("wrist_neutral_fraction"))),
    ]  # fmt: skip
    if g("pain_0_10") is not None or g("swelling_0_10") is not None:
        rows.append(
            ("pain", tr(SUMMARY_SCORES, pain=_dash(g("pain_0_10")), swelling=_dash(g("swelling_0_10"))))
        )
    gaps = g("gaps") or []
    if gaps:
        rows.append(
            ("gaps", f"{len(gaps)} (" + ", ".join(
                f"{sensor_name(tr, str(x['role']))} {x['start_s']:.0f}–{x['end_s']:.0f} s" for x in gaps
            ) + ")")
        )  # fmt: skip
    labels = {key: tr(SUMMARY_ROWS[key]) for key, _ in rows}
    width = max(len(v) for v in labels.values()) + 2
    return "\n".join([tr(SUMMARY_TITLE)] + [f"  {labels[k]:<{width}}{v}" for k, v in rows])


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)
