"""Samples into a live session: read from the source, recorded exactly as the trace will give them
back, held for the guided calibration until the pipeline exists, then fed to it.

The pipeline decides on sample time only: it is never told that data it has not been fed is
missing, except for a sensor that is *silent* (:mod:`coach.session.pacing`: its link is reported down,
or no sample of it came for a while of healthy loop time, never because this process was busy). For
such a sensor :meth:`Intake.tick` advances the pipeline's clock to where the other sensors' samples
are, and records that decision (``<session>.gaps.jsonl``) so a replay takes the same one. Samples of a
silent sensor that come after the pipeline has decided their time are left out of the trace as well
as the pipeline (the trace holds exactly what the pipeline took).

Items that piled up while the session was busy are processed together: blocks of one role are fed as
one (fewer, larger pipeline calls), link changes keep their place among them.

Steps on sample time. A sensor's notification that cannot let the pipeline decide anything (another
sensor's samples are not that far yet: :meth:`SessionPipeline.next_point_needs_s`) is recorded at once
but held, and fed together with the others' in one pipeline call when the last sensor's samples reach
the next decision point (or the last of ``step_points`` points): one step per decision instead of
one call per notification. It changes
nothing the pipeline decides (it decides on sample time only, whatever the blocks), only how often it
is called; held samples are fed before anything else touches the pipeline's clock (a silent sensor's
gap, a command, the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Callable
from typing import Final

import numpy as np

from coach.events import Event
from coach.pipeline import SessionPipeline
from coach.samples import LinkStatus, SampleBlock
from coach.session.guided_calibration import GuidedCalibration
from coach.session.pacing import StallWatch
from coach.session.recorder import SessionRecorder, as_recorded
from coach.session.sources import SampleSource, SourceItem

#: Event-loop turns between a split step's two halves: the event sink's spool wakes the publisher's
#: sender, which starts a publish task, which hands the message to paho's socket (one turn each).
SPLIT_YIELDS: Final = 4


class Intake:
    """Reads the source and feeds the recorder, the guided calibration and the pipeline.

    Args:
        on_link: called with every link change, in its place among the samples.
        on_events: called with the events each pipeline call returned.
        feed_interval_s: feed the pipeline at most this often (wall seconds; 0: as items come).
        step_points: decide in steps of at most this many decision points, ending where events are
            due (sample time; 1: every point as soon as every sensor's samples for it are in;
            :meth:`~coach.pipeline.SessionPipeline.next_point_needs_s`).
        split_steps: where the stroke detector runs at a step's last point, hand on that point's
            posture and state events first, and the rest (the detector) after :data:`SPLIT_YIELDS`
            turns of the event loop, in which the publisher sends them
            (:meth:`~coach.pipeline.SessionPipeline.complete`).
        watch: tells a sensor's silence from this process's own stalls (:mod:`coach.session.pacing`).
    """

    def __init__(
        self,
        source: SampleSource,
        recorder: SessionRecorder,
        on_link: Callable[[LinkStatus], None],
        on_events: Callable[[list[Event]], None],
        *,
        feed_interval_s: float,
        watch: StallWatch,
        step_points: int = 1,
        split_steps: bool = False,
    ) -> None:
        self.source = source
        self.recorder = recorder
        self.on_link = on_link
        self.on_events = on_events
        self.feed_interval_s = feed_interval_s
        if step_points < 1:
            raise ValueError(f"step_points must be at least 1, not {step_points!r}")
        self.step_points = step_points
        self.split_steps = split_steps
        self.watch = watch
        self.guided: GuidedCalibration | None = None
        self.pipeline: SessionPipeline | None = None
        self._buffered: list[SampleBlock] = []
        self._held: list[SampleBlock] = []  # recorded, waiting for the step's last sensor (see above)
        #: Pipeline calls made (one per step; a measure for benchmarks).
        self.pipeline_calls = 0
        self._fed_until: dict[str, float] = {}
        self._latest: dict[str, float] = {}  # newest sample seen per role (fed or held)
        self._horizon = -math.inf  # the pipeline's clock, as far as this session advanced it
        #: Samples of a silent sensor that came after the pipeline had decided their time (dropped).
        self.late_samples = 0
        #: The session has ended: nothing more is recorded or fed (the trace holds what was fed).
        self.closed = False
        #: Near the end, a backlog (samples that piled up while the process was busy) goes in in pieces
        #: of at most this much sample time, all sensors in time order, so the session ends right where
        #: the pipeline says the time is up, not a backlog later (elsewhere: blocks as they come, fewer
        #: pipeline calls).
        self.piece_s = 0.1
        #: Whether samples up to a time may reach the end (set by the session): asked of every batch,
        #: since one burst can run from well before the end to past it.
        self.near_end: Callable[[float], bool] = lambda t_s: False

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
                if self.pipeline is not None and self.pipeline.deferred:
                    # The step's posture events are with the event sink: let the publisher send them
                    # before the stroke detector takes the loop.
                    for _ in range(SPLIT_YIELDS):
                        await asyncio.sleep(0)
                    self.complete_step()
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
            joined = [
                blocks[0] if len(blocks) == 1 else SampleBlock.concat(blocks) for blocks in held.values()
            ]
            held.clear()
            if self.near_end(max((float(b.t_s[-1]) for b in joined if len(b)), default=-math.inf)):
                self.feed_held()  # near the end: every block in its piece, in time order
                for piece in _pieces(joined, self.piece_s):
                    if self.closed:
                        return
                    self._on_block(piece)
                    self.feed_held()
                return
            for block in joined:
                if self.closed:
                    return
                self._on_block(block)
            if not self.closed and self._step_complete():
                self.feed_held(split=self.split_steps)

        for item in items:
            if self.closed:
                return
            if isinstance(item, LinkStatus):
                flush()
                self.watch.link(item.role, item.up)
                self.on_link(item)
                continue
            if len(item):
                self.watch.heard(item.role)
            held.setdefault(item.role, []).append(item)
        flush()

    def _on_block(self, block: SampleBlock) -> None:
        if not len(block):
            return
        block = as_recorded(block)  # what a replay of the trace will read, digit for digit
        block = self._not_late(block)
        if not len(block):
            return
        self.recorder.add(block)
        self._latest[block.role] = max(self._latest.get(block.role, -math.inf), float(block.t_s[-1]))
        if self.pipeline is None:
            self._buffered.append(block)
            if self.guided is not None:
                self.guided.feed(block)
            return
        self._held.append(block)

    def _step_complete(self) -> bool:
        """Whether the held samples let the pipeline decide another point (or it cannot say)."""
        if not self._held or self.pipeline is None:
            return bool(self._held)
        needs = self.pipeline.next_point_needs_s(self.step_points)
        if needs is None:
            return True
        for role, need in needs.items():
            if self.watch.silent(role):
                continue  # its gap comes from the clock (tick): the others' samples decide
            if self._latest.get(role, -math.inf) < need:
                return False
        return True

    def feed_held(self, split: bool = False) -> None:
        """Feed the pipeline every held (already recorded) block in one call. Also at the end, after
        ``closed``: the trace holds them, so the pipeline must have them too. ``split``: leave the
        rest of a one-point step for :meth:`complete_step` (see ``split_steps``)."""
        pipeline = self.pipeline
        if not self._held or pipeline is None:
            return
        held, self._held = self._held, []
        if not pipeline.finished:
            self.pipeline_calls += 1
            self.on_events(pipeline.feed_many(held, split=split))
        for block in held:
            role = block.role
            self._fed_until[role] = max(self._fed_until.get(role, -math.inf), float(block.t_s[-1]))

    def complete_step(self) -> None:
        """The rest of a split step, if one waits (every other pipeline call also completes it first)."""
        if self.pipeline is not None and self.pipeline.deferred:
            self.on_events(self.pipeline.complete())

    def start_pipeline(self, pipeline: SessionPipeline, feed: bool) -> None:
        """From now on samples go to ``pipeline``; those held so far first (unless not ``feed``)."""
        self.pipeline = pipeline
        buffered, self._buffered = self._buffered, []
        for block in buffered if feed else []:
            self.on_events(pipeline.feed(block))

    @property
    def has_buffered(self) -> bool:
        return bool(self._buffered)

    def _not_late(self, block: SampleBlock) -> SampleBlock:
        """Without the samples the pipeline already decided as a silent sensor's gap."""
        stream = None if self.pipeline is None else self.pipeline.roles.get(block.role)
        if stream is None:
            return block
        frontier = stream.resampler.frontier_s
        if not frontier > stream.resampler.last_sample_s or not float(block.t_s[0]) < frontier:
            return block
        keep = np.flatnonzero(block.t_s >= frontier)  # a sample at the frontier is not late
        self.late_samples += len(block) - len(keep)
        return block.slice(int(keep[0]), len(block)) if len(keep) else block.slice(0, 0)

    def sample_time_s(self, roles: list[str] | None = None, clock_s: float = 0.0) -> float:
        """How far the samples are in: the oldest newest-sample among sensors not silent (every sensor
        from ``roles``), never ahead of the clock (``clock_s``); with every sensor silent (or none heard
        yet), the clock."""
        roles = list(self._latest) if roles is None else roles
        heard = [self._latest[r] for r in roles if r in self._latest and not self.watch.silent(r)]
        return min([*heard, clock_s]) if heard else clock_s

    def tick(self, now_s: float, speed: float) -> None:
        """The clock ticks (wall time ``now_s``): measure the loop, and when a sensor is silent advance
        the pipeline's clock to where the other sensors' samples are, recording the decision."""
        self.watch.tick(now_s)
        pipeline = self.pipeline
        if pipeline is None or pipeline.finished:
            return
        if self._held and (self._step_complete() or self._held_span_s() > 1.0):
            self.feed_held()  # a sensor fell silent (it no longer holds the step), or a safety net
        roles = sorted(set(self._fed_until) | set(pipeline.roles) | {b.role for b in self._held})
        silent = [r for r in roles if self.watch.silent(r)]
        if not silent:
            return
        self.feed_held()  # before the clock moves: the gap decision comes after every held sample
        if pipeline.finished or not self._fed_until:
            return
        for role in silent:
            self.recorder.link(role, False)  # it no longer holds the others' rows back
        live = [self._fed_until[r] for r in roles if r not in silent and r in self._fed_until]
        if live:
            horizon = min(live)
        else:  # every sensor silent: healthy loop time since the newest sample
            quiet = min(self.watch.quiet_s.get(r, 0.0) for r in roles)
            horizon = max(self._fed_until.values()) + quiet * speed
        if horizon <= self._horizon:
            return
        self._horizon = horizon
        self.recorder.gap_decision(horizon, {r: self.watch.why(r) for r in silent})
        self.on_events(pipeline.advance(horizon))

    def _held_span_s(self) -> float:
        return float(self._held[-1].t_s[-1] - self._held[0].t_s[0]) if self._held else 0.0


def _pieces(blocks: list[SampleBlock], piece_s: float | None) -> list[SampleBlock]:
    """``blocks`` (one per role) cut at multiples of ``piece_s`` of sample time, in time order across
    roles (a block within one piece stays whole: the usual notification); as they are with ``None``."""
    if piece_s is None:
        return blocks
    out: list[tuple[int, int, SampleBlock]] = []
    for order, block in enumerate(blocks):
        if not len(block):
            continue
        k = np.floor(np.asarray(block.t_s) / piece_s).astype(np.int64)
        cuts = np.flatnonzero(np.diff(k)) + 1
        bounds = [0, *cuts.tolist(), len(block)]
        for a, b in itertools.pairwise(bounds):
            out.append((int(k[a]), order, block if (a, b) == (0, len(block)) else block.slice(a, b)))
    out.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in out]
