"""MbientLab MetaMotion S (BMI270) / RL and R (BMI160): the MetaWear ``[module][register][payload]`` protocol.

Facts and vectors: ``docs/protocols/mbientlab_metamotion.md``. Commands go to ``326a9001`` (write without
response), everything comes back on ``326a9006``. We stream accelerometer and gyroscope in packed mode
(3 samples per notification) at 100 Hz. Notifications carry no time: sample times come from arrival
times (:mod:`drivers.clock`). The chip (BMI160 or BMI270) decides register numbers; the start logic reads
it from the module-info responses (``03 80`` / ``13 80``) before configuring anything.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

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
    float32_triples,
    float32_values,
    info_packet,
    int16_triples,
    unpack,
)

PROFILE = "metamotion"
SERVICE_UUID = "326a9000-85cb-9195-d9dd-464cfbbae75a"
COMMAND_UUID = "326a9001-85cb-9195-d9dd-464cfbbae75a"
NOTIFY_UUID = "326a9006-85cb-9195-d9dd-464cfbbae75a"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"

Chip = Literal["bmi160", "bmi270"]

# Module ids (core/module.h).
SWITCH, LED, ACC, TEMPERATURE, GPIO, HAPTIC, DATA_PROCESSOR, EVENT, LOGGING, TIMER = (
    0x01,
    0x02,
    0x03,
    0x04,
    0x05,
    0x08,
    0x09,
    0x0A,
    0x0B,
    0x0C,
)
MACRO, SETTINGS, BARO, GYRO, AMBIENT_LIGHT, MAG, FUSION, DEBUG = (
    0x0F,
    0x11,
    0x12,
    0x13,
    0x14,
    0x15,
    0x19,
    0xFE,
)
READ = 0x80

# Register numbers that differ between the chips.
ACC_DATA = 0x04
ACC_PACKED = {"bmi160": 0x1C, "bmi270": 0x05}
GYRO_DATA = {"bmi160": 0x05, "bmi270": 0x04}
GYRO_PACKED = {"bmi160": 0x07, "bmi270": 0x05}
MAG_DATA = 0x05

ACC_LSB_PER_G = {2.0: 16384.0, 4.0: 8192.0, 8.0: 4096.0, 16.0: 2048.0}
ACC_RANGE_BYTE = {
    "bmi160": {2.0: 0x03, 4.0: 0x05, 8.0: 0x08, 16.0: 0x0C},
    "bmi270": {2.0: 0x00, 4.0: 0x01, 8.0: 0x02, 16.0: 0x03},
}
ACC_ODR_BYTE = {
    "bmi160": {
        0.78125: 0x81,
        1.5625: 0x82,
        3.125: 0x83,
        6.25: 0x84,
        12.5: 0x25,
        25.0: 0x26,
        50.0: 0x27,
        100.0: 0x28,
        200.0: 0x29,
        400.0: 0x2A,
        800.0: 0x2B,
        1600.0: 0x2C,
    },
    "bmi270": {
        0.78125: 0x21,
        1.5625: 0x22,
        3.125: 0x23,
        6.25: 0x24,
        12.5: 0xA5,
        25.0: 0xA6,
        50.0: 0xA7,
        100.0: 0xA8,
        200.0: 0xA9,
        400.0: 0xAA,
        800.0: 0xAB,
        1600.0: 0xAC,
    },
}
GYRO_ODR = {25.0: 6, 50.0: 7, 100.0: 8, 200.0: 9, 400.0: 10, 800.0: 11, 1600.0: 12, 3200.0: 13}
GYRO_BWP = 2
GYRO_RANGE_INDEX = {2000.0: 0, 1000.0: 1, 500.0: 2, 250.0: 3, 125.0: 4}
GYRO_LSB_PER_DPS = {2000.0: 16.4, 1000.0: 32.8, 500.0: 65.6, 250.0: 131.2, 125.0: 262.4}
MAG_LSB_PER_UT = 16.0
#: Accounter tick (logging.cpp TICK_TIME_STEP): 48/32768 s.
ACCOUNTER_TICK_S = 48.0 / 32768.0
#: Data-processor creation commands quoted from the SDK tests (their encoding is not documented further).
ACCOUNTER_COUNT_ON_ACC = bytes.fromhex("0902 0304 ffa0 1130 03")
ACCOUNTER_TIME_ON_ACC = bytes.fromhex("0902 0304 ffa0 1131 03")

# Sensor fusion (module 0x19).
FUSION_MODES = {"sleep": 0, "ndof": 1, "imuplus": 2, "compass": 3, "m4g": 4}
FUSION_OUTPUT_BIT = {
    "acc": 0,
    "gyro": 1,
    "mag": 2,
    "quaternion": 3,
    "euler": 4,
    "gravity": 5,
    "linear_acc": 6,
}
ACC_RANGE_INDEX = {2.0: 0, 4.0: 1, 8.0: 2, 16.0: 3}


def _nearest(table: dict[float, int], value: float, what: str) -> float:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number, not {value}")
    return min(table, key=lambda k: abs(k - value))


# -- encoders --------------------------------------------------------------------------------------------


def module_info(module: int) -> bytes:
    """Ask which chip implements ``module``: the answer is ``[id, 80, implementation, revision, ...]``."""
    return bytes((module, READ))


def acc_config(chip: Chip, rate_hz: float, range_g: float) -> bytes:
    """``03 03 <odr> <range>``; rate and range snap to the nearest supported value (as the SDK does)."""
    odr = ACC_ODR_BYTE[chip][_nearest(ACC_ODR_BYTE[chip], rate_hz, "rate_hz")]
    rng = ACC_RANGE_BYTE[chip][_nearest(ACC_RANGE_BYTE[chip], range_g, "range_g")]
    return bytes((ACC, 0x03, odr, rng))


def acc_subscribe(chip: Chip, packed: bool, on: bool = True) -> bytes:
    return bytes((ACC, ACC_PACKED[chip] if packed else ACC_DATA, 1 if on else 0))


def sampling(module: int, on: bool) -> bytes:
    """Enable (``xx 02 01 00``) or disable (``xx 02 00 01``) a sensor's data interrupt."""
    return bytes((module, 0x02, 1, 0) if on else (module, 0x02, 0, 1))


