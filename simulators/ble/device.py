"""A simulated BLE peripheral: GATT table, advertising, a sampling clock, streaming and fault injection.

Profile firmwares (:mod:`simulators.ble.firmware`) subclass :class:`SimPeripheral`: they declare their
GATT table, answer writes and reads the way the real device does, and encode samples byte-exact. This
base class runs the device's sampling clock (own rate error and timestamp offset), packs samples into
notifications, pushes them through the link's :class:`~simulators.ble.radio.RadioLink` (connection events,
jitter, losses, stalls) and delivers them in order to the subscribed client at the right host time.

Every sample taken while streaming is logged with its true time and whether it reached the client
intact (:attr:`SimPeripheral.log`), so end-to-end tests can check the driver's output against truth.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from coach.samples import FloatArray
from simulators.ble.radio import RadioLink, RadioModel, draw_stalls

if TYPE_CHECKING:
    from simulators.ble.world import SimWorld

NotifyCallback = Callable[[bytearray], None]


@dataclass(frozen=True)
class FaultPlan:
    """Faults of one simulated device (times in seconds of the simulated world).

    Attributes:
        drop_rate: share of notifications lost.
        stall_every_s, stall_s: bunching: deliveries held for ``stall_s`` about every ``stall_every_s``.
        garbage_rate: share of notifications replaced by random bytes (its samples are lost).
        disconnect_at_s: times of unsolicited disconnections (the device drops the link).
        down_s: after each such disconnection the device does not advertise for this long.
        silent: ``(start_s, duration_s)`` windows in which the device does not advertise.
    """

    drop_rate: float = 0.0
    stall_every_s: float = 0.0
    stall_s: float = 0.5
    garbage_rate: float = 0.0
    disconnect_at_s: tuple[float, ...] = ()
    down_s: float = 2.0
    silent: tuple[tuple[float, float], ...] = ()

    @staticmethod
    def parse(text: str) -> FaultPlan:
        """Parse ``drop=0.01,bunch=20,stall=0.5,garbage=0.002,disconnect=30;60,down=3,silent=5:4``."""
        kw: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            key = key.strip()
            try:
                if key == "drop":
                    kw["drop_rate"] = float(value)
                elif key == "bunch":
                    kw["stall_every_s"] = float(value)
                elif key == "stall":
                    kw["stall_s"] = float(value)
                elif key == "garbage":
                    kw["garbage_rate"] = float(value)
                elif key == "disconnect":
                    kw["disconnect_at_s"] = tuple(float(v) for v in value.split(";") if v)
                elif key == "down":
                    kw["down_s"] = float(value)
                elif key == "silent":
                    kw["silent"] = tuple(
                        (float(a), float(b)) for a, b in (w.split(":") for w in value.split(";") if w)
                    )
                else:
                    raise ValueError(
                        f"unknown fault {key!r} (drop, bunch, stall, garbage, disconnect, down, silent)"
                    )
            except ValueError as exc:
                raise ValueError(f"bad fault {part!r}: {exc}") from None
        return FaultPlan(**kw)


@dataclass(frozen=True)
class GattChar:
    uuid: str
    properties: tuple[str, ...]


@dataclass(frozen=True)
class GattService:
    uuid: str
    chars: tuple[GattChar, ...]


#: ``encode(k, t_true, device_t, acc, gyr, mag) -> [(uuid, bytes)]`` for one packet of samples ``k``.
Encoder = Callable[
    [np.ndarray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray], list[tuple[str, bytes]]
]


@dataclass
class StreamSpec:
    """One stream of notifications: ``per_packet`` samples at ``rate_hz`` encoded by ``encode``.

    ``encode(k, t_true, device_t, acc, gyr, mag)`` returns the notifications ``[(uuid, bytes)]`` of one
    packet of samples ``k`` (usually one; Movesense splits a message in two).
    """

    name: str
    rate_hz: float
    per_packet: int
    encode: Callable[
        [np.ndarray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray], list[tuple[str, bytes]]
    ]
    next_k: int = 0


@dataclass
class SampleLog:
    """Per stream: every sample taken while streaming, its true time and whether it arrived intact; per
    packet, when its last notification was due (world time the radio model gave it) and when the host
    actually handed it to the client (NaN if it never was). The difference is the host's scheduling
    lateness, which a world running faster than real time scales up by its ``time_scale``."""

    k: list[np.ndarray] = field(default_factory=list)
    t_true_s: list[FloatArray] = field(default_factory=list)
    delivered: list[np.ndarray] = field(default_factory=list)
    due_at_s: list[FloatArray] = field(default_factory=list)  # per packet: [due, handed over]

    def packet_times(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per packet: the true time of its last sample, when it was due and when it was handed over."""
        if not self.k:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        last = np.array([t[-1] for t in self.t_true_s])
        due_at = np.array(self.due_at_s).reshape(-1, 2)
        return last, due_at[:, 0], due_at[:, 1]

    def arrays(self) -> tuple[np.ndarray, FloatArray, np.ndarray]:
        if not self.k:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=bool)
        return np.concatenate(self.k), np.concatenate(self.t_true_s), np.concatenate(self.delivered)


