"""coach-imu vectors of docs/coach-imu-firmware.md ("Test vectors"), decode and encode.

Wire constants are written out here as in the spec, not imported from the driver.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coach.errors import DecodeError
from drivers import coach_imu as ci

G = 9.80665
D2R = math.pi / 180

V1 = (
    "11 02 E8 03 40 4B 4C 00 10 27 08 00 D0 07 00 00"
    " 00 00 00 00 00 10 A4 00 00 00 5C FF"
    " 00 08 00 F8 00 10 00 00 FF 7F 00 80"
)
V2 = "12 01 FF FF F0 FF FF FF 88 13 10 00 F4 01 64 00 00 00 00 00 00 08 8F 02 00 00 00 00 F4 01 38 FF 0A 00"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_uuids() -> None:
    assert ci.SERVICE_UUID == "5c850100-bd97-4e47-beb2-7a1d1d2dd53a"
    assert ci.DATA_UUID == "5c850101-bd97-4e47-beb2-7a1d1d2dd53a"
    assert ci.CONTROL_UUID == "5c850102-bd97-4e47-beb2-7a1d1d2dd53a"
    assert ci.INFO_UUID == "5c850103-bd97-4e47-beb2-7a1d1d2dd53a"


def test_v1_imu6_two_samples() -> None:
    p = ci.decode_data(h(V1))
    assert p.counter == 1000 and p.counter_wrap == 65536
    assert (
        p.acc_mps2 is not None and p.gyr_rps is not None and p.device_time_s is not None and p.mag_ut is None
    )
    np.testing.assert_allclose(p.acc_mps2 / G, [[0.0, 0.0, 1.0], [0.5, -0.5, 1.0]], atol=1e-12)
    np.testing.assert_allclose(
        p.gyr_rps / D2R, [[10.009765625, 0, -10.009765625], [0, 32767 / 16.384, -2000]], atol=1e-9
    )
    np.testing.assert_allclose(p.device_time_s, [5.0, 5.01], atol=1e-12)


def test_v2_imu9_time_wraps_inside_the_packet_counter_at_its_end() -> None:
    p = ci.decode_data(h(V2))
    assert p.counter == 0xFFFF
    assert p.device_time_s is not None and p.device_time_s[0] == pytest.approx(0xFFFFFFF0 * 1e-6)
    assert p.mag_ut is not None and p.acc_mps2 is not None and p.gyr_rps is not None
    np.testing.assert_allclose(p.mag_ut, [[50.0, -20.0, 1.0]], atol=1e-12)
    np.testing.assert_allclose(p.acc_mps2 / G, [[0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(p.gyr_rps / D2R, [[655 * 500 / 32768, 0, 0]], atol=1e-12)


def test_encoder_reproduces_the_vectors() -> None:
    v1 = ci.encode_packet(
        1000,
        5_000_000,
        10_000,
        np.array([[0, 0, 4096], [2048, -2048, 4096]]),
        np.array([[164, 0, -164], [0, 32767, -32768]]),
        8,
        2000,
    )
    assert v1 == h(V1)
    v2 = ci.encode_packet(
        0xFFFF,
        0xFFFFFFF0,
        5000,
        np.array([[0, 0, 2048]]),
        np.array([[655, 0, 0]]),
        16,
        500,
        mag_counts=np.array([[500, -200, 10]]),
        mag_lsb_nt=100,
    )
    assert v2 == h(V2)


def test_commands() -> None:
    assert ci.start_command(100, 8, 2000) == h("01 64 00 08 D0 07 00")
    assert ci.start_command(200, 16, 1000, mag=True) == h("01 C8 00 10 E8 03 01")
    assert ci.stop_command() == h("02")
    assert ci.set_rate_command(200) == h("03 C8 00")
    assert ci.identify_command(5) == h("04 05")


def test_acks_and_info() -> None:
    a = ci.decode_control(h("81 00 64 00 08 D0 07"))
    assert a.info == {
        "kind": "ack",
        "opcode": 1,
        "status": "ok",
        "rate_hz": 100,
        "acc_fs_g": 8,
        "gyr_fs_dps": 2000,
    }
    assert ci.decode_control(h("82 00")).info == {"kind": "ack", "opcode": 2, "status": "ok"}
    assert ci.decode_control(h("81 01")).info["status"] == "unsupported"
    info = ci.decode_info(h("01 06 20 03 10 D0 07 01 00")).info
    assert (
        info["protocol_version"],
        info["axes"],
        info["max_rate_hz"],
        info["acc_fs_g"],
        info["gyr_fs_dps"],
        info["firmware"],
    ) == (1, 6, 800, 16, 2000, 1)
    assert ci.encode_info(6, 800, 16, 2000, 1) == h("01 06 20 03 10 D0 07 01 00")


@pytest.mark.parametrize(
    "payload",
    [
        V1[:-3],
        V1 + " 00",
        "13" + V1[2:],
        "11 00" + V1[5:47],
        V1[:33] + "01" + V1[35:],  # flags byte set
        V1[:30] + "03" + V1[32:],  # acc full scale 3 g
        "11 02 E8 03 40 4B 4C 00 00 00 08 00 D0 07 00 00" + V1[47:],  # period 0
        V2[:42] + "00 00" + V2[47:],  # IMU9 without a mag scale
        "",
        "11",
    ],
)
def test_malformed(payload: str) -> None:
    with pytest.raises(DecodeError) as info:
        ci.decode_data(h(payload))
    assert info.value.profile == "coach-imu"
