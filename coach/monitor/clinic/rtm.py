"""Remote therapeutic monitoring (RTM) accounting: data days per 30-day period, management time per month.

What the US RTM codes count (CY 2026 Medicare Physician Fee Schedule final rule, 90 FR 49266,
5 Nov 2025, CMS-1832-F; docs/monitor.md *Remote-monitoring accounting* has the table):

- **Device supply, musculoskeletal**, per 30-day period from the monitoring start date: 98977 when
  data were transmitted on 16 or more days of the period, 98985 (new for 2026) on 2 to 15 days;
  never both for one period.
- **Treatment management**, per calendar month, needing at least one real-time interactive
  communication with the patient or caregiver in that month: 98979 (new for 2026) for 10 to 19
  minutes, 98980 for the first 20 minutes, 98981 for each additional 20 minutes.

A *day with data* is a local day (the monitor host's time zone, like the adherence calendar) on
which a session started whose therapeutic data reached the monitor (at least one ``posture``,
``stroke`` or ``summary`` event); a screening that blocked the session transmits none. The
monitoring start date is the one an admin or therapist set, else the first day with data.
The figures say what the records support; whether a claim is due stays the clinic's decision.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from coach.errors import ValidationError
from coach.monitor.db import Database

PERIOD_DAYS: Final = 30
DEVICE_CODE_16_PLUS: Final = "98977"
DEVICE_CODE_2_TO_15: Final = "98985"
MANAGEMENT_FIRST_10: Final = "98979"
MANAGEMENT_FIRST_20: Final = "98980"
MANAGEMENT_EACH_ADDITIONAL_20: Final = "98981"
THERAPEUTIC_EVENT_TYPES: Final = ("posture", "stroke", "summary")


def local_date(unix_s: float) -> date:
    return datetime.fromtimestamp(unix_s).astimezone().date()


def device_code(days_with_data: int) -> str | None:
    """The device-supply code a 30-day period's data days support (musculoskeletal RTM)."""
    if days_with_data >= 16:
        return DEVICE_CODE_16_PLUS
    if days_with_data >= 2:
        return DEVICE_CODE_2_TO_15
    return None


