"""Helpers for the end-to-end BLE tests: run the real hub (bleak facades, bleak-retry-connector) over
the simulated world, collect what comes out, and compare it with the simulated devices' truth."""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field

import numpy as np

from coach.samples import FloatArray, SampleBlock
from drivers.hub import DeviceSpec, LinkStatus, SampleGap, SessionStream, open_session_stream
from simulators.ble.device import SimPeripheral
from simulators.ble.world import SimWorld

G = 9.80665
D2R = math.pi / 180

#: Half a quantisation step of each profile's start-stream settings: (acc m/s², gyr rad/s).
HALF_LSB: dict[str, tuple[float, float]] = {
    "metamotion": (0.5 * 8 / 32768 * G, 0.5 / 16.4 * D2R),
    "polar-verity": (0.5e-3 * G, 0.5 * 2000 / 32768 * D2R),
    "witmotion": (0.5 * 16 / 32768 * G, 0.5 * 2000 / 32768 * D2R),
    "movesense": (2e-6 * 16, 2e-6),  # float32: relative 6e-8 of values up to ~16
    "thingy52": (0.5 / 1024 * G, 0.5 / 32 * D2R),
    "coach-imu": (0.5 * 8 / 32768 * G, 0.5 * 2000 / 32768 * D2R),
}


@dataclass
class Collected:
    blocks: dict[str, list[SampleBlock]] = field(default_factory=dict)
    gaps: list[SampleGap] = field(default_factory=list)
    status: list[LinkStatus] = field(default_factory=list)
    stream: SessionStream | None = None

    def add(self, item: object) -> None:
        if isinstance(item, SampleBlock):
            self.blocks.setdefault(item.role, []).append(item)
        elif isinstance(item, SampleGap):
            self.gaps.append(item)
        elif isinstance(item, LinkStatus):
            self.status.append(item)

    def role(self, role: str) -> SampleBlock:
        return SampleBlock.concat(self.blocks[role])


async def run_hub(
    world: SimWorld, specs: list[DeviceSpec], duration_s: float, **options: object
) -> Collected:
    """Stream ``specs`` for ``duration_s`` of session time, then stop and collect the rest."""
    got = Collected()
    options.setdefault("poll_interval_s", 0.05)
    stream = open_session_stream(specs, world.backend(), speed=world.time_scale, **options)
    got.stream = stream
    async with stream:
        while stream.now() < duration_s:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    got.add(await stream.__anext__())
    while (item := stream.get_nowait()) is not None:
        got.add(item)
    return got


def truth(device: SimPeripheral) -> tuple[FloatArray, int]:
    """True times of the samples that reached the client intact (for devices with separate acc and gyro
    streams: the instants at which both did), and how many were taken in all."""
    if "acc" in device.log:
        _, ta, da = device.log["acc"].arrays()
        _, tg, dg = device.log["gyr"].arrays()
        # both streams sample at the same device ticks: pair by true time
        common, ia, ig = np.intersect1d(np.round(ta, 9), np.round(tg, 9), return_indices=True)
        ok = da[ia] & dg[ig]
        return common[ok], len(common)
    _, t, d = device.log["imu"].arrays()
    return t[d], len(t)


#: Profiles whose samples are timed from device timestamps (``drivers.clock.DeviceTimeClock``): each packet
#: is timed when it arrives, from the lower envelope of the arrivals so far.
DEVICE_TIMED = frozenset({"polar-verity", "movesense", "coach-imu"})


def host_floor_lag(device: SimPeripheral) -> tuple[FloatArray, FloatArray]:
    """How far the host's own lateness has lifted the floor of a device's arrivals, packet by packet.

    A device-timed clock maps device time onto the session clock by the lower envelope of ``arrival −
    device time`` over the packets so far (``drivers.clock``); until one packet is handed over on time,
    the envelope sits as high as the least-late packet. The radio's part of that is what the clock is
    there to handle; the host's part is this process's scheduling lateness, which the simulated world
    running ``time_scale`` times faster than real time scales up by as much, and which depends on what
    else the machine is running. Returns, per packet in the order handed over, the true time of its last
    sample and the floor over the packets so far as handed over minus the same floor as they were due.
    """
    parts = [log.packet_times() for log in device.log.values()]
    last, due, at = (np.concatenate([p[i] for p in parts]) for i in range(3))
    ok = np.isfinite(at)
    last, due, at = last[ok], due[ok], at[ok]
    order = np.argsort(at, kind="stable")
    last, due, at = last[order], due[order], at[order]
    x = device.device_time(last)
    return last, np.minimum.accumulate(at - x) - np.minimum.accumulate(due - x)


