"""The simulated radio neighbourhood: devices, the world clock (optionally faster than real time), and the
bleak backend classes bound to it. This is where simulated worlds are assembled; production code never
builds one (only the ``--simulated`` composition roots: ``coach.session.runner``, ``coach.cli``).

    world = default_world(time_scale=5.0, faults={"witmotion": FaultPlan(drop_rate=0.01)})
    async with BleakScanner(backend=world.scanner_backend) as scanner: ...
    client = BleakClient(ble_device, backend=world.client_backend)
    stream = drivers.hub.open_session_stream(specs, world.backend(), speed=world.time_scale)

:func:`simulated_world` builds one device per session role whose sensors measure a simulated session
(``simulators.simulate_motion``); :func:`start_person` makes the simulated person start following the
session's prompts.

World time ``t`` (seconds) runs ``time_scale`` times faster than ``time.monotonic()`` from the world's
creation. Device clocks, advertising, connection events and faults are all in world time; a client
stamping arrivals with ``time.monotonic()`` converts with the same scale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from coach.errors import ConfigError
from coach.samples import FloatArray, SampleBlock
from drivers.connection import Backend
from simulators.ble.backend import SimClientBackend, SimScannerBackend
from simulators.ble.device import FaultPlan, SimPeripheral
from simulators.ble.firmware import FIRMWARES
from simulators.ble.motion import MotionSource, SessionMotion, SyntheticMotion
from simulators.ble.radio import RadioModel

#: The default simulated devices: one of every profile (address, advertised name).
DEFAULT_DEVICES: dict[str, tuple[str, str]] = {
    "metamotion": ("C7:1E:2A:4D:00:01", "MetaWear"),
    "polar-verity": ("A0:9E:1A:7B:00:02", "Polar Sense 0A1B2C3D"),
    "witmotion": ("E1:0F:5A:33:00:03", "WT901BLE68"),
    "movesense": ("0C:8C:DC:21:00:04", "Movesense 212330000104"),
    "thingy52": ("D8:2C:4A:90:00:05", "Thingy"),
    "coach-imu": ("C0:AC:1A:00:00:06", "coach-imu-0006"),
}

#: Connection intervals the central picks in the simulation (BlueZ defaults are 30–50 ms; devices that
#: ask for a short interval, like MetaMotion, get 7.5 ms).
DEFAULT_INTERVALS_S: dict[str, float] = {
    "metamotion": 0.0075,
    "polar-verity": 0.030,
    "witmotion": 0.030,
    "movesense": 0.015,
    "thingy52": 0.0075,
    "coach-imu": 0.015,
}


class SimWorld:
    """Simulated devices on one clock, and the bleak backend classes that reach them."""

    def __init__(self, time_scale: float = 1.0, motion: MotionSource | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.t0_host = time.monotonic()
        self.motion: MotionSource = motion or SyntheticMotion()
        self.devices: dict[str, SimPeripheral] = {}
        #: Called with a device's role and the true times (world seconds) of the samples a notification
        #: carries, just before it reaches the client: benchmarks time the coach from outside with it.
        self.on_delivery: Callable[[str, FloatArray], None] | None = None
        self.scans_started = 0
        world = self
        self.scanner_backend: type[SimScannerBackend] = type(
            "SimScannerBackend", (SimScannerBackend,), {"world": world}
        )
        self.client_backend: type[SimClientBackend] = type(
            "SimClientBackend", (SimClientBackend,), {"world": world}
        )

    def backend(self) -> Backend:
        """The bleak backend classes that reach this world's devices (for the drivers)."""
        return Backend(self.scanner_backend, self.client_backend)

    def now(self) -> float:
        """World time (s)."""
        return (time.monotonic() - self.t0_host) * self.time_scale

    def host_time(self, t_s: float) -> float:
        """``time.monotonic()`` value at world time ``t_s``."""
        return self.t0_host + t_s / self.time_scale

    def to_world(self, monotonic_s: float) -> float:
        return (monotonic_s - self.t0_host) * self.time_scale

    def add(self, device: SimPeripheral) -> SimPeripheral:
        self.devices[device.address] = device
        return device

    def device(self, key: str) -> SimPeripheral:
        """A device by address, name or profile."""
        for dev in self.devices.values():
            if key in (dev.address, dev.name, dev.profile) or key.upper() == dev.address:
                return dev
        raise KeyError(f"no simulated device {key!r}")

    def assign_role(self, key: str, role: str) -> None:
        """Which body segment a device is strapped to (which motion it measures)."""
        self.device(key).role = role


def default_world(
    time_scale: float = 1.0,
    *,
    motion: MotionSource | None = None,
    faults: dict[str, FaultPlan] | None = None,
    profiles: tuple[str, ...] | None = None,
    seed: int = 0,
    **device_kwargs: Any,
) -> SimWorld:
    """One simulated device of every profile (or of ``profiles``), each with its own clock: drift within
    ±100 ppm, a random sampling phase and timestamp offset, and the profile's usual connection interval.

    ``faults`` maps a profile name (or address) to its :class:`FaultPlan`.
    """
    world = SimWorld(time_scale, motion)
    rng = np.random.default_rng(seed)
    for i, (profile, (address, name)) in enumerate(DEFAULT_DEVICES.items()):
        if profiles is not None and profile not in profiles:
            continue
        plan = (faults or {}).get(profile) or (faults or {}).get(address) or FaultPlan()
        radio = RadioModel(
            interval_s=DEFAULT_INTERVALS_S[profile],
            min_latency_s=float(rng.uniform(0.003, 0.008)),
            drop_rate=plan.drop_rate,
            stall_every_s=plan.stall_every_s,
            stall_s=plan.stall_s,
        )
        world.add(
            FIRMWARES[profile](
                world,
                address,
                name,
                seed=seed * 100 + i,
                drift=float(rng.uniform(-1e-4, 1e-4)),
                time_offset_s=float(rng.uniform(0, 1000.0)),
                faults=plan,
                radio=radio,
                battery_pct=int(rng.integers(40, 100)),
                rssi_dbm=-48 - 6 * i,
                **device_kwargs,
            )
        )
    return world


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

    Device clocks, radios and batteries are drawn as :func:`default_world` draws them (drift within
    ±100 ppm, random timestamp offsets, the profile's usual connection interval). ``faults`` maps a role
    to its :class:`~simulators.ble.device.FaultPlan` (times in world seconds).
    """
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


def start_person(world: SimWorld) -> None:
    """The simulated person starts following the session's prompts now (session ``t = 0``), when the
    world's motion is a session that waits for its start."""
    start_at = getattr(world.motion, "start_at", None)
    if start_at is not None:
        start_at(world.now())
