"""Sample clocks: alignment of several simulated sensors on one session clock (issue 3 item 5).

Each simulated sensor samples on its own clock (drift uniform in ±100 ppm, random start and timestamp
offset) and its packets go through a BLE delivery model (connection events, host jitter, 1 % lost
packets, bunching stalls of 0.2–1 s every ~20 s). The drivers' clocks (:mod:`drivers.clock`) turn
what a host receives into sample times. Truth is the true time of every sample.

docs/design.md §8: without device timestamps, times are known only up to a constant per-device latency.
So the error of each sensor (estimate − truth) is split into
  * its constant: the median over the evaluation window (radio latency; unobservable), and
  * the rest: what the estimator gets wrong; *alignment* between two sensors is the difference of
    their rests at the same true time.
Reported over the samples with true time ≥ 60 s (the first minute is convergence), for each
sensor kind and connection interval, over several seeds. Target: alignment ≤ 5 ms; no sample time
goes backwards.

Connection intervals that are a whole multiple of the packet period lock the packets' phase to the
connection events: the wait for the next event then changes only by the slow drift, so arrival times
cannot resolve it (and a phase slip looks exactly like a lost packet). Such links are reported
separately ("locked").

    ./run bench clock                 # 10 seeds, 120 s
    ./run bench clock -- --seeds 3 --duration 90
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from coach.samples import FloatArray
from drivers.clock import ArrivalClock, DeviceTimeClock
from simulators.ble.clocksim import DeviceClockModel, SimStream, simulate_stream
from simulators.ble.radio import RadioModel

TARGET_MS = 5.0
EVAL_FROM_S = 60.0


@dataclass(frozen=True)
class Kind:
    name: str
    rate_hz: float
    per_packet: int
    timestamps: bool
    interval_s: float


KINDS = [
    Kind("device-time 100 Hz ×4 (coach-imu)", 100.0, 4, True, 0.015),
    Kind("device-time 52 Hz ×36 (Polar frames)", 52.0, 36, True, 0.030),
    Kind("device-time 104 Hz ×8 (Movesense)", 104.0, 8, True, 0.030),
    Kind("arrival 100 Hz ×1, CI 7.5 ms", 100.0, 1, False, 0.0075),
    Kind("arrival 100 Hz ×1, CI 15 ms", 100.0, 1, False, 0.015),
    Kind("arrival 100 Hz ×3 (packed), CI 7.5 ms", 100.0, 3, False, 0.0075),
    Kind("arrival 100 Hz ×1, CI 30 ms (locked)", 100.0, 1, False, 0.030),
    Kind("arrival 100 Hz ×3 (packed), CI 30 ms (locked)", 100.0, 3, False, 0.030),
]


def make_stream(
    kind: Kind, duration_s: float, rng: np.random.Generator, drop_rate: float = 0.01, stalls: bool = True
) -> SimStream:
    model = DeviceClockModel(
        rate_hz=kind.rate_hz,
        samples_per_packet=kind.per_packet,
        drift=float(rng.uniform(-1e-4, 1e-4)),
        start_s=float(rng.uniform(0.1, 1.0)),
        time_offset_s=float(rng.uniform(0, 1e6)),
        timestamps=kind.timestamps,
    )
    radio = RadioModel(
        interval_s=kind.interval_s,
        per_event=6,
        min_latency_s=float(rng.uniform(0.003, 0.008)),
        jitter_mean_s=0.002,
        drop_rate=drop_rate,
        stall_every_s=20.0 if stalls else 0.0,
        stall_s=float(rng.uniform(0.2, 1.0)),
    )
    return simulate_stream(model, radio, duration_s, rng)


def estimate_times(stream: SimStream, wake_s: float = 0.001) -> tuple[np.ndarray, FloatArray, int]:
    """Run a stream through its driver clock the way the live path does: the consumer task wakes, takes
    every notification queued so far (all that arrived within ``wake_s``), then pops what the clock
    releases at that time; at the end it flushes. Return (sample indices, times, samples counted lost)."""
    m = stream.model
    clock: DeviceTimeClock[np.ndarray] | ArrivalClock[np.ndarray]
    clock = DeviceTimeClock(m.rate_hz) if m.timestamps else ArrivalClock(m.rate_hz)
    idx_out: list[np.ndarray] = []
    t_out: list[FloatArray] = []
    got = np.flatnonzero(~np.isnan(stream.arrival_s))
    for n, j in enumerate(got):
        a = float(stream.arrival_s[j])
        idx = stream.first_index[j] + np.arange(m.samples_per_packet)
        if isinstance(clock, DeviceTimeClock):
            clock.push(idx, stream.device_t_s[idx], a)
        else:
            clock.push(idx, m.samples_per_packet, a)
        if n + 1 < len(got) and float(stream.arrival_s[got[n + 1]]) <= a + wake_s:
            continue  # queued in the same wake-up of the consumer
        for r in clock.pop(a):
            idx_out.append(r.item)
            t_out.append(r.t_s)
    for r in clock.pop(math.inf, flush=True):
        idx_out.append(r.item)
        t_out.append(r.t_s)
    return np.concatenate(idx_out), np.concatenate(t_out), clock.samples_lost


@dataclass
class SensorResult:
    kind: Kind
    constant_ms: float
    rest_ms: FloatArray  # per evaluated sample
    rest_at: FloatArray  # true times of those samples
    monotone: bool
    lost_true: int
    lost_counted: int


def evaluate(
    kind: Kind, duration_s: float, rng: np.random.Generator, drop_rate: float, stalls: bool
) -> SensorResult:
    stream = make_stream(kind, duration_s, rng, drop_rate, stalls)
    idx, t_est, lost = estimate_times(stream)
    true_t = stream.true_t_s[idx]
    err = t_est - true_t
    late = true_t >= EVAL_FROM_S
    const = float(np.median(err[late]))
    n_lost = int(np.isnan(stream.arrival_s).sum()) * kind.per_packet
    return SensorResult(
        kind,
        const * 1e3,
        (err[late] - const) * 1e3,
        true_t[late],
        bool((np.diff(t_est) >= 0).all()),
        n_lost,
        lost,
    )


def pairwise_alignment_ms(a: SensorResult, b: SensorResult) -> FloatArray:
    """|rest_a − rest_b| at a's sample times within the common span (rest_b interpolated)."""
    lo, hi = max(a.rest_at[0], b.rest_at[0]), min(a.rest_at[-1], b.rest_at[-1])
    sel = (a.rest_at >= lo) & (a.rest_at <= hi)
    other = np.interp(a.rest_at[sel], b.rest_at, b.rest_ms)
    out: np.ndarray = np.abs(a.rest_ms[sel] - other)
    return out


