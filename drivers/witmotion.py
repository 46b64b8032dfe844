"""WitMotion WT901BLECL / BWT901BLECL 5.0 / WT9011DCL: 20-byte ``55 61`` packets on ``ffe4``.

Facts and vectors: ``docs/protocols/witmotion.md``. Streaming needs no start command; the return rate
is register 0x03 (``FF AA 03 <code> 00`` on ``ffe9``). Packets carry acc ±16 g, gyro ±2000 °/s and Euler
angles, but no timestamp, counter or checksum: sample times come from arrival times
(:mod:`drivers.clock`). Note the vendor UUID base ``…9a34fb`` (not the SIG ``…9b34fb``).
"""

from __future__ import annotations

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

PROFILE = "witmotion"
SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"

PACKET_LEN = 20
HEADER = 0x55
FLAG_DATA = 0x61
FLAG_REGISTERS = 0x71
ACC_RANGE_G = 16.0  # hard-coded in every vendor parser
GYR_RANGE_DPS = 2000.0
ANGLE_RANGE_DEG = 180.0

#: Return-rate codes of register 0x03 (Hz -> code); 200 Hz is 0x0B per the vendor SDK (0x0A per a
#: third-party reading of the datasheet: see ``rate_200_code``).
RATE_CODES: dict[float, int] = {
    0.2: 0x01,
    0.5: 0x02,
    1.0: 0x03,
    2.0: 0x04,
    5.0: 0x05,
    10.0: 0x06,
    20.0: 0x07,
    50.0: 0x08,
    100.0: 0x09,
    200.0: 0x0B,
}

REG_SAVE = 0x00
REG_CALIBRATE = 0x01
REG_RATE = 0x03
REG_BANDWIDTH = 0x1F
REG_ALGORITHM = 0x24
REG_READ = 0x27
REG_TEMPERATURE = 0x40
REG_MAG = 0x3A
REG_QUATERNION = 0x51
REG_BATTERY = 0x64
REG_UNLOCK = 0x69
BANDWIDTH_CODES: dict[int, int] = {188: 0x02, 98: 0x03, 42: 0x04, 20: 0x05, 10: 0x06, 5: 0x07}


# -- encoders (all 5-byte ``FF AA <reg> <valL> <valH>`` writes to ffe9) -----------------------------------


def command(register: int, value: int) -> bytes:
    """``FF AA <reg> <value u16 LE>``."""
    if not (0 <= register <= 0xFF and 0 <= value <= 0xFFFF):
        raise ValueError(f"register 0x{register:x} / value {value} out of range")
    return bytes((0xFF, 0xAA, register, value & 0xFF, value >> 8))


def unlock() -> bytes:
    return command(REG_UNLOCK, 0xB588)


def save() -> bytes:
    return command(REG_SAVE, 0)


def factory_reset() -> bytes:
    return command(REG_SAVE, 1)


def read_register(register: int) -> bytes:
    """Ask for 8 registers from ``register``; the answer comes as a ``55 71`` notification."""
    return command(REG_READ, register)


def rate_code(rate_hz: float, rate_200_code: int = 0x0B) -> int:
    for hz, code in RATE_CODES.items():
        if abs(hz - rate_hz) < 1e-9:
            return rate_200_code if hz == 200.0 else code
    raise ValueError(f"witmotion return rate must be one of {sorted(RATE_CODES)} Hz, not {rate_hz}")


def set_rate(rate_hz: float, rate_200_code: int = 0x0B) -> bytes:
    return command(REG_RATE, rate_code(rate_hz, rate_200_code))


def acc_calibration() -> bytes:
    return command(REG_CALIBRATE, 0x01)


def mag_calibration_start() -> bytes:
    return command(REG_CALIBRATE, 0x07)


def mag_calibration_stop() -> bytes:
    return command(REG_CALIBRATE, 0x00)


def angle_reference() -> bytes:
    return command(REG_CALIBRATE, 0x08)


def algorithm(axes: int) -> bytes:
    """6-axis (``FF AA 24 01 00``) or 9-axis (``FF AA 24 00 00``) fusion (third-party source only)."""
    if axes not in (6, 9):
        raise ValueError("axes must be 6 or 9")
    return command(REG_ALGORITHM, 1 if axes == 6 else 0)


def bandwidth(hz: int) -> bytes:
    if hz not in BANDWIDTH_CODES:
        raise ValueError(f"bandwidth must be one of {sorted(BANDWIDTH_CODES)} Hz")
    return command(REG_BANDWIDTH, BANDWIDTH_CODES[hz])


# -- decoders -------------------------------------------------------------------------------------------


def decode_packet(payload: bytes) -> Packet:
    """Decode one whole 20-byte packet (``55 61`` data or ``55 71`` register read)."""
    if len(payload) != PACKET_LEN:
        raise DecodeError(PROFILE, f"a packet is {PACKET_LEN} bytes, got {len(payload)}")
    if payload[0] != HEADER or payload[1] not in (FLAG_DATA, FLAG_REGISTERS):
        raise DecodeError(PROFILE, f"packet must start 55 61 or 55 71, not {payload[:2].hex(' ')}")
    values = np.frombuffer(payload, dtype="<i2", offset=2).astype(np.int64)
    if payload[1] == FLAG_DATA:
        acc = values[0:3] / 32768.0 * ACC_RANGE_G * GRAVITY_MPS2
        gyr = values[3:6] / 32768.0 * GYR_RANGE_DPS * DEG2RAD
        angle = values[6:9] / 32768.0 * ANGLE_RANGE_DEG
        return Packet(
            "imu",
            acc_mps2=acc.reshape(1, 3),
            gyr_rps=gyr.reshape(1, 3),
            info={"kind": "data", "angle_deg": [float(a) for a in angle]},
        )
    start = int(payload[2]) | int(payload[3]) << 8
    regs = [int(v) for v in values[1:9]]
    fields: dict[str, object] = {"start_reg": start, "values": regs}
    if start == REG_QUATERNION:
        fields["quaternion"] = [v / 32768.0 for v in regs[:4]]
    elif start == REG_BATTERY:
        volts = regs[0] / 100.0
        fields["voltage_v"] = volts
        fields["battery_pct"] = battery_pct_from_voltage(volts)
    elif start == REG_TEMPERATURE:
        fields["temperature_c"] = regs[0] / 100.0
    elif start == REG_MAG:
        # Unit disputed between sources (datasheet "mG" = 0.1 µT/count, SDK raw/120, chip-dependent):
        # the raw counts are reported, not a converted field.
        fields["mag_raw"] = regs[:3]
    return info_packet("registers", **fields)


