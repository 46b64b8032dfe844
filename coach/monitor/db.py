"""Database connections for the monitor: SQLite (default) and PostgreSQL, behind one small async API.

Queries are written once with ``?`` placeholders in SQL that both engines accept
(``INSERT ... ON CONFLICT``, ``RETURNING``); the PostgreSQL adapter turns ``?`` into ``%s``. The few
functions that differ (``LEAST``/``min``) come from :attr:`Database.fn`. Each ``transaction()`` is
one unit of work: committed when the block ends, rolled back on an exception.

SQLite runs on one dedicated thread (its connection is not thread-safe, and one writer thread with
WAL is what SQLite does best); PostgreSQL uses psycopg 3's async connection pool.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit

from coach.errors import ConfigError
from coach.monitor.clinic.audit_chain import chain_existing_and_protect
from coach.monitor.secret_box import encrypt_plaintext_secrets

Row = dict[str, Any]
Params = Sequence[Any]
T = TypeVar("T")

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
#: SQLite: how long a statement waits for another connection's lock.
BUSY_TIMEOUT_MS: Final = 10_000
#: Schema versions done in Python (they need more than SQL), numbered with the SQL files.
DataStep = Callable[["Tx"], Awaitable[None]]


def data_migrations() -> dict[int, tuple[str, DataStep]]:
    return {
        4: ("0004_encrypt_enrolment_secrets", encrypt_plaintext_secrets),
        11: ("0011_audit_chain", chain_existing_and_protect),
    }


class Tx(ABC):
    """One open transaction."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the affected row count."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement for many rows. In a ``transaction(batch_writes=True)`` on SQLite it may
        run later, with the next statement that returns something or with the commit (its error, if
        any, then comes from there and rolls the transaction back all the same)."""

    @abstractmethod
    async def executemany_count(self, sql: str, rows: Sequence[Params]) -> int:
        """Run one statement for many rows now; returns how many rows it changed."""

    @abstractmethod
    async def script(self, sql: str) -> None:
        """Run several ``;``-separated statements without parameters (migrations)."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


