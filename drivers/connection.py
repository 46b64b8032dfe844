"""The connection manager: find, connect, start, stream, and survive disconnections, on bleak.

One :class:`DeviceLink` per worn device. What it does, and the bleak pain points behind each step
(the bleak issue tracker and the field's practice):

- **find** by service UUID and by name, with a scan (no scan while the session streams unless this
  device is missing; scans are serialised by the hub's lock);
- **connect** with ``bleak_retry_connector.establish_connection`` and the scanned ``BLEDevice`` (not an
  address), which retries the transient BlueZ errors with backoff; every reconnection (after a drop or
  a failed ``establish_connection``) starts from a fresh scan and a new ``BleakClient``;
- **notify** callbacks only stamp ``time.monotonic()`` and ``put_nowait`` the bytes on a bounded
  queue (a full queue drops and counts, never blocks the event loop); a consumer task decodes;
- after an **unsolicited disconnect** (the ``disconnected_callback`` sets an event): mark the link
  down, release what the clocks hold, rescan, reconnect with exponential backoff, restart streaming,
  and mark the gap in the sample stream;
- **battery** where the device exposes it, polled every ``battery_interval_s``.

Every delay here is in session seconds and divided by the clock's ``speed`` for sleeping, so a simulated
world that runs faster than real time keeps the same behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from coach.clock import SessionClock
from coach.samples import LinkStatus, SampleBlock
from drivers.base import DeviceError, DeviceProfile, Packet, StreamPlan, Write
from drivers.profiles import make_profile, profile_for
from drivers.stream import DeviceStream, SampleGap

log = logging.getLogger("coach.drivers")


def wall_timeout_s(timeout_s: float, speed: float) -> float:
    """A timeout of ``timeout_s`` session seconds in wall seconds, on a clock ``speed`` times as fast, but
    never shorter than a real device would get (up to 2 s): a simulated world runs faster, a busy
    machine does not, and an answer it is slow to read is not a missing answer."""
    return max(timeout_s / speed, min(timeout_s, 2.0))


@dataclass(frozen=True)
class DeviceSpec:
    """A device to use: ``device`` is its address or advertised name; ``profile`` is found from the
    advertisement when not given; ``settings`` override the profile's start-stream settings."""

    role: str
    device: str
    profile: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


HubItem = SampleBlock | SampleGap | LinkStatus


@dataclass
class Found:
    """A compatible device seen in a scan."""

    device: BLEDevice
    name: str | None
    profile: str
    rssi_dbm: int
    service_uuids: list[str]


@dataclass
class Backend:
    """Which bleak backend classes to use (``None``: bleak's platform default)."""

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None

    def scanner_kwargs(self) -> dict[str, Any]:
        return {} if self.scanner is None else {"backend": self.scanner}

    def client_kwargs(self) -> dict[str, Any]:
        return {} if self.client is None else {"backend": self.client}


async def scan(backend: Backend, clock: SessionClock, duration_s: float = 5.0) -> list[Found]:
    """Compatible devices advertising within ``duration_s`` (session seconds), strongest first."""
    seen: dict[str, Found] = {}

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        profile = profile_for(adv.local_name or device.name, adv.service_uuids)
        if profile is not None:
            seen[device.address] = Found(
                device, adv.local_name or device.name, profile, adv.rssi, list(adv.service_uuids)
            )

    async with BleakScanner(on_adv, **backend.scanner_kwargs()):
        await clock.sleep(duration_s)
    return sorted(seen.values(), key=lambda f: -f.rssi_dbm)


def _matches(spec: DeviceSpec, device: BLEDevice, adv: AdvertisementData) -> bool:
    key = spec.device.lower()
    return key in (device.address.lower(), (adv.local_name or "").lower(), (device.name or "").lower())


class _BleakLink:
    """The profile's :class:`~drivers.base.GattLink` on a connected BleakClient."""

    def __init__(self, owner: DeviceLink, client: BleakClient) -> None:
        self.owner = owner
        self.client = client

    def has_characteristic(self, char_uuid: str) -> bool:
        return self.client.services.get_characteristic(char_uuid) is not None

    async def write(self, write: Write) -> None:
        await self.client.write_gatt_char(write.char_uuid, write.data, response=write.response)

    async def read(self, char_uuid: str) -> bytes:
        return bytes(await self.client.read_gatt_char(char_uuid))

    async def subscribe(self, char_uuid: str) -> None:
        await self.client.start_notify(char_uuid, self.owner.on_notify)

    async def unsubscribe(self, char_uuid: str) -> None:
        with contextlib.suppress(BleakError, KeyError):
            await self.client.stop_notify(char_uuid)

    async def wait_for(self, predicate: Callable[[Packet], bool], timeout_s: float) -> Packet | None:
        future: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self.owner.waiters.append(waiter)
        try:
            async with asyncio.timeout(wall_timeout_s(timeout_s, self.owner.clock.speed)):
                return await future
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(ValueError):
                self.owner.waiters.remove(waiter)

    async def sleep(self, seconds: float) -> None:
        await self.owner.clock.sleep(seconds)


