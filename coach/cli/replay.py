"""``coach replay TRACE``: run a recorded or simulated trace through the pipeline.

stdout carries the JSON-Lines events of DESIGN.md §7 and nothing else; everything for people (warnings,
``--summary``'s table, the progress bar on a terminal) goes to stderr. The file is streamed in chunks,
so memory stays flat on hour-long traces. Therapist commands recorded next to the trace
(``<trace>.commands.jsonl``, one JSON object per line with its ``t``) are applied at their times.

A trace with a bad row: every good row before it is replayed, then the session ends in state
``aborted`` with the reason, the summary follows, the error is printed on stderr, and the exit status
is 1 (DESIGN.md: bad input loses nothing already good). A broken header gives no events and status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

HELP = "replay a coach-trace file through the pipeline (JSON-Lines events on stdout)"

#: The reader yields rows in file order; a recorder may interleave sensors a little out of time order,
#: so the replay clock trails the newest row by this much (it only matters for a sensor gone silent).
CLOCK_SLACK_S = 1.0
#: Show a progress bar for files larger than this, when stderr is a terminal.
PROGRESS_MIN_BYTES = 20_000_000


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


def commands_path_for(trace: Path) -> Path:
    """``x.csv`` / ``x.csv.gz`` → ``x.commands.jsonl``."""
    name = trace.name
    for suffix in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return trace.with_name(name + ".commands.jsonl")


def load_commands(path: Path) -> list[tuple[float, dict[str, Any]]]:
    """Commands with their times; a bad line raises :class:`ValidationError` naming file and line."""
    from coach.errors import ValidationError

    out: list[tuple[float, dict[str, Any]]] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ValidationError(f"{path}:{n}: not JSON ({exc})") from None
            t = obj.get("t") if isinstance(obj, dict) else None
            if isinstance(t, bool) or not isinstance(t, int | float) or "cmd" not in obj:
                raise ValidationError(f"{path}:{n}: a command line needs 't' (seconds) and 'cmd'")
            out.append((float(t), obj))
    return out


def run(args: argparse.Namespace) -> int:
    from coach.errors import TraceFormatError
    from coach.events import to_json
    from coach.pipeline import PipelineConfig, SessionPipeline
    from coach.summary import format_table
    from coach.trace import open_trace

    path: Path = args.trace
    reader = open_trace(path)
    out = sys.stdout
    summary: Mapping[str, Any] | None = None
    status = 0
    with reader:
        meta = reader.meta
        if not meta.arm_given:
            print(
                f"coach replay: {path}: meta has no 'arm'; assuming right (it sets the sign of "
                "deviation and roll)",
                file=sys.stderr,
            )
        pipeline = SessionPipeline(meta, PipelineConfig(posture_hz=args.posture_hz, mounting=args.mounting))
        cmd_path = args.commands or commands_path_for(path)
        if args.commands is not None or cmd_path.exists():
            for t, command in load_commands(cmd_path):
                _write(out, pipeline.apply_command(command, t), to_json)
        progress = _Progress(path)
        try:
            for chunk in reader.chunks():
                for block in chunk.by_role().values():
                    _write(out, pipeline.feed(block), to_json)
                events = pipeline.advance(float(chunk.t_s[-1]) - CLOCK_SLACK_S)
                _write(out, events, to_json)
                progress.update(len(chunk))
            events = pipeline.finish()
        except TraceFormatError as exc:
            progress.done()
            events = pipeline.finish(f"bad trace row at line {exc.line}: {exc.reason}", aborted=True)
            print(f"coach replay: error: {exc}", file=sys.stderr)
            status = 1
        progress.done()
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
    return status


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
