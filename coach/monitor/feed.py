"""Event streams for the monitor's tests, demos and load benchmark, and a light publisher that replays them.

:func:`synthetic_session` builds a session's events from the contract of DESIGN.md §7 (it is checked by
``coach check-events`` in the tests): states, 1 Hz posture with a lowered episode and a
bent-wrist episode, strokes with some distal ones, live cadence, cues, and a summary computed with the
definitions of §5. :func:`load_stream` reads a recorded JSON-Lines stream (``coach replay`` output)
instead, when one is at hand. :class:`FeedPublisher` plays a stream to MQTT like a coach does: events on
``.../events`` (QoS 1), the retained summary, and the retained status at 1 Hz.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coach.events import Event, EventIds, from_json, make_event, to_json


def _wall(start: datetime, t_s: float) -> str:
    return (start + timedelta(seconds=t_s)).isoformat().replace("+00:00", "Z")


def summary_cadence_spm(starts_s: Sequence[float]) -> float | None:
    """Mean cadence of DESIGN.md §5: strokes in bouts of ≥ 2 over the active stroking time."""
    bouts: list[list[float]] = []
    for t in sorted(starts_s):
        if bouts and t - bouts[-1][-1] < 10.0:
            bouts[-1].append(t)
        else:
            bouts.append([t])
    active_s, counted = 0.0, 0
    for bout in bouts:
        if len(bout) < 2:
            continue
        gaps = [b - a for a, b in itertools.pairwise(bout)]
        active_s += bout[-1] - bout[0] + statistics.median(gaps)
        counted += len(bout)
    return 60.0 * counted / active_s if active_s > 0 else None


def synthetic_session(
    seed: int = 0,
    *,
    active_s: float = 180.0,
    start_utc: datetime | None = None,
    distal_share: float = 0.2,
    hand: bool = True,
    low_episode_s: tuple[float, float] | None = (60.0, 95.0),
    pain: int | None = 3,
    swelling: int | None = 4,
) -> list[Event]:
    """A plausible session's events (screening, calibration, ``active_s`` of massage, summary)."""
    rng = random.Random(seed)
    ids = EventIds()
    start = start_utc or datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    events: list[Event] = []
    calib_end = 12.0
    end = calib_end + active_s

    # Timeline entries: (t, order at equal t, fields); ids are given in emission order at the end.
    timeline: list[tuple[float, int, dict[str, Any]]] = []

    def state(t: float, name: str, reason: str) -> None:
        timeline.append(
            (t, -1, {"type": "state", "state": name, "reason": reason, "wall_utc": _wall(start, t)})
        )

    state(0.0, "screening", "session_start")
    state(3.0, "calibrating", "screening_passed")
    state(calib_end, "active", "calibrated")
    # Strokes: cadence ~ 12–30 spm with a pause; a share of them distal.
    strokes: list[tuple[float, float, str]] = []
    t = calib_end + 2.0
    while t < end - 4.0:
        dur = rng.uniform(0.8, 2.5)
        direction = "distal" if rng.random() < distal_share else "proximal"
        if rng.random() < 0.04:
            direction = "unknown"
        strokes.append((t, t + dur, direction))
        t += dur + rng.uniform(0.6, 2.5)
        if rng.random() < 0.05:
            t += rng.uniform(10.0, 20.0)  # a pause between bouts
    # Posture at 1 Hz, changes at once; strokes at their end + a small decision delay.
    elevated_s = neutral_s = 0.0
    prev_flags: tuple[bool, bool] | None = None
    for k in range(int(end) + 1):
        tk = float(k)
        if tk < calib_end:
            fields: dict[str, Any] = {
                "elevated": None,
                "elevation_deg": None,
                "wrist_neutral": None,
                "wrist_flexion_deg": None,
                "wrist_deviation_deg": None,
                "forearm_roll_deg": None,
            }
        else:
            low = low_episode_s is not None and low_episode_s[0] <= tk - calib_end < low_episode_s[1]
            elev = rng.gauss(-25.0, 3.0) if low else rng.gauss(35.0, 4.0)
            bent = 120.0 <= tk - calib_end < 140.0
            flex = rng.gauss(28.0, 3.0) if bent else rng.gauss(3.0, 4.0)
            dev = rng.gauss(2.0, 3.0)
            is_elev = 0.26 * math.sin(math.radians(elev)) >= 0.05
            is_neutral = abs(flex) <= 15.0 and abs(dev) <= 10.0
            fields = {
                "elevated": is_elev,
                "elevation_deg": round(elev, 2),
                "wrist_neutral": is_neutral if hand else None,
                "wrist_flexion_deg": round(flex, 2) if hand else None,
                "wrist_deviation_deg": round(dev, 2) if hand else None,
                "forearm_roll_deg": round(rng.gauss(5.0, 3.0), 2),
            }
            if tk < end:
                elevated_s += float(is_elev)
                neutral_s += float(is_neutral)
            if prev_flags is not None and (is_elev, is_neutral) != prev_flags and k > 0:
                timeline.append((tk - 0.4, 0, {"type": "posture", **fields}))  # the change, reported at once
                if not is_elev:
                    timeline.append(
                        (
                            tk + 1.2,
                            2,
                            {
                                "type": "cue",
                                "code": "raise_hand",
                                "message": "Raise your hand above your heart.",
                            },
                        )
                    )
            prev_flags = (is_elev, is_neutral)
        timeline.append((tk, 1, {"type": "posture", **fields}))
    starts: list[float] = []
    for t0, t1, direction in strokes:
        starts.append(t0)
        t_emit = t1 + 0.3
        timeline.append(
            (
                t_emit,
                3,
                {
                    "type": "stroke",
                    "t_start": round(t0, 3),
                    "t_end": round(t1, 3),
                    "direction": direction,
                    "confidence": round(rng.uniform(0.6, 0.99), 3),
                    "sensor": "treated",
                },
            )
        )
        recent = [s for s in starts if s > t0 - 30.0]
        if len(recent) >= 2:
            spm = 60.0 * (len(recent) - 1) / (recent[-1] - recent[0])
            timeline.append((t_emit, 4, {"type": "cadence", "strokes_per_min": round(spm, 2)}))
        if direction == "distal":
            timeline.append(
                (
                    t_emit,
                    5,
                    {"type": "cue", "code": "stroke_toward_elbow", "message": "Stroke toward your elbow."},
                )
            )
    for t_ev, _order, fields in sorted(timeline, key=lambda x: (x[0], x[1])):
        if t_ev > end:
            continue
        typ = fields.pop("type")
        events.append(make_event(ids, typ, round(t_ev, 3), **fields))
    events.append(
        make_event(ids, "state", end, state="finished", reason="target_reached", wall_utc=_wall(start, end))
    )
    counts = {d: sum(1 for s in strokes if s[2] == d) for d in ("proximal", "distal", "unknown")}
    summary: dict[str, Any] = {
        "wall_utc": _wall(start, end),
        "duration_s": end,
        "strokes_total": len(strokes),
        "strokes_proximal": counts["proximal"],
        "strokes_distal": counts["distal"],
        "strokes_unknown": counts["unknown"],
        "mean_cadence_spm": summary_cadence_spm(starts),
        "elevated_fraction": elevated_s / active_s,
        "wrist_neutral_fraction": neutral_s / active_s if hand else None,
        "calibration": {
            "mounting": "meta",
            "still": [3.0, 6.0],
            "rotate": [6.0, 12.0],
            "checks_off": [] if hand else ["wrist"],
        },
        "pain_0_10": pain,
        "swelling_0_10": swelling,
    }
    events.append(make_event(ids, "summary", end, **summary))
    return events


