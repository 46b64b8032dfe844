"""The live part of ``bench speed``: :mod:`benchmarks.bench_live`'s session (three simulated 100 Hz
coach-imu sensors through the simulated bleak backend and the real drivers, a private Mosquitto, latency
joined from outside the coach by :mod:`benchmarks.live_latency`), run on the machine as it is and again
with both cores kept busy by spinning processes; and the simulated devices with the drivers alone, whose
share is taken off the coach process's to give the coach's own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TARGET_OWN_CPU_PCT = 5.0
TARGET_P99_MS = 20.0
PROFILES = "coach-imu,coach-imu,coach-imu"
POSTURE_HZ = 10.0  # enough events for a p99 (the coach's default is 1)

SPIN = (
    "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
)


def _spinners(seconds: float) -> list[subprocess.Popen[bytes]]:
    """One spinning process per core, each ending by itself after ``seconds``."""
    return [
        subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)], stdin=subprocess.DEVNULL)
        for _ in range(os.cpu_count() or 2)
    ]


def _session(url: str, host: str, port: int, seconds: float, work: Path) -> dict[str, Any]:
    from benchmarks.bench_live import latency_and_cpu

    work.mkdir()
    return asyncio.run(latency_and_cpu(host, port, url, seconds, work, 0.0, POSTURE_HZ, PROFILES))


def live_figures(seconds: float, busy: bool) -> dict[str, Any]:
    from benchmarks.bench_live import devices_only_cpu
    from tests.fixtures.mosquitto import MosquittoBroker, MosquittoConfig

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-speed-live-") as tmp:
        work = Path(tmp)
        broker = MosquittoBroker(work / "mosquitto", MosquittoConfig(persistence=False)).start()
        try:
            base_dir = work / "devices-only"
            base_dir.mkdir()
            devices = asyncio.run(devices_only_cpu(seconds, base_dir, PROFILES))
            runs = [("live_quiet", "as it is")] + ([("live_busy", "both cores busy")] if busy else [])
            for key, label in runs:
                spinners = _spinners(seconds + 60.0) if key == "live_busy" else []
                try:
                    live = _session(broker.url, broker.host, broker.port, seconds, work / key)
                finally:
                    for p in spinners:
                        p.kill()
                        p.wait()
                own = live["cpu_active_pct"] - devices
                cpu_ok = "met" if own <= TARGET_OWN_CPU_PCT else "NOT met"
                p99_ok = "met" if live["p99_ms"] <= TARGET_P99_MS else "NOT met"
                print(
                    f"live, 3 sensors x 100 Hz, machine {label} (load average {os.getloadavg()[0]:.1f}): "
                    f"coach process {live['cpu_active_pct']:.1f} % of a core, simulated devices + drivers "
                    f"alone {devices:.1f} %, coach's own {own:.1f} % [target <= {TARGET_OWN_CPU_PCT:g} %: "
                    f"{cpu_ok}]; notification -> subscriber p50 {live['p50_ms']:.1f} ms, p99 "
                    f"{live['p99_ms']:.1f} ms, max {live['max_ms']:.1f} ms over {live['events_timed']} "
                    "events "
                    f"[target p99 <= {TARGET_P99_MS:g} ms: {p99_ok}]; {live['events_arrived']} of "
                    f"{live['events_published']} events arrived",
                    flush=True,
                )
                out[key] = {
                    "coach_cpu_pct": live["cpu_active_pct"],
                    "devices_cpu_pct": devices,
                    "coach_own_cpu_pct": own,
                    "p50_ms": live["p50_ms"],
                    "p99_ms": live["p99_ms"],
                    "max_ms": live["max_ms"],
                    "events_timed": live["events_timed"],
                }
        finally:
            broker.stop()
    return out
