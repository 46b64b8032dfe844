"""bleak backends over the simulated world: ``BleakScanner(..., backend=world.scanner_backend)`` and
``BleakClient(device, backend=world.client_backend)`` run bleak's real facade code against simulated
peripherals (the contract is bleak's ``BaseBleakScanner`` / ``BaseBleakClient``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

if TYPE_CHECKING:
    from simulators.ble.device import SimPeripheral
    from simulators.ble.world import SimWorld


class SimScannerBackend(BaseBleakScanner):
    """Hears the world's advertising devices while started (every ``interval_s`` of world time)."""

    world: ClassVar[SimWorld]
    interval_s: ClassVar[float] = 0.1

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._listen())
        self.world.scans_started += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        while True:
            now = self.world.now()
            for dev in list(self.world.devices.values()):
                if not dev.advertising(now):
                    continue
                uuids = list(dev.advertised_uuids)
                if not self.is_allowed_uuid(uuids):
                    continue
                rssi = dev.rssi_dbm + int(dev.rng.integers(-3, 4))
                adv = AdvertisementData(dev.name, {}, {}, uuids, None, rssi, ())
                device = self.create_or_update_device(dev.address, dev.address, dev.name, {"sim": True}, adv)
                self.call_detection_callbacks(device, adv)
            await asyncio.sleep(self.interval_s / self.world.time_scale)


class SimClientBackend(BaseBleakClient):
    """Connects to a simulated peripheral that is advertising; GATT operations go to its firmware."""

    world: ClassVar[SimWorld]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._device: SimPeripheral | None = None
        self._notify: dict[int, NotifyCallback] = {}

    # -- connection -------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        dev = self.world.devices.get(self.address)
        return dev.name if dev else self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._device.mtu if self._device else 23

    @property
    def is_connected(self) -> bool:
        return self._device is not None and self._device.client is self

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        dev = self.world.devices.get(self.address)
        await asyncio.sleep(0.05 / self.world.time_scale)  # connection setup
        if dev is None or not dev.advertising(self.world.now()):
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found.")
        dev.attach(self)
        self._device = dev
        self.services = _services(dev)

    async def disconnect(self) -> None:
        dev, self._device = self._device, None
        if dev is not None:
            dev.detach(self)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """The simulated devices need no bonding."""

    async def unpair(self) -> None:
        """Nothing to forget."""

    def link_lost(self) -> None:
        """Called by the device when it drops the link."""
        self._device = None
        if self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    # -- GATT -------------------------------------------------------------------------------------------
    def _dev(self) -> SimPeripheral:
        if self._device is None or self._device.client is not self:
            raise BleakError("Not connected")
        return self._device

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        dev = self._dev()
        await asyncio.sleep(0.01 / self.world.time_scale)
        try:
            return bytearray(dev.read(characteristic.uuid))
        except KeyError:
            raise BleakError(f"characteristic {characteristic.uuid} cannot be read") from None

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        raise BleakError("the simulated devices have no readable descriptors")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        dev = self._dev()
        if response:
            await asyncio.sleep(0.01 / self.world.time_scale)  # the write response round trip
        dev.write(characteristic.uuid, bytes(data))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        raise BleakError("the simulated devices have no writable descriptors")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        dev = self._dev()
        await asyncio.sleep(0.01 / self.world.time_scale)  # CCCD write
        dev.subscribe(characteristic.uuid, callback)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        dev = self._dev()
        dev.unsubscribe(characteristic.uuid)


def _services(dev: SimPeripheral) -> BleakGATTServiceCollection:
    coll = BleakGATTServiceCollection()
    handle = 1
    for svc in dev.gatt():
        service = BleakGATTService(None, handle, svc.uuid)
        coll.add_service(service)
        handle += 1
        for ch in svc.chars:
            props: list[Any] = list(ch.properties)  # bleak types them as a Literal of property names
            char = BleakGATTCharacteristic(None, handle + 1, ch.uuid, props, lambda: dev.mtu - 3, service)
            coll.add_characteristic(char)
            handle += 3
    return coll
