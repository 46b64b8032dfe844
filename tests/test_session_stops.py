"""Every way of stopping `coach run` ends cleanly, in bounded time, with a clear last line.

Real `coach run --simulated` processes (the embedded broker, or none reachable), stopped by signals at
every stage; a disk that fills up under the recording; a calibration that cannot succeed. Several
processes run side by side to keep the wall time short.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.live import SECRET

pytestmark = [pytest.mark.slow]

DRAIN_TIMEOUT_S = 10.0  # LiveConfig.drain_timeout_s
STARTED: list[asyncio.subprocess.Process] = []


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """Whatever a test started is gone when it ends, also when it failed half-way."""
    yield
    for proc in STARTED:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    STARTED.clear()


SCREENING_NO = b"n\n" * 6


def _config(tmp_path: Path, name: str, *, broker: str | None = None, scenario: str | None = None) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    text = (
        'patient = "p-0001"\narm = "right"\ntarget_duration_min = 1\n'
        '[[devices]]\nrole = "treated"\nprofile = "coach-imu"\naddress = "sim"\n'
        "[simulation]\nseed = 3\n"
    )
    if scenario is not None:
        (folder / "scenario.toml").write_text(scenario)
        text += f'scenario = "{folder / "scenario.toml"}"\n'
    if broker is not None:
        text += f'[broker]\nurl = "{broker}"\n'
    cfg = folder / "session.toml"
    cfg.write_text(text)
    return cfg


class Coach:
    """One `coach run` process; its stderr collected as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.err = bytearray()
        self.ended_at: float | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, cfg: Path, speed: float, *, fsize_limit: int | None = None) -> Coach:
        env = {
            **os.environ,
            "COACH_DATA_DIR": str(cfg.parent / "data"),
            "COACH_RUNTIME_DIR": str(cfg.parent / "run"),
            "COACH_ENROLMENT_SECRET": SECRET,
        }

        def limit_files() -> None:  # a disk that fills up: writes past the limit fail (EFBIG)
            if fsize_limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "coach", "run", "--config", str(cfg), "--simulated"),
            *("--speed", str(speed), "--no-page", "--mute"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            preexec_fn=limit_files,
        )
        STARTED.append(proc)
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self.err += chunk
        await self.proc.wait()
        self.ended_at = time.monotonic()

    def answer(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def until(self, marker: str, timeout_s: float = 90.0) -> None:
        for _ in range(int(timeout_s / 0.05)):
            if marker.encode() in self.err:
                return
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"never saw {marker!r}:\n{self.text[-3000:]}")

    async def ended(self, timeout_s: float) -> int:
        """The exit status; fails when the process takes longer than ``timeout_s``."""
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await self._reader
            raise AssertionError(f"still running after {timeout_s:g} s:\n{self.text[-3000:]}") from None
        assert self.proc.returncode is not None
        return self.proc.returncode

    @property
    def text(self) -> str:
        return self.err.decode(errors="replace")

    @property
    def last_line(self) -> str:
        return self.text.rstrip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _stop_at(coach: Coach, marker: str, answers: bytes) -> tuple[int, float, Coach]:
    coach.answer(answers)
    await coach.until(marker)
    coach.proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    status = await coach.ended(DRAIN_TIMEOUT_S + 5.0)
    assert coach.ended_at is not None
    return status, coach.ended_at - sent, coach


