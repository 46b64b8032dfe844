"""MQTT ingest: subscribe to the coaches' topics, validate every message, store in batches.

One aiomqtt client with a persistent session (a fixed client id and ``clean_session=False``, or with
MQTT 5 ``clean_start=False`` and a session expiry) so QoS 1 messages published while the monitor was
away are delivered when it returns. With a shared-subscription group (MQTT 5, e.g. Mosquitto 2) several
monitor instances split the messages; the database keys make a redelivered message harmless.

A message that fails validation is acknowledged, logged once with its topic and reason, and kept in
the quarantine table (:mod:`coach.monitor.quarantine`); ingest goes on. A database error keeps the
batch and retries it, so nothing validated is lost while the database is briefly away; a batch that
keeps failing is stored record by record, and a record the database refuses on its own goes to the
quarantine, so no single message can stop ingest.

After each commit, the delivery numbers stored feed the receipts (:mod:`coach.monitor.receipts`) the
coaches wait for before they drop events from their spools.

Acknowledge after commit: every QoS 1 message is acknowledged (PUBACK) only once the transaction that
stored it has committed, or once it was judged malformed or a duplicate. A monitor killed between
arrival and commit has acknowledged nothing of those messages, so the broker hands them over again
to the same persistent session (the event keys make a second copy harmless). The broker sends at most
its in-flight window of unacknowledged messages; a batch is therefore closed at half that window
(so the next half arrives while the first is written), never waiting for more than the broker sends.

Receive path (:mod:`coach.monitor.paho_io`): paho's socket reads are buffered, whole PUBLISH packets
go from the buffer straight to :meth:`Ingest._handle` (validation happens there, on the event loop,
as each message arrives), and a committed batch's PUBACKs leave in one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coach.monitor import quarantine
from coach.monitor.db import Database
from coach.monitor.ingest_store import Quarantined, Received, SessionCache, StoreResult, store_batch
from coach.monitor.messages import (
    CmdResultRecord,
    EventRecord,
    Ignored,
    MessageError,
    StatusRecord,
    parse_message,
)
from coach.monitor.paho_io import BufferedReads, ack_batch
from coach.monitor.receipts import Receipts
from coach.mqtt.broker_config import BrokerSettings

log = logging.getLogger("coach.monitor.ingest")

#: What coaches publish (not ``#``: the monitor's own retained receipts, targets and commands would
#: come back to it).
SUBSCRIPTIONS: Final = (
    "coach/v1/+/+/events",
    "coach/v1/+/+/summary",
    "coach/v1/+/status",
    "coach/v1/+/cmd_result",
)
#: Consecutive failures of a whole batch before it is stored record by record.
ISOLATE_AFTER: Final = 2
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
    #: Messages quarantined (failed validation, or refused by the database on their own).
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


@dataclass(slots=True)
class Delivery:
    """One message as it arrived: its record (``None`` when malformed or ignored) and how to ack it."""

    received: Received | None
    quarantined: Quarantined | None
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
        receipt_interval_s: float = 5.0,
        broker_resolver: Callable[[], BrokerSettings] | None = None,
    ) -> None:
        self.db = db
        self.broker = broker
        #: When given, asked for the broker before every connection attempt (a monitor started with
        #: no --broker follows the embedded broker of a coach on this machine once one starts).
        self.broker_resolver = broker_resolver
        #: When the link to the broker last went up or down (for the dashboard's banner).
        self.link_changed_unix_s = time.time()
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
        #: Deliveries waiting for the writer, in arrival order.
        self._queue: deque[Delivery] = deque()
        self._arrived = asyncio.Event()
        self._batch_ready = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._paho: Any = None
        self._inflight: list[Delivery] = []
        #: Deliveries taken from the broker and not yet acknowledged (queued or being written).
        self.unacked = 0
        self._all_acked = asyncio.Event()
        self._all_acked.set()
        self._sessions = SessionCache()
        self._quarantine_log = quarantine.QuarantineLog()
        self._quarantined_since_prune = 0
        self.receipts = Receipts(db, self._publish_receipt, min_interval_s=receipt_interval_s)

    @property
    def topic_filters(self) -> list[str]:
        prefix = f"$share/{self.shared_group}/" if self.shared_group else ""
        return [prefix + f for f in SUBSCRIPTIONS]

    async def _publish_receipt(self, topic: str, payload: bytes) -> None:
        await self.publish(topic, payload, qos=1, retain=True)

    def _make_client(self) -> aiomqtt.Client:
        common: dict[str, Any] = {
            **self.broker.client_kwargs(),
            "identifier": self.client_id,
            "keepalive": 30,
            "timeout": 10.0,
            # Receipts go out a hundred at a time: let that many be in flight, without a warning each.
            "max_inflight_messages": 200,
        }
        if self.shared_group:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho ships no annotations here
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
        paho = enable_manual_ack(client)

        def deliver(topic: str, payload: bytes, mid: int, qos: int) -> None:
            self._handle(topic, payload, mid, qos, paho)

        # Many packets per system call, each PUBLISH straight to _handle (coach/monitor/paho_io.py).
        BufferedReads(paho, deliver)
        client.pending_calls_threshold = 10_000  # aiomqtt logs a warning per publish above this
        return client

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_loop(), name="monitor-ingest-writer")
        probe = asyncio.create_task(self._watch_loop_lag(), name="monitor-loop-lag")
        receipts = asyncio.create_task(self.receipts.run(), name="monitor-receipts")
        try:
            await self._subscribe_loop()
        finally:
            probe.cancel()
            receipts.cancel()
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
            if self.broker_resolver is not None:
                with contextlib.suppress(Exception):
                    found = self.broker_resolver()
                    if found.url != self.broker.url:
                        log.warning("ingest: the broker is now %s (was %s)", found.url, self.broker.url)
                        self.broker = found
            try:
                client = self._make_client()
                # Before connecting: a persistent session's queued messages follow the CONNACK at once.
                self._paho = client._client  # see enable_manual_ack
                async with client:
                    self._client = client
                    await client.subscribe([(f, 1) for f in self.topic_filters])
                    self.stats.connects += 1
                    self.connected.set()
                    self.link_changed_unix_s = time.time()
                    log.info("ingest: subscribed to %s on %s", ", ".join(self.topic_filters), self.broker.url)
                    backoff_s = 0.5
                    try:
                        async for _ in client.messages:  # nothing comes here (deliver_directly) ...
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
                if self.connected.is_set():
                    self.link_changed_unix_s = time.time()
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
        record: Received | Quarantined | None = None
        try:
            record = self._validate(topic, payload, received_unix_s)
        except Exception as exc:  # never let anything out into paho's callback
            reason = f"unexpected {type(exc).__name__} in validation"
            record = Quarantined(topic, reason, b"", received_unix_s)
        finally:  # every delivery is queued: even a dropped one is acknowledged in arrival order
            good = record if isinstance(record, Received) else None
            bad = record if isinstance(record, Quarantined) else None
            queue = self._queue
            queue.append(Delivery(good, bad, mid, qos, time.monotonic(), conn))
            if len(queue) == 1:
                self._arrived.set()
            if len(queue) >= self.batch_cut:
                self._batch_ready.set()

    def _validate(self, topic: str, payload: object, received_unix_s: float) -> Received | Quarantined | None:
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
            return Quarantined(topic, exc.reason, data, received_unix_s)
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
        queue = self._queue
        while not queue:
            self._arrived.clear()
            await self._arrived.wait()
        # From the first one's arrival, not from now: after a long write, a batch that has waited
        # long enough already goes at once.
        wait_s = queue[0].arrived_s + self.batch_wait_s - time.monotonic()
        if wait_s > 0 and len(queue) < self.batch_cut:
            self._batch_ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._batch_ready.wait()
        return [queue.popleft() for _ in range(min(len(queue), self.batch_cut))]

    def _ack(self, batch: list[Delivery]) -> None:
        """Acknowledge a committed batch in arrival order, on the connection each message came on.

        A message whose connection has gone is not acknowledged: the broker delivers it again on the
        next connection of this persistent session (and its key makes the copy a duplicate).
        """
        paho: Any = self._paho
        if paho is not None:
            self.stats.acked += ack_batch(
                paho, [(d.mid, d.qos) for d in batch if d.qos > 0 and d.conn is paho]
            )

    async def _store(self, batch: list[Received], bad: list[Quarantined]) -> None:
        backoff_s = 0.2
        failures = 0
        while True:
            try:
                started = time.perf_counter()
                if failures >= ISOLATE_AFTER and batch:
                    result = await self._store_one_by_one(batch, bad)
                else:
                    result = await store_batch(self.db, batch, self._sessions, bad)
                write_s = time.perf_counter() - started
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away or refused the batch: keep it, retry
                failures += 1
                self.stats.db_errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "ingest: storing %d records failed (%s); retrying in %.1f s", len(batch), exc, backoff_s
                )
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)
        for q in bad:
            self._quarantine_log.note(q.topic, q.reason)
        self.stats.malformed += result.quarantined
        self.stats.batches += 1
        self.stats.write_s_total += write_s
        self.stats.write_s_max = max(self.stats.write_s_max, write_s)
        self.stats.stored_new += result.events_new
        self.stats.duplicates += result.events_duplicate
        self.stats.statuses += result.statuses
        self.stats.cmd_results += result.cmd_results
        self.receipts.note(result)
        self.changes.bump()
        if self.on_stored is not None:
            self.on_stored(result)
        self._quarantined_since_prune += result.quarantined
        if self._quarantined_since_prune >= 1000:
            self._quarantined_since_prune = 0
            with contextlib.suppress(Exception):
                await quarantine.prune(self.db)

    async def _store_one_by_one(self, batch: list[Received], bad: list[Quarantined]) -> StoreResult:
        """A batch that keeps failing: each record in its own transaction. One the database refuses
        goes to the quarantine with the database's reason; if every record fails (the database is
        away), the error goes up and the whole batch is tried again later."""
        parts: list[StoreResult] = []
        refused: list[Quarantined] = []
        last_error: Exception | None = None
        for item in batch:
            try:
                parts.append(await store_batch(self.db, [item], self._sessions))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                last_error = exc
                refused.append(
                    Quarantined(
                        _record_topic(item),
                        f"the database refused it: {type(exc).__name__}: {str(exc)[:300]}",
                        _record_payload(item),
                        item.received_unix_s,
                    )
                )
        if not parts and last_error is not None:
            raise last_error
        bad.extend(refused)
        tail = await store_batch(self.db, [], None, bad)
        seqs: dict[tuple[str, str], list[int]] = {}
        for part in parts:
            for key, values in part.stored_seqs.items():
                seqs.setdefault(key, []).extend(values)
        return StoreResult(
            events_new=sum(p.events_new for p in parts),
            events_duplicate=sum(p.events_duplicate for p in parts),
            statuses=sum(p.statuses for p in parts),
            cmd_results=sum(p.cmd_results for p in parts),
            stored_seqs=seqs,
            summaries=frozenset().union(*(p.summaries for p in parts)),
            quarantined=tail.quarantined,
        )

    async def _write_loop(self) -> None:
        while True:
            self._inflight = batch = await self._next_batch()
            records = [d.received for d in batch if d.received is not None]
            bad = [d.quarantined for d in batch if d.quarantined is not None]
            if records or bad:
                await self._store(records, bad)
            self._ack(batch)
            self._inflight = []
            self.unacked -= len(batch)
            if self.unacked == 0:
                self._all_acked.set()

    async def _flush_remaining(self) -> None:
        """After the connection closed: store what is left (unacknowledged, so also delivered again)."""
        deliveries, self._inflight = self._inflight, []
        deliveries.extend(self._queue)
        self._queue.clear()
        batch = [d.received for d in deliveries if d.received is not None]
        bad = [d.quarantined for d in deliveries if d.quarantined is not None]
        if batch or bad:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(store_batch(self.db, batch, None, bad), 10.0)

    @property
    def pending(self) -> int:
        """Validated records waiting for the database."""
        return len(self._queue)

    @property
    def mqtt_backlog(self) -> int:
        """Messages the MQTT client received but ingest has not looked at yet (none: they are handed
        over as they are read, see :func:`coach.monitor.paho_io.deliver_directly`)."""
        client = self._client
        return 0 if client is None else len(client.messages)

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish through the ingest connection (targets, commands); raises when the broker is away."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise ConnectionError(f"not connected to the broker {self.broker.url}")
        await client.publish(topic, payload, qos=qos, retain=retain)


def _record_topic(item: Received) -> str:
    rec = item.record
    if isinstance(rec, EventRecord):
        kind = "summary" if rec.event.get("type") == "summary" else "events"
        return f"coach/v1/{rec.patient_id}/{rec.session_id}/{kind}"
    if isinstance(rec, StatusRecord):
        return f"coach/v1/{rec.patient_id}/status"
    if isinstance(rec, CmdResultRecord):
        return f"coach/v1/{rec.patient_id}/cmd_result"
    return "coach/v1/?"


def _record_payload(item: Received) -> bytes:
    rec = item.record
    if isinstance(rec, EventRecord):
        return (rec.text or json.dumps(rec.event)).encode("utf-8", "replace")
    if isinstance(rec, StatusRecord):
        return json.dumps(rec.status).encode("utf-8", "replace")
    if isinstance(rec, CmdResultRecord):
        doc = {"cmd_id": rec.cmd_id, "ok": rec.ok, "reason": rec.reason}
        return json.dumps(doc).encode("utf-8", "replace")
    return b""
