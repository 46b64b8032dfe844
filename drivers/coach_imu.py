"""``coach-imu``: the open GATT profile of this project, for do-it-yourself sensors (nRF52840 / ESP32 with
any 6-axis IMU). The full specification and a firmware guide are in ``docs/coach-imu-firmware.md``.

Every data packet describes itself (sample counter, device time in µs, sample period, full-scale
ranges), so it decodes without knowing the settings, drops are counted exactly from the counter, and
sample times come from the device clock.

UUIDs share one random 128-bit base, ``5c85xxxx-bd97-4e47-beb2-7a1d1d2dd53a``.
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

PROFILE = "coach-imu"


def _uuid(short: int) -> str:
    return f"5c85{short:04x}-bd97-4e47-beb2-7a1d1d2dd53a"


SERVICE_UUID = _uuid(0x0100)
DATA_UUID = _uuid(0x0101)  # notify: sample packets
CONTROL_UUID = _uuid(0x0102)  # write (with response) + notify: commands and their acknowledgements
INFO_UUID = _uuid(0x0103)  # read: what the device can do

TYPE_IMU6 = 0x11
TYPE_IMU9 = 0x12
HEADER = struct.Struct(
    "<BBHIHBBHH"
)  # type, n, counter, t_us, period_us, acc_fs_g, flags, gyr_fs_dps, mag_lsb_nT
HEADER_LEN = HEADER.size  # 16
SAMPLE_LEN = {TYPE_IMU6: 12, TYPE_IMU9: 18}
COUNTER_WRAP = 1 << 16
TIME_WRAP_S = (1 << 32) * 1e-6

OP_START, OP_STOP, OP_SET_RATE, OP_IDENTIFY = 0x01, 0x02, 0x03, 0x04
ACK = 0x80
STATUS = ("ok", "unsupported", "invalid_parameter", "busy")
ACC_FS_G = (2, 4, 8, 16, 32)
FLAG_MAG = 0x01
INFO = struct.Struct("<BBHBHH")  # protocol version, axes, max rate Hz, acc fs g, gyr fs dps, firmware version


# -- encoders --------------------------------------------------------------------------------------------


def start_command(rate_hz: int, acc_fs_g: int, gyr_fs_dps: int, mag: bool = False) -> bytes:
    """``01 <rate u16> <acc_fs_g u8> <gyr_fs_dps u16> <flags u8>``."""
    _check_settings(rate_hz, acc_fs_g, gyr_fs_dps)
    return struct.pack("<BHBHB", OP_START, rate_hz, acc_fs_g, gyr_fs_dps, FLAG_MAG if mag else 0)


def stop_command() -> bytes:
    return bytes((OP_STOP,))


def set_rate_command(rate_hz: int) -> bytes:
    _check_settings(rate_hz, 8, 2000)
    return struct.pack("<BH", OP_SET_RATE, rate_hz)


def identify_command(seconds: int) -> bytes:
    return bytes((OP_IDENTIFY, seconds))


def encode_packet(
    counter: int,
    t_us: int,
    period_us: int,
    acc_counts: np.ndarray,
    gyr_counts: np.ndarray,
    acc_fs_g: int,
    gyr_fs_dps: int,
    mag_counts: np.ndarray | None = None,
    mag_lsb_nt: int = 0,
) -> bytes:
    """A data packet from int16 counts (the reference encoder of the spec; the simulator uses it)."""
    n = len(acc_counts)
    kind = TYPE_IMU6 if mag_counts is None else TYPE_IMU9
    head = HEADER.pack(
        kind,
        n,
        counter % COUNTER_WRAP,
        t_us % (1 << 32),
        period_us,
        acc_fs_g,
        0,
        gyr_fs_dps,
        0 if mag_counts is None else mag_lsb_nt,
    )
    parts = [acc_counts, gyr_counts] + ([] if mag_counts is None else [mag_counts])
    body = np.hstack([np.asarray(p, dtype=np.int64) for p in parts])
    if ((body < -32768) | (body > 32767)).any():
        raise ValueError("counts must fit int16")
    return head + body.astype("<i2").tobytes()


def _check_settings(rate_hz: int, acc_fs_g: int, gyr_fs_dps: int) -> None:
    if not 1 <= rate_hz <= 65535:
        raise ValueError("rate must be 1..65535 Hz")
    if acc_fs_g not in ACC_FS_G:
        raise ValueError(f"acc full scale must be one of {ACC_FS_G} g")
    if not 1 <= gyr_fs_dps <= 8000:
        raise ValueError("gyro full scale must be 1..8000 °/s")


# -- decoders --------------------------------------------------------------------------------------------


def decode_data(payload: bytes) -> Packet:
    if len(payload) < HEADER_LEN:
        raise DecodeError(PROFILE, f"a data packet has a {HEADER_LEN}-byte header, got {len(payload)} bytes")
    kind, n, counter, t_us, period_us, acc_fs, flags, gyr_fs, mag_lsb = HEADER.unpack_from(payload)
    if kind not in SAMPLE_LEN:
        raise DecodeError(PROFILE, f"unknown packet type 0x{kind:02x} (0x11 IMU6, 0x12 IMU9)")
    if n == 0 or len(payload) != HEADER_LEN + n * SAMPLE_LEN[kind]:
        raise DecodeError(
            PROFILE, f"{n} samples need {HEADER_LEN + n * SAMPLE_LEN[kind]} bytes, got {len(payload)}"
        )
    if flags:
        raise DecodeError(PROFILE, f"reserved flags byte is 0x{flags:02x}, must be 0")
    if period_us == 0 or acc_fs not in ACC_FS_G or not 1 <= gyr_fs <= 8000:
        raise DecodeError(
            PROFILE, f"bad scale fields: period {period_us} µs, acc ±{acc_fs} g, gyro ±{gyr_fs} °/s"
        )
    if (kind == TYPE_IMU9) != (mag_lsb != 0):
        raise DecodeError(PROFILE, "mag_lsb_nT must be non-zero exactly in IMU9 packets")
    counts = np.frombuffer(payload, dtype="<i2", offset=HEADER_LEN).reshape(n, -1).astype(np.float64)
    t = ((t_us + np.arange(n, dtype=np.int64) * period_us) % (1 << 32)) * 1e-6
    return Packet(
        "imu",
        acc_mps2=counts[:, 0:3] * (acc_fs / 32768.0 * GRAVITY_MPS2),
        gyr_rps=counts[:, 3:6] * (gyr_fs / 32768.0 * DEG2RAD),
        mag_ut=counts[:, 6:9] * (mag_lsb * 1e-3) if kind == TYPE_IMU9 else None,
        device_time_s=t,
        time_wrap_s=TIME_WRAP_S,
        counter=counter,
        counter_wrap=COUNTER_WRAP,
        info={"kind": "data", "period_us": period_us, "acc_fs_g": acc_fs, "gyr_fs_dps": gyr_fs, "t_us": t_us},
    )


def decode_control(payload: bytes) -> Packet:
    """Acknowledgement ``<0x80|opcode> <status> [<rate u16> <acc_fs u8> <gyr_fs u16>]``."""
    if len(payload) not in (2, 7) or not payload[0] & ACK or payload[0] & 0x7F not in (1, 2, 3, 4):
        raise DecodeError(PROFILE, f"not a control acknowledgement: {payload[:8].hex(' ')}")
    if payload[1] >= len(STATUS):
        raise DecodeError(PROFILE, f"unknown status {payload[1]}")
    fields: dict[str, object] = {"opcode": payload[0] & 0x7F, "status": STATUS[payload[1]]}
    if len(payload) == 7:
        rate, acc_fs, gyr_fs = struct.unpack_from("<HBH", payload, 2)
        fields.update(rate_hz=rate, acc_fs_g=acc_fs, gyr_fs_dps=gyr_fs)
    return info_packet("ack", **fields)


def decode_info(payload: bytes) -> Packet:
    if len(payload) != INFO.size:
        raise DecodeError(PROFILE, f"info is {INFO.size} bytes, got {len(payload)}")
    version, axes, max_rate, acc_fs, gyr_fs, firmware = INFO.unpack(payload)
    if axes not in (6, 9):
        raise DecodeError(PROFILE, f"info: axes must be 6 or 9, not {axes}")
    return info_packet(
        "info",
        protocol_version=version,
        axes=axes,
        max_rate_hz=max_rate,
        acc_fs_g=acc_fs,
        gyr_fs_dps=gyr_fs,
        firmware=firmware,
    )


def encode_info(
    axes: int, max_rate_hz: int, acc_fs_g: int, gyr_fs_dps: int, firmware: int, version: int = 1
) -> bytes:
    return INFO.pack(version, axes, max_rate_hz, acc_fs_g, gyr_fs_dps, firmware)


def decode_packet(payload: bytes, char_uuid: str | None = None) -> Packet:
    """Decode a data packet, or (by characteristic, or by the first byte's 0x80 bit) an acknowledgement."""
    if char_uuid == CONTROL_UUID or (char_uuid is None and payload[:1] and payload[0] & ACK):
        return decode_control(payload)
    if char_uuid == INFO_UUID:
        return decode_info(payload)
    return decode_data(payload)


class CoachImuDecoder(StreamDecoder):
    profile = PROFILE

    def feed(self, char_uuid: str, payload: bytes) -> list[Packet | DecodeError]:
        try:
            return [
                decode_packet(
                    payload, char_uuid if char_uuid in (DATA_UUID, CONTROL_UUID, INFO_UUID) else None
                )
            ]
        except DecodeError as exc:
            return [exc]


@dataclass
class CoachImuProfile(DeviceProfile):
    """Start-stream settings: 100 Hz, ±8 g, ±2000 °/s, no magnetometer."""

    rate_hz: int = 100
    acc_fs_g: int = 8
    gyr_fs_dps: int = 2000
    mag: bool = False

    name = PROFILE
    title = "coach-imu (open DIY profile)"
    service_uuid = SERVICE_UUID
    notify_uuids = (DATA_UUID, CONTROL_UUID)
    name_prefixes = ("coach-imu",)

    def __post_init__(self) -> None:
        _check_settings(self.rate_hz, self.acc_fs_g, self.gyr_fs_dps)

    def decoder(self) -> CoachImuDecoder:
        return CoachImuDecoder()

    def plan(self) -> StreamPlan:
        return StreamPlan(
            {"imu": StreamTiming(float(self.rate_hz), "device_time", rate_tolerance=2e-3)}, has_mag=self.mag
        )

    def start_commands(self) -> list[bytes]:
        return [start_command(self.rate_hz, self.acc_fs_g, self.gyr_fs_dps, self.mag)]

    async def start(self, link: GattLink) -> StreamPlan:
        if link.has_characteristic(INFO_UUID):
            info = decode_info(await link.read(INFO_UUID))
            if self.mag and info.info["axes"] != 9:
                self.mag = False  # a 6-axis board: stream without magnetometer
        await link.subscribe(CONTROL_UUID)
        await link.subscribe(DATA_UUID)
        for data in self.start_commands():
            await link.write(Write(CONTROL_UUID, data, response=True))
        ack = await link.wait_for(
            lambda p: p.info.get("kind") == "ack" and p.info.get("opcode") == OP_START, 2.0
        )
        if ack is not None and ack.info.get("rate_hz"):
            self.rate_hz = int(ack.info["rate_hz"])  # the board may round the rate to what it can do
        return self.plan()

    async def stop(self, link: GattLink) -> None:
        await link.write(Write(CONTROL_UUID, stop_command(), response=True))
        await link.unsubscribe(DATA_UUID)
        await link.unsubscribe(CONTROL_UUID)
