"""Sample clocks: envelope fit, device-time and arrival clocks against simulated truth.

Numbers here are loose versions of the benchmark (``./run bench clock``), on a few fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.bench_clock import Kind, estimate_times, make_stream
from drivers.clock import ArrivalClock, DeviceTimeClock, EnvelopeFit
from simulators.ble.clocksim import DeviceClockModel, simulate_stream
from simulators.ble.radio import RadioModel


def test_envelope_recovers_drift_and_offset_under_positive_noise() -> None:
    rng = np.random.default_rng(3)
    fit = EnvelopeFit(1.0, 1e-3)
    true_slope, true_offset = 1 + 80e-6, 12.345
    for x in np.arange(0, 120, 0.01):
        fit.add(x, true_offset + true_slope * x + 0.004 + rng.exponential(0.003))
        fit.refit()
    assert fit.slope == pytest.approx(true_slope, abs=10e-6)
    assert fit.predict1(60.0) - (true_offset + true_slope * 60.0) == pytest.approx(0.004, abs=0.001)


def test_a_step_in_a_new_segment_does_not_tilt_the_slope() -> None:
    fit = EnvelopeFit(1.0, 1e-3)
    for x in np.arange(0, 30, 0.01):
        fit.add(x, 5.0 + x)
    fit.new_segment()
    for x in np.arange(30, 60, 0.01):
        fit.add(x, 5.0 + x - 0.010)  # re-indexed: the same line 10 ms lower
    fit.refit(every_s=0.0)
    assert fit.slope == pytest.approx(1.0, abs=1e-6)
    assert fit.predict1(50.0) == pytest.approx(5.0 + 50.0 - 0.010, abs=1e-6)


def _kind(timestamps: bool, per_packet: int, interval_s: float) -> Kind:
    return Kind("test", 100.0, per_packet, timestamps, interval_s)


@pytest.mark.parametrize("seed", [0, 1])
def test_device_time_clock_aligns_within_a_few_ms_and_counts_losses(seed: int) -> None:
    stream = make_stream(_kind(True, 4, 0.015), 90.0, np.random.default_rng(seed))
    idx, t, lost = estimate_times(stream)
    err = t - stream.true_t_s[idx]
    late = stream.true_t_s[idx] >= 30.0
    rest = err[late] - np.median(err[late])
    assert np.abs(rest).max() < 0.005
    assert (np.diff(t) >= 0).all()
    assert lost == int(np.isnan(stream.arrival_s).sum()) * 4
    assert len(idx) == len(set(idx.tolist()))  # every delivered sample once


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_arrival_clock_without_losses_stays_within_5ms(seed: int) -> None:
    stream = make_stream(_kind(False, 1, 0.0075), 90.0, np.random.default_rng(seed), drop_rate=0.0)
    idx, t, _ = estimate_times(stream)
    err = t - stream.true_t_s[idx]
    late = stream.true_t_s[idx] >= 60.0
    rest = err[late] - np.median(err[late])
    assert np.percentile(np.abs(rest), 99) < 0.005
    assert (np.diff(t) >= 0).all()
    assert 0.0 < np.median(err) < 0.03  # late by the unobservable radio latency, never early


def test_arrival_clock_finds_a_lost_packet_in_steady_flow() -> None:
    clock: ArrivalClock[int] = ArrivalClock(100.0)
    rng = np.random.default_rng(5)
    out = []
    for k in range(600):
        if k == 300:
            continue  # lost
        a = 0.5 + k * 0.01 + 0.004 + rng.uniform(0, 0.002)
        clock.push(k, 1, a)
        out += clock.pop(a)
    out += clock.pop(math.inf, flush=True)
    gaps = [(r.item, r.gap.missing) for r in out if r.gap]
    assert gaps == [(301, 1)]
    t = {r.item: float(r.t_s[0]) for r in out}
    assert t[301] - t[299] == pytest.approx(0.02, abs=0.002)


def test_a_bunch_after_a_stall_is_not_a_loss() -> None:
    model = DeviceClockModel(100.0, 1, drift=5e-5, start_s=0.2)
    radio = RadioModel(interval_s=0.0075, stall_every_s=5.0, stall_s=1.0)
    stream = simulate_stream(model, radio, 40.0, np.random.default_rng(9))
    idx, t, lost = estimate_times(stream)
    assert lost == 0
    err = t - stream.true_t_s[idx]
    assert np.abs(err[stream.true_t_s[idx] > 20] - np.median(err)).max() < 0.005


def test_reconnect_segment_restarts_indices_and_marks_the_gap() -> None:
    clock: ArrivalClock[int] = ArrivalClock(100.0)
    out = []
    for k in range(300):
        clock.push(k, 1, 1.0 + k * 0.01 + 0.005)
        out += clock.pop(1.0 + k * 0.01 + 0.005)
    out += clock.pop(math.inf, flush=True)
    clock.new_segment()
    for k in range(500, 800):  # the device kept sampling while the link was down
        clock.push(k, 1, 1.0 + k * 0.01 + 0.005)
        out += clock.pop(1.0 + k * 0.01 + 0.005)
    out += clock.pop(math.inf, flush=True)
    t = np.concatenate([r.t_s for r in out])
    assert (np.diff(t) > 0).all()
    first_after = next(r for r in out if r.item == 500)
    assert first_after.gap is not None and first_after.gap.reason == "reconnect"
    assert float(first_after.t_s[0]) == pytest.approx(1.0 + 5.0 + 0.005, abs=0.001)  # as it arrived


def test_device_time_wraps_and_reboots() -> None:
    clock: DeviceTimeClock[int] = DeviceTimeClock(100.0, wrap_s=2**32 / 1000.0)
    wrap = 2**32 / 1000.0
    out = []
    for k in range(400):
        dev = (wrap - 2.0 + k * 0.01) % wrap  # wraps after 200 samples
        clock.push(k, np.array([dev]), 10.0 + k * 0.01 + 0.003)
        out += clock.pop()
    t = np.array([float(r.t_s[0]) for r in out])
    assert np.allclose(np.diff(t), 0.01, atol=1e-6)
    assert all(r.gap is None for r in out)
    clock.push(400, np.array([0.5]), 10.0 + 4.0 + 0.003)  # rebooted: device time back near zero
    (r,) = clock.pop()
    assert r.gap is not None and float(r.t_s[0]) >= t[-1]
