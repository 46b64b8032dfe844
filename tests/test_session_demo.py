"""`coach demo` as the README runs it: no terminal (stdin closed), defaults, ends by itself in under
3 minutes, prints where the trace and summary are, and the web monitor it starts stored the session."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coach.trace import read_trace
from tests.fixtures.live import contract_problems

pytestmark = pytest.mark.slow

DEMO_TIMEOUT_S = 180.0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _end_group(proc: subprocess.Popen[str], grace_s: float = 10.0) -> None:
    """End every process of the demo's own process group: the demo, if it is still running, and the web
    monitor it started (a child that outlives the demo when the demo is killed, and would hold its port
    and keep serving for the rest of the test run). SIGTERM first, SIGKILL after ``grace_s``."""
    pgid = proc.pid  # start_new_session: the demo leads its own group
    if not _group_alive(pgid):
        return
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while proc.poll() is None or _group_alive(pgid):  # poll() reaps the demo, so the group can empty
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()


def _run_demo(env: dict[str, str]) -> tuple[int, str, str]:
    """``coach demo`` to its end (return code, stdout, stderr); fails the test after DEMO_TIMEOUT_S. The
    demo and everything it starts end with the test however it ends."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "coach", "demo"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        try:
            out, err = proc.communicate(timeout=DEMO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _end_group(proc)
            out, err = proc.communicate()
            pytest.fail(f"coach demo did not end within {DEMO_TIMEOUT_S:g} s; stderr ends:\n{err[-3000:]}")
        return proc.returncode, out, err
    finally:
        _end_group(proc)


def test_demo_runs_a_whole_session_unattended(tmp_path: Path) -> None:
    env = {**os.environ, "COACH_DATA_DIR": str(tmp_path / "data"), "COACH_RUNTIME_DIR": str(tmp_path / "run")}
    for name in ("COACH_MQTT_USERNAME", "COACH_MQTT_PASSWORD", "COACH_ENROLMENT_SECRET"):
        env.pop(name, None)
    start = time.monotonic()
    returncode, out, err = _run_demo(env)
    elapsed = time.monotonic() - start
    assert returncode == 0, err[-3000:]
    assert elapsed < DEMO_TIMEOUT_S
    assert out == ""  # stdout is for JSON Lines only; the demo talks on stderr
    paths = dict(re.findall(r"^\s+(trace|events|summary):\s+(\S+)$", err, re.MULTILINE))
    trace, events, summary = Path(paths["trace"]), Path(paths["events"]), Path(paths["summary"])
    assert trace.is_relative_to(tmp_path) and trace.exists() and summary.exists()
    doc = json.loads(summary.read_text())
    assert doc["type"] == "summary" and doc["pain_0_10"] == 2 and doc["screening"]["blocked_by"] == []
    assert doc["calibration"]["mounting"] == "meta" and doc["active_s"] >= 360.0
    assert contract_problems(events, hand=True) == []
    assert set(read_trace(trace).roles) == {"treated", "hand", "stroker"}
    assert "Session summary" in err and "session finished" in err
    # The therapist's web monitor ran beside it and stored the whole session from the broker.
    assert "therapist web monitor at http://127.0.0.1:" in err
    # ... and the session page beside it, with its pairing key in the address.
    assert re.search(r"^coach demo: Session page: http://127\.0\.0\.1:\d+/\?key=\S{20,}$", err, re.MULTILINE)
    db = sqlite3.connect(tmp_path / "data" / "demo" / "monitor.sqlite3")
    try:
        sessions = db.execute("SELECT patient_id, session_id FROM coach_sessions").fetchall()
        stored = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        db.close()
    assert sessions == [("p-demo", doc["session"])]
    assert stored == len(events.read_text().splitlines())
    assert not (tmp_path / "run" / "broker.json").exists()  # the embedded broker cleaned up after itself
