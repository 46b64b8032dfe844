"""Reliable MQTT publishing with aiomqtt 2.x: spool first, send in order, delete on PUBACK, reconnect.

Every message handed to :meth:`Publisher.enqueue` is committed to the on-disk :class:`Spool` before
anything else happens; a sender task reads the spool in sequence order and publishes at QoS 1 with
up to ``max_inflight`` messages awaiting their PUBACK (paho writes them to the socket in call order,
and a broker acknowledges QoS 1 in the order it received them); a row is deleted only after its PUBACK.
When the connection drops, everything not acknowledged is sent again, in order, on the next one.

Connection handling follows the aiomqtt pain points (its issue tracker): a **new Client per
connection attempt** (reusing one across reconnects broke in aiomqtt 2.0.x); exponential backoff with
jitter; a **persistent session** (``clean_session=False`` and a stable client id) so commands sent
while the coach was offline are delivered when it returns; keepalive plus a timeout on every publish,
so a silently dead link is noticed; a bounded incoming queue. Retained state (the patient's
``status``) is not spooled: only its latest value matters, and it is sent again on every connection.
The last will sets the status to ``{"state": "offline"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from coach.mqtt.broker_config import BrokerSettings
from coach.mqtt.spool import Spool, SpoolRow

log = logging.getLogger("coach.mqtt")

MessageHandler = Callable[[str, bytes], Awaitable[None] | None]


class _DrainedError(Exception):
    """Raised inside the connection's task group to end it once a stop was asked and the spool is empty."""


@dataclass
class PublisherStats:
    """Counters for the terminal view, logs and benchmarks."""

    published: int = 0
    connects: int = 0
    connection_failures: int = 0
    last_error: str | None = None
    connected_since_monotonic: float | None = None
    drain_started_monotonic: float | None = None
    drained_monotonic: float | None = None
    pending: int = field(default=0)


