"""``coach scan``: compatible BLE devices nearby, with their profile, signal strength and battery level.

stdout: one JSON object per device (``address``, ``name``, ``profile``, ``rssi_dbm``, ``battery_pct``);
stderr: the same as a table for people. ``--simulated`` scans the simulated devices (one of every profile).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "list compatible BLE IMUs nearby (profile, signal strength, battery)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--simulated", action="store_true", help="scan the simulated devices instead of radios"
    )
    parser.add_argument(
        "--duration", type=float, default=5.0, metavar="S", help="how long to scan (default 5 s)"
    )
    parser.add_argument("--no-battery", action="store_true", help="do not connect to read battery levels")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated world speed (with --simulated; default 1)"
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from coach.clock import SessionClock
    from coach.errors import ConfigError
    from coach.events import to_json
    from drivers.connection import Backend, probe_battery, scan

    if args.duration <= 0:
        raise ConfigError("--duration must be positive")
    if args.time_scale != 1.0 and not args.simulated:
        raise ConfigError("--time-scale needs --simulated")

    async def main() -> list[dict[str, Any]]:
        backend = Backend()
        if args.simulated:  # this command is a composition root: --simulated brings a simulated world
            from simulators.ble.world import default_world

            backend = default_world(args.time_scale).backend()
        clock = SessionClock(args.time_scale)
        rows: list[dict[str, Any]] = []
        for f in await scan(backend, clock, args.duration):
            battery = None
            if not args.no_battery:
                try:
                    battery = await probe_battery(f, backend, clock)
                except Exception as exc:  # a device that will not connect still gets listed
                    print(f"coach scan: {f.device.address}: no battery level ({exc})", file=sys.stderr)
            rows.append(
                {"address": f.device.address, "name": f.name, "profile": f.profile, "rssi_dbm": f.rssi_dbm,
                 "battery_pct": battery}
            )  # fmt: skip
        return rows

    try:
        rows = asyncio.run(main())
    except Exception as exc:  # bleak raises its own errors (no adapter, Bluetooth off) with a message
        from bleak.exc import BleakError

        if isinstance(exc, BleakError | OSError):
            hint = "is BlueZ running? (--simulated scans the simulated devices)"
            print(f"coach scan: error: no Bluetooth ({exc}); {hint}", file=sys.stderr)
            return 2
        raise
    for row in rows:
        sys.stdout.write(to_json(row) + "\n")
    print(f"{'address':18s} {'profile':13s} {'rssi':>5s} {'battery':>8s}  name", file=sys.stderr)
    for row in rows:
        battery = "?" if row["battery_pct"] is None else f"{row['battery_pct']:.0f} %"
        where = f"{row['address']!s:18s} {row['profile']!s:13s} {row['rssi_dbm']!s:>5s}"
        print(f"{where} {battery:>8s}  {row['name']}", file=sys.stderr)
    if not rows:
        print("coach scan: no compatible device found", file=sys.stderr)
    return 0
