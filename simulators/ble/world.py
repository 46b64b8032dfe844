"""The simulated radio neighbourhood: devices, the world clock (optionally faster than real time), and the
bleak backend classes bound to it.

    world = default_world(time_scale=5.0, faults={"witmotion": FaultPlan(drop_rate=0.01)})
    async with BleakScanner(backend=world.scanner_backend) as scanner: ...
    client = BleakClient(ble_device, backend=world.client_backend)

World time ``t`` (seconds) runs ``time_scale`` times faster than ``time.monotonic()`` from the world's
creation. Device clocks, advertising, connection events and faults are all in world time; a client
stamping arrivals with ``time.monotonic()`` converts with the same scale.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from simulators.ble.backend import SimClientBackend, SimScannerBackend
from simulators.ble.device import FaultPlan, SimPeripheral
from simulators.ble.firmware import FIRMWARES
from simulators.ble.motion import MotionSource, SyntheticMotion
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
        self.scans_started = 0
        world = self
        self.scanner_backend: type[SimScannerBackend] = type(
            "SimScannerBackend", (SimScannerBackend,), {"world": world}
        )
        self.client_backend: type[SimClientBackend] = type(
            "SimClientBackend", (SimClientBackend,), {"world": world}
        )

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
