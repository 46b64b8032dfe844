"""The coach side of ``bench_live``: one real-time live session with three simulated 100 Hz sensors,
publishing to the broker given. For every event a notification decided it writes a line
``<event id> <monotonic time the notification entered the driver> <type>`` to ``--latency-log``;
``time.monotonic()`` is one clock for every process on the machine, so the benchmark joins these with
its subscriber's arrival times.

    python -m benchmarks.live_coach_proc --broker mqtt://127.0.0.1:PORT --seconds 60 --latency-log F
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import numpy as np


class ArrivalTracker:
    """Which notification carried each sample: the driver's ``DeviceStream._take`` (a decoded sample
    packet with its notification's arrival time) is wrapped, in this benchmark process only, to note
    per role each packet's arrival time and sample count; the hub emits a role's samples in that
    order, so a block's samples take the next entries."""

    def __init__(self) -> None:
        self.fifo: dict[str, deque[list[float]]] = defaultdict(deque)
        self.unmatched_blocks = 0

    def install(self) -> None:
        from drivers.stream import DeviceStream

        original = DeviceStream._take
        tracker = self

        def take(stream: Any, packet: Any, arrival_s: float) -> None:
            if packet.stream == "imu":
                tracker.fifo[stream.role].append([arrival_s, packet.n_samples])
            original(stream, packet, arrival_s)

        DeviceStream._take = take  # type: ignore[method-assign,assignment]

    def arrival_of(self, block: Any) -> np.ndarray | None:
        queue = self.fifo[block.role]
        out = np.empty(len(block))
        for i in range(len(block)):
            if not queue:
                self.unmatched_blocks += 1
                return None
            head = queue[0]
            out[i] = head[0]
            head[1] -= 1
            if head[1] == 0:
                queue.popleft()
        return out


async def main(argv: list[str]) -> int:
    from coach.events import Event
    from coach.session.config import BrokerConfig, RunConfig
    from coach.session.live import ScriptedSelfReport
    from coach.session.runner import SessionRun, run_session, simulated_source
    from coach.session.screening import ScriptedAnswers

    p = argparse.ArgumentParser(prog="python -m benchmarks.live_coach_proc")
    p.add_argument("--broker", required=True)
    p.add_argument("--patient", default="p-bench")
    p.add_argument("--seconds", type=float, default=60.0, help="active session length (target)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--latency-log", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--feed-interval-s", type=float, default=0.0)
    p.add_argument("--posture-hz", type=float, default=1.0)
    p.add_argument(
        "--profiles",
        default="coach-imu,coach-imu,coach-imu",
        help="simulated device profiles for treated, hand, stroker (single-stream profiles only)",
    )
    p.add_argument(
        "--devices-only", action="store_true", help="no session: the simulated devices and drivers"
    )
    args = p.parse_args(argv)
    cfg = RunConfig(
        source="bench_live",
        patient=args.patient,
        devices=(),
        arm="right",
        target_duration_s=args.seconds,
        posture_hz=args.posture_hz,
        broker=BrokerConfig(args.broker),
    )
    tracker = ArrivalTracker()
    tracker.install()
    profiles = dict(zip(("treated", "hand", "stroker"), args.profiles.split(","), strict=True))
    source = simulated_source(
        cfg, seed=args.seed, duration_s=args.seconds + 40.0, profiles=profiles, arrival_of=tracker.arrival_of
    )
    if args.devices_only:
        # The baseline: the same simulated devices and the drivers, their blocks read and dropped.
        from coach.clock import SessionClock
        from coach.samples import SampleBlock
        from coach.session.sources import Notified

        clock = SessionClock()
        await source.start(clock)
        t_first = time.monotonic()
        samples = 0
        async for item in source.items():
            if clock.now_s() >= args.seconds + 12.0:
                break
            block = item.block if isinstance(item, Notified) else item
            samples += len(block) if isinstance(block, SampleBlock) else 0
        await source.close()
        print(json.dumps({"samples": samples, "start_monotonic": t_first, "end_monotonic": time.monotonic()}))
        return 0
    log = args.latency_log.open("w", encoding="utf-8")

    def on_decided(event: Event, entered_monotonic_s: float) -> None:
        log.write(f"{event['id']} {entered_monotonic_s:.6f} {event['type']}\n")

    run = SessionRun(
        source,
        answers=ScriptedAnswers(),
        self_report=ScriptedSelfReport(),
        speed=1.0,
        interactive_view=False,
        on_decided=on_decided,
        data_dir=args.data_dir,
        live_overrides={"connect_wait_s": 5.0, "feed_interval_s": args.feed_interval_s},
    )
    try:
        result = await run_session(cfg, run)
    finally:
        log.close()
    print(
        json.dumps(
            {
                "session": result.session_id,
                "events": result.events_total,
                "state": result.state,
                "unmatched_blocks": tracker.unmatched_blocks,
                "profiles": profiles,
            }
        )
    )
    return 0 if result.state == "finished" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