GROUPS: dict[str, Callable[[Any], bool]] = {
    "device-time sensors": lambda k: k.timestamps,
    "+ arrival sensors, unlocked links": lambda k: "locked" not in k.name,
    "all, locked links too": lambda k: True,
}


def run_condition(seeds: int, duration_s: float, drop_rate: float, stalls: bool) -> bool:
    print(
        "\n--- condition: drift U(±100 ppm); min latency U(3, 8) ms; host jitter exp(2 ms); "
        f"connection events; stalls of U(0.2, 1) s every ~20 s: {'yes' if stalls else 'no'}; "
        f"lost packets: {drop_rate:.0%} ---"
    )
    per_seed: list[list[SensorResult]] = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        per_seed.append([evaluate(k, duration_s, rng, drop_rate, stalls) for k in KINDS])
    print(
        f"{'sensor kind':48s} {'constant ms':>12s} {'|rest| p50':>10s} {'p95':>6s} {'p99':>6s} {'max':>6s} "
        f"{'lost true/counted':>18s}"
    )
    for i, kind in enumerate(KINDS):
        rs = [row[i] for row in per_seed]
        rest = np.abs(np.concatenate([r.rest_ms for r in rs]))
        consts = [r.constant_ms for r in rs]
        p50, p95, p99 = np.percentile(rest, [50, 95, 99])
        print(
            f"{kind.name:48s} {min(consts):5.1f}–{max(consts):5.1f} {p50:10.2f} {p95:6.2f} {p99:6.2f} "
            f"{rest.max():6.2f} {sum(r.lost_true for r in rs):8d}/{sum(r.lost_counted for r in rs):<8d}"
        )
    print("pairwise alignment between the sensors of one session (rests at the same true time), pooled:")
    for label, chosen in GROUPS.items():
        values = []
        for row in per_seed:
            rs = [r for r in row if chosen(r.kind)]
            values += [pairwise_alignment_ms(a, b) for i, a in enumerate(rs) for b in rs[i + 1 :]]
        v = np.concatenate(values)
        p50, p95, p99 = np.percentile(v, [50, 95, 99])
        within = float(np.mean(v <= TARGET_MS))
        print(
            f"  {label:36s} p50 {p50:5.2f}  p95 {p95:5.2f}  p99 {p99:6.2f}  max {v.max():6.2f} ms; "
            f"{within:6.1%} of the time within {TARGET_MS:.0f} ms"
        )
    mono = all(r.monotone for row in per_seed for r in row)
    print(f"no sample time goes backwards: {mono}")
    return mono


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench clock", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--duration", type=float, default=120.0, help="seconds per simulated session")
    args = ap.parse_args(argv)
    print(
        f"{args.seeds} seeds × {args.duration:.0f} s per condition; "
        f"evaluated at true times ≥ {EVAL_FROM_S:.0f} s"
    )
    ok = run_condition(args.seeds, args.duration, 0.0, True)
    ok &= run_condition(args.seeds, args.duration, 0.01, True)
    return 0 if ok else 1
