"""Movesense with the ``gatt_sensordata_app`` firmware: the GATT SensorData Protocol (GSP).

Facts and vectors: ``docs/protocols/movesense.md``. Commands ``[cmd][ref][data]`` go to ``34800001``
(with response); notifications ``[type][ref][data]`` come on ``34800002``. An IMU6 DATA message is
``u32 ms`` (time of the first sample) followed by all N acc vectors then all N gyro vectors (float32,
m/s² and °/s). At 104 Hz a message does not fit one notification: the rest comes in a DATA_PART2 with
the same reference, which the stream decoder joins. Sample times come from the device clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from coach.errors import DecodeError
from drivers.base import (
    DEG2RAD,
    DeviceError,
    DeviceProfile,
    GattLink,
    Packet,
    StreamDecoder,
    StreamPlan,
    StreamTiming,
    Write,
    float32_triples,
    info_packet,
    unpack,
)

PROFILE = "movesense"
SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
COMMAND_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
DATA_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"

HELLO, SUBSCRIBE, UNSUBSCRIBE = 0, 1, 2
COMMAND_RESULT, DATA, DATA_PART2 = 1, 2, 3
RATES = (13, 26, 52, 104, 208, 416, 833, 1666)
Resource = Literal["IMU6", "IMU9", "Acc", "Gyro", "Magn"]
#: Vectors per sample for each resource (arrays are blocked: all acc, then all gyro, then all magn).
RESOURCE_VECTORS: dict[str, int] = {"IMU6": 2, "IMU9": 3, "Acc": 1, "Gyro": 1, "Magn": 1}
TIME_WRAP_S = 2**32 / 1000.0
DEFAULT_MTU = 158  # Movesense's documented maximum; notifications carry MTU - 3 bytes


def hello(ref: int) -> bytes:
    return bytes((HELLO, _ref(ref)))


def subscribe(ref: int, path: str) -> bytes:
    """SUBSCRIBE: the resource path in ASCII, no terminator."""
    return bytes((SUBSCRIBE, _ref(ref))) + path.encode("ascii")


def unsubscribe(ref: int) -> bytes:
    return bytes((UNSUBSCRIBE, _ref(ref)))


def measurement_path(resource: Resource, rate_hz: int) -> str:
    if rate_hz not in RATES:
        raise ValueError(f"movesense rate must be one of {RATES} Hz")
    if resource not in RESOURCE_VECTORS:
        raise ValueError(f"unknown movesense resource {resource!r}")
    return f"/Meas/{resource}/{rate_hz}"


def _ref(ref: int) -> int:
    if not 1 <= ref <= 255:
        raise ValueError("client reference must be 1..255 (0 is invalid)")
    return ref


def decode_result(payload: bytes) -> Packet:
    """COMMAND_RESULT: ``Hello`` or a 2-byte status (the sample firmware sends it big-endian)."""
    ref, body = payload[1], payload[2:]
    if body == b"Hello":
        return info_packet("hello", ref=ref)
    if len(body) == 2:
        big, little = int.from_bytes(body, "big"), int.from_bytes(body, "little")
        status = big if 100 <= big <= 599 else little
        if not 100 <= status <= 599:
            raise DecodeError(PROFILE, f"command status {body.hex(' ')} is no status code either way round")
        return info_packet("status", ref=ref, status=status)
    raise DecodeError(PROFILE, f"unknown command result {body[:8].hex(' ')} ({len(body)} bytes)")


def decode_data(message: bytes, resource: Resource = "IMU6", rate_hz: float = 104.0) -> Packet:
    """A whole DATA message (after joining a DATA_PART2): ``02 <ref> <u32 ms> <arrays>``."""
    if len(message) < 2 or message[0] != DATA:
        raise DecodeError(PROFILE, "a data message starts with type 02")
    k = RESOURCE_VECTORS[resource]
    n_bytes = len(message) - 6
    if n_bytes <= 0 or n_bytes % (12 * k):
        raise DecodeError(PROFILE, f"{resource} message of {len(message)} bytes is not 6 + N×{12 * k}")
    (t_ms,) = unpack(PROFILE, "<I", message, 2)
    vectors = float32_triples(PROFILE, message[6:], f"{resource} arrays")
    n = len(vectors) // k
    times = t_ms / 1000.0 + np.arange(n) / float(rate_hz)
    blocks = [vectors[i * n : (i + 1) * n] for i in range(k)]
    common = {
        "device_time_s": times,
        "time_wrap_s": TIME_WRAP_S,
        "info": {"kind": "data", "ref": message[1], "timestamp_ms": t_ms},
    }
    if resource in ("IMU6", "IMU9"):
        return Packet(
            "imu",
            acc_mps2=blocks[0],
            gyr_rps=blocks[1] * DEG2RAD,
            mag_ut=blocks[2] if resource == "IMU9" else None,
            **common,
        )
    if resource == "Acc":
        return Packet("acc", acc_mps2=blocks[0], **common)
    if resource == "Gyro":
        return Packet("gyr", gyr_rps=blocks[0] * DEG2RAD, **common)
    return Packet("mag", mag_ut=blocks[0], **common)


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    resource: Resource = "IMU6"
    rate_hz: int = 104
    mtu: int = DEFAULT_MTU


class MovesenseDecoder(StreamDecoder):
    """Joins DATA + DATA_PART2. A DATA that fills a whole notification (MTU − 3 bytes) or is not a whole
    number of samples waits for its PART2; one that cannot be completed is reported as an error."""

    profile = PROFILE

    def __init__(self, settings: DecodeSettings | None = None) -> None:
        self.settings = settings or DecodeSettings()
        self._pending: bytearray | None = None

    def reset(self) -> None:
        self._pending = None

    def _whole(self, message: bytes | bytearray) -> bool:
        k = RESOURCE_VECTORS[self.settings.resource]
        n_bytes = len(message) - 6
        return n_bytes > 0 and n_bytes % (12 * k) == 0

    def _decode(self, message: bytes | bytearray) -> Packet | DecodeError:
        try:
            return decode_data(bytes(message), self.settings.resource, self.settings.rate_hz)
        except DecodeError as exc:
            return exc

    def _flush_pending(self, out: list[Packet | DecodeError]) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            out.append(
                self._decode(pending)
                if self._whole(pending)
                else DecodeError(PROFILE, f"data message of {len(pending)} bytes never got its DATA_PART2")
            )

    def feed(self, char_uuid: str, payload: bytes) -> list[Packet | DecodeError]:
        out: list[Packet | DecodeError] = []
        if len(payload) < 2:
            self._flush_pending(out)
            return [
                *out,
                DecodeError(PROFILE, f"a notification has a 2-byte header, got {len(payload)} bytes"),
            ]
        kind = payload[0]
        if kind == DATA_PART2:
            if self._pending is None or self._pending[1] != payload[1]:
                self._flush_pending(out)
                return [*out, DecodeError(PROFILE, "DATA_PART2 without a DATA message to continue")]
            message, self._pending = self._pending + payload[2:], None
            return [*out, self._decode(message)]
        self._flush_pending(out)
        if kind == DATA:
            if self._whole(payload) and len(payload) < self.settings.mtu - 3:
                out.append(self._decode(payload))
            elif len(payload) > self.settings.mtu - 3:
                out.append(
                    DecodeError(
                        PROFILE, f"{len(payload)}-byte notification exceeds MTU {self.settings.mtu} - 3"
                    )
                )
            else:
                self._pending = bytearray(payload)
            return out
        if kind == COMMAND_RESULT:
            try:
                out.append(decode_result(payload))
            except DecodeError as exc:
                out.append(exc)
            return out
        out.append(DecodeError(PROFILE, f"unknown notification type {kind}"))
        return out

    def finish(self) -> list[Packet | DecodeError]:
        out: list[Packet | DecodeError] = []
        self._flush_pending(out)
        return out


@dataclass
class MovesenseProfile(DeviceProfile):
    """Start-stream settings: ``/Meas/IMU6/104`` with client reference 99."""

    rate_hz: int = 104
    resource: Resource = "IMU6"
    ref: int = 99
    mtu: int = DEFAULT_MTU

    name = PROFILE
    title = "Movesense (GSP firmware)"
    service_uuid = SERVICE_UUID
    notify_uuids = (DATA_UUID,)
    name_prefixes = ("Movesense",)

    def __post_init__(self) -> None:
        measurement_path(self.resource, self.rate_hz)
        _ref(self.ref)
        if self.resource not in ("IMU6", "IMU9"):
            raise ValueError("the coach streams IMU6 or IMU9")

    def decoder(self) -> MovesenseDecoder:
        return MovesenseDecoder(DecodeSettings(self.resource, self.rate_hz, self.mtu))

    def plan(self) -> StreamPlan:
        return StreamPlan(
            {"imu": StreamTiming(float(self.rate_hz), "device_time")}, has_mag=self.resource == "IMU9"
        )

    def start_commands(self) -> list[bytes]:
        return [subscribe(self.ref, measurement_path(self.resource, self.rate_hz))]

    async def start(self, link: GattLink) -> StreamPlan:
        await link.subscribe(DATA_UUID)
        await link.write(Write(COMMAND_UUID, hello(self.ref), response=True))
        if await link.wait_for(lambda p: p.info.get("kind") == "hello", 3.0) is None:
            raise DeviceError(PROFILE, "no answer to HELLO: is the gatt_sensordata_app firmware installed?")
        for data in self.start_commands():
            await link.write(Write(COMMAND_UUID, data, response=True))
        return self.plan()

    async def stop(self, link: GattLink) -> None:
        await link.write(Write(COMMAND_UUID, unsubscribe(self.ref), response=True))
        await link.unsubscribe(DATA_UUID)
