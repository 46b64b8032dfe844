"""The monitor's audit log as a hash chain: append-only, tamper-evident, kept six years by default.

Every ``audit_log`` row stores ``prev_sha256`` (the previous row's hash) and ``entry_sha256`` =
SHA-256 over ``prev_sha256`` and the row's canonical JSON (sorted keys, no spaces: ``at_unix_s``,
``actor``, ``action``, ``patient_id``, ``detail``, ``remote``). Rows are chained in ``id`` order;
the first row's ``prev_sha256`` is 64 zeros (or, after a purge, the hash of the last purged row,
kept as the *anchor* in ``audit_settings``). So changing, inserting or deleting any row breaks
every later link, and :func:`verify` names the first broken row.

The database refuses ``UPDATE`` of audit rows and ``DELETE`` of rows younger than the retention
period (triggers made by migration 11; 2192 days = six years by default, HIPAA's 45 CFR
164.316(b)(2)). Whoever owns the database can drop triggers: the chain is what shows it. Removing
the *newest* rows leaves a valid shorter chain, so keep the head that ``coach monitor audit verify``
prints (e.g. in the clinic's records) and compare it later.

Appends are serialised (SQLite: the write transaction; PostgreSQL: an advisory lock), so several
monitor instances on one database still write one chain.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Final

from coach.errors import ValidationError
from coach.monitor.db_types import Database, Tx

GENESIS: Final = "0" * 64
DEFAULT_RETENTION_DAYS: Final = 2192  # six years, leap days included
_PG_LOCK: Final = 4242013
_FIELDS: Final = ("at_unix_s", "actor", "action", "patient_id", "detail", "remote")


def entry_hash(prev_sha256: str, entry: dict[str, Any]) -> str:
    """The hash that chains ``entry`` (its audit fields) to the previous entry's hash."""
    body: dict[str, Any] = {k: entry.get(k) for k in _FIELDS}
    body["at_unix_s"] = float(entry["at_unix_s"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_sha256}\n{canonical}".encode()).hexdigest()


async def _head(tx: Tx) -> str:
    row = await tx.fetchone(
        "SELECT entry_sha256 FROM audit_log WHERE entry_sha256 IS NOT NULL ORDER BY id DESC LIMIT 1"
    )
    if row is not None:
        return str(row["entry_sha256"])
    anchor = await tx.fetchone("SELECT anchor_sha256 FROM audit_settings WHERE id = 1")
    return str(anchor["anchor_sha256"]) if anchor and anchor["anchor_sha256"] else GENESIS


async def append(
    db: Database,
    actor: str,
    action: str,
    *,
    patient_id: str | None = None,
    detail: str | None = None,
    remote: str | None = None,
    at_unix_s: float | None = None,
) -> str:
    """Append one entry to the chain; returns its hash."""
    entry = {
        "at_unix_s": time.time() if at_unix_s is None else at_unix_s,
        "actor": actor,
        "action": action,
        "patient_id": patient_id,
        "detail": detail,
        "remote": remote,
    }
    async with db.transaction() as tx:
        if db.dialect == "postgresql":
            await tx.fetchall(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
        prev = await _head(tx)
        digest = entry_hash(prev, entry)
        await tx.execute(
            "INSERT INTO audit_log (at_unix_s, actor, action, patient_id, detail, remote, prev_sha256,"
            " entry_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*(entry[k] for k in _FIELDS), prev, digest),
        )
    return digest


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    head_id: int | None
    head_sha256: str
    problem: str | None = None
    bad_id: int | None = None


async def verify(db: Database, *, batch: int = 5000) -> Verification:
    """Walk the chain from the anchor; the first entry whose link or content does not match fails it."""
    settings = await db.fetchone("SELECT anchor_id, anchor_sha256 FROM audit_settings WHERE id = 1")
    expected_prev = GENESIS
    last_id = -1
    if settings is not None and settings["anchor_sha256"]:
        expected_prev = str(settings["anchor_sha256"])
        last_id = int(settings["anchor_id"])
    count = 0
    head_id: int | None = None
    while True:
        rows = await db.fetchall(
            "SELECT id, at_unix_s, actor, action, patient_id, detail, remote, prev_sha256, entry_sha256"
            " FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
            (last_id, batch),
        )
        if not rows:
            break
        for row in rows:
            rid = int(row["id"])
            if row["entry_sha256"] is None or row["prev_sha256"] is None:
                return Verification(False, count, head_id, expected_prev, "entry is not chained", rid)
            if row["prev_sha256"] != expected_prev:
                return Verification(
                    False,
                    count,
                    head_id,
                    expected_prev,
                    "link to the previous entry is broken (an entry before it was removed or changed)",
                    rid,
                )
            if entry_hash(expected_prev, row) != row["entry_sha256"]:
                return Verification(False, count, head_id, expected_prev, "entry content was changed", rid)
            expected_prev = str(row["entry_sha256"])
            head_id = rid
            count += 1
            last_id = rid
    return Verification(True, count, head_id, expected_prev)


async def retention_days(db: Database) -> int:
    row = await db.fetchone("SELECT retention_days FROM audit_settings WHERE id = 1")
    return DEFAULT_RETENTION_DAYS if row is None else int(row["retention_days"])


async def set_retention_days(db: Database, days: int, actor: str) -> None:
    """Change how long entries are kept (at least one year: records are a legal duty)."""
    if not 365 <= days <= 36500:
        raise ValidationError("audit retention: 365 to 36500 days")
    await db.execute("UPDATE audit_settings SET retention_days = ? WHERE id = 1", (days,))
    await append(db, actor, "audit_retention_set", detail=f"{days} days")


async def purge_expired(db: Database, actor: str, now_unix_s: float | None = None) -> int:
    """Delete the oldest entries past the retention period; the last one's hash becomes the anchor."""
    now = time.time() if now_unix_s is None else now_unix_s
    days = await retention_days(db)
    cutoff = now - days * 86400.0
    async with db.transaction() as tx:
        if db.dialect == "postgresql":
            await tx.fetchall(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
        last = await tx.fetchone(
            "SELECT id, entry_sha256 FROM audit_log WHERE at_unix_s < ? ORDER BY id DESC LIMIT 1", (cutoff,)
        )
        if last is None:
            return 0
        # Only a prefix of the chain may go: stop before the first young entry.
        young = await tx.fetchone("SELECT MIN(id) AS id FROM audit_log WHERE at_unix_s >= ?", (cutoff,))
        upto = int(last["id"])
        if young is not None and young["id"] is not None and int(young["id"]) < upto:
            upto = int(young["id"]) - 1
        anchor = await tx.fetchone("SELECT id, entry_sha256 FROM audit_log WHERE id = ?", (upto,))
        if anchor is None:
            return 0
        n = int(await tx.execute("DELETE FROM audit_log WHERE id <= ?", (upto,)))
        await tx.execute(
            "UPDATE audit_settings SET anchor_id = ?, anchor_sha256 = ? WHERE id = 1",
            (upto, anchor["entry_sha256"]),
        )
    await append(db, actor, "audit_purged", detail=f"{n} entries older than {days} days, up to id {upto}")
    return n


async def entries(
    db: Database, *, patient_id: str | None = None, before_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest entries (optionally of one patient, older than ``before_id``), newest first."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if patient_id is not None:
        where.append("patient_id = ?")
        params.append(patient_id)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    return await db.fetchall(
        "SELECT id, at_unix_s, actor, action, patient_id, detail, remote, entry_sha256 FROM audit_log"
        f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )


# --- migration 11: chain the rows written before the chain existed, then make the table append-only


_SQLITE_TRIGGERS: Final = (
    # A chained row never changes; an unchained one (written before the chain) may be chained once.
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log"
    " WHEN OLD.entry_sha256 IS NOT NULL"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_keep BEFORE DELETE ON audit_log"
    " WHEN OLD.at_unix_s >= CAST(strftime('%s', 'now') AS REAL)"
    " - 86400.0 * (SELECT retention_days FROM audit_settings WHERE id = 1)"
    " BEGIN SELECT RAISE(ABORT, 'audit_log entries are kept for the retention period'); END",
)
_PG_TRIGGERS: Final = (
    "CREATE OR REPLACE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP = 'UPDATE' THEN"
    " IF OLD.entry_sha256 IS NOT NULL THEN RAISE EXCEPTION 'audit_log is append-only'; END IF;"
    " RETURN NEW; END IF;"
    " IF OLD.at_unix_s >= EXTRACT(EPOCH FROM now())"
    " - 86400.0 * (SELECT retention_days FROM audit_settings WHERE id = 1) THEN"
    " RAISE EXCEPTION 'audit_log entries are kept for the retention period'; END IF;"
    " RETURN OLD; END $$",
    "DROP TRIGGER IF EXISTS audit_log_guard ON audit_log",
    "CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON audit_log"
    " FOR EACH ROW EXECUTE FUNCTION audit_log_guard()",
)


async def _is_postgresql(tx: Tx) -> bool:
    # PostgreSQL answers this; SQLite fails it without aborting its transaction.
    try:
        probe = await tx.fetchone("SELECT current_setting('server_version_num') AS v")
    except Exception:  # SQLite: no such function (and SQLite keeps the transaction open)
        return False
    return probe is not None


async def _columns(tx: Tx, postgres: bool) -> set[str]:
    if postgres:
        rows = await tx.fetchall(
            "SELECT column_name AS name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'audit_log'"
        )
    else:
        rows = await tx.fetchall("SELECT name FROM pragma_table_info('audit_log')")
    return {str(r["name"]) for r in rows}


async def chain_existing_and_protect(tx: Tx) -> None:
    """Data step 11: add the chain's columns, chain the rows that are not yet (in ``id`` order), then
    add the append-only triggers. Applying it again changes nothing."""
    postgres = await _is_postgresql(tx)
    columns = await _columns(tx, postgres)
    for name in ("prev_sha256", "entry_sha256"):
        if name not in columns:
            await tx.execute(f"ALTER TABLE audit_log ADD COLUMN {name} TEXT")
    rows = await tx.fetchall(
        "SELECT id, at_unix_s, actor, action, patient_id, detail, remote, entry_sha256 FROM audit_log"
        " ORDER BY id"
    )
    prev = GENESIS
    for row in rows:
        if row["entry_sha256"] is not None:
            prev = str(row["entry_sha256"])
            continue
        digest = entry_hash(prev, row)
        await tx.execute(
            "UPDATE audit_log SET prev_sha256 = ?, entry_sha256 = ? WHERE id = ?", (prev, digest, row["id"])
        )
        prev = digest
    for statement in _PG_TRIGGERS if postgres else _SQLITE_TRIGGERS:
        await tx.execute(statement)