class SimPeripheral:
    """Base class of the simulated devices. Subclasses set ``profile`` and implement the hooks."""

    profile = "?"
    advertised_uuids: tuple[str, ...] = ()
    mtu = 247
    tick_s = 0.02  # how far ahead samples are produced (sim seconds)

    def __init__(
        self,
        world: SimWorld,
        address: str,
        name: str,
        *,
        role: str = "treated",
        seed: int = 0,
        drift: float = 0.0,
        time_offset_s: float = 0.0,
        faults: FaultPlan | None = None,
        radio: RadioModel | None = None,
        battery_pct: int = 87,
        rssi_dbm: int = -60,
    ) -> None:
        self.world = world
        self.address = address
        self.name = name
        self.role = role
        self.rng = np.random.default_rng(seed)
        self.drift = drift
        self.time_offset_s = time_offset_s
        self.faults = faults or FaultPlan()
        self.radio_model = radio or RadioModel()
        self.battery_pct = battery_pct
        self.rssi_dbm = rssi_dbm
        self.clock_start_s = float(self.rng.uniform(0, 0.01))  # phase of the sampling clock
        self.client: Any = None  # the connected client backend
        self.epoch = 0  # connection number: deliveries of an old connection are dropped
        self.subscribed: dict[str, NotifyCallback] = {}
        self.streams: dict[str, StreamSpec] = {}
        self.log: dict[str, SampleLog] = {}
        self.notifications_sent = 0
        self._down_until = -math.inf
        self._radio: RadioLink | None = None
        self._queue: deque[tuple[float, int, str, bytes, _Mark | None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._producer: asyncio.Task[None] | None = None
        self._last_ready = -math.inf
        self._disconnect_handles: list[asyncio.TimerHandle] = []

    # -- firmware hooks ---------------------------------------------------------------------------------
    def gatt(self) -> list[GattService]:
        raise NotImplementedError

    def on_write(self, uuid: str, data: bytes) -> None:
        """A client wrote ``data`` to ``uuid``."""

    def on_read(self, uuid: str) -> bytes:
        raise KeyError(uuid)

    def on_subscribe(self, uuid: str, on: bool) -> None:
        """Notifications on ``uuid`` were switched on or off."""

    def on_disconnect(self) -> None:
        """The link went down: forget per-connection state (streams stop)."""
        self.stop_all_streams()

    # -- clock ------------------------------------------------------------------------------------------
    def true_time(self, k: np.ndarray, rate_hz: float) -> FloatArray:
        """True (world) time of sample ``k`` of a stream at nominal ``rate_hz`` on this device's clock."""
        return self.clock_start_s + np.asarray(k, dtype=np.float64) / (rate_hz * (1.0 + self.drift))

    def device_time(self, t_true_s: FloatArray) -> FloatArray:
        """What the device's own clock reads at true time ``t_true_s`` (seconds)."""
        return self.time_offset_s + (1.0 + self.drift) * np.asarray(t_true_s, dtype=np.float64)

    # -- advertising and connection ---------------------------------------------------------------------
    def advertising(self, t_s: float) -> bool:
        if self.client is not None or t_s < self._down_until:
            return False
        return not any(a <= t_s < a + d for a, d in self.faults.silent)

    def attach(self, client: Any) -> None:
        self.client = client
        self.epoch += 1
        self.subscribed.clear()
        now = self.world.now()
        self._radio = RadioLink(
            self.radio_model,
            np.random.default_rng(self.rng.integers(2**32)),
            [(now + a, now + b) for a, b in draw_stalls(3600.0, self.radio_model, self.rng)]
            if self.radio_model.stall_every_s > 0
            else [],
        )
        self._last_ready = -math.inf
        loop = asyncio.get_running_loop()
        for t in self.faults.disconnect_at_s:
            if t > now:
                self._disconnect_handles.append(
                    loop.call_at(self.world.host_time(t), self.drop_link, self.epoch)
                )

    def detach(self, client: Any) -> None:
        """The client disconnected on purpose."""
        if self.client is client:
            self._end_connection()

    def drop_link(self, epoch: int | None = None) -> None:
        """The device drops the link (unsolicited disconnect for the client)."""
        if self.client is None or (epoch is not None and epoch != self.epoch):
            return
        client = self.client
        self._end_connection()
        self._down_until = self.world.now() + self.faults.down_s
        client.link_lost()

    def _end_connection(self) -> None:
        self.on_disconnect()
        self.client = None
        self.subscribed.clear()
        self._queue.clear()
        for h in self._disconnect_handles:
            h.cancel()
        self._disconnect_handles.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- GATT operations from the client ----------------------------------------------------------------
    def write(self, uuid: str, data: bytes) -> None:
        self.on_write(uuid, data)

    def read(self, uuid: str) -> bytes:
        return self.on_read(uuid)

    def subscribe(self, uuid: str, callback: NotifyCallback) -> None:
        self.subscribed[uuid] = callback
        self.on_subscribe(uuid, True)

    def unsubscribe(self, uuid: str) -> None:
        self.subscribed.pop(uuid, None)
        self.on_subscribe(uuid, False)

    def respond(self, uuid: str, data: bytes, delay_s: float = 0.01) -> None:
        """A control answer (not a sample packet): delivered after ``delay_s`` through the same queue."""
        self._enqueue(self.world.now() + delay_s, uuid, data)

    # -- streaming --------------------------------------------------------------------------------------
    def start_stream(self, spec: StreamSpec) -> None:
        """Start (or restart) a stream: its samples begin at the device's next sample tick."""
        now = self.world.now()
        spec.next_k = max(0, math.ceil((now - self.clock_start_s) * spec.rate_hz * (1.0 + self.drift)))
        self.streams[spec.name] = spec
        self.log.setdefault(spec.name, SampleLog())
        if self._producer is None or self._producer.done():
            self._producer = asyncio.get_running_loop().create_task(self._produce(self.epoch))

    def stop_stream(self, name: str) -> None:
        self.streams.pop(name, None)

    def stop_all_streams(self) -> None:
        self.streams.clear()

    async def _produce(self, epoch: int) -> None:
        try:
            while self.epoch == epoch and self.client is not None and self.streams:
                horizon = self.world.now() + self.tick_s
                packets: list[tuple[float, str, list[tuple[str, bytes]], np.ndarray, FloatArray]] = []
                for spec in list(self.streams.values()):
                    while True:
                        k = spec.next_k + np.arange(spec.per_packet)
                        t = self.true_time(k, spec.rate_hz)
                        if t[-1] > horizon:
                            break
                        acc, gyr, mag = self.world.motion.sample(self.role, t)
                        notes = spec.encode(k, t, self.device_time(t), acc, gyr, mag)
                        packets.append((float(t[-1]), spec.name, notes, k, t))
                        spec.next_k += spec.per_packet
                packets.sort(key=lambda p: p[0])
                for ready, name, notes, k, t in packets:
                    log = self.log[name]
                    log.k.append(k)
                    log.t_true_s.append(t)
                    delivered = np.zeros(len(k), dtype=bool)
                    log.delivered.append(delivered)  # set when every part reaches the client intact
                    due_at = np.full(2, np.nan)
                    log.due_at_s.append(due_at)
                    mark = _Mark(delivered, len(notes), t, due_at)
                    for uuid, data in notes:
                        if self.faults.garbage_rate and self.rng.random() < self.faults.garbage_rate:
                            data = self.rng.bytes(int(self.rng.integers(1, 32)))
                            mark.ok = False
                        arrival = self._radio.schedule(max(ready, self._last_ready)) if self._radio else None
                        self._last_ready = max(ready, self._last_ready)
                        if arrival is None:
                            mark.ok = False
                            continue
                        self._enqueue(arrival, uuid, data, mark)
                await asyncio.sleep(self.tick_s / self.world.time_scale)
        finally:
            if self._producer is asyncio.current_task():
                self._producer = None

    def _enqueue(self, arrival_s: float, uuid: str, data: bytes, mark: _Mark | None = None) -> None:
        if self._queue and arrival_s < self._queue[-1][0]:
            arrival_s = self._queue[-1][0]  # keep the order
        self._queue.append((arrival_s, self.epoch, uuid, data, mark))
        if self._timer is None:
            self._arm()

    def _arm(self) -> None:
        if self._queue:
            self._timer = asyncio.get_running_loop().call_at(
                self.world.host_time(self._queue[0][0]), self._deliver
            )
        else:
            self._timer = None

    def _deliver(self) -> None:
        now = self.world.now()
        while self._queue and self._queue[0][0] <= now + 1e-6:
            due, epoch, uuid, data, mark = self._queue.popleft()
            callback = self.subscribed.get(uuid)
            if epoch == self.epoch and self.client is not None and callback is not None:
                self.notifications_sent += 1
                if mark is not None and self.world.on_delivery is not None:
                    self.world.on_delivery(self.role, mark.t_true_s)  # observers time from outside
                callback(bytearray(data))
                if mark is not None:
                    mark.part_delivered(due, now)
        self._arm()


class _Mark:
    """Marks a packet's samples delivered once all its notifications reached the client intact."""

    __slots__ = ("delivered", "due_at", "ok", "parts_left", "t_true_s")

    def __init__(self, delivered: np.ndarray, parts: int, t_true_s: FloatArray, due_at: FloatArray) -> None:
        self.delivered = delivered
        self.parts_left = parts
        self.ok = True
        self.t_true_s = t_true_s
        self.due_at = due_at

    def part_delivered(self, due_s: float, at_s: float) -> None:
        self.due_at[0], self.due_at[1] = due_s, at_s  # the last part's times are the packet's
        self.parts_left -= 1
        if self.parts_left == 0 and self.ok:
            self.delivered[:] = True


def quantise(values: FloatArray, lsb: float, lo: int = -32768, hi: int = 32767) -> np.ndarray:
    """``values / lsb`` rounded to integers and clipped (saturation), as int64."""
    return np.clip(np.rint(np.asarray(values) / lsb), lo, hi).astype(np.int64)
