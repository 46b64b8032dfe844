"""The streaming resampler (uniform grid, gaps, clock) and the VQF wrapper (resets, heading carry-over)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coach.errors import ValidationError
from coach.signal import quaternion as quat
from coach.signal.orientation import OrientationTracker
from coach.signal.resample import UniformResampler
from tests.synthetic_imu import euler_zyx, imu_from_orientation


def _linear(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    acc = np.column_stack((t, 2 * t, 9.8 + 0 * t))
    gyr = np.column_stack((-t, 0.5 * t, 0 * t))
    return acc, gyr


def _collect(r: UniformResampler, clock: float = -math.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = r.pull(clock)
    return b.k, b.t_s, b.acc_mps2


def test_jittered_samples_land_on_a_uniform_grid() -> None:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.006, 0.014, 500))
    acc, gyr = _linear(t)
    r = UniformResampler(100.0, max_gap_s=0.25)
    r.push(t, acc, gyr)
    k, tk, a = _collect(r)
    np.testing.assert_allclose(np.diff(tk), 0.01, atol=1e-12)
    assert tk[0] == t[0] and tk[-1] <= t[-1]
    # Linear signals are reproduced exactly by linear interpolation.
    np.testing.assert_allclose(a, _linear(tk)[0], atol=1e-9)
    np.testing.assert_array_equal(k, np.arange(k.size))


def test_gaps_longer_than_the_limit_leave_grid_points_out() -> None:
    t = np.concatenate((np.arange(0, 1.0, 0.01), np.arange(1.1, 2.0, 0.01), np.arange(3.0, 4.0, 0.01)))
    acc, gyr = _linear(t)
    r = UniformResampler(100.0, max_gap_s=0.25)
    r.push(t, acc, gyr)
    _, tk, _ = _collect(r)
    # The 0.11 s hole is interpolated; the 1.01 s hole is a gap.
    assert np.any(np.isclose(tk, 1.05))
    assert not np.any((tk > 1.995) & (tk < 2.995))
    assert np.any(np.isclose(tk, 3.0))


def test_the_clock_decides_a_silent_sensors_gap_only_after_the_limit() -> None:
    t = np.arange(0, 1.0, 0.01)
    acc, gyr = _linear(t)
    r = UniformResampler(100.0, max_gap_s=0.25)
    r.push(t, acc, gyr)
    r.pull()
    assert r.frontier_s == pytest.approx(0.99)
    r.pull(clock_s=1.2)  # within the limit: a late sample could still fill it
    assert r.frontier_s == pytest.approx(0.99)
    r.pull(clock_s=1.5)
    assert r.frontier_s == pytest.approx(1.5)
    # A sample older than the decided time is late: dropped and counted.
    r.push(np.array([1.3, 1.6]), *_linear(np.array([1.3, 1.6])))
    assert r.late_samples == 1
    _k, tk, _ = _collect(r)
    assert tk.size == 1 and tk[0] == pytest.approx(1.6)


def test_rate_is_measured_when_meta_does_not_give_it() -> None:
    t = np.arange(0, 2.0, 1 / 52.0)
    r = UniformResampler(None, max_gap_s=0.25)
    r.push(t[:10], *_linear(t[:10]))
    assert r.pull().k.size == 0 and r.rate_hz is None  # waits for half a second of samples
    r.push(t[10:], *_linear(t[10:]))
    r.pull()
    assert r.rate_hz == pytest.approx(52.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=20),
    st.lists(st.floats(min_value=-2.0, max_value=1.0), min_size=20, max_size=20),
)
# Found by hypothesis: a clock exactly on the sample that ends the disconnection (that sample is not late).
@example(cuts=[106, 184], ticks=[0.0, 0.0, 1.0] + [0.0] * 17)
def test_output_does_not_depend_on_block_sizes_or_clock_ticks(cuts: list[int], ticks: list[float]) -> None:
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.uniform(0.004, 0.016, 1200))
    t = np.where(t > 4.0, t + 1.5, t)  # a disconnection
    acc, gyr = _linear(t)
    whole = UniformResampler(None, 0.25)
    whole.push(t, acc, gyr)
    ref = whole.pull(clock_s=t[-1] + 1.0)
    split = UniformResampler(None, 0.25)
    parts = []
    pos = 0
    for i, c in enumerate(cuts * 10):
        if pos >= t.size:
            break
        split.push(t[pos : pos + c], acc[pos : pos + c], gyr[pos : pos + c])
        pos += c
        # A live clock ticks anywhere up to the next sample still to come (it promises no older one).
        newest = t[min(pos, t.size) - 1]
        limit = t[pos] if pos < t.size else newest + 1.0
        clock = newest + ticks[i % len(ticks)] * (limit - newest if ticks[i % len(ticks)] > 0 else 1.0)
        parts.append(split.pull(clock_s=clock))
    split.push(t[pos:], acc[pos:], gyr[pos:])
    parts.append(split.pull(clock_s=t[-1] + 1.0))
    np.testing.assert_array_equal(np.concatenate([p.k for p in parts]), ref.k)
    np.testing.assert_array_equal(np.concatenate([p.acc_mps2 for p in parts]), ref.acc_mps2)


def test_vqf_wrapper_tracks_a_known_rotation_and_carries_heading_over_a_reset() -> None:
    rate = 100.0
    t = np.arange(0.0, 60.0, 1 / rate)
    pitch = np.radians(30.0 + 20.0 * np.sin(2 * np.pi * t / 10.0))
    heading = np.radians(10.0 * t / 60.0)
    q_true = euler_zyx(heading, pitch, np.radians(5.0 * np.sin(t)))
    acc, gyr = imu_from_orientation(t, q_true)
    k = np.arange(t.size, dtype=np.int64)
    keep = (t < 30.0) | (t >= 31.0)  # one second missing: the filter resets
    tracker = OrientationTracker(rate)
    q, bias = tracker.update(k[keep], gyr[keep], acc[keep])
    assert tracker.resets == 1
    up = quat.rotate_inverse(q, np.array([0.0, 0.0, 1.0]))
    elev = np.degrees(np.arcsin(up[:, 0]))
    truth = np.degrees(pitch[keep])
    settled = t[keep] > 5.0
    assert np.abs(elev - truth)[settled].max() < 0.5
    # Heading continuity: no jump larger than the true motion across the gap.
    h = np.unwrap(quat.heading_rad(q))
    i = int(np.searchsorted(t[keep], 31.0))
    assert abs(h[i] - h[i - 1]) < math.radians(2.0)
    assert bias.shape == (int(keep.sum()), 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.002, 0.02), st.integers(1, 60)), min_size=1, max_size=12),
    st.lists(st.floats(0.0, 5000.0), min_size=0, max_size=4),
    st.lists(st.integers(1, 200), min_size=1, max_size=6),
    st.sampled_from([10.0, 50.0, 100.0, 200.0]),
)
def test_gaps_cost_no_grid_points_and_change_no_output(
    runs: list[tuple[float, int]], gaps: list[float], cuts: list[int], rate: float
) -> None:
    """Only grid points near samples are computed (a 5,000 s hole costs nothing), and the result is the
    same as computing every grid point and keeping the valid ones."""
    times: list[float] = []
    t = 0.0
    for i, (dt, n) in enumerate(runs):
        for _ in range(n):
            times.append(t)
            t += dt
        if i < len(gaps):
            t += gaps[i]
    ts = np.array(times)
    acc, gyr = _linear(ts)

    def pulls(r: UniformResampler) -> list[tuple[np.ndarray, np.ndarray]]:
        out, pos, i = [], 0, 0
        while pos < ts.size:
            step = cuts[i % len(cuts)]
            r.push(ts[pos : pos + step], acc[pos : pos + step], gyr[pos : pos + step])
            pos += step
            i += 1
            b = r.pull(clock_s=float(ts[min(pos, ts.size) - 1]) + 0.3 * (i % 3))
            out.append((b.k, b.acc_mps2))
        b = r.pull(clock_s=float(ts[-1]) + 10.0)
        out.append((b.k, b.acc_mps2))
        return out

    fast = UniformResampler(rate, max_gap_s=0.25)
    every = UniformResampler(rate, max_gap_s=0.25)
    every._points_near_samples = lambda k0, k1: np.arange(k0, k1 + 1, dtype=np.int64)  # type: ignore[method-assign]
    computed: list[int] = []
    original = fast._points_near_samples

    def counted(k0: int, k1: int) -> np.ndarray:
        k = original(k0, k1)
        computed.append(k.size)
        return k

    fast._points_near_samples = counted  # type: ignore[method-assign]
    got, ref = pulls(fast), pulls(every)
    for (k_a, a_a), (k_b, a_b) in zip(got, ref, strict=True):
        np.testing.assert_array_equal(k_a, k_b)
        np.testing.assert_array_equal(a_a, a_b)
    assert sum(computed) <= ts.size * (1 + 0.02 * rate) + 4 * (len(runs) + len(cuts) + 2) * 3


def test_an_impossible_rate_is_refused_and_the_stream_ignored() -> None:
    r = UniformResampler(None, max_gap_s=0.25)
    t = 1.0 + np.arange(5000, dtype=np.float64) * 1e-9
    r.push(t, *_linear(t))
    with pytest.raises(ValidationError, match="1e\\+09 Hz is outside the supported 10–10000 Hz"):
        r.pull(clock_s=5.0)
    assert r.refused is not None and r.rate_hz is None
    assert len(r.pull(clock_s=10.0)) == 0  # refused once, quiet afterwards
    with pytest.raises(ValidationError, match="1e\\+300 Hz"):
        UniformResampler(1e300, max_gap_s=0.25)
