"""MetaMotion vectors of docs/protocols/mbientlab_metamotion.md §7 (decode and encode).

Expected values are the MetaWear SDK tests' assertions, compared with the SDK's own tolerance
(0.1 % relative or 0.001 absolute, in the SDK's units: g, °/s, µT). Wire bytes are written out here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coach.errors import DecodeError
from drivers import metamotion as mm
from drivers.base import Packet

G = 9.80665
D2R = math.pi / 180


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def close(actual: np.ndarray | list[float], expected: list[float] | list[list[float]]) -> None:
    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    tol = np.maximum(0.001 * np.maximum(np.abs(a), np.abs(e)), 0.001)
    assert a.shape == e.shape
    assert (np.abs(a - e) <= tol).all(), f"{a} != {e}"


BMI160 = mm.DecodeSettings(chip="bmi160")
BMI270 = mm.DecodeSettings(chip="bmi270")


def test_uuids() -> None:
    assert mm.SERVICE_UUID == "326a9000-85cb-9195-d9dd-464cfbbae75a"
    assert mm.COMMAND_UUID == "326a9001-85cb-9195-d9dd-464cfbbae75a"
    assert mm.NOTIFY_UUID == "326a9006-85cb-9195-d9dd-464cfbbae75a"


@pytest.mark.parametrize("chip", ["bmi160", "bmi270"])
def test_acc_4g(chip: str) -> None:
    p = mm.decode_packet(h("03 04 16 c4 94 a2 2a d0"), mm.DecodeSettings(chip=chip, acc_range_g=4))  # type: ignore[arg-type]
    assert p.stream == "acc" and p.acc_mps2 is not None
    close(p.acc_mps2 / G, [[-1.872, -2.919, -1.495]])


@pytest.mark.parametrize(("chip", "header"), [("bmi160", "03 1c"), ("bmi270", "03 05")])
def test_packed_acc_8g(chip: str, header: str) -> None:
    payload = h(header + " 62 b7 53 0d e9 fd 16 d0 4d 0e 57 02 8a ff a1 05 0a 01")
    p = mm.decode_packet(payload, mm.DecodeSettings(chip=chip, acc_range_g=8))  # type: ignore[arg-type]
    assert p.acc_mps2 is not None
    close(p.acc_mps2 / G, [[-4.539, 0.833, -0.131], [-2.995, 0.894, 0.146], [-0.029, 0.352, 0.065]])


def test_gyro_500dps_bmi160() -> None:
    p = mm.decode_packet(h("13 05 3e 43 ff 7f 00 80"), mm.DecodeSettings(chip="bmi160", gyr_range_dps=500))
    assert p.stream == "gyr" and p.gyr_rps is not None
    close(p.gyr_rps / D2R, [[262.409, 499.497, -499.512]])
    close(p.gyr_rps, [[4.57991, 8.71791, -8.71817]])


def test_packed_gyro_1000dps_bmi160() -> None:
    payload = h("13 07 09 15 ad 26 08 de 8a 1a 0d 26 65 e4 8d 20 ac 27 73 ec")
    p = mm.decode_packet(payload, mm.DecodeSettings(chip="bmi160", gyr_range_dps=1000))
    assert p.gyr_rps is not None
    close(
        p.gyr_rps / D2R,
        [[164.177, 301.860, -265.122], [207.134, 296.982, -215.457], [254.055, 309.634, -152.591]],
    )


def test_register_5_of_the_gyro_depends_on_the_chip() -> None:
    # 13 05: single samples on BMI160 boards, packed data on BMI270 boards.
    with pytest.raises(DecodeError):
        mm.decode_packet(h("13 05 3e 43 ff 7f 00 80"), BMI270)
    packed = h("13 05 09 15 ad 26 08 de 8a 1a 0d 26 65 e4 8d 20 ac 27 73 ec")
    p = mm.decode_packet(packed, mm.DecodeSettings(chip="bmi270", gyr_range_dps=1000))
    assert p.gyr_rps is not None and p.gyr_rps.shape == (3, 3)
    p1 = mm.decode_packet(h("13 04 3e 43 ff 7f 00 80"), mm.DecodeSettings(chip="bmi270", gyr_range_dps=500))
    assert p1.gyr_rps is not None
    close(p1.gyr_rps / D2R, [[262.409, 499.497, -499.512]])


def test_mag() -> None:
    p = mm.decode_packet(h("15 05 4e f0 53 0a 75 04"))
    assert p.mag_ut is not None
    np.testing.assert_allclose(p.mag_ut, [[-251.1250, 165.1875, 71.3125]], atol=1e-12)


def test_sensor_fusion_outputs() -> None:
    acc = mm.decode_packet(h("19 04 20 3e 53 c5 0c fe 79 46 0c fe 79 c6 00"))
    assert acc.acc_mps2 is not None and acc.info["accuracy"] == 0
    close(acc.acc_mps2 / G, [[-3.3799, 15.9995, -15.9995]])
    gyr = mm.decode_packet(h("19 05 7a 56 91 42 b4 62 60 c2 73 34 04 44 00"))
    assert gyr.gyr_rps is not None and gyr.info["accuracy"] == 0
    close(gyr.gyr_rps / D2R, [[72.669, -56.096, 528.820]])
    mag = mm.decode_packet(h("19 06 00 00 02 42 cd cc 6c c1 9a 99 ed 41 03"))
    assert mag.mag_ut is not None and mag.info["accuracy"] == 3
    close(mag.mag_ut, [[32.500, -14.800, 29.700]])
    q = mm.decode_packet(h("19 07 1b 9b 70 3f 8c 5e 4d bd 07 7f 1d be 78 02 9a be"))
    close(q.info["wxyz"], [0.940, -0.050, -0.154, -0.301])
    e = mm.decode_packet(h("19 08 b1 f9 c5 41 44 b9 f1 c2 1a 2f 04 c2 b1 f9 c5 41"))
    close(
        [e.info["heading_deg"], e.info["pitch_deg"], e.info["roll_deg"], e.info["yaw_deg"]],
        [24.747, -120.862, -33.046, 24.747],
    )
    grav = mm.decode_packet(h("19 09 ee 20 d3 3e b2 93 01 41 04 59 b0 c0"))
    close(np.array(grav.info["xyz_mps2"]) / G, [0.042, 0.826, -0.562])
    close(grav.info["xyz_mps2"], [0.41236, 8.0985, -5.5108])
    lin = mm.decode_packet(h("19 0a 2f ca 39 40 86 d4 61 41 80 4c 6e c0"))
    close(np.array(lin.info["xyz_mps2"]) / G, [0.296, 1.439, -0.380])
    cal = mm.decode_packet(h("19 8b 00 01 02"))
    assert (cal.info["acc"], cal.info["gyro"], cal.info["mag"]) == (0, 1, 2)


def test_barometer() -> None:
    p = mm.decode_packet(h("12 01 d3 35 8b 01"))
    assert p.pressure_pa is not None
    assert p.pressure_pa[0] == 101173.82421875  # exact: u32 0x018b35d3 / 256
    assert float(np.float32(p.pressure_pa[0])) == pytest.approx(101173.828125)
    alt = mm.decode_packet(h("12 02 1e 1f fe ff"))
    assert alt.info["altitude_m"] == -480.8828125


def test_settings_responses() -> None:
    b = mm.decode_packet(h("11 8c 63 34 10"))
    assert b.battery_pct == 99 and b.info["voltage_v"] == pytest.approx(4.148)
    mac = mm.decode_packet(h("11 8b 01 07 7b 52 8f c9 e8"))
    assert mac.info["mac"] == "E8:C9:8F:52:7B:07"


@pytest.mark.parametrize(
    ("payload", "module", "present", "chip"),
    [
        ("03 80 04 00", 0x03, True, "bmi270"),  # MMS
        ("13 80 01 00", 0x13, True, "bmi270"),
        ("15 80 00 02", 0x15, True, None),
        ("12 80 00 00", 0x12, True, None),
        ("19 80 00 03 03 00 06 00 02 00 01 00", 0x19, True, None),
        ("03 80 01 01", 0x03, True, "bmi160"),  # MMR
        ("13 80 00 01", 0x13, True, "bmi160"),
        ("15 80 00 01", 0x15, True, None),
        ("14 80 00 00", 0x14, True, None),
        ("03 80 01 02", 0x03, True, "bmi160"),  # MMRL
        ("12 80", 0x12, False, None),  # absent module
        ("14 80", 0x14, False, None),
    ],
)
def test_module_info_responses(payload: str, module: int, present: bool, chip: str | None) -> None:
    p = mm.decode_packet(h(payload))
    assert p.info["kind"] == "module_info" and p.info["module"] == module and p.info["present"] is present
    assert p.info.get("chip") == chip


def test_decoder_learns_the_chip_from_module_info() -> None:
    dec = mm.MetamotionDecoder(mm.DecodeSettings(chip="bmi270", gyr_range_dps=500))
    assert isinstance(dec.feed(mm.NOTIFY_UUID, h("13 05 3e 43 ff 7f 00 80"))[0], DecodeError)
    dec.feed(mm.NOTIFY_UUID, h("03 80 01 01"))
    (p,) = dec.feed(mm.NOTIFY_UUID, h("13 05 3e 43 ff 7f 00 80"))
    assert isinstance(p, Packet) and p.gyr_rps is not None


def test_accounter_count_and_time() -> None:
    count = mm.decode_packet(
        h("09 03 00 ec 01 00 00 01 0b 9a 07 40 40"), mm.DecodeSettings(accounter="count")
    )
    assert count.counter == 492 and count.acc_mps2 is not None
    t = mm.decode_packet(
        h("09 03 00 a6 33 0d 00 c1 00 b1 24 19 cd"), mm.DecodeSettings(acc_range_g=2, accounter="time")
    )
    assert t.info["ticks"] == 0x000D33A6 and t.acc_mps2 is not None
    close(t.acc_mps2 / G, [[0.0118, 0.573, -0.795]])
    assert t.device_time_s is not None
    assert t.device_time_s[0] == pytest.approx(0x000D33A6 * 48 / 32768)


def test_accounter_tick_deltas_match_the_sdk_epoch_milliseconds() -> None:
    ticks = [0x0D33A6, 0x0D33AD, 0x0D33B4, 0x0D33BA, 0x0D33C1, 0x0D33C8]
    times = []
    for tick in ticks:
        payload = h("09 03 00") + tick.to_bytes(4, "little") + h("c1 00 b1 24 19 cd")
        p = mm.decode_packet(payload, mm.DecodeSettings(acc_range_g=2, accounter="time"))
        assert p.device_time_s is not None
        times.append(p.device_time_s[0])
    # The SDK keeps integer epoch milliseconds, rounded from the first sample's time.
    epoch_ms = [math.floor((t - times[0]) * 1000 + 0.5) for t in times]
    assert np.diff(epoch_ms).tolist() == [10, 11, 8, 11, 10]


# -- encodings ---------------------------------------------------------------------------------------------

BMI160_ODR = {
    0.78125: "81",
    1.5625: "82",
    3.125: "83",
    6.25: "84",
    12.5: "25",
    25: "26",
    50: "27",
    100: "28",
    200: "29",
    400: "2a",
    800: "2b",
    1600: "2c",
}
BMI270_ODR = {
    0.78125: "21",
    1.5625: "22",
    3.125: "23",
    6.25: "24",
    12.5: "a5",
    25: "a6",
    50: "a7",
    100: "a8",
    200: "a9",
    400: "aa",
    800: "ab",
    1600: "ac",
}


@pytest.mark.parametrize(("rate", "byte"), BMI160_ODR.items())
def test_acc_odr_bmi160(rate: float, byte: str) -> None:
    assert mm.acc_config("bmi160", rate, 2) == h(f"03 03 {byte} 03")


@pytest.mark.parametrize(("rate", "byte"), BMI270_ODR.items())
def test_acc_odr_bmi270(rate: float, byte: str) -> None:
    assert mm.acc_config("bmi270", rate, 8) == h(f"03 03 {byte} 02")


def test_acc_commands() -> None:
    assert mm.acc_config("bmi160", 100, 16) == h("03 03 28 0c")
    assert mm.acc_config("bmi160", 200, 8) == h("03 03 29 08")
    assert mm.acc_config("bmi270", 100, 16) == h("03 03 a8 03")
    assert mm.acc_config("bmi270", 200, 8) == h("03 03 a9 02")
    assert mm.acc_config("bmi270", 100, 8) == h("03 03 a8 02")  # the MMS default
    assert mm.acc_config("bmi160", 55, 2) == h("03 03 27 03")  # snaps to 50 Hz
    assert mm.acc_config("bmi160", 100, 14.75) == h("03 03 28 0c")  # snaps to 16 g
    assert mm.sampling(0x03, True) == h("03 02 01 00")
    assert mm.sampling(0x03, False) == h("03 02 00 01")
    assert mm.acc_subscribe("bmi160", packed=False) == h("03 04 01")
    assert mm.acc_subscribe("bmi160", packed=False, on=False) == h("03 04 00")
    assert mm.acc_subscribe("bmi160", packed=True) == h("03 1c 01")
    assert mm.acc_subscribe("bmi160", packed=True, on=False) == h("03 1c 00")
    assert mm.acc_subscribe("bmi270", packed=True) == h("03 05 01")
    assert mm.acc_subscribe("bmi270", packed=True, on=False) == h("03 05 00")
    assert mm.power(0x03, True) == h("03 01 01")
    assert mm.power(0x03, False) == h("03 01 00")


def test_gyro_commands() -> None:
    assert mm.gyro_config(100, 2000) == h("13 03 28 00")
    assert mm.gyro_config(200, 2000) == h("13 03 29 00")
    assert mm.gyro_config(100, 250) == h("13 03 28 03")
    assert mm.gyro_config(50, 125) == h("13 03 27 04")
    assert mm.power(0x13, True) == h("13 01 01")
    assert mm.power(0x13, False) == h("13 01 00")
    assert mm.sampling(0x13, True) == h("13 02 01 00")
    assert mm.sampling(0x13, False) == h("13 02 00 01")
    assert mm.gyro_subscribe("bmi160", packed=False) == h("13 05 01")
    assert mm.gyro_subscribe("bmi160", packed=False, on=False) == h("13 05 00")
    assert mm.gyro_subscribe("bmi160", packed=True) == h("13 07 01")
    assert mm.gyro_subscribe("bmi160", packed=True, on=False) == h("13 07 00")
    assert mm.gyro_subscribe("bmi270", packed=False) == h("13 04 01")
    assert mm.gyro_subscribe("bmi270", packed=True) == h("13 05 01")


def test_mag_commands() -> None:
    assert mm.power(0x15, True) == h("15 01 01")
    assert mm.power(0x15, False) == h("15 01 00")
    assert mm.sampling(0x15, True) == h("15 02 01 00")
    assert mm.sampling(0x15, False) == h("15 02 00 01")
    assert mm.mag_subscribe() == h("15 05 01")
    assert mm.mag_preset("regular") == [h("15 04 04 0e"), h("15 03 00")]
    assert mm.mag_preset("low_power") == [h("15 04 01 02"), h("15 03 00")]
    assert mm.mag_preset("enhanced") == [h("15 04 07 1a"), h("15 03 00")]
    assert mm.mag_preset("high_accuracy") == [h("15 04 17 52"), h("15 03 05")]
    assert mm.mag_preset("regular", revision=2) == [h("15 01 00"), h("15 04 04 0e"), h("15 03 00")]


def test_sensor_fusion_commands() -> None:
    ndof = mm.fusion_config("ndof", 16, 2000, "bmi160")
    assert ndof == [h("19 02 01 13"), h("03 03 28 0c"), h("13 03 28 00"), h("15 04 04 0e"), h("15 03 06")]
    imuplus = mm.fusion_config("imuplus", 2, 250, "bmi160")
    assert imuplus == [h("19 02 02 40"), h("03 03 28 03"), h("13 03 28 03")]
    start = [
        "03 02 01 00",
        "13 02 01 00",
        "15 02 01 00",
        "03 01 01",
        "13 01 01",
        "15 01 01",
        "19 03 08 00",
        "19 01 01",
    ]
    assert mm.fusion_start(["quaternion"]) == [h(x) for x in start]
    stop = [
        "19 01 00",
        "19 03 00 7f",
        "03 01 00",
        "13 01 00",
        "15 01 00",
        "03 02 00 01",
        "13 02 00 01",
        "15 02 00 01",
    ]
    assert mm.fusion_stop() == [h(x) for x in stop]
    assert mm.fusion_subscribe("quaternion") == h("19 07 01")
    assert mm.fusion_read_calibration() == h("19 8b")
    assert mm.fusion_reset_orientation() == h("19 0f 01")


def test_other_commands() -> None:
    assert mm.baro_start() == h("12 04 01 01")
    assert mm.baro_start(False) == h("12 04 00 00")
    assert mm.baro_subscribe("pressure") == h("12 01 01")
    assert mm.baro_subscribe("altitude") == h("12 02 01")
    assert mm.connection_parameters(750, 1000, 128, 16384) == h("11 09 58 02 20 03 80 00 66 06")
    assert mm.connection_parameters(7.5, 7.5, 0, 6000) == h("11 09 06 00 06 00 00 00 58 02")  # DERIVED
    assert mm.read_battery() == h("11 8c")
    assert mm.read_mac() == h("11 8b")
    assert mm.haptic_motor(100, 5000) == h("08 01 f8 88 13 00")
    assert mm.haptic_buzzer(7500) == h("08 01 7f 4c 1d 01")
    assert mm.led_play() == h("02 01 01")
    assert mm.led_play(autoplay=True) == h("02 01 02")
    assert mm.led_pause() == h("02 01 00")
    assert mm.led_stop(clear=True) == h("02 02 01")
    assert mm.led_stop(clear=False) == h("02 02 00")
    assert mm.debug_reset() == h("fe 01")
    assert mm.debug_disconnect() == h("fe 06")
    assert mm.module_info(0x03) == h("03 80")
    assert h("09 02 03 04 ff a0 11 30 03") == mm.ACCOUNTER_COUNT_ON_ACC
    assert h("09 02 03 04 ff a0 11 31 03") == mm.ACCOUNTER_TIME_ON_ACC


def test_start_sequence_of_the_profile() -> None:
    prof = mm.MetamotionProfile()  # default: single-sample notifications
    assert prof.start_writes("bmi270")[3:5] == [h("03 04 01"), h("13 04 01")]
    assert mm.MetamotionProfile(packed=False).start_writes("bmi160")[3:5] == [h("03 04 01"), h("13 05 01")]
    writes = mm.MetamotionProfile(packed=True).start_writes("bmi270")
    assert writes[0] == h("11 09 06 00 06 00 00 00 58 02")
    assert writes[1:] == [
        h(x)
        for x in (
            "03 03 a8 02",
            "13 03 28 00",
            "03 05 01",
            "13 05 01",
            "03 02 01 00",
            "13 02 01 00",
            "03 01 01",
            "13 01 01",
        )
    ]


@pytest.mark.parametrize(
    "payload",
    [
        "03 04 16 c4 94 a2 2a",
        "03 04 16 c4 94 a2 2a d0 00",
        "03 1c 62 b7",
        "19 04 00",
        "42 42 00",
        "03",
        "",
        "11 8c ff 00 00",
        "19 04 20 3e 53 c5 0c fe 79 46 0c fe 79 c6 07",
        "19 07 00 00 c0 7f 00 00 00 00 00 00 00 00 00 00 00 00",
    ],
)
def test_malformed_raise_decode_error(payload: str) -> None:
    with pytest.raises(DecodeError) as info:
        mm.decode_packet(h(payload), BMI160)
    assert info.value.profile == "metamotion"