class Publisher:
    """Spool-backed publisher and command subscriber for one patient's coach.

    Args:
        settings: broker address, TLS and credentials.
        spool: the on-disk outbox (owned by the caller, who closes it).
        client_id: stable MQTT client id (``coach-<patient>``): the persistent session's key.
        will: ``(topic, payload)`` of the last will (retained, QoS 1).
        subscriptions: topic filters to subscribe at QoS 1 on every connection.
        on_message: called with ``(topic, payload)`` for every message received; may be async.
        max_inflight: QoS 1 messages sent and not yet acknowledged.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        spool: Spool,
        *,
        client_id: str,
        will: tuple[str, bytes] | None = None,
        subscriptions: Sequence[str] = (),
        on_message: MessageHandler | None = None,
        protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V311,
        keepalive_s: int = 10,
        timeout_s: float = 5.0,
        max_inflight: int = 64,
        backoff_min_s: float = 0.25,
        backoff_max_s: float = 15.0,
        ack_batch: int = 128,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.client_id = client_id
        self.will = will
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.protocol = protocol
        self.keepalive_s = keepalive_s
        self.timeout_s = timeout_s
        self.max_inflight = max_inflight
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.ack_batch = ack_batch
        self.stats = PublisherStats()
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self._wake = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._retained: dict[str, bytes] = {}
        self._final_retained: dict[str, bytes] = {}
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._acked: list[int] = []
        self._run_task: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()

    # -- what callers use ------------------------------------------------------------------------
    def enqueue(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1) -> int:
        """Commit one message to the spool and wake the sender; return its sequence number."""
        seq = self.spool.append(topic, payload, qos=qos, retain=retain)
        self._drained.clear()
        self._wake.set()
        return seq

    def set_retained(self, topic: str, payload: bytes) -> None:
        """Latest-value retained state (not spooled): sent now if connected and on every reconnect."""
        if self._retained.get(topic) == payload:
            return
        self._retained[topic] = payload
        self._status_changed.set()

    def set_final_retained(self, topic: str, payload: bytes) -> None:
        """Retained value to publish just before a graceful disconnect (e.g. status offline)."""
        self._final_retained[topic] = payload

    @property
    def pending(self) -> int:
        """Messages in the spool not yet acknowledged (including those in flight)."""
        return len(self.spool)

    async def wait_drained(self, timeout_s: float | None = None) -> bool:
        """Wait until every spooled message was acknowledged; ``False`` on timeout."""
        if not len(self.spool):
            return True
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        if self._run_task is None:
            self._run_task = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")

    async def stop(self, drain_timeout_s: float = 5.0) -> bool:
        """Send what the spool holds (up to ``drain_timeout_s``), publish the final retained state,
        disconnect. Returns whether the spool was empty at the end; what is left stays on disk."""
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()
        task = self._run_task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), drain_timeout_s)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._run_task = None
        self._flush_acks()
        return len(self.spool) == 0

    async def __aenter__(self) -> Publisher:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the connection loop -----------------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        will = None
        if self.will is not None:
            will = aiomqtt.Will(self.will[0], self.will[1], qos=1, retain=True)
        client = aiomqtt.Client(
            **self.settings.client_kwargs(),
            identifier=self.client_id,
            clean_session=False,
            protocol=self.protocol,
            will=will,
            keepalive=self.keepalive_s,
            timeout=self.timeout_s,
            max_queued_incoming_messages=1000,
            max_inflight_messages=self.max_inflight,
        )
        # Up to max_inflight publishes await their PUBACK on purpose: not worth a warning each.
        client.pending_calls_threshold = self.max_inflight + 16
        return client

    async def _run(self) -> None:
        backoff_s = self.backoff_min_s
        while True:
            try:
                client = self._client()  # a new Client for every connection (aiomqtt #269, #288)
                async with client:
                    self.stats.connects += 1
                    self.stats.connected_since_monotonic = time.monotonic()
                    self.connected.set()
                    backoff_s = self.backoff_min_s
                    log.info("connected to %s as %s", self.settings.url, self.client_id)
                    await self._session(client)
                return  # drained after a stop request
            except* aiomqtt.MqttError as group:
                self._note_failure(group)
            except* OSError as group:  # e.g. TLS handshake failures surfacing as ssl.SSLError
                self._note_failure(group)
            finally:
                self.connected.clear()
                self.subscribed.clear()
                self.stats.connected_since_monotonic = None
                self._flush_acks()
            if self._stopping and self._stop_requested.is_set() and not len(self.spool):
                return
            delay_s = random.uniform(self.backoff_min_s, backoff_s)
            backoff_s = min(backoff_s * 2, self.backoff_max_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay_s)

    def _note_failure(self, group: BaseExceptionGroup[Any]) -> None:
        exc = group.exceptions[0]
        self.stats.connection_failures += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("MQTT link to %s lost or refused: %s", self.settings.url, self.stats.last_error)

    async def _session(self, client: aiomqtt.Client) -> None:
        if self.subscriptions:
            await client.subscribe([(topic, 1) for topic in self.subscriptions])
        self.subscribed.set()
        for topic, payload in list(self._retained.items()):
            await client.publish(topic, payload, qos=1, retain=True)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client))
                tg.create_task(self._send(client))
                tg.create_task(self._retained_loop(client))
        except* _DrainedError:
            pass
        for topic, payload in self._final_retained.items():
            await client.publish(topic, payload, qos=1, retain=True)

    async def _receive(self, client: aiomqtt.Client) -> None:
        # Raises MqttError when the connection drops: that ends the task group and reconnects.
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            if self.on_message is None:
                continue
            try:
                result = self.on_message(str(message.topic), payload)
                if result is not None:
                    await result
            except Exception:  # a handler bug must not take the link down; it is logged loudly
                log.exception("handler failed on a message from %s", message.topic)

    async def _retained_loop(self, client: aiomqtt.Client) -> None:
        sent = dict(self._retained)
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            for topic, payload in list(self._retained.items()):
                if sent.get(topic) != payload:
                    await client.publish(topic, payload, qos=1, retain=True)
                    sent[topic] = payload

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publish the spool in order, ``max_inflight`` at a time. The publish tasks are this
        coroutine's own: the first failure ends it (and with it the connection's task group) with
        that error, and whatever is still in flight is cancelled and sent again next time."""
        window = asyncio.Semaphore(self.max_inflight)
        tasks: set[asyncio.Task[None]] = set()
        failure: list[BaseException] = []

        def done(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if not task.cancelled() and task.exception() is not None and not failure:
                failure.append(task.exception())  # type: ignore[arg-type]
                self._wake.set()

        last_seq = 0
        try:
            while True:
                if failure:
                    raise failure[0]
                self._wake.clear()
                rows = self.spool.pending(after_seq=last_seq, limit=self.max_inflight)
                if not rows:
                    self._flush_acks()
                    if not tasks and not len(self.spool):
                        self._mark_drained()
                        if self._stopping:
                            raise _DrainedError
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.25)
                    continue
                if self.stats.drain_started_monotonic is None:
                    self.stats.drain_started_monotonic = time.monotonic()
                for row in rows:
                    await window.acquire()
                    if failure:
                        window.release()
                        break
                    # Tasks start in creation order, and each calls paho's publish before its first
                    # await, so messages hit the wire in spool order.
                    task = asyncio.create_task(self._publish_one(client, row, window))
                    tasks.add(task)
                    task.add_done_callback(done)
                    last_seq = row.seq
        finally:
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _publish_one(self, client: aiomqtt.Client, row: SpoolRow, window: asyncio.Semaphore) -> None:
        try:
            await client.publish(
                row.topic, row.payload, qos=row.qos, retain=row.retain, timeout=self.timeout_s
            )
        finally:
            window.release()
        self.stats.published += 1
        self._acked.append(row.seq)
        if len(self._acked) >= self.ack_batch:
            self._flush_acks()
        self._wake.set()

    def _flush_acks(self) -> None:
        if self._acked:
            acked, self._acked = self._acked, []
            self.spool.ack(acked)

    def _mark_drained(self) -> None:
        if not self._drained.is_set():
            self._drained.set()
            self.stats.drained_monotonic = time.monotonic()
            self.stats.drain_started_monotonic = None
