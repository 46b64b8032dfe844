"""What every device profile shares: decoded packets, GATT writes, stream timing, the profile contract.

A profile module (``drivers.metamotion``, ``drivers.witmotion`` ...) has three layers, and only the last
one talks to a device:

1. pure decoders ``bytes -> Packet`` (SI units, the device's sensor frame) and pure encoders
   ``settings -> bytes`` for the writes that start and stop streaming; no bleak import anywhere;
2. a stateful :class:`StreamDecoder` for what spans notifications (a byte stream to resynchronise,
   a message split in two notifications, the previous frame's timestamp);
3. an async ``start``/``stop``/``read_battery`` written against the small :class:`GattLink` protocol,
   which the connection manager implements on a bleak client (so the profile stays transport-free).

Malformed input raises :class:`~coach.errors.DecodeError` in the pure decoders; the stream decoders
return such errors as values next to the good packets, so the caller counts them and keeps going.
"""

from __future__ import annotations

import math
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from coach.errors import CoachError, DecodeError
from coach.samples import FloatArray

DEG2RAD = math.pi / 180.0
#: Standard Battery Service / Battery Level characteristic (Bluetooth SIG assigned numbers).
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


class DeviceError(CoachError):
    """A device refused or failed a command (start refused, no answer, not found).

    Attributes:
        device: the device address or name.
        reason: what went wrong.
    """

    def __init__(self, device: str, reason: str) -> None:
        self.device = device
        self.reason = reason
        super().__init__(f"{device}: {reason}")


Stream = Literal["imu", "acc", "gyr", "mag", "pressure", "info"]


@dataclass(frozen=True, slots=True, eq=False)
class Packet:
    """What one notification (or one reassembled message) carries, in SI units and the sensor frame.

    Attributes:
        stream: ``imu`` (acc and gyro together), ``acc``, ``gyr``, ``mag``, ``pressure`` or ``info``
            (anything that is not a motion sample: a control response, the battery level, ...).
        acc_mps2, gyr_rps, mag_ut: shape (n, 3) where the packet has them.
        pressure_pa: shape (n,) where the packet has it.
        device_time_s: per-sample times on the device clock (seconds, as transmitted: may wrap at
            ``time_wrap_s``), ``None`` when the packet carries no time.
        counter: device sample counter of the first sample (wraps at ``counter_wrap``), if carried.
        battery_pct: battery level, for packets that report it.
        info: other decoded fields (``kind`` names the message), for ``coach decode`` and the start logic.
    """

    stream: Stream
    acc_mps2: FloatArray | None = None
    gyr_rps: FloatArray | None = None
    mag_ut: FloatArray | None = None
    pressure_pa: FloatArray | None = None
    device_time_s: FloatArray | None = None
    time_wrap_s: float | None = None
    counter: int | None = None
    counter_wrap: int | None = None
    battery_pct: float | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        for a in (self.acc_mps2, self.gyr_rps, self.mag_ut, self.pressure_pa):
            if a is not None:
                return int(a.shape[0])
        return 0


def info_packet(kind: str, **fields: Any) -> Packet:
    """A non-sample packet; ``battery_pct`` in ``fields`` is also set on the packet."""
    battery = fields.get("battery_pct")
    return Packet(
        "info", battery_pct=None if battery is None else float(battery), info={"kind": kind, **fields}
    )