async def test_one_ctrl_c_ends_every_stage_cleanly(tmp_path: Path) -> None:
    stages = {
        # stage: (when to press Ctrl-C, what was typed, the session's end)
        "screening": ("[y/n]", b"", "aborted (stopped by signal SIGINT)"),
        "calibrating": ("Calibration: rest your elbow", SCREENING_NO, "aborted (stopped by signal SIGINT)"),
        "active": ("Calibration done", SCREENING_NO, "finished (stopped by signal SIGINT)"),
        # at the target the pain question waits for an answer: Ctrl-C skips it
        "self-report": (
            "how do your hand and arm feel now?",
            SCREENING_NO,
            "finished (target duration reached)",
        ),
    }
    coaches = [await Coach.start(_config(tmp_path, stage), speed=20) for stage in stages]
    results = await asyncio.gather(
        *(_stop_at(c, marker, typed) for c, (marker, typed, _) in zip(coaches, stages.values(), strict=True))
    )
    for (stage, (_, _, end)), (status, took_s, coach) in zip(stages.items(), results, strict=True):
        assert "Traceback" not in coach.text, (stage, coach.text[-3000:])
        assert end in coach.last_line and "all events sent" in coach.last_line, (stage, coach.last_line)
        assert status == (0 if end.startswith("finished") else 1), stage
        assert took_s <= DRAIN_TIMEOUT_S + 5.0, (stage, took_s)
        # The embedded broker outlived the session: the spool went out through it, the summary is there.
        (summary,) = (tmp_path / stage / "data").glob("patients/*/sessions/*.summary.json")
        assert json.loads(summary.read_text())["type"] == "summary"


async def test_no_broker_backs_off_and_keeps_the_events_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    nowhere = f"mqtt://127.0.0.1:{_free_port()}"
    patient = await Coach.start(_config(tmp_path, "patient", broker=nowhere), speed=20)
    impatient = await Coach.start(_config(tmp_path, "impatient", broker=nowhere), speed=20)
    for coach in (patient, impatient):
        coach.answer(SCREENING_NO + b"\n\n")  # no pain or swelling score
    # Ctrl-C once during the drain (the session is over), then again: out at once.
    await impatient.until("Session summary")
    impatient.proc.send_signal(signal.SIGINT)
    await asyncio.sleep(0.5)
    impatient.proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    assert await impatient.ended(5.0) == 128 + signal.SIGINT
    assert impatient.ended_at is not None and impatient.ended_at - sent < 3.0
    assert "Traceback" not in impatient.text, impatient.text[-3000:]
    assert "stopped at once" in impatient.last_line
    # Left alone, it finishes, tries the broker now and then, and keeps what it could not send.
    await patient.until("Session summary")
    assert await patient.ended(DRAIN_TIMEOUT_S + 5.0) == 0
    assert "Traceback" not in patient.text
    attempts = patient.text.count("lost or refused")
    assert 1 <= attempts <= 12, attempts  # backing off: a handful over the whole session, never a flood
    assert patient.last_line.endswith("events kept, sent next time"), patient.last_line
    assert int(patient.last_line.split("; ")[-1].split()[0]) > 10


async def test_a_full_disk_aborts_with_the_folder_named_and_the_recording_readable(tmp_path: Path) -> None:
    from coach.cli import main as coach_main

    coach = await Coach.start(_config(tmp_path, "full"), speed=20, fsize_limit=400_000)
    coach.answer(SCREENING_NO + b"\n\n")
    status = await coach.ended(60.0)
    assert status == 1 and "Traceback" not in coach.text, coach.text[-3000:]
    sessions = tmp_path / "full" / "data" / "patients" / "p-0001" / "sessions"
    assert (
        f"cannot write the recording in {sessions}" in coach.text
        or "cannot write the delivery spool in" in (coach.text)
    ), coach.text[-3000:]
    assert "aborted (cannot write the" in coach.last_line, coach.last_line
    # What is on disk reads back: every whole event line, and the trace up to where the disk filled.
    (events,) = sessions.glob("*.events.jsonl")
    lines = events.read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines[:-1]]
    (trace,) = sessions.glob("*.csv")
    import io

    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert coach_main(["replay", str(trace)]) in (0, 1)  # 1: a cut last row, the rows before it coached
    assert '"type":"summary"' in out.getvalue().replace(" ", "")


@pytest.mark.parametrize("speed", [6, 20])
async def test_a_failed_calibration_ends_with_exit_1(tmp_path: Path, speed: float) -> None:
    # A person who never does the calibration phases (the simulator's scenario without them).
    cfg = _config(tmp_path, "nocal", scenario="duration_s = 200.0\n[calibration]\nenabled = false\n")
    coach = await Coach.start(cfg, speed=speed)
    coach.answer(SCREENING_NO)
    assert await coach.ended(120.0) == 1
    assert "Traceback" not in coach.text
    assert "aborted (calibration failed)" in coach.last_line, coach.last_line
