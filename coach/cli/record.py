"""``coach record --device ID --role treated [--device ID --role hand ...] -o trace.csv``: record a
``coach-trace`` v1 from BLE IMUs, with the guided calibration of docs/design.md §4.

Once every device streams, the recording's t = 0 starts; prompts on stderr ask for the ``still`` pose and
then the ``rotate`` turns at fixed times, and those times go into ``meta.calibration``. The file is opened
when the calibration ends (so ``meta`` holds the phases that happened); rows go out in time order as all
roles' samples arrive, and every write is flushed. Ctrl-C (or ``--duration``) stops cleanly: the devices
are stopped, every sample received so far is written, and the file is closed complete.

With ``--simulated`` the devices are the simulated ones (one of every profile: ``coach scan --simulated``
lists them) and the simulated patient follows the prompts; ``--sim-faults PROFILE:SPEC`` injects faults
(``drop=0.02,bunch=10,stall=0.5,garbage=0.01,disconnect=20;40,down=3,silent=0:5``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "record a coach-trace from BLE IMUs (guided calibration; Ctrl-C stops cleanly)"

LEAD_IN_S = 1.0
STILL_S = 3.0
ROTATE_S = 6.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", action="append", required=True, metavar="ID", help="address or name (repeat)"
    )
    parser.add_argument(
        "--role",
        action="append",
        required=True,
        choices=("treated", "hand", "stroker"),
        help="role of each --device",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="TRACE", help="trace file to write (.csv or .csv.gz)"
    )
    parser.add_argument("--simulated", action="store_true", help="use the simulated devices and patient")
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds (default: at Ctrl-C)"
    )
    parser.add_argument("--arm", choices=("left", "right"), help="the treated arm (written to meta.arm)")
    parser.add_argument("--no-calibration", action="store_true", help="skip the guided still/rotate prompts")
    parser.add_argument(
        "--connect-timeout", type=float, default=60.0, metavar="S", help="wait for devices (s)"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated world speed (--simulated only)"
    )
    parser.add_argument(
        "--sim-faults",
        action="append",
        default=[],
        metavar="PROFILE:SPEC",
        help="faults of a simulated device",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated patient and devices")


def _prompt(text: str) -> None:
    print(f"coach record: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from coach.errors import ConfigError

    if len(args.device) != len(args.role):
        raise ConfigError("give one --role for each --device")
    if len(set(args.role)) != len(args.role):
        raise ConfigError("each role takes one device")
    if not args.simulated and (args.time_scale != 1.0 or args.sim_faults):
        raise ConfigError("--time-scale and --sim-faults need --simulated")
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration must be positive")
    import os
    from pathlib import Path

    folder = Path(args.output).resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigError(f"cannot write {args.output}: {folder} is not a writable folder")
    return asyncio.run(_record(args))


async def _record(args: argparse.Namespace) -> int:
    import asyncio
    import datetime as dt
    import signal

    from bleak.exc import BleakError

    from drivers.base import DeviceError
    from drivers.hub import DeviceSpec, LinkStatus, open_session_stream

    specs = [DeviceSpec(role, dev) for dev, role in zip(args.device, args.role, strict=True)]
    world: Any = None
    motion: Any = None
    if args.simulated:  # this command is a composition root: --simulated brings a simulated world
        from simulators.ble.device import FaultPlan
        from simulators.ble.patient import prompted_world

        faults: dict[str, FaultPlan] = {}
        for item in args.sim_faults:
            key, _, spec = item.partition(":")
            try:
                faults[key] = FaultPlan.parse(spec)
            except ValueError as exc:
                from coach.errors import ConfigError

                raise ConfigError(f"--sim-faults {item!r}: {exc}") from None
        world, motion = prompted_world(
            list(args.role),
            time_scale=args.time_scale,
            lead_in_s=LEAD_IN_S,
            still_s=STILL_S,
            rotate_s=ROTATE_S,
            duration_s=(args.duration or 600.0) + 5.0,
            seed=args.seed,
            arm=args.arm or "right",
            faults=faults,
        )
        for spec in specs:
            try:
                world.assign_role(spec.device, spec.role)
            except KeyError:
                from coach.errors import ConfigError

                names = ", ".join(f"{d.name} ({d.address})" for d in world.devices.values())
                raise ConfigError(f"no simulated device {spec.device!r}; they are: {names}") from None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    stream = open_session_stream(specs, world.backend() if world is not None else None, speed=args.time_scale)
    rec = _Recorder(args.output, [s.role for s in specs], args.arm)
    try:
        await stream.start()
    except (BleakError, OSError) as exc:  # no adapter, Bluetooth off, no BlueZ/D-Bus
        raise DeviceError(
            "bluetooth", f"no Bluetooth ({exc}); is BlueZ running? (--simulated: simulated devices)"
        ) from None
    try:
        # -- wait for every device ----------------------------------------------------------------
        up: set[str] = set()
        _prompt(f"connecting to {len(specs)} device(s) ...")
        deadline = stream.now() + args.connect_timeout * args.time_scale
        while up != set(args.role) and not stop.is_set():
            if stream.now() > deadline:
                missing = ", ".join(sorted(set(args.role) - up))
                _prompt(f"error: no data from {missing} within {args.connect_timeout:.0f} s")
                return 2
            item = await _next(stream, 0.1)
            if isinstance(item, LinkStatus):
                _prompt(
                    f"{item.role}: link {item.link}"
                    + (f", battery {item.battery_pct:.0f} %" if item.battery_pct is not None else "")
                )
                if item.link == "up":
                    up.add(item.role)
        t0 = stream.now()
        if motion is not None:
            motion.start_at(world.now())  # the simulated patient starts now and follows the prompts
        rec.start(t0, dt.datetime.now(dt.UTC), stream)
        still_end = LEAD_IN_S + STILL_S
        phases = [
            ("still", LEAD_IN_S, still_end, "HOLD STILL: arm resting raised, palm down, wrist straight"),
            (
                "rotate",
                still_end,
                still_end + ROTATE_S,
                "ROTATE: turn the palm up and down twice, slowly, elbow resting",
            ),
        ]
        if args.no_calibration:
            phases = []
        cal_end = phases[-1][2] if phases else 0.0
        announced: set[str] = set()
        # -- record --------------------------------------------------------------------------------
        while not stop.is_set():
            t = stream.now() - t0
            if args.duration is not None and t >= args.duration:
                break
            for name, start, end, text in phases:
                if t >= start and name not in announced:
                    announced.add(name)
                    _prompt(f"{text} ({end - start:.0f} s)")
                if t >= end:
                    rec.phases[name] = (start, end)
            if not rec.open and t >= cal_end:
                if phases:
                    _prompt("calibration done; recording (Ctrl-C stops)")
                rec.open_writer()
            item = await _next(stream, 0.1)
            if item is not None:
                rec.take(item)
            rec.write_ready()
    finally:
        _prompt("stopping ...")
        await stream.aclose()
        while (item := stream.get_nowait()) is not None:
            rec.take(item)
        rec.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    _prompt(
        f"wrote {rec.rows} rows to {args.output} ({', '.join(f'{r}: {n}' for r, n in rec.counts.items())})"
    )
    return 0


async def _next(stream: Any, timeout_s: float) -> Any:
    import asyncio

    try:
        async with asyncio.timeout(timeout_s):
            return await stream.__anext__()
    except (TimeoutError, StopAsyncIteration):
        return None


class _Recorder:
    """Buffers the hub's blocks per role, opens the writer once ``meta`` is known, writes rows in time
    order up to the latest time every live role has reached."""

    def __init__(self, path: str, roles: list[str], arm: str | None) -> None:
        self.path = path
        self.roles = roles
        self.arm = arm
        self.t0 = 0.0
        self.start_utc: str | None = None
        self.phases: dict[str, tuple[float, float]] = {}
        self.pending: dict[str, list[Any]] = {r: [] for r in roles}
        self.latest: dict[str, float] = {}
        self.down: set[str] = set()
        self.counts: dict[str, int] = dict.fromkeys(roles, 0)
        self.rows = 0
        self.writer: Any = None
        self.stream: Any = None
        self.open = False

    def start(self, t0: float, start_utc: Any, stream: Any) -> None:
        self.t0 = t0
        self.start_utc = start_utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.stream = stream

    def take(self, item: Any) -> None:
        from coach.samples import SampleBlock
        from drivers.hub import LinkStatus, SampleGap

        if isinstance(item, SampleBlock):
            keep = item.t_s >= self.t0 if self.start_utc else item.t_s < -1  # nothing before t = 0
            if keep.any():
                i0 = int(keep.argmax())
                block = item.slice(i0, len(item))
                shifted = SampleBlock(
                    block.role,
                    block.t_s - self.t0,
                    block.acc_mps2,
                    block.gyr_rps,
                    block.mag_ut,
                    block.pressure_pa,
                )
                self.pending[block.role].append(shifted)
                self.latest[block.role] = float(shifted.t_s[-1])
        elif isinstance(item, LinkStatus):
            if item.link == "down":
                self.down.add(item.role)
                _prompt(
                    f"{item.role}: link down ({item.reason}); reconnecting, samples meanwhile are missing"
                )
            else:
                if item.role in self.down:
                    _prompt(f"{item.role}: link up again")
                self.down.discard(item.role)
        elif isinstance(item, SampleGap) and item.reason == "reconnect" and self.start_utc:
            _prompt(f"{item.role}: gap of {item.t_after_s - (item.t_before_s or item.t_after_s):.1f} s")

    def _meta(self) -> Any:
        from coach.trace import TraceMeta

        raw: dict[str, Any] = {}
        if self.arm:
            raw["arm"] = self.arm
        raw["start_utc"] = self.start_utc
        sensors = {}
        for link in self.stream.links:
            if link.profile is not None and link.stream is not None:
                rate = next(iter(link.stream.plan.streams.values())).rate_hz
                sensors[link.spec.role] = {"rate_hz": rate, "device": link.profile.name}
        raw["sensors"] = sensors
        if self.phases:
            raw["calibration"] = {k: [round(a, 3), round(b, 3)] for k, (a, b) in self.phases.items()}
        return TraceMeta(raw)

    def open_writer(self) -> None:
        from coach.errors import ConfigError
        from coach.trace import TraceWriter

        mag = any(link.stream is not None and link.stream.plan.has_mag for link in self.stream.links)
        try:
            self.writer = TraceWriter(self.path, self._meta(), mag=mag)
        except OSError as exc:
            raise ConfigError(f"cannot write {self.path}: {exc.strerror}") from None
        self.open = True

    def write_ready(self, everything: bool = False) -> None:
        if not self.open:
            return
        live = [r for r in self.roles if r not in self.down and r in self.latest]
        if not everything:
            if not live:
                return
            watermark = min(self.latest[r] for r in live)
        blocks = []
        for role, parts in self.pending.items():
            if not parts:
                continue
            from coach.samples import SampleBlock

            block = SampleBlock.concat(parts) if len(parts) > 1 else parts[0]
            n = len(block) if everything else int((block.t_s <= watermark).sum())
            if n:
                blocks.append(block.slice(0, n))
                self.counts[role] += n
            self.pending[role] = [block.slice(n, len(block))] if n < len(block) else []
        if blocks:
            if self.writer.mag:
                import numpy as np

                blocks = [
                    b
                    if b.mag_ut is not None
                    else type(b)(b.role, b.t_s, b.acc_mps2, b.gyr_rps, np.full((len(b), 3), np.nan))
                    for b in blocks
                ]
            self.rows += self.writer.write_blocks(blocks)

    def close(self) -> None:
        if not self.open:
            self.open_writer()  # stopped before the calibration ended: still a complete, readable file
        self.write_ready(everything=True)
        self.writer.close()