def power(module: int, on: bool) -> bytes:
    """Start (``xx 01 01``) or stop (``xx 01 00``) a sensor."""
    return bytes((module, 0x01, 1 if on else 0))


def gyro_config(rate_hz: float, range_dps: float) -> bytes:
    """``13 03 <odr | bwp<<4> <range>`` (the BMI160 bitfield, also used on BMI270 boards)."""
    odr = GYRO_ODR[_nearest(GYRO_ODR, rate_hz, "rate_hz")]
    rng = GYRO_RANGE_INDEX[_nearest(GYRO_RANGE_INDEX, range_dps, "range_dps")]
    return bytes((GYRO, 0x03, odr | GYRO_BWP << 4, rng))


def gyro_subscribe(chip: Chip, packed: bool, on: bool = True) -> bytes:
    return bytes((GYRO, GYRO_PACKED[chip] if packed else GYRO_DATA[chip], 1 if on else 0))


MAG_PRESETS: dict[str, tuple[bytes, bytes]] = {
    "regular": (bytes.fromhex("15 04 04 0e"), bytes.fromhex("15 03 00")),
    "low_power": (bytes.fromhex("15 04 01 02"), bytes.fromhex("15 03 00")),
    "enhanced": (bytes.fromhex("15 04 07 1a"), bytes.fromhex("15 03 00")),
    "high_accuracy": (bytes.fromhex("15 04 17 52"), bytes.fromhex("15 03 05")),
}


def mag_preset(preset: str, revision: int = 1) -> list[bytes]:
    """BMM150 preset writes; revision-2 firmware first stops the magnetometer (``15 01 00``)."""
    writes = list(MAG_PRESETS[preset])
    return [power(MAG, False), *writes] if revision >= 2 else writes


def mag_subscribe(on: bool = True) -> bytes:
    return bytes((MAG, MAG_DATA, 1 if on else 0))


