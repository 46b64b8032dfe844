"""On-disk outbox of MQTT messages: kept until the broker acknowledged them, and session events until a
monitor confirmed storing them.

SQLite in WAL mode, one row per message, ordered by an autoincrement sequence number (``seq``), so a
network gap, a broker restart or the coach being killed loses nothing and the backlog goes out in
order on the next connection. ``synchronous=NORMAL`` (the default here) survives the process being
killed at any instant; only a power cut can lose the last commits (``sync="full"`` fsyncs every
append and survives that too, at about a millisecond per message).

Two kinds of rows:

- **session events** (:meth:`Spool.append_event`, the ``.../<s>/events`` topic): each gets the next
  number of its session's delivery sequence (``sseq``, 1, 2, 3, ... with no holes, assigned in the
  same transaction as the row), written into the payload as ``"seq"``. The broker's PUBACK only marks
  such a row *sent*; it leaves the spool when a monitor confirms it stored it (:meth:`Spool.confirm`,
  from the monitor's retained ``coach/v1/<p>/stored``), and goes out again when it is not confirmed
  (:meth:`Spool.requeue`). A broker that loses what it acknowledged therefore loses nothing for good.
- **everything else** (the retained summary copy, ``cmd_result``): deleted at the broker's PUBACK.

The spool is bounded (:meth:`Spool.prune`): rows sent but never confirmed are dropped after
``keep_s`` (30 days), and when the payloads exceed ``max_bytes`` (256 MiB) the oldest rows go first
(sent ones before unsent ones), each drop counted and logged. The session's own events file keeps
every event regardless (``coach.session.recorder``).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from coach.events import encode, from_json

log = logging.getLogger("coach.mqtt.spool")

#: Defaults of the disk bound (see the module docstring).
MAX_BYTES = 256 * 1024 * 1024
KEEP_S = 30 * 86400.0
#: How many appends between two automatic :meth:`Spool.prune` calls.
PRUNE_EVERY = 2000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS streams (
    patient TEXT NOT NULL,
    session TEXT NOT NULL,
    next_sseq INTEGER NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (patient, session)
)""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
#: Columns added to ``outbox`` by this version (older spool files get them on open).
_OUTBOX_ADDED = {
    "patient": "TEXT",
    "session": "TEXT",
    "sseq": "INTEGER",
    "sent_unix_s": "REAL",
    "appended_unix_s": "REAL",
}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_unix_s IS NULL",
    "CREATE INDEX IF NOT EXISTS outbox_stream ON outbox (patient, session, sseq) WHERE sseq IS NOT NULL",
)


@dataclass(frozen=True, slots=True)
class SpoolRow:
    """One spooled message; ``seq`` grows with every append and orders delivery. ``sseq`` is the
    session delivery number of an event row (``None`` for other rows)."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    sseq: int | None = None


@dataclass(frozen=True, slots=True)
class WaitingStream:
    """A session with events the broker acknowledged and no monitor confirmed yet."""

    patient: str
    session: str
    rows: int
    oldest_sent_unix_s: float
    confirmed: int


def with_seq(payload: bytes, sseq: int) -> bytes:
    """The event with ``"seq": sseq`` set, in the one event encoding (:func:`coach.events.encode`): on
    MQTT an event is its events-file line plus ``seq``."""
    obj = from_json(payload)
    obj["seq"] = sseq
    return encode(obj)


