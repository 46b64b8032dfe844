"""The ``coach`` command line. Each subcommand lives in its own module of this package.

A subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``,
and keeps heavy imports inside ``run`` so that ``coach --help`` stays quick. Errors the coach raises
on purpose (:class:`~coach.errors.CoachError`) print as one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from coach import __version__
from coach.errors import CoachError

#: Subcommand name -> module under ``coach.cli``, in the order ``coach --help`` lists them.
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "run": "run",
    "replay": "replay",
    "simulate": "simulate",
    "scan": "scan",
    "record": "record",
    "decode": "decode",
    "monitor": "monitor",
    "broker-config": "broker_config",
    "check-events": "check_events",
    "bids-export": "bids_export",
    "patient-data": "patient_data",
}


def _load(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"coach.cli.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"coach.cli.{module}":
            return None  # not built yet
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coach",
        description="Session coach for retrograde massage (hand edema): posture, wrist and stroke "
        "feedback from wrist-worn IMUs, published over MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"coach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except CoachError as exc:
        print(f"coach {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"coach {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`): not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
