"""What one run of the monitor load benchmark measured, and its one-line report."""

from __future__ import annotations

from dataclasses import dataclass, field

P99_LIMIT_S = 1.0
#: The broker's ``max_inflight_messages`` by default in the runs (``--broker-inflight``).
BROKER_INFLIGHT = 1000
PUBLISHER_LAG_LIMIT_S = 1.0


@dataclass
class RunResult:
    label: str
    sessions: int
    instances: int
    db: str
    duration_s: float
    published: int = 0
    stored: int = 0
    lost: int = 0
    duplicate_keys: int = 0
    per_instance_new: list[int] = field(default_factory=list)
    msgs_per_s: float = 0.0
    p50_s: float = float("nan")
    p99_s: float = float("nan")
    max_s: float = float("nan")
    write_max_s: float = 0.0
    arrival_p99_s: float = float("nan")
    drain_s: float = float("nan")
    monitor_cpu_pct: list[float] = field(default_factory=list)
    broker_cpu_pct: float = 0.0
    publishers_cpu_pct: float = 0.0
    postgres_cpu_pct: float = 0.0
    loop_lag_max_s: list[float] = field(default_factory=list)
    loop_stalls: list[int] = field(default_factory=list)
    lock_wait_samples: int = 0
    lock_samples: int = 0
    broker_queue_max: int = 0
    broker_inflight: int = BROKER_INFLIGHT
    publisher_lag_p99_s: float = 0.0
    publisher_errors: int = 0
    unacked: int = 0
    statuses_stored: int = 0
    load_avg: tuple[float, float] = (0.0, 0.0)
    dashboard_p50_s: float = float("nan")
    dashboard_p99_s: float = float("nan")
    dashboard_updates: int = 0
    receipts: int = 0
    #: Monitor CPU time per message received (all instances), microseconds.
    monitor_cpu_us_per_msg: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicate_keys == 0 and self.p99_s + self.write_max_s <= P99_LIMIT_S

    @property
    def harness_limited(self) -> bool:
        return (
            self.publisher_lag_p99_s > PUBLISHER_LAG_LIMIT_S or self.publisher_errors > 0 or self.unacked > 0
        )


def report(r: RunResult) -> None:
    split = " + ".join(str(n) for n in r.per_instance_new)
    cpu = ", ".join(f"{c:.0f} %" for c in r.monitor_cpu_pct)
    verdict = "OK" if r.ok else "FAIL"
    lags = ", ".join(f"{x * 1000:.0f}" for x in r.loop_lag_max_s)
    stalls = ", ".join(str(x) for x in r.loop_stalls)
    locks = (
        f"; sessions waiting on a lock in {r.lock_wait_samples} of {r.lock_samples} samples"
        if r.lock_samples
        else ""
    )
    if r.harness_limited:
        verdict += " (load generator behind schedule: its limit, not the monitor's)"
    ms = 1000.0
    print(
        f"{r.label:>12}: {r.sessions:5d} sessions, {r.instances} instance(s), {r.db:<10} | "
        f"{r.msgs_per_s:7.0f} msg/s in | events published {r.published}, stored {r.stored} "
        f"(per instance {split}), lost {r.lost}, duplicate keys {r.duplicate_keys}, "
        f"statuses {r.statuses_stored} | publish→stored p50 {r.p50_s * ms:.0f} ms, "
        f"p99 {r.p99_s * ms:.0f} ms, "
        f"max {r.max_s * ms:.0f} ms (publish→received p99 {r.arrival_p99_s * ms:.0f} ms), "
        f"longest batch write {r.write_max_s * ms:.0f} ms | "
        f"drained {r.drain_s:.1f} s after the last publish | "
        f"receipts to coaches {r.receipts} | "
        f"CPU (% of one core): monitor {cpu} ({r.monitor_cpu_us_per_msg:.0f} µs per message), "
        f"broker {r.broker_cpu_pct:.0f} %, "
        f"publishers {r.publishers_cpu_pct:.0f} %, PostgreSQL cluster {r.postgres_cpu_pct:.0f} % | "
        f"monitor event loop late by up to {lags} ms (> 100 ms: {stalls} times){locks} | "
        f"broker holding up to {r.broker_queue_max} unacknowledged messages "
        f"(in-flight window {r.broker_inflight}) | "
        f"publisher lag p99 {r.publisher_lag_p99_s * ms:.0f} ms, "
        f"unacked by the broker {r.unacked} | dashboard (overview stream) behind the coach's schedule: "
        f"p50 {r.dashboard_p50_s * ms:.0f} ms, p99 {r.dashboard_p99_s * ms:.0f} ms "
        f"over {r.dashboard_updates} updates | machine load avg {r.load_avg[0]:.1f}→{r.load_avg[1]:.1f} "
        f"| {verdict}",
        flush=True,
    )
