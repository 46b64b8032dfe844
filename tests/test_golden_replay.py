"""Golden replay: a fixed set of traces through ``coach replay`` gives byte-identical event streams.

The guard for refactoring, and the project's one replay-digest mechanism: the digests in
``tests/data/golden_replay.json`` were taken from the code as it was, and every change that is meant to
keep behaviour must keep them. Each case is a trace (a
simulated session drawn from a fixed seed, or a real recording) replayed in process exactly as
``coach replay TRACE [OPTIONS]`` does; its stdout (the JSON-Lines events) is hashed with SHA-256.

Each case also records the SHA-256 of its input trace (and commands file). When that differs, the
simulator (not the pipeline) changed: the test says so instead of blaming the pipeline.

To take new digests after a change that is *meant* to change events (say why in the commit):

    ./run test tests/test_golden_replay.py --snapshot-update

The real recording is x-io's sensor fusion example, converted to a coach-trace, in
``tests/data/xio_fusion/`` (tests/data/README.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coach.cli import main as coach_main

REPO = Path(__file__).resolve().parents[1]
DIGESTS = REPO / "tests" / "data" / "golden_replay.json"
XIO_TRACE = REPO / "tests" / "data" / "xio_fusion" / "sensor_data.coach-trace.csv"


@dataclass(frozen=True)
class Case:
    """A simulated session (``seed``, scenario ``overrides``) or a file, and the replay options."""

    name: str
    seed: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    commands: tuple[dict[str, Any], ...] = ()
    bad_row_at: int | None = None  # replace the data row at this index with a malformed one


def _cmd(t: float, n: int, cmd: str, **args: Any) -> dict[str, Any]:
    return {"t": t, "id": f"golden-{n}", "cmd": cmd, "args": args, "issued_at": "2026-01-05T09:30:00.000Z"}


CASES: tuple[Case, ...] = (
    Case("treated-alone", 101, {"roles": "treated", "duration_s": 150.0, "rate_hz": 100.0}),
    Case(
        "treated-hand",
        102,
        {"roles": "treated,hand", "duration_s": 150.0, "rate_hz": 100.0},
        ("--posture-hz", "2"),
    ),
    # Every role at the rates the seed draws (resampling of mixed rates).
    Case("all-roles", 103, {"roles": "treated,hand,stroker", "duration_s": 150.0}),
    # Whole disconnections: a treated gap long enough to pause, a hand gap (null wrist fields).
    Case(
        "gaps",
        104,
        {
            "roles": "treated,hand",
            "duration_s": 150.0,
            "rate_hz": 100.0,
            "sensors.treated.gaps": [[50.0, 4.0], [100.0, 0.6]],
            "sensors.hand.gaps": [[70.0, 6.0]],
        },
        ("--posture-hz", "10"),
    ),
    # Therapist commands at their times, as a live session records them.
    Case(
        "commands",
        105,
        {"roles": "treated,hand", "duration_s": 150.0, "rate_hz": 100.0},
        (),
        (
            _cmd(30.0, 1, "set_thresholds", wrist_flexion_deg=20.0),
            _cmd(40.0, 2, "pause"),
            _cmd(55.5, 3, "resume"),
            _cmd(60.0, 4, "set_cadence_range", min_spm=12.0, max_spm=24.0),
            _cmd(70.0, 5, "set_target_duration", target_duration_s=120.0),
            _cmd(
                80.0,
                6,
                "set_targets",
                target_duration_s=100.0,
                cadence_spm={"min_spm": 10.0, "max_spm": 30.0},
                thresholds={"elevation_margin_m": 0.08, "wrist_deviation_deg": 12.0},
            ),
            _cmd(90.0, 7, "clear_screening"),
            _cmd(130.0, 8, "stop"),
        ),
    ),
    # Calibration phases found in the data, and no calibration at all, at 10 Hz posture.
    Case("auto-mounting", 106, {"roles": "treated,hand", "duration_s": 120.0}, ("--mounting", "auto")),
    Case(
        "nominal-mounting",
        106,
        {"roles": "treated,hand", "duration_s": 120.0},
        ("--mounting", "nominal", "--posture-hz", "10"),
    ),
    # A bad row: every good row before it, then aborted with the reason.
    Case("bad-row", 107, {"roles": "treated", "duration_s": 90.0, "rate_hz": 50.0}, (), (), 3000),
    # A real recording (the stroke detector meets a real IMU's noise and rate).
    Case("xio-fusion"),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _make_trace(case: Case, directory: Path) -> Path:
    from simulators import random_scenario, simulate

    assert case.seed is not None
    path = directory / f"{case.name}.csv"
    simulate(random_scenario(case.seed).replace(**case.overrides), case.seed).write(path)
    if case.bad_row_at is not None:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        first_row = next(i for i, line in enumerate(lines) if line.startswith("t,")) + 1
        lines[first_row + case.bad_row_at] = "12.5,treated,not-a-number,0,9.8,0,0,0\n"
        path.write_text("".join(lines), encoding="utf-8")
    if case.commands:
        text = "".join(json.dumps(c, sort_keys=True) + "\n" for c in case.commands)
        path.with_name(f"{case.name}.commands.jsonl").write_text(text, encoding="utf-8")
    return path


def _replay(trace: Path, options: tuple[str, ...]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = coach_main(["replay", str(trace), *options])
    return status, out.getvalue()


def _input_digest(trace: Path) -> str:
    digest = hashlib.sha256(trace.read_bytes())
    commands = trace.with_name(trace.name.removesuffix(".csv") + ".commands.jsonl")
    if commands.exists():
        digest.update(commands.read_bytes())
    return digest.hexdigest()


def _run_case(case: Case, tmp_path: Path) -> dict[str, Any]:
    trace = _make_trace(case, tmp_path) if case.seed is not None else XIO_TRACE
    status, out = _replay(trace, case.options)
    counts = Counter(json.loads(line)["type"] for line in out.splitlines())
    return {
        "input_sha256": _input_digest(trace),
        "events_sha256": _sha256(out.encode("utf-8")),
        "status": status,
        "events": dict(sorted(counts.items())),
    }


def _load() -> dict[str, Any]:
    if not DIGESTS.exists():
        return {}
    loaded: dict[str, Any] = json.loads(DIGESTS.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_replay_output_is_byte_identical_to_the_recorded_digest(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    got = _run_case(case, tmp_path)
    if request.config.getoption("--snapshot-update"):
        digests = _load()
        digests[case.name] = got
        DIGESTS.parent.mkdir(parents=True, exist_ok=True)
        DIGESTS.write_text(json.dumps(dict(sorted(digests.items())), indent=2) + "\n", encoding="utf-8")
        return
    expected = _load().get(case.name)
    assert expected is not None, f"no digest for {case.name}: run with --snapshot-update to take one"
    assert got["input_sha256"] == expected["input_sha256"], (
        f"{case.name}: the input trace changed (the simulator draws differently now), so the event "
        "comparison says nothing about the pipeline; check, then take new digests with --snapshot-update"
    )
    assert (got["status"], got["events"]) == (expected["status"], expected["events"])
    assert got["events_sha256"] == expected["events_sha256"], f"{case.name}: the event stream changed"


def test_the_cases_cover_what_the_refactoring_must_keep() -> None:
    """The digest file covers every simulated case, and the cases exercise what they claim."""
    digests = _load()
    assert {c.name for c in CASES} <= set(digests)
    assert digests["gaps"]["events"].get("state", 0) >= 5  # calibrating, active, paused, active, finished
    assert digests["commands"]["events"]["state"] >= 5  # ... paused and active by command, then stopped
    assert digests["bad-row"]["status"] == 1
    # xio-fusion is a real handheld recording without massage: no stroke is the right answer there (the
    # movement veto's third round dropped the one false stroke it had), so it is not asked for one.
    no_massage = ("bad-row", "xio-fusion")
    assert all(d["events"].get("stroke", 0) > 0 for n, d in digests.items() if n not in no_massage)
    assert digests["xio-fusion"]["events"].get("stroke", 0) <= 1
