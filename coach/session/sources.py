"""What a live session reads: sample blocks and link-status items on the session clock.

A source is an async iterator of :class:`~coach.samples.SampleBlock` (one role's samples, trace
seconds) and :class:`LinkStatus` items (a sensor's link went up or down; its battery). The drivers hub
provides one for real or simulated BLE devices; :class:`PacedSamples` plays samples it is given (a
simulated session, a recorded trace) at the pace of a :class:`SessionClock`, in notification-sized
blocks, as a device would deliver them.

Times: ``t = 0`` is the start of calibration. A :class:`SessionClock` runs ``speed`` times faster than
the wall clock (``coach demo`` accelerates a whole session); ``now_s()`` is in trace seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from coach.clock import SessionClock
from coach.samples import LinkStatus, SampleBlock

SourceItem = SampleBlock | LinkStatus


class SampleSource(Protocol):
    """What :class:`~coach.session.flow.LiveSession` reads from."""

    @property
    def sensors(self) -> Mapping[str, Mapping[str, Any]]:
        """Per role: ``{"rate_hz": ..., "device": ...}`` for the trace ``meta``."""
        ...

    async def start(self, clock: SessionClock) -> None:
        """Begin delivering: sample times from now on are on ``clock`` (t = 0 at its start)."""

    def items(self) -> AsyncIterator[SourceItem]:
        """Blocks and link changes in arrival order; ends when the source has no more data."""
        ...

    async def close(self) -> None: ...

    def dropped(self) -> dict[str, int]:
        """Per role, notifications (blocks) dropped because this computer did not read them in time;
        roles with none are left out."""
        ...


@dataclass
class _Cursor:
    block: SampleBlock
    next_index: int = 0
    up: bool = False
    battery_pct: float | None = None


@dataclass
class PacedSamples:
    """Deliver pre-computed samples at the pace of the clock: every ``notify_wall_s`` of wall time,
    each role's samples that are due (2 at 100 Hz in real time; more on an accelerated clock).

    A pause in a role's samples longer than ``link_gap_s`` is reported as that sensor's link going
    down (and up again when samples return): that is what a disconnection looks like in the samples
    (a simulated session's transport faults), standing in for the link events the BLE drivers report.
    """

    blocks: Mapping[str, SampleBlock]
    sensors: Mapping[str, Mapping[str, Any]]
    notify_wall_s: float = 0.02
    link_gap_s: float = 0.5
    battery_pct: float | None = 87.0
    queue_size: int = 10_000
    dropped_blocks: int = 0
    dropped_by_role: dict[str, int] = field(default_factory=dict)
    _queue: asyncio.Queue[SourceItem | None] = field(default_factory=lambda: asyncio.Queue(10_000))
    _task: asyncio.Task[None] | None = None

    async def start(self, clock: SessionClock) -> None:
        self._queue = asyncio.Queue(self.queue_size)
        self._task = asyncio.create_task(self._run(clock), name="paced-samples")

    def _put(self, item: SourceItem | None) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped_blocks += 1  # bounded, like a notification queue: count, never block
            if item is not None:
                self.dropped_by_role[item.role] = self.dropped_by_role.get(item.role, 0) + 1

    def dropped(self) -> dict[str, int]:
        return dict(self.dropped_by_role)

    async def _run(self, clock: SessionClock) -> None:
        cursors = {role: _Cursor(block, battery_pct=self.battery_pct) for role, block in self.blocks.items()}
        start = time.monotonic()
        k = 0
        try:
            while any(c.next_index < len(c.block) for c in cursors.values()):
                k += 1
                delay = start + k * self.notify_wall_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = clock.now_s()
                for role, c in cursors.items():
                    n = len(c.block)
                    if c.next_index >= n:
                        continue
                    stop = int(np.searchsorted(c.block.t_s, now, side="right"))
                    if stop > c.next_index:
                        self._deliver(role, c, stop)
                    elif (
                        c.up
                        and c.next_index > 0
                        and now - float(c.block.t_s[c.next_index - 1]) > self.link_gap_s
                    ):
                        # Down where the samples stopped (plus the gap that makes it a loss), not when
                        # this loop got to see it: a busy machine notices late, the link went no later.
                        c.up = False
                        t_down = float(c.block.t_s[c.next_index - 1]) + self.link_gap_s
                        self._put(LinkStatus(role, "down", t_down, c.battery_pct, "no samples"))
        finally:
            if self._queue.full():  # the end must get through, or items() never ends
                await self._queue.put(None)
            else:
                self._put(None)

    def _deliver(self, role: str, c: _Cursor, stop: int) -> None:
        """Samples up to ``stop``. A pause longer than ``link_gap_s`` among them (they piled up: this
        process was held up, or a short pause fell between two deliveries) is still a lost link,
        reported where it was, as a driver reports it whatever the load."""
        t = c.block.t_s
        lo = max(c.next_index - 1, 0)
        pauses = {int(i) for i in lo + 1 + np.flatnonzero(np.diff(t[lo:stop]) > self.link_gap_s)}
        bounds = [c.next_index, *sorted(i for i in pauses if i > c.next_index), stop]
        for a, b in itertools.pairwise(bounds):
            if a in pauses and c.up:
                c.up = False
                t_down = float(t[a - 1]) + self.link_gap_s
                self._put(LinkStatus(role, "down", t_down, c.battery_pct, "no samples"))
            if not c.up:
                c.up = True
                self._put(LinkStatus(role, "up", float(t[a]), c.battery_pct))
            self._put(c.block.slice(a, b))
        c.next_index = stop

    async def items(self) -> AsyncIterator[SourceItem]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
