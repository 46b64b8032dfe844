"""End to end: whatever the broker does with what it acknowledged, the therapist's record is complete.

Each test runs the coach's real publisher and spool against a private broker and the monitor's real
ingest into a real database, makes the broker lose acknowledged events, and counts every event of the
session in the monitor's database: produced, stored, lost (must be 0), stored twice (must be 0), and
delivery numbers 1..N without a hole. Each test also checks that the fault did strike (the coach had
to send events again) and that the coach's spool is empty at the end (every event confirmed).
The counts go to ``tests/artifacts/delivery_faults.jsonl`` for the fault table in docs/mqtt.md.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coach.monitor.db import Database, open_database
from coach.mqtt.embedded_broker import embedded_broker_supervised
from tests.fixtures.delivery import CoachSide, monitor_ingest, monitor_process, record, wait_for
from tests.fixtures.monitor_services import fresh_postgres_database
from tests.fixtures.mosquitto import MosquittoConfig, MosquittoFactory

pytestmark = pytest.mark.mqtt

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(autouse=True)
def _private_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COACH_RUNTIME_DIR", str(tmp_path / "run"))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite:///{tmp_path}/monitor.sqlite3")
    yield database
    await database.close()


async def _finish(fault: str, db: Database, coach: CoachSide, produced: int, session: str = "s-1") -> None:
    """Wait for the whole record and an empty spool; assert and write down the counts."""
    complete = await wait_for(lambda: _stored(db, session, produced), 40)
    confirmed = await wait_for(lambda: coach.spool.unconfirmed() == 0, 15)
    got = await record(db, session)
    row = {
        "fault": fault,
        "produced": produced,
        "stored": got.stored,
        "lost": got.lost(produced),
        "stored_twice": got.twice,
        "sent_again": coach.publisher.stats.resent,
    }
    _write_down(row)
    assert complete and got.lost(produced) == 0, row
    assert got.twice == 0 and got.seqs_ok, row
    assert confirmed, f"{coach.spool.unconfirmed()} events still wait for a receipt"


def _write_down(row: dict[str, object]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "delivery_faults.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


async def _stored(db: Database, session: str, n: int) -> bool:
    return (await record(db, session)).stored >= n


async def _warm_up(db: Database, coach: CoachSide, broker_url: str, last: int = 20) -> None:
    """The monitor's persistent session exists and the coach has seen a receipt."""
    async with monitor_ingest(db, broker_url):
        await coach.publish(1, last)
        assert await wait_for(lambda: coach.spool.unconfirmed() == 0 and coach.spool.monitor_seen, 10)


@pytest.mark.parametrize(
    ("fault", "config"),
    [
        ("broker SIGKILL, no persistence", MosquittoConfig(persistence=False)),
        (
            "broker SIGKILL, slow persistence (autosave 30 s)",
            MosquittoConfig(extra=("autosave_interval 30",)),
        ),
    ],
)
async def test_broker_killed_after_acknowledging(
    mosquitto_factory: MosquittoFactory, db: Database, tmp_path: Path, fault: str, config: MosquittoConfig
) -> None:
    broker = mosquitto_factory(config)
    coach = CoachSide(broker.url, tmp_path / "spool.sqlite3")
    await _warm_up(db, coach, broker.url)
    await coach.publish(21, 200)  # the monitor is away: the broker acknowledges and queues these
    assert await coach.publisher.wait_drained(10)
    broker.kill()  # ... and loses them
    broker.start()
    async with monitor_ingest(db, broker.url):
        await coach.publish(201, 300)
        await _finish(fault, db, coach, 300)
    assert coach.publisher.stats.resent >= 180
    await coach.close()


async def test_broker_queue_overflow(
    mosquitto_factory: MosquittoFactory, db: Database, tmp_path: Path
) -> None:
    broker = mosquitto_factory(MosquittoConfig(extra=("max_queued_messages 20",)))
    coach = CoachSide(broker.url, tmp_path / "spool.sqlite3")
    await _warm_up(db, coach, broker.url)
    await coach.publish(21, 300)  # the monitor is away: the broker keeps 20 of these and drops the rest
    assert await coach.publisher.wait_drained(10)
    async with monitor_ingest(db, broker.url):
        await _finish("queue overflow (max_queued_messages 20)", db, coach, 300)
    assert coach.publisher.stats.resent >= 200
    await coach.close()


async def test_embedded_broker_killed(db: Database, tmp_path: Path) -> None:
    async with embedded_broker_supervised() as broker:
        coach = CoachSide(broker.url, tmp_path / "spool.sqlite3")
        async with monitor_ingest(db, broker.url):
            await coach.publish(1, 100)
            await wait_for(lambda: coach.spool.monitor_seen, 5)
            os.kill(broker.proc.pid, signal.SIGKILL)  # sessions, queues, retained receipts: all gone
            await coach.publish(101, 300)
            await _finish("embedded broker SIGKILL", db, coach, 300)
        assert broker.restarts == 1
    await coach.close()


async def test_monitor_away_for_a_long_backlog(
    mosquitto_factory: MosquittoFactory, db: Database, tmp_path: Path
) -> None:
    """The monitor is away for a whole session longer than the broker's queue; the coach ends first.
    The next run of the coach (the next session) sends what no receipt covers."""
    broker = mosquitto_factory(MosquittoConfig(extra=("max_queued_messages 200",)))
    spool = tmp_path / "spool.sqlite3"
    first = CoachSide(broker.url, spool)
    await _warm_up(db, first, broker.url)
    await first.publish(21, 1500, rate_hz=2000.0)
    await first.close()  # the session is over; 1480 events wait for a receipt on disk
    async with monitor_ingest(db, broker.url):
        assert await wait_for(lambda: _stored(db, "s-1", 200), 10)
        assert (await record(db, "s-1")).stored < 1500  # the broker's queue overflowed
        second = CoachSide(broker.url, spool, session="s-2")
        await second.publish(1, 10)
        await _finish("monitor away for 1480 events (queue of 200), coach restarted", db, second, 1500)
        assert (await record(db, "s-2")).stored == 10
    await second.close()


@pytest.mark.postgres
async def test_a_shared_subscription_member_that_never_returns(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    broker = mosquitto_factory()
    with fresh_postgres_database() as url:
        db = await open_database(url)  # migrated once, before both instances start
        try:
            shared = ("--shared-group", "monitors")
            with (
                monitor_process(broker.url, url, "monitor-a", tmp_path / "a.log", *shared),
                monitor_process(broker.url, url, "monitor-b", tmp_path / "b.log", *shared) as b,
            ):
                logs = [tmp_path / "a.log", tmp_path / "b.log"]
                assert await wait_for(lambda: all("subscribed" in p.read_text() for p in logs), 30)
                coach = CoachSide(broker.url, tmp_path / "spool.sqlite3")
                await coach.publish(1, 60, rate_hz=100.0)
                assert await wait_for(lambda: _stored(db, "s-1", 60), 20)
                await coach.publish(61, 150, rate_hz=100.0)
                os.kill(b.pid, signal.SIGKILL)  # never comes back: its queued share stays with it
                await coach.publish(151, 400, rate_hz=100.0)
                await _finish("shared-subscription member SIGKILLed for good", db, coach, 400)
                await coach.close()
        finally:
            await db.close()