def fusion_config(mode: str, acc_range_g: float, gyro_range_dps: float, chip: Chip) -> list[bytes]:
    """Sensor-fusion mode write and the matching sensor configs the SDK sends (NDoF and IMUPlus)."""
    if mode not in ("ndof", "imuplus"):
        raise ValueError("only the ndof and imuplus fusion configurations are documented with vectors")
    acc_idx = ACC_RANGE_INDEX[_nearest(ACC_RANGE_INDEX, acc_range_g, "acc_range_g")]
    gyr_idx = GYRO_RANGE_INDEX[_nearest(GYRO_RANGE_INDEX, gyro_range_dps, "gyro_range_dps")]
    writes = [
        bytes((FUSION, 0x02, FUSION_MODES[mode], (gyr_idx + 1) << 4 | acc_idx)),
        acc_config(chip, 100.0, acc_range_g),
        gyro_config(100.0, gyro_range_dps),
    ]
    if mode == "ndof":
        writes += [bytes.fromhex("15 04 04 0e"), bytes.fromhex("15 03 06")]  # BMM150 at 25 Hz
    return writes


def fusion_start(outputs: list[str], with_mag: bool = True) -> list[bytes]:
    mask = 0
    for name in outputs:
        mask |= 1 << FUSION_OUTPUT_BIT[name]
    modules = [ACC, GYRO, *([MAG] if with_mag else [])]
    return (
        [sampling(m, True) for m in modules]
        + [power(m, True) for m in modules]
        + [bytes((FUSION, 0x03, mask, 0x00)), bytes((FUSION, 0x01, 0x01))]
    )


def fusion_stop(with_mag: bool = True) -> list[bytes]:
    modules = [ACC, GYRO, *([MAG] if with_mag else [])]
    return (
        [bytes((FUSION, 0x01, 0x00)), bytes((FUSION, 0x03, 0x00, 0x7F))]
        + [power(m, False) for m in modules]
        + [sampling(m, False) for m in modules]
    )


def fusion_subscribe(output: str, on: bool = True) -> bytes:
    return bytes((FUSION, 0x04 + FUSION_OUTPUT_BIT[output], 1 if on else 0))


def fusion_read_calibration() -> bytes:
    return bytes((FUSION, READ | 0x0B))


def fusion_reset_orientation() -> bytes:
    return bytes((FUSION, 0x0F, 0x01))


def baro_start(on: bool = True) -> bytes:
    return bytes((BARO, 0x04, 1, 1) if on else (BARO, 0x04, 0, 0))


def baro_subscribe(what: Literal["pressure", "altitude"], on: bool = True) -> bytes:
    return bytes((BARO, 0x01 if what == "pressure" else 0x02, 1 if on else 0))


def connection_parameters(
    min_interval_ms: float, max_interval_ms: float, latency: int, timeout_ms: float
) -> bytes:
    """``11 09 <min> <max> <latency> <timeout>``: intervals in 1.25 ms units, timeout in 10 ms units."""
    return bytes((SETTINGS, 0x09)) + struct.pack(
        "<HHHH", int(min_interval_ms / 1.25), int(max_interval_ms / 1.25), latency, int(timeout_ms / 10)
    )


def read_battery() -> bytes:
    return bytes((SETTINGS, READ | 0x0C))


def read_mac() -> bytes:
    return bytes((SETTINGS, READ | 0x0B))


def haptic_motor(duty_pct: float, duration_ms: int) -> bytes:
    return bytes((HAPTIC, 0x01, int(duty_pct / 100.0 * 248))) + struct.pack("<HB", duration_ms, 0)


def haptic_buzzer(duration_ms: int) -> bytes:
    return bytes((HAPTIC, 0x01, 0x7F)) + struct.pack("<HB", duration_ms, 1)


def led_play(autoplay: bool = False) -> bytes:
    return bytes((LED, 0x01, 2 if autoplay else 1))


def led_pause() -> bytes:
    return bytes((LED, 0x01, 0))


def led_stop(clear: bool = True) -> bytes:
    return bytes((LED, 0x02, 1 if clear else 0))


