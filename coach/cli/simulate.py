"""``coach simulate``: write a simulated session as a trace plus its ground-truth labels file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "simulate a session (physics + sensor model) and write a trace and its ground-truth labels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        nargs="?",
        metavar="SCENARIO",
        help="scenario file (.toml or .json); default: the default scenario",
    )
    parser.add_argument(
        "-o", "--output", metavar="TRACE", help="trace file to write (.csv or .csv.gz); required"
    )
    parser.add_argument(
        "--labels", metavar="PATH", help="labels file (default: TRACE with .labels.json instead of .csv)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed (default 0); the same seed gives the same session"
    )
    parser.add_argument(
        "--random", action="store_true", help="draw a varied random scenario from the seed instead of a file"
    )
    parser.add_argument("--duration", type=float, metavar="S", help="session length in seconds")
    parser.add_argument(
        "--roles", metavar="ROLES", help="comma-separated sensor roles, e.g. treated,hand,stroker"
    )
    parser.add_argument(
        "--rate", type=float, metavar="HZ", help="output data rate of every sensor (e.g. 50, 100, 200)"
    )
    parser.add_argument("--device-class", choices=("good", "cheap"), help="error model of every sensor")
    parser.add_argument("--arm", choices=("left", "right"), help="treated arm")
    parser.add_argument(
        "--ideal", action="store_true", help="no device errors and no transport faults (clean signals)"
    )
    parser.add_argument(
        "--no-calibration-meta",
        action="store_true",
        help="perform the calibration but leave its times out of meta",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario field by dotted key, VALUE in JSON (e.g. strokes.distal_fraction=0.5, "
        "strokes.cadence_spm=[15,20]); repeatable",
    )
    parser.add_argument(
        "--fields", action="store_true", help="print every scenario field (Markdown table) and exit"
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from coach.errors import ConfigError

    out: dict[str, Any] = {}
    if args.duration is not None:
        out["duration_s"] = args.duration
    if args.roles:
        out["roles"] = [r.strip() for r in args.roles.split(",") if r.strip()]
    if args.rate is not None:
        out["rate_hz"] = args.rate
    if args.device_class:
        out["device_class"] = args.device_class
    if args.arm:
        out["arm"] = args.arm
    if args.ideal:
        out["sensor_errors"] = False
        out["transport_faults"] = False
    if args.no_calibration_meta:
        out["calibration.in_meta"] = False
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text  # a bare word is a string (e.g. arm=left)
        out[key.strip()] = value
    return out


def run(args: argparse.Namespace) -> int:
    from coach.errors import ConfigError
    from simulators import Scenario, random_scenario, simulate
    from simulators.scenario import fields_table

    if args.fields:
        print(fields_table())
        return 0
    if not args.output:
        raise ConfigError("-o/--output TRACE is required")
    if args.seed < 0:
        raise ConfigError("--seed must be >= 0")
    if args.random and args.scenario:
        raise ConfigError("give a SCENARIO file or --random, not both")
    overrides = _overrides(args)
    if args.random:
        scenario = random_scenario(args.seed, **overrides)
    else:
        scenario = Scenario.from_file(args.scenario) if args.scenario else Scenario()
        if overrides:
            scenario = scenario.replace(**overrides)
    try:
        session = simulate(scenario, args.seed)
    except ValueError as exc:
        raise ConfigError(f"scenario cannot be simulated: {exc}") from None
    labels_path = session.write(args.output, args.labels)
    truth = session.truth
    summary = truth["summary"]
    rows = sum(len(b) for b in session.blocks.values())
    n = summary["strokes_total"]
    distal = f"{100.0 * summary['strokes_distal'] / n:.0f} % distal" if n else "no strokes"
    elevated = summary["elevated_fraction"]
    share = "" if elevated is None else f", elevated {100.0 * elevated:.0f} % of the active time"
    print(
        f"coach simulate: wrote {args.output} ({', '.join(session.blocks)}; {scenario.duration_s:g} s; "
        f"{rows} rows) and {labels_path}: {n} strokes ({distal}){share}",
        file=sys.stderr,
    )
    return 0
