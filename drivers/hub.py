"""The hub: every worn device on one session clock, as one async iterator for the live session.

    async with open_session_stream(devices, backend, speed=5.0) as stream:
        async for item in stream:
            if isinstance(item, SampleBlock): ...     # one role's samples, session clock, SI, sensor frame
            elif isinstance(item, SampleGap): ...     # samples of a role are missing between two times
            elif isinstance(item, LinkStatus): ...    # a link went up/down, or a battery level was read

``devices`` are :class:`~drivers.connection.DeviceSpec` s (role, address or name, optional profile and
settings). ``backend`` is injected: ``None`` (or ``Backend()``) is the platform's bleak backend (BlueZ on
Linux); a simulated world's ``world.backend()`` reaches simulated devices (the drivers never build
one: the ``--simulated`` composition roots do, ``simulators.ble.world``). Session time 0 is when the
stream opens; ``stream.now()`` reads it.

Per role, sample times never decrease. Blocks of different roles come as they are ready, so a consumer
that needs all roles up to a time waits for each role's latest time (``stream.latest_t_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

from coach.clock import SessionClock
from coach.errors import ConfigError
from coach.samples import ROLES, LinkStatus, SampleBlock
from drivers.connection import Backend, DeviceLink, DeviceSpec, Found, HubItem, scan
from drivers.stream import SampleGap

__all__ = [
    "DeviceSpec",
    "HubItem",
    "LinkStatus",
    "SampleGap",
    "SessionStream",
    "open_session_stream",
]


class SessionStream:
    """The running hub: an async iterator of :data:`~drivers.connection.HubItem` (see module doc)."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        backend: Backend,
        clock: SessionClock,
        *,
        queue_size: int = 10000,
        link_options: dict[str, Any] | None = None,
    ) -> None:
        roles = [d.role for d in devices]
        if not devices:
            raise ConfigError("a session needs at least one device")
        if len(set(roles)) != len(roles):
            raise ConfigError(f"each role takes one device, got {roles}")
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise ConfigError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
        self.devices = list(devices)
        self.backend = backend
        self.clock = clock
        self._queue: asyncio.Queue[HubItem] = asyncio.Queue(queue_size)
        self._scan_lock = asyncio.Lock()
        self._links: list[DeviceLink] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._link_options = link_options or {}
        self.dropped_items = 0
        #: Items dropped per role because the consumer did not read them in time.
        self.dropped_by_role: dict[str, int] = {}
        #: Latest sample time per role (session seconds).
        self.latest_t_s: dict[str, float] = {}

    def now(self) -> float:
        """The session clock (seconds since the stream opened)."""
        return self.clock.now_s()

    @property
    def links(self) -> list[DeviceLink]:
        return list(self._links)

    def dropped(self) -> dict[str, int]:
        """Per role, notifications and items dropped because this computer did not read them in
        time (each device's notification queue, then the hub's own); roles with none are left out."""
        out = dict(self.dropped_by_role)
        for link in self._links:
            out[link.spec.role] = out.get(link.spec.role, 0) + link.dropped_notifications
        return {role: n for role, n in out.items() if n}

    def _emit(self, item: HubItem) -> None:
        if isinstance(item, SampleBlock) and len(item):
            self.latest_t_s[item.role] = float(item.t_s[-1])
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:  # the consumer stalls: drop rather than block the radio side
            self.dropped_items += 1
            role = getattr(item, "role", "")
            self.dropped_by_role[role] = self.dropped_by_role.get(role, 0) + 1

    async def start(self, scan_s: float = 3.0) -> None:
        """One scan for all devices (a device not seen is searched again by its own link), then a link
        task per device."""
        found: dict[str, Found] = {}
        async with self._scan_lock:
            for f in await scan(self.backend, self.clock, scan_s):
                found[f.device.address.lower()] = f
                if f.name:
                    found.setdefault(f.name.lower(), f)
        for spec in self.devices:
            link = DeviceLink(
                spec,
                self.backend,
                self.clock,
                self._emit,
                self._scan_lock,
                found.get(spec.device.lower()),
                **self._link_options,
            )
            self._links.append(link)
            self._tasks.append(asyncio.get_running_loop().create_task(link.run()))

    async def aclose(self) -> None:
        """Stop every device (stop-stream writes, disconnect) and end the iteration."""
        for link in self._links:
            await link.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks = []

    async def __aenter__(self) -> SessionStream:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[HubItem]:
        return self

    async def __anext__(self) -> HubItem:
        if not self._tasks and self._queue.empty():
            raise StopAsyncIteration
        return await self._queue.get()

    def get_nowait(self) -> HubItem | None:
        """The next item if one is ready (for consumers that tick on their own clock)."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None


def open_session_stream(
    devices: Sequence[DeviceSpec],
    backend: Backend | None = None,
    *,
    speed: float = 1.0,
    **link_options: Any,
) -> SessionStream:
    """The hub for ``devices``; use it as ``async with open_session_stream(...) as stream``.

    Args:
        devices: which devices for which roles.
        backend: the bleak backend classes (``None``: the platform's, real radios).
        speed: session seconds per wall second; a simulated world may run faster than real time
            (its ``time_scale``); real radios need 1.
        **link_options: passed to each :class:`~drivers.connection.DeviceLink` (``scan_timeout_s``,
            ``battery_interval_s``, ``poll_interval_s``, ``max_backoff_s``).
    """
    backend = backend or Backend()
    if backend.scanner is None and backend.client is None and speed != 1.0:
        raise ConfigError("a clock speed other than 1 needs a simulated world's backend")
    return SessionStream(devices, backend, SessionClock(speed), link_options=link_options)
