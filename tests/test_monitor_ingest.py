"""Monitor ingest: payload validation, idempotent storage (SQLite and PostgreSQL), MQTT end to end."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from coach.events import to_json
from coach.monitor.db import MIGRATIONS_DIR, Database, data_migrations, open_database
from coach.monitor.ingest import Ingest
from coach.monitor.ingest_store import Received, store_batch
from coach.monitor.messages import (
    CmdResultRecord,
    EventRecord,
    Ignored,
    MessageError,
    StatusRecord,
    parse_message,
)
from coach.monitor.views import self_reports, session_detail
from coach.mqtt.broker_config import BrokerSettings
from tests.fixtures.event_feed import FeedPublisher, synthetic_session
from tests.fixtures.monitor_services import fresh_postgres_database
from tests.fixtures.mosquitto import MosquittoBroker


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The monitor's data folder (its secret key file) in the test's own folder, never the home."""
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)


@pytest.fixture(scope="module")
def monitor_pg_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def test_synthetic_stream_passes_the_contract_checker() -> None:
    for seed, hand in ((1, True), (2, False)):
        text = "\n".join(to_json(e) for e in synthetic_session(seed, hand=hand)) + "\n"
        args = [sys.executable, "-m", "coach", "check-events"] + (["--hand"] if hand else [])
        done = subprocess.run(args, input=text, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout


# --- validation ---------------------------------------------------------------------------------

GOOD_STROKE = {
    "type": "stroke",
    "t": 5.0,
    "id": "stroke-1",
    "t_start": 3.0,
    "t_end": 4.5,
    "direction": "proximal",
    "confidence": 0.9,
    "sensor": "treated",
}


def test_valid_messages_become_records() -> None:
    rec = parse_message("coach/v1/p-01/s-1/events", json.dumps(GOOD_STROKE).encode())
    assert isinstance(rec, EventRecord) and rec.patient_id == "p-01" and rec.session_id == "s-1"
    status = {
        "state": "active",
        "session": "s-1",
        "wall_utc": "2026-11-24T09:30:00Z",
        "sensors": {"treated": {"link": "up", "battery_pct": 80, "device": "witmotion-bwt901"}},
    }
    srec = parse_message("coach/v1/p-01/status", json.dumps(status).encode())
    assert isinstance(srec, StatusRecord) and srec.status_unix_s is not None
    assert isinstance(parse_message("coach/v1/p-01/status", b'{"state": "offline"}'), StatusRecord)
    crec = parse_message("coach/v1/p-01/cmd_result", b'{"cmd_id": "c1", "ok": false, "reason": "bad sig"}')
    assert isinstance(crec, CmdResultRecord) and not crec.ok and crec.reason == "bad sig"
    assert isinstance(parse_message("coach/v1/p-01/targets", b"{}"), Ignored)
    unknown_type = {"type": "heartbeat", "t": 1.0, "id": "heartbeat-1"}
    assert isinstance(
        parse_message("coach/v1/p-01/s-1/events", json.dumps(unknown_type).encode()), EventRecord
    )


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("coach/v1/p-01/s-1/events", b"{not json", "not a strict JSON object"),
        ("coach/v1/p-01/s-1/events", b'{"type":"posture","t":NaN,"id":"x"}', "not a strict JSON object"),
        ("coach/v1/p-01/s-1/events", b"\xff\xfe", "not UTF-8"),
        ("coach/v1/p-01/s-1/events", b"[1,2]", "not a strict JSON object"),
        (
            "coach/v1/p-01/s-1/events",
            b'{"type":"stroke","t":1,"id":"a","t_start":2,"t_end":1,"direction":"proximal","confidence":0.5}',
            "t_start <= t_end",
        ),
        (
            "coach/v1/p-01/s-1/events",
            b'{"type":"stroke","t":1,"id":"a","t_start":0,"t_end":1,"direction":"sideways","confidence":0.5}',
            "direction",
        ),
        ("coach/v1/p-01/s-1/events", b'{"type":"posture","t":1,"id":"p"}', "lacks 'elevated'"),
        ("coach/v1/p-01/s-1/events", b'{"type":"state","t":1,"id":"s","state":"dancing"}', "not in"),
        ("coach/v1/p-01/s-1/events", b'{"type":"cadence","t":1}', "cadence id: must be"),
        ("coach/v1/p-01/s-1/summary", json.dumps(GOOD_STROKE).encode(), "summary topic"),
        ("coach/v1/p 01/s-1/events", json.dumps(GOOD_STROKE).encode(), "pseudonymous id"),
        ("coach/v1/p-01/status", b'{"state":"active","sensors":{"treated":{"link":"maybe"}}}', "link"),
        ("coach/v1/p-01/status", b'{"state":3}', "short string"),
        (
            "coach/v1/p-01/status",
            b'{"state":"active","sensors":{"treated":{"link":"up","device":["x"]}}}',
            "device must be a device profile name",
        ),
        ("coach/v1/p-01/cmd_result", b'{"ok": true}', "cmd_id"),
        ("coach/v1/p-01/s-1/other", b"{}", "unknown topic"),
        ("other/p-01", b"{}", "not a coach/v1"),
        ("coach/v1/p-01/s-1/events", b"{" + b" " * 70000 + b"}", "over"),
    ],
)
def test_malformed_messages_name_topic_and_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_message(topic, payload)
    assert info.value.topic == topic
    assert reason in info.value.reason


