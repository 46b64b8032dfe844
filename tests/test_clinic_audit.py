"""The hash-chained audit log: appends chain, the database refuses edits, tampering is found (SQLite and
PostgreSQL), the chain survives a purge past the retention, and ``coach monitor audit verify`` says so."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from coach.monitor import accounts
from coach.monitor.clinic import audit_chain
from coach.monitor.db import Database, open_database
from tests.fixtures.monitor_services import fresh_postgres_database


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_database("coach_clinic_audit") as url:  # a fresh one: tests drop triggers
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    else:
        url = request.getfixturevalue("pg_url")
    database = await open_database(url)
    try:
        yield database
    finally:
        await database.close()


async def _fill(db: Database, n: int) -> None:
    for i in range(n):
        await accounts.audit(
            db, "alice", "view_patient", patient_id="p-anna", detail=f"view {i}", remote="::1"
        )


async def test_entries_chain_and_verify(db: Database) -> None:
    await _fill(db, 5)
    rows = await db.fetchall("SELECT prev_sha256, entry_sha256 FROM audit_log ORDER BY id")
    assert rows[0]["prev_sha256"] == audit_chain.GENESIS
    assert all(rows[i]["prev_sha256"] == rows[i - 1]["entry_sha256"] for i in range(1, 5))
    result = await audit_chain.verify(db)
    assert result.ok and result.entries == 5 and result.head_sha256 == rows[-1]["entry_sha256"]


async def test_the_database_refuses_changes_and_early_deletion(db: Database) -> None:
    await _fill(db, 2)
    with pytest.raises(Exception, match="append-only"):
        await db.execute("UPDATE audit_log SET detail = 'nothing to see'")
    with pytest.raises(Exception, match="retention"):
        await db.execute("DELETE FROM audit_log")
    assert (await audit_chain.verify(db)).entries == 2


async def _drop_guard(db: Database) -> None:
    """What an attacker with the database owner's rights does first."""
    async with db.transaction() as tx:
        if db.dialect == "sqlite":
            await tx.execute("DROP TRIGGER audit_log_no_update")
            await tx.execute("DROP TRIGGER audit_log_keep")
        else:
            await tx.execute("DROP TRIGGER audit_log_guard ON audit_log")


@pytest.mark.parametrize("tamper", ["change", "delete", "insert"])
async def test_tampering_is_detected(db: Database, tamper: str) -> None:
    await _fill(db, 6)
    ids = [int(r["id"]) for r in await db.fetchall("SELECT id FROM audit_log ORDER BY id")]
    await _drop_guard(db)
    if tamper == "change":
        await db.execute("UPDATE audit_log SET detail = 'edited' WHERE id = ?", (ids[3],))
        expected_bad = ids[3]
    elif tamper == "delete":
        await db.execute("DELETE FROM audit_log WHERE id = ?", (ids[2],))
        expected_bad = ids[3]
    else:  # a forged entry with a made-up hash, appended where the chain expects the real head
        await db.execute(
            "INSERT INTO audit_log (at_unix_s, actor, action, patient_id, detail, remote, prev_sha256,"
            " entry_sha256) VALUES (?, 'mallory', 'login', NULL, NULL, NULL, ?, ?)",
            (time.time(), "f" * 64, "e" * 64),
        )
        expected_bad = max(ids) + 1
    result = await audit_chain.verify(db)
    assert not result.ok
    assert result.bad_id == expected_bad
    assert result.problem


async def test_purge_keeps_the_chain_verifiable(db: Database) -> None:
    long_ago = time.time() - 7 * 365 * 86400.0
    for i in range(3):
        await audit_chain.append(db, "alice", "login", detail=f"old {i}", at_unix_s=long_ago + i)
    await _fill(db, 2)
    removed = await audit_chain.purge_expired(db, "cli:test")
    assert removed == 3
    result = await audit_chain.verify(db)
    assert result.ok and result.entries == 3  # the two young entries and the purge's own entry
    actions = [r["action"] for r in await db.fetchall("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-1] == "audit_purged"


def test_cli_verify_reports_a_broken_chain(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/m.sqlite3"
    env = {"COACH_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "coach", "monitor", "--db", db_url, "audit", "verify"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "coach",
            "monitor",
            "--db",
            db_url,
            "add-therapist",
            "alice",
            "--name",
            "Alice",
            "--password-stdin",
        ],
        input="correct-horse-battery\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    subprocess.run(
        [sys.executable, "-m", "coach", "monitor", "--db", db_url, "rtm-start", "p-x", "2026-01-05"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    ok = verify()
    assert ok.returncode == 0 and "intact: 1 entries" in ok.stdout, ok.stdout + ok.stderr
    conn = sqlite3.connect(tmp_path / "m.sqlite3")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor = 'mallory'")
    conn.commit()
    conn.close()
    broken = verify()
    assert broken.returncode == 1 and "BROKEN at entry #1" in broken.stdout