#: Single Li-ion cell, resting voltage -> charge (approximate; WitMotion documents no curve).
_LIION_CURVE_V = (3.30, 3.60, 3.70, 3.75, 3.80, 3.90, 4.00, 4.10, 4.20)
_LIION_CURVE_PCT = (0.0, 10.0, 30.0, 45.0, 55.0, 70.0, 82.0, 93.0, 100.0)


def battery_pct_from_voltage(volts: float) -> float:
    return float(np.interp(volts, _LIION_CURVE_V, _LIION_CURVE_PCT))


class WitmotionDecoder(StreamDecoder):
    """Resynchronising byte-stream decoder: packets may be split across or packed into notifications.

    Bytes before a ``55 61`` / ``55 71`` header are skipped (the vendor parsers do the same); a
    notification that is pure garbage (nothing decoded, nothing pending) is reported as an error.
    """

    profile = PROFILE
    MAX_BUFFER = 4 * PACKET_LEN

    def __init__(self) -> None:
        self._buf = bytearray()
        self.discarded_bytes = 0

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, char_uuid: str, payload: bytes) -> list[Packet | DecodeError]:
        self._buf += payload
        out: list[Packet | DecodeError] = []
        skipped = 0
        while len(self._buf) >= 2:
            start = self._find_header()
            if start < 0:
                # keep a trailing 0x55 that may begin the next header
                keep = 1 if self._buf[-1] == HEADER else 0
                skipped += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
                break
            if start:
                skipped += start
                del self._buf[:start]
            if len(self._buf) < PACKET_LEN:
                break
            out.append(decode_packet(bytes(self._buf[:PACKET_LEN])))
            del self._buf[:PACKET_LEN]
        if len(self._buf) > self.MAX_BUFFER:  # cannot happen with the loop above; a guard against growth
            skipped += len(self._buf)
            self._buf.clear()
        self.discarded_bytes += skipped
        if skipped and not out and not self._buf:
            out.append(DecodeError(PROFILE, f"no 55 61 / 55 71 packet in {len(payload)} bytes"))
        return out

    def finish(self) -> list[Packet | DecodeError]:
        if self._buf:
            n = len(self._buf)
            self._buf.clear()
            return [DecodeError(PROFILE, f"truncated packet: {n} of {PACKET_LEN} bytes at the end")]
        return []

    def _find_header(self) -> int:
        buf = self._buf
        i = buf.find(HEADER)
        while 0 <= i < len(buf) - 1:
            if buf[i + 1] in (FLAG_DATA, FLAG_REGISTERS):
                return i
            i = buf.find(HEADER, i + 1)
        return -1


@dataclass
class WitmotionProfile(DeviceProfile):
    """Start-stream settings: return rate (Hz; the packet itself carries no setting)."""

    rate_hz: float = 100.0
    rate_200_code: int = 0x0B
    send_unlock: bool = True

    name = PROFILE
    title = "WitMotion WT901BLECL / WT9011DCL"
    service_uuid = SERVICE_UUID
    notify_uuids = (NOTIFY_UUID,)
    name_prefixes = ("WT",)

    def __post_init__(self) -> None:
        rate_code(self.rate_hz, self.rate_200_code)  # validates

    def decoder(self) -> WitmotionDecoder:
        return WitmotionDecoder()

    def plan(self) -> StreamPlan:
        # The module's own clock drifts by up to ~0.7 % (third-party report): allow 2 %.
        return StreamPlan({"imu": StreamTiming(self.rate_hz, "arrival", rate_tolerance=0.02)})

    def start_writes(self) -> list[Write]:
        writes = [Write(WRITE_UUID, unlock())] if self.send_unlock else []
        return [*writes, Write(WRITE_UUID, set_rate(self.rate_hz, self.rate_200_code))]

    async def start(self, link: GattLink) -> StreamPlan:
        # Rate first, then notifications: otherwise the first packets come at the old rate.
        for w in self.start_writes():
            await link.write(w)
            await link.sleep(0.05)  # the vendor SDK leaves 10–100 ms between unlock and the write
        await link.subscribe(NOTIFY_UUID)
        return self.plan()

    async def stop(self, link: GattLink) -> None:
        # No stop command exists: the module streams while notifications are on.
        await link.unsubscribe(NOTIFY_UUID)

    async def read_battery(self, link: GattLink) -> float | None:
        await link.write(Write(WRITE_UUID, read_register(REG_BATTERY)))
        packet = await link.wait_for(
            lambda p: p.info.get("kind") == "registers" and p.info.get("start_reg") == REG_BATTERY, 2.0
        )
        return None if packet is None else packet.battery_pct
