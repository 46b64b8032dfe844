"""A patient's data rights on the monitor side: export everything held, and erase it.

Every table with a ``patient_id`` column is found from the database's own catalogue, so a table added
by a later migration is exported and erased without a change here (tested: after an erasure no table
but ``audit_log`` holds the id). The export is one JSON document (format
``retro-coach-monitor-patient-export`` version 1, docs/monitor.md *Patients' data rights*): per table
the patient's rows, JSON columns decoded; the enrolment secret is never exported.

Erasure deletes those rows in one transaction and then appends ``patient_erased`` (with the row
counts) to the hash-chained audit log, which is kept: the audit entries name only the pseudonymous
id, and the name behind it is gone with the ``patients`` row. SQLite is compacted afterwards so the
deleted rows leave no trace in free pages or the WAL; on PostgreSQL run ``VACUUM`` (docs).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, Final

from coach.errors import ValidationError
from coach.monitor import accounts
from coach.monitor.db import Database, SqliteDatabase

EXPORT_FORMAT: Final = "retro-coach-monitor-patient-export"
EXPORT_VERSION: Final = 1
KEPT_TABLES: Final = ("audit_log",)
NEVER_EXPORTED: Final = {("patients", "enrolment_secret")}
JSON_COLUMNS: Final = ("payload", "summary", "args")
#: Tables whose payloads are exported as the text received, never parsed: the quarantine holds what
#: failed validation (NaN, 400-digit numbers, deep nesting...).
RAW_TABLES: Final = ("quarantine",)


async def patient_tables(db: Database) -> list[str]:
    """Every table of the schema with a ``patient_id`` column, ``patients`` last."""
    if db.dialect == "sqlite":
        names = [
            str(r["name"])
            for r in await db.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        tables = []
        for name in names:
            cols = await db.fetchall(f'SELECT name FROM pragma_table_info("{name}")')
            if any(c["name"] == "patient_id" for c in cols):
                tables.append(name)
    else:
        rows = await db.fetchall(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND column_name = 'patient_id'"
        )
        tables = [str(r["table_name"]) for r in rows]
    return sorted(tables, key=lambda t: (t == "patients", t))


def _decode(table: str, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, bytes | bytearray | memoryview):  # the quarantine keeps payloads as received
            value = bytes(value).decode("utf-8", "backslashreplace")
        if (table, key) in NEVER_EXPORTED:
            out[key] = "(held encrypted; not exported)" if value is not None else None
        elif key in JSON_COLUMNS and isinstance(value, str) and table not in RAW_TABLES:
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


async def export_patient(db: Database, patient_id: str) -> dict[str, Any]:
    """Everything the monitor database holds on ``patient_id``, as one JSON-ready document."""
    if await db.fetchone("SELECT 1 AS ok FROM patients WHERE patient_id = ?", (patient_id,)) is None:
        raise ValidationError(f"no patient {patient_id!r}")
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in await patient_tables(db):
        rows = await db.fetchall(f'SELECT * FROM "{table}" WHERE patient_id = ?', (patient_id,))
        tables[table] = [_decode(table, r) for r in rows]
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "patient_id": patient_id,
        "exported_utc": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source": "coach monitor database",
        "tables": tables,
    }


async def erase_patient(db: Database, patient_id: str, actor: str) -> dict[str, int]:
    """Delete every row about ``patient_id`` (the audit log excepted); returns the counts per table."""
    if await db.fetchone("SELECT 1 AS ok FROM patients WHERE patient_id = ?", (patient_id,)) is None:
        raise ValidationError(f"no patient {patient_id!r}")
    counts: dict[str, int] = {}
    tables = [t for t in await patient_tables(db) if t not in KEPT_TABLES]
    async with db.transaction() as tx:
        for table in tables:
            counts[table] = int(
                await tx.execute(f'DELETE FROM "{table}" WHERE patient_id = ?', (patient_id,))
            )
    await accounts.audit(
        db,
        actor,
        "patient_erased",
        patient_id=patient_id,
        detail=json.dumps({"rows": counts, "at_unix_s": round(time.time(), 3)}, sort_keys=True),
    )
    if isinstance(db, SqliteDatabase):
        await db.compact()
    return counts


async def session_ids(db: Database, patient_id: str) -> list[str]:
    rows = await db.fetchall("SELECT session_id FROM coach_sessions WHERE patient_id = ?", (patient_id,))
    return [str(r["session_id"]) for r in rows]
