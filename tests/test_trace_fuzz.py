"""``coach replay`` on mutated traces never crashes (docs/signal.md, "Trace errors").

A hypothesis fuzz mutates a simulated trace (all three roles) and a slice of a real recording: byte
flips, truncation, giant numbers in cells and in ``meta``, deep ``meta``, absurd rates, reordered
rows, long lines. Every replay must end with exit status 0, or with a one-line error naming the file
(and the line, where there is one), no traceback, a contract-conforming event stream, and the events of
the good rows before a bad line. Time is bounded by a generous hypothesis deadline (pytest-timeout
catches a hang), never by a timed assert.

CI runs a fixed, seeded set of examples; ``COACH_FUZZ_EXAMPLES=2000`` (and ``COACH_FUZZ_RANDOM=1`` for
fresh random ones) runs a longer campaign.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.real_data import XIO_TRACE
from coach.cli import main
from coach.errors import TraceFormatError
from coach.event_schema import stream as check_events
from coach.trace import open_trace, write_trace
from simulators import random_scenario, simulate

EXAMPLES = int(os.environ.get("COACH_FUZZ_EXAMPLES", "40"))
RANDOM = os.environ.get("COACH_FUZZ_RANDOM", "") not in ("", "0")
#: Generous: a mutated 20-second trace replays in well under a second on a quiet machine.
DEADLINE_MS = 60_000

GIANT = [
    "1e308",
    "-1e309",
    "9" * 400,
    "1e15",
    "1e9",
    "86401",
    "1e-300",
    "nan",
    "-inf",
    "1_0",
    "0x10",
    "١٢",
    "",
    '"1.0"',
]


@dataclass(frozen=True)
class Source:
    name: str
    lines: tuple[bytes, ...]  # with their line terminators


_SOURCES: dict[str, Source] = {}


def _sources() -> list[Source]:
    """A simulated session (all three roles, 20 s at 50 Hz) and the first 1,500 lines of a real one."""
    if not _SOURCES:
        sim = simulate(
            random_scenario(21).replace(duration_s=20.0, roles="treated,hand,stroker", rate_hz=50.0), 21
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sim.csv"
            write_trace(path, sim.meta, sim.blocks)
            text = path.read_bytes()
        _SOURCES["sim"] = Source("sim", tuple(text.splitlines(keepends=True)))
        real = XIO_TRACE.read_bytes().splitlines(keepends=True)[:1500]
        _SOURCES["xio"] = Source("xio", tuple(real))
    return list(_SOURCES.values())


# --------------------------------------------------------------------------------------------------
# Mutations: each takes the lines and a hypothesis data object, returns new bytes.


def _flip_bytes(lines: list[bytes], data: st.DataObject) -> bytes:
    blob = bytearray(b"".join(lines))
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        i = data.draw(st.integers(0, len(blob) - 1), label="at")
        blob[i] ^= data.draw(st.integers(1, 255), label="xor")
    return bytes(blob)


def _truncate(lines: list[bytes], data: st.DataObject) -> bytes:
    blob = b"".join(lines)
    return blob[: data.draw(st.integers(0, len(blob) - 1), label="cut")]


def _giant_cell(lines: list[bytes], data: st.DataObject) -> bytes:
    out = list(lines)
    for _ in range(data.draw(st.integers(1, 3), label="cells")):
        i = data.draw(st.integers(3, len(out) - 1), label="row")
        cells = out[i].rstrip(b"\r\n").split(b",")
        j = data.draw(st.integers(0, len(cells) - 1), label="col")
        cells[j] = data.draw(st.sampled_from(GIANT), label="value").encode()
        out[i] = b",".join(cells) + b"\n"
    return b"".join(out)


def _meta_value(lines: list[bytes], data: st.DataObject) -> bytes:
    out = list(lines)
    meta_at = next((i for i, line in enumerate(out) if line.startswith(b"# meta:")), None)
    if meta_at is None:
        return b"".join(out)
    meta: dict[str, Any] = json.loads(out[meta_at][len(b"# meta:") :])
    key = data.draw(
        st.sampled_from(
            [
                "sensors.treated.rate_hz",
                "sensors.hand.rate_hz",
                "calibration.still",
                "target_duration_s",
                "start_utc",
                "body.forearm_length_m",
                "thresholds.wrist_flexion_deg",
                "arm",
                "vendor",
            ]
        ),
        label="key",
    )
    raw = data.draw(
        st.sampled_from(
            [
                "1e-300",
                "1e300",
                "9" * 400,
                "1e400",
                "-1",
                "0",
                "[0, 1e12]",
                '"9999-12-31T23:59:59Z"',
                '"x"',
                "null",
            ]
        ),
        label="raw",
    )
    parts = key.split(".")
    node = meta
    for p in parts[:-1]:
        node = node.setdefault(p, {}) if isinstance(node.get(p, {}), dict) else {}
    node[parts[-1]] = "@@RAW@@"
    text = json.dumps(meta).replace('"@@RAW@@"', raw)
    out[meta_at] = b"# meta: " + text.encode() + b"\n"
    return b"".join(out)


def _deep_meta(lines: list[bytes], data: st.DataObject) -> bytes:
    depth = data.draw(st.sampled_from([31, 33, 1_000, 100_000]), label="depth")
    out = list(lines)
    deep = b'# meta: {"x": ' + b"[" * depth + b"]" * depth + b"}\n"
    meta_at = next((i for i, line in enumerate(out) if line.startswith(b"# meta:")), None)
    if meta_at is None:
        out.insert(1, deep)
    else:
        out[meta_at] = deep
    return b"".join(out)


def _reorder(lines: list[bytes], data: st.DataObject) -> bytes:
    out = list(lines)
    i = data.draw(st.integers(3, len(out) - 3), label="i")
    j = data.draw(st.integers(i + 2, len(out) - 1), label="j")
    if data.draw(st.booleans(), label="swap"):
        out[i], out[j] = out[j], out[i]
    else:
        out[i:j] = reversed(out[i:j])
    return b"".join(out)


def _long_line(lines: list[bytes], data: st.DataObject) -> bytes:
    out = list(lines)
    i = data.draw(st.integers(0, len(out)), label="at")
    n = data.draw(st.sampled_from([5_000, 200_000, 1_100_000]), label="length")
    out.insert(i, b"0.5," + b"9" * n + b"\n")
    return b"".join(out)


def _drop_role(lines: list[bytes], data: st.DataObject) -> bytes:
    role = data.draw(st.sampled_from([b",treated,", b",hand,"]), label="role")
    return b"".join(line for line in lines if role not in line)


MUTATIONS = {
    "flip": _flip_bytes,
    "truncate": _truncate,
    "giant_cell": _giant_cell,
    "meta_value": _meta_value,
    "deep_meta": _deep_meta,
    "reorder": _reorder,
    "long_line": _long_line,
    "drop_role": _drop_role,
}


# --------------------------------------------------------------------------------------------------
# The replay and what it must satisfy


@dataclass
class Outcome:
    status: int
    out: str
    err: str


def replay(path: Path) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["replay", str(path)])
    return Outcome(status, out.getvalue(), err.getvalue())


def _good_prefix(path: Path) -> tuple[float | None, int | None]:
    """The last ``treated`` time before the first bad line (``None``: none), and that line."""
    last: float | None = None
    try:
        with open_trace(path) as reader:
            for chunk in reader.chunks():
                treated = chunk.by_role().get("treated")
                if treated is not None:
                    last = float(treated.t_s[-1])
    except TraceFormatError as exc:
        return last, exc.line
    return last, None


_ERROR = re.compile(r"^coach replay: error: (?P<path>.+?)(?::(?P<line>\d+))?: (?P<reason>.+)$")


def assert_clean(path: Path, got: Outcome) -> None:
    """The contract of ``coach replay`` on any input (see the module docstring)."""
    assert "Traceback" not in got.err, got.err
    assert got.status in (0, 1, 2), got
    lines = [line for line in got.err.splitlines() if line.startswith("coach replay: error:")]
    n_lines = len(path.read_bytes().splitlines()) + 1
    if got.status == 0:
        assert not lines, got.err
    else:
        assert lines, got.err
        for line in lines:
            m = _ERROR.match(line)
            assert m is not None and m["path"] == str(path), line
            if m["line"] is not None:
                assert 1 <= int(m["line"]) <= n_lines, line
    if got.status == 2:
        assert got.out == ""
        return
    problems, _ = check_events.check(got.out.splitlines())
    assert problems == [], problems
    events = [json.loads(e) for e in got.out.splitlines()]
    assert events[-1]["type"] == "summary"
    states = [e for e in events if e["type"] == "state"]
    if got.status == 1:
        assert states[-1]["state"] == "aborted" and "line" in states[-1]["reason"], states[-1]
        last_good, bad_line = _good_prefix(path)
        if bad_line is not None:  # a bad row (not a refused sensor): its line is in the reason
            assert f"line {bad_line}" in states[-1]["reason"]
        if last_good is not None:  # the good rows before the bad line were coached
            assert states[-1]["t"] >= last_good - 1e-6, (states[-1], last_good)
    else:
        assert states[-1]["state"] == "finished"


@settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    deadline=DEADLINE_MS,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_replay_of_any_mutated_trace_ends_cleanly(tmp_path: Path, data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(_sources()), label="source")
    name = data.draw(st.sampled_from(sorted(MUTATIONS)), label="mutation")
    blob = MUTATIONS[name](list(source.lines), data)
    path = tmp_path / f"{source.name}-{name}.csv"
    path.write_bytes(blob)
    assert_clean(path, replay(path))


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_changes_the_file(name: str) -> None:
    """Guard against a mutation that silently does nothing (the fuzz would then test nothing)."""

    @settings(max_examples=5, derandomize=True, database=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        source = _sources()[0]
        assert MUTATIONS[name](list(source.lines), data) != b"".join(source.lines)

    run()