# --- storage on both engines --------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = await open_database(f"sqlite:///{tmp_path}/monitor.sqlite3")
    else:
        url = request.getfixturevalue("monitor_pg_url")
        database = await open_database(url)
        async with database.transaction() as tx:
            await tx.script(
                "TRUNCATE events, coach_sessions, statuses, cmd_results, commands, targets, audit_log,"
                " web_sessions, assignments, patients, therapists, login_attempts, quarantine, secret_key"
            )
    try:
        yield database
    finally:
        await database.close()


def _received(topic: str, obj: Mapping[str, object], at: float = 1000.0) -> Received:
    return Received(parse_message(topic, json.dumps(obj).encode()), at)


async def test_storage_is_idempotent_by_event_id(db: Database) -> None:
    events = synthetic_session(3, active_s=60.0)
    batch = [_received("coach/v1/p-01/s-1/events", e) for e in events]
    first = await store_batch(db, batch)
    assert first.events_new == len(events) and first.events_duplicate == 0
    # A redelivery, the retained summary and the same stream for another session in one batch.
    again = [*batch[:10], _received("coach/v1/p-01/s-1/summary", events[-1])]
    again += [_received("coach/v1/p-01/s-2/events", e) for e in events[:5]] + batch[:3]
    second = await store_batch(db, again)
    assert second.events_new == 5 and second.events_duplicate == len(again) - 5
    rows = await db.fetchall(
        "SELECT session_id, COUNT(*) AS n FROM events GROUP BY session_id ORDER BY session_id"
    )
    assert rows == [{"session_id": "s-1", "n": len(events)}, {"session_id": "s-2", "n": 5}]
    sess = await db.fetchone("SELECT start_unix_s, summary FROM coach_sessions WHERE session_id = 's-1'")
    assert sess is not None and json.loads(sess["summary"])["strokes_total"] == events[-1]["strokes_total"]
    assert sess["start_unix_s"] == pytest.approx(1795512600.0)  # 2026-11-24T09:30:00Z, the first state


async def test_latest_status_wins_and_migrations_are_versioned(db: Database) -> None:
    s1 = {"state": "active", "session": "s-1", "wall_utc": "2026-11-24T09:30:00Z", "sensors": {}}
    await store_batch(db, [_received("coach/v1/p-01/status", s1, at=10.0)])
    await store_batch(db, [_received("coach/v1/p-01/status", {"state": "offline"}, at=12.0)])
    await store_batch(db, [_received("coach/v1/p-01/status", s1, at=11.0)])  # late redelivery: ignored
    row = await db.fetchone("SELECT state, session_id FROM statuses WHERE patient_id = 'p-01'")
    assert row == {"state": "offline", "session_id": "s-1"}
    sql = [int(f.name[:4]) for f in (MIGRATIONS_DIR / db.dialect).glob("[0-9][0-9][0-9][0-9]_*.sql")]
    latest = max(sql + list(data_migrations()))
    assert latest >= 4
    assert await db.migrate() == latest  # already applied: nothing runs twice
    versions = await db.fetchall("SELECT version FROM schema_version ORDER BY version")
    # Every defined step once, in order (numbers may leave gaps: ranges are reserved per feature).
    assert [r["version"] for r in versions] == sorted(set(sql) | set(data_migrations()))


