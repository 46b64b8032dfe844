"""Kinematics of the ``movement`` family's events (see :mod:`simulators.variants.movement`).

:class:`MovementModel` changes the treated arm's pose (elevation, heading, roll, elbow position, wrist)
while an event lasts, adds the accelerations that are not a pose (impacts, taps, rubbing and scratching
vibration, a phone's buzz) in the segment frame, turns the watch on a strap tug, and brings the helper's
hand to the treated limb for the kinds that use it.
"""

from __future__ import annotations

import numpy as np

from coach.samples import FloatArray
from simulators.frames import bump, min_jerk
from simulators.processes import rng_for
from simulators.variants.movement import MovementEvent


def _pulse(t: FloatArray, at: float, width: float) -> FloatArray:
    u = (t - at) / width
    return np.where((u >= 0.0) & (u <= 1.0), np.sin(np.pi * np.clip(u, 0.0, 1.0)), 0.0)


class _Band:
    """Unit-RMS band noise as a sum of sinusoids: a function of time, the same at any sampling."""

    def __init__(self, rng: np.random.Generator, lo_hz: float, hi_hz: float, n: int = 16) -> None:
        self.f = rng.uniform(lo_hz, hi_hz, (n, 3))
        self.ph = rng.uniform(0.0, 2.0 * np.pi, (n, 3))
        self.a = np.sqrt(2.0 / n)

    def __call__(self, t: FloatArray) -> FloatArray:
        out = np.zeros((len(t), 3))
        for k in range(self.f.shape[0]):
            out += self.a * np.sin(2.0 * np.pi * self.f[k][None, :] * t[:, None] + self.ph[k][None, :])
        return out


