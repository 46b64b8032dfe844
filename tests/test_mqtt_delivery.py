"""Reliable delivery against real brokers (a private Mosquitto, and the embedded amqtt broker):
order and completeness, retained status/summary and last will, a network gap, a broker stopped for
10 s mid-stream, and the coach process killed and restarted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

import aiomqtt
import pytest

from coach.events import to_json
from coach.mqtt.broker_config import BrokerSettings
from coach.mqtt.publisher import Publisher
from coach.mqtt.spool import Spool
from coach.mqtt.topics import PatientTopics
from tests.fixtures.embedded import EmbeddedBrokerProcess
from tests.fixtures.mosquitto import MosquittoBroker, MosquittoFactory
from tests.fixtures.mqtt_sink import GapProxy, Sink

pytestmark = pytest.mark.mqtt

TOPICS = PatientTopics("p-0001")
SESSION = "s-20261124T093000Z"
EVENTS = TOPICS.events(SESSION)
OFFLINE = b'{"state": "offline"}'


class Broker(Protocol):
    host: str
    port: int

    @property
    def url(self) -> str: ...
    def stop(self) -> None: ...
    def start(self) -> Any: ...


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request: pytest.FixtureRequest, mosquitto_factory: MosquittoFactory) -> Iterator[Broker]:
    if request.param == "mosquitto":
        yield mosquitto_factory()
    else:
        embedded = EmbeddedBrokerProcess().start()
        yield embedded
        embedded.stop()


def _publisher(url: str, spool: Spool, **kw: Any) -> Publisher:
    return Publisher(
        BrokerSettings.from_url(url),
        spool,
        client_id="coach-p-0001",
        will=(TOPICS.status, OFFLINE),
        backoff_max_s=0.5,
        **kw,
    )


def _event(k: int) -> dict[str, Any]:
    return {
        "type": "posture",
        "t": k / 10,
        "id": f"posture-{k}",
        "elevated": k % 3 != 0,
        "elevation_deg": 20.0,
    }


@pytest.fixture
async def sink(broker: Broker) -> AsyncIterator[Sink]:
    s = await Sink(broker.host, broker.port, f"coach/v1/{TOPICS.patient}/#").start()
    yield s
    await s.stop()


async def test_events_arrive_in_order_and_complete_with_retained_status_and_summary(
    broker: Broker, sink: Sink, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    publisher = _publisher(broker.url, spool)
    publisher.set_retained(TOPICS.status, b'{"state": "active", "session": "%s"}' % SESSION.encode())
    publisher.set_final_retained(TOPICS.status, OFFLINE)
    publisher.start()
    n = 400
    for k in range(1, n + 1):
        publisher.enqueue(EVENTS, to_json(_event(k)).encode())
        if k % 50 == 0:
            await asyncio.sleep(0.01)
    summary = {"type": "summary", "t": 40.0, "id": "summary-1", "strokes_total": 0}
    publisher.enqueue(TOPICS.summary(SESSION), to_json(summary).encode(), retain=True)
    assert await publisher.wait_drained(20), f"spool still holds {publisher.pending}"
    assert await sink.wait_for(
        lambda s: len(s.events(EVENTS)) == n and bool(s.events(TOPICS.summary(SESSION))), 10
    )
    assert [e["id"] for e in sink.events(EVENTS)] == [f"posture-{k}" for k in range(1, n + 1)]
    assert [json.loads(a.payload)["id"] for a in sink.raw(EVENTS)] == [
        f"posture-{k}" for k in range(1, n + 1)
    ]
    assert await publisher.stop()
    # The broker has everything; the events stay until a monitor confirms them (none here), the
    # summary's retained copy left at its PUBACK.
    assert spool.unsent() == 0 and spool.unconfirmed() == n == len(spool)
    # A therapist who connects later still finds the summary and the offline status (retained).
    async with aiomqtt.Client(broker.host, broker.port, identifier="late", username="late") as late:
        await late.subscribe([(TOPICS.summary(SESSION), 1), (TOPICS.status, 1)])
        got: dict[str, bytes] = {}
        async with asyncio.timeout(5):
            async for m in late.messages:
                assert m.retain
                got[str(m.topic)] = m.payload
                if len(got) == 2:
                    break
    assert json.loads(got[TOPICS.summary(SESSION)])["id"] == "summary-1"
    assert got[TOPICS.status] == OFFLINE
    spool.close()


async def test_network_gap_loses_nothing_and_keeps_order(broker: Broker, sink: Sink, tmp_path: Path) -> None:
    proxy = await GapProxy(broker.host, broker.port).start()
    spool = Spool(tmp_path / "spool.sqlite3")
    publisher = _publisher(f"mqtt://127.0.0.1:{proxy.port}", spool, keepalive_s=2)
    publisher.start()
    await asyncio.wait_for(publisher.connected.wait(), 5)
    n = 300
    for k in range(1, n + 1):  # 100 events/s for 3 s, the link cut from 1.0 s to 2.5 s
        publisher.enqueue(EVENTS, to_json(_event(k)).encode())
        if k == 100:
            await proxy.cut()
        if k == 250:
            await proxy.restore()
        await asyncio.sleep(0.01)
    assert await publisher.wait_drained(15), f"spool still holds {publisher.pending}"
    assert await sink.wait_for(lambda s: len(s.events(EVENTS)) == n, 10)
    assert [e["id"] for e in sink.events(EVENTS)] == [f"posture-{k}" for k in range(1, n + 1)]
    assert publisher.stats.connects >= 2
    await publisher.stop()
    await proxy.close()
    spool.close()


@pytest.mark.slow
async def test_mosquitto_stopped_for_10_s_mid_session_loses_nothing(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    mosquitto: MosquittoBroker = mosquitto_factory()
    sink = await Sink(mosquitto.host, mosquitto.port, f"coach/v1/{TOPICS.patient}/#").start()
    spool = Spool(tmp_path / "spool.sqlite3")
    publisher = _publisher(mosquitto.url, spool, keepalive_s=2)
    publisher.start()
    loop = asyncio.get_running_loop()
    n = 280  # 20 events/s for 14 s; the broker is down from 2 s to 12 s
    for k in range(1, n + 1):
        publisher.enqueue(EVENTS, to_json(_event(k)).encode())
        if k == 40:
            await loop.run_in_executor(None, mosquitto.stop)
            stopped_at = loop.time()
        if k == 240:
            await asyncio.sleep(max(0.0, 10.0 - (loop.time() - stopped_at)))
            await loop.run_in_executor(None, mosquitto.start)
        await asyncio.sleep(0.05)
    assert await publisher.wait_drained(20), f"spool still holds {publisher.pending}"
    assert await sink.wait_for(lambda s: len(s.events(EVENTS)) == n, 15)
    assert [e["id"] for e in sink.events(EVENTS)] == [f"posture-{k}" for k in range(1, n + 1)]
    assert sink.connects >= 2 and publisher.stats.connects >= 2
    await publisher.stop()
    await sink.stop()
    spool.close()


def _run_helper(url: str, spool: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.spool_publisher", "--url", url, "--spool", str(spool),
         "--patient", TOPICS.patient, "--session", SESSION, *extra],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip


async def _read_committed(proc: subprocess.Popen[str], until: int) -> list[str]:
    assert proc.stdout is not None
    committed: list[str] = []
    loop = asyncio.get_running_loop()
    while len(committed) < until:
        line = await loop.run_in_executor(None, proc.stdout.readline)
        assert line, "helper ended early"
        if line.startswith("committed "):
            committed.append(line.split()[1])
    return committed


async def test_killed_coach_delivers_its_spool_after_restart(
    broker: Broker, sink: Sink, tmp_path: Path
) -> None:
    proxy = await GapProxy(broker.host, broker.port).start()
    spool = tmp_path / "spool.sqlite3"
    proc = _run_helper(f"mqtt://127.0.0.1:{proxy.port}", spool, "--count", "100000", "--rate-hz", "200")
    committed = await _read_committed(proc, 100)
    await proxy.cut()  # what follows stays in the spool ...
    committed += await _read_committed(proc, 100)
    os.kill(proc.pid, signal.SIGKILL)  # ... and the coach dies with it there
    proc.wait()
    assert proc.stdout is not None
    committed += [line.split()[1] for line in proc.stdout.read().splitlines() if line.startswith("committed")]
    proc.stdout.close()
    # The broker noticed the dead link: the last will says offline.
    assert await sink.wait_for(lambda s: any(a.payload == OFFLINE for a in s.raw(TOPICS.status)), 10)
    assert len(sink.events(EVENTS)) < len(committed), "the test must leave events in the spool"
    await proxy.restore()
    restarted = _run_helper(f"mqtt://127.0.0.1:{proxy.port}", spool, "--count", "0", "--linger-s", "20")
    out, _ = await asyncio.get_running_loop().run_in_executor(None, restarted.communicate)
    assert "drained" in out.split() and restarted.returncode == 0
    assert await sink.wait_for(lambda s: len(s.events(EVENTS)) >= len(committed), 10)
    delivered = [e["id"] for e in sink.events(EVENTS)]
    assert delivered[: len(committed)] == committed
    await proxy.close()


async def test_embedded_broker_sends_retained_messages_only_for_a_clients_own_subscriptions(
    embedded_broker_process: EmbeddedBrokerProcess,
) -> None:
    b = embedded_broker_process
    other = PatientTopics("p-0002")
    async with aiomqtt.Client(
        b.host, b.port, identifier="monitor", username="m", clean_session=False
    ) as monitor:
        await monitor.subscribe("coach/v1/#", qos=1)
        await monitor.publish(other.status, b'{"state": "active"}', qos=1, retain=True)
        await monitor.publish(TOPICS.targets, b"{}", qos=1, retain=True)
    async with aiomqtt.Client(b.host, b.port, identifier="coach-p-0001", username="p-0001") as coach:
        await coach.subscribe(TOPICS.targets, qos=1)
        got = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                async for m in coach.messages:
                    got.append(str(m.topic))
    assert got == [TOPICS.targets]  # not p-0002's status, which only the monitor's filter matches
