"""The live picture of a patient's current session, as honest as the data allows.

Each session gets a ``phase`` for the dashboard:

- the session's own state while it runs (``screening``, ``calibrating``, ``active``, ``paused``);
- ``finished`` or ``aborted`` once its final state event arrived (with the reason), shown with the
  summary, never as "offline";
- ``lost_contact`` when a running session went silent: the coach's last will (its connection dropped,
  which the broker notices within 15 s) arrived, or nothing of it (events or status) arrived for
  :data:`LOST_CONTACT_S` while it was calibrating, active or paused (those send posture every
  second). Its live values (posture, cadence, time left, the alerts drawn from them) are then cleared,
  not frozen: the dashboard says when it last heard from the coach instead.

Every value shown is the one of the latest event of its kind (a tile never disagrees with the event
it came from), with that event's session time, and read defensively (:func:`coach.monitor.fields.number`)
so that a value stored by an older monitor cannot break a page.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

from coach.commands import DEFAULT_SETTINGS
from coach.monitor.alerts import RUNNING_STATES, AlertConfig, alert, session_alerts
from coach.monitor.db import Database
from coach.monitor.fields import MAX_SESSION_S, number

#: A running session that sent nothing for this long is shown as "lost contact" (seconds).
LOST_CONTACT_S: Final = 30.0
#: Running phases in which a coach sends posture every second (silence there means trouble).
STREAMING_STATES: Final = ("calibrating", "active", "paused")
_POSTURE_NUMBERS: Final = ("elevation_deg", "wrist_flexion_deg", "wrist_deviation_deg", "forearm_roll_deg")


def load(text: str | None) -> dict[str, Any]:
    """A stored JSON object, or ``{}`` for anything else."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def clean_posture(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The posture event's fields with their contract types (anything else becomes ``null``)."""
    if doc is None:
        return None
    out: dict[str, Any] = {"t": number(doc.get("t"), 0.0, MAX_SESSION_S), "id": str(doc.get("id", ""))[:128]}
    for key in ("elevated", "wrist_neutral"):
        out[key] = doc.get(key) if isinstance(doc.get(key), bool) else None
    for key in _POSTURE_NUMBERS:
        out[key] = number(doc.get(key), -360.0, 360.0)
    return out


async def _latest_event(db: Database, p: str, s: str, typ: str) -> dict[str, Any] | None:
    row = await db.fetchone(
        "SELECT payload FROM events WHERE patient_id = ? AND session_id = ? AND type = ?"
        " ORDER BY t_s DESC, seq DESC LIMIT 1",
        (p, s, typ),
    )
    return None if row is None else load(row["payload"])


def active_time_s(states: list[tuple[float, str]], until_t_s: float) -> float:
    """Seconds spent in state ``active`` up to ``until_t_s``, from the ordered state changes."""
    total = 0.0
    for i, (t, name) in enumerate(states):
        end = states[i + 1][0] if i + 1 < len(states) else until_t_s
        if name == "active":
            total += max(0.0, min(end, until_t_s) - t)
    return total


async def target_duration_s(db: Database, patient_id: str, status: dict[str, Any] | None) -> float:
    from_status = number((status or {}).get("target_duration_s"), 1.0, MAX_SESSION_S)
    if from_status is not None:
        return from_status
    row = await db.fetchone("SELECT payload FROM targets WHERE patient_id = ?", (patient_id,))
    from_targets = number(load(row["payload"] if row else None).get("target_duration_s"), 1.0, MAX_SESSION_S)
    # The coach's own target when nobody set one.
    return from_targets if from_targets is not None else DEFAULT_SETTINGS["target_duration_s"]


