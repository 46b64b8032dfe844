"""Samples into a live session: read from the source, recorded exactly as the trace will give them
back, held for the guided calibration until the pipeline exists, then fed to it; and the clock's word
on how far the samples are in (silent sensors become gaps only against it).

Items that piled up while the session was busy are processed together: blocks of one role are fed as
one (fewer, larger pipeline calls), link changes keep their place among them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable

from coach.events import Event
from coach.pipeline import SessionPipeline
from coach.samples import LinkStatus, SampleBlock
from coach.session.guided_calibration import GuidedCalibration
from coach.session.recorder import SessionRecorder, as_recorded
from coach.session.sources import SampleSource, SourceItem


class Intake:
    """Reads the source and feeds the recorder, the guided calibration and the pipeline.

    Args:
        on_link: called with every link change, in its place among the samples.
        on_events: called with the events each pipeline call returned.
        feed_interval_s: feed the pipeline at most this often (wall seconds; 0: as items come).
        advance_lag_s, gap_margin_s: see :meth:`advance`.
    """

    def __init__(
        self,
        source: SampleSource,
        recorder: SessionRecorder,
        on_link: Callable[[LinkStatus], None],
        on_events: Callable[[list[Event]], None],
        *,
        feed_interval_s: float,
        advance_lag_s: float,
        gap_margin_s: float,
    ) -> None:
        self.source = source
        self.recorder = recorder
        self.on_link = on_link
        self.on_events = on_events
        self.feed_interval_s = feed_interval_s
        self.advance_lag_s = advance_lag_s
        self.gap_margin_s = gap_margin_s
        self.guided: GuidedCalibration | None = None
        self.pipeline: SessionPipeline | None = None
        self._buffered: list[SampleBlock] = []
        self._fed_until: dict[str, float] = {}

    async def read(self, done: asyncio.Event, on_end: Callable[[], None]) -> None:
        """Take items as they come; process what has piled up in one go (larger blocks, fewer calls);
        ``on_end`` when the source has no more data."""
        inbox: list[SourceItem] = []
        wake = asyncio.Event()
        ended = False

        async def receive() -> None:
            nonlocal ended
            try:
                async for item in self.source.items():
                    inbox.append(item)
                    wake.set()
            finally:
                ended = True
                wake.set()

        receiver = asyncio.create_task(receive(), name="session-receiver")
        try:
            loop = asyncio.get_running_loop()
            last_feed = 0.0
            while not done.is_set():
                await wake.wait()
                wake.clear()
                if self.feed_interval_s > 0:
                    # Fewer, larger pipeline calls: each costs about the same whatever its size.
                    await asyncio.sleep(max(0.0, last_feed + self.feed_interval_s - loop.time()))
                    last_feed = loop.time()
                items, inbox[:] = list(inbox), []
                self.process(items)
                if ended and not inbox:
                    await asyncio.wait({receiver})
                    error = None if receiver.cancelled() else receiver.exception()
                    if error is not None:
                        raise error
                    on_end()
                    return
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver

    def process(self, items: list[SourceItem]) -> None:
        """Blocks of one role that arrived together are fed as one; link changes keep their place."""
        held: dict[str, list[SampleBlock]] = {}

        def flush() -> None:
            for blocks in held.values():
                self._on_block(blocks[0] if len(blocks) == 1 else SampleBlock.concat(blocks))
            held.clear()

        for item in items:
            if isinstance(item, LinkStatus):
                flush()
                self.on_link(item)
                continue
            held.setdefault(item.role, []).append(item)
        flush()

    def _on_block(self, block: SampleBlock) -> None:
        if not len(block):
            return
        block = as_recorded(block)  # what a replay of the trace will read, digit for digit
        self.recorder.add(block)
        if self.pipeline is None:
            self._buffered.append(block)
            if self.guided is not None:
                self.guided.feed(block)
            return
        if not self.pipeline.finished:
            self.on_events(self.pipeline.feed(block))
        self._fed_until[block.role] = max(self._fed_until.get(block.role, -math.inf), float(block.t_s[-1]))

    def start_pipeline(self, pipeline: SessionPipeline, feed: bool) -> None:
        """From now on samples go to ``pipeline``; those held so far first (unless not ``feed``)."""
        self.pipeline = pipeline
        buffered, self._buffered = self._buffered, []
        for block in buffered if feed else []:
            self.on_events(pipeline.feed(block))

    @property
    def has_buffered(self) -> bool:
        return bool(self._buffered)

    def advance(self, t_s: float, speed: float) -> None:
        """The clock reads ``t_s``: tell the pipeline that no sample older than ``advance_lag_s`` of wall
        time (in session seconds) will still arrive, and none earlier than ``gap_margin_s`` before the
        newest sample fed."""
        pipeline = self.pipeline
        if pipeline is None or pipeline.finished or not self._fed_until:
            return
        # Silent sensors become gaps only against the clock and against data already fed: when this
        # process falls behind (a busy machine), samples waiting in its queue are not late.
        freshest = max(self._fed_until.values())
        horizon = min(t_s - self.advance_lag_s * speed, freshest - self.gap_margin_s)
        self.on_events(pipeline.advance(horizon))
