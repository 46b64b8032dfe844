"""Polar Verity Sense (and OH1, acc only): the Polar Measurement Data (PMD) service.

Facts and vectors: ``docs/protocols/polar_verity_sense.md``. Commands go to the control point
``fb005c81`` (write with response; answers come as indications on the same characteristic), frames
come on ``fb005c82``: ``[type][u64 ns since 2000-01-01, of the LAST sample][frame type][samples]``,
raw or delta-compressed. ACC and GYRO come in separate frames with their own device timestamps, so
sample times come from the device clock (mapped to the session clock by :mod:`drivers.clock`).
Above 52 Hz the sensor needs SDK mode (which switches its HR/PPI algorithms off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from coach.errors import DecodeError
from coach.units import GRAVITY_MPS2
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
    float32_values,
    info_packet,
    unpack,
)

PROFILE = "polar-verity"
SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

# Measurement types (PmdMeasurementType).
ECG, PPG, ACC, PPI, GYRO, MAG, SKIN_TEMP, SDK_MODE = 0, 1, 2, 3, 5, 6, 7, 9
TYPE_NAMES = {
    0: "ecg",
    1: "ppg",
    2: "acc",
    3: "ppi",
    5: "gyro",
    6: "mag",
    7: "skin_temp",
    9: "sdk_mode",
    10: "location",
    11: "pressure",
    12: "temperature",
    13: "offline_recording",
    14: "offline_hr",
}
# Control-point opcodes.
GET_SETTINGS, START, STOP, GET_SDK_SETTINGS, GET_STATUS, GET_SDK_STATUS = 1, 2, 3, 4, 5, 6
RESPONSE_CODE = 0xF0
FEATURE_READ = 0x0F
STATUS_NAMES = (
    "SUCCESS",
    "INVALID_OP_CODE",
    "INVALID_MEASUREMENT_TYPE",
    "NOT_SUPPORTED",
    "INVALID_LENGTH",
    "INVALID_PARAMETER",
    "ALREADY_IN_STATE",
    "INVALID_RESOLUTION",
    "INVALID_SAMPLE_RATE",
    "INVALID_RANGE",
    "INVALID_MTU",
    "INVALID_NUMBER_OF_CHANNELS",
    "INVALID_STATE",
    "DEVICE_IN_CHARGER",
    "DISK_FULL",
)
ALREADY_IN_STATE = 6
# Settings TLV types and their value widths in bytes.
SAMPLE_RATE, RESOLUTION, RANGE, RANGE_MILLIUNIT, CHANNELS, FACTOR, SECURITY = 0, 1, 2, 3, 4, 5, 6
SETTING_WIDTH = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4, 6: 16}
SETTING_NAMES = {
    0: "sample_rate",
    1: "resolution",
    2: "range",
    3: "range_milliunit",
    4: "channels",
    5: "factor",
    6: "security",
}
FEATURE_BITS = {
    ECG: (1, 0x01),
    PPG: (1, 0x02),
    ACC: (1, 0x04),
    PPI: (1, 0x08),
    GYRO: (1, 0x20),
    MAG: (1, 0x40),
    SKIN_TEMP: (1, 0x80),
    SDK_MODE: (2, 0x02),
}
#: Epoch of the frame timestamps: 2000-01-01T00:00:00Z, in Unix nanoseconds.
EPOCH_2000_UNIX_NS = 946_684_800_000_000_000
HEADER_LEN = 10
MAX_DELTA_BITS = 32


# -- encoders --------------------------------------------------------------------------------------------


def settings_tlv(settings: dict[int, int]) -> bytes:
    """``[type][count=1][value LE]`` for each setting, in type order (the client never sends FACTOR)."""
    out = bytearray()
    for kind in sorted(settings):
        width = SETTING_WIDTH[kind]
        out += bytes((kind, 1)) + settings[kind].to_bytes(width, "little")
    return bytes(out)


def start_command(
    measurement: int, rate_hz: int, range_value: int, resolution: int = 16, channels: int = 3
) -> bytes:
    """REQUEST_MEASUREMENT_START for an online stream (recording-type bit 7 = 0)."""
    tlv = {SAMPLE_RATE: rate_hz, RESOLUTION: resolution, RANGE: range_value, CHANNELS: channels}
    return bytes((START, measurement & 0x7F)) + settings_tlv(tlv)


def stop_command(measurement: int) -> bytes:
    return bytes((STOP, measurement & 0x7F))


def get_settings_command(measurement: int) -> bytes:
    return bytes((GET_SETTINGS, measurement))


def sdk_mode(on: bool) -> bytes:
    return bytes((START if on else STOP, SDK_MODE))


# -- decoders --------------------------------------------------------------------------------------------


def parse_settings(data: bytes) -> dict[str, list[float]]:
    """Settings TLV list -> {name: [values]} (FACTOR values are IEEE-754 float bits)."""
    out: dict[str, list[float]] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise DecodeError(PROFILE, f"settings TLV cut short at byte {i}")
        kind, count = data[i], data[i + 1]
        if kind not in SETTING_WIDTH:
            raise DecodeError(PROFILE, f"unknown setting type {kind} at byte {i}")
        width = SETTING_WIDTH[kind]
        end = i + 2 + count * width
        if end > len(data):
            raise DecodeError(
                PROFILE,
                f"setting {SETTING_NAMES[kind]} needs {count * width} bytes, {len(data) - i - 2} left",
            )
        values: list[float] = []
        for k in range(count):
            chunk = data[i + 2 + k * width : i + 2 + (k + 1) * width]
            if kind == FACTOR:
                values.append(float(float32_values(PROFILE, chunk, "FACTOR setting")[0]))
            elif kind == SECURITY:
                values.append(float(len(chunk)))
            else:
                values.append(float(int.from_bytes(chunk, "little")))
        out.setdefault(SETTING_NAMES[kind], []).extend(values)
        i = end
    return out


def decode_control(payload: bytes) -> Packet:
    """A control-point message: a response (``F0 ...``), the feature read (``0F ...``) or a stop notice."""
    if not payload:
        raise DecodeError(PROFILE, "empty control-point message")
    if payload[0] == RESPONSE_CODE:
        if len(payload) < 4:
            raise DecodeError(PROFILE, f"control-point response needs at least 4 bytes, got {len(payload)}")
        opcode, mtype, status = payload[1], payload[2] & 0x3F, payload[3]
        if status >= len(STATUS_NAMES):
            raise DecodeError(PROFILE, f"unknown control-point status {status}")
        more = len(payload) > 4 and payload[4] != 0
        params = bytes(payload[5:])
        fields: dict[str, object] = {
            "opcode": opcode,
            "measurement": TYPE_NAMES.get(mtype, mtype),
            "measurement_type": mtype,
            "status": STATUS_NAMES[status],
            "more": more,
            "params": params.hex(),
        }
        if status == 0 and params and opcode in (GET_SETTINGS, START, GET_SDK_SETTINGS):
            try:
                fields["settings"] = parse_settings(params)
            except DecodeError:
                if opcode != GET_SETTINGS or more:
                    raise
        return info_packet("control_response", **fields)
    if payload[0] == FEATURE_READ:
        if len(payload) < 3:
            raise DecodeError(PROFILE, "feature read needs 3 bytes")
        features = [TYPE_NAMES[t] for t, (byte, bit) in FEATURE_BITS.items() if payload[byte] & bit]
        return info_packet("features", features=features)
    if payload[0] == 0x01 and len(payload) >= 2:
        return info_packet("measurement_stopped", measurement=TYPE_NAMES.get(payload[1] & 0x3F, payload[1]))
    raise DecodeError(PROFILE, f"unknown control-point message starting {payload[:1].hex()}")


def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    if bits == 0:
        return values
    sign = np.int64(1) << np.int64(bits - 1)
    return (values ^ sign) - sign


def _bits_to_ints(data: bytes, bits: int, count: int) -> np.ndarray:
    """``count`` unsigned little-endian bit fields of width ``bits`` from a little-endian bit stream."""
    if bits == 0 or count == 0:
        return np.zeros(count, dtype=np.int64)
    stream = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[: bits * count]
    weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
    return stream.reshape(count, bits).astype(np.int64) @ weights


def decode_delta_frame(body: bytes, resolution: int, channels: int) -> np.ndarray:
    """Delta-compressed samples -> (n, channels) int64 (for float streams: the 32-bit patterns)."""
    ref_bytes = math.ceil(resolution / 8)
    if len(body) < ref_bytes * channels:
        raise DecodeError(PROFILE, f"compressed frame too short for its reference sample ({len(body)} bytes)")
    ref = np.array(
        [
            int.from_bytes(body[c * ref_bytes : (c + 1) * ref_bytes], "little", signed=True)
            for c in range(channels)
        ],
        dtype=np.int64,
    )
    samples = [ref.reshape(1, channels)]
    i = ref_bytes * channels
    while i < len(body):
        if i + 2 > len(body):
            raise DecodeError(PROFILE, f"compressed frame: block header cut short at byte {i + HEADER_LEN}")
        bits, count = body[i], body[i + 1]
        if bits > MAX_DELTA_BITS or bits > resolution:
            raise DecodeError(
                PROFILE, f"compressed frame: {bits}-bit deltas exceed the {resolution}-bit samples"
            )
        nbytes = math.ceil(bits * channels * count / 8)
        if i + 2 + nbytes > len(body):
            raise DecodeError(
                PROFILE,
                f"compressed frame: block of {count} samples needs {nbytes} bytes, {len(body) - i - 2} left",
            )
        deltas = _signed(_bits_to_ints(body[i + 2 : i + 2 + nbytes], bits, channels * count), bits)
        if count:
            samples.append(samples[-1][-1] + np.cumsum(deltas.reshape(count, channels), axis=0))
        i += 2 + nbytes
    out = np.concatenate(samples)
    if resolution == 32:
        out = out & 0xFFFFFFFF  # integer addition on 32-bit patterns wraps
    return out


def _raw_samples(body: bytes, width: int, channels: int) -> np.ndarray:
    step = width * channels
    if not body or len(body) % step:
        raise DecodeError(
            PROFILE, f"raw frame: {len(body)} bytes is not a whole number of {step}-byte samples"
        )
    raw = np.frombuffer(body, dtype=np.uint8).reshape(-1, channels, width).astype(np.int64)
    value = np.zeros(raw.shape[:2], dtype=np.int64)
    for b in range(width):
        value |= raw[:, :, b] << (8 * b)
    return _signed(value, 8 * width)


@dataclass(frozen=True, slots=True)
class PmdFrame:
    """A decoded PMD data frame before SI conversion: integer ns timestamps as the SDK computes them."""

    measurement: int
    frame_type: int
    timestamp_ns: int
    values: np.ndarray  # (n, 3) in the stream's unit (mG, °/s or Gauss), floats
    sample_times_ns: list[int]


@dataclass
class DecodeSettings:
    """What a frame does not carry: the sample rate (for the first frame's spacing) and scale factors.

    ``factors`` maps measurement type -> FACTOR from the device's START response. Without one, ACC 0x80
    frames use ``acc_range_g``/32768 G per count (the one real 0x80 capture only makes sense so) and
    other streams use 1.0, as Polar's SDK does.
    """

    rate_hz: int = 52
    acc_range_g: int = 8
    factors: dict[int, float] = field(default_factory=dict)


def _sample_times(prev_ns: int | None, ts_ns: int, n: int, rate_hz: int) -> list[int]:
    """Polar SDK ``PmdTimeStampUtils.getTimeStamps``: spread the samples up to the frame's timestamp."""
    if prev_ns is not None and prev_ns < ts_ns:
        delta = (ts_ns - prev_ns) / n
        start = prev_ns + delta
    else:
        delta = 1e9 / rate_hz
        start = ts_ns - delta * (n - 1)
    return [round(start + delta * i) for i in range(n - 1)] + [ts_ns]  # round(): half to even, as Kotlin


def decode_frame(
    payload: bytes, settings: DecodeSettings | None = None, previous_ns: int | None = None
) -> PmdFrame:
    """Decode one PMD data frame into stream units; ``previous_ns``: the last frame's timestamp."""
    s = settings or DecodeSettings()
    if len(payload) < HEADER_LEN + 1:
        raise DecodeError(PROFILE, f"a data frame has a 10-byte header and samples, got {len(payload)} bytes")
    mtype = payload[0] & 0x3F
    (ts_ns,) = unpack(PROFILE, "<Q", payload, 1)
    frame_type = payload[9]
    compressed = bool(frame_type & 0x80)
    ftype = frame_type & 0x7F
    body = payload[HEADER_LEN:]
    factor = s.factors.get(mtype)
    if mtype == ACC:
        if compressed and ftype in (0, 1):
            raw = decode_delta_frame(body, 16, 3).astype(np.float64)
            if ftype == 0:  # counts * factor = G
                values = raw * (factor if factor is not None else s.acc_range_g / 32768.0) * 1000.0
            else:  # mG
                values = raw * factor if factor not in (None, 1.0) else raw
        elif not compressed and ftype in (0, 1, 2):
            values = _raw_samples(body, ftype + 1, 3).astype(np.float64)
        else:
            raise DecodeError(PROFILE, f"unsupported ACC frame type 0x{frame_type:02x}")
    elif mtype == GYRO:
        if compressed and ftype == 0:
            values = decode_delta_frame(body, 16, 3).astype(np.float64)
        elif compressed and ftype == 1:
            bits = decode_delta_frame(body, 32, 3).astype("<u4")
            values = float32_values(PROFILE, bits.tobytes(), "GYRO float frame").reshape(-1, 3)
        else:
            raise DecodeError(PROFILE, f"unsupported GYRO frame type 0x{frame_type:02x}")
        if factor not in (None, 1.0):
            values = values * factor
    elif mtype == MAG:
        if not (compressed and ftype == 0):
            raise DecodeError(PROFILE, f"unsupported MAG frame type 0x{frame_type:02x}")
        values = decode_delta_frame(body, 16, 3).astype(np.float64) * (factor if factor is not None else 1.0)
    else:
        raise DecodeError(
            PROFILE, f"measurement type {mtype} ({TYPE_NAMES.get(mtype, 'unknown')}) is not an IMU stream"
        )
    times = _sample_times(previous_ns, ts_ns, len(values), s.rate_hz)
    return PmdFrame(mtype, frame_type, ts_ns, values, times)


def frame_to_packet(frame: PmdFrame) -> Packet:
    t_s = np.array(frame.sample_times_ns, dtype=np.float64) * 1e-9
    meta = {"kind": "frame", "frame_type": frame.frame_type, "timestamp_ns": frame.timestamp_ns}
    if frame.measurement == ACC:
        return Packet("acc", acc_mps2=frame.values * 1e-3 * GRAVITY_MPS2, device_time_s=t_s, info=meta)
    if frame.measurement == GYRO:
        return Packet("gyr", gyr_rps=frame.values * DEG2RAD, device_time_s=t_s, info=meta)
    return Packet("mag", mag_ut=frame.values * 100.0, device_time_s=t_s, info=meta)


class PolarDecoder(StreamDecoder):
    """Keeps the previous frame timestamp per (type, frame type) and the FACTORs of START responses."""

    profile = PROFILE

    def __init__(self, settings: DecodeSettings | None = None) -> None:
        self.settings = settings or DecodeSettings()
        self.previous_ns: dict[tuple[int, int], int] = {}

    def reset(self) -> None:
        self.previous_ns.clear()

    def feed(self, char_uuid: str, payload: bytes) -> list[Packet | DecodeError]:
        try:
            is_control = char_uuid == CONTROL_UUID or (
                char_uuid != DATA_UUID and payload[:1] in (b"\xf0", b"\x0f")
            )
            if is_control:
                packet = decode_control(payload)
                self._learn(packet)
                return [packet]
            if not payload:
                raise DecodeError(PROFILE, "empty data frame")
            key = (payload[0] & 0x3F, payload[9] if len(payload) > 9 else -1)
            frame = decode_frame(payload, self.settings, self.previous_ns.get(key))
            period_ns = 1e9 / self.settings.rate_hz
            spacing = (
                (frame.timestamp_ns - self.previous_ns[key]) / len(frame.values)
                if key in self.previous_ns
                else None
            )
            if spacing is not None and not 0.75 * period_ns < spacing < 1.25 * period_ns:
                # Frames were lost (or the clock jumped): spreading this frame's samples back to the
                # previous frame, as the SDK does, would stretch them; space them at the rate instead
                # and let the sample clock see the gap.
                frame = decode_frame(payload, self.settings, None)
            self.previous_ns[key] = frame.timestamp_ns
            return [frame_to_packet(frame)]
        except DecodeError as exc:
            return [exc]

    def _learn(self, packet: Packet) -> None:
        info = packet.info
        if info.get("opcode") == START and info.get("status") == "SUCCESS":
            factor = info.get("settings", {}).get("factor")
            if factor:
                self.settings.factors[int(info["measurement_type"])] = float(factor[0])
        if info.get("opcode") == STOP:
            mtype = info.get("measurement_type")
            self.previous_ns = {k: v for k, v in self.previous_ns.items() if k[0] != mtype}


@dataclass
class PolarVerityProfile(DeviceProfile):
    """Start-stream settings: ACC and GYRO at 52 Hz, ±8 g, ±2000 °/s (the defaults without SDK mode)."""

    rate_hz: int = 52
    acc_range_g: int = 8
    gyr_range_dps: int = 2000

    name = PROFILE
    title = "Polar Verity Sense"
    service_uuid = SERVICE_UUID
    notify_uuids = (CONTROL_UUID, DATA_UUID)
    name_prefixes = ("Polar Sense", "Polar OH1")
    RATES = (26, 52, 104, 208, 416)

    def __post_init__(self) -> None:
        if self.rate_hz not in self.RATES:
            raise ValueError(f"polar-verity rate must be one of {self.RATES} Hz")
        if self.acc_range_g not in (2, 4, 8, 16) or self.gyr_range_dps not in (250, 500, 1000, 2000):
            raise ValueError("polar-verity ranges: acc 2/4/8/16 g, gyro 250/500/1000/2000 °/s")

    @property
    def needs_sdk_mode(self) -> bool:
        return self.rate_hz != 52 or self.acc_range_g != 8 or self.gyr_range_dps != 2000

    def decoder(self) -> PolarDecoder:
        return PolarDecoder(DecodeSettings(self.rate_hz, self.acc_range_g))

    def plan(self) -> StreamPlan:
        timing = StreamTiming(float(self.rate_hz), "device_time", rate_tolerance=1e-3)
        return StreamPlan({"acc": timing, "gyr": timing})

    def start_commands(self) -> list[bytes]:
        return [
            *([sdk_mode(True)] if self.needs_sdk_mode else []),
            start_command(ACC, self.rate_hz, self.acc_range_g),
            start_command(GYRO, self.rate_hz, self.gyr_range_dps),
        ]

    async def _command(self, link: GattLink, data: bytes) -> Packet | None:
        await link.write(Write(CONTROL_UUID, data, response=True))
        return await link.wait_for(
            lambda p: p.info.get("kind") == "control_response" and p.info.get("opcode") == data[0], 5.0
        )

    async def start(self, link: GattLink) -> StreamPlan:
        await link.subscribe(CONTROL_UUID)
        await link.subscribe(DATA_UUID)
        for data in self.start_commands():
            answer = await self._command(link, data)
            if (
                answer is not None
                and answer.info.get("status") == STATUS_NAMES[ALREADY_IN_STATE]
                and data[0] == START
            ):
                # Still streaming from before a reconnect: stop, then start afresh (quirk 3).
                await self._command(link, stop_command(data[1]))
                answer = await self._command(link, data)
            if answer is not None and answer.info.get("status") != "SUCCESS":
                raise DeviceError(PROFILE, f"start refused: {answer.info.get('status')} for {data.hex(' ')}")
        return self.plan()

    async def stop(self, link: GattLink) -> None:
        for mtype in (ACC, GYRO):
            await link.write(Write(CONTROL_UUID, stop_command(mtype), response=True))
        if self.needs_sdk_mode:
            await link.write(Write(CONTROL_UUID, sdk_mode(False), response=True))
        await link.unsubscribe(DATA_UUID)
        await link.unsubscribe(CONTROL_UUID)
