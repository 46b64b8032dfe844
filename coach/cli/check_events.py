"""``coach check-events [FILE] [--hand]``: check a JSON-Lines event stream against the event contract.

Reads FILE (or stdin), checks every event against its JSON Schema (``coach/event_schema/*.schema.json``,
docs/events.md) and the stream against the rules that span events (``t`` never decreases, ids unique,
the summary last and once, a stroke's ``t_start <= t_end <= t``). Prints one line per problem, naming
the file and line, and exits 1; or prints the events counted per type and exits 0. For example::

    coach replay trace.csv | coach check-events --hand
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from coach.errors import CoachError

HELP = "check a JSON-Lines event stream (file or stdin) against the event contract (JSON Schema + rules)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, help="events file (JSON Lines; default: stdin)")
    parser.add_argument(
        "--hand",
        action="store_true",
        help="the trace had a hand sensor: wrist_neutral must be known in most posture events",
    )
    parser.add_argument(
        "--max-problems", type=int, default=20, metavar="N", help="stop after N problems (default: 20)"
    )
    parser.add_argument(
        "--schema-dir", action="store_true", help="print the folder of the schema files and exit"
    )


def _lines(path: Path | None) -> Iterator[bytes]:
    if path is None:
        yield from sys.stdin.buffer
        return
    try:
        with open(path, "rb") as f:
            yield from f
    except OSError as exc:
        raise CoachError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def run(args: argparse.Namespace) -> int:
    from coach.event_schema.stream import check

    if args.schema_dir:
        from importlib import resources

        print(resources.files("coach.event_schema"))
        return 0
    if args.max_problems < 1:
        raise CoachError("--max-problems must be at least 1")
    name = str(args.file) if args.file is not None else "<stdin>"
    problems, counts = check(_lines(args.file), hand=args.hand, max_problems=args.max_problems)
    for problem in problems:
        print(f"{name}: {problem}")
    if problems:
        return 1
    total = sum(counts.values())
    print(
        f"{name}: {total} events keep the contract: "
        + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    )
    return 0
