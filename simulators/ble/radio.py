"""A BLE link's delivery model: when (and whether) each notification reaches the application.

A packet is ready when the device has its last sample (plus firmware processing). It then waits for the
next connection event of the link (every ``interval_s``, at most ``per_event`` packets per event; the
rest queue), may be lost, and reaches the application after host-side scheduling jitter. Bunching holds
every delivery inside a stall window until the window ends (the several-second notification delays
reported on Linux while another device is scanned or connected), then delivers them in order.

:class:`RadioLink` schedules one packet at a time (the simulated devices use it live);
:func:`deliver_packets` runs it over a whole array (benchmarks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coach.samples import FloatArray


@dataclass(frozen=True, slots=True)
class RadioModel:
    """Delivery parameters of one link (times in seconds of the host clock).

    Attributes:
        interval_s: connection interval (7.5 ms … 4 s; 15–30 ms typical for phones and PCs).
        per_event: notifications per connection event before the rest wait for the next one.
        min_latency_s: fixed part of the delay (firmware processing, radio, HCI): unobservable, the
            "constant per-device radio latency" of docs/design.md §8.
        jitter_mean_s: mean of the exponential host-side delay after reception.
        drop_rate: probability that a notification is lost.
        stall_every_s: mean time between stalls (0: never); stalls start at random (Poisson).
        stall_s: how long a stall holds deliveries.
    """

    interval_s: float = 0.015
    per_event: int = 6
    min_latency_s: float = 0.004
    jitter_mean_s: float = 0.002
    drop_rate: float = 0.0
    stall_every_s: float = 0.0
    stall_s: float = 0.5


def draw_stalls(duration_s: float, model: RadioModel, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Stall windows ``[start, end)`` over ``[0, duration_s)``."""
    if model.stall_every_s <= 0:
        return []
    out: list[tuple[float, float]] = []
    t = float(rng.exponential(model.stall_every_s))
    while t < duration_s:
        out.append((t, t + model.stall_s))
        t += model.stall_s + float(rng.exponential(model.stall_every_s))
    return out


class RadioLink:
    """One connection's delivery state: packets must be scheduled in order of their ready times."""

    def __init__(
        self,
        model: RadioModel,
        rng: np.random.Generator,
        stalls: list[tuple[float, float]] | None = None,
        event_phase_s: float | None = None,
    ) -> None:
        self.model = model
        self.rng = rng
        self.stalls = sorted(stalls or [])
        self.phase = float(rng.uniform(0, model.interval_s)) if event_phase_s is None else event_phase_s
        self._event = -math.inf
        self._used = 0
        self._last = -math.inf
        self._stall_i = 0
        self._count = 0

    def schedule(self, ready_s: float) -> float | None:
        """Arrival time of a packet ready at ``ready_s``, or ``None`` if it is lost."""
        m = self.model
        ci = m.interval_s
        t_ready = ready_s + m.min_latency_s
        ev = self.phase + math.ceil((t_ready - self.phase) / ci) * ci
        if ev < self._event:
            ev = self._event
        if ev == self._event and self._used >= m.per_event:
            ev += ci
        if ev != self._event:
            self._event, self._used = ev, 0
        self._used += 1
        self._count += 1
        lost = m.drop_rate > 0 and self.rng.random() < m.drop_rate
        jitter = float(self.rng.exponential(m.jitter_mean_s)) if m.jitter_mean_s > 0 else 0.0
        if lost:
            return None
        t = ev + jitter
        while self._stall_i < len(self.stalls) and self.stalls[self._stall_i][1] <= t:
            self._stall_i += 1
        if self._stall_i < len(self.stalls) and self.stalls[self._stall_i][0] <= t:
            t = self.stalls[self._stall_i][1] + 1e-5 * (self._count % 100)
        t = max(t, self._last)  # BLE keeps notification order
        self._last = t
        return t


def deliver_packets(
    ready_s: FloatArray,
    model: RadioModel,
    rng: np.random.Generator,
    stalls: list[tuple[float, float]] | None = None,
    event_phase_s: float | None = None,
) -> tuple[FloatArray, np.ndarray]:
    """Arrival times (host clock) of packets ready at ``ready_s`` (non-decreasing), and which arrive.

    Returns ``(arrival_s, delivered)``: ``arrival_s`` has one entry per packet (NaN where lost) and is
    non-decreasing over the delivered ones.
    """
    link = RadioLink(model, rng, stalls, event_phase_s)
    arrival = np.full(len(ready_s), np.nan)
    for i, r in enumerate(ready_s.tolist()):
        a = link.schedule(r)
        if a is not None:
            arrival[i] = a
    return arrival, ~np.isnan(arrival)
