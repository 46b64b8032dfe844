"""The monitor's own ceiling, load-independent: CPU per message while it drains a backlog.

The live runs of :mod:`benchmarks.bench_monitor` replay sessions in real time, so on a shared machine
their latency measures the machine as much as the monitor. Here the monitor runs as a process with its
persistent session, is stopped, ``--drain-messages`` coach events (and a status per patient) are
queued at the broker for it, and it is started again: it takes them as fast as it can (the broker
hands over its in-flight window at a time, the monitor acknowledges each batch after its commit,
publishes receipts), and the run measures the monitor process's CPU time from its connection until
every event is stored. CPU seconds per message do not depend on what else the machine runs (much);
1 / (CPU per message) is how many messages a second one instance carries with a whole core, to quote
beside Mosquitto's own QoS 1 throughput (the yardstick, same payload size).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.monitor_process import db_count, start_monitor, stop_monitor
from benchmarks.mqtt_raw import RawClient


@dataclass
class DrainResult:
    db: str
    messages: int = 0
    stored: int = 0
    lost: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    batches: int = 0
    #: Messages received between the two CPU readings (the first once the monitor answers).
    measured: int = 0
    load_avg: tuple[float, float] = (0.0, 0.0)

    @property
    def cpu_us_per_msg(self) -> float:
        return 1e6 * self.cpu_s / max(self.messages, 1)


async def _queue_backlog(port: int, streams: list[list[dict[str, Any]]], patients: int, total: int) -> int:
    """Publish ``total`` events round-robin over ``patients`` sessions (and one status each), QoS 1,
    on 8 connections; returns the events published once the broker acknowledged all."""
    clients = [await RawClient.connect(port, f"drain-pub-{k}") for k in range(8)]
    cursors = [0] * patients
    live = [[e for e in s if e["type"] != "summary"] for s in streams]  # sessions under way
    sent = 0
    for k in range(patients):
        body = {"state": "active", "session": f"s-drain-{k:05d}"}
        clients[k % 8].publish(f"coach/v1/p-{k:05d}/status", json.dumps(body).encode(), retain=True)
    while sent < total:
        for k in range(patients):
            if sent >= total:
                break
            stream = live[k % len(live)]
            event = stream[cursors[k] % len(stream)]
            cursors[k] += 1
            payload = dict(
                event, id=f"{event['id']}-{cursors[k]}", seq=cursors[k], bench_pub_unix_s=time.time()
            )
            clients[k % 8].publish(
                f"coach/v1/p-{k:05d}/s-drain-{k:05d}/events",
                json.dumps(payload, separators=(",", ":")).encode(),
            )
            sent += 1
        for c in clients:
            await c.writer.drain()
    for c in clients:
        await c.close(60.0)
    return sent


def run_drain(
    streams: list[list[dict[str, Any]]],
    workdir: Path,
    db_kind: str,
    messages: int,
    patients: int,
    inflight: int,
) -> DrainResult:
    from tests.fixtures.monitor_services import fresh_postgres_database
    from tests.fixtures.mosquitto import MosquittoBroker, MosquittoConfig

    res = DrainResult(db_kind)
    run_dir = Path(tempfile.mkdtemp(prefix="drain-", dir=workdir))
    extra = (f"max_inflight_messages {inflight}", "max_queued_messages 0")
    broker = MosquittoBroker(run_dir / "mosquitto", MosquittoConfig(persistence=False, extra=extra))
    broker.start()
    db_ctx: contextlib.AbstractContextManager[str]
    if db_kind == "postgresql":
        db_ctx = fresh_postgres_database("coach_monitor_drain")
    else:
        db_ctx = contextlib.nullcontext(f"sqlite:///{run_dir}/monitor.sqlite3")
    try:
        with db_ctx as db_url:
            first = start_monitor(broker.url, db_url, run_dir, None, "drain", inflight)
            stop_monitor(first)  # its persistent session now queues what coaches publish
            res.messages = asyncio.run(_queue_backlog(broker.port, streams, patients, messages))
            load_before = os.getloadavg()[0]
            started = time.monotonic()
            monitor = start_monitor(broker.url, db_url, run_dir, None, "drain", inflight)
            try:
                cpu0, got0 = monitor.cpu_s(), monitor.health()["ingest"]["received"]
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline and asyncio.run(db_count(db_url)) < res.messages:
                    time.sleep(0.2)
                res.wall_s = time.monotonic() - started
                health = monitor.health()["ingest"]
                res.measured = health["received"] - got0
                res.cpu_s = (monitor.cpu_s() - cpu0) * res.messages / max(res.measured, 1)
                res.batches = health["batches"]
            finally:
                stop_monitor(monitor)
            res.stored = asyncio.run(db_count(db_url))
            res.lost = max(0, res.messages - res.stored)
            res.load_avg = (load_before, os.getloadavg()[0])
    finally:
        broker.stop()
    return res


def report_drain(r: DrainResult) -> None:
    verdict = "OK" if r.lost == 0 else "FAIL"
    print(
        f"       drain: backlog of {r.messages} events on 1 instance, {r.db:<10} | stored {r.stored}, "
        f"lost {r.lost} | monitor CPU {r.cpu_us_per_msg:.0f} µs per message (over {r.measured} messages) "
        f"(= {1e6 / max(r.cpu_us_per_msg, 1e-9):.0f} msg/s on one whole core), "
        f"drained in {r.wall_s:.1f} s wall ({r.messages / max(r.wall_s, 1e-9):.0f} msg/s), "
        f"{r.batches} batches "
        f"| machine load avg {r.load_avg[0]:.1f}→{r.load_avg[1]:.1f} | {verdict}",
        flush=True,
    )
