"""Crafted bad traces (docs/signal.md, "Trace errors"): each is a clear error naming the file and the
line, never a traceback; the good rows before a bad one are coached; absurd times, rates, gaps and line
lengths cost bounded time and memory. The fuzz over mutated traces is tests/test_trace_fuzz.py."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coach.trace import lines as lines_module
from coach.trace import write_trace
from coach.trace.limits import MAX_HEADER_LINE_CHARS, MAX_ROW_CHARS
from coach.trace.lines import BLOCK_BYTES, LineSource
from simulators import random_scenario, simulate
from tests.test_trace_fuzz import Outcome, assert_clean, replay

ROW = "0.1,0.2,9.8,0.01,0.02,0.03"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A 40 s simulated session (treated and hand at 50 Hz, about 4,000 rows), as lines."""
    sc = random_scenario(11).replace(duration_s=40.0, roles="treated,hand", rate_hz=50.0)
    sim = simulate(sc, 11)
    path = tmp_path_factory.mktemp("base") / "base.csv"
    write_trace(path, sim.meta, sim.blocks)
    return path.read_text().splitlines(keepends=True)


def _write(tmp_path: Path, lines: list[str], name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text("".join(lines))
    return path


def _with_meta(base: list[str], change: str) -> list[str]:
    """``base`` with ``change`` (JSON text, e.g. ``"x": 1``) appended to its meta object."""
    meta = base[1].rstrip("\n")
    assert meta.startswith("# meta: {") and meta.endswith("}")
    return [base[0], meta[:-1] + ", " + change + "}\n", *base[2:]]


def _events(got: Outcome) -> list[dict[str, Any]]:
    return [json.loads(line) for line in got.out.splitlines()]


def _error(got: Outcome) -> str:
    return next(line for line in got.err.splitlines() if line.startswith("coach replay: error:"))


# --------------------------------------------------------------------------------------------------
# meta


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ('"target_duration_s": ' + "9" * 400, "an integer of 400 digits is beyond the range of a double"),
        ('"vendor_counter": -' + "9" * 400, "an integer of 400 digits is beyond the range of a double"),
        ('"target_duration_s": 1e400', "the number 1e400 is beyond the range of a double"),
        ('"thresholds": {"wrist_flexion_deg": -1e999}', "beyond the range of a double"),
    ],
)
def test_meta_numbers_beyond_a_double_name_the_meta_line(
    base: list[str], tmp_path: Path, change: str, needle: str
) -> None:
    path = _write(tmp_path, _with_meta(base, change))
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 2 and got.out == ""
    assert _error(got).startswith(f"coach replay: error: {path}:2: ") and needle in got.err


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_deeply_nested_meta_names_the_meta_line(base: list[str], tmp_path: Path, depth: int) -> None:
    path = _write(tmp_path, _with_meta(base, '"x": ' + "[" * depth + "]" * depth))
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 2 and f"{path}:2: meta nests deeper than 32 levels" in got.err


@pytest.mark.parametrize("rate", ["1e-300", "1e300", "0.5", "1e6"])
def test_absurd_meta_rates_name_the_meta_line(base: list[str], tmp_path: Path, rate: str) -> None:
    meta = json.loads(base[1][len("# meta: ") :])
    meta["sensors"]["hand"]["rate_hz"] = "@"
    lines = [base[0], "# meta: " + json.dumps(meta).replace('"@"', rate) + "\n", *base[2:]]
    path = _write(tmp_path, lines)
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 2
    assert f"{path}:2: meta.sensors.hand.rate_hz must be a number of 10–10000 Hz" in got.err


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ('"start_utc": "9999-12-31T23:59:59Z"', "meta.start_utc must lie between 1900 and 9000"),
        ('"start_utc": "yesterday"', "meta.start_utc must be an ISO 8601 time"),
        ('"calibration": {"still": [0, 1e12]}', "meta.calibration.still must be [start_s, end_s]"),
        ('"target_duration_s": 1e300', "meta.target_duration_s must be a positive number of seconds"),
    ],
)
def test_meta_values_that_would_break_the_session_name_the_meta_line(
    base: list[str], tmp_path: Path, change: str, needle: str
) -> None:
    meta = json.loads(base[1][len("# meta: ") :])
    meta.pop("start_utc", None)
    meta.pop("calibration", None)
    lines = _with_meta([base[0], "# meta: " + json.dumps(meta) + "\n", *base[2:]], change)
    path = _write(tmp_path, lines)
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 2 and f"{path}:2: {needle}" in got.err


# --------------------------------------------------------------------------------------------------
# times, rates, gaps


