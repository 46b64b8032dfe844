"""Read models for the dashboard: live overview, session detail, patient history and adherence.

Everything is derived from the database (not from one instance's memory), so several monitor
instances behind a shared subscription all show the same picture, whichever of them stored a message.
Every stored value is read with its contract type and range (:func:`coach.monitor.fields.number`),
so nothing stored, not even by an older monitor, can break a page. The live card of a session is
:mod:`coach.monitor.live_card`.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any, Final

from coach.monitor.alerts import AlertConfig, missed_sessions_alert, swelling_alert
from coach.monitor.db import Database
from coach.monitor.fields import MAX_SESSION_S, number, parse_wall_utc
from coach.monitor.live_card import (
    active_time_s,
    current_session_id,
    load,
    patient_status,
    session_live,
    summary_view,
)
from coach.monitor.messages import SELF_REPORT_TYPE

__all__ = ["active_time_s", "overview", "patient_history", "self_reports", "session_detail"]

CALENDAR_DAYS: Final = 56


_load = load


def _ordinal(unix_s: Any) -> float | None:
    """A stored Unix time within the years the contract allows, else ``None``."""
    from coach.monitor.fields import EARLIEST_UNIX_S, LATEST_UNIX_S

    return number(unix_s, EARLIEST_UNIX_S, LATEST_UNIX_S)


def _start(row: dict[str, Any]) -> float:
    start = _ordinal(row.get("start_unix_s"))
    return start if start is not None else float(row["first_received_unix_s"])


async def self_reports(db: Database, patient_id: str, since_unix_s: float) -> list[dict[str, Any]]:
    """Pain and swelling ratings (0–10): from ``self_report`` events and from summary fields."""
    rows = await db.fetchall(
        "SELECT e.session_id, e.type, e.payload, c.start_unix_s, c.first_received_unix_s, e.received_unix_s"
        " FROM events e"
        " JOIN coach_sessions c ON c.patient_id = e.patient_id AND c.session_id = e.session_id"
        " WHERE e.patient_id = ? AND e.type IN ('summary', ?) AND e.received_unix_s >= ?",
        (patient_id, SELF_REPORT_TYPE, since_unix_s - 86400.0),
    )
    per_session: dict[str, dict[str, Any]] = {}
    for r in sorted(rows, key=lambda row: row["type"] == SELF_REPORT_TYPE):  # the explicit report wins
        doc = _load(r["payload"])
        pain, swelling = number(doc.get("pain_0_10"), 0.0, 10.0), number(doc.get("swelling_0_10"), 0.0, 10.0)
        entry = per_session.setdefault(
            r["session_id"], {"session_id": r["session_id"], "unix_s": None, "pain": None, "swelling": None}
        )
        if entry["unix_s"] is None or r["type"] == "summary":
            entry["unix_s"] = parse_wall_utc(doc.get("wall_utc")) or _start(r)
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
    """Finished sessions (not aborted ones) on each of the last ``days`` full local days, oldest first."""
    today = _local_date(now_unix_s)
    since = datetime.combine(today - timedelta(days=days), datetime.min.time()).astimezone().timestamp()
    rows = await db.fetchall(
        "SELECT start_unix_s, first_received_unix_s FROM coach_sessions"
        " WHERE patient_id = ? AND end_state = 'finished'"
        " AND COALESCE(start_unix_s, first_received_unix_s) >= ?",
        (patient_id, since),
    )
    counts = dict.fromkeys(((today - timedelta(days=d)) for d in range(days, 0, -1)), 0)
    for r in rows:
        day = _local_date(_start(r))
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
        live = await session_live(db, p, s, status, status_received, cfg, now) if s else None
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


_ANGLES: Final = ("elevation_deg", "wrist_flexion_deg", "wrist_deviation_deg", "forearm_roll_deg")


def _cells(e: dict[str, Any], keys: tuple[str, ...], lo: float, hi: float) -> list[float | None]:
    return [number(e.get(k), lo, hi) for k in keys]


async def session_detail(db: Database, p: str, s: str) -> dict[str, Any] | None:
    """Everything the session page and the report draw: series, strokes, states, cues, summary."""
    meta = await db.fetchone(
        "SELECT start_unix_s, first_received_unix_s, last_received_unix_s, summary, end_state, end_reason"
        " FROM coach_sessions WHERE patient_id = ? AND session_id = ?",
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
    cadence: list[list[Any]] = []
    strokes: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    cues: list[dict[str, Any]] = []
    for r in rows:
        e = _load(r["payload"])
        typ = r["type"]
        t = number(e.get("t"), 0.0, MAX_SESSION_S)
        if t is None:
            continue
        if typ == "posture":
            elevated = e.get("elevated") if isinstance(e.get("elevated"), bool) else None
            neutral = e.get("wrist_neutral") if isinstance(e.get("wrist_neutral"), bool) else None
            angles = _cells(e, _ANGLES, -360.0, 360.0)
            posture.append([t, angles[0], elevated, angles[1], angles[2], angles[3], neutral])
        elif typ == "cadence":
            cadence.append([t, number(e.get("strokes_per_min"), 0.0, 600.0)])
        elif typ == "stroke":
            strokes.append(
                {
                    "id": str(e.get("id", ""))[:128],
                    "t": t,
                    "t_start": number(e.get("t_start"), 0.0, MAX_SESSION_S),
                    "t_end": number(e.get("t_end"), 0.0, MAX_SESSION_S),
                    "direction": e.get("direction")
                    if e.get("direction") in ("proximal", "distal")
                    else "unknown",
                    "confidence": number(e.get("confidence"), 0.0, 1.0),
                    "sensor": e.get("sensor") if isinstance(e.get("sensor"), str) else None,
                }
            )
        elif typ == "state":
            states.append({"t": t, **{k: _text(e.get(k)) for k in ("state", "reason", "wall_utc")}})
        elif typ == "cue":
            cues.append({"t": t, "code": _text(e.get("code")), "message": _text(e.get("message"))})
    summary = _load(meta["summary"])
    return {
        "patient_id": p,
        "session_id": s,
        "start_unix_s": _start(meta),
        "last_received_unix_s": meta["last_received_unix_s"],
        "end_state": meta["end_state"],
        "end_reason": meta["end_reason"],
        "summary": summary_view(summary) if summary else None,
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


def _text(value: Any) -> str | None:
    return value[:1000] if isinstance(value, str) else None


def _local_date(unix_s: float) -> date:
    return datetime.fromtimestamp(unix_s).astimezone().date()


async def patient_history(
    db: Database, patient: dict[str, Any], cfg: AlertConfig, now_unix_s: float | None = None
) -> dict[str, Any]:
    """Sessions, adherence calendar (finished sessions per day against the dose), weekly trends,
    self reports. Aborted sessions are listed with their reason and count nowhere else."""
    now = time.time() if now_unix_s is None else now_unix_s
    p = patient["patient_id"]
    rows = await db.fetchall(
        "SELECT session_id, start_unix_s, first_received_unix_s, summary, end_state, end_reason"
        " FROM coach_sessions WHERE patient_id = ?"
        " ORDER BY COALESCE(start_unix_s, first_received_unix_s) DESC LIMIT 1000",
        (p,),
    )
    sessions: list[dict[str, Any]] = []
    for r in rows:
        summary = summary_view(_load(r["summary"]))
        start = _start(r)
        total = summary["strokes_total"]
        proximal = summary["strokes_proximal"]
        sessions.append(
            {
                "session_id": r["session_id"],
                "start_unix_s": start,
                "date": _local_date(start).isoformat(),
                "end_state": r["end_state"],
                "end_reason": r["end_reason"],
                "complete": r["end_state"] == "finished",
                "duration_s": summary["duration_s"],
                "strokes_total": total,
                "proximal_fraction": min(1.0, proximal / total) if total and proximal is not None else None,
                "mean_cadence_spm": summary["mean_cadence_spm"],
                "elevated_fraction": summary["elevated_fraction"],
                "wrist_neutral_fraction": summary["wrist_neutral_fraction"],
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