@dataclass
class Comparison:
    n_out: int
    n_truth: int
    n_matched: int
    acc_err_max: float
    gyr_err_max: float
    time_offset_s: float
    time_dev_p95_s: float
    time_dev_p99_s: float
    time_dev_max_s: float
    host_floor_lag_max_s: float = 0.0  # the most the host's lateness lifted the arrivals' floor (taken out)

    @property
    def n_missing(self) -> int:
        return self.n_truth - self.n_matched


def align(
    block: SampleBlock,
    ideal_acc: FloatArray,
    ideal_gyr: FloatArray,
    tol: tuple[float, float],
    max_skip: int = 2000,
) -> np.ndarray:
    """For each output sample, the index of the truth sample it is (-1 if none): the output is an
    ordered subsequence of the truth, so walk both in order and take the first truth sample from the
    last match on whose six values all agree within the quantisation ``tol`` (acc, gyr). Times play no
    part: what is checked about them is how far each is from its truth sample's."""
    out = np.full(len(block), -1)
    j = -1
    acc_tol, gyr_tol = tol[0] * 1.0001 + 1e-9, tol[1] * 1.0001 + 1e-9
    for i in range(len(block)):
        lo, hi = j + 1, min(len(ideal_acc), j + 1 + max_skip)
        if lo >= hi:
            break
        ok = (np.abs(ideal_acc[lo:hi] - block.acc_mps2[i]).max(axis=1) <= acc_tol) & (
            np.abs(ideal_gyr[lo:hi] - block.gyr_rps[i]).max(axis=1) <= gyr_tol
        )
        hit = np.flatnonzero(ok)
        if len(hit):
            j = lo + int(hit[0])
            out[i] = j
    return out


def compare(world: SimWorld, device: SimPeripheral, block: SampleBlock, settle_s: float = 2.0) -> Comparison:
    """Driver output against the device's truth, sample by sample (see :func:`align`). Time deviations
    are taken after ``settle_s`` of output (the mapping onto the session clock converges first), about
    their median (the constant radio latency, docs/design.md §8, is unobservable). For device-timed
    profiles the lift the host's scheduling lateness gave the arrivals' floor when each packet was timed
    (:func:`host_floor_lag`) is taken out first: what remains is what the clock itself got wrong."""
    t_true, _ = truth(device)
    ideal_acc, ideal_gyr, _mag = world.motion.sample(device.role, t_true)
    j = align(block, ideal_acc, ideal_gyr, HALF_LSB[device.profile])
    ok = j >= 0
    if not ok.any():
        return Comparison(
            len(block), len(t_true), 0, math.inf, math.inf, math.nan, math.inf, math.inf, math.inf
        )
    jj = j[ok]
    d = block.t_s[ok] - t_true[jj]
    lag_max = 0.0
    if device.profile in DEVICE_TIMED:
        last, lag = host_floor_lag(device)
        by_last = np.argsort(last, kind="stable")
        packet = by_last[np.minimum(np.searchsorted(last[by_last], t_true[jj] - 1e-9), len(last) - 1)]
        d = d - lag[packet]
        lag_max = float(lag.max())
    settled = block.t_s[ok] >= block.t_s[0] + settle_s
    c = float(np.median(d[settled])) if settled.any() else float(np.median(d))
    dev = np.abs(d[settled] - c) if settled.any() else np.abs(d - c)
    return Comparison(
        n_out=len(block),
        n_truth=len(t_true),
        n_matched=int(ok.sum()),
        acc_err_max=float(np.abs(block.acc_mps2[ok] - ideal_acc[jj]).max()),
        gyr_err_max=float(np.abs(block.gyr_rps[ok] - ideal_gyr[jj]).max()),
        time_offset_s=c,
        time_dev_p95_s=float(np.percentile(dev, 95)),
        time_dev_p99_s=float(np.percentile(dev, 99)),
        time_dev_max_s=float(dev.max()),
        host_floor_lag_max_s=lag_max,
    )