async def _low_for_s(db: Database, p: str, s: str, posture: dict[str, Any] | None) -> float | None:
    """How long the hand has been low, from the trailing run of ``elevated = false`` posture events."""
    if posture is None or posture.get("elevated") is not False or posture.get("t") is None:
        return None
    high = await db.fetchone(
        "SELECT MAX(t_s) AS t FROM events WHERE patient_id = ? AND session_id = ? AND type = 'posture'"
        " AND elevated = 1",
        (p, s),
    )
    after = float(high["t"]) if high and high["t"] is not None else -1.0
    first_low = await db.fetchone(
        "SELECT MIN(t_s) AS t FROM events WHERE patient_id = ? AND session_id = ? AND type = 'posture'"
        " AND elevated = 0 AND t_s > ?",
        (p, s, after),
    )
    if first_low is None or first_low["t"] is None:
        return None
    return max(0.0, float(posture["t"]) - float(first_low["t"]))


async def session_live(
    db: Database,
    p: str,
    s: str,
    status: dict[str, Any] | None,
    status_received_unix_s: float | None,
    cfg: AlertConfig,
    now_unix_s: float | None = None,
) -> dict[str, Any]:
    """The live picture of one session: phase, posture, strokes, cadence, time left, alerts."""
    now = time.time() if now_unix_s is None else now_unix_s
    meta = await db.fetchone(
        "SELECT summary, end_state, end_reason, start_unix_s, first_received_unix_s FROM coach_sessions"
        " WHERE patient_id = ? AND session_id = ?",
        (p, s),
    )
    state_rows = await db.fetchall(
        "SELECT t_s, payload FROM events WHERE patient_id = ? AND session_id = ? AND type = 'state'"
        " ORDER BY t_s, seq",
        (p, s),
    )
    states = [(float(r["t_s"]), load(r["payload"])) for r in state_rows]
    last = await db.fetchone(
        "SELECT MAX(t_s) AS t, MAX(stored_unix_s) AS heard FROM events"
        " WHERE patient_id = ? AND session_id = ?",
        (p, s),
    )
    last_t = float(last["t"]) if last and last["t"] is not None else 0.0
    session_status = status if status and status.get("session") == s else None
    heard = [float(last["heard"])] if last and last["heard"] is not None else []
    if session_status is not None and status_received_unix_s is not None:
        heard.append(status_received_unix_s)
    last_heard = max(heard) if heard else None
    state = str(states[-1][1].get("state")) if states else None
    reason = states[-1][1].get("reason") if states else None
    end_state = meta["end_state"] if meta else None
    if end_state in ("finished", "aborted"):
        phase = str(end_state)
        reason = (meta["end_reason"] if meta else None) or reason
    elif state in RUNNING_STATES:
        phase = state
        offline = session_status is not None and session_status.get("state") == "offline"
        silent_s = None if last_heard is None else now - last_heard
        if offline or (state in STREAMING_STATES and (silent_s is None or silent_s > LOST_CONTACT_S)):
            phase = "lost_contact"
    else:
        phase = state or "unknown"
    running = phase in RUNNING_STATES
    posture = clean_posture(await _latest_event(db, p, s, "posture")) if running else None
    cadence = await _latest_event(db, p, s, "cadence") if running else None
    cue = await _latest_event(db, p, s, "cue")
    tally_rows = await db.fetchall(
        "SELECT direction, COUNT(*) AS n FROM events"
        " WHERE patient_id = ? AND session_id = ? AND type = 'stroke' GROUP BY direction",
        (p, s),
    )
    tally = {"proximal": 0, "distal": 0, "unknown": 0}
    for r in tally_rows:
        if r["direction"] in tally:
            tally[str(r["direction"])] = int(r["n"])
    blocked = any(
        doc.get("state") in ("aborted", "screening")
        and "screening" in str(doc.get("reason") or "")
        and "block" in str(doc.get("reason") or "")
        for _, doc in states
    ) or (cue is not None and str(cue.get("code", "")).startswith("screening_blocked"))
    if session_status is not None and session_status.get("screening") == "blocked":
        blocked = True
    low_for_s = await _low_for_s(db, p, s, posture) if running else None
    strokes = await db.fetchall(
        "SELECT direction FROM events WHERE patient_id = ? AND session_id = ? AND type = 'stroke'"
        " ORDER BY t_s DESC, seq DESC LIMIT ?",
        (p, s, cfg.distal_window),
    )
    target_s = await target_duration_s(db, p, session_status)
    active_s = active_time_s([(t, str(d.get("state"))) for t, d in states], last_t)
    time_left_s: float | None = None
    if running:
        reported = number((session_status or {}).get("time_left_s"), 0.0, MAX_SESSION_S)
        time_left_s = reported if reported is not None else max(0.0, target_s - active_s)
    alerts = session_alerts(
        cfg,
        state=state if running else phase,
        state_reason=reason,
        low_for_s=low_for_s,
        last_strokes=[str(r["direction"]) for r in strokes] if running else [],
        status=session_status if running else None,
        screening_blocked=blocked,
    )
    if phase == "lost_contact":
        when = "its connection dropped" if session_status and session_status.get("state") == "offline" else (
            f"nothing arrived for {LOST_CONTACT_S:.0f} s"
        )  # fmt: skip
        alerts.insert(0, alert("lost_contact", f"Lost contact with the coach ({when}).", "danger"))
    summary = load(meta["summary"] if meta else None) or None
    return {
        "session_id": s,
        "start_unix_s": None if meta is None else (meta["start_unix_s"] or meta["first_received_unix_s"]),
        "state": state,
        "phase": phase,
        "state_reason": reason if isinstance(reason, str) else None,
        "t_s": last_t,
        "last_heard_unix_s": last_heard,
        "lost_contact_after_s": LOST_CONTACT_S,
        "posture": posture,
        "cadence_spm": number((cadence or {}).get("strokes_per_min"), 0.0, 600.0),
        "tally": tally,
        "last_cue": cue if running else None,
        "active_s": active_s,
        "target_duration_s": target_s,
        "time_left_s": time_left_s,
        "low_for_s": low_for_s,
        "alerts": alerts,
        "summary": summary_view(summary) if summary else None,
    }


