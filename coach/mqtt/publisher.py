"""Reliable MQTT publishing with aiomqtt 2.x: spool first, send in order, keep until a monitor confirms.

Every message handed to :meth:`Publisher.enqueue` is committed to the on-disk :class:`Spool` before
anything else happens; a sender task reads the spool in sequence order and publishes at QoS 1 with
up to ``max_inflight`` messages awaiting their PUBACK (paho writes them to the socket in call order,
and a broker acknowledges QoS 1 in the order it received them).

End to end: a broker's PUBACK is not the end of the road (a broker may crash before it saved the
message, drop it from a full queue, or hand it to a monitor instance that never returns). Session
events (``.../<s>/events``) carry a per-session delivery number ``seq`` and stay in the spool, marked
sent, until the monitor's retained ``coach/v1/<p>/stored`` receipt (:mod:`coach.mqtt.confirmations`)
covers them. What is not confirmed goes out again: on every new connection (after the retained receipt
had a moment to arrive), and while connected when a session's oldest sent event waited
``resend_after_s`` without a receipt (that wait doubles, up to ``resend_max_s``, while nothing new is
confirmed). Nothing is sent again before a monitor has confirmed anything at all to this spool (no
monitor, no resend storms: the spool's disk bound applies). Other messages (the retained summary copy,
``cmd_result``) leave the spool at their PUBACK.

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
import json
import logging
import random
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from coach.errors import ValidationError
from coach.events import encode
from coach.mqtt.broker_config import BrokerSettings
from coach.mqtt.confirmations import parse_stored
from coach.mqtt.outage_log import OutageLog
from coach.mqtt.spool import Spool, SpoolRow
from coach.mqtt.topics import ParsedTopic, PatientTopics, parse_topic

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
    #: Events a monitor confirmed (left the spool), and events sent again for want of a receipt.
    confirmed: int = 0
    resent: int = 0
    receipts: int = 0


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
        patient: whose receipts (``coach/v1/<p>/stored``) to follow; by default the patient of the
            ``will`` topic.
        resend_after_s, resend_max_s: how long the events beyond anything a receipt covers wait
            while the monitor's progress stands still before they go out again while connected
            (doubling up to the maximum while it stays still).
        hole_grace_s: how long an event below the highest stored one may be missing from the
            receipts before it goes out again.
        receipt_wait_s: after connecting, how long to wait for the retained receipt before sending
            again what it does not confirm.
        confirm_linger_s: on :meth:`stop`, how long to wait for the receipt of the last events.
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
        patient: str | None = None,
        resend_after_s: float = 30.0,
        resend_max_s: float = 600.0,
        hole_grace_s: float = 10.0,
        receipt_wait_s: float = 1.0,
        confirm_linger_s: float = 3.0,
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
        #: Why the spool can no longer be written (a full or read-only disk); sending stopped then.
        self.spool_error: str | None = None
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.ack_batch = ack_batch
        if patient is None and will is not None:
            with contextlib.suppress(ValidationError):
                patient = parse_topic(will[0]).patient
        self.receipt_topic = None if patient is None else PatientTopics(patient).stored
        self.resend_after_s = resend_after_s
        self.resend_max_s = resend_max_s
        self.hole_grace_s = hole_grace_s
        self.receipt_wait_s = receipt_wait_s
        self.confirm_linger_s = confirm_linger_s
        self.stats = PublisherStats()
        self._outage_log = OutageLog(log, self.settings.url)
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
        self._receipt = asyncio.Event()
        self._confirmed_all = asyncio.Event()
        self._rewind = False
        self._linger_until = 0.0
        #: Per session (patient, session): the highest event a receipt said is stored, and when
        #: that last moved (``time.monotonic()``); the current wait before the tail goes out again.
        self._stored_max: dict[tuple[str, str], tuple[int, float]] = {}
        self._tail_wait: dict[tuple[str, str], float] = {}
        #: Delivery numbers of the latest summaries, for their retained copy on ``.../summary``.
        self._summary_seq: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        self._last_topic: tuple[str, ParsedTopic | None] | None = None

    # -- what callers use ------------------------------------------------------------------------
    def enqueue(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1) -> int:
        """Commit one message to the spool and wake the sender; return its sequence number.

        A session event (QoS 1 on ``.../<s>/events``) gets its delivery number ``seq`` and stays until
        a monitor confirms it; the retained summary copy gets the same ``seq`` as the summary event."""
        seq = self._append(topic, payload, retain=retain, qos=qos)
        self._drained.clear()
        self._wake.set()
        return seq

    def _parsed(self, topic: str) -> ParsedTopic | None:
        """``parse_topic(topic)``, or ``None`` for a topic it refuses; the last answer is kept (a
        session's events all go to one topic)."""
        if self._last_topic is not None and self._last_topic[0] == topic:
            return self._last_topic[1]
        try:
            parsed: ParsedTopic | None = parse_topic(topic)
        except ValidationError:
            parsed = None
        self._last_topic = (topic, parsed)
        return parsed

    def _append(self, topic: str, payload: bytes, *, retain: bool, qos: int) -> int:
        parsed = self._parsed(topic)
        if parsed is None or parsed.session is None or qos < 1:
            return self.spool.append(topic, payload, qos=qos, retain=retain)
        if parsed.kind == "events" and not retain:
            seq, event_seq = self.spool.append_event(topic, parsed.patient, parsed.session, payload)
            self._confirmed_all.clear()
            # Only a payload that holds the word can be a summary (no need to parse every event).
            doc = _json_object(payload) if b'"summary"' in payload else None
            if doc is not None and doc.get("type") == "summary":
                self._summary_seq[(parsed.patient, parsed.session, str(doc.get("id")))] = event_seq
                while len(self._summary_seq) > 16:
                    self._summary_seq.popitem(last=False)
            return seq
        if parsed.kind == "summary":
            doc = _json_object(payload)
            known = (
                None
                if doc is None
                else self._summary_seq.get((parsed.patient, parsed.session, str(doc.get("id"))))
            )
            if doc is not None and known is not None:
                doc["seq"] = known
                payload = encode(doc)
        return self.spool.append(topic, payload, qos=qos, retain=retain)

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
        """Messages in the spool the broker has not acknowledged yet (including those in flight)."""
        return self.spool.unsent()

    @property
    def unconfirmed(self) -> int:
        """Session events no monitor has confirmed yet (sent or not)."""
        return self.spool.unconfirmed()

    async def wait_drained(self, timeout_s: float | None = None) -> bool:
        """Wait until the broker acknowledged every spooled message; ``False`` on timeout."""
        if not self.spool.unsent():
            return True
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def wait_confirmed(self, timeout_s: float | None = None) -> bool:
        """Wait until a monitor confirmed every session event in the spool; ``False`` on timeout."""
        if not self.spool.unconfirmed():
            return True
        self._confirmed_all.clear()
        try:
            await asyncio.wait_for(self._confirmed_all.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        if self._run_task is None:
            self._run_task = asyncio.create_task(self._run(), name=f"mqtt-{self.client_id}")

    async def stop(self, drain_timeout_s: float = 5.0) -> bool:
        """Send what the spool holds (up to ``drain_timeout_s``; then wait up to ``confirm_linger_s``
        of that for a monitor's receipt of the last events, when a monitor ever confirmed anything),
        publish the final retained state, disconnect. Returns whether the broker acknowledged
        everything; what is left, or not confirmed, stays on disk for the next run."""
        self._stopping = True
        self._linger_until = time.monotonic() + min(self.confirm_linger_s, drain_timeout_s)
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
        unsent = self.spool.unsent()
        if unsent:
            log.warning("%d events kept, sent next time (%s)", unsent, self.spool.path)
        left = self.spool.unconfirmed()
        if left:
            log.info(
                "%d event(s) wait for a monitor's receipt in %s; sent again later", left, self.spool.path
            )
        return self.spool.unsent() == 0

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
            spool_failed: BaseException | None = None
            try:
                client = self._client()  # a new Client for every connection (aiomqtt #269, #288)
                async with client:
                    self.stats.connects += 1
                    self.stats.connected_since_monotonic = time.monotonic()
                    self.connected.set()
                    backoff_s = self.backoff_min_s
                    self._outage_log.connected(self.client_id)
                    await self._session(client)
                return  # drained after a stop request
            except* aiomqtt.MqttError as group:
                self._note_failure(group)
            except* sqlite3.Error as group:  # the spool's disk is full or read-only
                spool_failed = group.exceptions[0]
            except* OSError as group:  # e.g. TLS handshake failures surfacing as ssl.SSLError
                self._note_failure(group)
            finally:
                self.connected.clear()
                self.subscribed.clear()
                self.stats.connected_since_monotonic = None
                with contextlib.suppress(sqlite3.Error):
                    self._flush_acks()
            if spool_failed is not None:
                folder = self.spool.path.parent
                why = f"{spool_failed} (is the disk full or read-only?)"
                self.spool_error = f"cannot write the delivery spool in {folder}: {why}"
                log.error("%s", self.spool_error)
                return
            if self._stopping and self._stop_requested.is_set() and not self.spool.unsent():
                return
            delay_s = random.uniform(self.backoff_min_s, backoff_s)
            backoff_s = min(backoff_s * 2, self.backoff_max_s)
            if self._stop_requested.is_set():  # draining: still one attempt per backoff, never a flood
                await asyncio.sleep(delay_s)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay_s)

    def _note_failure(self, group: BaseExceptionGroup[Any]) -> None:
        exc = group.exceptions[0]
        self.stats.connection_failures += 1
        self.stats.last_error = error = f"{type(exc).__name__}: {exc}"
        self._outage_log.failed(error)

    async def _session(self, client: aiomqtt.Client) -> None:
        filters = list(self.subscriptions)
        if self.receipt_topic is not None:
            filters.append(self.receipt_topic)
        self._receipt.clear()
        if filters:
            await client.subscribe([(topic, 1) for topic in filters])
        self.subscribed.set()
        for topic, payload in list(self._retained.items()):
            await client.publish(topic, payload, qos=1, retain=True)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client))
                tg.create_task(self._send(client))
                tg.create_task(self._retained_loop(client))
                if self.receipt_topic is not None:
                    tg.create_task(self._resend_loop())
        except* _DrainedError:
            pass
        for topic, payload in self._final_retained.items():
            await client.publish(topic, payload, qos=1, retain=True)

    async def _receive(self, client: aiomqtt.Client) -> None:
        # Raises MqttError when the connection drops: that ends the task group and reconnects.
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            topic = str(message.topic)
            if topic == self.receipt_topic:
                self._on_receipt(payload)
                continue
            if self.on_message is None:
                continue
            try:
                result = self.on_message(topic, payload)
                if result is not None:
                    await result
            except Exception:  # a handler bug must not take the link down; it is logged loudly
                log.exception("handler failed on a message from %s", message.topic)

    def _on_receipt(self, payload: bytes) -> None:
        """A monitor's receipt: remove what it stored from the spool."""
        self._receipt.set()
        if not payload:
            return  # a cleared retained receipt
        try:
            receipts = parse_stored(payload)
        except ValueError as exc:
            log.warning("ignored a malformed receipt on %s: %s", self.receipt_topic, exc)
            return
        assert self.receipt_topic is not None
        patient = parse_topic(self.receipt_topic).patient
        self.stats.receipts += 1
        for session, receipt in receipts.items():
            self.stats.confirmed += self.spool.confirm(patient, session, receipt.through, receipt.ranges)
            key = (patient, session)
            top = max([receipt.through, *(hi for _, hi in receipt.ranges)])
            if top > self._stored_max.get(key, (0, 0.0))[0]:
                self._stored_max[key] = (top, time.monotonic())
                self._tail_wait.pop(key, None)
        if not self.spool.unconfirmed():
            self._confirmed_all.set()

    async def _resend_loop(self) -> None:
        """Send again what no receipt covers: everything once after connecting (the retained receipt
        had its moment), then per session (docs/mqtt.md, "End to end"):

        - *holes*: events below the highest one the monitor stored, sent ``hole_grace_s`` ago and
          still not stored (a broker delivers one client's messages in order: they were lost);
        - *the tail*: events beyond anything stored, when the monitor's highest stored event has not
          moved for ``resend_after_s`` (doubling up to ``resend_max_s`` while it stays put): the
          monitor is away or the broker lost them. A monitor that is catching up moves it, and is
          left alone.
        """
        if self.spool.monitor_seen and self.spool.waiting():
            connected_at = time.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._receipt.wait(), self.receipt_wait_s)
            self._requeue(self.spool.requeue(sent_before_unix_s=connected_at), "after reconnecting")
        tick_s = max(0.05, min(1.0, self.hole_grace_s / 4, self.resend_after_s / 4))
        started = time.monotonic()
        while True:
            await asyncio.sleep(tick_s)
            if not self.spool.monitor_seen:
                continue
            now, mono = time.time(), time.monotonic()
            for stream in self.spool.waiting():
                key = (stream.patient, stream.session)
                top, moved_at = self._stored_max.get(key, (0, started))
                if top > 0:
                    n = self.spool.requeue(
                        *key, sent_before_unix_s=now - self.hole_grace_s, sseq_range=(1, top)
                    )
                    self._requeue(n, f"for holes in session {stream.session}")
                wait_s = self._tail_wait.get(key, self.resend_after_s)
                if mono - max(moved_at, started) < wait_s:
                    continue
                n = self.spool.requeue(*key, sent_before_unix_s=now - wait_s, sseq_range=(top + 1, 2**62))
                if n:
                    self._requeue(n, f"for session {stream.session} after {wait_s:.0f} s without a receipt")
                    self._tail_wait[key] = min(wait_s * 2, self.resend_max_s)
                    self._stored_max[key] = (top, mono)  # the next try after the longer wait

    def _requeue(self, n: int, why: str) -> None:
        if n:
            self.stats.resent += n
            log.info("sending %d unconfirmed event(s) again %s", n, why)
            self._rewind = True
            self._drained.clear()
            self._wake.set()

    async def _retained_loop(self, client: aiomqtt.Client) -> None:
        sent = dict(self._retained)
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            for topic, payload in list(self._retained.items()):
                if sent.get(topic) != payload:
                    await client.publish(topic, payload, qos=1, retain=True)
                    sent[topic] = payload

    def _finished(self) -> bool:
        """A stop was asked and there is nothing left to wait for."""
        if not self._stopping:
            return False
        if not self.spool.monitor_seen or not self.spool.unconfirmed() or self.receipt_topic is None:
            return True
        return time.monotonic() >= self._linger_until

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publish the spool in order, ``max_inflight`` at a time. The publish tasks are this
        coroutine's own: the first failure ends it (and with it the connection's task group) with
        that error, and whatever is still in flight is cancelled and sent again next time."""
        window = asyncio.Semaphore(self.max_inflight)
        tasks: dict[int, asyncio.Task[None]] = {}
        failure: list[BaseException] = []

        def done(task: asyncio.Task[None]) -> None:
            error = None if task.cancelled() else task.exception()
            if error is not None and not failure:
                failure.append(error)
                self._wake.set()

        last_seq = 0
        try:
            while True:
                if failure:
                    raise failure[0]
                self._wake.clear()
                if self._rewind:  # rows were marked unsent again: read the spool from its start
                    self._flush_acks()  # (acknowledged rows must not look unsent when read again)
                    self._rewind, last_seq = False, 0
                rows = self.spool.pending(after_seq=last_seq, limit=self.max_inflight)
                fresh = [r for r in rows if r.seq not in tasks]
                if rows and not fresh:
                    last_seq = rows[-1].seq
                    continue
                if not rows:
                    self._flush_acks()
                    if not tasks and not self.spool.unsent():
                        self._mark_drained()
                        if self._finished():
                            raise _DrainedError
                    # wait_for, not asyncio.timeout (which would save a task per wait): on Python 3.11
                    # asyncio.timeout decides timeout-or-cancel by the task's cancel count, so a task that
                    # has absorbed an earlier cancel can see its own timeout as a cancel (or the other way
                    # round). A CI run with it lost the coach's offline status and hung at shutdown (not
                    # reproduced in isolation), and the CPU it saved was small: the proven wait is back.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.25)
                    continue
                if self.stats.drain_started_monotonic is None:
                    self.stats.drain_started_monotonic = time.monotonic()
                for row in fresh:
                    await window.acquire()
                    if failure:
                        window.release()
                        break
                    # Tasks start in creation order, and each calls paho's publish before its first
                    # await, so messages hit the wire in spool order.
                    task = asyncio.create_task(self._publish_one(client, row, window, tasks))
                    tasks[row.seq] = task
                    task.add_done_callback(done)
                    last_seq = row.seq
        finally:
            for task in list(tasks.values()):
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _publish_one(
        self, client: aiomqtt.Client, row: SpoolRow, window: asyncio.Semaphore, tasks: dict[int, Any]
    ) -> None:
        try:
            await client.publish(
                row.topic, row.payload, qos=row.qos, retain=row.retain, timeout=self.timeout_s
            )
        finally:
            window.release()
            tasks.pop(row.seq, None)
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


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None
