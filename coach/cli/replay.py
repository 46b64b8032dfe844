"""``coach replay TRACE``: run a recorded or simulated trace through the pipeline.

stdout carries the JSON-Lines events of docs/design.md §7 and nothing else; everything for people (warnings,
``--summary``'s table, the progress bar on a terminal) goes to stderr. The file is streamed in chunks,
so memory stays flat on hour-long traces. Therapist commands recorded next to the trace
(``<trace>.commands.jsonl``, one JSON object per line with its ``t``) are applied at their times.
A live session's recording also holds its decisions that a sensor was silent (``<trace>.gaps.jsonl``):
then those, and nothing else, move the pipeline's clock, as they did live, so the replay gives the live
session's events exactly however busy its machine was.

Bad input is an error naming the file and the line, never a traceback (docs/signal.md, "Trace
errors"); the exit status says how far coaching got:

- **0**: the whole trace was coached.
- **1**: a bad row (or a sensor whose timestamps give an impossible rate, named at its first row):
  every good row before it is replayed, then the session ends in state ``aborted`` with the reason
  (``bad trace row at line N: ...``), the summary follows, and the error is printed on stderr (bad
  input loses nothing already good).
- **2**: nothing could be coached: a broken header or ``meta``, a bad commands file, or no ``treated``
  row before the end (or before a bad row); stdout stays empty.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coach.events import Event
    from coach.pipeline import SessionPipeline

HELP = "replay a coach-trace file through the pipeline (JSON-Lines events on stdout)"

#: The reader yields rows in file order; a recorder may interleave sensors a little out of time order,
#: so the replay clock trails the newest row by this much (it only matters for a sensor gone silent).
CLOCK_SLACK_S = 1.0
#: Show a progress bar for files larger than this, when stderr is a terminal.
PROGRESS_MIN_BYTES = 20_000_000
#: Rows read per chunk: the chunk and what the pipeline makes of it at once are the replay's peak
#: memory (an hour of three sensors at 100 Hz peaks at ~140 MB with these, ~170 MB with 65,536), and
#: the pipeline's events do not depend on it (docs/performance.md).
CHUNK_ROWS = 16_384


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", type=Path, help="a coach-trace v1 file (.csv or .csv.gz)")
    parser.add_argument(
        "--posture-hz",
        type=float,
        default=1.0,
        metavar="N",
        help="rate of the posture events (default 1; e.g. 10 for an angle time series)",
    )
    parser.add_argument(
        "--mounting",
        choices=("meta", "auto", "nominal"),
        default=None,
        help="where the sensor-to-segment alignment comes from: the calibration times in the trace's "
        "meta, phases detected in the data, or the device axes (default: meta when the trace has "
        "calibration times, else auto, which falls back to nominal)",
    )
    parser.add_argument("--summary", action="store_true", help="print a summary table on stderr at the end")
    parser.add_argument(
        "--commands",
        type=Path,
        default=None,
        help="therapist commands to apply (default: <trace>.commands.jsonl when it exists)",
    )


def commands_path_for(trace: Path, kind: str = "commands") -> Path:
    """``x.csv`` / ``x.csv.gz`` → ``x.commands.jsonl`` (or ``x.<kind>.jsonl``)."""
    name = trace.name
    for suffix in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return trace.with_name(f"{name}.{kind}.jsonl")


def load_gap_decisions(path: Path) -> list[float]:
    """The clock times of a live session's silent-sensor decisions (``<trace>.gaps.jsonl``), in order;
    a bad line raises :class:`ValidationError` naming the file and the line."""
    from coach.errors import ValidationError

    out: list[float] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: cannot read: {exc}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            t = json.loads(line)["t"]
        except (ValueError, TypeError, KeyError, RecursionError):
            raise ValidationError(f"{path}:{n}: a gap decision line needs 't' (seconds)") from None
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise ValidationError(f"{path}:{n}: 't' must be a number of seconds")
        out.append(float(t))
    return out


def load_commands(path: Path) -> list[tuple[int, float, dict[str, Any]]]:
    """Commands with their line numbers and times; a bad line raises :class:`ValidationError` naming
    the file and the line."""
    from coach.errors import ValidationError
    from coach.trace.limits import MAX_ABS_TIME_S, MAX_ROW_CHARS

    out: list[tuple[int, float, dict[str, Any]]] = []
    try:
        f = open(path, encoding="utf-8", errors="strict")
    except OSError as exc:
        raise ValidationError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with f:
        n = 0
        while True:
            try:
                line = f.readline(MAX_ROW_CHARS + 1)
            except (UnicodeDecodeError, OSError) as exc:
                raise ValidationError(f"{path}:{n + 1}: cannot read: {exc}") from None
            if not line:
                break
            n += 1
            if len(line) > MAX_ROW_CHARS:
                raise ValidationError(f"{path}:{n}: a command line has at most {MAX_ROW_CHARS} characters")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise ValidationError(f"{path}:{n}: not JSON ({str(exc)[:80]})") from None
            t = obj.get("t") if isinstance(obj, dict) else None
            if isinstance(t, bool) or not isinstance(t, int | float) or "cmd" not in obj:
                raise ValidationError(f"{path}:{n}: a command line needs 't' (seconds) and 'cmd'")
            if not (isinstance(t, int) or math.isfinite(t)) or not -MAX_ABS_TIME_S <= t <= MAX_ABS_TIME_S:
                raise ValidationError(f"{path}:{n}: 't' must be seconds within ±{MAX_ABS_TIME_S:g}")
            out.append((n, float(t), obj))
    return out


def run(args: argparse.Namespace) -> int:
    from coach.errors import TraceFormatError, ValidationError
    from coach.malloc_reuse import keep_freed_memory

    keep_freed_memory()  # the detector's slices reuse freed memory (fewer page faults): see the module
    from coach.events import to_json
    from coach.pipeline import PipelineConfig, SessionPipeline
    from coach.samples import ROLES
    from coach.summary import format_table
    from coach.trace import open_trace

    path: Path = args.trace
    reader = open_trace(path)
    out = sys.stdout
    summary: Mapping[str, Any] | None = None
    with reader:
        meta = reader.meta
        try:
            meta.check()
        except ValidationError as exc:
            raise TraceFormatError(path, reader.header.meta_line, str(exc)) from None
        if not meta.arm_given:
            print(
                f"coach replay: {path}: meta has no 'arm'; assuming right (it sets the sign of "
                "deviation and roll)",
                file=sys.stderr,
            )
        pipeline = SessionPipeline(meta, PipelineConfig(posture_hz=args.posture_hz, mounting=args.mounting))
        cmd_path = args.commands or commands_path_for(path)
        if args.commands is not None or cmd_path.exists():
            for line, t, command in load_commands(cmd_path):
                try:
                    _write(out, pipeline.apply_command(command, t), to_json)
                except ValidationError as exc:
                    raise ValidationError(f"{cmd_path}:{line}: {exc}") from None
        gaps_path = commands_path_for(path, "gaps")
        # A live recording: only its own decisions move the clock (None: the clock trails the rows).
        decisions = load_gap_decisions(gaps_path) if gaps_path.exists() else None
        progress = _Progress(path)
        first_line: dict[str, int] = {}  # each role's first row
        error: TraceFormatError | None = None
        try:
            for chunk in reader.chunks(CHUNK_ROWS):
                for role, block in chunk.by_role().items():
                    first_line.setdefault(role, int(chunk.line[chunk.role_code == ROLES.index(role)][0]))
                    _write(out, _guarded(pipeline, partial(pipeline.feed, block), path, first_line), to_json)
                horizon = float(chunk.t_s[-1]) - CLOCK_SLACK_S
                if decisions is None:
                    clock = partial(pipeline.advance, horizon)
                    _write(out, _guarded(pipeline, clock, path, first_line), to_json)
                while decisions and decisions[0] <= horizon:
                    clock = partial(pipeline.advance, decisions.pop(0))
                    _write(out, _guarded(pipeline, clock, path, first_line), to_json)
                progress.update(len(chunk))
        except TraceFormatError as exc:
            error = exc
        progress.done()
        if "treated" not in first_line:
            if error is not None:
                print(f"coach replay: error: {error}", file=sys.stderr)
            before = " before that line" if error is not None else ""
            print(
                f"coach replay: error: {path}: no row of sensor 'treated'{before}: a trace without the "
                "treated forearm's sensor cannot be coached",
                file=sys.stderr,
            )
            return 2
        if error is None:
            events = pipeline.finish()
        else:
            events = pipeline.finish(f"bad trace row at line {error.line}: {error.reason}", aborted=True)
            print(f"coach replay: error: {error}", file=sys.stderr)
        summary = events[-1] if events and events[-1]["type"] == "summary" else None
        _write(out, events, to_json)
    out.flush()
    if pipeline.late_samples:
        print(
            f"coach replay: {pipeline.late_samples} samples came too late and were dropped", file=sys.stderr
        )
    if pipeline.stroke_contract_violations:
        n = pipeline.stroke_contract_violations
        print(
            f"coach replay: the stroke detector broke its timing contract {n} times (clamped)",
            file=sys.stderr,
        )
    if args.summary and summary is not None:
        print(format_table(summary), file=sys.stderr)
    return 0 if error is None else 1


def _guarded(
    pipeline: SessionPipeline, call: Callable[[], list[Event]], path: Path, first_line: dict[str, int]
) -> list[Event]:
    """``call()``; a sensor the pipeline refuses (timestamps that give an impossible rate) becomes a
    :class:`TraceFormatError` at that sensor's first row (where its rate is measured)."""
    from coach.errors import TraceFormatError, ValidationError

    try:
        return call()
    except ValidationError as exc:
        refused = [r for r, s in pipeline.roles.items() if s.resampler.refused is not None]
        if not refused:
            raise
        role = refused[0]
        raise TraceFormatError(path, first_line.get(role), f"sensor {role!r}: {exc}") from None


def _write(out: IO[str], events: Sequence[Mapping[str, Any]], encode: Any) -> None:
    if events:
        out.write("".join(encode(e) + "\n" for e in events))


class _Progress:
    """A one-line progress bar on stderr, only on a terminal and only for big files."""

    def __init__(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        self.enabled = sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES and not path.name.endswith(".gz")
        self.rows = 0
        self.total = 1
        if self.enabled:
            with open(path, "rb") as f:
                head = f.read(1 << 16)
            per_row = max(1.0, len(head) / max(1, head.count(b"\n")))
            self.total = max(1, int(size / per_row))

    def update(self, rows: int) -> None:
        if not self.enabled:
            return
        self.rows += rows
        frac = min(1.0, self.rows / self.total)
        bar = "#" * int(30 * frac)
        print(f"\rreplay [{bar:<30}] {100 * frac:5.1f} %", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print("\r" + " " * 50 + "\r", end="", file=sys.stderr, flush=True)
            self.enabled = False