def debug_reset() -> bytes:
    return bytes((DEBUG, 0x01))


def debug_disconnect() -> bytes:
    return bytes((DEBUG, 0x06))


# -- decoders --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    """What a notification does not carry: the chip, the ranges, an accounter in front of acc data."""

    chip: Chip = "bmi270"
    acc_range_g: float = 8.0
    gyr_range_dps: float = 2000.0
    accounter: Literal["count", "time"] | None = None

    def __post_init__(self) -> None:
        if self.chip not in ("bmi160", "bmi270"):
            raise ValueError("chip must be bmi160 or bmi270")
        if self.acc_range_g not in ACC_LSB_PER_G:
            raise ValueError(f"acc range must be one of {sorted(ACC_LSB_PER_G)} g")
        if self.gyr_range_dps not in GYRO_LSB_PER_DPS:
            raise ValueError(f"gyro range must be one of {sorted(GYRO_LSB_PER_DPS)} °/s")


def _acc(settings: DecodeSettings, raw: bytes) -> np.ndarray:
    counts = int16_triples(PROFILE, raw, "accelerometer data")
    return counts / ACC_LSB_PER_G[settings.acc_range_g] * GRAVITY_MPS2


def _gyr(settings: DecodeSettings, raw: bytes) -> np.ndarray:
    counts = int16_triples(PROFILE, raw, "gyroscope data")
    return counts / GYRO_LSB_PER_DPS[settings.gyr_range_dps] * DEG2RAD


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) != n:
        raise DecodeError(PROFILE, f"{what} ({payload[:2].hex(' ')}) needs {n} bytes, got {len(payload)}")


_FUSION_VECTOR = {
    0x04: ("corrected_acc", True),
    0x05: ("corrected_gyro", True),
    0x06: ("corrected_mag", True),
}


def decode_packet(payload: bytes, settings: DecodeSettings | None = None) -> Packet:
    """Decode one notification of ``326a9006``."""
    s = settings or DecodeSettings()
    if len(payload) < 2:
        raise DecodeError(PROFILE, f"a notification has at least 2 header bytes, got {len(payload)}")
    module, register, body = payload[0], payload[1], payload[2:]
    if register == READ:
        # Module info: [id, 80] alone when the module is absent, else implementation, revision, extra.
        present = len(body) >= 2
        fields: dict[str, object] = {"module": module, "present": present}
        if present:
            fields.update(implementation=body[0], revision=body[1], extra=body[2:].hex())
            if module == ACC:
                fields["chip"] = {1: "bmi160", 4: "bmi270"}.get(body[0], "unknown")
            elif module == GYRO:
                fields["chip"] = {0: "bmi160", 1: "bmi270"}.get(body[0], "unknown")
        return info_packet("module_info", **fields)
    if module == ACC:
        if register == ACC_DATA:
            _need(payload, 8, "accelerometer data")
            return Packet("acc", acc_mps2=_acc(s, body))
        if register == ACC_PACKED[s.chip]:
            _need(payload, 20, "packed accelerometer data")
            return Packet("acc", acc_mps2=_acc(s, body))
    elif module == GYRO:
        # On BMI270 boards register 5 is packed data, on BMI160 boards it is single samples.
        if register == GYRO_PACKED[s.chip]:
            _need(payload, 20, "packed gyroscope data")
            return Packet("gyr", gyr_rps=_gyr(s, body))
        if register == GYRO_DATA[s.chip]:
            _need(payload, 8, "gyroscope data")
            return Packet("gyr", gyr_rps=_gyr(s, body))
    elif module == MAG and register == MAG_DATA:
        _need(payload, 8, "magnetometer data")
        return Packet("mag", mag_ut=int16_triples(PROFILE, body, "magnetometer data") / MAG_LSB_PER_UT)
    elif module == BARO and register in (0x01, 0x02):
        _need(payload, 6, "barometer data")
        if register == 0x01:
            (raw_p,) = unpack(PROFILE, "<I", body)
            return Packet("pressure", pressure_pa=np.array([raw_p / 256.0]))
        (raw_alt,) = unpack(PROFILE, "<i", body)
        return info_packet("altitude", altitude_m=raw_alt / 256.0)
    elif module == SETTINGS and register == READ | 0x0C:
        _need(payload, 5, "battery state")
        pct, mv = unpack(PROFILE, "<BH", body)
        if pct > 100:
            raise DecodeError(PROFILE, f"battery charge {pct} % is not a percentage")
        return info_packet("battery", battery_pct=pct, voltage_v=mv / 1000.0)
    elif module == SETTINGS and register == READ | 0x0B:
        _need(payload, 9, "MAC address")
        return info_packet("mac", mac=":".join(f"{b:02X}" for b in reversed(body[1:7])))
    elif module == FUSION:
        return _decode_fusion(register, payload, body)
    elif module == DATA_PROCESSOR and register == 0x03:
        return _decode_accounter(s, payload, body)
    raise DecodeError(
        PROFILE, f"unknown message {payload[:2].hex(' ')} ({len(payload)} bytes) for a {s.chip} board"
    )


