"""Movesense (GSP) and Nordic Thingy:52 vectors of docs/protocols/movesense.md §6 and
nordic_thingy52.md §6 (decode and encode). Wire constants are written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coach.errors import DecodeError
from drivers import movesense as ms
from drivers import thingy52 as th
from drivers.base import Packet

G = 9.80665


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# -- Movesense --------------------------------------------------------------------------------------------

V3 = (
    "02 63 88 13 00 00"
    " 00 00 00 3F 00 00 80 BE 00 00 1D 41   00 00 40 3F 00 00 00 BF 00 00 1C 41"
    " 00 00 C0 3F 00 00 10 C0 00 00 00 00   00 00 40 40 00 00 00 3E 00 00 80 BF"
)


def test_movesense_uuids() -> None:
    assert ms.SERVICE_UUID == "34802252-7185-4d5d-b431-630e7050e8f0"
    assert ms.COMMAND_UUID == "34800001-7185-4d5d-b431-630e7050e8f0"
    assert ms.DATA_UUID == "34800002-7185-4d5d-b431-630e7050e8f0"


def test_v1_command_encodings_and_hello_answer() -> None:
    assert ms.hello(99) == h("00 63")
    assert ms.subscribe(99, "/Meas/Acc/13") == h("01 63 2F 4D 65 61 73 2F 41 63 63 2F 31 33")
    assert ms.subscribe(99, ms.measurement_path("IMU9", 104)) == h(
        "01 63 2F 4D 65 61 73 2F 49 4D 55 39 2F 31 30 34"
    )
    assert ms.subscribe(99, ms.measurement_path("IMU6", 104)) == h(
        "01 63 2F 4D 65 61 73 2F 49 4D 55 36 2F 31 30 34"
    )
    assert ms.unsubscribe(99) == h("02 63")
    answer = ms.decode_result(h("01 63 48 65 6C 6C 6F"))
    assert answer.info == {"kind": "hello", "ref": 99}


def test_v2_no_free_slot_status_either_byte_order() -> None:
    assert ms.decode_result(h("01 63 01 FB")).info["status"] == 507
    assert ms.decode_result(h("01 63 FB 01")).info["status"] == 507


def _check_v3(p: Packet) -> None:
    assert (
        p.stream == "imu" and p.acc_mps2 is not None and p.gyr_rps is not None and p.device_time_s is not None
    )
    assert p.acc_mps2.tolist() == [[0.5, -0.25, 9.8125], [0.75, -0.5, 9.75]]
    np.testing.assert_allclose(p.gyr_rps, np.array([[1.5, -2.25, 0.0], [3.0, 0.125, -1.0]]) * math.pi / 180)
    np.testing.assert_allclose(p.device_time_s * 1000, [5000.0, 5009.615], atol=1e-3)


def test_v3_imu6_two_samples() -> None:
    _check_v3(ms.decode_data(h(V3), "IMU6", 104))


def test_v4_split_over_data_part2() -> None:
    payload = h(V3)
    dec = ms.MovesenseDecoder()
    assert dec.feed(ms.DATA_UUID, payload[:40]) == []
    (p,) = dec.feed(ms.DATA_UUID, h("03 63") + payload[40:])
    assert isinstance(p, Packet)
    _check_v3(p)


def test_data_filling_the_notification_waits_for_part2_or_the_next_data() -> None:
    dec = ms.MovesenseDecoder(ms.DecodeSettings(mtu=57))  # V3 (54 B) exactly fills MTU - 3
    assert dec.feed(ms.DATA_UUID, h(V3)) == []
    out = dec.feed(ms.DATA_UUID, h(V3))  # a new DATA: the held one was whole after all
    assert len(out) == 1 and isinstance(out[0], Packet)
    assert [type(x) for x in dec.finish()] == [Packet]


def test_part2_without_data_and_unfinished_data_are_errors() -> None:
    dec = ms.MovesenseDecoder()
    (err,) = dec.feed(ms.DATA_UUID, h("03 63 00 00"))
    assert isinstance(err, DecodeError)
    assert dec.feed(ms.DATA_UUID, h(V3)[:40]) == []
    errors = dec.finish()
    assert len(errors) == 1 and isinstance(errors[0], DecodeError) and "PART2" in errors[0].reason


@pytest.mark.parametrize("payload", [V3[:-6], "02 63 88 13 00 00", "02 63 88", "05 63 00 00"])
def test_movesense_malformed(payload: str) -> None:
    with pytest.raises(DecodeError):
        ms.decode_data(h(payload))


# -- Thingy:52 --------------------------------------------------------------------------------------------


def test_thingy_uuids() -> None:
    assert th.MOTION_SERVICE_UUID == "ef680400-9b35-4933-9b10-52ffa9740042"
    assert th.MOTION_CONFIG_UUID == "ef680401-9b35-4933-9b10-52ffa9740042"
    assert th.RAW_UUID == "ef680406-9b35-4933-9b10-52ffa9740042"
    assert th.CONNECTION_PARAMS_UUID == "ef680104-9b35-4933-9b10-52ffa9740042"


def test_v1_raw_data() -> None:
    p = th.decode_raw(h("00 00 00 FE 00 04 20 00 60 FF 00 00 20 03 C0 FE 10 00"))
    assert p.acc_mps2 is not None and p.gyr_rps is not None and p.mag_ut is not None
    np.testing.assert_allclose(p.acc_mps2[0], [0.0, -4.903325, 9.80665], atol=1e-12)
    np.testing.assert_allclose(p.gyr_rps[0], [0.0174533, -0.0872665, 0.0], atol=1e-7)
    np.testing.assert_allclose(p.mag_ut[0], [50.0, -20.0, 1.0], atol=1e-12)


def test_v2_motion_config() -> None:
    assert th.motion_config(100, wake_on_motion=False) == h("E8 03 F4 01 F4 01 64 00 00")
    assert th.motion_config(10, wake_on_motion=True) == h("E8 03 F4 01 F4 01 0A 00 01")
    cfg = th.decode_motion_config(h("E8 03 F4 01 F4 01 0A 00 01")).info
    assert (
        cfg["step_interval_ms"],
        cfg["temp_interval_ms"],
        cfg["compass_interval_ms"],
        cfg["rate_hz"],
        cfg["wake_on_motion"],
    ) == (1000, 500, 500, 10, 1)


def test_v3_quaternion_and_v4_euler() -> None:
    q = th.decode_quaternion(h("00 00 00 40 00 00 00 00 00 00 00 E0 00 00 00 00"))
    assert q.info["wxyz"] == [1.0, 0.0, -0.5, 0.0]
    e = th.decode_euler(h("00 00 5A 00 00 80 D2 FF 00 00 00 00"))
    assert (e.info["roll_deg"], e.info["pitch_deg"], e.info["yaw_deg"]) == (90.0, -45.5, 0.0)


def test_v5_connection_parameters() -> None:
    assert th.connection_parameters(7.5, 7.5, 0, 1000) == h("06 00 06 00 00 00 64 00")
    p = th.decode_connection_parameters(h("06 00 06 00 00 00 64 00")).info
    assert (p["min_interval_ms"], p["max_interval_ms"], p["latency"], p["timeout_ms"]) == (7.5, 7.5, 0, 1000)


@pytest.mark.parametrize("payload", ["00" * 17, "00" * 19, ""])
def test_thingy_malformed(payload: str) -> None:
    with pytest.raises(DecodeError):
        th.decode_raw(h(payload))
