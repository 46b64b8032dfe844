"""The ``movement`` family: ordinary movement that is not massage, labelled with its kind.

Kinds (each changes the treated arm's pose and, for some, brings the helper's hand to the treated
limb; no kind has a stroke label, whatever contact it makes). The ranges are in docs/simulator.md:

- ``lotion``: both hands rub together in front of the body (arm off its support, half supinated,
  1.5–3 Hz back-and-forth, rubbing vibration on treated and hand; the helper's hand in antiphase);
- ``scratch``: the other hand's fingertips scratch the forearm (2.5–5 Hz, broadband vibration);
- ``fidget``: wrist wiggles and finger taps;
- ``knock``: 1–3 knocks of the hand on the table (impacts of 2–6 g that saturate ±2 g sensors);
- ``tug``: the other hand tugs the sleeve or strap (the watch turns 5–25° and back);
- ``gesture``: the arm lifts off the support and swings;
- ``phone``: the hand holds a phone, taps, and sometimes buzzes at 150–200 Hz;
- ``rest``: the helper's hand rests on the forearm (3–10 N, no glide);
- ``stand_up``, ``walk``, ``sit_down``: one excursion (arm hanging, swinging, heel strikes, turns).

Massage sessions get 2–8 events per 10 minutes, placed where no contact is (± 0.6 s); massage-free
sessions (``strokes.enabled = false``) get 15–40 per 10 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coach.samples import FloatArray
from simulators.frames import min_jerk
from simulators.processes import rng_for

KINDS: tuple[str, ...] = (
    "lotion",
    "scratch",
    "fidget",
    "knock",
    "tug",
    "gesture",
    "phone",
    "rest",
    "stand_walk_sit",
)
#: Kinds in which the helper's hand comes to the treated limb.
HELPER_KINDS: tuple[str, ...] = ("lotion", "scratch", "tug", "rest")
_DURATION_S: dict[str, tuple[float, float]] = {
    "lotion": (5.0, 25.0),
    "scratch": (2.0, 8.0),
    "fidget": (1.0, 5.0),
    "knock": (0.6, 2.0),
    "tug": (0.5, 2.0),
    "gesture": (1.5, 6.0),
    "phone": (5.0, 30.0),
    "rest": (5.0, 40.0),
    "stand_walk_sit": (14.0, 50.0),
}
_D2R = np.pi / 180.0


@dataclass
class MovementEvent:
    """One movement: kind, interval (s), ramps, and its drawn parameters (SI units, radians)."""

    kind: str
    t_start_s: float
    t_end_s: float
    ramp_s: float
    p: dict[str, float] = field(default_factory=dict)
    hits_s: tuple[float, ...] = ()  # impact or tap times (knock, fidget, phone, walk steps)
    parts: tuple[tuple[str, float, float], ...] = ()  # labelled sub-intervals (stand_up, walk, sit_down)

    def weight(self, t: FloatArray) -> FloatArray:
        up = min_jerk((t - self.t_start_s) / self.ramp_s)
        down = 1.0 - min_jerk((t - (self.t_end_s - self.ramp_s)) / self.ramp_s)
        return np.asarray(up * down)

    def labels(self) -> list[dict[str, object]]:
        role = "both" if self.kind in HELPER_KINDS else "treated"
        if self.parts:
            return [
                {"kind": k, "t_start": round(a, 4), "t_end": round(b, 4), "role": "both"}
                for k, a, b in self.parts
            ]
        return [
            {
                "kind": self.kind,
                "t_start": round(self.t_start_s, 4),
                "t_end": round(self.t_end_s, 4),
                "role": role,
            }
        ]


def _draw_event(kind: str, start: float, dur: float, rng: np.random.Generator, L: float) -> MovementEvent:
    u = rng.uniform
    p: dict[str, float] = {"phase": float(u(0.0, 2.0 * np.pi))}
    hits: list[float] = []
    parts: tuple[tuple[str, float, float], ...] = ()
    ramp = min(dur / 3.0, float(u(0.3, 1.2)))
    end = start + dur
    if kind == "lotion":
        p.update(
            el=u(5, 30) * _D2R,
            roll=u(50, 90) * _D2R,
            up=u(0.05, 0.15),
            side=u(0.05, 0.15),
            f=u(1.5, 3.0),
            amp=u(0.02, 0.05),
            roll_osc=u(5, 15) * _D2R,
            vib=u(0.05, 0.3),
            centre=u(24, 36),
        )
    elif kind == "scratch":
        p.update(
            f=u(2.5, 5.0),
            amp=u(0.015, 0.03),
            s=u(0.08, L - 0.03),
            dip=u(0.1, 0.4) * _D2R,
            vib=u(0.05, 0.4),
            centre=u(20, 40),
            kappa=u(-0.7, 0.7),
        )
        ramp = min(ramp, 0.4)
    elif kind == "fidget":
        p.update(
            f=u(1.5, 4.0), flex=u(10, 25) * _D2R, dev=u(5, 10) * _D2R, el=u(1, 3) * _D2R, hd=u(1, 3) * _D2R
        )
        hits = list(start + np.sort(u(0.1, dur, int(rng.integers(2, 8)))))
        p["tap"] = u(0.5, 2.0)
        ramp = min(ramp, 0.4)
    elif kind == "knock":
        n = int(rng.integers(1, 4))
        hits = [start + dur * (k + 0.7) / (n + 0.2) for k in range(n)]
        p.update(lift=u(0.02, 0.08) / L, impact=u(20.0, 60.0), width=u(0.008, 0.015))
        ramp = min(dur / 3.0, 0.2)
    elif kind == "tug":
        p.update(
            turn=u(5, 25) * _D2R * float(rng.choice([-1.0, 1.0])),
            pull=u(0.01, 0.04),
            kappa=u(0.6, 1.2),
            az=u(0.0, 2.0 * np.pi),
        )
        ramp = min(ramp, 0.3)
    elif kind == "gesture":
        p.update(
            el=u(15, 50) * _D2R,
            hd_osc=u(10, 30) * _D2R,
            el_osc=u(5, 15) * _D2R,
            f=u(0.7, 2.0),
            roll=u(-30, 30) * _D2R,
            up=u(0.05, 0.2),
        )
    elif kind == "phone":
        p.update(
            el=u(20, 45) * _D2R,
            roll=u(40, 80) * _D2R,
            flex=u(10, 30) * _D2R,
            up=u(0.05, 0.15),
            tap=u(0.3, 1.0),
            buzz=float(rng.random() < 0.5),
            buzz_hz=u(150, 200),
            buzz_amp=u(0.5, 2.0),
            buzz_at=u(0.2, 0.7),
        )
        hits = list(start + np.sort(u(0.5, dur - 0.5, int(dur * u(1.5, 4.0)))))
    elif kind == "rest":
        p.update(
            dip=u(0.3, 1.5) * _D2R, s=u(0.08, L), kappa=u(-0.6, 0.6), vib=u(0.005, 0.02), centre=u(22, 34)
        )
        ramp = min(ramp, 0.6)
    elif kind == "stand_walk_sit":
        stand = float(u(1.5, 3.0))
        sit = float(u(1.5, 3.0))
        walk_a, walk_b = start + stand, end - sit
        parts = (("stand_up", start, walk_a), ("walk", walk_a, walk_b), ("sit_down", walk_b, end))
        stride = float(u(0.8, 1.0))
        p.update(
            el=-u(60, 85) * _D2R,
            up=u(0.35, 0.5),
            back=u(0.0, 0.15),
            roll=u(40, 90) * _D2R,
            f=stride,
            swing=u(8, 20) * _D2R,
            sway=u(0.05, 0.15),
            bounce=u(0.02, 0.04),
            strike=u(0.003, 0.005),
            turn=u(90, 180) * _D2R * float(rng.choice([-1.0, 1.0])),
            turn_at=u(0.3, 0.7),
            walk_a=walk_a,
            walk_b=walk_b,
        )
        hits = list(np.arange(walk_a + 0.3, walk_b - 0.2, 0.5 / stride))
        ramp = stand
    return MovementEvent(
        kind, start, end, ramp, {k: float(v) for k, v in p.items()}, tuple(float(h) for h in hits), parts
    )


def draw_movements(
    seed: int, busy: list[tuple[float, float]], span: tuple[float, float], massage_free: bool, L: float
) -> tuple[MovementEvent, ...]:
    """Movement events in the free windows of ``span`` (nothing in ``busy``), in time order."""
    rng = rng_for(seed, "variant", "movement")
    rate = float(rng.uniform(15.0, 40.0) if massage_free else rng.uniform(2.0, 8.0))
    n = int(rng.poisson(rate * max(0.0, span[1] - span[0]) / 600.0))
    taken = [(a - 0.6, b + 0.6) for a, b in busy]
    out: list[MovementEvent] = []
    for _ in range(n):
        kind = KINDS[int(rng.integers(0, len(KINDS)))]
        lo, hi = _DURATION_S[kind]
        dur = float(rng.uniform(lo, hi))
        free = []
        cur = span[0]
        for a, b in sorted(taken):
            if a > cur:
                free.append((cur, min(a, span[1])))
            cur = max(cur, b)
        if cur < span[1]:
            free.append((cur, span[1]))
        windows = [(a, b - dur) for a, b in free if b - a > dur + 0.2]
        room = sum(b - a for a, b in windows)
        if room <= 0:
            continue
        x = float(rng.uniform(0.0, room))
        start = windows[-1][0]
        for a, b in windows:
            if x <= b - a:
                start = a + x
                break
            x -= b - a
        out.append(_draw_event(kind, start, dur, rng, L))
        taken.append((start - 1.0, start + dur + 1.0))
    return tuple(sorted(out, key=lambda e: e.t_start_s))