def _decode_fusion(register: int, payload: bytes, body: bytes) -> Packet:
    if register in _FUSION_VECTOR:
        _need(payload, 15, "sensor-fusion vector")
        xyz = float32_triples(PROFILE, body[:12], "sensor-fusion vector")[0]
        accuracy = body[12]
        if accuracy > 3:
            raise DecodeError(PROFILE, f"sensor-fusion accuracy byte {accuracy} is not 0..3")
        if register == 0x04:  # milli-g
            return Packet(
                "acc",
                acc_mps2=(xyz / 1000.0 * GRAVITY_MPS2).reshape(1, 3),
                info={"kind": "fusion", "accuracy": accuracy},
            )
        if register == 0x05:
            return Packet(
                "gyr", gyr_rps=(xyz * DEG2RAD).reshape(1, 3), info={"kind": "fusion", "accuracy": accuracy}
            )
        return Packet("mag", mag_ut=xyz.reshape(1, 3), info={"kind": "fusion", "accuracy": accuracy})
    if register in (0x07, 0x08):
        _need(payload, 18, "sensor-fusion quaternion/euler")
        values = float32_values(PROFILE, body, "sensor-fusion output")
        if register == 0x07:
            return info_packet("quaternion", wxyz=[float(v) for v in values])
        heading, pitch, roll, yaw = (float(v) for v in values)
        return info_packet("euler", heading_deg=heading, pitch_deg=pitch, roll_deg=roll, yaw_deg=yaw)
    if register in (0x09, 0x0A):
        _need(payload, 14, "sensor-fusion gravity/linear acceleration")
        xyz = float32_triples(PROFILE, body, "sensor-fusion gravity/linear acceleration")[0]
        return info_packet("gravity" if register == 0x09 else "linear_acc", xyz_mps2=[float(v) for v in xyz])
    if register == READ | 0x0B:
        _need(payload, 5, "sensor-fusion calibration state")
        if max(body) > 3:
            raise DecodeError(PROFILE, "calibration accuracy bytes must be 0..3")
        return info_packet("fusion_calibration", acc=body[0], gyro=body[1], mag=body[2])
    raise DecodeError(PROFILE, f"unknown sensor-fusion message {payload[:2].hex(' ')}")


def _decode_accounter(s: DecodeSettings, payload: bytes, body: bytes) -> Packet:
    """``09 03 <id> <u32 count or ticks> <acc payload>`` (accounter in front of accelerometer data)."""
    _need(payload, 13, "accounter + accelerometer data")
    (value,) = unpack(PROFILE, "<I", body, 1)
    acc = _acc(s, body[5:])
    if s.accounter == "time":
        return Packet(
            "acc",
            acc_mps2=acc,
            device_time_s=np.array([value * ACCOUNTER_TICK_S]),
            time_wrap_s=2**32 * ACCOUNTER_TICK_S,
            info={"kind": "accounter", "ticks": value, "processor": body[0]},
        )
    return Packet(
        "acc",
        acc_mps2=acc,
        counter=value,
        counter_wrap=2**32,
        info={"kind": "accounter", "count": value, "processor": body[0]},
    )