# --- MQTT end to end ----------------------------------------------------------------------------


async def _wait_for(predicate_coro: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        if await predicate_coro():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.mark.mqtt
async def test_ingest_stores_a_session_and_survives_malformed_messages(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = await open_database(f"sqlite:///{tmp_path}/m.sqlite3")
    ingest = Ingest(db, BrokerSettings.from_url(mosquitto.url), client_id="monitor-test")
    task = asyncio.create_task(ingest.run())
    events = synthetic_session(5, active_s=40.0)
    try:
        await asyncio.wait_for(ingest.connected.wait(), 10)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            feed = FeedPublisher(client, "p-07", "s-20261124-0930", events)
            for i, event in enumerate(events):
                await feed.publish_event(event)
                if i % 50 == 0:  # garbage in between: must be dropped, ingest goes on
                    await client.publish("coach/v1/p-07/s-20261124-0930/events", b"{oops", qos=1)
                    await client.publish("coach/v1/p-07/status", b'{"state": 3}', qos=1)
            await feed.publish_status("finished")
            for event in events[:20]:  # a coach re-sending part of its spool
                await feed.publish_event(event)

            async def all_stored() -> bool:
                row = await db.fetchone("SELECT COUNT(*) AS n FROM events")
                status = await db.fetchone("SELECT state FROM statuses WHERE patient_id = 'p-07'")
                return (
                    row is not None
                    and row["n"] == len(events)
                    and status is not None
                    and ingest.stats.duplicates >= 20
                )

            await _wait_for(all_stored)
        assert ingest.stats.malformed == 2 * len(range(0, len(events), 50))
        assert "coach/v1/p-07/s-20261124-0930/events: payload is not a strict JSON object" in caplog.text
        stored = await db.fetchall("SELECT event_id FROM events ORDER BY seq")
        assert sorted(r["event_id"] for r in stored) == sorted(e["id"] for e in events)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.close()


@pytest.mark.mqtt
async def test_persistent_session_delivers_what_was_published_while_the_monitor_was_away(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    db = await open_database(f"sqlite:///{tmp_path}/m.sqlite3")
    broker = BrokerSettings.from_url(mosquitto.url)
    events = synthetic_session(6, active_s=30.0)
    half = len(events) // 2
    try:
        ingest = Ingest(db, broker, client_id="monitor-persist")
        task = asyncio.create_task(ingest.run())
        await asyncio.wait_for(ingest.connected.wait(), 10)
        task.cancel()  # the monitor goes away (its session stays on the broker)
        await asyncio.gather(task, return_exceptions=True)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            feed = FeedPublisher(client, "p-08", "s-1", events)
            for event in events[:half]:
                await feed.publish_event(event)
        mosquitto.stop()  # and the broker restarts meanwhile (persistence on)
        mosquitto.start()
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            feed = FeedPublisher(client, "p-08", "s-1", events)
            for event in events[half:]:
                await feed.publish_event(event)
        ingest = Ingest(db, broker, client_id="monitor-persist")
        task = asyncio.create_task(ingest.run())

        async def complete() -> bool:
            row = await db.fetchone("SELECT COUNT(*) AS n FROM events")
            return row is not None and row["n"] == len(events)

        await _wait_for(complete)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await db.close()


@pytest.mark.mqtt
async def test_ingest_stops_in_bounded_time_when_the_broker_stalls(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """A stop (Ctrl-C, SIGTERM) while the broker hangs: aiomqtt's graceful disconnect times out with an
    MqttError, which must not be taken for a dropped link and retried for ever."""
    db = await open_database(f"sqlite:///{tmp_path}/m.sqlite3")
    ingest = Ingest(db, BrokerSettings.from_url(mosquitto.url), client_id="monitor-stall")
    task = asyncio.create_task(ingest.run())
    assert mosquitto.process is not None
    try:
        await asyncio.wait_for(ingest.connected.wait(), 10)
        mosquitto.process.send_signal(signal.SIGSTOP)  # up, but answers nothing (no DISCONNECT ends)
        task.cancel()
        # asyncio.wait, not wait_for: wait_for would cancel again and wait for the task without limit.
        done, _ = await asyncio.wait({task}, timeout=40)
        assert task in done, "the ingest did not stop within 40 s of being cancelled"
        assert task.cancelled()
    finally:
        mosquitto.process.send_signal(signal.SIGCONT)
        if not task.done():
            task.cancel()
        await db.close()


def record_coach_stream(tmp_path: Path, seed: int, duration_s: float = 60.0) -> list[dict[str, object]]:
    """A real event stream: ``coach simulate`` then ``coach replay`` (generated at test time)."""
    trace = tmp_path / f"sim-{seed}.csv"
    for args in (
        [
            "simulate",
            "-o",
            str(trace),
            "--seed",
            str(seed),
            "--duration",
            str(duration_s),
            "--roles",
            "treated,hand",
        ],
        ["replay", str(trace)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "coach", *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.mqtt
@pytest.mark.slow
async def test_a_recorded_coach_stream_is_stored_whole(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    events = record_coach_stream(tmp_path, seed=4)
    assert events[-1]["type"] == "summary"
    db = await open_database(f"sqlite:///{tmp_path}/m.sqlite3")
    ingest = Ingest(db, BrokerSettings.from_url(mosquitto.url), client_id="monitor-recorded")
    task = asyncio.create_task(ingest.run())
    try:
        await asyncio.wait_for(ingest.connected.wait(), 10)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            feed = FeedPublisher(client, "p-rec", "s-rec", events)
            for event in events:
                await feed.publish_event(event)

        async def complete() -> bool:
            row = await db.fetchone("SELECT COUNT(*) AS n FROM events")
            return row is not None and row["n"] == len(events)

        await _wait_for(complete)
        assert ingest.stats.malformed == 0
        detail = await session_detail(db, "p-rec", "s-rec")
        assert detail is not None and detail["summary"]["duration_s"] == events[-1]["duration_s"]
        assert len(detail["posture"]) == sum(1 for e in events if e["type"] == "posture")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.close()


async def test_pain_and_swelling_one_rating_per_session(db: Database) -> None:
    events = synthetic_session(8, active_s=30.0, pain=None, swelling=None)
    summary = events[-1]
    report = {
        "type": "self_report",
        "t": summary["t"],
        "id": "self_report-1",
        "pain_0_10": 4,
        "swelling_0_10": 6,
    }
    with_ratings = dict(summary, pain_0_10=4, swelling_0_10=6)
    batch = [_received("coach/v1/p-01/s-1/events", e) for e in events[:-1]]
    batch += [
        _received("coach/v1/p-01/s-1/events", report),
        _received("coach/v1/p-01/s-1/summary", with_ratings),
    ]
    # A second session rated only in its summary, and a third not rated at all.
    other = synthetic_session(
        9, active_s=30.0, start_utc=datetime(2026, 11, 25, 9, 0, tzinfo=UTC), pain=1, swelling=2
    )
    batch += [_received("coach/v1/p-01/s-2/events", e) for e in other]
    batch += [
        _received("coach/v1/p-01/s-3/events", e)
        for e in synthetic_session(10, active_s=30.0, pain=None, swelling=None)
    ]
    await store_batch(db, batch)
    reports = await self_reports(db, "p-01", since_unix_s=0.0)
    assert [(r["session_id"], r["pain"], r["swelling"]) for r in reports] == [("s-1", 4, 6), ("s-2", 1, 2)]
    with pytest.raises(MessageError, match="swelling_0_10"):
        parse_message("coach/v1/p-01/s-1/events", json.dumps(dict(report, swelling_0_10=11)).encode())