@pytest.mark.parametrize("offset", [1e9, 1e12, 1e15])
def test_wall_clock_times_are_refused_at_the_first_row_with_a_hint(
    base: list[str], tmp_path: Path, offset: float
) -> None:
    rows = [f"{float(r.split(',', 1)[0]) + offset!r},{r.split(',', 1)[1]}" for r in base[3:200]]
    path = _write(tmp_path, [*base[:3], *rows])
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 2 and got.out == ""  # nothing before the bad row, so nothing coached
    assert f"{path}:4: t=" in got.err and "is more than 86400 s from the trace start" in got.err
    assert "subtracted" in got.err and "no row of sensor 'treated' before that line" in got.err


@pytest.mark.parametrize("t", ["1e9", "1e15", "100000"])
def test_a_row_far_in_the_future_is_refused_after_the_rows_before_it(
    base: list[str], tmp_path: Path, t: str
) -> None:
    """The fuzz's hang: one ``hand`` row at t = 100,000 s took minutes and gigabytes."""
    path = _write(tmp_path, [*base, f"{t},hand,{ROW}\n"])
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 1
    assert f"{path}:{len(base) + 1}: t={t} is more than 86400 s" in got.err
    last = _events(got)[-2]
    assert last["state"] == "aborted" and last["t"] >= 39.9


def test_timestamps_nanoseconds_apart_are_refused_at_the_sensors_first_row(tmp_path: Path) -> None:
    """Without ``rate_hz`` in meta the rate is measured: 1 ns apart would be a 1 GHz grid."""
    rows = [f"{i * 0.01:.6f},treated,{ROW}\n" for i in range(300)]
    rows += [f"{3 + i * 1e-9!r},hand,{ROW}\n" for i in range(2000)]
    rows += [f"{3.1 + i * 0.01:.6f},treated,{ROW}\n" for i in range(300)]
    path = _write(
        tmp_path, ["# coach-trace: 1\n", '# meta: {"arm": "left"}\n', "t,sensor,ax,ay,az,gx,gy,gz\n", *rows]
    )
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 1
    assert f"{path}:304: sensor 'hand': samples in the first half second: a rate of 1e+09 Hz" in got.err
    assert _events(got)[-2]["state"] == "aborted"


#: Runs ``coach`` as its own child and writes that child's peak memory (KiB) to ``argv[1]``. The child
#: of a small launcher: a process forked from the test runner would count the runner's own memory in
#: its peak (Linux folds the parent's high-water mark in at exec).
_LAUNCHER = """
import resource, subprocess, sys
proc = subprocess.run([sys.executable, "-m", "coach", *sys.argv[3:]], timeout=float(sys.argv[2]))
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(proc.returncode)
"""


def _run_measured(args: list[str], where: Path, timeout_s: float = 180.0) -> tuple[int, str, float]:
    """Run ``coach`` in a child process; return its exit status, its stderr and its peak memory in MiB
    (load-independent, unlike a time). ``timeout_s`` only guards against a hang."""
    peak = where / "peak_kib.txt"
    with open(where / "out.jsonl", "wb") as out, open(where / "err.txt", "wb") as err:
        status = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(peak), str(timeout_s), *args],
            stdout=out,
            stderr=err,
            timeout=timeout_s + 30.0,
            check=False,
        ).returncode
    return status, (where / "err.txt").read_text(), float(peak.read_text()) / 1024.0


def test_a_long_gap_is_a_gap_in_bounded_memory(base: list[str], tmp_path: Path) -> None:
    """One ``hand`` row 20,000 s after the session: a paused session through the gap (posture null
    every second), not a 20,000 s grid in memory (it took 1.2 GB before; ~160 MB now)."""
    path = _write(tmp_path, [*base, f"20000.0,hand,{ROW}\n"])
    status, err, peak_mib = _run_measured(["replay", str(path)], tmp_path)
    assert status == 0 and "Traceback" not in err, err
    events = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    states = [(e["state"], e["reason"]) for e in events if e["type"] == "state"]
    assert ("paused", "treated sensor silent") in states and states[-1][0] == "finished"
    late = [e for e in events if e["type"] == "posture" and e["t"] > 100.0]
    assert len(late) >= 19_800 and all(e["elevated"] is None for e in late)
    assert events[-1]["type"] == "summary" and events[-1]["t"] == pytest.approx(20000.0)
    assert peak_mib < 450.0, f"peak memory {peak_mib:.0f} MiB"


# --------------------------------------------------------------------------------------------------
# lines and cells


