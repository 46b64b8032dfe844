"""``coach replay``: stdout is strict JSON Lines only, people's text on stderr, bad rows, commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.real_data import XIO_TRACE
from coach.cli import main
from coach.event_schema.stream import check as check_events
from coach.trace import write_trace
from simulators import random_scenario, simulate


def _events(text: str) -> list[dict[str, Any]]:
    def no_constants(name: str) -> None:
        raise ValueError(name)

    return [json.loads(line, parse_constant=no_constants) for line in text.splitlines()]


@pytest.fixture(scope="module")
def sim_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sc = random_scenario(11).replace(duration_s=40.0, roles="treated,hand", rate_hz=50.0)
    path = tmp_path_factory.mktemp("sim") / "s11.csv"
    simulate(sc, 11).write(path)
    return path


def test_a_third_party_trace_without_calibration_replays_and_says_what_is_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["replay", str(XIO_TRACE), "--summary"]) == 0
    out, err = capsys.readouterr()
    problems, counts = check_events(out.splitlines())
    assert problems == []
    summary = _events(out)[-1]
    cal = summary["calibration"]
    assert cal["mounting"] in ("auto", "nominal")
    assert {"forearm_axis", "wrist_neutral"} <= set(cal["checks_off"])
    # the watch alone: the detector says it barely feels strokes on the hand and fingers (issue 9)
    assert {"finger_strokes", "hand_strokes"} <= set(cal["checks_off"])
    assert "assuming right" in err  # the trace has no arm
    assert "checks off" in err and "mounting" in err  # the human table, on stderr only
    assert counts["posture"] > 100


def test_the_pipe_into_the_contract_checker_passes(sim_trace: Path) -> None:
    replay = subprocess.run(
        [sys.executable, "-m", "coach", "replay", str(sim_trace), "--posture-hz", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    check = subprocess.run(
        [sys.executable, "-m", "coach", "check-events", "--hand"],
        input=replay.stdout,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    assert replay.stderr == ""


def test_mounting_and_posture_rate_options(sim_trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(sim_trace), "--mounting", "nominal", "--posture-hz", "10"]) == 0
    events = _events(capsys.readouterr().out)
    assert events[-1]["calibration"]["mounting"] == "nominal"
    t = [e["t"] for e in events if e["type"] == "posture"]
    assert sum(1 for x in t if abs(x * 10 - round(x * 10)) < 1e-6) >= 390


def test_a_bad_row_ends_the_session_aborted_after_every_good_row(
    sim_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = sim_trace.read_text().splitlines(keepends=True)
    bad_at = 3 + 1500  # a row about 15 s in
    lines[bad_at] = lines[bad_at].replace(",", ",oops,", 1)
    broken = tmp_path / "broken.csv"
    broken.write_text("".join(lines))
    assert main(["replay", str(broken)]) == 1
    out, err = capsys.readouterr()
    events = _events(out)
    problems, _ = check_events(out.splitlines())
    assert problems == []
    states = [e for e in events if e["type"] == "state"]
    assert states[-1]["state"] == "aborted" and f"line {bad_at + 1}" in states[-1]["reason"]
    assert f"{broken}:{bad_at + 1}" in err
    # Nothing good before the bad line was lost: posture runs up to it.
    last_posture = max(e["t"] for e in events if e["type"] == "posture")
    assert last_posture >= 14.0


def test_a_broken_header_gives_no_events_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("# coach-trace: 1\nt,sensor,ax\n")
    assert main(["replay", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "lacks required column" in err


def test_recorded_commands_are_applied(
    sim_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "with_cmds.csv"
    trace.write_bytes(sim_trace.read_bytes())
    cmds = [
        {"t": 20.0, "id": "c1", "cmd": "pause", "args": {}, "issued_at": "2026-01-01T00:00:00Z", "by": "t-1"},
        {
            "t": 24.0,
            "id": "c2",
            "cmd": "resume",
            "args": {},
            "issued_at": "2026-01-01T00:00:04Z",
            "by": "t-1",
        },
    ]
    (tmp_path / "with_cmds.commands.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cmds))
    assert main(["replay", str(trace)]) == 0
    states = [(e["state"], e["t"]) for e in _events(capsys.readouterr().out) if e["type"] == "state"]
    assert ("paused", 20.0) in states and ("active", 24.0) in states
    (tmp_path / "with_cmds.commands.jsonl").write_text("{not json\n")
    assert main(["replay", str(trace)]) == 2
    assert "with_cmds.commands.jsonl:1" in capsys.readouterr().err


def test_gzip_traces_replay_like_plain_ones(
    sim_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coach.trace import read_trace

    tr = read_trace(sim_trace)
    gz = tmp_path / "s.csv.gz"
    write_trace(gz, tr.meta, tr.blocks)
    assert main(["replay", str(sim_trace)]) == 0
    plain = capsys.readouterr().out
    assert main(["replay", str(gz)]) == 0
    assert capsys.readouterr().out == plain
