"""Writing what arrives over MQTT: events, summaries, statuses and command results, idempotently.

An event is keyed by (patient, session, event id): storing it twice (a QoS 1 redelivery, the retained
summary after the summary event, a coach replaying its spool, two monitor instances) keeps one row.
Statuses keep the latest received per patient (the retained status the broker hands over on a
reconnect is the newest one; the last will ``{"state": "offline"}`` carries no time of its own).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from coach.events import to_json
from coach.monitor.db import Database, Tx
from coach.monitor.messages import CmdResultRecord, EventRecord, Record, StatusRecord, parse_wall_utc
from coach.monitor.quarantine import MAX_KEPT_BYTES, printable, topic_patient

#: A session's ``last_received_unix_s`` is refreshed at most this often (unless a start or summary
#: arrives): rewriting every live session's row in every batch made concurrent instances wait on
#: each other's row locks.
SESSION_TOUCH_S: Final = 5.0


class SessionCache:
    """Which session rows this instance wrote lately, and when (see :data:`SESSION_TOUCH_S`)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.touched: dict[tuple[str, str], float] = {}
        self.max_entries = max_entries

    def needs_write(self, key: tuple[str, str], now: float, news: bool) -> bool:
        last = self.touched.get(key)
        return news or last is None or now - last >= SESSION_TOUCH_S

    def wrote(self, keys: Sequence[tuple[str, str]], now: float) -> None:
        if len(self.touched) > self.max_entries:
            self.touched.clear()
        for key in keys:
            self.touched[key] = now