class MetamotionDecoder(StreamDecoder):
    """Stateless per notification, except the chip, which it learns from module-info responses."""

    profile = PROFILE

    def __init__(self, settings: DecodeSettings | None = None) -> None:
        self.settings = settings or DecodeSettings()

    def feed(self, char_uuid: str, payload: bytes) -> list[Packet | DecodeError]:
        try:
            packet = decode_packet(payload, self.settings)
        except DecodeError as exc:
            return [exc]
        chip = packet.info.get("chip")
        if packet.info.get("kind") == "module_info" and chip in ("bmi160", "bmi270"):
            self.settings = DecodeSettings(
                chip, self.settings.acc_range_g, self.settings.gyr_range_dps, self.settings.accounter
            )
        return [packet]


@dataclass
class MetamotionProfile(DeviceProfile):
    """Start-stream settings: 100 Hz, ±8 g, ±2000 °/s, one sample per notification; the chip is read from
    the board. Single-sample notifications time better from arrivals (a 10 ms packet period instead of
    30 ms: see docs/drivers.md); ``packed=True`` (3 per notification) is for rates above 100 Hz."""

    rate_hz: float = 100.0
    acc_range_g: float = 8.0
    gyr_range_dps: float = 2000.0
    packed: bool = False
    chip: Chip = "bmi270"

    name = PROFILE
    title = "MbientLab MetaMotion S / RL"
    service_uuid = SERVICE_UUID
    notify_uuids = (NOTIFY_UUID,)
    name_prefixes = ("MetaWear", "MetaMotion")

    def __post_init__(self) -> None:
        DecodeSettings(self.chip, self.acc_range_g, self.gyr_range_dps)  # validates

    def decoder(self) -> MetamotionDecoder:
        return MetamotionDecoder(DecodeSettings(self.chip, self.acc_range_g, self.gyr_range_dps))

    def plan(self) -> StreamPlan:
        timing = StreamTiming(self.rate_hz, "arrival", rate_tolerance=1e-3)
        return StreamPlan({"acc": timing, "gyr": timing})

    def start_writes(self, chip: Chip) -> list[bytes]:
        return [
            connection_parameters(7.5, 7.5, 0, 6000),  # the SDK docs advise 7.5 ms; the central may refuse
            acc_config(chip, self.rate_hz, self.acc_range_g),
            gyro_config(self.rate_hz, self.gyr_range_dps),
            acc_subscribe(chip, self.packed),
            gyro_subscribe(chip, self.packed),
            sampling(ACC, True),
            sampling(GYRO, True),
            power(ACC, True),
            power(GYRO, True),
        ]

    def stop_writes(self, chip: Chip) -> list[bytes]:
        return [
            power(ACC, False),
            power(GYRO, False),
            sampling(ACC, False),
            sampling(GYRO, False),
            acc_subscribe(chip, self.packed, on=False),
            gyro_subscribe(chip, self.packed, on=False),
        ]

    async def start(self, link: GattLink) -> StreamPlan:
        await link.subscribe(NOTIFY_UUID)
        await link.write(Write(COMMAND_UUID, module_info(ACC)))
        info = await link.wait_for(
            lambda p: p.info.get("kind") == "module_info" and p.info.get("module") == ACC, 3.0
        )
        chip = info.info.get("chip") if info is not None else None
        if chip in ("bmi160", "bmi270"):
            self.chip = chip
        for data in self.start_writes(self.chip):
            await link.write(Write(COMMAND_UUID, data))
        return self.plan()

    async def stop(self, link: GattLink) -> None:
        for data in self.stop_writes(self.chip):
            await link.write(Write(COMMAND_UUID, data))
        await link.unsubscribe(NOTIFY_UUID)

    async def read_battery(self, link: GattLink) -> float | None:
        await link.write(Write(COMMAND_UUID, read_battery()))
        packet = await link.wait_for(lambda p: p.info.get("kind") == "battery", 2.0)
        return None if packet is None else packet.battery_pct
