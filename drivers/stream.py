"""One device's notifications -> SampleBlocks on the session clock (pure: no bleak, no asyncio).

:class:`DeviceStream` chains the profile's stream decoder, one sample clock per motion stream
(:mod:`drivers.clock`) and, for devices that send accelerometer and gyroscope in separate packets, a
pairing step that joins the two by time. Feed it ``(arrival time, characteristic, bytes)`` as they come;
``poll(now)`` returns what is ready: :class:`~coach.samples.SampleBlock` s and :class:`SampleGap` markers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from coach.errors import DecodeError
from coach.samples import FloatArray, SampleBlock
from drivers.base import DeviceProfile, Packet, StreamPlan, StreamTiming
from drivers.clock import ArrivalClock, DeviceTimeClock, EnvelopeFit, Gap, Timed


@dataclass(frozen=True, slots=True)
class SampleGap:
    """Samples of ``role`` are missing between ``t_before_s`` (last sample before, ``None`` at the
    start) and ``t_after_s`` (first sample after): ``missing`` of them (estimated where the device sends
    no counter), because packets were ``lost`` or the link was down (``reconnect``)."""

    role: str
    t_before_s: float | None
    t_after_s: float
    missing: int
    reason: str


@dataclass
class StreamStats:
    """Counters of one device stream (for logs, link status and tests)."""

    notifications: int = 0
    decode_errors: int = 0
    samples_out: int = 0
    samples_lost: int = 0
    unpaired_dropped: int = 0
    gaps: int = 0
    last_error: str | None = None


@dataclass
class _Half:
    """Timed samples of one of two streams waiting for their partner. ``key`` is what pairs them: the
    device time where the packets carry it (exact: one clock for both streams), else the session time."""

    key: deque[float] = field(default_factory=deque)
    t: deque[float] = field(default_factory=deque)
    v: deque[np.ndarray] = field(default_factory=deque)

    def pop(self) -> tuple[float, np.ndarray]:
        self.key.popleft()
        return self.t.popleft(), self.v.popleft()


class DeviceStream:
    """Decode, time and pair one device's notifications into SampleBlocks of ``role``.

    Args:
        role: the role the samples are for.
        profile: the device profile (its decoder is created here; ``plan`` defaults to its own).
        plan: the streams the device sends (as returned by the profile's ``start``).
        hold_s: how long arrival-timed packets are held to detect losses (see :class:`ArrivalClock`).
        pair_hold_s: how long a sample waits for its partner from the other stream before it is dropped.
    """

    def __init__(
        self,
        role: str,
        profile: DeviceProfile,
        plan: StreamPlan | None = None,
        hold_s: float = 0.3,
        pair_hold_s: float = 3.0,
    ) -> None:
        self.role = role
        self.profile = profile
        self.decoder = profile.decoder()
        self.hold_s = hold_s
        self.pair_hold_s = pair_hold_s
        self.stats = StreamStats()
        self._clocks: dict[str, DeviceTimeClock[Packet] | ArrivalClock[Packet]] = {}
        self._plan = plan or profile.plan()
        self._configure(self._plan)
        self._acc = _Half()
        self._gyr = _Half()
        self._gap: tuple[int, str] | None = None
        self._last_t: float | None = None

    @property
    def plan(self) -> StreamPlan:
        return self._plan

    def set_plan(self, plan: StreamPlan) -> None:
        """The device started with these streams (the start logic may have changed rate or chip)."""
        if plan != self._plan:
            self._plan = plan
            self._configure(plan)

    def _configure(self, plan: StreamPlan) -> None:
        # Device-timed streams share one device clock, hence one mapping onto the session clock.
        tolerance = min((t.rate_tolerance for t in plan.streams.values()), default=1e-3)
        shared = EnvelopeFit(1.0, tolerance)
        # Separate acc and gyro packets without time (MetaMotion): pair them as they arrive, then time
        # the pairs with one clock. Two clocks estimated apart would disagree by a few milliseconds and
        # each infer losses on its own, and pairs would slip by a sample.
        self._arrival_pairing = plan.split and all(t.source == "arrival" for t in plan.streams.values())
        if self._arrival_pairing:
            acc = plan.streams["acc"]
            self._clocks = {"imu": self._clock(acc, shared)}
        else:
            self._clocks = {name: self._clock(t, shared) for name, t in plan.streams.items()}
        self._held: tuple[Packet, float] | None = None  # a leading packet waiting for its partner
        self._leader: str | None = None

    def _clock(
        self, timing: StreamTiming, shared: EnvelopeFit
    ) -> DeviceTimeClock[Packet] | ArrivalClock[Packet]:
        if timing.source == "device_time":
            return DeviceTimeClock(timing.rate_hz, timing.rate_tolerance, fit=shared)
        return ArrivalClock(timing.rate_hz, timing.rate_tolerance, self.hold_s)

    # -- input ------------------------------------------------------------------------------------------
    def feed(self, arrival_s: float, char_uuid: str, payload: bytes) -> list[Packet]:
        """Take one notification; return the non-sample packets it carried (answers, battery, ...)."""
        self.stats.notifications += 1
        out: list[Packet] = []
        for r in self.decoder.feed(char_uuid, payload):
            if isinstance(r, DecodeError):
                self.stats.decode_errors += 1
                self.stats.last_error = str(r)
            elif r.stream == "info" or r.n_samples == 0:
                out.append(r)
            else:
                self._take(r, arrival_s)
        return out

    def _take(self, packet: Packet, arrival_s: float) -> None:
        if self._arrival_pairing and packet.stream in ("acc", "gyr"):
            self._pair_arrivals(packet, arrival_s)
            return
        clock = self._clocks.get(packet.stream)
        if clock is None:
            return  # a stream we did not ask for (e.g. a fusion output): ignore
        if isinstance(clock, DeviceTimeClock):
            if packet.device_time_s is None:
                self.stats.decode_errors += 1
                self.stats.last_error = f"{self.profile.name}: {packet.stream} packet without device time"
                return
            if packet.time_wrap_s:
                clock.wrap_s = packet.time_wrap_s
            clock.push(packet, packet.device_time_s, arrival_s)
        else:
            clock.push(packet, packet.n_samples, arrival_s)

    def _pair_arrivals(self, packet: Packet | None, arrival_s: float, final: bool = False) -> None:
        """Join acc and gyro packets by their order of arrival (BLE keeps the order in which the device
        sent them): a tick's leading packet, then its partner. The leader is whichever stream came first
        in this connection. A packet whose partner was lost shows as two leaders in a row (the first is
        dropped) or as a partner with no leader before it (dropped); a leader waits ``hold_s`` at most."""
        held = self._held
        if held is not None and (final or arrival_s - held[1] > self.hold_s):
            self.stats.unpaired_dropped += held[0].n_samples  # its partner is not coming
            self._held = held = None
        if packet is None:
            return
        if self._leader is None:
            self._leader = packet.stream
        if packet.stream == self._leader:
            if held is not None:
                self.stats.unpaired_dropped += held[0].n_samples  # two leaders in a row
            self._held = (packet, arrival_s)
        elif held is not None and held[0].n_samples == packet.n_samples:
            a, g = (held[0], packet) if packet.stream == "gyr" else (packet, held[0])
            pair = Packet("imu", acc_mps2=a.acc_mps2, gyr_rps=g.gyr_rps)
            clock = self._clocks["imu"]
            assert isinstance(clock, ArrivalClock)
            clock.push(pair, pair.n_samples, arrival_s)
            self._held = None
        else:
            self.stats.unpaired_dropped += packet.n_samples  # its leader was lost

    def new_segment(self, now_s: float) -> list[SampleBlock | SampleGap]:
        """The link went down: release everything held (it is all there will be), then start afresh
        on the next packets (marked as coming after a gap)."""
        if self._arrival_pairing:
            self._pair_arrivals(None, now_s, final=True)
            self._leader = None
        out = self.poll(now_s, flush=True)
        out += self._drain_pairs(now_s, final=True)
        self.decoder.reset()
        for clock in self._clocks.values():
            clock.new_segment()
        return out

    # -- output -----------------------------------------------------------------------------------------
    def poll(self, now_s: float, flush: bool = False) -> list[SampleBlock | SampleGap]:
        """What is ready at session time ``now_s`` (everything held with ``flush``)."""
        if self._arrival_pairing:
            self._pair_arrivals(None, now_s)
        released: dict[str, list[Timed[Packet]]] = {}
        for name, clock in self._clocks.items():
            items = clock.pop(now_s, flush=flush)
            if items:
                released[name] = items
        out: list[SampleBlock | SampleGap] = []
        if "imu" in released:
            out += self._emit_imu(released["imu"])
        if self._plan.split and not self._arrival_pairing:
            for name, half in (("acc", self._acc), ("gyr", self._gyr)):
                for timed in released.get(name, []):
                    self._note_gap(timed.gap)
                    values = timed.item.acc_mps2 if name == "acc" else timed.item.gyr_rps
                    if values is None:
                        continue
                    key = timed.item.device_time_s if timed.item.device_time_s is not None else timed.t_s
                    half.key.extend(key.tolist())
                    half.t.extend(timed.t_s.tolist())
                    half.v.extend(values)
            out += self._drain_pairs(now_s, final=flush)
        self.stats.samples_lost = sum(c.samples_lost for c in self._clocks.values())
        return out

    def _note_gap(self, gap: Gap | None) -> None:
        if gap is None:
            return
        if self._gap is None:
            self._gap = (gap.missing, gap.reason)
        else:
            m, reason = self._gap
            self._gap = (m + gap.missing, "reconnect" if "reconnect" in (reason, gap.reason) else reason)

    def _block(
        self, t: FloatArray, acc: FloatArray, gyr: FloatArray, mag: FloatArray | None
    ) -> list[SampleBlock | SampleGap]:
        out: list[SampleBlock | SampleGap] = []
        if len(t) == 0:
            return out
        if self._gap is not None:
            missing, reason = self._gap
            out.append(SampleGap(self.role, self._last_t, float(t[0]), missing, reason))
            self.stats.gaps += 1
            self._gap = None
        out.append(SampleBlock(self.role, t, acc, gyr, mag))
        self._last_t = float(t[-1])
        self.stats.samples_out += len(t)
        return out

    def _emit_imu(self, items: list[Timed[Packet]]) -> list[SampleBlock | SampleGap]:
        out: list[SampleBlock | SampleGap] = []
        want_mag = self._plan.has_mag
        for timed in items:
            p = timed.item
            if p.acc_mps2 is None or p.gyr_rps is None:
                continue
            self._note_gap(timed.gap)
            mag = None
            if want_mag:
                mag = p.mag_ut if p.mag_ut is not None else np.full((p.n_samples, 3), np.nan)
            out += self._block(timed.t_s, p.acc_mps2, p.gyr_rps, mag)
        return _merge_blocks(out)

    def _drain_pairs(self, now_s: float, final: bool) -> list[SampleBlock | SampleGap]:
        """Join device-timed accelerometer and gyroscope samples at the same device time."""
        acc, gyr = self._acc, self._gyr
        period = 1.0 / next(iter(self._plan.streams.values())).rate_hz
        tol = 0.5 * period
        t_out: list[float] = []
        a_out: list[np.ndarray] = []
        g_out: list[np.ndarray] = []
        while acc.key and gyr.key:
            d = acc.key[0] - gyr.key[0]
            if abs(d) <= tol:
                t, a = acc.pop()
                t_out.append(t)
                a_out.append(a)
                g_out.append(gyr.pop()[1])
            elif d < 0:  # this acc sample has no gyro partner (it was lost)
                acc.pop()
                self.stats.unpaired_dropped += 1
            else:
                gyr.pop()
                self.stats.unpaired_dropped += 1
        # a stream left alone for too long (the other one stopped): drop what can never pair
        for half in (acc, gyr):
            while half.t and (final or half.t[0] < now_s - self.pair_hold_s):
                half.pop()
                self.stats.unpaired_dropped += 1
        if not t_out:
            return []
        return self._block(np.array(t_out), np.array(a_out), np.array(g_out), None)


def _merge_blocks(items: list[SampleBlock | SampleGap]) -> list[SampleBlock | SampleGap]:
    """Join consecutive blocks (no gap between them) into one."""
    out: list[SampleBlock | SampleGap] = []
    run: list[SampleBlock] = []
    for item in items:
        if isinstance(item, SampleBlock):
            run.append(item)
            continue
        if run:
            out.append(SampleBlock.concat(run) if len(run) > 1 else run[0])
            run = []
        out.append(item)
    if run:
        out.append(SampleBlock.concat(run) if len(run) > 1 else run[0])
    return out
