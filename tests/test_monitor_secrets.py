"""Enrolment secrets at rest: encrypted with a key outside the database (file or environment), checked
on every instance, and plain-text rows of older schemas migrated (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coach.errors import ConfigError
from coach.monitor import accounts
from coach.monitor.db import MIGRATIONS_DIR, Database, open_database
from coach.monitor.secret_box import KEY_ENV, KEY_FILE_NAME, load_key
from tests.fixtures.monitor_services import fresh_postgres_database


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data = tmp_path / "coach-data"
    monkeypatch.setenv("COACH_DATA_DIR", str(data))
    monkeypatch.delenv(KEY_ENV, raising=False)
    return data


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/monitor.sqlite3"
    else:
        with fresh_postgres_database() as url:
            yield url


def _dump(db_url: str) -> bytes:
    """What a database dump holds: the SQLite file (and its WAL), or pg_dump's output."""
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    done = subprocess.run(["pg_dump", "--data-only", db_url], capture_output=True, check=True, timeout=60)
    return done.stdout


async def test_secrets_are_encrypted_with_a_key_file_made_on_first_run(
    db_url: str, _private_data_dir: Path
) -> None:
    db = await open_database(db_url)
    try:
        secret = await accounts.create_patient(db, "p-0042", "Anna Keller")
        key_file = _private_data_dir / KEY_FILE_NAME
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        row = await db.fetchone("SELECT enrolment_secret FROM patients WHERE patient_id = 'p-0042'")
        assert row is not None and row["enrolment_secret"].startswith("v1:")
        assert secret not in row["enrolment_secret"]
        assert await accounts.enrolment_secret(db, "p-0042") == secret
        rotated = await accounts.rotate_enrolment_secret(db, "p-0042")
        assert await accounts.enrolment_secret(db, "p-0042") == rotated
        # A ciphertext moved to another patient's row does not open (the patient id is bound to it).
        await accounts.create_patient(db, "p-0043", "Ben Osei")
        await db.execute(
            "UPDATE patients SET enrolment_secret = (SELECT enrolment_secret FROM patients"
            " WHERE patient_id = 'p-0042') WHERE patient_id = 'p-0043'"
        )
        with pytest.raises(ConfigError, match="does not open"):
            await accounts.enrolment_secret(db, "p-0043")
    finally:
        await db.close()
    dump = _dump(db_url)
    assert secret.encode() not in dump and rotated.encode() not in dump
    assert key_file.read_text().strip().encode() not in dump
    # The next start reads the same key file.
    db = await open_database(db_url)
    try:
        assert await accounts.enrolment_secret(db, "p-0042") == rotated
    finally:
        await db.close()


async def test_another_key_is_refused_and_no_new_key_is_made_for_a_keyed_database(
    db_url: str, _private_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await open_database(db_url)
    try:
        await accounts.create_patient(db, "p-1", "Someone")
    finally:
        await db.close()
    (_private_data_dir / KEY_FILE_NAME).unlink()  # an instance without the key file
    db = await open_database(db_url)
    try:
        with pytest.raises(ConfigError, match="does not have"):
            await accounts.enrolment_secret(db, "p-1")
        assert not (_private_data_dir / KEY_FILE_NAME).exists()
        other_key = os.urandom(32).hex()
        monkeypatch.setenv(KEY_ENV, other_key)  # an instance with another key
        with pytest.raises(ConfigError, match="not the one") as info:
            await accounts.enrolment_secret(db, "p-1")
        assert other_key not in str(info.value)  # the key itself is never in a message
    finally:
        await db.close()


def test_a_key_file_others_may_read_is_refused(_private_data_dir: Path) -> None:
    box = load_key(may_create=True)
    path = _private_data_dir / KEY_FILE_NAME
    assert box.source == str(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key(may_create=False)


async def _database_at_version_2(db_url: str) -> Database:
    """A database as schema version 2 left it, with plain-text enrolment secrets."""
    db = await open_database(db_url)  # migrated to the latest: roll the schema back to version 2
    async with db.transaction() as tx:
        await tx.script("DROP TABLE secret_key")
        # and what versions 5 and 6 did
        await tx.script("DROP INDEX events_by_delivery; ALTER TABLE events DROP COLUMN delivery_seq")
        await tx.script("DROP TABLE quarantine; DROP TABLE login_attempts")
        for table, column in (
            ("coach_sessions", "end_state"),
            ("coach_sessions", "end_reason"),
            ("commands", "session_id"),
            ("commands", "expires_at"),
        ):  # and version 7
            await tx.script(f"ALTER TABLE {table} DROP COLUMN {column}")
        await tx.script((MIGRATIONS_DIR / db.dialect / "0002_login_failures.sql").read_text())
        await tx.execute("DELETE FROM schema_version WHERE version > 2")
        await tx.execute(
            "INSERT INTO patients (patient_id, display_name, enrolment_secret, sessions_per_day,"
            " created_unix_s) VALUES (?, ?, ?, 1, ?), (?, ?, NULL, 1, ?)",
            ("p-old", "Old Patient", "ab" * 32, time.time(), "p-nosecret", "No Secret", time.time()),
        )
    assert await db.fetchone("SELECT MAX(version) AS v FROM schema_version") == {"v": 2}
    return db


async def test_plain_text_secrets_of_an_older_schema_are_encrypted_by_a_migration(db_url: str) -> None:
    db = await _database_at_version_2(db_url)
    await db.close()
    db = await open_database(db_url)
    try:
        assert db.applied[:2] == (3, 4)  # the key check table, then the data step
        assert await db.migrate() >= 4 and db.applied == ()  # nothing runs twice
        names = await db.fetchall("SELECT name FROM schema_version WHERE version = 4")
        assert names == [{"name": "0004_encrypt_enrolment_secrets"}]
        row = await db.fetchone("SELECT enrolment_secret FROM patients WHERE patient_id = 'p-old'")
        assert row is not None and row["enrolment_secret"].startswith("v1:")
        assert await accounts.enrolment_secret(db, "p-old") == "ab" * 32
        assert await accounts.enrolment_secret(db, "p-nosecret") is None
    finally:
        await db.close()
    assert ("ab" * 32).encode() not in _dump(db_url)  # no copy left in the file, its WAL or the dump