def test_a_bad_cell_deep_in_the_file_is_named_exactly_and_the_rows_before_are_coached(
    base: list[str], tmp_path: Path
) -> None:
    """The fuzz found bad cells reported at line 4 (the first of the batch) with the 1,502 good rows
    before them dropped: a cell Python's float() reads but the CSV parser does not."""
    lines = list(base)
    lines[1505] = lines[1505].replace(",", "_0,", 1)  # line 1506
    path = _write(tmp_path, lines)
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 1
    assert f"{path}:1506: column 't' has" in got.err and "not a plain decimal number" in got.err
    events = _events(got)
    assert "bad trace row at line 1506" in events[-2]["reason"]
    t_before = float(lines[1504].split(",")[0])
    assert max(e["t"] for e in events if e["type"] == "posture") >= t_before - 1.0


def test_a_long_line_is_refused_at_its_line_in_bounded_memory(base: list[str], tmp_path: Path) -> None:
    lines = list(base)
    lines.insert(500, "0.5," + "9" * 30_000_000 + "\n")  # line 501
    path = _write(tmp_path, lines)
    status, err, peak_mib = _run_measured(["replay", str(path)], tmp_path)
    assert status == 1 and "Traceback" not in err
    assert f"{path}:501: the line is longer than {MAX_ROW_CHARS} bytes" in err
    assert peak_mib < 300.0, f"peak memory {peak_mib:.0f} MiB"


class _Endless(io.RawIOBase):
    """An endless stream of one byte (a 2 GB line, or /dev/zero), counting what was read."""

    def __init__(self, byte: bytes) -> None:
        self.byte, self.read_bytes = byte, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = len(buf)
        buf[:n] = self.byte * n
        self.read_bytes += n
        return n


@pytest.mark.parametrize("limit", [MAX_ROW_CHARS, MAX_HEADER_LINE_CHARS])
def test_an_endless_line_is_refused_after_reading_little_more_than_the_limit(limit: int) -> None:
    stream = _Endless(b"9")
    source = LineSource(io.BufferedReader(stream))
    with pytest.raises(Exception, match=f"longer than {limit} bytes") as info:
        source.next_line(limit)
    assert getattr(info.value, "line", None) == 1
    assert stream.read_bytes <= limit + 2 * BLOCK_BYTES + (1 << 16)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
def test_lines_split_at_every_newline_kind_across_blocks(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(lines_module, "BLOCK_BYTES", block)
    src = LineSource(io.BytesIO(b"a\r\n" * 5 + b"b\r" + b"c\n" + b"\xc3\xa9\r\n" + b"last"))
    got = []
    while (line := src.next_line(100)) is not None:
        got.append(line)
    assert got == ["a"] * 5 + ["b", "c", "é", "last"]
    assert src.line == 9


def test_undecodable_bytes_are_named_at_their_exact_line(base: list[str], tmp_path: Path) -> None:
    blob = "".join(base[:2000]).encode() + b"0.5,treated,\xff\xfe\n" + "".join(base[2000:]).encode()
    path = tmp_path / "latin.csv"
    path.write_bytes(blob)
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 1 and f"{path}:2001: not UTF-8 text" in got.err


# --------------------------------------------------------------------------------------------------
# roles and commands


def test_a_trace_without_treated_is_refused_not_coached(base: list[str], tmp_path: Path) -> None:
    path = _write(tmp_path, base[:3] + [r for r in base[3:] if ",hand," in r])
    got = replay(path)
    assert_clean(path, got)
    assert got.status == 2 and got.out == ""
    assert (
        "no row of sensor 'treated': a trace without the treated forearm's sensor cannot be coached"
        in got.err
    )


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"t": 5, "cmd": "pause", "args": ' + "[" * 2_000 + "]" * 2_000 + "}", "not JSON"),
        ('{"t": 1e300, "cmd": "pause", "args": {}}', "'t' must be seconds within ±86400"),
        ('{"t": 5, "cmd": "set_target_duration", "args": {"target_duration_s": "long"}}', "must be a number"),
        ('{"t": 5, "cmd": "launch", "args": {}}', "unknown command 'launch'"),
    ],
)
def test_a_bad_commands_file_names_its_line(base: list[str], tmp_path: Path, line: str, needle: str) -> None:
    path = _write(tmp_path, base, "s.csv")
    (tmp_path / "s.commands.jsonl").write_text('{"t": 1.0, "cmd": "resume", "args": {}}\n' + line + "\n")
    got = replay(path)
    assert "Traceback" not in got.err
    assert got.status == 2 and got.out == ""
    assert f"{tmp_path / 's.commands.jsonl'}:2: " in got.err and needle in got.err
