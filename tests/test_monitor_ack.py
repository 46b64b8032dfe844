"""Acknowledge after commit: a monitor killed (SIGKILL) after receiving messages but before its batch
committed loses none of them; restarted with the same client id it stores every event exactly once.

The database is held locked by the test itself (SQLite: an open ``BEGIN IMMEDIATE``; PostgreSQL: an
open ``LOCK TABLE events``), so the monitor's batch waits on a real lock: no test hook in the monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.fixtures.event_feed import FeedPublisher, synthetic_session
from tests.fixtures.monitor_services import fresh_postgres_database
from tests.fixtures.mosquitto import MosquittoBroker, free_port

pytestmark = pytest.mark.mqtt

#: The private broker's ``max_inflight_messages`` (tests/fixtures/mosquitto.py).
BROKER_INFLIGHT = 100
#: What the MQTT 5 monitor asks for (Receive Maximum) in the shared-subscription case.
V5_WINDOW = 60


def _start_monitor(
    tmp_path: Path, broker: str, db_url: str, port: int, extra: list[str]
) -> subprocess.Popen[str]:
    env = {**os.environ, "COACH_DATA_DIR": str(tmp_path / "data"), "COACH_RUNTIME_DIR": str(tmp_path / "run")}
    args = [sys.executable, "-m", "coach", "monitor", "--broker", broker, "--db", db_url]
    args += ["--listen", f"127.0.0.1:{port}", "--client-id", "monitor-ack-test", *extra]
    return subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        body: dict[str, Any] = json.load(r)["ingest"]
        return body


async def _wait_health(
    proc: subprocess.Popen[str], port: int, ok: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0
) -> dict[str, Any]:
    last: dict[str, Any] = {}
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "monitor exited"
        with contextlib.suppress(OSError):
            last = await asyncio.to_thread(_health, port)
            if ok(last):
                return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"monitor health not reached in {timeout_s} s: {last}")


class _SqliteLock:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10)

    def hold(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")  # the monitor's writes now wait (its busy timeout, then retry)

    def release(self) -> None:
        self.conn.execute("ROLLBACK")

    def count(self) -> tuple[int, int]:
        row = self.conn.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events").fetchone()
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self.conn.close()


class _PgLock:
    def __init__(self, url: str) -> None:
        import psycopg

        self.lock_conn = psycopg.connect(url)
        self.read_conn = psycopg.connect(url, autocommit=True)

    def hold(self) -> None:
        self.lock_conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")  # open transaction: inserts wait

    def release(self) -> None:
        self.lock_conn.rollback()

    def count(self) -> tuple[int, int]:
        row = self.read_conn.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self.lock_conn.close()
        self.read_conn.close()


@pytest.fixture(params=["sqlite-mqtt3", pytest.param("postgresql-shared-mqtt5", marks=pytest.mark.postgres)])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(database URL, extra monitor options, the in-flight window the broker will respect)."""
    if request.param == "sqlite-mqtt3":
        yield (
            f"sqlite:///{tmp_path}/monitor.sqlite3",
            ["--mqtt-inflight", str(BROKER_INFLIGHT)],
            BROKER_INFLIGHT,
        )
    else:
        with fresh_postgres_database() as url:
            yield url, ["--shared-group", "acktest", "--mqtt-inflight", str(V5_WINDOW)], V5_WINDOW


async def test_a_monitor_killed_before_commit_loses_nothing_and_stores_each_event_once(
    mosquitto: MosquittoBroker, tmp_path: Path, setup: tuple[str, list[str], int]
) -> None:
    db_url, extra, window = setup
    events = synthetic_session(11, active_s=60.0)[:-1]  # no summary (it also goes to a second topic)
    assert len(events) > window  # some wait on the broker, some reach the monitor unacknowledged
    port = free_port()
    proc = _start_monitor(tmp_path, mosquitto.url, db_url, port, extra)
    lock: _SqliteLock | _PgLock | None = None
    try:
        await _wait_health(proc, port, lambda h: bool(h["connected"]))
        lock = (
            _SqliteLock(Path(db_url.removeprefix("sqlite:///")))
            if db_url.startswith("sqlite")
            else _PgLock(db_url)
        )
        lock.hold()
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            feed = FeedPublisher(client, "p-ack", "s-ack", events)
            for event in events:
                await feed.publish_event(event)
        # The broker hands over exactly its in-flight window and waits for acknowledgements.
        health = await _wait_health(proc, port, lambda h: h["received"] >= window)
        await asyncio.sleep(0.5)
        health = await asyncio.to_thread(_health, port)
        assert health["received"] == window and health["unacked"] == window
        assert health["stored_new"] == 0 and health["acked"] == 0
        os.killpg(proc.pid, signal.SIGKILL)  # received, not committed, not acknowledged
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
        lock.release()
        assert lock.count() == (0, 0)

        proc = _start_monitor(tmp_path, mosquitto.url, db_url, port, extra)  # same client id
        health = await _wait_health(proc, port, lambda h: h["stored_new"] + h["duplicates"] >= len(events))
        assert lock.count() == (len(events), len(events))  # every event, each once
        assert health["stored_new"] == len(events) and health["duplicates"] == 0, health
        await asyncio.sleep(0.3)
        health = await asyncio.to_thread(_health, port)
        assert health["acked"] == len(events) and health["unacked"] == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stderr:
            err = proc.stderr.read()
            proc.stderr.close()
            assert "Traceback" not in err, err
        if lock is not None:
            lock.close()
