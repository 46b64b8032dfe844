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
from coach.blas_threads import use_one_blas_thread
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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``only``: just that subcommand (the others' modules are not imported,
    ~10 ms of a replay; what parses and prints for ``only`` is the same)."""
    parser = argparse.ArgumentParser(
        prog="coach",
        description="Session coach for retrograde massage (hand edema): posture, wrist and stroke "
        "feedback from wrist-worn IMUs, published over MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"coach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = _load(module_name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    use_one_blas_thread()  # before a subcommand imports numpy: see coach.blas_threads
    args_in = sys.argv[1:] if argv is None else list(argv)
    # The subcommand comes first (options before it are the top-level ones): only its module is needed.
    parser = build_parser(args_in[0] if args_in and args_in[0] in COMMANDS else None)
    args = parser.parse_args(args_in)
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
