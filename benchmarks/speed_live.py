"""The live part of ``bench speed``: :mod:`benchmarks.bench_live`'s session (three simulated 100 Hz
coach-imu sensors through the simulated bleak backend and the real drivers, a private Mosquitto, latency
joined from outside the coach by :mod:`benchmarks.live_latency`), run on the machine as it is and again
with both cores kept busy by spinning processes; and the simulated devices with the drivers alone, whose
share is taken off the coach process's to give the coach's own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TARGET_OWN_CPU_PCT = 5.0
TARGET_P99_MS = 20.0
PROFILES = "coach-imu,coach-imu,coach-imu"
POSTURE_HZ = 10.0  # enough events for a p99 (the coach's default is 1)
HOP_RATE_HZ = 12.0  # about the live session's event rate with posture events at 10 Hz

SPIN = (
    "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
)


def _spinners(seconds: float) -> list[subprocess.Popen[bytes]]:
    """One spinning process per core, each ending by itself after ``seconds``."""
    return [
        subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)], stdin=subprocess.DEVNULL)
        for _ in range(os.cpu_count() or 2)
    ]


HOP_PUBLISHER = """
import asyncio, json, sys, time
import aiomqtt

async def main(host, port, seconds, rate_hz):
    async with aiomqtt.Client(host, int(port), identifier="bench-hop-pub") as c:
        end = time.monotonic() + float(seconds)
        k = 0
        while time.monotonic() < end:
            k += 1
            body = {"type": "posture", "t": k / 10, "id": f"hop-{k}", "elevated": True,
                    "elevation_deg": 21.5, "wrist_neutral": True, "wrist_flexion_deg": 3.2,
                    "wrist_deviation_deg": -1.1, "forearm_roll_deg": 4.0, "sent": time.monotonic()}
            await c.publish("bench/hop", json.dumps(body, separators=(",", ":")).encode(), qos=1)
            await asyncio.sleep(1.0 / float(rate_hz))

asyncio.run(main(*sys.argv[1:]))
"""


async def _mqtt_hop(host: str, port: int, seconds: float, rate_hz: float) -> dict[str, float]:
    """The yardstick: another process publishes event-sized messages (QoS 1) to the same broker at the
    live session's event rate, each stamped with ``time.monotonic()``; this one subscribes, as the
    benchmark's subscriber does. Latency publish -> subscriber, p50 / p99 / max."""
    import json
    import time

    import aiomqtt

    from benchmarks.bench_live import _percentile

    lat_ms: list[float] = []
    async with aiomqtt.Client(host, port, identifier=f"bench-hop-sub-{os.getpid()}") as c:
        await c.subscribe("bench/hop", qos=1)
        pub = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOP_PUBLISHER, host, str(port), str(seconds), str(rate_hz)
        )

        async def collect() -> None:
            async for m in c.messages:
                now = time.monotonic()
                lat_ms.append((now - float(json.loads(m.payload)["sent"])) * 1000.0)

        task = asyncio.create_task(collect())
        await pub.wait()
        await asyncio.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    lat_ms = lat_ms[10:]  # the first ones include the publisher's start-up
    return {
        "p50_ms": statistics.median(lat_ms),
        "p99_ms": _percentile(lat_ms, 99),
        "max_ms": max(lat_ms),
        "n": len(lat_ms),
    }


def _session(
    url: str, host: str, port: int, seconds: float, work: Path, step_points: int = 1, split: bool = True
) -> dict[str, Any]:
    from benchmarks.bench_live import latency_and_cpu

    work.mkdir()
    job = latency_and_cpu(host, port, url, seconds, work, 0.0, POSTURE_HZ, PROFILES, step_points, split)
    return asyncio.run(job)


def live_figures(seconds: float, busy: bool, step_points: int = 1, unsplit: bool = False) -> dict[str, Any]:
    """The live figures; with ``step_points`` > 1 also a quiet session deciding in steps of that many
    decision points (``LiveConfig.step_points``: less CPU, up to a step more latency); with ``unsplit``
    also a quiet session whose steps are not split (``LiveConfig.split_steps`` off), beside the split one."""
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
            runs = [("live_quiet", "as it is", 1, True)]
            if unsplit:
                runs.append(("live_quiet_unsplit", "as it is, steps not split", 1, False))
            if busy:
                runs.append(("live_busy", "both cores busy", 1, True))
            if step_points > 1:
                runs.append(
                    (f"live_quiet_step{step_points}", f"as it is, steps of {step_points}", step_points, True)
                )
            for key, label, step, split in runs:
                spinners = _spinners(seconds + 120.0) if key == "live_busy" else []
                try:
                    hop = asyncio.run(_mqtt_hop(broker.host, broker.port, 20.0, HOP_RATE_HZ))
                    print(
                        f"yardstick, machine {label}: MQTT hop alone (another process publishing "
                        f"event-sized messages at {HOP_RATE_HZ:g}/s, QoS 1, same broker and subscriber "
                        f"side) p50 {hop['p50_ms']:.1f} ms, p99 {hop['p99_ms']:.1f} ms, max "
                        f"{hop['max_ms']:.1f} ms over {hop['n']} messages",
                        flush=True,
                    )
                    live = _session(broker.url, broker.host, broker.port, seconds, work / key, step, split)
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
                    f"{live['events_published']} events arrived; coach process CPU "
                    f"{live['cpu_active_s']:.2f} s over the active {live['active_window_s']:.0f} s; "
                    f"latency read as before 2026-12-07 (one sample period past t): p50 "
                    f"{live['p50_ms_sample_period']:.1f} ms, p99 {live['p99_ms_sample_period']:.1f} ms",
                    flush=True,
                )
                kinds = ", ".join(
                    f"{kind} {n} p50 {p50:.1f} / p99 {p99:.1f} ms"
                    for kind, (n, p50, p99) in live["by_kind"].items()
                )
                print(f"  by event type: {kinds}", flush=True)
                out[key] = {
                    "coach_cpu_pct": live["cpu_active_pct"],
                    "devices_cpu_pct": devices,
                    "coach_own_cpu_pct": own,
                    "p50_ms": live["p50_ms"],
                    "p99_ms": live["p99_ms"],
                    "max_ms": live["max_ms"],
                    "events_timed": live["events_timed"],
                    "p99_ms_sample_period": live["p99_ms_sample_period"],
                    "mqtt_hop_p50_ms": hop["p50_ms"],
                    "mqtt_hop_p99_ms": hop["p99_ms"],
                    "load_average": os.getloadavg()[0],
                }
        finally:
            broker.stop()
    return out
