"""Simulated firmware of every supported device: GATT table, answers to the start/stop writes, and
byte-exact notifications (the layouts of ``docs/protocols/`` and ``docs/coach-imu-firmware.md``).

The encoders here are written from the protocol documents, separately from the drivers' decoders, so
the end-to-end tests check one against the other. UUID strings are shared with the drivers (they are
protocol facts, checked against the documents by the drivers' vector tests).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from coach.samples import FloatArray
from coach.units import GRAVITY_MPS2
from drivers import coach_imu, metamotion, movesense, polar_verity, thingy52, witmotion
from drivers.base import BATTERY_LEVEL_UUID, BATTERY_SERVICE_UUID
from simulators.ble.device import Encoder, GattChar, GattService, SimPeripheral, StreamSpec, quantise

RAD2DEG = 180.0 / math.pi
BATTERY = GattService(BATTERY_SERVICE_UUID, (GattChar(BATTERY_LEVEL_UUID, ("read", "notify")),))


def _battery(self: SimPeripheral, uuid: str) -> bytes:
    """The standard Battery Level characteristic."""
    if uuid == BATTERY_LEVEL_UUID:
        return bytes((self.battery_pct,))
    raise KeyError(uuid)


# -- MbientLab MetaMotion S (BMI270 board) ---------------------------------------------------------------

_MM_ODR_270 = {
    0xA5: 12.5,
    0xA6: 25.0,
    0xA7: 50.0,
    0xA8: 100.0,
    0xA9: 200.0,
    0xAA: 400.0,
    0xAB: 800.0,
    0xAC: 1600.0,
}
_MM_RANGE_270 = {0x00: 2.0, 0x01: 4.0, 0x02: 8.0, 0x03: 16.0}
_MM_GYRO_ODR = {6: 25.0, 7: 50.0, 8: 100.0, 9: 200.0, 10: 400.0, 11: 800.0, 12: 1600.0, 13: 3200.0}
_MM_GYRO_LSB = {0: 16.4, 1: 32.8, 2: 65.6, 3: 131.2, 4: 262.4}


@dataclass
class _Sensor:
    """One MetaWear sensor module's state: rate, scale (units per count), subscription, switches."""

    rate_hz: float
    per_count: float
    sub: str | None = None  # "packed" or "single"
    enabled: bool = False
    power: bool = False


