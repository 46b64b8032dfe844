"""End to end over the simulated backend: bleak's real BleakScanner/BleakClient facades, bleak-retry-
connector's establish_connection, our hub, clocks and decoders, against simulated devices of every profile
(world time runs several times faster than real time).

Truth is what each simulated device logged: the true time of every sample it took and whether the sample
reached the client intact; the ideal signals at those times come from the world's motion source."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from coach.clock import SessionClock
from drivers.connection import DeviceLink, DeviceSpec
from drivers.profiles import PROFILES
from simulators.ble.device import FaultPlan
from simulators.ble.world import default_world
from tests.ble_support import DEVICE_TIMED, HALF_LSB, compare, run_hub, truth

pytestmark = pytest.mark.ble

RATE_HZ = {
    "metamotion": 100,
    "polar-verity": 52,
    "witmotion": 100,
    "movesense": 104,
    "thingy52": 100,
    "coach-imu": 100,
}


def _check_all_samples(world, dev, block, split_at_s: float | None = None) -> None:  # type: ignore[no-untyped-def]
    """Every sample that arrived intact comes out once, within quantisation, with its own time. With
    ``split_at_s`` (a reconnect) each connection is held to its own time offset: a new connection has
    its own radio latency, the unobservable constant of docs/design.md §8."""
    if split_at_s is not None:
        for part in (block.t_s < split_at_s, block.t_s >= split_at_s):
            sub = block.slice(int(np.argmax(part)), int(np.argmax(part)) + int(part.sum()))
            c = compare(world, dev, sub)
            assert c.time_dev_p95_s < 0.5 / RATE_HZ[dev.profile], c
    c = compare(world, dev, block)
    acc_tol, gyr_tol = HALF_LSB[dev.profile]
    assert c.n_truth > 0
    assert c.n_out == c.n_matched == c.n_truth, c  # every sample that arrived, each once, none invented
    assert c.acc_err_max <= acc_tol * 1.0001 + 1e-9, c
    assert c.gyr_err_max <= gyr_tol * 1.0001 + 1e-9, c
    if split_at_s is None:
        # Times: no systematic slip to a neighbour's time. (Their accuracy is measured by the clock
        # benchmark; here the world runs several times faster than real time, which scales the host's
        # scheduling jitter up by as much, so arrival-timed devices get transients. For device-timed
        # ones compare() takes out what the host's lateness did to the arrivals' floor: a loaded
        # machine found it seconds late, and every time before was late by the step.)
        assert c.time_dev_p95_s < 0.5 / RATE_HZ[dev.profile], c
        if dev.profile in DEVICE_TIMED:
            assert c.time_dev_p99_s < 0.005, c
    assert (np.diff(block.t_s) >= 0).all()


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_every_profile_delivers_the_truth_within_quantisation(profile: str) -> None:
    world = default_world(4.0, profiles=(profile,), seed=1)
    dev = world.device(profile)
    got = await run_hub(world, [DeviceSpec("treated", dev.address)], 10.0)
    _check_all_samples(world, dev, got.role("treated"))
    assert [s.link for s in got.status] == ["up"]
    battery = got.status[0].battery_pct
    assert battery is not None and abs(battery - dev.battery_pct) <= 15  # WitMotion: from its voltage
    if profile == "thingy52":  # the one streaming a magnetometer by default
        block = got.role("treated")
        assert block.mag_ut is not None and np.isfinite(block.mag_ut).all()
    assert dev.client is None and not dev.streams  # stopped and disconnected at the end


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_a_disconnect_is_survived_with_the_gap_marked_and_no_sample_lost(profile: str) -> None:
    world = default_world(
        4.0, profiles=(profile,), seed=2, faults={profile: FaultPlan(disconnect_at_s=(8.0,), down_s=2.0)}
    )
    dev = world.device(profile)
    got = await run_hub(world, [DeviceSpec("treated", dev.address)], 16.0)
    assert [s.link for s in got.status] == ["up", "down", "up"]
    reconnects = [g for g in got.gaps if g.reason == "reconnect"]
    assert len(reconnects) == 1
    gap = reconnects[0]
    assert gap.t_before_s is not None and gap.t_after_s - gap.t_before_s > 2.0  # down for at least down_s
    block = got.role("treated")
    before = block.t_s <= gap.t_before_s
    assert before.sum() > 0.5 * RATE_HZ[profile] and (~before).sum() > 0.5 * RATE_HZ[profile]
    _check_all_samples(world, dev, block, split_at_s=gap.t_after_s)  # nothing lost before or after the drop
    assert world.scans_started == 2  # the first scan, and one because the device went missing


async def test_several_profiles_with_faults_on_one_session_clock() -> None:
    faults = {
        "witmotion": FaultPlan(drop_rate=0.02, stall_every_s=4.0, stall_s=0.6),
        "coach-imu": FaultPlan(garbage_rate=0.02, drop_rate=0.01),
        "polar-verity": FaultPlan(drop_rate=0.03),
    }
    world = default_world(4.0, profiles=tuple(faults), seed=3, faults=faults)
    roles = dict(zip(("treated", "hand", "stroker"), faults, strict=True))
    for role, profile in roles.items():
        world.assign_role(profile, role)
    specs = [DeviceSpec(role, world.device(p).name) for role, p in roles.items()]  # by name this time
    got = await run_hub(world, specs, 14.0)
    assert got.stream is not None
    stats = {link.spec.role: link.stream.stats for link in got.stream.links if link.stream}
    for role, profile in roles.items():
        dev = world.device(profile)
        block = got.role(role)
        c = compare(world, dev, block)
        assert c.n_out == c.n_matched == c.n_truth, (profile, c)
        assert (np.diff(block.t_s) >= 0).all()
    assert stats["hand"].decode_errors > 0  # the garbage was counted and dropped
    coach_gaps = [g for g in got.gaps if g.role == "hand"]
    _, taken = truth(world.device("coach-imu"))
    delivered, _ = truth(world.device("coach-imu"))
    assert sum(g.missing for g in coach_gaps) >= 1
    assert stats["hand"].samples_out == len(delivered) and taken > len(delivered)
    assert any(g.role == "treated" and g.reason == "lost" for g in got.gaps)  # WitMotion: inferred


async def test_a_device_that_does_not_advertise_at_first_is_found_later() -> None:
    faults = {"coach-imu": FaultPlan(silent=((0.0, 9.0),))}
    world = default_world(4.0, profiles=("coach-imu", "movesense"), seed=4, faults=faults)
    world.assign_role("movesense", "hand")
    specs = [
        DeviceSpec("treated", world.device("coach-imu").address),
        DeviceSpec("hand", world.device("movesense").address),
    ]
    got = await run_hub(world, specs, 16.0, scan_timeout_s=4.0)
    ups = {s.role: s.t_s for s in got.status if s.link == "up"}
    assert set(ups) == {"treated", "hand"} and ups["treated"] > ups["hand"] + 3.0
    assert len(got.role("hand")) > 10 * 100 and len(got.role("treated")) > 4 * 100
    _check_all_samples(world, world.device("coach-imu"), got.role("treated"))


async def test_no_scanning_while_streaming() -> None:
    world = default_world(4.0, profiles=("metamotion", "thingy52", "witmotion"), seed=5)
    specs = [
        DeviceSpec(r, world.device(p).address)
        for r, p in zip(("treated", "hand", "stroker"), ("metamotion", "thingy52", "witmotion"), strict=True)
    ]
    got = await run_hub(world, specs, 10.0)
    assert world.scans_started == 1
    assert all(len(got.role(r)) > 500 for r in ("treated", "hand", "stroker"))


async def test_notification_callback_never_blocks_and_counts_drops(caplog: pytest.LogCaptureFixture) -> None:
    class Char:
        uuid = "0000ffe4-0000-1000-8000-00805f9a34fb"

    link = DeviceLink(
        DeviceSpec("treated", "X", "witmotion"),
        None,  # type: ignore[arg-type]  # no backend: the link is never started, only notified
        SessionClock(),
        lambda item: None,
        asyncio.Lock(),
    )
    caplog.set_level(logging.WARNING, logger="coach.drivers")
    for _ in range(DeviceLink.QUEUE_SIZE + 25):
        link.on_notify(Char(), bytearray(b"\x55\x61" + bytes(18)))  # type: ignore[arg-type]
    assert link.queue.qsize() == DeviceLink.QUEUE_SIZE and link.dropped_notifications == 25
    # Said once when the overflow starts (not 25 times), naming the sensor, and counted when it ends.
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith("treated (X): this computer is not reading"), said
    await link._drain_queue()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "treated (X): 25 notifications were dropped" in said[1], said
    await link._drain_queue()
    assert len(caplog.records) == 2  # nothing new was dropped: nothing more to say