class Spool:
    """The outbox. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(
        self,
        path: str | Path,
        *,
        sync: Literal["normal", "full"] = "normal",
        max_bytes: int = MAX_BYTES,
        keep_s: float = KEEP_S,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.path.chmod(0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={sync.upper()}")
        for statement in _SCHEMA:
            self._db.execute(statement)
        have = {str(r[1]) for r in self._db.execute("PRAGMA table_info(outbox)")}
        for column, kind in _OUTBOX_ADDED.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column} {kind}")
        for statement in _INDEXES:
            self._db.execute(statement)
        self.max_bytes = max_bytes
        self.keep_s = keep_s
        self._appends_since_prune = 0
        self.prune()

    # -- appending ----------------------------------------------------------------------------------
    def append(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Store one message durably (committed before return); return its sequence number. It leaves
        the spool at the broker's PUBACK."""
        cur = self._db.execute(
            "INSERT INTO outbox (topic, payload, qos, retain, appended_unix_s) VALUES (?, ?, ?, ?, ?)",
            (topic, payload, qos, int(retain), time.time()),
        )
        self._count_append()
        seq = cur.lastrowid
        assert seq is not None
        return seq

    def append_event(self, topic: str, patient: str, session: str, payload: bytes) -> tuple[int, int]:
        """Store one session event with the next number of its session's delivery sequence, written
        into the payload as ``"seq"`` (one transaction); returns ``(seq, sseq)``. The row stays until
        a monitor confirms it (:meth:`confirm`)."""
        with self._transaction():
            row = self._db.execute(
                "SELECT next_sseq FROM streams WHERE patient = ? AND session = ?", (patient, session)
            ).fetchone()
            sseq = 1 if row is None else int(row[0])
            cur = self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, retain, patient, session, sseq, appended_unix_s)"
                " VALUES (?, ?, 1, 0, ?, ?, ?, ?)",
                (topic, with_seq(payload, sseq), patient, session, sseq, time.time()),
            )
            self._db.execute(
                "INSERT INTO streams (patient, session, next_sseq) VALUES (?, ?, ?)"
                " ON CONFLICT (patient, session) DO UPDATE SET next_sseq = excluded.next_sseq",
                (patient, session, sseq + 1),
            )
        self._count_append()
        seq = cur.lastrowid
        assert seq is not None
        return seq, sseq

    def append_many(self, rows: Iterable[tuple[str, bytes, int, bool]]) -> int:
        """Store several messages in one transaction (deleted at PUBACK); return how many."""
        now = time.time()
        batch = [(t, p, q, int(r), now) for t, p, q, r in rows]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO outbox (topic, payload, qos, retain, appended_unix_s) VALUES (?, ?, ?, ?, ?)",
                batch,
            )
        return len(batch)

    def _count_append(self) -> None:
        self._appends_since_prune += 1
        if self._appends_since_prune >= PRUNE_EVERY:
            self.prune()

    # -- sending ------------------------------------------------------------------------------------
    def pending(self, after_seq: int = 0, limit: int = 100) -> list[SpoolRow]:
        """Up to ``limit`` messages the broker has not acknowledged, ``seq > after_seq``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, topic, payload, qos, retain, sseq FROM outbox"
            " WHERE sent_unix_s IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [
            SpoolRow(int(s), str(t), bytes(p), int(q), bool(r), None if n is None else int(n))
            for s, t, p, q, r, n in rows
        ]

    def ack(self, seqs: Sequence[int], now_unix_s: float | None = None) -> None:
        """The broker acknowledged these rows (one transaction): other rows leave the spool, session
        events are marked sent and stay until confirmed."""
        if not seqs:
            return
        now = time.time() if now_unix_s is None else now_unix_s
        with self._transaction():
            self._db.executemany("DELETE FROM outbox WHERE seq = ? AND sseq IS NULL", [(s,) for s in seqs])
            self._db.executemany(
                "UPDATE outbox SET sent_unix_s = ? WHERE seq = ? AND sseq IS NOT NULL",
                [(now, s) for s in seqs],
            )

    # -- confirmation and resending -----------------------------------------------------------------
    def confirm(
        self, patient: str, session: str, through: int, ranges: Sequence[tuple[int, int]] = ()
    ) -> int:
        """A monitor stored events ``1..through`` of the session, and those in ``ranges`` (inclusive
        pairs beyond ``through``): remove them. Returns how many rows left the spool."""
        with self._transaction():
            removed = self._db.execute(
                "DELETE FROM outbox WHERE patient = ? AND session = ? AND sseq IS NOT NULL AND sseq <= ?",
                (patient, session, through),
            ).rowcount
            for lo, hi in ranges:
                removed += self._db.execute(
                    "DELETE FROM outbox WHERE patient = ? AND session = ? AND sseq BETWEEN ? AND ?",
                    (patient, session, lo, hi),
                ).rowcount
            self._db.execute(
                "UPDATE streams SET confirmed = MAX(confirmed, ?) WHERE patient = ? AND session = ?",
                (through, patient, session),
            )
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('monitor_seen', '1')")
        return int(removed)

    @property
    def monitor_seen(self) -> bool:
        """Whether a monitor ever confirmed anything to this spool (only then is anything sent again)."""
        return self._meta("monitor_seen") == "1"

    def waiting(self) -> list[WaitingStream]:
        """Sessions whose events the broker acknowledged but no monitor confirmed."""
        rows = self._db.execute(
            "SELECT o.patient, o.session, COUNT(*), MIN(o.sent_unix_s), COALESCE(MAX(s.confirmed), 0)"
            " FROM outbox o LEFT JOIN streams s ON s.patient = o.patient AND s.session = o.session"
            " WHERE o.sseq IS NOT NULL AND o.sent_unix_s IS NOT NULL GROUP BY o.patient, o.session"
        ).fetchall()
        return [WaitingStream(str(p), str(s), int(n), float(t), int(c)) for p, s, n, t, c in rows]

    def requeue(
        self,
        patient: str | None = None,
        session: str | None = None,
        *,
        sent_before_unix_s: float | None = None,
        sseq_range: tuple[int, int] | None = None,
    ) -> int:
        """Mark sent, unconfirmed events as unsent again (all, or one session's; optionally only those
        sent before a time, or with delivery numbers in an inclusive range), so they go out again in
        order; returns how many."""
        sql = "UPDATE outbox SET sent_unix_s = NULL WHERE sseq IS NOT NULL AND sent_unix_s IS NOT NULL"
        params: list[Any] = []
        if patient is not None and session is not None:
            sql += " AND patient = ? AND session = ?"
            params += [patient, session]
        if sent_before_unix_s is not None:
            sql += " AND sent_unix_s <= ?"
            params.append(sent_before_unix_s)
        if sseq_range is not None:
            sql += " AND sseq BETWEEN ? AND ?"
            params += list(sseq_range)
        return int(self._db.execute(sql, params).rowcount)

    # -- counts -------------------------------------------------------------------------------------
    def unsent(self) -> int:
        """Rows the broker has not acknowledged yet."""
        (n,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE sent_unix_s IS NULL").fetchone()
        return int(n)

    def unconfirmed(self) -> int:
        """Session events no monitor confirmed yet (sent or not)."""
        (n,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE sseq IS NOT NULL").fetchone()
        return int(n)

    @property
    def dropped(self) -> int:
        """Rows :meth:`prune` removed unconfirmed (disk bound), over this spool's life."""
        return int(self._meta("dropped") or 0)

    def __len__(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(n)

    # -- the disk bound -----------------------------------------------------------------------------
    def prune(self, now_unix_s: float | None = None) -> int:
        """Apply the bound (module docstring); returns how many rows were dropped."""
        self._appends_since_prune = 0
        now = time.time() if now_unix_s is None else now_unix_s
        with self._transaction():
            dropped = int(
                self._db.execute(
                    "DELETE FROM outbox WHERE sent_unix_s IS NOT NULL AND sent_unix_s < ?",
                    (now - self.keep_s,),
                ).rowcount
            )
            (total,) = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
            excess = int(total) - self.max_bytes
            while excess > 0:
                rows = self._db.execute(
                    "SELECT seq, LENGTH(payload) FROM outbox ORDER BY (sent_unix_s IS NULL), seq LIMIT 1000"
                ).fetchall()
                if not rows:
                    break
                doomed = []
                for seq, size in rows:
                    doomed.append((seq,))
                    excess -= int(size)
                    if excess <= 0:
                        break
                self._db.executemany("DELETE FROM outbox WHERE seq = ?", doomed)
                dropped += len(doomed)
            if dropped:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('dropped', ?)",
                    (str(self.dropped + dropped),),
                )
        if dropped:
            log.warning(
                "spool %s: dropped %d message(s) no monitor confirmed (kept %.0f days, at most %d MiB); "
                "the session files still hold them",
                self.path,
                dropped,
                self.keep_s / 86400,
                self.max_bytes // (1024 * 1024),
            )
        return dropped

    def close(self) -> None:
        self._db.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _transaction(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
