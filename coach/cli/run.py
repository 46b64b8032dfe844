"""``coach run --config session.toml``: a live session with the configured devices (or ``--simulated``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from coach.cli.session_options import add_person_options, person_settings

if TYPE_CHECKING:
    from coach.session.flow import SessionResult

HELP = "run a live session (screening, calibration, coaching, MQTT) from a TOML config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="session TOML (see --example-config)")
    parser.add_argument(
        "--simulated",
        action="store_true",
        help="simulated devices for the configured roles instead of BLE hardware",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="simulation seed (default: [simulation] seed or 7)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="session clock speed with --simulated (default: [simulation] speed or 1 = real time)",
    )
    add_person_options(parser)
    parser.add_argument(
        "--example-config", action="store_true", help="print a documented example config and exit"
    )


def run(args: argparse.Namespace) -> int:
    if args.example_config:
        from coach.session.config import example_config

        sys.stdout.write(example_config())
        return 0
    if args.config is None:
        print("coach run: --config FILE is required (coach run --example-config prints one)", file=sys.stderr)
        return 2
    import asyncio

    from coach.errors import ConfigError
    from coach.session.config import load_config
    from coach.session.runner import SessionRun, device_source, run_session, simulated_source
    from coach.session.sources import SampleSource

    cfg = load_config(args.config)
    source: SampleSource
    if args.simulated:
        seed = args.seed if args.seed is not None else int(cfg.simulation.get("seed", 7))
        speed = args.speed if args.speed is not None else float(cfg.simulation.get("speed", 1.0))
        if not 0 < speed <= 100:
            raise ConfigError("--speed must be within (0, 100]")
        source = simulated_source(cfg, seed=seed, duration_s=cfg.target_duration_s + 60.0, speed=speed)
    else:
        if args.speed not in (None, 1.0):
            raise ConfigError("--speed only works with --simulated (real devices run in real time)")
        speed = 1.0
        if not cfg.devices:
            raise ConfigError(f"{args.config}: no [[devices]] (or run with --simulated)")
        source = device_source(cfg)
    run_ = SessionRun(source, speed=speed, **person_settings(args, cfg.page))
    result = asyncio.run(run_session(cfg, run_))
    print(closing_lines(result), file=sys.stderr)
    return 0 if result.state == "finished" else 1


def closing_lines(result: SessionResult) -> str:
    """Where the files are, then one clear last line: how the session ended and whether everything was
    delivered."""
    lines = []
    if result.trace_path is not None:
        lines.append(f"trace:   {result.trace_path}")
    lines.append(f"summary: {result.summary_path}")
    sent = "all events sent" if result.spool_empty else f"{result.unsent} events kept, sent next time"
    lines.append(f"coach: session {result.session_id} {result.state} ({result.reason}); {sent}")
    return "\n".join(lines)