@dataclass(frozen=True, slots=True)
class Write:
    """One GATT write: ``data`` to characteristic ``char_uuid`` (with or without response)."""

    char_uuid: str
    data: bytes
    response: bool = False

    def __repr__(self) -> str:
        return f"Write({self.char_uuid[:8]}, {self.data.hex(' ')}, response={self.response})"


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """How a profile's samples get their times.

    Attributes:
        rate_hz: nominal sample rate of the stream.
        source: ``device_time`` (packets carry device timestamps), ``counter`` (a sample counter but no
            time) or ``arrival`` (nothing: times come from arrival times regularised at the nominal rate).
        rate_tolerance: how far (relative) the true rate may be from ``rate_hz`` (crystal drift is
            ~1e-4; some devices deliver far below the configured rate).
    """

    rate_hz: float
    source: Literal["device_time", "counter", "arrival"]
    rate_tolerance: float = 1e-3


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What a started device will send: per motion stream its timing, and whether acc/gyro come apart."""

    streams: Mapping[str, StreamTiming]
    has_mag: bool = False

    @property
    def split(self) -> bool:
        """True when accelerometer and gyroscope come in separate packets and must be paired by time."""
        return "acc" in self.streams and "gyr" in self.streams


class StreamDecoder(ABC):
    """Turns notifications of one connection into packets; keeps what spans notifications."""

    profile: str

    @abstractmethod
    def feed(self, char_uuid: str, payload: bytes) -> list[Packet | DecodeError]:
        """Decode one notification. Never raises for bad bytes: errors come back as values."""

    def reset(self) -> None:  # noqa: B027 - stateless decoders have nothing to reset
        """Forget partial messages (a new connection)."""

    def finish(self) -> list[Packet | DecodeError]:
        """End of input: decode a message held back in case more followed; report a partial one."""
        return []


class GattLink(Protocol):
    """The few GATT operations a profile's start logic needs (implemented on bleak by the connection
    manager, and directly on the simulated devices in tests)."""

    def has_characteristic(self, char_uuid: str) -> bool: ...

    async def write(self, write: Write) -> None: ...

    async def read(self, char_uuid: str) -> bytes: ...

    async def subscribe(self, char_uuid: str) -> None: ...

    async def unsubscribe(self, char_uuid: str) -> None: ...

    async def wait_for(self, predicate: Callable[[Packet], bool], timeout_s: float) -> Packet | None:
        """The next decoded packet for which ``predicate`` holds (``None`` after ``timeout_s``)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class DeviceProfile(ABC):
    """A device model's profile: how to find it, start and stop it, and decode what it sends.

    Class attributes name the profile and its GATT layout; instances carry the settings (``settings``
    has the profile's own defaults, which are also the defaults of ``coach decode``).
    """

    name: str
    title: str
    service_uuid: str
    notify_uuids: tuple[str, ...]
    name_prefixes: tuple[str, ...] = ()

    @classmethod
    def matches(cls, name: str | None, service_uuids: Sequence[str]) -> bool:
        """Whether an advertisement belongs to this profile: its service UUID, else its name."""
        uuids = {u.lower() for u in service_uuids}
        if cls.service_uuid in uuids:
            return True
        if not name:
            return False
        return any(name.startswith(p) for p in cls.name_prefixes)

    @abstractmethod
    def decoder(self) -> StreamDecoder:
        """A fresh stream decoder for one connection."""

    @abstractmethod
    def plan(self) -> StreamPlan:
        """The streams the start writes produce, with their timing."""

    @abstractmethod
    async def start(self, link: GattLink) -> StreamPlan:
        """Subscribe and send the start-stream writes; return the streams to expect."""

    @abstractmethod
    async def stop(self, link: GattLink) -> None:
        """Send the stop-stream writes (best effort: the link may be going down)."""

    async def read_battery(self, link: GattLink) -> float | None:
        """Battery level in percent, where the device exposes it (standard Battery Service by default)."""
        if not link.has_characteristic(BATTERY_LEVEL_UUID):
            return None
        data = await link.read(BATTERY_LEVEL_UUID)
        return decode_battery_level(data)


def decode_battery_level(data: bytes) -> float:
    """Standard Battery Level characteristic (0x2A19): one byte, 0–100 %."""
    if len(data) != 1 or data[0] > 100:
        raise DecodeError("battery", f"battery level must be one byte 0..100, got {bytes(data).hex(' ')}")
    return float(data[0])


# -- byte helpers shared by the decoders --------------------------------------------------------------


def need_length(profile: str, payload: bytes, expected: int, what: str) -> None:
    if len(payload) != expected:
        raise DecodeError(profile, f"{what} needs {expected} bytes, got {len(payload)}")


def int16_triples(profile: str, data: bytes, what: str) -> np.ndarray:
    """Little-endian int16 x,y,z triples -> (n, 3) int array."""
    if len(data) == 0 or len(data) % 6:
        raise DecodeError(profile, f"{what}: {len(data)} bytes is not a whole number of int16 x,y,z triples")
    return np.frombuffer(data, dtype="<i2").reshape(-1, 3).astype(np.int64)


def float32_values(profile: str, data: bytes, what: str) -> np.ndarray:
    """Little-endian float32 values -> float64; NaN or infinity is a decode error.

    The check is on the bit patterns (exponent all ones), before any conversion: converting a
    signalling NaN would itself raise a floating-point warning.
    """
    if len(data) % 4:
        raise DecodeError(profile, f"{what}: {len(data)} bytes is not a whole number of float32 values")
    bits = np.frombuffer(data, dtype="<u4")
    if ((bits & 0x7F800000) == 0x7F800000).any():
        raise DecodeError(profile, f"{what}: non-finite float value")
    return bits.view("<f4").astype(np.float64)


def float32_triples(profile: str, data: bytes, what: str) -> np.ndarray:
    if len(data) == 0 or len(data) % 12:
        raise DecodeError(profile, f"{what}: {len(data)} bytes is not a whole number of float32 triples")
    return float32_values(profile, data, what).reshape(-1, 3)


def parse_hex(text: str) -> bytes:
    """Hex text with optional spaces, colons or a ``0x`` prefix -> bytes (``ValueError`` if not hex)."""
    cleaned = text.strip().lower().removeprefix("0x").replace(" ", "").replace(":", "").replace("-", "")
    if len(cleaned) % 2:
        raise ValueError(f"odd number of hex digits in {text!r}")
    return bytes.fromhex(cleaned)


def unpack(profile: str, fmt: str, data: bytes, offset: int = 0) -> tuple[Any, ...]:
    try:
        return struct.unpack_from(fmt, data, offset)
    except struct.error as exc:
        raise DecodeError(profile, f"packet too short ({len(data)} bytes)") from exc
