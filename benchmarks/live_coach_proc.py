"""The coach side of ``bench_live``: one real-time live session with three simulated 100 Hz sensors,
publishing to the broker given. The coach carries no instrumentation: this process, which assembles
the simulated world, notes when each simulated device delivered a notification and the true times of
the samples in it (``SimWorld.on_delivery``), and the world time at session ``t = 0``; it writes them
to ``--deliveries`` (``.npz``) beside the session's recorded trace. ``time.monotonic()`` is one clock for
every process on the machine, so the benchmark joins these with its subscriber's arrival times
(:mod:`benchmarks.live_latency`).

    python -m benchmarks.live_coach_proc --broker mqtt://127.0.0.1:PORT --seconds 60 --deliveries F.npz
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from coach.samples import FloatArray


class Deliveries:
    """Per role, every delivered sample's true time and the ``time.monotonic()`` of its delivery."""

    def __init__(self) -> None:
        self.true_t: dict[str, list[FloatArray]] = defaultdict(list)
        self.at: dict[str, list[FloatArray]] = defaultdict(list)

    def note(self, role: str, t_true_s: FloatArray) -> None:
        now = time.monotonic()
        self.true_t[role].append(np.asarray(t_true_s, dtype=np.float64))
        self.at[role].append(np.full(len(t_true_s), now))

    def save(self, path: Path, world_t0_s: float) -> None:
        arrays: dict[str, FloatArray] = {"world_t0_s": np.array([world_t0_s])}
        for role in self.true_t:
            arrays[f"{role}_true_t"] = np.concatenate(self.true_t[role])
            arrays[f"{role}_at"] = np.concatenate(self.at[role])
        np.savez(path, **arrays)  # type: ignore[arg-type]


async def main(argv: list[str]) -> int:
    from coach.session.config import BrokerConfig, RunConfig
    from coach.session.flow import ScriptedSelfReport
    from coach.session.runner import SessionRun, run_session, simulated_world_for, world_source
    from coach.session.screening import ScriptedAnswers

    p = argparse.ArgumentParser(prog="python -m benchmarks.live_coach_proc")
    p.add_argument("--broker", required=True)
    p.add_argument("--patient", default="p-bench")
    p.add_argument("--seconds", type=float, default=60.0, help="active session length (target)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--deliveries", type=Path, required=True, help="where to write the delivery log (.npz)")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--feed-interval-s", type=float, default=0.0)
    p.add_argument("--posture-hz", type=float, default=1.0)
    p.add_argument("--step-points", type=int, default=1, help="LiveConfig.step_points")
    p.add_argument(
        "--no-split-steps",
        action="store_true",
        help="LiveConfig.split_steps off (one pipeline call per step)",
    )
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
    profiles = dict(zip(("treated", "hand", "stroker"), args.profiles.split(","), strict=True))
    world, devices = simulated_world_for(
        cfg, seed=args.seed, duration_s=args.seconds + 40.0, profiles=profiles
    )
    deliveries = Deliveries()
    world.on_delivery = deliveries.note
    source = world_source(world, devices)
    started: list[float] = []
    start_person = source.on_clock_start

    def on_clock_start() -> None:
        started.append(world.now())  # the world time at session t = 0
        if start_person is not None:
            start_person()

    source.on_clock_start = on_clock_start
    if args.devices_only:
        # The baseline: the same simulated devices and the drivers, their blocks read and dropped.
        from coach.clock import SessionClock
        from coach.samples import SampleBlock

        clock = SessionClock()
        await source.start(clock)
        t_first = time.monotonic()
        samples = 0
        async for item in source.items():
            if clock.now_s() >= args.seconds + 12.0:
                break
            samples += len(item) if isinstance(item, SampleBlock) else 0
        await source.close()
        print(json.dumps({"samples": samples, "start_monotonic": t_first, "end_monotonic": time.monotonic()}))
        return 0
    run = SessionRun(
        source,
        answers=ScriptedAnswers(),
        # Answered at once: with no answer the session page would wait its 5 minutes for one.
        self_report=ScriptedSelfReport(2, 3),
        speed=1.0,
        interactive_view=False,
        data_dir=args.data_dir,
        live_overrides={
            "connect_wait_s": 5.0,
            "feed_interval_s": args.feed_interval_s,
            # Only when asked: the same benchmark then also runs an older coach (before/after figures).
            **({"step_points": args.step_points} if args.step_points != 1 else {}),
            **({"split_steps": False} if args.no_split_steps else {}),
        },
    )
    result = await run_session(cfg, run)
    deliveries.save(args.deliveries, started[0] if started else float("nan"))
    print(
        json.dumps(
            {
                "session": result.session_id,
                "events": result.events_total,
                "state": result.state,
                "trace": str(result.trace_path),
                "profiles": profiles,
            }
        )
    )
    return 0 if result.state == "finished" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