class MovementModel:
    """All movement events of a session, evaluable at any sorted times."""

    def __init__(
        self,
        events: tuple[MovementEvent, ...],
        heading_rad: float,
        forearm_length_m: float,
        hand_length_m: float,
        seed: int,
    ) -> None:
        self.events = events
        self.L = forearm_length_m
        self.H = hand_length_m
        c, s = np.cos(heading_rad), np.sin(heading_rad)
        self.hx = np.array([c, s, 0.0])
        self.hy = np.array([-s, c, 0.0])
        self.ez = np.array([0.0, 0.0, 1.0])
        self.band: dict[int, _Band] = {}
        for i, ev in enumerate(events):
            rng = rng_for(seed, "variant", "movement-noise", str(i))
            if ev.kind == "scratch":
                self.band[i] = _Band(rng, 15.0, 45.0, 24)
            elif ev.kind in ("lotion", "rest"):
                c_hz = ev.p.get("centre", 30.0)
                self.band[i] = _Band(rng, c_hz - 4.0, c_hz + 4.0)

    def _active(self, t: FloatArray) -> list[tuple[int, MovementEvent]]:
        if len(t) == 0:
            return []
        return [(i, e) for i, e in enumerate(self.events) if e.t_end_s >= t[0] and e.t_start_s <= t[-1]]

    @staticmethod
    def _body_weights(e: MovementEvent, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Excursion weight (standing: 1) and walking weight of a stand_walk_sit event."""
        a, b = e.p["walk_a"], e.p["walk_b"]
        w = min_jerk((t - e.t_start_s) / (a - e.t_start_s)) * (1.0 - min_jerk((t - b) / (e.t_end_s - b)))
        walk = min_jerk((t - a) / 0.5) * (1.0 - min_jerk((t - (b - 0.5)) / 0.5))
        return np.asarray(w), np.asarray(walk)

    def forearm(
        self,
        t: FloatArray,
        elevation: FloatArray,
        heading: FloatArray,
        roll: FloatArray,
        elbow: FloatArray,
        flexion: FloatArray,
        deviation: FloatArray,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """The treated arm's pose with every event applied (radians, metres, earth frame)."""
        el, hd, rl, eb = elevation.copy(), heading.copy(), roll.copy(), elbow.copy()
        fx, dv = flexion.copy(), deviation.copy()
        for _, e in self._active(t):
            p = e.p
            w = e.weight(t)
            osc = np.sin(2.0 * np.pi * p.get("f", 1.0) * t + p["phase"])
            if e.kind == "lotion":
                el = (1.0 - w) * el + w * p["el"]
                rl = rl + w * (p["roll"] + p["roll_osc"] * osc)
                eb = eb + w[:, None] * (
                    p["up"] * self.ez + p["side"] * self.hy + p["amp"] * osc[:, None] * self.hx
                )
            elif e.kind == "scratch":
                el = el - w * p["dip"] * 0.5 * (1.0 + osc)
            elif e.kind == "fidget":
                fx = fx + w * p["flex"] * osc
                dv = dv + w * p["dev"] * np.sin(2.6 * np.pi * p["f"] * t)
                el = el + w * p["el"] * np.sin(2.0 * np.pi * p["f"] * t + p["phase"] + 1.0)
                hd = hd + w * p["hd"] * np.sin(1.4 * np.pi * p["f"] * t)
            elif e.kind == "knock":
                for h in e.hits_s:
                    el = el + p["lift"] * bump((t - (h - 0.3)) / 0.3)
            elif e.kind == "tug":
                d = np.cos(p["az"]) * self.hx + np.sin(p["az"]) * self.hy
                eb = eb + (p["pull"] * bump((t - e.t_start_s) / (e.t_end_s - e.t_start_s)))[:, None] * d
            elif e.kind == "gesture":
                el = (1.0 - w) * el + w * (p["el"] + p["el_osc"] * osc)
                hd = hd + w * p["hd_osc"] * np.sin(1.6 * np.pi * p["f"] * t + p["phase"])
                rl = rl + w * p["roll"]
                eb = eb + (w * p["up"])[:, None] * self.ez
            elif e.kind == "phone":
                el = (1.0 - w) * el + w * p["el"]
                rl = rl + w * p["roll"]
                fx = fx + w * p["flex"]
                eb = eb + (w * p["up"])[:, None] * self.ez
            elif e.kind == "rest":
                el = el - w * p["dip"]
            elif e.kind == "stand_walk_sit":
                wb, ww = self._body_weights(e, t)
                el = (1.0 - wb) * el + wb * (p["el"] + ww * p["swing"] * osc)
                rl = (1.0 - wb) * rl + wb * p["roll"]
                ta = p["walk_a"] + p["turn_at"] * (p["walk_b"] - p["walk_a"])
                hd = hd + p["turn"] * (min_jerk((t - ta) / 1.0) - min_jerk((t - (p["walk_b"] - 1.2)) / 1.0))
                strike = np.zeros(len(t))
                for h in e.hits_s:
                    strike += bump((t - h) / 0.08)
                bounce = p["bounce"] * 0.5 * (1.0 - np.cos(4.0 * np.pi * p["f"] * t + 2.0 * p["phase"]))
                vert = wb * p["up"] + ww * (bounce - p["strike"] * strike)
                eb = eb + vert[:, None] * self.ez + (ww * p["sway"] * osc - wb * p["back"])[:, None] * self.hx
        return el, hd, rl, eb, fx, dv

    def extra_acc(self, t: FloatArray, role: str) -> FloatArray:
        """Accelerations that are not a pose (segment frame, m/s²): impacts, taps, vibration, buzz."""
        out = np.zeros((len(t), 3))
        hand = role == "hand"
        for i, e in self._active(t):
            p = e.p
            w = e.weight(t)
            if i in self.band:
                scale = {
                    "lotion": 1.0 if role == "treated" else 0.8,
                    "scratch": 1.0 if role == "treated" else 0.3,
                    "rest": 1.0,
                }[e.kind]
                out += (w * p["vib"] * scale)[:, None] * self.band[i](t)
            if e.kind == "knock":
                for h in e.hits_s:
                    out[:, 2] += p["impact"] * (1.0 if hand else 0.8) * _pulse(t, h, p["width"])
            elif e.kind in ("fidget", "phone"):
                amp = p["tap"] * (1.0 if hand else (0.2 if e.kind == "fidget" else 0.5))
                for h in e.hits_s:
                    out[:, 2] += amp * _pulse(t, h, 0.02)
                if e.kind == "phone" and p["buzz"] > 0.5:
                    at = e.t_start_s + p["buzz_at"] * (e.t_end_s - e.t_start_s)
                    on = ((t >= at) & (t <= at + 0.5)).astype(np.float64)
                    s = np.sin(2.0 * np.pi * p["buzz_hz"] * t)
                    out[:, 0] += on * p["buzz_amp"] * s
                    out[:, 1] += on * p["buzz_amp"] * 0.6 * np.cos(2.0 * np.pi * p["buzz_hz"] * t)
        return out

    def strap_turn(self, t: FloatArray) -> FloatArray:
        """The watch's turn about the forearm axis on a strap tug (rad)."""
        out = np.zeros(len(t))
        for _, e in self._active(t):
            if e.kind == "tug":
                out += e.p["turn"] * bump((t - e.t_start_s) / (e.t_end_s - e.t_start_s))
        return out

    def stroker(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Where the helper's hand goes: weight of the on-limb pose, its position along the limb (m), contact
        angle (rad), and an earth-frame offset of the whole hand (standing up and walking)."""
        n = len(t)
        w_c, s, kappa, off = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((n, 3))
        for _, e in self._active(t):
            p = e.p
            osc = np.sin(2.0 * np.pi * p.get("f", 1.0) * t + p["phase"])
            w = e.weight(t)
            if e.kind == "lotion":
                w_c, s, kappa = (
                    np.maximum(w_c, w),
                    np.where(w > 0, self.L + 0.3 * self.H - p["amp"] * osc, s),
                    np.where(w > 0, 0.5 * np.pi, kappa),
                )
            elif e.kind == "scratch":
                w_c, s, kappa = (
                    np.maximum(w_c, w),
                    np.where(w > 0, p["s"] + p["amp"] * osc, s),
                    np.where(w > 0, p["kappa"], kappa),
                )
            elif e.kind in ("tug", "rest"):
                where = self.L - 0.03 if e.kind == "tug" else p["s"]
                w_c, s, kappa = (
                    np.maximum(w_c, w),
                    np.where(w > 0, where, s),
                    np.where(w > 0, p["kappa"], kappa),
                )
            elif e.kind == "stand_walk_sit":
                wb, ww = self._body_weights(e, t)
                off += (wb * p["up"])[:, None] * self.ez - (ww * p["sway"] * osc + wb * p["back"])[
                    :, None
                ] * self.hx
        return w_c, s, kappa, off
