"""Monitor ingest at scale (issue 5 item 5): N simulated coaches → local Mosquitto → ``coach monitor``.

Each simulated coach is a light publisher on its own MQTT connection that replays a recorded event
stream in real time (``coach simulate`` + ``coach replay``, made at start; ``--streams synthetic`` uses
the contract-built streams of :mod:`tests.fixtures.event_feed` instead) and publishes its retained status at
1 Hz. Every event carries the wall time it was published (``bench_pub_unix_s``, an added field); the
monitor stamps ``received_unix_s`` and ``stored_unix_s`` (when its batch write starts) on each row. So:

- loss: events published − distinct events stored, per session (must be 0);
- latency publish → stored: ``stored_unix_s − bench_pub_unix_s``; the batch commit that follows adds at
  most the longest batch write, reported beside it (``p99 + max write`` is the upper bound quoted);
- duplicates across two instances on one shared subscription: each instance's own count of new rows
  (``/healthz``) must add up to the rows in the database, with no key stored twice.

Each event carries its session's delivery number ``seq`` as a coach's spool adds it, and each simulated
coach subscribes to its receipts (``coach/v1/<p>/stored``), so the monitor publishes them as it would.

Runs (default): the yardstick (Mosquitto's own QoS 1 throughput on this machine, :mod:`mqtt_raw`);
the drain (the monitor's CPU per message while it stores a queued backlog, :mod:`monitor_drain`);
2000 sessions on one instance with SQLite; 2000 sessions on two instances sharing one MQTT 5
subscription with PostgreSQL; then a ramp of N on one instance with SQLite until p99 exceeds 1 s, an
event is lost, or the load generator itself falls behind (its ceiling, not the monitor's).

    ./run bench monitor
    ./run bench monitor -- --runs ramp --ramp 1000,2000,3000 --duration 30
    ./run bench monitor -- --runs single --sessions 500 --db postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.monitor_drain import report_drain, run_drain
from benchmarks.monitor_process import (
    MonitorProcess,
    cpu_s_of,
    db_count,
    db_rows,
    postgres_cpu_s,
    start_monitor,
    stop_monitor,
)
from benchmarks.monitor_results import BROKER_INFLIGHT, P99_LIMIT_S, RunResult, report
from benchmarks.monitor_watch import seed_watcher, watch_broker_queue, watch_dashboard, watch_lock_waits
from benchmarks.mqtt_raw import RawClient, broker_yardstick

# --- event streams ------------------------------------------------------------------------------


def recorded_streams(count: int, duration_s: float, workdir: Path) -> tuple[list[list[dict[str, Any]]], str]:
    """Real coach event streams: simulate a session, replay it through the pipeline (falls back to the
    synthetic streams, saying so, when the pipeline cannot run)."""
    try:
        return _record(count, duration_s, workdir), "recorded (coach simulate --random + coach replay)"
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        print(f"could not record streams ({' '.join(exc.cmd[2:4])} failed: {tail}); using synthetic ones")
        return synthetic_streams(count, duration_s), "synthetic (recording failed)"


def _record(count: int, duration_s: float, workdir: Path) -> list[list[dict[str, Any]]]:
    streams = []
    for seed in range(count):
        trace = workdir / f"bench-{seed}.csv"
        subprocess.run(
            [sys.executable, "-m", "coach", "simulate", "-o", str(trace), "--seed", str(seed), "--random",
             "--duration", str(duration_s + 20.0)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "coach", "replay", str(trace)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        streams.append([json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()])
    return streams


def synthetic_streams(count: int, duration_s: float) -> list[list[dict[str, Any]]]:
    from tests.fixtures.event_feed import synthetic_session

    return [synthetic_session(seed, active_s=duration_s + 20.0) for seed in range(count)]


# --- publishers (separate processes) ------------------------------------------------------------


def _publisher_main(
    port: int, coaches: list[tuple[int, str, str]], streams: list[list[dict[str, Any]]],
    start_unix_s: float, duration_s: float, out: Any,
) -> None:  # fmt: skip
    os.nice(10)  # the load generator yields the CPU to the broker, the monitor and the database
    result = asyncio.run(_publish_all(port, coaches, streams, start_unix_s, duration_s))
    result["cpu_s"] = time.process_time()
    out.put(result)


async def _publish_all(
    port: int, coaches: list[tuple[int, str, str]], streams: list[list[dict[str, Any]]],
    start_unix_s: float, duration_s: float,
) -> dict[str, Any]:  # fmt: skip
    lags: list[float] = []
    published: dict[str, int] = {}
    counts = {"statuses": 0, "sent": 0, "acked": 0, "receipts": 0}
    errors: list[str] = []

    async def coach(index: int, patient: str, session: str) -> None:
        stream = [e for e in streams[index % len(streams)] if e["t"] < duration_s]
        begin = start_unix_s + (index % 997) / 997.0  # spread the coaches over the second
        events_topic = f"coach/v1/{patient}/{session}/events"
        status_topic = f"coach/v1/{patient}/status"
        count = 0
        try:
            client = await RawClient.connect(port, f"bench-{patient}")
            client.subscribe(f"coach/v1/{patient}/stored")  # the monitor's receipts, as a coach does
            next_status = 0.0
            state = "idle"
            for event in stream:
                while next_status <= event["t"]:
                    wait = begin + next_status - time.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    body = {
                        "state": state,
                        "session": session,
                        "sensors": {"treated": {"link": "up", "battery_pct": 80}},
                    }
                    client.publish(status_topic, json.dumps(body).encode(), retain=True)
                    counts["statuses"] += 1
                    next_status += 1.0
                wait = begin + event["t"] - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if event["type"] == "state":
                    state = event["state"]
                now = time.time()
                lags.append(now - (begin + event["t"]))
                count += 1
                payload = dict(event, seq=count, bench_pub_unix_s=now)  # seq: as the coach's spool adds
                client.publish(events_topic, json.dumps(payload, separators=(",", ":")).encode())
            await asyncio.sleep(3.0)  # the receipt of the last events
            await client.close()
            counts["sent"] += client.sent
            counts["acked"] += client.acked
            counts["receipts"] += client.received
        except Exception as exc:  # reported; the run counts it against the load generator
            errors.append(f"{patient}: {type(exc).__name__}: {exc}")
        published[f"{patient}/{session}"] = count

    await asyncio.gather(*(coach(i, p, s) for i, p, s in coaches))
    lags.sort()
    return {
        "published": published,
        "statuses": counts["statuses"],
        "receipts": counts["receipts"],
        "unacked": counts["sent"] - counts["acked"],
        "lag_p99_s": lags[int(0.99 * (len(lags) - 1))] if lags else 0.0,
        "lag_max_s": lags[-1] if lags else 0.0,
        "errors": errors[:5],
        "error_count": len(errors),
    }


# --- one run ------------------------------------------------------------------------------------


def run_once(
    label: str, sessions: int, instances: int, db_kind: str, duration_s: float,
    streams: list[list[dict[str, Any]]], publishers: int, workdir: Path, group_single: bool = False,
    broker_inflight: int = BROKER_INFLIGHT,
) -> RunResult:  # fmt: skip
    from tests.fixtures.monitor_services import fresh_postgres_database
    from tests.fixtures.mosquitto import MosquittoBroker, MosquittoConfig

    res = RunResult(label, sessions, instances, db_kind, duration_s)
    load_before = os.getloadavg()[0]
    run_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=workdir))
    res.broker_inflight = broker_inflight
    extra = ("sys_interval 1", f"max_inflight_messages {broker_inflight}")  # the later line wins
    broker = MosquittoBroker(run_dir / "mosquitto", MosquittoConfig(persistence=False, extra=extra))
    broker.start()
    db_ctx: contextlib.AbstractContextManager[str]
    if db_kind == "postgresql":
        db_ctx = fresh_postgres_database("coach_monitor_bench")
    else:
        db_ctx = contextlib.nullcontext(f"sqlite:///{run_dir}/monitor.sqlite3")
    monitors: list[MonitorProcess] = []
    try:
        with db_ctx as db_url:
            asyncio.run(seed_watcher(db_url))
            group = "bench" if instances > 1 or group_single else None
            monitors = [
                start_monitor(broker.url, db_url, run_dir, group, f"{label}-{k}", broker_inflight)
                for k in range(instances)
            ]
            coaches = [(i, f"p-{i:05d}", f"s-{label}-{i:05d}") for i in range(sessions)]
            assert broker.process is not None
            broker_cpu_start_s = cpu_s_of(broker.process.pid)
            pg_cpu_start = postgres_cpu_s()
            lock_waits: list[int] = []
            stop_locks = threading.Event()
            broker_queue: list[int] = []
            threading.Thread(
                target=watch_broker_queue, args=(broker.port, stop_locks, broker_queue), daemon=True
            ).start()
            if db_kind == "postgresql":
                threading.Thread(
                    target=watch_lock_waits, args=(db_url, stop_locks, lock_waits), daemon=True
                ).start()
            start_unix_s = time.time() + 3.0 + sessions / 500.0  # time to connect every coach
            stop_watch = threading.Event()
            dashboard_lat: list[float] = []
            watcher = threading.Thread(
                target=watch_dashboard,
                args=(monitors[0].port, start_unix_s, stop_watch, dashboard_lat),
                daemon=True,
            )
            watcher.start()
            ctx = mp.get_context("spawn")
            queue = ctx.Queue()
            procs = []
            for k in range(publishers):
                mine = coaches[k::publishers]
                proc = ctx.Process(
                    target=_publisher_main,
                    args=(broker.port, mine, streams, start_unix_s, duration_s, queue),
                )
                proc.start()
                procs.append(proc)
            outs = [queue.get(timeout=duration_s + 300) for _ in procs]
            for proc in procs:
                proc.join(timeout=30)
            end_publish = time.time()
            stop_watch.set()
            published = {k: v for out in outs for k, v in out["published"].items()}
            res.published = sum(published.values())
            res.publisher_lag_p99_s = max(out["lag_p99_s"] for out in outs)
            res.publisher_errors = sum(out["error_count"] for out in outs)
            res.unacked = sum(out["unacked"] for out in outs)
            for out in outs:
                for err in out["errors"]:
                    print(f"  publisher error: {err}", file=sys.stderr)
            statuses = sum(out["statuses"] for out in outs)
            res.receipts = sum(out["receipts"] for out in outs)
            res.msgs_per_s = (res.published + statuses) / duration_s
            # Drain: wait until every published event is stored (or give up after 60 s).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if asyncio.run(db_count(db_url)) >= res.published:
                    break
                time.sleep(0.2)
            res.drain_s = time.time() - end_publish
            # The instances count a batch just after its commit: let the counters settle.
            stored_now = asyncio.run(db_count(db_url))
            deadline = time.monotonic() + 10
            healths = [m.health()["ingest"] for m in monitors]
            while sum(h["stored_new"] for h in healths) < stored_now and time.monotonic() < deadline:
                time.sleep(0.2)
                healths = [m.health()["ingest"] for m in monitors]
            wall_s = time.time() - start_unix_s
            res.monitor_cpu_pct = [100.0 * (m.cpu_s() - m.cpu_start_s) / wall_s for m in monitors]
            received = sum(h["received"] for h in healths)
            res.monitor_cpu_us_per_msg = (
                1e6 * sum(m.cpu_s() - m.cpu_start_s for m in monitors) / max(received, 1)
            )
            res.broker_cpu_pct = 100.0 * (cpu_s_of(broker.process.pid) - broker_cpu_start_s) / wall_s
            pg_cpu = postgres_cpu_s()
            res.postgres_cpu_pct = (
                100.0 * sum(v - pg_cpu_start.get(pid, 0.0) for pid, v in pg_cpu.items()) / wall_s
            )
            res.publishers_cpu_pct = 100.0 * sum(out["cpu_s"] for out in outs) / wall_s
            res.loop_lag_max_s = [h["loop_lag_s_max"] for h in healths]
            res.loop_stalls = [h["loop_stalls_100ms"] for h in healths]
            stop_locks.set()
            res.broker_queue_max = max(broker_queue, default=0)
            res.lock_samples = len(lock_waits)
            res.lock_wait_samples = sum(1 for n in lock_waits if n)
            res.per_instance_new = [h["stored_new"] for h in healths]
            res.write_max_s = max(h["write_s_max"] for h in healths)
            rows, res.statuses_stored = asyncio.run(db_rows(db_url))
            res.load_avg = (load_before, os.getloadavg()[0])
    finally:
        for m in monitors:
            stop_monitor(m)
        broker.stop()
    keys = [(r["patient_id"], r["session_id"], r["event_id"]) for r in rows]
    res.stored = len(keys)
    res.duplicate_keys = len(keys) - len(set(keys))
    stored_per_session: dict[str, int] = {}
    for p, s, _ in set(keys):
        stored_per_session[f"{p}/{s}"] = stored_per_session.get(f"{p}/{s}", 0) + 1
    res.lost = sum(max(0, n - stored_per_session.get(k, 0)) for k, n in published.items())
    pub = [json.loads(r["payload"])["bench_pub_unix_s"] for r in rows]
    dump = os.environ.get("BENCH_MONITOR_DUMP")  # a folder: per-event times, to see where latency goes
    if dump:
        times = [
            (t, r["received_unix_s"], r["stored_unix_s"], r["patient_id"])
            for r, t in zip(rows, pub, strict=True)
        ]
        Path(dump, f"{label}-times.json").write_text(
            json.dumps({"start_unix_s": start_unix_s, "times": times})
        )
    arrivals = sorted(r["received_unix_s"] - t for r, t in zip(rows, pub, strict=True))
    if arrivals:
        res.arrival_p99_s = arrivals[int(0.99 * (len(arrivals) - 1))]
    latencies = sorted(r["stored_unix_s"] - t for r, t in zip(rows, pub, strict=True))
    if latencies:
        res.p50_s = statistics.median(latencies)
        res.p99_s = latencies[int(0.99 * (len(latencies) - 1))]
        res.max_s = latencies[-1]
    lat = sorted(dashboard_lat[2:])  # the first updates include the session's start-up
    if lat:
        res.dashboard_updates = len(lat)
        res.dashboard_p50_s = statistics.median(lat)
        res.dashboard_p99_s = lat[int(0.99 * (len(lat) - 1))]
    if instances > 1 and sum(res.per_instance_new) != res.stored:
        res.duplicate_keys += abs(sum(res.per_instance_new) - res.stored)
    return res


def run_yardstick(
    workdir: Path, payload_bytes: int, broker_inflight: int, seconds: float
) -> dict[str, float]:
    """Mosquitto's own QoS 1 throughput on this machine, with the runs' broker settings."""
    from tests.fixtures.mosquitto import MosquittoBroker, MosquittoConfig

    extra = ("sys_interval 1", f"max_inflight_messages {broker_inflight}")
    broker = MosquittoBroker(Path(tempfile.mkdtemp(prefix="yardstick-", dir=workdir)),
                             MosquittoConfig(persistence=False, extra=extra))  # fmt: skip
    broker.start()
    try:
        assert broker.process is not None
        load = os.getloadavg()[0]
        out = broker_yardstick(broker.port, broker.process.pid, payload_bytes, seconds)
        out["load_before"], out["load_after"] = load, os.getloadavg()[0]
    finally:
        broker.stop()
    print(
        f"   yardstick: Mosquitto QoS 1, 8 raw publishers → broker → 1 raw subscriber acknowledging each, "
        f"{payload_bytes}-byte payloads: {out['msgs_per_s']:.0f} msg/s delivered "
        f"(broker CPU {out['broker_cpu_us_per_msg']:.1f} µs per message) | machine load avg "
        f"{out['load_before']:.1f}→{out['load_after']:.1f}",
        flush=True,
    )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench monitor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs",
        default="yardstick,drain,single,shared,ramp",
        help="any of yardstick, drain, single, shared, ramp",
    )
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--drain-messages", type=int, default=60_000, help="backlog of the drain run")
    parser.add_argument(
        "--db", choices=("sqlite", "postgresql"), default="sqlite", help="for single and ramp"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of publishing per run")
    parser.add_argument("--ramp", default="250,500,750,1000,1500,2000,3000")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--streams", choices=("recorded", "synthetic"), default="recorded")
    parser.add_argument("--stream-count", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="run single and shared this many times")
    parser.add_argument(
        "--broker-inflight",
        type=int,
        default=BROKER_INFLIGHT,
        help=f"Mosquitto's max_inflight_messages, told to MQTT 3.1.1 monitors (default {BROKER_INFLIGHT})",
    )
    parser.add_argument(
        "--group-single", action="store_true", help="single run on a shared subscription (MQTT 5)"
    )
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per simulated coach
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        workdir = Path(tmp)
        # The bench's own database work (the watcher's patient) and the monitors share one data folder,
        # hence one enrolment-secret key (coach/monitor/secret_box.py).
        os.environ["COACH_DATA_DIR"] = str(workdir / "data")
        if args.streams == "recorded":
            streams, kind = recorded_streams(args.stream_count, args.duration, workdir)
        else:
            streams, kind = synthetic_streams(args.stream_count, args.duration), "synthetic"
        rates = [sum(1 for e in s if e["t"] < args.duration) / args.duration for s in streams]
        print(
            f"settings: {kind} streams ×{len(streams)} ({statistics.mean(rates):.2f} events/s per "
            f"session + status 1 Hz), {args.duration:.0f} s per run, {args.publishers} publisher processes, "
            "one MQTT connection per coach (raw MQTT 3.1.1 publishers at nice 10), Mosquitto 2 (QoS 1), "
            f"{os.cpu_count()} CPU cores, target p99 (+ longest batch write) ≤ {P99_LIMIT_S * 1000:.0f} ms "
            "with no loss",
            flush=True,
        )
        results: list[RunResult] = []
        yardstick = None
        if "yardstick" in runs:
            sizes = [
                len(json.dumps(dict(e, seq=1, bench_pub_unix_s=time.time()))) for s in streams for e in s
            ]
            yardstick = run_yardstick(workdir, int(statistics.mean(sizes)), args.broker_inflight, 10.0)
        for _ in range(args.repeat):
            if "drain" in runs:
                report_drain(
                    run_drain(
                        streams, workdir, args.db, args.drain_messages, args.sessions, args.broker_inflight
                    )
                )
            if "single" in runs:
                results.append(
                    run_once(
                        "single",
                        args.sessions,
                        1,
                        args.db,
                        args.duration,
                        streams,
                        args.publishers,
                        workdir,
                        args.group_single,
                        args.broker_inflight,
                    )
                )
                report(results[-1])
            if "shared" in runs:
                results.append(
                    run_once(
                        "shared",
                        args.sessions,
                        2,
                        "postgresql",
                        args.duration,
                        streams,
                        args.publishers,
                        workdir,
                        broker_inflight=args.broker_inflight,
                    )
                )
                report(results[-1])
        if "ramp" in runs:
            ceiling, first_fail = None, None
            for n in [int(x) for x in args.ramp.split(",") if x]:
                r = run_once(
                    f"ramp-{n}",
                    n,
                    1,
                    args.db,
                    args.duration,
                    streams,
                    args.publishers,
                    workdir,
                    broker_inflight=args.broker_inflight,
                )
                report(r)
                results.append(r)
                if not r.ok or r.harness_limited:
                    first_fail = r
                    break
                ceiling = r
            best = (
                f"{ceiling.sessions} sessions ({ceiling.msgs_per_s:.0f} msg/s)"
                if ceiling
                else "none of the ramp"
            )
            limit = f"; {first_fail.sessions} did not" if first_fail else "; the ramp ended first"
            print(
                f"ceiling on this machine ({args.db}, one instance): {best} within the target{limit}",
                flush=True,
            )
            if yardstick is not None and ceiling is not None:
                print(
                    f"side by side: the monitor's ceiling {ceiling.msgs_per_s:.0f} msg/s is "
                    f"{ceiling.msgs_per_s / yardstick['msgs_per_s']:.2f} × Mosquitto's own QoS 1 throughput "
                    f"({yardstick['msgs_per_s']:.0f} msg/s) measured in this run",
                    flush=True,
                )
    for label in ("single", "shared"):
        mine = [r for r in results if r.label == label]
        if len(mine) > 1:
            p99s = ", ".join(f"{(r.p99_s + r.write_max_s) * 1000:.0f}" for r in mine)
            loads = ", ".join(f"{r.load_avg[0]:.1f}→{r.load_avg[1]:.1f}" for r in mine)
            print(
                f"{label}: within the target in {sum(r.ok for r in mine)} of {len(mine)} runs; "
                f"p99 + longest write (ms): {p99s}; load avg: {loads}",
                flush=True,
            )
    return 0 if all(r.ok for r in results if r.label in ("single", "shared")) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
