"""Read models for the dashboard: live overview, session detail, patient history and adherence.

Everything is derived from the database (not from one instance's memory), so several monitor
instances behind a shared subscription all show the same picture, whichever of them stored a message.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta
from typing import Any, Final

from coach.commands import DEFAULT_SETTINGS
from coach.monitor.alerts import (
    RUNNING_STATES,
    AlertConfig,
    missed_sessions_alert,
    session_alerts,
    swelling_alert,
)
from coach.monitor.db import Database
from coach.monitor.messages import SELF_REPORT_TYPE, parse_wall_utc

CALENDAR_DAYS: Final = 56


def _load(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


async def _latest_event(db: Database, p: str, s: str, typ: str) -> dict[str, Any] | None:
    row = await db.fetchone(
        "SELECT payload FROM events WHERE patient_id = ? AND session_id = ? AND type = ?"
        " ORDER BY t_s DESC, seq DESC LIMIT 1",
        (p, s, typ),
    )
    return None if row is None else _load(row["payload"])


def active_time_s(states: list[tuple[float, str]], until_t_s: float) -> float:
    """Seconds spent in state ``active`` up to ``until_t_s``, from the ordered state changes."""
    total = 0.0
    for i, (t, name) in enumerate(states):
        end = states[i + 1][0] if i + 1 < len(states) else until_t_s
        if name == "active":
            total += max(0.0, min(end, until_t_s) - t)
    return total


async def target_duration_s(db: Database, patient_id: str, status: dict[str, Any] | None) -> float:
    if status and isinstance(status.get("target_duration_s"), int | float):
        return float(status["target_duration_s"])
    row = await db.fetchone("SELECT payload FROM targets WHERE patient_id = ?", (patient_id,))
    doc = _load(row["payload"]) if row else {}
    if isinstance(doc.get("target_duration_s"), int | float):
        return float(doc["target_duration_s"])
    return DEFAULT_SETTINGS["target_duration_s"]  # the coach's own when no target was set


async def session_live(
    db: Database, p: str, s: str, status: dict[str, Any] | None, cfg: AlertConfig
) -> dict[str, Any]:
    """The live picture of one session: state, posture, strokes, cadence, time left, alerts."""
    posture = await _latest_event(db, p, s, "posture")
    cadence = await _latest_event(db, p, s, "cadence")
    cue = await _latest_event(db, p, s, "cue")
    tally_rows = await db.fetchall(
        "SELECT direction, COUNT(*) AS n FROM events"
        " WHERE patient_id = ? AND session_id = ? AND type = 'stroke' GROUP BY direction",
        (p, s),
    )
    tally = {"proximal": 0, "distal": 0, "unknown": 0}
    for r in tally_rows:
        tally[str(r["direction"])] = int(r["n"])
    state_rows = await db.fetchall(
        "SELECT t_s, payload FROM events WHERE patient_id = ? AND session_id = ? AND type = 'state'"
        " ORDER BY t_s, seq",
        (p, s),
    )
    states = [(float(r["t_s"]), _load(r["payload"])) for r in state_rows]
    last = await db.fetchone(
        "SELECT MAX(t_s) AS t FROM events WHERE patient_id = ? AND session_id = ?", (p, s)
    )
    last_t = float(last["t"]) if last and last["t"] is not None else 0.0
    state = states[-1][1].get("state") if states else None
    reason = states[-1][1].get("reason") if states else None
    blocked = any(
        doc.get("state") in ("aborted", "screening")
        and "screening" in str(doc.get("reason") or "")
        and "block" in str(doc.get("reason") or "")
        for _, doc in states
    ) or (cue is not None and str(cue.get("code", "")).startswith("screening_blocked"))
    if status is not None and status.get("session") == s and status.get("screening") == "blocked":
        blocked = True
    low_for_s = await _low_for_s(db, p, s, posture)
    strokes = await db.fetchall(
        "SELECT direction FROM events WHERE patient_id = ? AND session_id = ? AND type = 'stroke'"
        " ORDER BY t_s DESC, seq DESC LIMIT ?",
        (p, s, cfg.distal_window),
    )
    target_s = await target_duration_s(db, p, status)
    active_s = active_time_s([(t, str(d.get("state"))) for t, d in states], last_t)
    if status and isinstance(status.get("time_left_s"), int | float) and status.get("session") == s:
        time_left_s: float | None = float(status["time_left_s"])
    elif state in RUNNING_STATES:
        time_left_s = max(0.0, target_s - active_s)
    else:
        time_left_s = None
    session_status = status if status and status.get("session") == s else None
    alerts = session_alerts(
        cfg,
        state=state,
        state_reason=reason,
        low_for_s=low_for_s,
        last_strokes=[str(r["direction"]) for r in strokes],
        status=session_status,
        screening_blocked=blocked,
    )
    return {
        "session_id": s,
        "state": state,
        "state_reason": reason,
        "t_s": last_t,
        "posture": posture,
        "cadence_spm": cadence.get("strokes_per_min") if cadence else None,
        "tally": tally,
        "last_cue": cue,
        "active_s": active_s,
        "target_duration_s": target_s,
        "time_left_s": time_left_s,
        "low_for_s": low_for_s,
        "alerts": alerts,
    }


async def _low_for_s(db: Database, p: str, s: str, posture: dict[str, Any] | None) -> float | None:
    """How long the hand has been low, from the trailing run of ``elevated = false`` posture events."""
    if posture is None or posture.get("elevated") is not False:
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


async def patient_status(db: Database, patient_id: str) -> tuple[dict[str, Any] | None, float | None]:
    row = await db.fetchone(
        "SELECT payload, received_unix_s FROM statuses WHERE patient_id = ?", (patient_id,)
    )
    if row is None:
        return None, None
    return _load(row["payload"]), float(row["received_unix_s"])


async def current_session_id(db: Database, patient_id: str, status: dict[str, Any] | None) -> str | None:
    if status and isinstance(status.get("session"), str):
        return str(status["session"])
    row = await db.fetchone(
        "SELECT session_id FROM coach_sessions WHERE patient_id = ?"
        " ORDER BY last_received_unix_s DESC LIMIT 1",
        (patient_id,),
    )
    return None if row is None else str(row["session_id"])


async def self_reports(db: Database, patient_id: str, since_unix_s: float) -> list[dict[str, Any]]:
    """Pain and swelling ratings (0–10): from ``self_report`` events and from summary fields."""
    rows = await db.fetchall(
        "SELECT e.session_id, e.type, e.payload, c.start_unix_s, e.received_unix_s FROM events e"
        " JOIN coach_sessions c ON c.patient_id = e.patient_id AND c.session_id = e.session_id"
        " WHERE e.patient_id = ? AND e.type IN ('summary', ?) AND e.received_unix_s >= ?",
        (patient_id, SELF_REPORT_TYPE, since_unix_s - 86400.0),
    )
    per_session: dict[str, dict[str, Any]] = {}
    for r in sorted(rows, key=lambda row: row["type"] == SELF_REPORT_TYPE):  # the explicit report wins
        doc = _load(r["payload"])
        pain, swelling = doc.get("pain_0_10"), doc.get("swelling_0_10")
        entry = per_session.setdefault(
            r["session_id"], {"session_id": r["session_id"], "unix_s": None, "pain": None, "swelling": None}
        )
        if entry["unix_s"] is None or r["type"] == "summary":
            entry["unix_s"] = parse_wall_utc(doc.get("wall_utc")) or r["start_unix_s"] or r["received_unix_s"]
        if pain is not None or swelling is not None:
            entry["pain"], entry["swelling"] = pain, swelling
    out = [
        e
        for e in per_session.values()
        if (e["pain"] is not None or e["swelling"] is not None) and e["unix_s"] >= since_unix_s
    ]
    out.sort(key=lambda x: x["unix_s"])
    return out


async def completed_per_day(db: Database, patient_id: str, days: int, now_unix_s: float) -> list[int]:
    """Completed sessions (with a summary) on each of the last ``days`` full local days, oldest first."""
    today = _local_date(now_unix_s)
    since = datetime.combine(today - timedelta(days=days), datetime.min.time()).astimezone().timestamp()
    rows = await db.fetchall(
        "SELECT start_unix_s, first_received_unix_s FROM coach_sessions"
        " WHERE patient_id = ? AND summary IS NOT NULL"
        " AND COALESCE(start_unix_s, first_received_unix_s) >= ?",
        (patient_id, since),
    )
    counts = dict.fromkeys(((today - timedelta(days=d)) for d in range(days, 0, -1)), 0)
    for r in rows:
        day = _local_date(float(r["start_unix_s"] or r["first_received_unix_s"]))
        if day in counts:
            counts[day] += 1
    return list(counts.values())


async def overview(
    db: Database, patients: list[dict[str, Any]], cfg: AlertConfig, now_unix_s: float | None = None
) -> list[dict[str, Any]]:
    """One card per patient: status, links and battery, the current session's live picture, alerts."""
    now = time.time() if now_unix_s is None else now_unix_s
    cards: list[dict[str, Any]] = []
    for patient in patients:
        p = patient["patient_id"]
        status, status_received = await patient_status(db, p)
        s = await current_session_id(db, p, status)
        live = await session_live(db, p, s, status, cfg) if s else None
        reports = await self_reports(db, p, now - cfg.swelling_window_days * 86400.0)
        swell = swelling_alert(
            cfg, [(r["unix_s"], float(r["swelling"])) for r in reports if r["swelling"] is not None], now
        )
        missed = missed_sessions_alert(
            cfg,
            await completed_per_day(db, p, cfg.missed_active_days, now),
            int(patient.get("sessions_per_day") or 1),
        )
        alerts = (live["alerts"] if live else []) + [a for a in (swell, missed) if a]
        cards.append(
            {
                "patient_id": p,
                "display_name": patient["display_name"],
                "status": status,
                "status_age_s": None if status_received is None else max(0.0, now - status_received),
                "session": live,
                "alerts": alerts,
            }
        )
    return cards


