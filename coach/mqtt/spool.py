"""On-disk outbox of MQTT messages: written before sending, removed only after the broker's PUBACK.

SQLite in WAL mode, one row per message, ordered by an autoincrement sequence number, so a network
gap, a broker restart or the coach being killed loses nothing and the backlog goes out in order on
the next connection. ``synchronous=NORMAL`` (the default here) survives the process being killed
at any instant; only a power cut can lose the last commits (``sync="full"`` fsyncs every append and
survives that too, at about a millisecond per message).

A message acknowledged by the broker whose deletion did not reach the disk before a crash is sent
again: delivery is at-least-once, and subscribers deduplicate by the event ``id`` (DESIGN.md §7).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
)
"""
_INSERT = "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class SpoolRow:
    """One spooled message; ``seq`` grows with every append and orders delivery."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Spool:
    """The outbox. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(self, path: str | Path, *, sync: Literal["normal", "full"] = "normal") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.path.chmod(0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={sync.upper()}")
        self._db.execute(_SCHEMA)

    def append(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Store one message durably (committed before return); return its sequence number."""
        cur = self._db.execute(
            _INSERT,
            (topic, payload, qos, int(retain)),
        )
        seq = cur.lastrowid
        assert seq is not None
        return seq

    def append_many(self, rows: Iterable[tuple[str, bytes, int, bool]]) -> int:
        """Store several messages in one transaction; return how many."""
        batch = [(t, p, q, int(r)) for t, p, q, r in rows]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)", batch
            )
        return len(batch)

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[SpoolRow]:
        """Up to ``limit`` messages with ``seq > after_seq``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, topic, payload, qos, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [SpoolRow(int(s), str(t), bytes(p), int(q), bool(r)) for s, t, p, q, r in rows]

    def ack(self, seqs: Sequence[int]) -> None:
        """Remove messages the broker acknowledged (one transaction)."""
        if not seqs:
            return
        with self._transaction():
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def __len__(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(n)

    def close(self) -> None:
        self._db.close()

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
