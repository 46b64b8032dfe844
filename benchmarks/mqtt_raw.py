"""A minimal MQTT 3.1.1 client for the load benchmark, and Mosquitto's own QoS 1 throughput.

The load generator shares 2 cores with the broker, the monitor and the database; a full client
(aiomqtt on paho) costs so much per message in Python that at a few thousand messages a second it
measured itself rather than the monitor. :class:`RawClient` writes the bytes of the MQTT standard
directly: CONNECT, PUBLISH at QoS 1 with PUBACK counting, SUBSCRIBE, and PUBACK for what it receives
(a coach's receipts on ``coach/v1/<p>/stored``). :func:`broker_yardstick` measures how many QoS 1
messages a second the broker itself carries from raw publishers to one raw subscriber that
acknowledges each, on the same machine in the same run: the yardstick the monitor's ceiling is
quoted against.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(s: str) -> bytes:
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


class RawClient:
    """One MQTT 3.1.1 connection: QoS 1 publishes (counted when acknowledged), QoS 1 subscriptions
    (each message received is acknowledged and counted)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent = 0
        self.acked = 0
        self.received = 0
        self._next_id = 0
        self._acks = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int, client_id: str, clean: bool = True) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        flags = 0x02 if clean else 0x00
        body = _text("MQTT") + bytes([4, flags]) + (60).to_bytes(2, "big") + _text(client_id)
        writer.write(b"\x10" + _length(len(body)) + body)
        connack = await reader.readexactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"CONNACK refused: {connack.hex()}")
        return cls(reader, writer)

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def subscribe(self, topic_filter: str) -> None:
        body = self._packet_id().to_bytes(2, "big") + _text(topic_filter) + b"\x01"
        self.writer.write(b"\x82" + _length(len(body)) + body)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        body = _text(topic) + self._packet_id().to_bytes(2, "big") + payload
        self.writer.write(bytes([0x32 | int(retain)]) + _length(len(body)) + body)
        self.sent += 1

    async def _read(self) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await self.reader.readexactly(1))[0]
                size, shift = 0, 0
                while True:
                    byte = (await self.reader.readexactly(1))[0]
                    size |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                rest = await self.reader.readexactly(size)
                kind = head >> 4
                if kind == 4:  # PUBACK of one of ours
                    self.acked += 1
                elif kind == 3:  # PUBLISH to us
                    self.received += 1
                    if (head >> 1) & 0x03:
                        topic_len = int.from_bytes(rest[:2], "big")
                        packet_id = rest[2 + topic_len : 4 + topic_len]
                        self.writer.write(b"\x40\x02" + packet_id)

    async def close(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.acked < self.sent and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a counter
            await asyncio.sleep(0.05)
        self.writer.write(b"\xe0\x00")
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()
        self.writer.close()
        self._acks.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._acks


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _blast(port: int, topic: str, payload: bytes, seconds: float, window: int, index: int) -> int:
    client = await RawClient.connect(port, f"yardstick-pub-{index}")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while client.sent - client.acked < window:
            client.publish(topic, payload)
        await client.writer.drain()
        await asyncio.sleep(0)
    await client.close(5.0)
    return client.sent


def _subscriber_main(port: int, seconds: float, out: Any) -> None:
    async def run() -> int:
        client = await RawClient.connect(port, "yardstick-sub")
        client.subscribe("yardstick/#")
        await asyncio.sleep(0.3)
        out.put("ready")
        await asyncio.sleep(seconds + 1.0)
        got = client.received
        await client.close(1.0)
        return got

    out.put(asyncio.run(run()))


def _publisher_main(port: int, seconds: float, payload: bytes, publishers: int, out: Any) -> None:
    async def run() -> int:
        counts = await asyncio.gather(
            *(_blast(port, f"yardstick/p{k}/s/events", payload, seconds, 100, k) for k in range(publishers))
        )
        return sum(counts)

    out.put(asyncio.run(run()))


def broker_yardstick(
    port: int, broker_pid: int, payload_bytes: int, seconds: float = 10.0
) -> dict[str, float]:
    """QoS 1 messages a second the broker carries from 8 raw publishers (one process) to one raw
    subscriber (another process) that acknowledges each; with the broker's CPU per message."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q_sub, q_pub = ctx.Queue(), ctx.Queue()
    sub = ctx.Process(target=_subscriber_main, args=(port, seconds, q_sub))
    sub.start()
    assert q_sub.get(timeout=30) == "ready"
    cpu0 = _cpu_s(broker_pid)
    pub = ctx.Process(target=_publisher_main, args=(port, seconds, b"x" * payload_bytes, 8, q_pub))
    pub.start()
    sent = int(q_pub.get(timeout=seconds + 60))
    received = int(q_sub.get(timeout=seconds + 60))
    cpu_s = _cpu_s(broker_pid) - cpu0
    pub.join(10)
    sub.join(10)
    return {
        "msgs_per_s": received / seconds,
        "sent": float(sent),
        "received": float(received),
        "broker_cpu_us_per_msg": 1e6 * cpu_s / max(received, 1),
    }