@dataclass(frozen=True, slots=True)
class Received:
    """A validated record with the wall-clock time its message arrived."""

    record: Record
    received_unix_s: float


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A message that failed validation or storage (see :mod:`coach.monitor.quarantine`)."""

    topic: str
    reason: str
    payload: bytes
    received_unix_s: float


@dataclass(frozen=True, slots=True)
class StoreResult:
    events_new: int
    events_duplicate: int
    statuses: int
    cmd_results: int
    #: Delivery numbers now stored, per (patient, session) (new or already there).
    stored_seqs: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: Sessions whose summary is in this batch (their receipts go out at once).
    summaries: frozenset[tuple[str, str]] = frozenset()
    quarantined: int = 0


def _event_row(item: Received, stored_unix_s: float) -> tuple[Any, ...]:
    assert isinstance(item.record, EventRecord)
    ev = item.record.event
    elevated = ev.get("elevated") if ev["type"] == "posture" else None
    return (
        item.record.patient_id,
        item.record.session_id,
        ev["id"],
        ev["type"],
        float(ev["t"]),
        None if elevated is None else int(bool(elevated)),
        ev.get("direction") if ev["type"] == "stroke" else None,
        item.record.text or to_json(ev),
        item.received_unix_s,
        stored_unix_s,
        item.record.seq,
    )


_EVENT_COLUMNS: Final = (
    "patient_id, session_id, event_id, type, t_s, elevated, direction, payload,"
    " received_unix_s, stored_unix_s, delivery_seq"
)
#: PostgreSQL: one fixed statement over column arrays. The same text every batch is parsed once and
#: prepared by psycopg, where a multi-row VALUES list of varying length was converted and parsed anew
#: each time (psycopg does not cache long queries: ~10 % of the monitor's CPU under load).
_PG_INSERT_EVENTS: Final = (
    f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT * FROM unnest(?::text[], ?::text[], ?::text[],"
    " ?::text[], ?::float8[], ?::int[], ?::text[], ?::text[], ?::float8[], ?::float8[], ?::int8[])"
    " ON CONFLICT (patient_id, session_id, event_id) DO NOTHING RETURNING patient_id, session_id, event_id"
)


_SQLITE_INSERT_EVENTS: Final = (
    f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (patient_id, session_id, event_id) DO NOTHING"
)


async def _insert_events(tx: Tx, rows: list[tuple[Any, ...]], dialect: str) -> int:
    """Insert event rows, skipping ones already stored; returns how many were new.

    SQLite: one prepared single-row statement run for every row (``executemany``), about a fifth
    cheaper than multi-row ``VALUES`` lists, whose text changed with every batch size and was parsed
    anew each time."""
    if dialect == "postgresql":
        got = await tx.fetchall(_PG_INSERT_EVENTS, [list(column) for column in zip(*rows, strict=True)])
        return len(got)
    return await tx.executemany_count(_SQLITE_INSERT_EVENTS, rows)


async def store_batch(
    db: Database,
    batch: Sequence[Received],
    cache: SessionCache | None = None,
    quarantined: Sequence[Quarantined] = (),
) -> StoreResult:
    """Store one batch of validated records (and the quarantined messages) in one transaction.

    Rows are written in key order, so that two instances writing at once lock rows in the same order
    (no deadlock, only a short wait).
    """
    stored_unix_s = time.time()
    event_rows: list[tuple[Any, ...]] = []
    seen_keys: set[tuple[str, str, str]] = set()
    sessions: dict[tuple[str, str], dict[str, Any]] = {}
    statuses: dict[str, Received] = {}
    results: list[Received] = []
    stored_seqs: dict[tuple[str, str], list[int]] = {}
    summary_seqs: dict[tuple[str, str, str], int] = {}
    for item in batch:
        rec = item.record
        if isinstance(rec, EventRecord):
            key = (rec.patient_id, rec.session_id, rec.event["id"])
            if rec.seq is not None:
                stored_seqs.setdefault((rec.patient_id, rec.session_id), []).append(rec.seq)
                if rec.event["type"] == "summary":
                    summary_seqs[key] = rec.seq
            if key not in seen_keys:  # one statement may not insert the same key twice (PostgreSQL)
                seen_keys.add(key)
                event_rows.append(_event_row(item, stored_unix_s))
            sess = sessions.setdefault(
                (rec.patient_id, rec.session_id),
                {"first": item.received_unix_s, "last": item.received_unix_s, "start": None, "summary": None,
                 "end": None, "reason": None, "summary_start": None},
            )  # fmt: skip
            sess["first"] = min(sess["first"], item.received_unix_s)
            sess["last"] = max(sess["last"], item.received_unix_s)
            if rec.event["type"] == "state":
                wall = parse_wall_utc(rec.event.get("wall_utc"))
                if wall is not None:
                    sess["start"] = wall if sess["start"] is None else min(sess["start"], wall)
                if rec.event["state"] in ("finished", "aborted"):
                    sess["end"], sess["reason"] = rec.event["state"], rec.event.get("reason")
            elif rec.event["type"] == "summary":
                sess["summary"] = rec.text or to_json(rec.event)
                wall = parse_wall_utc(rec.event.get("wall_utc"))
                if wall is not None:  # the session's own start, when no state event says it
                    sess["summary_start"] = wall - float(rec.event["duration_s"])
        elif isinstance(rec, StatusRecord):
            statuses[rec.patient_id] = item  # arrival order: the later one wins
        elif isinstance(rec, CmdResultRecord):
            results.append(item)

    least, greatest = db.fn["least"], db.fn["greatest"]
    now = time.time()
    session_keys = sorted(
        key
        for key, v in sessions.items()
        if cache is None
        or cache.needs_write(key, now, any(v[k] is not None for k in ("start", "summary", "end")))
    )
    event_rows.sort(key=lambda row: (row[0], row[1], row[2]))
    # One call of SQLite's writer thread for the inserts, one for the rest and the commit.
    async with db.transaction(batch_writes=True) as tx:
        inserted = await _insert_events(tx, event_rows, db.dialect) if event_rows else 0
        # A summary may have come first as the retained copy without a delivery number: the copy on
        # the events topic, a duplicate by its id (or stored just before it in this batch), gives it one.
        if summary_seqs:
            await tx.executemany(
                "UPDATE events SET delivery_seq = ? WHERE patient_id = ? AND session_id = ?"
                " AND event_id = ? AND delivery_seq IS NULL",
                [(summary_seqs[k], *k) for k in sorted(summary_seqs)],
            )
        if quarantined:
            await tx.executemany(
                "INSERT INTO quarantine (received_unix_s, topic, reason, payload, payload_bytes, patient_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (q.received_unix_s, printable(q.topic, 512), printable(q.reason, 2000),
                     q.payload[:MAX_KEPT_BYTES], len(q.payload), topic_patient(q.topic))
                    for q in quarantined
                ],
            )  # fmt: skip
        if session_keys:
            await tx.executemany(
                "INSERT INTO coach_sessions (patient_id, session_id, first_received_unix_s,"
                " last_received_unix_s, start_unix_s, summary, end_state, end_reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (patient_id, session_id) DO UPDATE SET"
                f" first_received_unix_s = {least}(coach_sessions.first_received_unix_s,"
                " excluded.first_received_unix_s),"
                f" last_received_unix_s = {greatest}(coach_sessions.last_received_unix_s,"
                " excluded.last_received_unix_s),"
                " start_unix_s = COALESCE("
                f"{least}(coach_sessions.start_unix_s, excluded.start_unix_s),"
                " coach_sessions.start_unix_s, excluded.start_unix_s),"
                " summary = COALESCE(excluded.summary, coach_sessions.summary),"
                " end_state = COALESCE(excluded.end_state, coach_sessions.end_state),"
                " end_reason = COALESCE(excluded.end_reason, coach_sessions.end_reason)",
                [_session_row(key, sessions[key]) for key in session_keys],
            )
        if statuses:
            await tx.executemany(
                "INSERT INTO statuses (patient_id, state, session_id, payload, status_unix_s,"
                " received_unix_s) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (patient_id) DO UPDATE SET state = excluded.state,"
                " session_id = COALESCE(excluded.session_id, statuses.session_id),"
                " payload = excluded.payload, status_unix_s = excluded.status_unix_s,"
                " received_unix_s = excluded.received_unix_s"
                " WHERE excluded.received_unix_s >= statuses.received_unix_s",
                [_status_row(statuses[patient]) for patient in sorted(statuses)],
            )
        if results:
            await tx.executemany(
                "INSERT INTO cmd_results (cmd_id, patient_id, ok, reason, received_unix_s)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (cmd_id) DO NOTHING",
                [_result_row(item) for item in sorted(results, key=lambda i: _result_row(i)[0])],
            )
    if cache is not None:
        cache.wrote(session_keys, now)
    return StoreResult(
        events_new=inserted,
        events_duplicate=sum(isinstance(i.record, EventRecord) for i in batch) - inserted,
        statuses=len(statuses),
        cmd_results=len(results),
        stored_seqs=stored_seqs,
        summaries=frozenset(k for k, v in sessions.items() if v["summary"] is not None),
        quarantined=len(quarantined),
    )


def _session_row(key: tuple[str, str], v: dict[str, Any]) -> tuple[Any, ...]:
    start = v["start"] if v["start"] is not None else v["summary_start"]
    return (*key, v["first"], v["last"], start, v["summary"], v["end"], v["reason"])


def _status_time(item: Received) -> float:
    assert isinstance(item.record, StatusRecord)
    return item.record.status_unix_s if item.record.status_unix_s is not None else item.received_unix_s


def _status_row(item: Received) -> tuple[Any, ...]:
    rec = item.record
    assert isinstance(rec, StatusRecord)
    return (
        rec.patient_id,
        rec.status["state"],
        rec.status.get("session"),
        json.dumps(rec.status, separators=(",", ":")),
        _status_time(item),
        item.received_unix_s,
    )


def _result_row(item: Received) -> tuple[Any, ...]:
    rec = item.record
    assert isinstance(rec, CmdResultRecord)
    return (rec.cmd_id, rec.patient_id, int(rec.ok), rec.reason, item.received_unix_s)
