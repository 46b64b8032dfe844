"""``coach patient-data``: a patient's data on this coach's machine (traces, events, local state, spool).

coach patient-data export PATIENT --out DIR      copy everything, with a manifest (docs/monitor.md)
coach patient-data erase PATIENT --confirm PATIENT
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "export or erase everything this coach holds on one patient (data access and erasure requests)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("export", help="copy the patient's files and a manifest to a new folder")
    p.add_argument("patient_id")
    p.add_argument("--out", type=Path, required=True, help="folder to write <patient id>/ into")
    p = sub.add_parser("erase", help="delete the patient's files (the erasure itself is logged)")
    p.add_argument("patient_id")
    p.add_argument("--confirm", required=True, metavar="PATIENT_ID", help="the same id again")


def run(args: argparse.Namespace) -> int:
    from coach.errors import ValidationError
    from coach.export.patient_files import erase_patient_files, export_patient_files

    if args.action == "export":
        manifest = export_patient_files(args.patient_id, args.out)
        print(f"coach patient-data: exported to {manifest.parent} (manifest: {manifest})", file=sys.stderr)
        return 0
    if args.confirm != args.patient_id:
        raise ValidationError("--confirm must repeat the patient id")
    record = erase_patient_files(args.patient_id)
    print(f"coach patient-data: erased {json.dumps(record)}", file=sys.stderr)
    return 0
