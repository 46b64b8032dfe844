"""MQTT ingest: subscribe to the coaches' topics, validate every message, store in batches.

One aiomqtt client with a persistent session (a fixed client id and ``clean_session=False``, or with
MQTT 5 ``clean_start=False`` and a session expiry) so QoS 1 messages published while the monitor was
away are delivered when it returns. With a shared-subscription group (MQTT 5, e.g. Mosquitto 2) several
monitor instances split the messages; the database keys make a redelivered message harmless.

A malformed message is logged with its topic and reason and dropped; ingest goes on. A database error
keeps the batch and retries it, so nothing validated is lost while the database is briefly away.

Acknowledge after commit: every QoS 1 message is acknowledged (PUBACK) only once the transaction that
stored it has committed, or once it was judged malformed or a duplicate. A monitor killed between
arrival and commit has acknowledged nothing of those messages, so the broker hands them over again
to the same persistent session (the event keys make a second copy harmless). The broker sends at most
its in-flight window of unacknowledged messages; a batch is therefore closed at half that window
(so the next half arrives while the first is written), never waiting for more than the broker sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coach.monitor.db import Database
from coach.monitor.ingest_store import Received, SessionCache, StoreResult, store_batch
from coach.monitor.messages import Ignored, MessageError, parse_message
from coach.mqtt.broker_config import BrokerSettings

log = logging.getLogger("coach.monitor.ingest")

SUBSCRIPTION: Final = "coach/v1/#"
#: In-flight window (unacknowledged QoS 1 messages the broker sends) when none is configured: with
#: MQTT 3.1.1 the broker decides (Mosquitto's ``max_inflight_messages`` defaults to 20); with MQTT 5
#: the monitor asks for this many in its CONNECT (Receive Maximum).
DEFAULT_INFLIGHT_V311: Final = 20
DEFAULT_INFLIGHT_V5: Final = 1000
#: How long the broker keeps a disconnected monitor's session (and queues its QoS 1 messages).
SESSION_EXPIRY_S: Final = 7 * 24 * 3600


@dataclass
class IngestStats:
    received: int = 0
    malformed: int = 0
    ignored: int = 0
    stored_new: int = 0
    duplicates: int = 0
    statuses: int = 0
    cmd_results: int = 0
    batches: int = 0
    db_errors: int = 0
    connects: int = 0
    #: QoS 1 messages acknowledged to the broker (after their batch committed).
    acked: int = 0
    #: Time spent writing batches (transaction begin to commit): total and the longest one.
    write_s_total: float = 0.0
    write_s_max: float = 0.0
    #: How late the event loop ran a 50 ms timer: the longest, and how often by more than 100 ms (the
    #: process was busy or not scheduled). Tells ingest delays of the monitor from those before it.
    loop_lag_s_max: float = 0.0
    loop_stalls_100ms: int = 0
    last_error: str | None = field(default=None)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as it arrived: its record (``None`` when malformed or ignored) and how to ack it."""

    received: Received | None
    mid: int
    qos: int
    #: ``time.monotonic()`` at arrival: a batch fills for ``batch_wait_s`` from its first arrival.
    arrived_s: float
    #: The paho client of the connection it came on: an ack goes only to that same connection.
    conn: object


def enable_manual_ack(client: aiomqtt.Client) -> Any:
    """Switch the client to manual acknowledgements; returns its paho client (to call ``ack`` on).

    aiomqtt 2.5 does not expose paho's ``manual_ack``; its paho client is the private ``_client``
    attribute, which every aiomqtt 2.x release has (pinned in pyproject: ``aiomqtt>=2.3,<2.6``).
    Set before connecting, so not even the retained messages after the SUBACK are acked by paho.
    The loud check below turns a future aiomqtt that renames it into an error at start, never into
    silent automatic acknowledgements; ``tests/test_monitor_ack.py`` kills a monitor mid-batch.
    """
    paho = getattr(client, "_client", None)
    if paho is None or not callable(getattr(paho, "manual_ack_set", None)):
        raise RuntimeError(
            f"aiomqtt {getattr(aiomqtt, '__version__', '?')} hides its paho client differently: "
            "the monitor cannot acknowledge after storing (see coach/monitor/ingest.py)"
        )
    paho.manual_ack_set(True)
    return paho


