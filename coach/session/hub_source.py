"""Live-session samples from the BLE drivers hub (``drivers.hub``): real devices through bleak, or
simulated devices through the simulated bleak backend (``simulators.ble``), which speak the real byte
formats of every device profile.

:class:`HubSource` opens the hub, waits until every configured sensor's link is up (devices are found
and connected before the session clock starts: calibration cannot begin without them), and makes
that moment ``t = 0``: sample and link times are shifted onto the session clock and anything older is
dropped. It reports what the hub sees: sample blocks, and link changes with battery levels.

With ``simulated`` devices, :func:`simulated_world` builds a simulated radio neighbourhood with one
device per role whose sensors measure a simulated *session* (``simulators.simulate_motion``: a person
following the calibration prompts, then massaging with posture episodes), starting at ``t = 0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from coach.clock import SessionClock
from coach.errors import ConfigError
from coach.samples import FloatArray, LinkStatus, SampleBlock
from coach.session.sources import Notified, SourceItem

if TYPE_CHECKING:
    from drivers.hub import SessionStream
    from simulators.ble.world import SimWorld

#: Nominal sample rate of each profile's start-stream settings (Hz), for the trace ``meta``.
PROFILE_RATES_HZ: dict[str, float] = {
    "metamotion": 100.0,
    "polar-verity": 52.0,
    "witmotion": 100.0,
    "movesense": 104.0,
    "thingy52": 100.0,
    "coach-imu": 100.0,
}


@dataclass(frozen=True)
class SimDevice:
    """A simulated device for a role: its profile, and the address and name it advertises."""

    role: str
    profile: str
    address: str
    name: str


def simulated_world(
    roles: Mapping[str, str],
    motion_blocks: Mapping[str, SampleBlock],
    *,
    time_scale: float = 1.0,
    seed: int = 0,
    faults: Mapping[str, Any] | None = None,
) -> tuple[SimWorld, list[SimDevice]]:
    """A simulated world with one device per role (``role -> profile``; a profile may repeat) whose
    sensors measure ``motion_blocks`` (per role, from ``simulate_motion``) from session ``t = 0`` on.

    Device clocks, radios and batteries are drawn as :func:`simulators.ble.world.default_world` draws
    them (drift within ±100 ppm, random timestamp offsets, the profile's usual connection interval).
    ``faults`` maps a role to its :class:`simulators.ble.device.FaultPlan` (times in world seconds).
    """
    from simulators.ble.firmware import FIRMWARES
    from simulators.ble.motion import SessionMotion
    from simulators.ble.radio import RadioModel
    from simulators.ble.world import DEFAULT_DEVICES, DEFAULT_INTERVALS_S, SimWorld

    world = SimWorld(time_scale, SessionMotion(dict(motion_blocks)))
    rng = np.random.default_rng(seed)
    devices = []
    for i, (role, profile) in enumerate(roles.items()):
        if profile not in FIRMWARES:
            raise ConfigError(f"no simulated device for profile {profile!r} (known: {', '.join(FIRMWARES)})")
        base_address, base_name = DEFAULT_DEVICES[profile]
        address = base_address[:-2] + f"{0x10 + i:02X}"
        name = (
            f"{base_name}-{role}" if profile != "metamotion" else base_name
        )  # MetaWear advertises its model
        plan = (faults or {}).get(role)
        radio = RadioModel(
            interval_s=DEFAULT_INTERVALS_S[profile],
            min_latency_s=float(rng.uniform(0.003, 0.008)),
            drop_rate=plan.drop_rate if plan else 0.0,
            stall_every_s=plan.stall_every_s if plan else 0.0,
            stall_s=plan.stall_s if plan else 0.5,
        )
        world.add(
            FIRMWARES[profile](
                world,
                address,
                name,
                role=role,
                seed=seed * 100 + i,
                drift=float(rng.uniform(-1e-4, 1e-4)),
                time_offset_s=float(rng.uniform(0, 1000.0)),
                radio=radio,
                faults=plan,
                battery_pct=int(rng.integers(40, 100)),
                rssi_dbm=-48 - 6 * i,
            )
        )
        devices.append(SimDevice(role, profile, address, name))
    return world, devices


class HubSource:
    """A :class:`~coach.session.sources.SampleSource` over the drivers hub.

    Args:
        devices: ``(role, device address or name, profile or None)`` per sensor.
        backend: ``"bleak"`` (real radios) or ``"simulated"`` (then ``world`` is required).
        world: the simulated world (see :func:`simulated_world`).
        connect_timeout_s: how long to wait for every sensor's link (wall seconds).
        arrival_of: for measurements only (benchmarks/bench_live.py): given a block as the hub emits
            it, the hub-clock time at which the notification that carried each sample entered the
            driver, or ``None``; blocks then come as :class:`Notified` with those times.
    """

    def __init__(
        self,
        devices: Sequence[tuple[str, str, str | None]],
        backend: Literal["simulated", "bleak"] = "bleak",
        *,
        world: SimWorld | None = None,
        connect_timeout_s: float = 60.0,
        queue_size: int = 10_000,
        arrival_of: Callable[[SampleBlock], FloatArray | None] | None = None,
    ) -> None:
        if backend == "simulated" and world is None:
            raise ConfigError("the simulated backend needs a simulated world")
        self.devices = list(devices)
        self.backend = backend
        self.world = world
        self.connect_timeout_s = connect_timeout_s
        self.queue_size = queue_size
        self.arrival_of = arrival_of
        self.sensors: dict[str, dict[str, Any]] = {
            role: {"rate_hz": PROFILE_RATES_HZ.get(profile or ""), "device": profile or "unknown"}
            for role, _, profile in self.devices
        }
        self.stream: SessionStream | None = None
        self._offset_s = 0.0
        self._pending: list[SourceItem] = []
        self.dropped_before_start = 0

    async def start(self, clock: SessionClock) -> None:
        """Open the hub, wait for every link, and put ``t = 0`` (of ``clock`` too) at that moment."""
        from drivers.hub import DeviceSpec, open_session_stream

        specs = [DeviceSpec(role, device, profile) for role, device, profile in self.devices]
        self.stream = open_session_stream(
            specs, self.backend, time_scale=clock.speed, world=self.world, battery_interval_s=60.0
        )
        await self.stream.start()
        up: set[str] = set()
        roles = {role for role, _, _ in self.devices}
        links: dict[str, LinkStatus] = {}
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                while up != roles:
                    item = await self.stream.__anext__()
                    if isinstance(item, LinkStatus):
                        links[item.role] = item
                        (up.add if item.link == "up" else up.discard)(item.role)
                    elif isinstance(item, SampleBlock):
                        self.dropped_before_start += len(item)
        except TimeoutError:
            missing = ", ".join(sorted(roles - up))
            await self.close()
            raise ConfigError(
                f"no link to the {missing} sensor within {self.connect_timeout_s:g} s"
            ) from None
        self._offset_s = self.stream.now()
        clock.start(at_monotonic=time.monotonic())
        if self.world is not None:
            motion = self.world.motion
            start_at = getattr(motion, "start_at", None)
            if start_at is not None:
                start_at(self.world.now())  # the simulated person starts following the prompts now
        self._pending = [
            LinkStatus(r, "up", 0.0, link.battery_pct, address=link.address)
            for r, link in sorted(links.items())
            if link.up
        ]

    def _convert(self, item: object) -> SourceItem | None:
        if isinstance(item, SampleBlock):
            arrivals = self.arrival_of(item) if self.arrival_of is not None else None
            t = item.t_s - self._offset_s
            keep = int(np.searchsorted(t, 0.0, side="left"))
            if keep >= len(item):
                return None
            block = SampleBlock(
                item.role,
                t[keep:],
                item.acc_mps2[keep:],
                item.gyr_rps[keep:],
                None if item.mag_ut is None else item.mag_ut[keep:],
                None if item.pressure_pa is None else item.pressure_pa[keep:],
            )
            if arrivals is None or self.stream is None:
                return block
            clock = self.stream.clock
            return Notified(block, clock.t0_monotonic + arrivals[keep:] / clock.speed)
        if isinstance(item, LinkStatus):
            return dataclasses.replace(item, t_s=max(0.0, item.t_s - self._offset_s))
        return None  # SampleGap: the pipeline sees the gap in the sample times

    async def items(self) -> AsyncIterator[SourceItem]:
        assert self.stream is not None, "start() first"
        for pending in self._pending:
            yield pending
        self._pending = []
        async for item in self.stream:
            converted = self._convert(item)
            if converted is not None:
                yield converted

    async def close(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            with contextlib.suppress(Exception):
                await stream.aclose()