class MetaMotionS(SimPeripheral):
    """A MetaMotion S: BMI270 accelerometer and gyroscope, packed or single-sample streaming."""

    profile = "metamotion"
    advertised_uuids = (metamotion.SERVICE_UUID,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sensors = {"acc": _Sensor(100.0, 8.0 / 32768.0), "gyr": _Sensor(100.0, 1 / 16.4)}

    def gatt(self) -> list[GattService]:
        return [
            GattService(
                metamotion.SERVICE_UUID,
                (
                    GattChar(metamotion.COMMAND_UUID, ("write-without-response", "write")),
                    GattChar(metamotion.NOTIFY_UUID, ("notify",)),
                ),
            ),
            GattService(
                "0000180a-0000-1000-8000-00805f9b34fb", (GattChar(metamotion.MODEL_NUMBER_UUID, ("read",)),)
            ),
        ]

    def on_read(self, uuid: str) -> bytes:
        if uuid == metamotion.MODEL_NUMBER_UUID:
            return b"8"  # MetaMotion S
        raise KeyError(uuid)

    def _note(self, data: bytes) -> None:
        self.respond(metamotion.NOTIFY_UUID, data)

    def on_write(self, uuid: str, data: bytes) -> None:
        if uuid != metamotion.COMMAND_UUID or len(data) < 2:
            return
        module, reg, body = data[0], data[1], data[2:]
        if reg == 0x80:
            self._note(
                {0x03: bytes.fromhex("03800400"), 0x13: bytes.fromhex("13800100")}.get(module, data[:2])
            )
        elif module == 0x11 and reg == 0x8C:
            self._note(bytes((0x11, 0x8C, self.battery_pct)) + struct.pack("<H", 3700 + 5 * self.battery_pct))
        elif module == 0x03 and reg == 0x03 and len(body) == 2:
            self.sensors["acc"].rate_hz = _MM_ODR_270.get(body[0], 100.0)
            self.sensors["acc"].per_count = _MM_RANGE_270.get(body[1], 8.0) / 32768.0
        elif module == 0x13 and reg == 0x03 and len(body) == 2:
            self.sensors["gyr"].rate_hz = _MM_GYRO_ODR.get(body[0] & 0x0F, 100.0)
            self.sensors["gyr"].per_count = 1.0 / _MM_GYRO_LSB.get(body[1], 16.4)
        elif module in (0x03, 0x13) and body:
            state = self.sensors["acc" if module == 0x03 else "gyr"]
            if reg in (0x04, 0x05):  # BMI270 boards: 4 single samples, 5 packed (acc and gyro alike)
                state.sub = ("packed" if reg == 0x05 else "single") if body[0] else None
            elif reg == 0x02:
                state.enabled = body[0] == 1
            elif reg == 0x01:
                state.power = body[0] != 0
            self._update()

    def on_subscribe(self, uuid: str, on: bool) -> None:
        self._update()

    def _update(self) -> None:
        for name, module in (("acc", 0x03), ("gyr", 0x13)):
            state = self.sensors[name]
            want = bool(
                state.sub and state.enabled and state.power and metamotion.NOTIFY_UUID in self.subscribed
            )
            if want and name not in self.streams:
                packed = state.sub == "packed"
                spec = StreamSpec(
                    name, state.rate_hz, 3 if packed else 1, self._encoder(name, module, packed)
                )
                self.start_stream(spec)
            elif not want and name in self.streams:
                self.stop_stream(name)

    def _encoder(self, name: str, module: int, packed: bool) -> Encoder:
        header = bytes((module, 0x05 if packed else 0x04))
        state = self.sensors[name]

        def encode(
            k: np.ndarray, t: FloatArray, dev_t: FloatArray, acc: FloatArray, gyr: FloatArray, mag: FloatArray
        ) -> list[tuple[str, bytes]]:
            counts = (
                quantise(acc / GRAVITY_MPS2, state.per_count)
                if name == "acc"
                else quantise(gyr * RAD2DEG, state.per_count)
            )
            return [(metamotion.NOTIFY_UUID, header + counts.astype("<i2").tobytes())]

        return encode


# -- Polar Verity Sense ----------------------------------------------------------------------------------

_POLAR_GYRO_FACTOR = 2000.0 / 32768.0  # °/s per count, announced in the GYRO START response
_EPOCH_OFFSET_S = 7.8e8  # device clock: ~2024 in seconds since 2000-01-01


def delta_frame(counts: np.ndarray) -> bytes:
    """Reference sample (int16 ×3) + one block of deltas at the smallest bit width (little-endian bits)."""
    ref: bytes = counts[0].astype("<i2").tobytes()
    deltas = np.diff(counts, axis=0).reshape(-1)
    if len(deltas) == 0:
        return ref
    m = int(np.max(np.abs(deltas)))
    bits = 1 if m == 0 else max(2, m.bit_length() + 1)
    n = len(counts) - 1
    raw = (deltas & ((1 << bits) - 1)).astype(np.uint64)
    bitstream = ((raw[:, None] >> np.arange(bits, dtype=np.uint64)) & 1).astype(np.uint8).reshape(-1)
    payload: bytes = np.packbits(bitstream, bitorder="little").tobytes()
    return ref + bytes((bits, n)) + payload


class PolarVeritySense(SimPeripheral):
    """A Verity Sense: PMD control point with indications, ACC frames 0x81 (mG) and GYRO frames 0x80."""

    profile = "polar-verity"
    advertised_uuids = ("0000180d-0000-1000-8000-00805f9b34fb", polar_verity.SERVICE_UUID)
    frame_samples = 9

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_offset_s += _EPOCH_OFFSET_S

    def gatt(self) -> list[GattService]:
        return [
            GattService(
                polar_verity.SERVICE_UUID,
                (
                    GattChar(polar_verity.CONTROL_UUID, ("read", "write", "indicate")),
                    GattChar(polar_verity.DATA_UUID, ("notify",)),
                ),
            ),
            BATTERY,
        ]

    def on_read(self, uuid: str) -> bytes:
        if uuid == polar_verity.CONTROL_UUID:
            return bytes((0x0F, 0x04 | 0x20 | 0x02, 0x02))  # ACC, GYRO, PPG; SDK mode
        return _battery(self, uuid)

    def on_write(self, uuid: str, data: bytes) -> None:
        if uuid != polar_verity.CONTROL_UUID or len(data) < 2:
            return
        op, mtype = data[0], data[1]
        cp = polar_verity.CONTROL_UUID
        if op == 0x02 and mtype == 0x09:
            self.respond(cp, bytes((0xF0, 0x02, 0x09, 0x00, 0x00)))
        elif op == 0x03 and mtype == 0x09:
            self.respond(cp, bytes((0xF0, 0x03, 0x09, 0x00, 0x00)))
        elif op == 0x02 and mtype in (2, 5):
            name = "acc" if mtype == 2 else "gyr"
            if name in self.streams:
                self.respond(cp, bytes((0xF0, 0x02, mtype, 0x06, 0x00)))  # ALREADY_IN_STATE
                return
            settings = polar_verity.parse_settings(data[2:])
            rate = float(settings.get("sample_rate", [52])[0])
            answer = bytes((0xF0, 0x02, mtype, 0x00, 0x00))
            if mtype == 5:
                answer += bytes((0x05, 0x01)) + struct.pack("<f", _POLAR_GYRO_FACTOR)
            self.respond(cp, answer)
            self.start_stream(StreamSpec(name, rate, self.frame_samples, self._encoder(mtype)))
        elif op == 0x03 and mtype in (2, 5):
            self.stop_stream("acc" if mtype == 2 else "gyr")
            self.respond(cp, bytes((0xF0, 0x03, mtype, 0x00, 0x00)))
        elif op == 0x01:
            self.respond(
                cp,
                bytes((0xF0, 0x01, mtype, 0x00, 0x00)) + bytes.fromhex("00013400 01011000 02010800 040103"),
            )

    def _encoder(self, mtype: int) -> Encoder:
        def encode(
            k: np.ndarray, t: FloatArray, dev_t: FloatArray, acc: FloatArray, gyr: FloatArray, mag: FloatArray
        ) -> list[tuple[str, bytes]]:
            ts_ns = round(float(dev_t[-1]) * 1e9)
            if mtype == 2:
                counts = quantise(acc / GRAVITY_MPS2 * 1000.0, 1.0, -8000, 8000)  # mG at ±8 g
                head = bytes((2,)) + struct.pack("<Q", ts_ns) + bytes((0x81,))
            else:
                counts = quantise(gyr * RAD2DEG, _POLAR_GYRO_FACTOR)
                head = bytes((5,)) + struct.pack("<Q", ts_ns) + bytes((0x80,))
            return [(polar_verity.DATA_UUID, head + delta_frame(counts))]

        return encode

    def on_disconnect(self) -> None:
        # Quirk 3 of the protocol file: the sensor may keep measuring across a reconnect; the simulated
        # one stops, as the firmware does on a clean BLE disconnect.
        super().on_disconnect()


# -- WitMotion WT901BLECL --------------------------------------------------------------------------------

_WIT_RATES = {0x01: 0.2, 0x02: 0.5, 0x03: 1.0, 0x04: 2.0, 0x05: 5.0, 0x06: 10.0, 0x07: 20.0, 0x08: 50.0,
              0x09: 100.0, 0x0B: 200.0}  # fmt: skip


class WitMotionWT901(SimPeripheral):
    """A WT901BLECL: streams ``55 61`` packets whenever notifications are on, at the rate register."""

    profile = "witmotion"
    advertised_uuids = (witmotion.SERVICE_UUID,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rate_hz = 10.0  # factory default

    def gatt(self) -> list[GattService]:
        return [
            GattService(
                witmotion.SERVICE_UUID,
                (
                    GattChar(witmotion.NOTIFY_UUID, ("notify",)),
                    GattChar(witmotion.WRITE_UUID, ("write-without-response", "write")),
                ),
            )
        ]

    def on_write(self, uuid: str, data: bytes) -> None:
        if uuid != witmotion.WRITE_UUID or len(data) != 5 or data[:2] != b"\xff\xaa":
            return
        reg, value = data[2], data[3] | data[4] << 8
        if reg == 0x03 and value in _WIT_RATES:
            self.rate_hz = _WIT_RATES[value]
            if "imu" in self.streams:
                self.stop_stream("imu")
                self._start()
        elif reg == 0x27 and value == 0x64:
            volts = 3.6 + 0.006 * self.battery_pct
            regs = [round(volts * 100)] + [0] * 7
            self.respond(witmotion.NOTIFY_UUID, b"\x55\x71\x64\x00" + np.array(regs, dtype="<i2").tobytes())

    def on_subscribe(self, uuid: str, on: bool) -> None:
        if uuid == witmotion.NOTIFY_UUID:
            if on:
                self._start()
            else:
                self.stop_stream("imu")

    def _start(self) -> None:
        def encode(
            k: np.ndarray, t: FloatArray, dev_t: FloatArray, acc: FloatArray, gyr: FloatArray, mag: FloatArray
        ) -> list[tuple[str, bytes]]:
            a = quantise(acc / GRAVITY_MPS2, 16.0 / 32768.0)
            w = quantise(gyr * RAD2DEG, 2000.0 / 32768.0)
            roll = np.arctan2(acc[:, 1], acc[:, 2]) * RAD2DEG
            pitch = np.arctan2(-acc[:, 0], np.hypot(acc[:, 1], acc[:, 2])) * RAD2DEG
            ang = quantise(np.stack([roll, pitch, np.zeros_like(roll)], axis=1), 180.0 / 32768.0)
            body = np.hstack([a, w, ang])[0].astype("<i2").tobytes()
            return [(witmotion.NOTIFY_UUID, b"\x55\x61" + body)]

        self.start_stream(StreamSpec("imu", self.rate_hz, 1, encode))


# -- Movesense with the GATT sensor-data firmware --------------------------------------------------------


class MovesenseGSP(SimPeripheral):
    """A Movesense running ``gatt_sensordata_app``: HELLO, SUBSCRIBE ``/Meas/IMU6/<rate>``, DATA + PART2."""

    profile = "movesense"
    advertised_uuids = (movesense.SERVICE_UUID,)
    mtu = 158

    def gatt(self) -> list[GattService]:
        return [
            GattService(
                movesense.SERVICE_UUID,
                (GattChar(movesense.COMMAND_UUID, ("write",)), GattChar(movesense.DATA_UUID, ("notify",))),
            ),
            BATTERY,
        ]

    def on_read(self, uuid: str) -> bytes:
        return _battery(self, uuid)

    def on_write(self, uuid: str, data: bytes) -> None:
        if uuid != movesense.COMMAND_UUID or len(data) < 2 or data[1] == 0:
            return
        cmd, ref = data[0], data[1]
        if cmd == 0:
            self.respond(movesense.DATA_UUID, bytes((1, ref)) + b"Hello")
        elif cmd == 1:
            path = data[2:].decode("ascii", "replace")
            parts = path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "Meas" and parts[1] in ("IMU6", "IMU9") and parts[2].isdigit():
                rate = int(parts[2])
                self.start_stream(
                    StreamSpec("imu", float(rate), max(1, rate // 13), self._encoder(ref, parts[1]))
                )
            else:
                self.respond(movesense.DATA_UUID, bytes((1, ref)) + (404).to_bytes(2, "big"))
        elif cmd == 2:
            self.stop_stream("imu")

    def _encoder(self, ref: int, resource: str) -> Encoder:
        max_payload = self.mtu - 3

        def encode(
            k: np.ndarray, t: FloatArray, dev_t: FloatArray, acc: FloatArray, gyr: FloatArray, mag: FloatArray
        ) -> list[tuple[str, bytes]]:
            ms = math.floor(float(dev_t[0]) * 1000.0) & 0xFFFFFFFF
            arrays = [acc, gyr * RAD2DEG] + ([mag] if resource == "IMU9" else [])
            message = bytes((2, ref)) + struct.pack("<I", ms) + np.vstack(arrays).astype("<f4").tobytes()
            if len(message) <= max_payload:
                return [(movesense.DATA_UUID, message)]
            return [
                (movesense.DATA_UUID, message[:max_payload]),
                (movesense.DATA_UUID, bytes((3, ref)) + message[max_payload:]),
            ]

        return encode


# -- Nordic Thingy:52 ------------------------------------------------------------------------------------


class Thingy52(SimPeripheral):
    """A Thingy:52: motion config (rate persists), raw stream while notifications are on."""

    profile = "thingy52"
    advertised_uuids = (thingy52.CONFIG_SERVICE_UUID,)
    #: Delivered rate / configured rate (real units deliver less than configured at high rates).
    rate_factor = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = bytearray(thingy52.motion_config(10, wake_on_motion=True))

    def gatt(self) -> list[GattService]:
        return [
            GattService(
                thingy52.MOTION_SERVICE_UUID,
                (
                    GattChar(thingy52.MOTION_CONFIG_UUID, ("read", "write")),
                    GattChar(thingy52.RAW_UUID, ("notify",)),
                ),
            ),
            GattService(
                thingy52.CONFIG_SERVICE_UUID, (GattChar(thingy52.CONNECTION_PARAMS_UUID, ("read", "write")),)
            ),
            BATTERY,
        ]

    def on_read(self, uuid: str) -> bytes:
        if uuid == thingy52.MOTION_CONFIG_UUID:
            return bytes(self.config)
        if uuid == thingy52.CONNECTION_PARAMS_UUID:
            return thingy52.connection_parameters(7.5, 30, 0, 4000)
        return _battery(self, uuid)

    def on_write(self, uuid: str, data: bytes) -> None:
        if uuid == thingy52.MOTION_CONFIG_UUID and len(data) == 9:
            self.config[:] = data

    def on_subscribe(self, uuid: str, on: bool) -> None:
        if uuid != thingy52.RAW_UUID:
            return
        if not on:
            self.stop_stream("imu")
            return
        rate = struct.unpack_from("<H", self.config, 6)[0] * self.rate_factor

        def encode(
            k: np.ndarray, t: FloatArray, dev_t: FloatArray, acc: FloatArray, gyr: FloatArray, mag: FloatArray
        ) -> list[tuple[str, bytes]]:
            body = np.hstack(
                [
                    quantise(acc / GRAVITY_MPS2, 1 / 1024),
                    quantise(gyr * RAD2DEG, 1 / 32),
                    quantise(mag, 1 / 16),
                ]
            )
            return [(thingy52.RAW_UUID, body[0].astype("<i2").tobytes())]

        self.start_stream(StreamSpec("imu", float(rate), 1, encode))


# -- coach-imu reference board ---------------------------------------------------------------------------


class CoachImuBoard(SimPeripheral):
    """A DIY board following docs/coach-imu-firmware.md (6-axis, like an nRF52840 with an LSM6DS3)."""

    profile = "coach-imu"
    advertised_uuids = (coach_imu.SERVICE_UUID,)

    def gatt(self) -> list[GattService]:
        return [
            GattService(
                coach_imu.SERVICE_UUID,
                (
                    GattChar(coach_imu.DATA_UUID, ("notify",)),
                    GattChar(coach_imu.CONTROL_UUID, ("write", "notify")),
                    GattChar(coach_imu.INFO_UUID, ("read",)),
                ),
            ),
            BATTERY,
        ]

    def on_read(self, uuid: str) -> bytes:
        if uuid == coach_imu.INFO_UUID:
            return coach_imu.encode_info(6, 800, 16, 2000, 1)
        return _battery(self, uuid)

    def on_write(self, uuid: str, data: bytes) -> None:
        if uuid != coach_imu.CONTROL_UUID or not data:
            return
        if data[0] == coach_imu.OP_START and len(data) == 7:
            rate, acc_fs, gyr_fs, _flags = struct.unpack_from("<HBHB", data, 1)
            if acc_fs not in coach_imu.ACC_FS_G or not 1 <= rate <= 800:
                self.respond(coach_imu.CONTROL_UUID, bytes((0x81, 2)))
                return
            self.respond(coach_imu.CONTROL_UUID, bytes((0x81, 0)) + struct.pack("<HBH", rate, acc_fs, gyr_fs))
            self.start_stream(
                StreamSpec("imu", float(rate), max(1, rate // 25), self._encoder(rate, acc_fs, gyr_fs))
            )
        elif data[0] == coach_imu.OP_STOP:
            self.stop_stream("imu")
            self.respond(coach_imu.CONTROL_UUID, bytes((0x82, 0)))

    def _encoder(self, rate: int, acc_fs: int, gyr_fs: int) -> Encoder:
        period_us = round(1e6 / rate)

        def encode(
            k: np.ndarray, t: FloatArray, dev_t: FloatArray, acc: FloatArray, gyr: FloatArray, mag: FloatArray
        ) -> list[tuple[str, bytes]]:
            t_us = math.floor(float(dev_t[0]) * 1e6)
            packet = coach_imu.encode_packet(
                int(k[0]),
                t_us,
                period_us,
                quantise(acc / GRAVITY_MPS2, acc_fs / 32768.0),
                quantise(gyr * RAD2DEG, gyr_fs / 32768.0),
                acc_fs,
                gyr_fs,
            )
            return [(coach_imu.DATA_UUID, packet)]

        return encode


FIRMWARES: dict[str, type[SimPeripheral]] = {
    "metamotion": MetaMotionS,
    "polar-verity": PolarVeritySense,
    "witmotion": WitMotionWT901,
    "movesense": MovesenseGSP,
    "thingy52": Thingy52,
    "coach-imu": CoachImuBoard,
}
