"""The monitor's receive path on paho (inside aiomqtt): many packets per system call, PUBLISH messages
handed straight to ingest, a committed batch acknowledged in one write.

paho reads a packet with three ``recv`` calls (type byte, length bytes, body) and, as aiomqtt drives
it, one packet per readiness callback of the event loop; each acknowledgement is a packet of its own,
sent with its own ``send``. At thousands of messages a second that, and aiomqtt's conversion of each
message into its own ``Message`` (with its topic checked again), was more than half of the monitor's
CPU (docs/monitor.md, "Measured"). Here:

- :class:`BufferedReads` gives paho's ``_sock_recv`` a 64 KiB read buffer, and makes each of
  aiomqtt's read callbacks go on until the buffer is empty (the socket is level-triggered: what is
  still in the kernel wakes the loop again);
- :func:`deliver_directly` sets paho's ``on_message`` to the ingest's own handler;
- :func:`ack_batch` queues the PUBACKs of a batch, in arrival order, as one write in paho's own
  outgoing queue (so it never interleaves with a packet paho is writing).

The acknowledgement semantics do not change: each message is acknowledged only after its batch
committed, on the connection it came on (``tests/test_monitor_ack.py`` kills a monitor mid-batch).
These reach into paho's private ``_sock``, ``_sock_recv``, ``loop_read`` and ``_packet_queue``
(paho-mqtt is pinned ``>=2.0,<3``); :func:`check_paho` turns a paho without them into an error at
start, never into a silently different path.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
from collections.abc import Callable, Sequence
from typing import Any, Final

from paho.mqtt.client import PUBACK, PUBLISH, MQTTv5, time_func

#: Bytes asked of the socket per ``recv`` (a few hundred coach messages).
READ_CHUNK: Final = 64 * 1024
#: Socket reads per wake-up of the event loop: then other tasks (the writer) get their turn.
FILLS_PER_WAKE: Final = 1
log = logging.getLogger("coach.monitor.paho_io")
_PUBACK: Final = struct.Struct("!BBH")
_PUBLISH: Final = PUBLISH >> 4
#: Why the fast path stopped (see BufferedReads._take_publishes).
_PAHO: Final = "paho"
_WAIT: Final = "wait"
_BUDGET: Final = "budget"
_MORE: Final = "more"
_NEEDED: Final = ("_sock_recv", "loop_read", "_packet_queue", "manual_ack_set", "ack")


def check_paho(paho: Any) -> None:
    """Raise at start when this paho lacks what the fast path uses (see the module docstring)."""
    missing = [name for name in _NEEDED if not callable(getattr(paho, name, None))]
    attrs = ("_sock", "_in_packet", "_msgtime_mutex", "_last_bytes_received", "_protocol")
    missing += [name for name in attrs if not hasattr(paho, name)]
    if missing:
        raise RuntimeError(
            f"paho-mqtt without {', '.join(missing)}: the monitor's receive path "
            "(coach/monitor/paho_io.py) does not fit this version"
        )


Handle = Callable[[str, bytes, int, int], None]


class BufferedReads:
    """Installs a read buffer under one paho client (one per connection), and with ``handle`` the
    PUBLISH fast path (see :meth:`loop_read`)."""

    def __init__(self, paho: Any, handle: Handle | None = None) -> None:
        check_paho(paho)
        self._paho = paho
        self._buf = b""
        self._pos = 0
        self._sock: object = None
        self.recv_calls = 0
        #: PUBLISH packets parsed here (the others went through paho).
        self.fast = 0
        self._handle = handle
        self._resume_pending = False
        self._v5 = int(getattr(paho, "_protocol", 0)) == MQTTv5
        self._loop_read_one: Callable[..., int] = paho.loop_read
        paho._sock_recv = self.recv
        paho.loop_read = self.loop_read
        if handle is not None:
            deliver_directly(paho, handle)

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def recv(self, bufsize: int) -> bytes:
        """paho's ``_sock_recv``: up to ``bufsize`` bytes, from the buffer when it holds any."""
        sock = self._paho._sock
        if sock is None:
            raise ConnectionError("self._sock is None")
        if sock is not self._sock:  # a new connection: nothing of the old one's bytes belongs to it
            self._sock, self._buf, self._pos = sock, b"", 0
        if self._pos >= len(self._buf):
            try:
                data = sock.recv(READ_CHUNK)
            except ssl.SSLWantReadError as err:
                raise BlockingIOError() from err
            except ssl.SSLWantWriteError as err:
                self._paho._call_socket_register_write()
                raise BlockingIOError() from err
            self.recv_calls += 1
            if not data:
                return b""  # the broker closed the connection
            self._buf, self._pos = data, 0
        start = self._pos
        self._pos = min(start + bufsize, len(self._buf))
        return self._buf[start : self._pos]

    def loop_read(self, max_packets: int = 1) -> int:
        """paho's ``loop_read``, repeated while bytes wait in the buffer.

        Whole QoS 0/1 PUBLISH packets without MQTT 5 properties, found in the buffer while paho is
        between packets, go straight to ``handle`` (:meth:`_take_publishes`): what paho would do
        with them under manual acknowledgement is exactly that call. A PUBLISH cut by the end of a
        read waits in the buffer for the rest. Every other packet (CONNACK, SUBACK, PUBACK of a
        receipt, PINGRESP, QoS 2, a PUBLISH with properties) is left to paho, which reads it from
        the same buffer."""
        paho = self._paho
        if self._handle is None:
            return self._loop_read_one(max_packets)
        if self._pos >= len(self._buf) and paho._sock is not None:
            try:
                self.recv(0)  # fills the buffer (the first packet, too, goes the fast way)
            except BlockingIOError:
                return 0  # a spurious wake-up: nothing to read
            except OSError:
                pass  # paho meets the same error and handles it
        if self._pos >= len(self._buf):  # closed by the broker, or failed: paho's read notices it
            return self._loop_read_one(max_packets)
        first_fill = self.recv_calls
        rc = 0
        while paho._sock is not None and self._pos < len(self._buf):
            if paho._in_packet["command"] == 0:
                cut = self._take_publishes(top_up=self.recv_calls - first_fill < FILLS_PER_WAKE)
                if self._pos >= len(self._buf):
                    break
                if cut == _WAIT:
                    break  # the rest of the packet wakes the reader when it comes
                if cut == _BUDGET:
                    self._resume_soon()  # a broker with a backlog keeps the socket full: the
                    break  # writer gets its turn, then reading goes on
            before = (id(self._buf), self._pos, self.recv_calls)
            rc = self._loop_read_one(max_packets)
            if rc != 0 or before == (id(self._buf), self._pos, self.recv_calls):
                break
            if self.recv_calls - first_fill >= FILLS_PER_WAKE and self._pos < len(self._buf):
                self._resume_soon()
                break
        return rc

    def _top_up(self) -> str:
        """Append what the socket has to the rest of the buffer: ``_MORE``, ``_WAIT`` (nothing yet)
        or ``_PAHO`` (closed or failed: paho's own read finds out and handles it)."""
        sock = self._paho._sock
        if sock is None:
            return _PAHO
        try:
            data = sock.recv(READ_CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError):
            return _WAIT
        except ssl.SSLWantWriteError:
            self._paho._call_socket_register_write()
            return _WAIT
        except OSError:
            return _PAHO
        self.recv_calls += 1
        if not data:
            return _PAHO
        self._sock = sock
        self._buf, self._pos = self._buf[self._pos :] + data, 0
        return _MORE

    def _resume_soon(self) -> bool:
        """Go on reading from the buffer at the event loop's next turn (a buffer holding the start of a
        packet wakes no reader). ``False`` outside an event loop: the caller goes on now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if not self._resume_pending:
            self._resume_pending = True
            loop.call_soon(self._resume)
        return True

    def _resume(self) -> None:
        self._resume_pending = False
        if self._paho._sock is not None and self._pos < len(self._buf):
            try:
                self._paho.loop_read()
            except Exception:  # as aiomqtt's reader: the connection is broken, paho closes it
                log.exception("reading from the broker failed")

    def _take_publishes(self, *, top_up: bool) -> str:
        """Hand over the whole PUBLISH packets at the start of the buffer; returns why it stopped:
        ``_PAHO`` (empty, or a packet for paho), ``_WAIT`` (a packet cut by the end of the read, the
        socket has no more yet), ``_BUDGET`` (cut, and this wake-up has read enough)."""
        handle = self._handle
        paho = self._paho
        if handle is None or paho._in_packet["command"] != 0:
            return _PAHO  # paho is inside a packet: it reads the rest
        buf, pos, end, v5 = self._buf, self._pos, len(self._buf), self._v5
        taken = 0
        why = _PAHO
        while pos < end:
            head = buf[pos]
            qos = (head >> 1) & 0x03
            if head >> 4 != _PUBLISH or qos == 2:
                break
            # Remaining length (1–4 bytes, 7 bits each).
            length, shift, at, complete = 0, 0, pos + 1, False
            while at < end and at - pos <= 4:
                byte = buf[at]
                at += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    complete = True
                    break
            if not complete and at - pos > 4:
                break  # malformed: paho decides
            stop = at + length
            if not complete or stop > end:  # cut by the end of the read: read on, or wait
                if not top_up:
                    why = _BUDGET
                    break
                why = self._top_up()
                if why != _MORE:
                    break
                top_up = False
                buf, pos, end = self._buf, 0, len(self._buf)
                why = _PAHO
                continue
            if length < 2:
                break
            topic_end = at + 2 + int.from_bytes(buf[at : at + 2], "big")
            body = topic_end + (2 if qos else 0)
            if v5:
                if body >= stop or buf[body] != 0:
                    break  # properties (or malformed): paho decodes them
                body += 1
            if body > stop:
                break
            try:
                topic = buf[at + 2 : topic_end].decode("utf-8")
            except UnicodeDecodeError:
                break
            mid = int.from_bytes(buf[topic_end : topic_end + 2], "big") if qos else 0
            pos = self._pos = stop
            taken += 1
            handle(topic, buf[body:stop], mid, qos)
        if taken:
            self.fast += taken
            with paho._msgtime_mutex:
                paho._last_bytes_received = time_func()  # paho's keepalive clock
        return why


def deliver_directly(paho: Any, handle: Callable[[str, bytes, int, int], None]) -> None:
    """paho's ``on_message`` calls ``handle(topic, payload, mid, qos)`` (instead of aiomqtt's queue).

    ``handle`` must not raise (it runs inside paho's reader); a topic that is not UTF-8 (a broker
    lets none through) arrives as its ``repr``, so validation refuses it with a reason."""

    def on_message(_client: Any, _userdata: Any, message: Any) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = repr(message._topic)
        handle(topic, message.payload, message.mid, message.qos)

    paho.on_message = on_message


def ack_batch(paho: Any, deliveries: Sequence[tuple[int, int]]) -> int:
    """Acknowledge ``(mid, qos)`` pairs in order: the QoS 1 ones in one queued write (QoS 2 through
    paho, one by one; the monitor subscribes with QoS 1). Returns how many were acknowledged."""
    pubacks = bytearray()
    count = 0
    for mid, qos in deliveries:
        if qos == 1:
            pubacks += _PUBACK.pack(PUBACK, 2, mid)
            count += 1
        elif qos == 2:
            if pubacks:
                paho._packet_queue(PUBACK, bytes(pubacks), 0, 0)
                pubacks.clear()
            paho.ack(mid, qos)
            count += 1
    if pubacks:
        paho._packet_queue(PUBACK, bytes(pubacks), 0, 0)
    return count