def management_codes(minutes: int, interactive: bool) -> list[str]:
    """The treatment-management codes a calendar month's logged time supports."""
    if not interactive or minutes < 10:
        return []
    if minutes < 20:
        return [MANAGEMENT_FIRST_10]
    return [MANAGEMENT_FIRST_20] + [MANAGEMENT_EACH_ADDITIONAL_20] * ((minutes - 20) // 20)


@dataclass(frozen=True)
class Period:
    index: int
    start: date
    end: date  # inclusive: start + 29 days
    complete: bool
    days_with_data: int
    device_code: str | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        return d


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM
    minutes: int
    interactive: bool
    entries: int
    codes: list[str]


def periods(start: date, data_days: set[date], today: date) -> list[Period]:
    """Consecutive 30-day periods from ``start`` up to the one holding ``today``."""
    out: list[Period] = []
    k = 0
    while True:
        p_start = start + timedelta(days=PERIOD_DAYS * k)
        if p_start > today:
            break
        p_end = p_start + timedelta(days=PERIOD_DAYS - 1)
        n = sum(1 for d in data_days if p_start <= d <= p_end)
        out.append(Period(k + 1, p_start, p_end, p_end < today, n, device_code(n)))
        k += 1
    return out


async def data_days(db: Database, patient_id: str) -> set[date]:
    """Local days on which a session with therapeutic data started (see the module docstring)."""
    marks = ", ".join("?" for _ in THERAPEUTIC_EVENT_TYPES)
    rows = await db.fetchall(
        "SELECT c.start_unix_s, c.first_received_unix_s FROM coach_sessions c WHERE c.patient_id = ?"
        " AND EXISTS (SELECT 1 FROM events e WHERE e.patient_id = c.patient_id"
        f" AND e.session_id = c.session_id AND e.type IN ({marks}))",
        (patient_id, *THERAPEUTIC_EVENT_TYPES),
    )
    return {local_date(float(r["start_unix_s"] or r["first_received_unix_s"])) for r in rows}


async def monitoring_start(db: Database, patient_id: str) -> tuple[date | None, bool]:
    """The monitoring start date and whether it was set explicitly (else the first day with data)."""
    row = await db.fetchone("SELECT start_date FROM rtm_enrolments WHERE patient_id = ?", (patient_id,))
    if row is not None:
        return date.fromisoformat(str(row["start_date"])), True
    days = await data_days(db, patient_id)
    return (min(days) if days else None), False


def parse_date(text: object, what: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise ValidationError(f"{what}: give a date as YYYY-MM-DD, not {str(text)[:40]!r}") from None


async def set_monitoring_start(db: Database, patient_id: str, start: date, by: str) -> None:
    if start > date.today() + timedelta(days=1):
        raise ValidationError("monitoring start: not in the future")
    await db.execute(
        "INSERT INTO rtm_enrolments (patient_id, start_date, set_by, set_unix_s) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (patient_id) DO UPDATE SET start_date = excluded.start_date,"
        " set_by = excluded.set_by, set_unix_s = excluded.set_unix_s",
        (patient_id, start.isoformat(), by, time.time()),
    )


async def log_time(
    db: Database,
    patient_id: str,
    therapist: str,
    *,
    service_date: date,
    minutes: int,
    interactive: bool,
    note: str,
) -> int:
    """Record management time the therapist spent on this patient; returns the entry id."""
    if not 1 <= minutes <= 600:
        raise ValidationError("minutes: 1 to 600")
    if service_date > date.today() + timedelta(days=1):
        raise ValidationError("service date: not in the future")
    note = note.strip()
    if not note:
        raise ValidationError("note: say what the time was spent on")
    if len(note) > 2000:
        raise ValidationError("note: at most 2000 characters")
    row = await db.fetchone(
        "INSERT INTO rtm_time_entries (patient_id, therapist, service_date, minutes, interactive, note,"
        " logged_unix_s) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (patient_id, therapist, service_date.isoformat(), minutes, int(interactive), note, time.time()),
    )
    assert row is not None
    return int(row["id"])


async def time_entries(db: Database, patient_id: str) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT id, therapist, service_date, minutes, interactive, note, logged_unix_s FROM rtm_time_entries"
        " WHERE patient_id = ? ORDER BY service_date DESC, id DESC",
        (patient_id,),
    )
    return [{**r, "interactive": bool(r["interactive"])} for r in rows]


def months(entries: list[dict[str, Any]]) -> list[Month]:
    """Logged time per calendar month (of the service date), newest first."""
    per: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        per.setdefault(str(e["service_date"])[:7], []).append(e)
    out = []
    for month, items in sorted(per.items(), reverse=True):
        minutes = sum(int(i["minutes"]) for i in items)
        interactive = any(i["interactive"] for i in items)
        out.append(Month(month, minutes, interactive, len(items), management_codes(minutes, interactive)))
    return out


async def patient_accounting(db: Database, patient_id: str, today: date | None = None) -> dict[str, Any]:
    """What the patient page shows: start date, every 30-day period, time per month, the time log."""
    today = today or date.today()
    start, explicit = await monitoring_start(db, patient_id)
    days = await data_days(db, patient_id)
    entries = await time_entries(db, patient_id)
    return {
        "patient_id": patient_id,
        "monitoring_start": start.isoformat() if start else None,
        "start_set_explicitly": explicit,
        "periods": [p.as_dict() for p in periods(start, days, today)] if start else [],
        "months": [asdict(m) for m in months(entries)],
        "entries": entries,
        "today": today.isoformat(),
    }


async def clinic_rows(
    db: Database, patients: list[dict[str, Any]], month: str, today: date | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The clinic-wide tables for one calendar month: 30-day periods ending in it (or running in it)
    and management time in it, one row per patient and period / per patient."""
    today = today or date.today()
    first = parse_date(f"{month}-01", "month")
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    period_rows: list[dict[str, Any]] = []
    month_rows: list[dict[str, Any]] = []
    for patient in patients:
        p = str(patient["patient_id"])
        start, _ = await monitoring_start(db, p)
        if start is not None:
            for per in periods(start, await data_days(db, p), min(today, last)):
                if first <= per.end <= last or (per.start <= last and not per.complete):
                    period_rows.append(
                        {"patient_id": p, "monitoring_start": start.isoformat(), **per.as_dict()}
                    )
        m = next((m for m in months(await time_entries(db, p)) if m.month == month), None)
        month_rows.append(
            {
                "patient_id": p,
                "month": month,
                "minutes": m.minutes if m else 0,
                "interactive": m.interactive if m else False,
                "entries": m.entries if m else 0,
                "codes": m.codes if m else [],
            }
        )
    return {"periods": period_rows, "months": month_rows}


PERIOD_COLUMNS: Final = (
    "patient_id",
    "monitoring_start",
    "index",
    "start",
    "end",
    "complete",
    "days_with_data",
    "device_code",
)
MONTH_COLUMNS: Final = ("patient_id", "month", "minutes", "interactive", "entries", "codes")


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """RFC 4180 CSV (CRLF line ends); lists joined with spaces, booleans as yes/no, None as empty."""

    def cell(v: Any) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, list):
            return " ".join(str(x) for x in v)
        return "" if v is None else str(v)

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([cell(r.get(c)) for c in columns])
    return out.getvalue()
