"""``coach decode``: vectors of every profile in, JSON Lines of SI samples out; errors on stderr."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from coach.cli import main

G = 9.80665


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["decode", *argv])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    return code, lines, captured.err


def test_witmotion_resync_across_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run(
        capsys, "witmotion", "00 12 55 61 00 00 00 FC 00 08", "10 00 B8 FE 00 00 00 40 00 C0 FF 7F"
    )
    assert code == 0 and err == ""
    assert len(lines) == 1 and set(lines[0]) == {"ax", "ay", "az", "gx", "gy", "gz"}  # no time in the packet
    assert lines[0]["ay"] == pytest.approx(-0.5 * G) and lines[0]["gy"] == pytest.approx(-0.3494067, abs=1e-7)


def test_metamotion_range_option_and_separate_streams(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "metamotion", "--acc-range-g", "4", "03 04 16 c4 94 a2 2a d0")
    assert code == 0 and set(lines[0]) == {"ax", "ay", "az"}  # an acc packet has acc fields only
    assert lines[0]["ax"] == pytest.approx(-1.872 * G, rel=1e-3)
    code, lines, _ = run(
        capsys, "metamotion", "--chip", "bmi160", "--gyr-range-dps", "500", "13 05 3e 43 ff 7f 00 80"
    )
    assert code == 0 and set(lines[0]) == {"gx", "gy", "gz"}
    assert lines[0]["gy"] == pytest.approx(8.71791, rel=1e-3)


def test_metamotion_default_is_the_start_stream_setting(capsys: pytest.CaptureFixture[str]) -> None:
    # Default: BMI270 packed acc at ±8 g (the profile's own start-stream setting).
    code, lines, _ = run(capsys, "metamotion", "03 05 62 b7 53 0d e9 fd 16 d0 4d 0e 57 02 8a ff a1 05 0a 01")
    assert code == 0 and len(lines) == 3
    assert lines[0]["ax"] == pytest.approx(-4.539 * G, rel=1e-3)


def test_polar_frames_carry_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(
        capsys, "polar-verity", "02 00 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08"
    )
    assert code == 0 and len(lines) == 2
    assert lines[1]["t"] == 0.0 and lines[0]["t"] == pytest.approx(-1 / 52)
    assert lines[0]["ax"] == pytest.approx(-15e-3 * G)


def test_polar_factor_option(capsys: pytest.CaptureFixture[str]) -> None:
    frame = "05 FF FF FF FF FF FF FF 7F 80 EA FF 08 00 0D 00 03 01 DF 00"
    code, lines, _ = run(capsys, "polar-verity", "--gyr-factor", "0.5", frame)
    assert code == 0 and lines[0]["gx"] == pytest.approx(-11 * math.pi / 180)


def test_movesense_split_message(capsys: pytest.CaptureFixture[str]) -> None:
    v3 = bytes.fromhex(
        "02 63 88 13 00 00 00 00 00 3F 00 00 80 BE 00 00 1D 41 00 00 40 3F 00 00 00 BF 00 00 1C 41"
        " 00 00 C0 3F 00 00 10 C0 00 00 00 00 00 00 40 40 00 00 00 3E 00 00 80 BF"
    )
    code, lines, _ = run(capsys, "movesense", v3[:40].hex(), "0363" + v3[40:].hex())
    assert code == 0 and [line["t"] for line in lines] == pytest.approx([5.0, 5.0 + 1 / 104])
    assert lines[1]["az"] == 9.75


def test_thingy_and_coach_imu(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "thingy52", "00 00 00 FE 00 04 20 00 60 FF 00 00 20 03 C0 FE 10 00")
    assert code == 0 and lines[0]["mx"] == 50.0 and lines[0]["az"] == pytest.approx(G)
    code, lines, _ = run(
        capsys,
        "coach-imu",
        "11 02 E8 03 40 4B 4C 00 10 27 08 00 D0 07 00 00 00 00 00 00 00 10 A4 00 00 00 5C FF"
        " 00 08 00 F8 00 10 00 00 FF 7F 00 80",
        "82 00",
    )
    assert code == 0 and [line.get("t") for line in lines[:2]] == pytest.approx([5.0, 5.01])
    assert lines[2] == {"packet": "ack", "opcode": 2, "status": "ok"}


def test_bad_packets_give_error_lines_and_exit_1_but_good_ones_still_decode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, err = run(
        capsys, "thingy52", "00 01", "not-hex", "00 00 00 FE 00 04 20 00 60 FF 00 00 20 03 C0 FE 10 00"
    )
    assert code == 1 and len(lines) == 1
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 2 and "packet 1" in err_lines[0] and "packet 2" in err_lines[1]


def test_truncated_at_end_of_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run(capsys, "witmotion", "55 61 00 00")
    assert code == 1 and lines == [] and "end of input" in err and "truncated" in err


def test_no_traceback_from_the_real_command() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "coach",
            "decode",
            "polar-verity",
            "02 00 94 35 77 00 00 00 00 85 00 00",
            "f0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Traceback" not in proc.stderr and proc.stderr.count("coach decode:") == 2