async def session_detail(db: Database, p: str, s: str) -> dict[str, Any] | None:
    """Everything the session page and the report draw: series, strokes, states, cues, summary."""
    meta = await db.fetchone(
        "SELECT start_unix_s, first_received_unix_s, last_received_unix_s, summary FROM coach_sessions"
        " WHERE patient_id = ? AND session_id = ?",
        (p, s),
    )
    if meta is None:
        return None
    rows = await db.fetchall(
        "SELECT type, payload FROM events WHERE patient_id = ? AND session_id = ?"
        " AND type IN ('posture', 'cadence', 'stroke', 'state', 'cue', ?) ORDER BY t_s, seq",
        (p, s, SELF_REPORT_TYPE),
    )
    posture: list[list[Any]] = []
    cadence: list[list[float]] = []
    strokes: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    cues: list[dict[str, Any]] = []
    for r in rows:
        e = _load(r["payload"])
        typ = r["type"]
        if typ == "posture":
            posture.append(
                [
                    e["t"],
                    e.get("elevation_deg"),
                    e.get("elevated"),
                    e.get("wrist_flexion_deg"),
                    e.get("wrist_deviation_deg"),
                    e.get("forearm_roll_deg"),
                    e.get("wrist_neutral"),
                ]
            )
        elif typ == "cadence":
            cadence.append([e["t"], e["strokes_per_min"]])
        elif typ == "stroke":
            strokes.append(
                {k: e.get(k) for k in ("id", "t", "t_start", "t_end", "direction", "confidence", "sensor")}
            )
        elif typ == "state":
            states.append({k: e.get(k) for k in ("t", "state", "reason", "wall_utc")})
        elif typ == "cue":
            cues.append({k: e.get(k) for k in ("t", "code", "message")})
    return {
        "patient_id": p,
        "session_id": s,
        "start_unix_s": meta["start_unix_s"] or meta["first_received_unix_s"],
        "last_received_unix_s": meta["last_received_unix_s"],
        "summary": _load(meta["summary"]) or None,
        "posture_columns": [
            "t",
            "elevation_deg",
            "elevated",
            "wrist_flexion_deg",
            "wrist_deviation_deg",
            "forearm_roll_deg",
            "wrist_neutral",
        ],
        "posture": posture,
        "cadence": cadence,
        "strokes": strokes,
        "states": states,
        "cues": cues,
    }


