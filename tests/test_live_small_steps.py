"""The Python-float ways for a live step (a few raw samples, grid points or query times) give the array
ways' numbers bit for bit: the resampler's grid points whatever the blocks, gaps, repeats and late
samples; a role's interpolated orientation across gaps, exact points and hemisphere flips; the
posture events' flags."""

from __future__ import annotations

import math

import numpy as np
import pytest

import coach.signal.resample as resample
import coach.signal.roles as roles
from coach.signal import quaternion as quat
from coach.signal.resample import GridBatch, UniformResampler
from coach.signal.roles import GridBuffer, RoleStream


def _stream(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 3000
    dt = rng.choice([0.01, 0.0096, 0.0104]) + rng.normal(0, 0.0008, n)
    dt[rng.random(n) < 0.01] += rng.uniform(0.05, 0.6, n)[rng.random(n) < 0.01][:1].sum()  # gaps
    dt[rng.random(n) < 0.003] = 0.0  # repeated times
    t = np.round(3.0 + np.cumsum(np.abs(dt)), 6)
    t[rng.integers(10, n, 5)] -= 0.05  # late samples
    return t, rng.normal(0, 5, (n, 3)), rng.normal(0, 1, (n, 3))


def _run(seed: int, small: int, monkeypatch: pytest.MonkeyPatch) -> list[GridBatch]:
    monkeypatch.setattr(resample, "SMALL", small)
    t, acc, gyr = _stream(seed)
    rng = np.random.default_rng(seed + 1)
    r = UniformResampler(100.0 if seed % 2 else None, 0.2)
    out = []
    a = 0
    while a < len(t):
        b = min(len(t), a + int(rng.integers(1, 7)))
        r.push(t[a:b], acc[a:b], gyr[a:b])
        clock = float(t[b - 1]) + (rng.uniform(0, 0.5) if rng.random() < 0.05 else -math.inf)
        out.append(r.pull(clock))
        out.append(GridBatch(np.array([r.next_k]), np.array([r.frontier_s, r.last_sample_s]), r._acc, r._gyr))
        a = b
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_small_steps_equal_the_array_way(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _run(seed, 8, monkeypatch), _run(seed, 0, monkeypatch)
    assert len(fast) == len(slow)
    points = 0
    for x, y in zip(fast, slow, strict=True):
        for name in ("k", "t_s", "acc_mps2", "gyr_rps"):
            u, v = getattr(x, name), getattr(y, name)
            assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes(), name
        points += len(x)
    assert points > 2000  # grid points were made (half the output rows are the state records)


def _role_with_buffer(seed: int) -> RoleStream:
    rng = np.random.default_rng(seed)
    n = 40
    k = np.cumsum(rng.choice([1, 1, 1, 1, 2, 5], n)) + 300
    q = quat.normalize(rng.normal(0, 1, (n, 4)))
    q[rng.random(n) < 0.3] *= -1  # the other hemisphere
    stream = RoleStream("treated", 100.0, 0.2, 1.0)
    stream.resampler.t0_s = 0.5
    t = stream.resampler.grid_time(k)
    stream.out = GridBuffer(k, t, np.zeros((n, 3)), np.zeros((n, 3)), q, np.zeros((n, 3)))
    return stream


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_small_interpolation_equals_the_array_way(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _role_with_buffer(seed)
    rng = np.random.default_rng(seed)
    t = stream.out.t_s
    checked = 0
    for _ in range(400):
        n = int(rng.integers(1, 5))
        picks = np.sort(rng.uniform(t[0] - 0.02, t[-1] + 0.02, n))
        picks[rng.random(n) < 0.3] = t[rng.integers(0, len(t))]  # exact grid points
        picks = np.sort(picks)
        monkeypatch.setattr(roles, "SMALL_QUERY", 8)
        fast = stream.interpolate(picks)
        monkeypatch.setattr(roles, "SMALL_QUERY", 0)
        slow = stream.interpolate(picks)
        assert fast.valid.dtype == slow.valid.dtype and fast.valid.tolist() == slow.valid.tolist()
        assert fast.quat.shape == slow.quat.shape and fast.quat.tobytes() == slow.quat.tobytes()
        checked += int(fast.valid.sum())
    assert checked > 300


def test_small_posture_spans_emit_what_the_array_way_emits(monkeypatch: pytest.MonkeyPatch) -> None:
    from coach.events import Event
    from coach.pipeline import emit
    from coach.signal.posture import PostureFrame

    rng = np.random.default_rng(9)
    n = 3000
    flags = [rng.random(n) < p for p in (0.9, 0.8, 0.95, 0.9)]  # runs of observable / elevated / neutral
    values = [rng.normal(20, 5, n) for _ in range(4)]
    runs = []
    for small in (8, 0):
        monkeypatch.setattr(emit, "SMALL_SPAN", small)
        posture = emit.PostureEvents(5, 0.02)
        pending: list[Event] = []
        a = 0
        steps = np.random.default_rng(10)
        while a < n:
            b = min(n, a + int(steps.integers(1, 4)))
            sl = slice(a, b)
            frame = PostureFrame(
                np.arange(a, b, dtype=np.float64) * 0.02, flags[0][sl], flags[1][sl], values[0][sl],
                values[1][sl], values[2][sl], values[3][sl], flags[2][sl], flags[3][sl],
            )  # fmt: skip
            posture.span(np.arange(a, b, dtype=np.int64) + 100, frame, pending)
            a = b
        runs.append(pending)
    assert runs[0] == runs[1] and len(runs[0]) > n // 5
