"""``coach bids-export``: recorded sessions as a Motion-BIDS dataset (coach.export.bids).

    coach bids-export --out DIR --patient P [--patient Q ...] [--session S ...]
    coach bids-export --out DIR --trace FILE --as PATIENT [--trace FILE ...]

Runs where the traces are (the coach's machine). Sessions come from ``<data dir>/patients/<p>/sessions``
with the events the coach recorded beside each trace; ``--trace`` takes trace files from elsewhere
(their events from ``<trace>.events.jsonl`` when present, else by replaying the trace).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "export recorded sessions (raw IMU samples and events) as a Motion-BIDS dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="dataset folder (created or added to)")
    parser.add_argument("--patient", action="append", default=[], help="a patient id (repeatable: a study)")
    parser.add_argument("--session", action="append", default=[], help="only these session ids")
    parser.add_argument("--trace", type=Path, action="append", default=[], help="a trace file")
    parser.add_argument("--as", dest="as_patient", help="the pseudonymous id the --trace files belong to")
    parser.add_argument("--name", default="Retro Coach sessions", help="the dataset's name")


def run(args: argparse.Namespace) -> int:
    from coach.errors import ValidationError
    from coach.export.bids import Recording, recordings_in, write_dataset
    from coach.ids import check_id
    from coach.paths import data_dir

    recordings: list[Recording] = []
    for p in args.patient:
        folder = data_dir() / "patients" / check_id(p, "patient id") / "sessions"
        found = [r for r in recordings_in(folder, p) if not args.session or r.session_id in args.session]
        if not found:
            raise ValidationError(f"no recorded sessions of {p} in {folder}")
        recordings += found
    if args.trace:
        if not args.as_patient:
            raise ValidationError("--trace needs --as PATIENT (the pseudonymous id)")
        for trace in args.trace:
            events = trace.with_name(f"{trace.name.removesuffix('.gz').removesuffix('.csv')}.events.jsonl")
            stem = trace.name.removesuffix(".gz").removesuffix(".csv")
            recordings.append(Recording(args.as_patient, stem, trace, events if events.exists() else None))
    if not recordings:
        raise ValidationError("nothing to export: give --patient or --trace")
    written = write_dataset(args.out, recordings, name=args.name)
    print(
        f"coach bids-export: {len(recordings)} session(s), {len(written)} files in {args.out}",
        file=sys.stderr,
    )
    return 0
