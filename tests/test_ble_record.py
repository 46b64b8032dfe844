"""``coach record`` and ``coach scan`` as whole processes, on the simulated backend."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from coach.trace import read_trace

pytestmark = pytest.mark.ble

COACH = [sys.executable, "-m", "coach"]
DEVICES = ["--device", "MetaWear", "--role", "treated", "--device", "Polar Sense 0A1B2C3D", "--role", "hand",
           "--device", "WT901BLE68", "--role", "stroker"]  # fmt: skip


def _rows_in_order(path: Path) -> np.ndarray:
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")][1:]
    return np.array([float(ln.split(",", 1)[0]) for ln in lines])


@pytest.mark.slow
def test_record_several_profiles_with_faults(tmp_path: Path) -> None:
    out = tmp_path / "trace.csv"
    proc = subprocess.run(
        [*COACH, "record", "--simulated", "--time-scale", "4", *DEVICES, "-o", str(out), "--duration", "24",
         "--arm", "left", "--sim-faults", "witmotion:drop=0.02,bunch=6,stall=0.5,garbage=0.01",
         "--sim-faults", "polar-verity:disconnect=14,down=2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # people's messages go to stderr
    trace = read_trace(out)
    meta = trace.meta
    assert meta.arm == "left"
    assert meta.phase("still") == (1.0, 4.0) and meta.phase("rotate") == (4.0, 10.0)
    assert {r: meta.sensor(r).device for r in trace.roles} == {
        "treated": "metamotion", "hand": "polar-verity", "stroker": "witmotion"}  # fmt: skip
    assert meta.sensor("hand").rate_hz == 52.0
    assert set(trace.blocks) == {"treated", "hand", "stroker"}
    for role, block in trace.blocks.items():
        assert (np.diff(block.t_s) >= 0).all(), role
        assert block.t_s[0] >= 0 and block.t_s[-1] > 20.0, role
    assert (np.diff(_rows_in_order(out)) >= 0).all()  # rows in time order, sensors interleaved
    hand = trace.blocks["hand"]
    assert np.diff(hand.t_s).max() > 2.0  # the disconnection left a gap ...
    assert len(hand) > 0.9 * 52 * (24 - 2.5)  # ... and the rest is there
    # the simulated patient followed the prompts: still, then turns about the forearm (x) axis
    treated = trace.blocks["treated"]
    still = (treated.t_s > 1.5) & (treated.t_s < 3.5)
    turning = (treated.t_s > 5.0) & (treated.t_s < 9.5)
    assert np.abs(treated.gyr_rps[still]).mean() < 0.05
    assert np.abs(treated.gyr_rps[turning, 0]).mean() > 5 * np.abs(treated.gyr_rps[turning, 1:]).mean()
    assert "link down" in proc.stderr and "link up again" in proc.stderr


def _last_row_t(path: Path) -> float:
    """The time of the last complete row written so far (-inf before the file or its first row)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            tail = f.read()
    except FileNotFoundError:
        return float("-inf")
    rows = [r for r in tail.split(b"\n")[:-1] if r[:1].isdigit()]  # after the last newline: maybe cut
    return float(rows[-1].split(b",", 1)[0]) if rows else float("-inf")


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_a_complete_file(tmp_path: Path) -> None:
    out = tmp_path / "trace.csv"
    proc = subprocess.Popen(
        [*COACH, "record", "--simulated", "--time-scale", "4", *DEVICES[:8], "-o", str(out)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The file opens when the calibration ends (t = 10 s) with everything recorded so far; rows go
        # out in time order once every role's samples reach them. So wait on what the file holds (a row
        # past 10.5 s: every role has streamed past the calibration), not on its size.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _last_row_t(out) <= 10.5:
            time.sleep(0.2)
        assert out.exists(), "the file is opened once the calibration ends"
        size_before = out.stat().st_size
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "wrote" in err
    text = out.read_text()
    assert text.endswith("\n") and out.stat().st_size >= size_before
    trace = read_trace(out)  # complete and readable
    assert set(trace.blocks) == {"treated", "hand"}
    assert min(b.t_s[-1] for b in trace.blocks.values()) > 10.0


def test_ctrl_c_during_calibration_still_leaves_a_readable_file(tmp_path: Path) -> None:
    out = tmp_path / "early.csv"
    proc = subprocess.Popen(
        [*COACH, "record", "--simulated", "--time-scale", "2", "--device", "coach-imu-0006",
         "--role", "treated", "-o", str(out)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("HOLD STILL" in ln for ln in lines):
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    err = "".join(lines)
    assert proc.returncode == 0, err
    trace = read_trace(out)
    assert trace.meta.phase("rotate") is None  # it never happened
    assert len(trace.blocks["treated"]) > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device", "MetaWear", "-o", "x.csv", "--simulated"], "role"),
        (["--device", "NoSuch", "--role", "treated", "-o", "x.csv", "--simulated"], "no simulated device"),
        (["--device", "A", "--role", "treated", "-o", "x.csv", "--time-scale", "3"], "need --simulated"),
        (["--device", "MetaWear", "--role", "treated", "-o", "/no/such/x.csv", "--simulated"], "writable"),
    ],
)
def test_record_usage_errors_are_one_line(argv: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run([*COACH, "record", *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_scan_lists_every_simulated_profile() -> None:
    proc = subprocess.run(
        [*COACH, "scan", "--simulated", "--time-scale", "4", "--duration", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(r["profile"] for r in rows) == sorted(
        ["metamotion", "polar-verity", "witmotion", "movesense", "thingy52", "coach-imu"])  # fmt: skip
    assert all(isinstance(r["rssi_dbm"], int) and 0 <= r["battery_pct"] <= 100 for r in rows)
    rssi = [r["rssi_dbm"] for r in rows]
    assert rssi == sorted(rssi, reverse=True)  # strongest first