def load_stream(path: Path) -> list[Event]:
    """A recorded JSON-Lines event stream (e.g. the stdout of ``coach replay``)."""
    with open(path, encoding="utf-8") as fh:
        return [from_json(line) for line in fh if line.strip()]


def status_payload(
    state: str, session: str | None, sensors: dict[str, dict[str, Any]], **extra: Any
) -> bytes:
    body = {"state": state, "session": session, "wall_utc": _wall(datetime.now(UTC), 0.0), "sensors": sensors}
    body.update(extra)
    return to_json(body).encode()


class FeedPublisher:
    """Plays one session's events to MQTT at ``speed`` × real time, with a 1 Hz retained status."""

    def __init__(
        self, client: Any, patient_id: str, session_id: str, events: Sequence[Event], speed: float = 1.0
    ) -> None:
        self.client = client
        self.patient_id = patient_id
        self.session_id = session_id
        self.events = list(events)
        self.speed = speed
        self.published = 0
        self.publish_unix_s: dict[str, float] = {}

    @property
    def base(self) -> str:
        return f"coach/v1/{self.patient_id}"

    async def publish_status(
        self, state: str, battery_pct: float = 87.0, link: str = "up", **extra: Any
    ) -> None:
        sensors = {
            "treated": {"link": link, "battery_pct": battery_pct},
            "hand": {"link": "up", "battery_pct": 74.0},
        }
        await self.client.publish(
            f"{self.base}/status",
            status_payload(state, self.session_id, sensors, **extra),
            qos=1,
            retain=True,
        )

    async def publish_event(self, event: Event) -> None:
        payload = to_json(event).encode()
        self.publish_unix_s[event["id"]] = time.time()
        await self.client.publish(f"{self.base}/{self.session_id}/events", payload, qos=1)
        if event["type"] == "summary":
            await self.client.publish(f"{self.base}/{self.session_id}/summary", payload, qos=1, retain=True)
        self.published += 1

    async def play(self, status_period_s: float = 1.0) -> None:
        """Publish every event at its time; the status follows the latest state, once per period."""
        t0 = time.monotonic()
        state = "idle"
        next_status = 0.0
        for event in self.events:
            due = event["t"] / self.speed
            while True:
                now = time.monotonic() - t0
                if now >= next_status:
                    await self.publish_status(state)
                    next_status += status_period_s
                wait = min(due, next_status) - now
                if wait <= 0 and due <= now:
                    break
                if wait > 0:
                    await asyncio.sleep(wait)
            if event["type"] == "state":
                state = event["state"]
            await self.publish_event(event)
        await self.publish_status(state)
