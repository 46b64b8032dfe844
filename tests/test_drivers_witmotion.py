"""WitMotion vectors of docs/protocols/witmotion.md (§6 V1–V5), decode and encode.

Wire constants here are written out from the protocol file, not imported from the driver.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coach.errors import DecodeError
from drivers import witmotion as wm
from drivers.base import Packet

G = 9.80665


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_uuids_use_the_vendor_9a_base() -> None:
    assert wm.SERVICE_UUID == "0000ffe5-0000-1000-8000-00805f9a34fb"
    assert wm.NOTIFY_UUID == "0000ffe4-0000-1000-8000-00805f9a34fb"
    assert wm.WRITE_UUID == "0000ffe9-0000-1000-8000-00805f9a34fb"


def test_v1_magnetometer_register_read() -> None:
    p = wm.decode_packet(h("55 71 3A 00 68 01 69 00 7A 00 00 00 00 00 00 00 00 00 00 00"))
    assert p.stream == "info"
    assert p.info["start_reg"] == 0x3A
    assert p.info["values"] == [360, 105, 122, 0, 0, 0, 0, 0]
    assert p.info["mag_raw"] == [360, 105, 122]


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (wm.unlock(), "FF AA 69 88 B5"),
        (wm.save(), "FF AA 00 00 00"),
        (wm.factory_reset(), "FF AA 00 01 00"),
        (wm.set_rate(1), "FF AA 03 03 00"),
        (wm.set_rate(10), "FF AA 03 06 00"),
        (wm.set_rate(50), "FF AA 03 08 00"),
        (wm.set_rate(100), "FF AA 03 09 00"),
        (wm.set_rate(200), "FF AA 03 0B 00"),
        (wm.set_rate(200, rate_200_code=0x0A), "FF AA 03 0A 00"),
        (wm.read_register(0x3A), "FF AA 27 3A 00"),
        (wm.read_register(0x51), "FF AA 27 51 00"),
        (wm.read_register(0x40), "FF AA 27 40 00"),
        (wm.read_register(0x64), "FF AA 27 64 00"),
        (wm.acc_calibration(), "FF AA 01 01 00"),
        (wm.mag_calibration_start(), "FF AA 01 07 00"),
        (wm.mag_calibration_stop(), "FF AA 01 00 00"),
        (wm.angle_reference(), "FF AA 01 08 00"),
        (wm.bandwidth(20), "FF AA 1F 05 00"),
        (wm.algorithm(6), "FF AA 24 01 00"),
        (wm.algorithm(9), "FF AA 24 00 00"),
    ],
)
def test_v2_command_encodings(encoded: bytes, expected: str) -> None:
    assert encoded == h(expected)


V3 = "55 61 00 00 00 FC 00 08 10 00 B8 FE 00 00 00 40 00 C0 FF 7F"


def _check_v3(p: Packet) -> None:
    assert p.stream == "imu"
    assert p.acc_mps2 is not None and p.gyr_rps is not None
    np.testing.assert_allclose(p.acc_mps2[0], [0.0, -4.903325, 9.80665], atol=1e-9)
    np.testing.assert_allclose(p.gyr_rps[0], [0.0170442, -0.3494067, 0.0], atol=1e-7)
    np.testing.assert_allclose(p.info["angle_deg"], [90.0, -90.0, 179.9945068359375], atol=1e-12)
    assert p.device_time_s is None  # no timestamp in the packet


def test_v3_data_packet() -> None:
    _check_v3(wm.decode_packet(h(V3)))


def test_v4_quaternion_register_read() -> None:
    p = wm.decode_packet(h("55 71 51 00 FF 7F 00 00 00 00 00 C0 00 00 00 00 00 00 00 00"))
    assert p.info["quaternion"] == [0.999969482421875, 0.0, 0.0, -0.5]


def test_v5_resync_garbage_prefix_and_split_packet() -> None:
    dec = wm.WitmotionDecoder()
    first = dec.feed(wm.NOTIFY_UUID, h("00 12 55 61 00 00 00 FC 00 08"))
    second = dec.feed(wm.NOTIFY_UUID, h("10 00 B8 FE 00 00 00 40 00 C0 FF 7F"))
    assert first == []
    assert len(second) == 1 and isinstance(second[0], Packet)
    _check_v3(second[0])
    assert dec.finish() == []


def test_two_packets_in_one_notification_and_register_reply_interleaved() -> None:
    dec = wm.WitmotionDecoder()
    reply = "55 71 64 00 9A 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00"  # battery 4.10 V
    out = dec.feed(wm.NOTIFY_UUID, h(V3 + reply + V3))
    assert [p.stream for p in out if isinstance(p, Packet)] == ["imu", "info", "imu"]
    battery = out[1]
    assert isinstance(battery, Packet) and battery.info["voltage_v"] == pytest.approx(4.10)
    assert 90.0 <= (battery.battery_pct or 0) <= 95.0


def test_pure_garbage_is_an_error_value_and_decoder_recovers() -> None:
    dec = wm.WitmotionDecoder()
    out = dec.feed(wm.NOTIFY_UUID, bytes(range(1, 30)))
    assert len(out) == 1 and isinstance(out[0], DecodeError) and out[0].profile == "witmotion"
    good = dec.feed(wm.NOTIFY_UUID, h(V3))
    assert len(good) == 1 and isinstance(good[0], Packet)


def test_truncated_at_end_is_reported() -> None:
    dec = wm.WitmotionDecoder()
    assert dec.feed(wm.NOTIFY_UUID, h(V3)[:12]) == []
    errors = dec.finish()
    assert len(errors) == 1 and isinstance(errors[0], DecodeError) and "truncated" in errors[0].reason


@pytest.mark.parametrize("payload", [h(V3)[:19], h(V3) + b"\x00", h("55 62") + bytes(18), b""])
def test_single_packet_decoder_rejects_wrong_sizes_and_flags(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        wm.decode_packet(payload)


def test_full_scale_is_16g_and_2000dps() -> None:
    raw = h("55 61") + np.array([32767, -32768, 0, 32767, 0, 0, 0, 0, 0], dtype="<i2").tobytes()
    p = wm.decode_packet(raw)
    assert p.acc_mps2 is not None and p.gyr_rps is not None
    assert p.acc_mps2[0, 1] == pytest.approx(-16 * G)
    assert p.gyr_rps[0, 0] == pytest.approx(32767 / 32768 * 2000 * math.pi / 180)


def test_unknown_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="return rate"):
        wm.set_rate(33)
