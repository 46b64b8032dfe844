"""Nordic Thingy:52: the raw-data characteristic of the Thingy Motion Service.

Facts and vectors: ``docs/protocols/nordic_thingy52.md``. The motion config (``ef680401``, 9 bytes) sets
the motion-processing rate; enabling notifications on ``ef680406`` starts the raw stream: 18 bytes of
fixed point, acc Q6.10 g, gyro Q11.5 °/s, compass Q12.4 µT. No timestamps; the real rate is often
below the configured one, so the sample clock estimates the rate from arrivals (wide tolerance).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from coach.errors import DecodeError
from coach.units import GRAVITY_MPS2
from drivers.base import (
    DEG2RAD,
    DeviceProfile,
    GattLink,
    Packet,
    StreamDecoder,
    StreamPlan,
    StreamTiming,
    Write,
    info_packet,
)

PROFILE = "thingy52"


def _uuid(short: int) -> str:
    return f"ef68{short:04x}-9b35-4933-9b10-52ffa9740042"


MOTION_SERVICE_UUID = _uuid(0x0400)
MOTION_CONFIG_UUID = _uuid(0x0401)
QUATERNION_UUID = _uuid(0x0404)
RAW_UUID = _uuid(0x0406)
EULER_UUID = _uuid(0x0407)
CONFIG_SERVICE_UUID = _uuid(0x0100)
CONNECTION_PARAMS_UUID = _uuid(0x0104)

RAW_LEN = 18
ACC_Q = 1 << 10  # Q6.10 g
GYR_Q = 1 << 5  # Q11.5 °/s
MAG_Q = 1 << 4  # Q12.4 µT


def motion_config(
    rate_hz: int,
    wake_on_motion: bool = False,
    step_interval_ms: int = 1000,
    temp_interval_ms: int = 500,
    compass_interval_ms: int = 500,
) -> bytes:
    """The 9-byte motion configuration: three u16 intervals (ms), u16 motion rate (Hz), u8 wake-on-motion."""
    if not 5 <= rate_hz <= 200:
        raise ValueError("thingy52 motion rate must be 5..200 Hz")
    return struct.pack(
        "<HHHHB", step_interval_ms, temp_interval_ms, compass_interval_ms, rate_hz, int(wake_on_motion)
    )


def connection_parameters(
    min_interval_ms: float, max_interval_ms: float, latency: int, timeout_ms: float
) -> bytes:
    """Config-service connection parameters: intervals in 1.25 ms units, timeout in 10 ms units."""
    return struct.pack(
        "<HHHH", round(min_interval_ms / 1.25), round(max_interval_ms / 1.25), latency, round(timeout_ms / 10)
    )


def decode_raw(payload: bytes) -> Packet:
    if len(payload) != RAW_LEN:
        raise DecodeError(PROFILE, f"raw motion data is {RAW_LEN} bytes, got {len(payload)}")
    v = np.frombuffer(payload, dtype="<i2").astype(np.float64)
    return Packet(
        "imu",
        acc_mps2=(v[0:3] / ACC_Q * GRAVITY_MPS2).reshape(1, 3),
        gyr_rps=(v[3:6] / GYR_Q * DEG2RAD).reshape(1, 3),
        mag_ut=(v[6:9] / MAG_Q).reshape(1, 3),
    )


def decode_motion_config(payload: bytes) -> Packet:
    if len(payload) != 9:
        raise DecodeError(PROFILE, f"motion config is 9 bytes, got {len(payload)}")
    step, temp, compass, rate, wom = struct.unpack("<HHHHB", payload)
    return info_packet(
        "motion_config",
        step_interval_ms=step,
        temp_interval_ms=temp,
        compass_interval_ms=compass,
        rate_hz=rate,
        wake_on_motion=wom,
    )


def decode_quaternion(payload: bytes) -> Packet:
    if len(payload) != 16:
        raise DecodeError(PROFILE, f"quaternion is 16 bytes, got {len(payload)}")
    return info_packet("quaternion", wxyz=[v / 2**30 for v in struct.unpack("<4i", payload)])


def decode_euler(payload: bytes) -> Packet:
    if len(payload) != 12:
        raise DecodeError(PROFILE, f"euler angles are 12 bytes, got {len(payload)}")
    roll, pitch, yaw = (v / 65536.0 for v in struct.unpack("<3i", payload))
    return info_packet("euler", roll_deg=roll, pitch_deg=pitch, yaw_deg=yaw)


def decode_connection_parameters(payload: bytes) -> Packet:
    if len(payload) != 8:
        raise DecodeError(PROFILE, f"connection parameters are 8 bytes, got {len(payload)}")
    lo, hi, lat, to = struct.unpack("<4H", payload)
    return info_packet(
        "connection_parameters",
        min_interval_ms=lo * 1.25,
        max_interval_ms=hi * 1.25,
        latency=lat,
        timeout_ms=to * 10,
    )


_BY_CHAR = {
    RAW_UUID: decode_raw,
    MOTION_CONFIG_UUID: decode_motion_config,
    QUATERNION_UUID: decode_quaternion,
    EULER_UUID: decode_euler,
    CONNECTION_PARAMS_UUID: decode_connection_parameters,
}


def decode_packet(payload: bytes, char_uuid: str = RAW_UUID) -> Packet:
    """Decode a value of one of the Thingy motion characteristics (raw data by default)."""
    return _BY_CHAR.get(char_uuid, decode_raw)(payload)


class ThingyDecoder(StreamDecoder):
    profile = PROFILE

    def feed(self, char_uuid: str, payload: bytes) -> list[Packet | DecodeError]:
        try:
            return [decode_packet(payload, char_uuid)]
        except DecodeError as exc:
            return [exc]


@dataclass
class Thingy52Profile(DeviceProfile):
    """Start-stream settings: motion processing at 100 Hz, wake-on-motion off, 7.5 ms connection interval."""

    rate_hz: int = 100

    name = PROFILE
    title = "Nordic Thingy:52"
    service_uuid = MOTION_SERVICE_UUID
    notify_uuids = (RAW_UUID,)
    name_prefixes = ("Thingy",)

    def __post_init__(self) -> None:
        motion_config(self.rate_hz)

    def decoder(self) -> ThingyDecoder:
        return ThingyDecoder()

    def plan(self) -> StreamPlan:
        # Delivered rates of 30–60 % of the configured one are reported: let the clock find the rate.
        return StreamPlan(
            {"imu": StreamTiming(float(self.rate_hz), "arrival", rate_tolerance=0.6)}, has_mag=True
        )

    def start_writes(self) -> list[Write]:
        return [
            Write(MOTION_CONFIG_UUID, motion_config(self.rate_hz), response=True),
            Write(CONNECTION_PARAMS_UUID, connection_parameters(7.5, 7.5, 0, 1000), response=True),
        ]

    async def start(self, link: GattLink) -> StreamPlan:
        for w in self.start_writes():
            if link.has_characteristic(w.char_uuid):
                await link.write(w)
        await link.subscribe(RAW_UUID)  # enabling notifications switches the raw stream on
        return self.plan()

    async def stop(self, link: GattLink) -> None:
        await link.unsubscribe(RAW_UUID)
