"""Polar Verity Sense vectors of docs/protocols/polar_verity_sense.md §6 (decode and encode).

Frames quoted from Polar's SDK tests, its PMD specification and real frames from GitHub issues. Wire
constants are written out here, not imported.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coach.errors import DecodeError
from drivers import polar_verity as pv
from drivers.base import Packet

G = 9.80665


def h(text: str) -> bytes:
    return bytes.fromhex(text)


RAW_TYPE1_PAYLOAD = (
    "F7 FF FF FF E7 03 F8 FF FE FF E5 03 F9 FF FF FF E5 03 FA FF FF FF E6 03 FA FF FE FF E6 03 F9 FF "
    "FF FF E5 03 F8 FF FF FF E6 03 F8 FF FE FF E6 03 FA FF FF FF E5 03 FA FF FF FF E7 03 FA FF FF FF "
    "E5 03 F8 FF FF FF E6 03 F7 FF FF FF E6 03 F8 FF FE FF E6 03 F9 FF FE FF E7 03 F9 FF 00 00 E6 03 "
    "F9 FF FF FF E6 03 F7 FF FE FF E5 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03 FA FF 00 00 E6 03 F9 FF "
    "FE FF E6 03 F8 FF FF FF E6 03 F8 FF FF FF E5 03 F9 FF FF FF E6 03 F9 FF FF FF E5 03 FA FF FF FF "
    "E6 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03 F8 FF FE FF E6 03 F9 FF FF FF E6 03 F9 FF FF FF E6 03 "
    "F9 FF 00 00 E5 03 F9 FF FE FF E6 03 F8 FF FE FF E6 03 F7 FF FE FF E6 03"
)
COMPRESSED_TYPE0_PAYLOAD = (
    "71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE 4C FE BA 2F 92 BF EE 4B "
    "E4 B1 FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 B5 F7 D2 B8 ED BD 30 7E 7B 2F 8B E3 CE 8B E2 BA "
    "F7 A2 B8 EE BC 20 BE 7B 2F 88 F3 CE CB E1 BD EF 52 F8 EF BC 18 FE 3B 2F 84 03 BF CB E0 C2 EF 32 "
    "B8 F0 BB 04 4E BC 2E 81 13 AF 0B E0 C6 EF F2 F7 F1 B9 FC 7D BC 2E 7D 27 9F 4B DF CA EB C2 F7 F2 "
    "B8 EC CD 7C 2E 7B 37 8F 4B DE CE E3 92 F7 F3 B8 E0 0D FD 2D 77 4B 7F CB DD D2 DF 62 37 F5 B7 D4 "
    "4D BD 2D 74 5B 6F CB DC D7 D7 32 37 F6 B5 C8 8D 7D 2D 71 6B 4F 4B DC DC D3 F2 36 F7 B4 BC DD FD "
    "2C 6F 7B 3F 4B DB E0 CF D2 36 F8 B2 B0 2D BE 2C 6C 8F 1F CB DA E3 C7 A2 76 F9"
)
I186_FRAME = (
    "02 96 5B 06 5D EE AB 7F 09 80 8E F1 B9 FB 34 FB 08 1D 2A 1A 1D 2B EE E5 ED DB F1 99 02 FB A7 F0 "
    "D7 EB 0B D7 04 19 D7 06 38 E7 34 12 10 5B 0C 36 24 07 2F 22 E7 57 DE F3 1B F2 1F 07 E4 05 F4 F4 "
    "F4 E7 FC 11 FA 0F FC F3 1A 12 04 2F FD 14 25 E8 1B 15 17 3C 01 F4 32 BA FF 13 06 FA F6 DB FA E4 "
    "AC F8 C0 AE FE BC A0 E1 E0 0A 0A EB E3 DF 3E F4 ED CB 20 80 FD FA 33 00 81 07 32 E4 FF BE 12 DA "
    "07 91 48 FC EE 47 62 C0 0A 3F C4 AF 42 FE FE A3 00 08 0A EC 1D 06 E7 2A FE E7 20 C3 E3 22 FF D0 "
    "0F E9 2B F4 01 0D 17 01 D0 08 34 E7 FA 53 CA BA 01 0A 0D BD 27 00 41 EB EA BF 6F 77 F7 B4 5F AC "
    "FB E7 E1 33 DF 7C 09 ED 5F 3F 0B FC 1B E4 62 BF 02 47 24 00 02 13 36 D8 4F 01 10 D7 13 F1 02 EE "
    "3F 88 E0 3E"
)
I443_PREFIX = (
    "02 00 41 6F C4 12 45 93 0A 81 EE 02 1F FE 82 FF 08 0A 10 DA 20 D6 A3 0B D9 CB E7 D6 F6 C4 E6 F1 "
    "E1 F3 E0 15 1A FE 28 1B F8 37 2C 25 20 13 19 11"
)


def test_uuids() -> None:
    assert pv.SERVICE_UUID == "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
    assert pv.CONTROL_UUID == "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
    assert pv.DATA_UUID == "fb005c82-02e7-f387-1cad-8acd2d8df0c8"


def test_spec_delta_example_made_complete() -> None:
    payload = h("02 00 00 00 00 00 00 00 00 80 D0 FF 65 01 E4 0F 08 02 FC 07 FF 0C 13 F2")
    raw = pv.decode_delta_frame(payload[10:], 16, 3)
    assert raw.tolist() == [[-48, 357, 4068], [-52, 364, 4067], [-40, 383, 4053]]
    frame = pv.decode_frame(payload, pv.DecodeSettings(factors={2: 1.0}))
    assert frame.values.tolist() == [
        [-48000.0, 357000.0, 4068000.0],
        [-52000.0, 364000.0, 4067000.0],
        [-40000.0, 383000.0, 4053000.0],
    ]


def test_sdk_raw_type1_frame() -> None:
    payload = h("02 00 94 35 77 00 00 00 00 01" + RAW_TYPE1_PAYLOAD)
    frame = pv.decode_frame(payload, pv.DecodeSettings(rate_hz=52))
    assert len(frame.values) == 36
    assert frame.values[0].tolist() == [-9, -1, 999]
    assert frame.values[1].tolist() == [-8, -2, 997]
    assert frame.timestamp_ns == 2_000_000_000 and frame.sample_times_ns[-1] == 2_000_000_000
    delta = 1e9 / 52
    assert frame.sample_times_ns[0] == round(2e9 - delta * 35)
    packet = pv.frame_to_packet(frame)
    assert packet.acc_mps2 is not None and packet.device_time_s is not None
    np.testing.assert_allclose(packet.acc_mps2[0], np.array([-9, -1, 999]) * 1e-3 * G)
    assert packet.device_time_s[-1] == pytest.approx(2.0)


def test_sdk_compressed_type1_frame_with_previous_timestamp() -> None:
    frame = pv.decode_frame(
        h("02 65 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08"), previous_ns=100
    )
    assert frame.values.tolist() == [[-15, 20, 1008], [-20, 17, 1008]]
    assert frame.sample_times_ns == [100, 101]  # round(100.5) is 100: half to even, as the SDK


def test_sdk_compressed_type0_frame_with_factor() -> None:
    payload = h("02 00 94 35 77 00 00 00 00 80" + COMPRESSED_TYPE0_PAYLOAD)
    raw = pv.decode_delta_frame(payload[10:], 16, 3)
    assert len(raw) == 57
    assert raw[0].tolist() == [1905, 27376, -29282]
    assert raw[1].tolist() == [2095, 27271, -29367]
    assert raw[-1].tolist() == [12274, 20173, -32449]
    frame = pv.decode_frame(payload, pv.DecodeSettings(factors={2: 2.44e-4}), previous_ns=100)
    assert np.trunc(frame.values[0]).tolist() == [464, 6679, -7144]  # the SDK truncates to int mG
    assert np.trunc(frame.values[1]).tolist() == [511, 6654, -7165]
    assert frame.sample_times_ns[-1] == 2_000_000_000
    assert frame.sample_times_ns[0] == round(100 + (2_000_000_000 - 100) / 57)


def test_sdk_gyro_compressed_type0() -> None:
    frame = pv.decode_frame(h("05 FF FF FF FF FF FF FF 7F 80 EA FF 08 00 0D 00 03 01 DF 00"), previous_ns=100)
    assert frame.values.tolist() == [[-22, 8, 13], [-23, 11, 16]]
    assert frame.timestamp_ns == 9223372036854775807
    packet = pv.frame_to_packet(frame)
    assert packet.stream == "gyr" and packet.gyr_rps is not None
    np.testing.assert_allclose(packet.gyr_rps[0], np.array([-22, 8, 13]) * math.pi / 180)


GYRO_FLOAT = (
    "05 00 94 35 77 00 00 00 00 81 00 00 80 3F 00 00 20 41 00 00 A0 41 1C 01 00 00 A0 01 00 00 08 CD CC EC 0D"
)


def test_sdk_gyro_compressed_type1_floats() -> None:
    frame = pv.decode_frame(h(GYRO_FLOAT))
    np.testing.assert_array_equal(frame.values[0], [1.0, 10.0, 20.0])
    expected_s1 = np.array([0x41200000, 0x41A00000, 0x3F8CCCCD], dtype=np.uint32).view(np.float32)
    np.testing.assert_array_equal(frame.values[1], expected_s1.astype(np.float64))
    assert frame.values[1].tolist() == pytest.approx([10.0, 20.0, 1.1])
    halved = pv.decode_frame(h(GYRO_FLOAT), pv.DecodeSettings(factors={5: 0.5}))
    np.testing.assert_allclose(halved.values, frame.values * 0.5)


def test_sdk_mag_compressed_type0() -> None:
    frame = pv.decode_frame(h("06 00 94 35 77 00 00 00 00 80 E2 E6 FA 15 49 0A 06 01 7F 20 FC"))
    assert frame.values.tolist() == [[-6430, 5626, 2633], [-6431, 5627, 2635]]
    packet = pv.frame_to_packet(frame)
    assert packet.mag_ut is not None
    np.testing.assert_allclose(packet.mag_ut[0], np.array([-6430, 5626, 2633]) * 100.0)  # Gauss -> µT


def test_settings_tlv() -> None:
    settings = pv.parse_settings(h("00 01 34 00 01 01 10 00 02 04 F5 00 F4 01 E8 03 D0 07 04 01 03"))
    assert settings == {
        "sample_rate": [52],
        "resolution": [16],
        "range": [245, 500, 1000, 2000],
        "channels": [3],
    }


def test_control_point_responses() -> None:
    a = pv.decode_control(h("F0 01 02 00 00 FF FF FF"))
    assert (a.info["opcode"], a.info["measurement"], a.info["status"], a.info["more"], a.info["params"]) == (
        1,
        "acc",
        "SUCCESS",
        False,
        "ffffff",
    )
    b = pv.decode_control(h("F0 01 06 07 00"))
    assert (b.info["opcode"], b.info["measurement"], b.info["status"], b.info["params"]) == (
        1,
        "mag",
        "INVALID_RESOLUTION",
        "",
    )
    c = pv.decode_control(h("F0 02 01 00 00 05 01 00 00 20 40"))
    assert c.info["status"] == "SUCCESS" and c.info["settings"]["factor"] == [2.5]
    d = pv.decode_control(h("F0 02 02 00 00"))
    assert (d.info["opcode"], d.info["measurement"], d.info["status"]) == (2, "acc", "SUCCESS")


def test_start_response_factor_is_learned_by_the_decoder() -> None:
    dec = pv.PolarDecoder()
    dec.feed(pv.CONTROL_UUID, h("F0 02 05 00 00 05 01 00 00 20 40"))  # GYRO START, factor 2.5
    (p,) = dec.feed(pv.DATA_UUID, h("05 FF FF FF FF FF FF FF 7F 80 EA FF 08 00 0D 00 03 01 DF 00"))
    assert isinstance(p, Packet) and p.gyr_rps is not None
    np.testing.assert_allclose(p.gyr_rps[0], np.array([-22, 8, 13]) * 2.5 * math.pi / 180)


def test_start_command_encoding() -> None:
    assert pv.start_command(2, 52, 8) == h("02 02 00 01 34 00 01 01 10 00 02 01 08 00 04 01 03")
    assert pv.stop_command(2) == h("03 02")
    assert pv.stop_command(5) == h("03 05")
    assert pv.get_settings_command(2) == h("01 02")
    assert pv.get_settings_command(5) == h("01 05")
    assert pv.get_settings_command(6) == h("01 06")
    assert pv.sdk_mode(True) == h("02 09")
    assert pv.sdk_mode(False) == h("03 09")


def test_real_frame_i186_consumed_exactly() -> None:
    payload = h(I186_FRAME)
    assert len(payload) == 228
    raw = pv.decode_delta_frame(payload[10:], 16, 3)
    assert len(raw) == 63
    assert raw[0].tolist() == [-3698, -1095, -1228]
    assert raw[1].tolist() == [-3656, -1069, -1199]
    assert raw[2].tolist() == [-3613, -1087, -1226]
    assert raw[29].tolist() == [-3930, -1062, -1234]
    assert raw[30].tolist() == [-3951, -1070, -1253]
    assert raw[-1].tolist() == [-3594, -1066, -1305]
    frame = pv.decode_frame(payload)  # no factor: range/32768 G per count
    assert frame.timestamp_ns == 684454708634868630
    assert np.trunc(frame.values[0]).tolist() == [-902, -267, -299]
    norm = np.linalg.norm(frame.values, axis=1)
    assert 900 < norm.mean() < 1100  # about 1 g at rest
    with pytest.raises(DecodeError):  # one byte fewer breaks the last block
        pv.decode_frame(payload[:-1])


def test_real_frame_prefix_i443() -> None:
    frame = pv.decode_frame(h(I443_PREFIX))
    assert frame.timestamp_ns == 762028708863099136 and frame.frame_type == 0x81
    assert frame.values.astype(int).tolist() == [
        [750, -481, -126],
        [766, -519, -94],
        [724, -612, -83],
        [685, -665, -108],
        [643, -675, -168],
        [617, -690, -199],
        [604, -722, -178],
        [630, -724, -138],
        [657, -732, -83],
        [701, -695, -51],
        [720, -670, -34],
    ]


def test_real_truncated_frame_i331() -> None:
    payload = h("02 9C 58 29 13 84 57 73 07 81 FA FF 21 00 F4 03 06 3B")
    assert int.from_bytes(payload[1:9], "little") == 536869005355997340
    assert pv.decode_delta_frame(payload[10:16], 16, 3).tolist() == [[-6, 33, 1012]]
    with pytest.raises(DecodeError, match="59 samples"):
        pv.decode_frame(payload)


def test_feature_read() -> None:
    p = pv.decode_control(h("0f 05 00"))
    assert p.info["features"] == ["ecg", "acc"]


@pytest.mark.parametrize(
    "payload",
    [
        "02 00 00",
        "02 00 94 35 77 00 00 00 00 01 F7 FF FF",
        "03 00 94 35 77 00 00 00 00 01 F7 FF FF FF E7 03",
        "02 00 94 35 77 00 00 00 00 81 F1 FF 14 00 F0 03 21 01 00 00 00 00 00",
        "02 00 94 35 77 00 00 00 00 85 00 00 00 00 00 00",
    ],
)
def test_malformed_frames_raise_decode_error(payload: str) -> None:
    with pytest.raises(DecodeError):
        pv.decode_frame(h(payload))
