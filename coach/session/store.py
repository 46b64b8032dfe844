"""The coach's local state for one patient: therapist settings, applied commands, screening clearances,
and the audit log. SQLite (mode 0600) in ``<data dir>/patients/<patient id>/``.

- **settings** (target duration, cadence range, thresholds) come from the retained ``targets`` document
  and from ``set_*`` commands; a value is replaced only by one issued at the same time or later, so a
  stale retained document never undoes a newer command, whatever the delivery order.
- **applied commands** by id: a command delivered twice (QoS 1 may) is not applied twice; its stored
  result is sent again.
- **clearances**: a therapist's signed ``clear_screening`` lets a session start despite a "yes" in
  screening until it expires.
- **audit log**: one JSON line per command received, screening outcome and clearance used
  (``audit.jsonl``, 0600), with pseudonymous ids only.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from coach.clock import format_utc, parse_utc, utc_now
from coach.ids import check_id
from coach.paths import data_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, issued_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS applied_commands (
    cmd_id TEXT PRIMARY KEY, received_utc TEXT NOT NULL, result TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clearances (
    cmd_id TEXT PRIMARY KEY, valid_until_utc TEXT NOT NULL, by_user TEXT NOT NULL, issued_at TEXT NOT NULL);
"""

#: Setting keys and what they mean (units in the names).
SETTING_KEYS = (
    "target_duration_s",
    "cadence_min_spm",
    "cadence_max_spm",
    "elevation_margin_m",
    "wrist_flexion_deg",
    "wrist_deviation_deg",
)


@dataclass(frozen=True)
class Clearance:
    cmd_id: str
    valid_until: datetime
    by: str


def patient_dir(patient: str, base: Path | None = None) -> Path:
    """``<data dir>/patients/<patient>`` (created, 0700)."""
    path = (base or data_dir()) / "patients" / check_id(patient, "patient id")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class LocalStore:
    """Settings, applied commands and clearances of one patient's coach."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / "state.sqlite3"
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        path.chmod(0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.audit_path = directory / "audit.jsonl"

    def close(self) -> None:
        self._db.close()

    # -- settings ----------------------------------------------------------------------------------
    def settings(self) -> dict[str, float]:
        rows = self._db.execute("SELECT key, value FROM settings").fetchall()
        return {str(k): float(json.loads(v)) for k, v in rows}

    def update_settings(self, values: dict[str, float], issued_at: str) -> dict[str, float]:
        """Store each value unless a newer one is stored; return the values that took effect."""
        issued = parse_utc(issued_at)
        applied: dict[str, float] = {}
        for key, value in values.items():
            if key not in SETTING_KEYS:
                raise KeyError(key)
            row = self._db.execute("SELECT issued_at FROM settings WHERE key = ?", (key,)).fetchone()
            if row is not None and parse_utc(row[0]) > issued:
                continue
            self._db.execute(
                "INSERT INTO settings (key, value, issued_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET value = excluded.value, issued_at = excluded.issued_at",
                (key, json.dumps(float(value)), issued_at),
            )
            applied[key] = float(value)
        return applied

    # -- commands ----------------------------------------------------------------------------------
    def command_result(self, cmd_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT result FROM applied_commands WHERE cmd_id = ?", (cmd_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def record_command(self, cmd_id: str, result: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO applied_commands (cmd_id, received_utc, result) VALUES (?, ?, ?)",
            (cmd_id, format_utc(utc_now()), json.dumps(result)),
        )

    # -- clearances --------------------------------------------------------------------------------
    def add_clearance(self, cmd_id: str, valid_days: int, by: str, issued_at: str) -> Clearance:
        until = parse_utc(issued_at) + timedelta(days=valid_days)
        self._db.execute(
            "INSERT OR REPLACE INTO clearances (cmd_id, valid_until_utc, by_user, issued_at)"
            " VALUES (?, ?, ?, ?)",
            (cmd_id, format_utc(until), by, issued_at),
        )
        return Clearance(cmd_id, until, by)

    def valid_clearance(self, now: datetime | None = None) -> Clearance | None:
        """The clearance valid now that lasts longest, if any."""
        now = now or utc_now()
        rows = self._db.execute("SELECT cmd_id, valid_until_utc, by_user FROM clearances").fetchall()
        valid = [Clearance(c, parse_utc(u), b) for c, u, b in rows if parse_utc(u) > now]
        return max(valid, key=lambda c: c.valid_until) if valid else None

    # -- audit -------------------------------------------------------------------------------------
    def audit(self, what: str, **fields: Any) -> None:
        """Append one line to the audit log (opened 0600 on creation)."""
        line = json.dumps({"wall_utc": format_utc(utc_now()), "what": what, **fields}, separators=(",", ":"))
        fd = os.open(self.audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)