class DeviceLink:
    """Keep one device streaming into ``emit`` until :meth:`stop`.

    Args:
        spec: which device, for which role.
        backend: bleak backend classes.
        clock: the session clock.
        emit: receives SampleBlocks, SampleGaps and LinkStatus items (called from the event loop).
        scan_lock: serialises scans among the hub's devices.
        found: a BLEDevice from the hub's first scan (saves a scan at start).
    """

    #: Notifications waiting for the consumer task. A full queue drops (the radio side never blocks),
    #: so it is sized for a long stall of a busy computer: three notification streams of a 100 Hz
    #: sensor fill it in about 27 s; a full queue holds about 2.5 MB (16,384 small tuples).
    QUEUE_SIZE = 16384

    def __init__(
        self,
        spec: DeviceSpec,
        backend: Backend,
        clock: SessionClock,
        emit: Callable[[HubItem], None],
        scan_lock: asyncio.Lock,
        found: Found | None = None,
        *,
        scan_timeout_s: float = 10.0,
        battery_interval_s: float = 60.0,
        poll_interval_s: float = 0.05,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.clock = clock
        self.emit = emit
        self.scan_lock = scan_lock
        self._found = found
        self.scan_timeout_s = scan_timeout_s
        self.battery_interval_s = battery_interval_s
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.profile: DeviceProfile | None = (
            make_profile(spec.profile, **spec.settings) if spec.profile else None
        )
        self.stream: DeviceStream | None = None
        self.queue: asyncio.Queue[tuple[float, str, bytes]] = asyncio.Queue(self.QUEUE_SIZE)
        self.waiters: list[tuple[Callable[[Packet], bool], asyncio.Future[Packet]]] = []
        self.dropped_notifications = 0
        self._dropped_reported = 0  # dropped notifications already said in the log
        self.connects = 0
        self.address: str = spec.device
        self.battery_pct: float | None = None
        self._disconnected = asyncio.Event()
        self._stopping = False
        self._client: BleakClient | None = None
        self._link: _BleakLink | None = None

    # -- the notify callback: stamp, enqueue, nothing else ----------------------------------------------
    def on_notify(self, char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            self.queue.put_nowait((time.monotonic(), char.uuid, bytes(data)))
        except asyncio.QueueFull:
            if self.dropped_notifications == self._dropped_reported:  # a new overflow: say it once
                log.warning(
                    "%s (%s): this computer is not reading the sensor's data in time; notifications "
                    "are being dropped (queue of %d full)",
                    self.spec.role,
                    self.address,
                    self.QUEUE_SIZE,
                )
            self.dropped_notifications += 1

    def _on_disconnect(self, client: BleakClient) -> None:
        if client is self._client:
            self._disconnected.set()

    # -- lifecycle --------------------------------------------------------------------------------------
    async def run(self) -> None:
        consumer = asyncio.get_running_loop().create_task(self._consume())
        try:
            backoff = 0.5
            first = True
            while not self._stopping:
                try:
                    await self._session(first)
                    backoff = 0.5
                except (BleakError, DeviceError, TimeoutError, OSError) as exc:
                    log.warning("%s (%s): %s", self.spec.role, self.address, exc)
                    self.emit(
                        LinkStatus(
                            self.spec.role,
                            "down",
                            self.clock.now_s(),
                            self.battery_pct,
                            str(exc),
                            self.address,
                        )
                    )
                    await self.clock.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                first = False
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    async def stop(self) -> None:
        """Stop streaming (the stop-stream writes, best effort) and disconnect."""
        self._stopping = True
        self._disconnected.set()

    async def _find(self) -> BLEDevice:
        if self._found is not None:
            found, self._found = self._found, None
            if self.profile is None:
                self.profile = make_profile(found.profile, **self.spec.settings)
            return found.device
        async with self.scan_lock:
            loop = asyncio.get_running_loop()
            result: asyncio.Future[tuple[BLEDevice, AdvertisementData]] = loop.create_future()

            def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
                if not result.done() and _matches(self.spec, device, adv):
                    result.set_result((device, adv))

            async with BleakScanner(on_adv, **self.backend.scanner_kwargs()):
                try:
                    device, adv = await asyncio.wait_for(
                        result, wall_timeout_s(self.scan_timeout_s, self.clock.speed)
                    )
                except TimeoutError:
                    raise DeviceError(
                        self.spec.device, "not found in a scan (is it on, near, not connected elsewhere?)"
                    ) from None
            if self.profile is None:
                name = profile_for(adv.local_name or device.name, adv.service_uuids)
                if name is None:
                    raise DeviceError(self.spec.device, "advertises no supported profile")
                self.profile = make_profile(name, **self.spec.settings)
            return device

    async def _session(self, first: bool) -> None:
        """One connection: connect, start, stream until the link drops or we stop."""
        device = await self._find()
        self.address = device.address
        self._disconnected.clear()
        client = await establish_connection(
            BleakClient,
            device,
            f"{self.spec.role}",
            disconnected_callback=self._on_disconnect,
            max_attempts=3,
            **self.backend.client_kwargs(),
        )
        self._client = client
        self.connects += 1
        assert self.profile is not None
        if self.stream is None:
            self.stream = DeviceStream(self.spec.role, self.profile)
        link = _BleakLink(self, client)
        self._link = link
        battery_task: asyncio.Task[None] | None = None
        try:
            plan: StreamPlan = await self.profile.start(link)
            self.stream.set_plan(plan)
            self.battery_pct = await self._read_battery(link)
            self.emit(
                LinkStatus(self.spec.role, "up", self.clock.now_s(), self.battery_pct, address=self.address)
            )
            battery_task = asyncio.get_running_loop().create_task(self._battery_loop(link))
            await self._disconnected.wait()
            if self._stopping and client.is_connected:
                with contextlib.suppress(BleakError, DeviceError, TimeoutError):
                    await asyncio.wait_for(self.profile.stop(link), 2.0)
        finally:
            if battery_task is not None:
                battery_task.cancel()
            self._link = None
            self._client = None
            with contextlib.suppress(BleakError, TimeoutError):
                await client.disconnect()
            await self._drain_queue()
            now = self.clock.now_s()
            for item in self.stream.new_segment(now):
                self.emit(item)
            if not self._stopping:
                self.emit(
                    LinkStatus(self.spec.role, "down", now, self.battery_pct, "disconnected", self.address)
                )

    async def _read_battery(self, link: _BleakLink) -> float | None:
        assert self.profile is not None
        try:
            return await asyncio.wait_for(
                self.profile.read_battery(link), wall_timeout_s(5.0, self.clock.speed)
            )
        except (BleakError, TimeoutError, ValueError) as exc:
            log.info("%s: no battery level (%s)", self.spec.role, exc)
            return None

    async def _battery_loop(self, link: _BleakLink) -> None:
        while True:
            await self.clock.sleep(self.battery_interval_s)
            pct = await self._read_battery(link)
            if pct is not None and pct != self.battery_pct:
                self.battery_pct = pct
                self.emit(LinkStatus(self.spec.role, "up", self.clock.now_s(), pct, address=self.address))

    # -- the consumer task: decode, time, emit ----------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            batch: list[tuple[float, str, bytes]] = []
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can drop an item the inner
                # get() already took when the timeout fires at the same moment.
                async with asyncio.timeout(self.poll_interval_s / self.clock.speed):
                    batch.append(await self.queue.get())
            except TimeoutError:
                pass
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self._process(batch)

    async def _drain_queue(self) -> None:
        batch = []
        while not self.queue.empty():
            batch.append(self.queue.get_nowait())
        self._process(batch)

    def _process(self, batch: list[tuple[float, str, bytes]]) -> None:
        if self.dropped_notifications != self._dropped_reported and self.queue.empty():
            log.warning(
                "%s (%s): %d notifications were dropped while this computer was busy (%d this session)",
                self.spec.role,
                self.address,
                self.dropped_notifications - self._dropped_reported,
                self.dropped_notifications,
            )
            self._dropped_reported = self.dropped_notifications
        stream = self.stream
        if stream is None:
            return
        for stamp, uuid, data in batch:
            for packet in stream.feed(self.clock.at(stamp), uuid, data):
                for predicate, future in list(self.waiters):
                    if not future.done() and predicate(packet):
                        future.set_result(packet)
        for out in stream.poll(self.clock.now_s()):
            self.emit(out)


async def probe_battery(found: Found, backend: Backend, clock: SessionClock) -> float | None:
    """Connect to a scanned device, read its battery level the profile's way, disconnect."""
    spec = DeviceSpec("treated", found.device.address, found.profile)
    link = DeviceLink(spec, backend, clock, lambda item: None, asyncio.Lock(), found)
    assert link.profile is not None
    link.stream = DeviceStream("treated", link.profile)
    consumer = asyncio.get_running_loop().create_task(link._consume())
    client = await establish_connection(
        BleakClient, found.device, "scan", max_attempts=2, **backend.client_kwargs()
    )
    try:
        gatt = _BleakLink(link, client)
        # answers to battery commands (MetaMotion, WitMotion) come as notifications
        for uuid in link.profile.notify_uuids:
            if gatt.has_characteristic(uuid):
                await gatt.subscribe(uuid)
        return await link._read_battery(gatt)
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        with contextlib.suppress(BleakError, TimeoutError):
            await client.disconnect()