class Database(ABC):
    """A connection (pool) to one monitor database."""

    dialect: str
    #: Dialect-specific SQL function names: ``least``, ``greatest``.
    fn: dict[str, str]
    #: The enrolment secrets' key, once loaded (``coach.monitor.secret_box.secret_box``).
    secret_box: Any = None
    #: Schema versions the last :meth:`migrate` applied.
    applied: tuple[int, ...] = ()

    @abstractmethod
    def transaction(self, *, batch_writes: bool = False) -> Any:  # an async context manager yielding Tx
        """One unit of work. ``batch_writes``: statements that return nothing may be sent together
        (SQLite: one call of its writer thread per batch instead of one per statement)."""

    @abstractmethod
    async def close(self) -> None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.transaction() as tx:
            rows: list[Row] = await tx.fetchall(sql, params)
            return rows

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            count: int = await tx.execute(sql, params)
            return count

    async def migrate(self) -> int:
        """Apply the versioned migrations this database has not seen yet, in ascending order; returns
        the schema version (the highest applied).

        "Not seen" is by number, not "above the highest": version ranges are reserved per feature and
        features merge in any order, so a database may have applied 10 and 11 before 5–7 existed; it
        still gets 5–7 (after 11; each step is written not to depend on a later one)."""
        steps: dict[int, tuple[str, str | DataStep]] = {
            int(path.name[:4]): (path.stem, path.read_text(encoding="utf-8"))
            for path in (MIGRATIONS_DIR / self.dialect).glob("[0-9][0-9][0-9][0-9]_*.sql")
        }
        for version, step in data_migrations().items():
            if version in steps:
                raise RuntimeError(f"migration {version} is both SQL and Python")
            steps[version] = step
        applied: list[int] = []
        async with self.transaction() as tx:
            await self._lock_for_migration(tx)
            await tx.script(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_unix_s DOUBLE PRECISION NOT NULL)"
            )
            done = {int(r["version"]) for r in await tx.fetchall("SELECT version FROM schema_version")}
            for version in sorted(steps):
                if version in done:
                    continue
                name, work = steps[version]
                if isinstance(work, str):
                    await tx.script(work)
                else:
                    await work(tx)
                await tx.execute(
                    "INSERT INTO schema_version (version, name, applied_unix_s) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
                done.add(version)
                applied.append(version)
        self.applied = tuple(applied)
        return max(done, default=0)

    async def _lock_for_migration(self, tx: Tx) -> None:
        """Serialise migrations of several monitor instances starting together (PostgreSQL only)."""
        del tx  # SQLite: BEGIN IMMEDIATE already serialises writers


# --- SQLite -------------------------------------------------------------------------------------


def private_file(path: Path) -> None:
    """Make ``path`` exist with mode 0600, creating missing folders with mode 0700 (health data).

    An existing folder keeps its mode (it may be shared, e.g. ``/tmp``); the default data folder is
    made 0700 by :func:`coach.paths.data_dir`.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    path.chmod(0o600)


class _SqliteTx(Tx):
    def __init__(self, db: SqliteDatabase, batch_writes: bool = False) -> None:
        self._db = db
        self._batch_writes = batch_writes
        #: Work for the writer thread not sent yet (``batch_writes``): sent with the next call.
        self._pending: list[Callable[[sqlite3.Connection], object]] = []
        #: Run on the event loop's own thread (``batch_writes`` once the write lock is held).
        self._inline = False

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run what is pending, then ``work``, in one call of the writer thread (or inline)."""
        if self._inline:
            conn = self._db._conn
            if conn is None:
                raise RuntimeError("database is closed")
            pending, self._pending = self._pending, []
            for step in pending:
                step(conn)
            return work(conn)
        if not self._pending:
            return await self._db._call(work)
        pending, self._pending = self._pending, []

        def all_of(conn: sqlite3.Connection) -> T:
            for step in pending:
                step(conn)
            return work(conn)

        return await self._db._call(all_of)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        def work(conn: sqlite3.Connection) -> list[Row]:
            cur = conn.execute(sql, tuple(params))
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        return await self._run(work)

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._run(lambda conn: conn.execute(sql, tuple(params)).rowcount)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        params = [tuple(r) for r in rows]
        if self._batch_writes:
            self._pending.append(lambda conn: conn.executemany(sql, params))
        else:
            await self._run(lambda conn: conn.executemany(sql, params))

    async def executemany_count(self, sql: str, rows: Sequence[Params]) -> int:
        params = [tuple(r) for r in rows]

        def work(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(sql, params)
            return conn.total_changes - before

        return await self._run(work)

    async def script(self, sql: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            # executescript() would commit the open transaction; run the statements one by one.
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)

        await self._run(work)

    async def commit(self) -> None:
        await self._run(lambda conn: conn.execute("COMMIT"))


class SqliteDatabase(Database):
    dialect = "sqlite"
    fn: dict[str, str] = {"least": "min", "greatest": "max"}  # noqa: RUF012 - read-only table

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-sqlite")
        self._lock = asyncio.Lock()
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            private_file(self.path)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            for suffix in ("-wal", "-shm"):  # SQLite makes them with the database's mode; make sure
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    side.chmod(0o600)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}").fetchall()
            return conn

        self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("database is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, conn)

    @asynccontextmanager
    async def transaction(self, *, batch_writes: bool = False) -> AsyncIterator[Tx]:
        async with self._lock:
            tx = _SqliteTx(self, batch_writes)
            if batch_writes and self._conn is not None and _begin_at_once(self._conn):
                tx._inline = True
            else:
                await self._call(lambda conn: conn.execute("BEGIN IMMEDIATE"))
            try:
                yield tx
                await tx.commit()
            except BaseException:
                if tx._inline and self._conn is not None:
                    _rollback(self._conn)
                else:
                    await self._call(_rollback)
                raise

    async def compact(self) -> None:
        """Rewrite the file (VACUUM) and empty the WAL: what was deleted or overwritten is gone."""
        async with self._lock:
            await self._call(lambda conn: conn.execute("VACUUM"))
            await self._call(lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)


def _begin_at_once(conn: sqlite3.Connection) -> bool:
    """Take the write lock without waiting; ``False`` when another connection holds it.

    A ``batch_writes`` transaction (ingest's batch, a few milliseconds of SQLite work) then runs on
    the event loop's thread. In the writer thread it gave the GIL back at every row and waited up to
    the interpreter's switch interval (5 ms) to get it again while the loop was busy reading
    messages: a 500-row batch took seconds exactly when the monitor was busiest. Only waiting for
    another process's lock (busy_timeout) still happens in the writer thread."""
    conn.execute("PRAGMA busy_timeout=0").fetchall()  # (a PRAGMA answers a row: read it to end it)
    try:
        conn.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}").fetchall()


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:  # a failed COMMIT, or a batch that never began, may have left none
        conn.execute("ROLLBACK")


# --- PostgreSQL ---------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    if "%" in sql:
        raise ValueError("write SQL without '%' (psycopg reads it as a placeholder)")
    return sql.replace("?", "%s")


class _PgTx(Tx):
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self._conn.execute(_pg_sql(sql), tuple(params))
        if cur.description is None:
            return []
        rows: list[Row] = await cur.fetchall()
        return rows

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._conn.execute(_pg_sql(sql), tuple(params))
        return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        async with self._conn.cursor() as cur:
            await cur.executemany(_pg_sql(sql), [tuple(r) for r in rows])

    async def executemany_count(self, sql: str, rows: Sequence[Params]) -> int:
        async with self._conn.cursor() as cur:
            await cur.executemany(_pg_sql(sql), [tuple(r) for r in rows])
            return int(cur.rowcount)

    async def script(self, sql: str) -> None:
        await self._conn.execute(sql)


class PostgresDatabase(Database):
    dialect = "postgresql"
    fn: dict[str, str] = {"least": "LEAST", "greatest": "GREATEST"}  # noqa: RUF012 - read-only table

    def __init__(self, conninfo: str, max_size: int = 8) -> None:
        self._conninfo = conninfo
        self._max_size = max_size
        self._pool: Any = None

    async def open(self) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        self._pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._max_size,
            kwargs={"row_factory": dict_row, "autocommit": False},
            open=False,
        )
        await self._pool.open(wait=True, timeout=15.0)

    @asynccontextmanager
    async def transaction(self, *, batch_writes: bool = False) -> AsyncIterator[Tx]:
        del batch_writes  # one round trip per statement either way (psycopg pipelines none here)
        if self._pool is None:
            raise RuntimeError("database is closed")
        async with self._pool.connection() as conn:  # commits on success, rolls back on error
            yield _PgTx(conn)

    async def _lock_for_migration(self, tx: Tx) -> None:
        await tx.fetchall("SELECT pg_advisory_xact_lock(4242001)")

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close(timeout=5.0)


def describe_url(url: str) -> str:
    """The URL without any password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


async def open_database(url: str) -> Database:
    """Open (and migrate) the database at ``sqlite:///path`` or ``postgresql://...``."""
    parts = urlsplit(url)
    db: Database
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path or path == "/":
            raise ConfigError(
                f"database URL {url!r}: use sqlite:///relative/path or sqlite:////absolute/path"
            )
        sqlite_db = SqliteDatabase(Path(path[1:]))
        await sqlite_db.open()
        db = sqlite_db
    elif parts.scheme in ("postgresql", "postgres"):
        pg_db = PostgresDatabase(url)
        try:
            await pg_db.open()
        except Exception as exc:
            await pg_db.close()
            raise ConfigError(f"cannot connect to {describe_url(url)}: {exc}") from None
        db = pg_db
    else:
        raise ConfigError(f"database URL {url!r}: scheme must be sqlite or postgresql")
    try:
        await db.migrate()
        if isinstance(db, SqliteDatabase) and 4 in db.applied:
            await db.compact()  # no plain-text secret left in free pages or the WAL
    except Exception:
        await db.close()
        raise
    return db