def direct_delivery(handle: Callable[[aiomqtt.Message], None]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """A stand-in for aiomqtt's message queue (its public ``queue_type`` option) that hands each message
    to ``handle`` as paho's reader callback delivers it.

    Iterating ``client.messages`` costs a task and an ``asyncio.wait`` per message (several event-loop
    turns each); at a thousand messages a second that was a large share of the monitor's CPU, and CPU
    is what a busy machine lacks. The iterator is still used, only to learn of a disconnection.
    """

    class DirectDelivery(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            handle(item)

    return DirectDelivery


class ChangeFeed:
    """Wakes every waiter when new data was stored (server-sent event streams wait on it)."""

    def __init__(self) -> None:
        self.generation = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, generation: int, timeout_s: float) -> int:
        """Return once the generation moved past ``generation`` or after ``timeout_s``."""
        if self.generation == generation:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout_s)
        return self.generation


class Ingest:
    """Runs the subscriber and the batch writer until cancelled."""

    def __init__(
        self,
        db: Database,
        broker: BrokerSettings,
        *,
        client_id: str,
        shared_group: str | None = None,
        batch_max: int = 2000,
        batch_wait_s: float = 0.05,
        inflight_window: int | None = None,
        changes: ChangeFeed | None = None,
        on_stored: Callable[[StoreResult], None] | None = None,
    ) -> None:
        self.db = db
        self.broker = broker
        self.client_id = client_id
        self.shared_group = shared_group
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        default_window = DEFAULT_INFLIGHT_V5 if shared_group else DEFAULT_INFLIGHT_V311
        self.inflight_window = max(1, inflight_window or default_window)
        #: A batch closes at this many deliveries (half the window, see the module docstring).
        self.batch_cut = max(1, min(batch_max, self.inflight_window // 2))
        self.changes = changes or ChangeFeed()
        self.on_stored = on_stored
        self.stats = IngestStats()
        self.connected = asyncio.Event()
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._batch_ready = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._paho: Any = None
        self._inflight: list[Delivery] = []
        #: Deliveries taken from the broker and not yet acknowledged (queued or being written).
        self.unacked = 0
        self._all_acked = asyncio.Event()
        self._all_acked.set()
        self._sessions = SessionCache()

    @property
    def topic_filter(self) -> str:
        return f"$share/{self.shared_group}/{SUBSCRIPTION}" if self.shared_group else SUBSCRIPTION

    def _make_client(self) -> aiomqtt.Client:
        conn: list[Any] = []  # the paho client, once made: each delivery remembers its connection

        def deliver(message: aiomqtt.Message) -> None:
            self._handle(str(message.topic), message.payload, message.mid, message.qos, conn[0])

        common: dict[str, Any] = {
            **self.broker.client_kwargs(),
            "identifier": self.client_id,
            "keepalive": 30,
            "timeout": 10.0,
            "queue_type": direct_delivery(deliver),
        }
        if self.shared_group:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = min(self.inflight_window, 65535)
            client = aiomqtt.Client(
                **common,
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=False,
                properties=props,
            )
        else:
            client = aiomqtt.Client(
                **common,
                protocol=aiomqtt.ProtocolVersion.V311,
                clean_session=False,
            )
        conn.append(enable_manual_ack(client))
        return client

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_loop(), name="monitor-ingest-writer")
        probe = asyncio.create_task(self._watch_loop_lag(), name="monitor-loop-lag")
        try:
            await self._subscribe_loop()
        finally:
            probe.cancel()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await self._flush_remaining()

    async def _watch_loop_lag(self, period_s: float = 0.05) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + period_s
            await asyncio.sleep(period_s)
            lag_s = loop.time() - due
            self.stats.loop_lag_s_max = max(self.stats.loop_lag_s_max, lag_s)
            if lag_s > 0.1:
                self.stats.loop_stalls_100ms += 1

    async def _subscribe_loop(self) -> None:
        backoff_s = 0.5
        while True:
            try:
                client = self._make_client()
                # Before connecting: a persistent session's queued messages follow the CONNACK at once.
                self._paho = client._client  # see enable_manual_ack
                async with client:
                    self._client = client
                    await client.subscribe(self.topic_filter, qos=1)
                    self.stats.connects += 1
                    self.connected.set()
                    log.info("ingest: subscribed to %s on %s", self.topic_filter, self.broker.url)
                    backoff_s = 0.5
                    try:
                        async for _ in client.messages:  # nothing comes here (direct_delivery) ...
                            pass
                        # ... it ends (MqttError) when the connection drops
                    except asyncio.CancelledError:
                        await self._store_and_ack_received(timeout_s=5.0)
                        raise
            except aiomqtt.MqttError as exc:
                self.stats.last_error = str(exc)
                log.warning("ingest: broker %s: %s; retrying in %.1f s", self.broker.url, exc, backoff_s)
            finally:
                self._client = None
                self._paho = None
                self.connected.clear()
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 10.0)

    async def _store_and_ack_received(self, timeout_s: float) -> None:
        """On a clean stop: let the writer store and acknowledge what arrived, before disconnecting
        (what it cannot finish in time is simply delivered again on the next start)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._all_acked.wait()

    def _handle(self, topic: str, payload: object, mid: int = 0, qos: int = 0, conn: object = None) -> None:
        received_unix_s = time.time()
        self.unacked += 1
        self._all_acked.clear()
        record: Received | None = None
        try:
            record = self._validate(topic, payload, received_unix_s)
        finally:  # every delivery is queued: even a dropped one is acknowledged in arrival order
            self._queue.put_nowait(Delivery(record, mid, qos, time.monotonic(), conn))
            if self._queue.qsize() + 1 >= self.batch_cut:  # + the one the writer holds while waiting
                self._batch_ready.set()

    def _validate(self, topic: str, payload: object, received_unix_s: float) -> Received | None:
        self.stats.received += 1
        if isinstance(payload, str):
            data = payload.encode("utf-8")
        elif isinstance(payload, bytes | bytearray):
            data = bytes(payload)
        else:
            data = b"" if payload is None else str(payload).encode("utf-8")
        try:
            record = parse_message(topic, data)
        except MessageError as exc:
            self.stats.malformed += 1
            log.warning("ingest: dropped a message on %s: %s", exc.topic, exc.reason)
            return None
        if isinstance(record, Ignored):
            self.stats.ignored += 1
            return None
        return Received(record, received_unix_s)

    async def _next_batch(self) -> list[Delivery]:
        """Wait for a delivery, give the batch until ``batch_wait_s`` after that delivery's arrival to
        fill (or until it holds :attr:`batch_cut` deliveries), then take what is there.

        (One timed wait per batch instead of a timed ``get`` per record: at a thousand records a
        second the per-record timers and tasks cost more than the database writes.)
        """
        batch = [await self._queue.get()]
        # From the first one's arrival, not from now: after a long write, a batch that has waited
        # long enough already goes at once.
        wait_s = batch[0].arrived_s + self.batch_wait_s - time.monotonic()
        if wait_s > 0 and self._queue.qsize() + 1 < self.batch_cut:
            self._batch_ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._batch_ready.wait()
        while len(batch) < self.batch_cut and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    def _ack(self, batch: list[Delivery]) -> None:
        """Acknowledge a committed batch in arrival order, on the connection each message came on.

        A message whose connection has gone is not acknowledged: the broker delivers it again on the
        next connection of this persistent session (and its key makes the copy a duplicate).
        """
        paho: Any = self._paho
        for delivery in batch:
            if delivery.qos > 0 and paho is not None and delivery.conn is self._paho:
                paho.ack(delivery.mid, delivery.qos)
                self.stats.acked += 1

    async def _store(self, batch: list[Received]) -> None:
        backoff_s = 0.2
        while True:
            try:
                started = time.perf_counter()
                result = await store_batch(self.db, batch, self._sessions)
                write_s = time.perf_counter() - started
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away or refused the batch: keep it, retry
                self.stats.db_errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "ingest: storing %d records failed (%s); retrying in %.1f s", len(batch), exc, backoff_s
                )
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)
        self.stats.batches += 1
        self.stats.write_s_total += write_s
        self.stats.write_s_max = max(self.stats.write_s_max, write_s)
        self.stats.stored_new += result.events_new
        self.stats.duplicates += result.events_duplicate
        self.stats.statuses += result.statuses
        self.stats.cmd_results += result.cmd_results
        self.changes.bump()
        if self.on_stored is not None:
            self.on_stored(result)

    async def _write_loop(self) -> None:
        while True:
            self._inflight = batch = await self._next_batch()
            records = [d.received for d in batch if d.received is not None]
            if records:
                await self._store(records)
            self._ack(batch)
            self._inflight = []
            self.unacked -= len(batch)
            if self.unacked == 0:
                self._all_acked.set()

    async def _flush_remaining(self) -> None:
        """After the connection closed: store what is left (unacknowledged, so also delivered again)."""
        deliveries, self._inflight = self._inflight, []
        while not self._queue.empty():
            deliveries.append(self._queue.get_nowait())
        batch = [d.received for d in deliveries if d.received is not None]
        if batch:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(store_batch(self.db, batch), 10.0)

    @property
    def pending(self) -> int:
        """Validated records waiting for the database."""
        return self._queue.qsize()

    @property
    def mqtt_backlog(self) -> int:
        """Messages the MQTT client received but ingest has not looked at yet (none: they are handed
        over as they are read, see :func:`direct_delivery`)."""
        client = self._client
        return 0 if client is None else len(client.messages)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish through the ingest connection (targets, commands); raises when the broker is away."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise ConnectionError(f"not connected to the broker {self.broker.url}")
        await client.publish(topic, payload, qos=qos, retain=retain)