def _local_date(unix_s: float) -> date:
    return datetime.fromtimestamp(unix_s).astimezone().date()


async def patient_history(
    db: Database, patient: dict[str, Any], cfg: AlertConfig, now_unix_s: float | None = None
) -> dict[str, Any]:
    """Sessions, adherence calendar (sessions per day against the dose), weekly trends, self reports."""
    now = time.time() if now_unix_s is None else now_unix_s
    p = patient["patient_id"]
    rows = await db.fetchall(
        "SELECT session_id, start_unix_s, first_received_unix_s, summary FROM coach_sessions"
        " WHERE patient_id = ? ORDER BY COALESCE(start_unix_s, first_received_unix_s) DESC LIMIT 1000",
        (p,),
    )
    sessions: list[dict[str, Any]] = []
    for r in rows:
        summary = _load(r["summary"])
        start = float(r["start_unix_s"] or r["first_received_unix_s"])
        total = summary.get("strokes_total") or 0
        sessions.append(
            {
                "session_id": r["session_id"],
                "start_unix_s": start,
                "date": _local_date(start).isoformat(),
                "complete": bool(summary),
                "duration_s": summary.get("duration_s"),
                "strokes_total": summary.get("strokes_total"),
                "proximal_fraction": (summary.get("strokes_proximal", 0) / total) if total else None,
                "mean_cadence_spm": summary.get("mean_cadence_spm"),
                "elevated_fraction": summary.get("elevated_fraction"),
                "wrist_neutral_fraction": summary.get("wrist_neutral_fraction"),
            }
        )
    dose = int(patient.get("sessions_per_day") or 1)
    today = _local_date(now)
    first_day = today - timedelta(days=CALENDAR_DAYS - 1)
    per_day: dict[str, int] = {}
    for sess in sessions:
        if sess["complete"]:
            per_day[sess["date"]] = per_day.get(sess["date"], 0) + 1
    calendar: list[dict[str, Any]] = [
        {
            "date": (d := first_day + timedelta(days=i)).isoformat(),
            "weekday": d.isoweekday(),
            "sessions": per_day.get(d.isoformat(), 0),
            "prescribed": dose,
        }
        for i in range(CALENDAR_DAYS)
    ]
    weeks: dict[str, list[dict[str, Any]]] = {}
    for sess in sessions:
        if not sess["complete"]:
            continue
        d = date.fromisoformat(sess["date"])
        if d < first_day:
            continue
        monday = d - timedelta(days=d.isoweekday() - 1)
        weeks.setdefault(monday.isoformat(), []).append(sess)

    def mean(values: list[Any]) -> float | None:
        nums = [float(v) for v in values if isinstance(v, int | float)]
        return sum(nums) / len(nums) if nums else None

    trends = [
        {
            "week": week,
            "sessions": len(items),
            "prescribed": dose * 7,
            "mean_duration_s": mean([i["duration_s"] for i in items]),
            "elevated_fraction": mean([i["elevated_fraction"] for i in items]),
            "wrist_neutral_fraction": mean([i["wrist_neutral_fraction"] for i in items]),
            "proximal_fraction": mean([i["proximal_fraction"] for i in items]),
            "mean_cadence_spm": mean([i["mean_cadence_spm"] for i in items]),
        }
        for week, items in sorted(weeks.items())
    ]
    reports = await self_reports(db, p, now - CALENDAR_DAYS * 86400.0)
    days_done = sum(1 for c in calendar[-7:] if c["sessions"] >= dose)
    return {
        "patient_id": p,
        "display_name": patient["display_name"],
        "sessions_per_day": dose,
        "sessions": sessions,
        "calendar": calendar,
        "weeks": trends,
        "self_reports": reports,
        "adherence_7d": {"days_at_dose": days_done, "days": 7},
    }
