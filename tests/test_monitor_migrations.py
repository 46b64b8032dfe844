"""Schema migrations on both engines: every step once, in ascending order, on a fresh database and on
one that already applied a later feature's steps before an earlier range existed.

Features reserve version ranges and merge in any order: main's clinic work (10, and the Python step
11) reached databases before the monitor's delivery work (5–8). A database that applied 1–4, 10, 11
must still get 5–8 when it meets the merged code; a "skip everything at or below the highest" check
would silently leave it without the quarantine, the login attempts and the delivery numbers.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

import coach.monitor.db as monitor_db
from coach.monitor import accounts
from coach.monitor.clinic import audit_chain
from coach.monitor.db import MIGRATIONS_DIR, Database, data_migrations, open_database
from coach.monitor.ingest_store import Quarantined, Received, store_batch
from coach.monitor.messages import parse_message
from coach.monitor.security import LoginLimiter
from tests.fixtures.monitor_services import fresh_postgres_database

#: The monitor's delivery range, which main's clinic databases never saw.
LATE_RANGE = (5, 6, 7, 8)
PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/m.sqlite3"
    else:
        with fresh_postgres_database("coach_migrations") as url:
            yield url


def _all_versions(dialect: str) -> list[int]:
    sql = {int(p.name[:4]) for p in (MIGRATIONS_DIR / dialect).glob("[0-9][0-9][0-9][0-9]_*.sql")}
    return sorted(sql | set(data_migrations()))


async def _schema(db: Database) -> dict[str, set[str]]:
    """Tables with their columns, and the names of indexes and triggers."""
    if db.dialect == "sqlite":
        objects = await db.fetchall(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        )
        out: dict[str, set[str]] = {"index": set(), "trigger": set()}
        for o in objects:
            if o["type"] == "table":
                cols = await db.fetchall(f'SELECT name FROM pragma_table_info("{o["name"]}")')
                out[f"table {o['name']}"] = {str(c["name"]) for c in cols}
            elif o["type"] in out:
                out[o["type"]].add(str(o["name"]))
        return out
    out = {"index": set(), "trigger": set()}
    for c in await db.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    ):
        out.setdefault(f"table {c['table_name']}", set()).add(str(c["column_name"]))
    for i in await db.fetchall("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"):
        out["index"].add(str(i["indexname"]))
    for t in await db.fetchall(
        "SELECT DISTINCT trigger_name FROM information_schema.triggers"
        " WHERE trigger_schema = current_schema()"
    ):
        out["trigger"].add(str(t["trigger_name"]))
    return out


async def test_a_fresh_database_gets_every_step_once_in_order(db_url: str) -> None:
    db = await open_database(db_url)
    try:
        expected = _all_versions(db.dialect)
        assert set(LATE_RANGE) | {1, 2, 3, 4, 10, 11} <= set(expected)
        assert list(db.applied) == expected  # applied in ascending order, nothing left out
        rows = await db.fetchall("SELECT version, name FROM schema_version ORDER BY applied_unix_s, version")
        assert [r["version"] for r in rows] == expected
        assert await db.migrate() == expected[-1] and db.applied == ()  # nothing runs twice
    finally:
        await db.close()


async def test_a_clinic_database_from_before_the_delivery_range_still_gets_it(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # main before the merge: the same files without the delivery range
    old_dir = tmp_path / "migrations-main"
    for dialect in ("sqlite", "postgresql"):
        (old_dir / dialect).mkdir(parents=True)
        for path in (MIGRATIONS_DIR / dialect).glob("*.sql"):
            if int(path.name[:4]) not in LATE_RANGE:
                shutil.copy(path, old_dir / dialect / path.name)
    monkeypatch.setattr(monitor_db, "MIGRATIONS_DIR", old_dir)
    db = await open_database(db_url)
    try:
        assert list(db.applied) == [1, 2, 3, 4, 10, 11]
        assert "table quarantine" not in await _schema(db)
        await accounts.create_therapist(db, "alice", "Alice", PASSWORD)
        await accounts.create_patient(db, "p-01", "Patient One")
        await accounts.audit(db, "alice", "view_patient", patient_id="p-01")
        # a login failure in main's table, which version 6 replaces
        await db.execute("INSERT INTO login_failures (key, at_unix_s) VALUES ('u:alice', ?)", (time.time(),))
    finally:
        await db.close()

    monkeypatch.setattr(monitor_db, "MIGRATIONS_DIR", MIGRATIONS_DIR)
    db = await open_database(db_url)
    try:
        assert list(db.applied) == list(LATE_RANGE)  # the range it never saw, in order, after 10 and 11
        assert await db.migrate() == max(_all_versions(db.dialect))
        assert not db.applied  # nothing runs twice
        upgraded = await _schema(db)
    finally:
        await db.close()

    monkeypatch.setattr(monitor_db, "MIGRATIONS_DIR", MIGRATIONS_DIR)
    sqlite_url = db_url.replace("m.sqlite3", "fresh.sqlite3") if db_url.startswith("sqlite") else None
    fresh_db = nullcontext(sqlite_url) if sqlite_url else fresh_postgres_database("coach_migrations_fresh")
    with fresh_db as url:
        fresh = await open_database(url)
        try:
            assert await _schema(fresh) == upgraded  # the same tables, columns, indexes and triggers
        finally:
            await fresh.close()

    db = await open_database(db_url)
    try:  # and it works: delivery numbers, the quarantine, login attempts, the audit chain
        event = {"type": "state", "t": 0.0, "id": "state-1", "state": "active", "seq": 1,
                 "wall_utc": "2026-11-24T09:30:00.000Z"}  # fmt: skip
        record = parse_message("coach/v1/p-01/s-1/events", json.dumps(event).encode())
        bad = Quarantined("coach/v1/p-01/status", "state: not a name", b'{"state": 1}', time.time())
        result = await store_batch(db, [Received(record, time.time())], quarantined=[bad])
        assert result.stored_seqs == {("p-01", "s-1"): [1]} and result.quarantined == 1
        row = await db.fetchone("SELECT delivery_seq FROM events WHERE event_id = 'state-1'")
        assert row == {"delivery_seq": 1}
        assert await db.fetchone("SELECT patient_id FROM quarantine") == {"patient_id": "p-01"}
        limiter = LoginLimiter()
        attempt, wait_s = await limiter.begin(db, "alice", "10.0.0.1")
        assert attempt is not None and wait_s == 0.0
        await limiter.finish(db, attempt, ok=False, username="alice", remote="10.0.0.1")
        n = await db.fetchone("SELECT COUNT(*) AS n FROM login_attempts WHERE outcome = 'failed'")
        assert n == {"n": 2}  # the pair's count and the address's
        assert (await audit_chain.verify(db)).ok
    finally:
        await db.close()
