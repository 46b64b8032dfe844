"""The monitor's receive path (coach/monitor/paho_io.py) on a real paho client: every PUBLISH arrives
once, in order, with its topic, payload, packet id and QoS, wherever the reads split the byte stream;
what the fast path does not take (MQTT 5 properties, QoS 2, other packets) is left to paho and
arrives the same; a batch's PUBACKs are one queued write."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from coach.monitor.db import open_database
from coach.monitor.ingest import Ingest
from coach.monitor.paho_io import BufferedReads, ack_batch
from coach.mqtt.broker_config import BrokerSettings
from tests.fixtures.mosquitto import MosquittoConfig, MosquittoFactory, make_test_pki


class FakeSocket:
    """Hands out the given chunks, one per ``recv``, then 'nothing more for now'."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.sent: list[bytes] = []

    def recv(self, _size: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        if self.chunks == [b""]:
            return b""  # the end of the stream stays the end
        return self.chunks.pop(0)

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: str, payload: bytes, mid: int, qos: int, v5: bool, props: bytes = b"") -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (mid.to_bytes(2, "big") if qos else b"")
    if v5:
        body += _length(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1]) + _length(len(body)) + body


def _client(v5: bool) -> Any:
    proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t", protocol=proto)
    client.manual_ack_set(True)
    return client


def _run(v5: bool, stream: bytes, cuts: list[int]) -> tuple[list[tuple[str, bytes, int, int]], BufferedReads]:
    client = _client(v5)
    bounds = [0, *cuts, len(stream)]
    sock = FakeSocket([stream[a:b] for a, b in itertools.pairwise(bounds) if b > a])
    client._sock = sock
    got: list[tuple[str, bytes, int, int]] = []
    reads = BufferedReads(client, lambda *m: got.append(m))
    for _ in range(len(bounds) + 2):  # one readiness callback per chunk, and a spare one
        client.loop_read()
    return got, reads


MESSAGES = [
    ("coach/v1/p-1/s-1/events", b'{"type":"posture","t":1.0}', 1, 1),
    ("coach/v1/p-1/status", b'{"state":"active"}', 2, 1),
    ("coach/v1/p-2/s-9/events", b"x" * 300, 3, 1),  # a two-byte remaining length
    ("coach/v1/p-2/cmd_result", b"", 0, 0),
    ("coach/v1/p-3/s-1/summary", "ü".encode() * 70, 65535, 1),
]


@pytest.mark.parametrize("v5", [False, True])
def test_every_publish_arrives_once_in_order_wherever_the_reads_split(v5: bool) -> None:
    stream = b"".join(publish(t, p, m, q, v5) for t, p, m, q in MESSAGES)
    for cut in range(len(stream) + 1):
        got, reads = _run(v5, stream, [cut])
        assert got == MESSAGES, f"split at byte {cut}"
    got, reads = _run(v5, stream, list(range(1, len(stream))))  # one byte per read
    assert got == MESSAGES
    got, reads = _run(v5, stream, [])
    assert got == MESSAGES and reads.fast == len(MESSAGES) and reads.recv_calls == 1


def test_what_the_fast_path_leaves_to_paho_arrives_the_same() -> None:
    expiry = b"\x02\x00\x00\x00\x3c"  # MQTT 5 Message Expiry Interval: 60 s
    stream = (
        publish(*MESSAGES[0], v5=True)
        + publish(*MESSAGES[1], v5=True, props=expiry)
        + b"\xd0\x00"  # PINGRESP
        + publish(*MESSAGES[2], v5=True)
    )
    got, reads = _run(True, stream, [])
    assert got == MESSAGES[:3]
    assert reads.fast == 2  # the one with properties went through paho's own decoder


def test_a_batch_is_acknowledged_in_order_in_one_write() -> None:
    client = _client(False)
    sock = FakeSocket([])
    client._sock = sock
    assert ack_batch(client, [(5, 1), (7, 1), (6, 1)]) == 3
    client.loop_write()
    assert sock.sent == [b"\x40\x02\x00\x05\x40\x02\x00\x07\x40\x02\x00\x06"]


async def test_a_full_socket_does_not_hold_the_event_loop_and_nothing_is_left_behind() -> None:
    message = MESSAGES[2]
    stream = publish(*message, v5=False) * 40
    client = _client(False)
    client._sock = FakeSocket([stream[k : k + 1000] for k in range(0, len(stream), 1000)])  # cut packets
    got: list[tuple[str, bytes, int, int]] = []
    reads = BufferedReads(client, lambda *m: got.append(m))
    client.loop_read()  # one readiness callback
    first = len(got)
    assert reads.recv_calls <= 2 and first < 40  # it gave the loop back...
    for _ in range(100):
        await asyncio.sleep(0)
    assert got == [message] * 40  # ... and went on by itself with what it had read


@pytest.mark.mqtt
async def test_ingest_over_tls_stores_every_event(
    mosquitto_factory: MosquittoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The buffered reader under an SSL socket (records, not bytes, per read): a session published
    at once over mqtts is stored whole, each event once."""
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    pki = make_test_pki(tmp_path / "pki")
    broker = mosquitto_factory(
        MosquittoConfig(tls=pki, allow_anonymous=True, extra=("max_inflight_messages 100",))
    )
    settings = BrokerSettings.from_url(f"mqtts://127.0.0.1:{broker.port}", ca_file=pki.ca_cert)
    db = await open_database(f"sqlite:///{tmp_path}/m.sqlite3")
    ingest = Ingest(db, settings, client_id="monitor-tls", inflight_window=100)
    task = asyncio.create_task(ingest.run())
    try:
        await asyncio.wait_for(ingest.connected.wait(), 15)
        events = [
            {"type": "cadence", "t": float(k), "id": f"cadence-{k}", "strokes_per_min": 40.0}
            for k in range(600)
        ]
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, tls_context=settings.client_kwargs()["tls_context"]
        ) as c:
            for e in events:
                await c.publish("coach/v1/p-tls/s-1/events", json.dumps(e).encode(), qos=1)
        async with asyncio.timeout(30):
            while ingest.stats.stored_new < len(events):  # noqa: ASYNC110 - polls a counter
                await asyncio.sleep(0.05)
        rows = await db.fetchall("SELECT event_id FROM events WHERE patient_id = 'p-tls'")
        assert sorted(r["event_id"] for r in rows) == sorted(str(e["id"]) for e in events)
        assert ingest.stats.acked == ingest.stats.received == len(events)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.close()


def test_a_connection_closed_by_the_broker_is_noticed() -> None:
    client = _client(False)
    sock = FakeSocket([publish(*MESSAGES[0], v5=False), b""])  # then end of stream
    client._sock = sock
    got: list[tuple[str, bytes, int, int]] = []
    BufferedReads(client, lambda *m: got.append(m))
    assert client.loop_read() == 0 and got == [MESSAGES[0]]
    assert client.loop_read() != 0  # paho saw the end of the stream: connection lost
    assert client._sock is None
