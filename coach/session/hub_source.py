"""Live-session samples from the BLE drivers hub (``drivers.hub``), over an injected bleak backend: the
platform's (real devices) or a simulated world's (built by the ``--simulated`` composition root,
:func:`coach.session.runner.simulated_source`; this module never builds one).

:class:`HubSource` opens the hub, waits until every configured sensor's link is up (devices are found
and connected before the session clock starts: calibration cannot begin without them), and makes
that moment ``t = 0``: sample and link times are shifted onto the session clock and anything older is
dropped. It reports what the hub sees: sample blocks, and link changes with battery levels.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from coach.clock import SessionClock
from coach.errors import ConfigError
from coach.samples import LinkStatus, SampleBlock
from coach.session.sources import SourceItem

if TYPE_CHECKING:
    from drivers.connection import Backend
    from drivers.hub import SessionStream

#: Nominal sample rate of each profile's start-stream settings (Hz), for the trace ``meta``.
PROFILE_RATES_HZ: dict[str, float] = {
    "metamotion": 100.0,
    "polar-verity": 52.0,
    "witmotion": 100.0,
    "movesense": 104.0,
    "thingy52": 100.0,
    "coach-imu": 100.0,
}


class HubSource:
    """A :class:`~coach.session.sources.SampleSource` over the drivers hub.

    Args:
        devices: ``(role, device address or name, profile or None)`` per sensor.
        backend: the bleak backend classes (``None``: the platform's, real radios).
        connect_timeout_s: how long to wait for every sensor's link (wall seconds).
        on_clock_start: called when ``t = 0`` is set (every link is up), e.g. to start what the sensors
            measure in a simulation.
    """

    def __init__(
        self,
        devices: Sequence[tuple[str, str, str | None]],
        backend: Backend | None = None,
        *,
        connect_timeout_s: float = 60.0,
        queue_size: int = 10_000,
        on_clock_start: Callable[[], None] | None = None,
    ) -> None:
        self.devices = list(devices)
        self.backend = backend
        self.connect_timeout_s = connect_timeout_s
        self.queue_size = queue_size
        self.on_clock_start = on_clock_start
        self.sensors: dict[str, dict[str, Any]] = {
            role: {"rate_hz": PROFILE_RATES_HZ.get(profile or ""), "device": profile or "unknown"}
            for role, _, profile in self.devices
        }
        self.stream: SessionStream | None = None
        self._offset_s = 0.0
        self._pending: list[SourceItem] = []
        self.dropped_before_start = 0
        self._dropped: dict[str, int] = {}  # what the hub had dropped when it was closed

    async def start(self, clock: SessionClock) -> None:
        """Open the hub, wait for every link, and put ``t = 0`` (of ``clock`` too) at that moment."""
        from drivers.hub import DeviceSpec, open_session_stream

        specs = [DeviceSpec(role, device, profile) for role, device, profile in self.devices]
        self.stream = open_session_stream(specs, self.backend, speed=clock.speed, battery_interval_s=60.0)
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
                        (up.add if item.up else up.discard)(item.role)
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
        if self.on_clock_start is not None:
            self.on_clock_start()
        self._pending = [
            LinkStatus(r, "up", 0.0, link.battery_pct, address=link.address)
            for r, link in sorted(links.items())
            if link.up
        ]

    def _convert(self, item: object) -> SourceItem | None:
        if isinstance(item, SampleBlock):
            t = item.t_s - self._offset_s
            keep = int(np.searchsorted(t, 0.0, side="left"))
            if keep >= len(item):
                return None
            return SampleBlock(
                item.role,
                t[keep:],
                item.acc_mps2[keep:],
                item.gyr_rps[keep:],
                None if item.mag_ut is None else item.mag_ut[keep:],
                None if item.pressure_pa is None else item.pressure_pa[keep:],
            )
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

    def dropped(self) -> dict[str, int]:
        return self._dropped if self.stream is None else self.stream.dropped()

    async def close(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            with contextlib.suppress(Exception):
                await stream.aclose()
            self._dropped = stream.dropped()