def summary_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary's figures with their contract types and ranges (anything else is ``null``)."""

    def count(key: str) -> int | None:
        v = number(doc.get(key), 0.0, 1e6)
        return None if v is None else int(v)

    return {
        "duration_s": number(doc.get("duration_s"), 0.0, MAX_SESSION_S),
        "strokes_total": count("strokes_total"),
        "strokes_proximal": count("strokes_proximal"),
        "strokes_distal": count("strokes_distal"),
        "strokes_unknown": count("strokes_unknown"),
        "mean_cadence_spm": number(doc.get("mean_cadence_spm"), 0.0, 600.0),
        "elevated_fraction": number(doc.get("elevated_fraction"), 0.0, 1.0),
        "wrist_neutral_fraction": number(doc.get("wrist_neutral_fraction"), 0.0, 1.0),
        "pain_0_10": number(doc.get("pain_0_10"), 0.0, 10.0),
        "swelling_0_10": number(doc.get("swelling_0_10"), 0.0, 10.0),
    }


async def patient_status(db: Database, patient_id: str) -> tuple[dict[str, Any] | None, float | None]:
    """The latest status and when it arrived. The last will (``{"state": "offline"}``) names no session:
    it is the coach of the session its previous status named."""
    row = await db.fetchone(
        "SELECT payload, session_id, received_unix_s FROM statuses WHERE patient_id = ?", (patient_id,)
    )
    if row is None:
        return None, None
    status = load(row["payload"])
    if status.get("session") is None and row["session_id"]:
        status["session"] = row["session_id"]
    return status, float(row["received_unix_s"])


async def current_session_id(db: Database, patient_id: str, status: dict[str, Any] | None) -> str | None:
    if status and isinstance(status.get("session"), str):
        return str(status["session"])
    row = await db.fetchone(
        "SELECT session_id FROM coach_sessions WHERE patient_id = ?"
        " ORDER BY last_received_unix_s DESC LIMIT 1",
        (patient_id,),
    )
    return None if row is None else str(row["session_id"])
