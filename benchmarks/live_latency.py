"""Live latency measured from outside the coach (``bench_live``): which notification decided an event.

The benchmark owns two clocks' worth of timestamps, both ``time.monotonic()`` (one clock for every
process on the machine): when each simulated device delivered a notification to the driver, with the
true times of the samples it carried (:attr:`simulators.ble.world.SimWorld.on_delivery`), and when each
event reached an MQTT subscriber. The coach itself carries no instrumentation.

To join them it needs the session time the coach gave each delivered sample. The recorded trace holds
exactly those times (what the pipeline was fed), one row per delivered sample in delivery order from
``t = 0`` on; :func:`match_session_times` aligns the two sequences.

An event at session time ``t`` is decided once every role has the samples the pipeline waits for:
for the decision point ``j`` whose step holds ``t`` (``j = floor(t * decision_hz)``), a sample at least
one decision step past it, ``(j + 1) / decision_hz``, and one sample period past the point
(:meth:`coach.pipeline.SessionPipeline.next_point_needs_s`; the stroke detector is given every sample
of the step before it decides, so a span boundary cannot change what it sees). :func:`decided_at`
gives the delivery time of the last of those pieces. Until 2026-12-07 the benchmark took one *sample*
period past ``t`` (``decision_hz=None`` here), one sample short of what the pipeline waits for; both
readings are printed (in the runs of 2026-12-07 they differed by at most 3 ms at p50 and p99).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from coach.samples import FloatArray


def match_session_times(
    true_t_s: FloatArray, trace_t_s: FloatArray, world_t0_s: float, rate_hz: float
) -> FloatArray:
    """Per delivered sample (true times in world seconds, in delivery order), its session time in the
    recorded trace, or NaN where it has no row (delivered before ``t = 0`` or after the session).

    The trace rows of a role are its delivered samples from ``t = 0`` on, in the same order. A first
    match by time (true time less the world time at ``t = 0``, nearest row) finds the index shift
    between the two sequences; each sample then takes the row at its index plus that shift, where the
    two times still agree within a few sample periods (the drivers' clock fit drifts by milliseconds
    against the true times over a session; a lost sample would break the agreement).
    """
    out = np.full(true_t_s.shape, np.nan)
    n, m = true_t_s.size, trace_t_s.size
    if n == 0 or m == 0:
        return out
    guess = true_t_s - world_t0_s
    nearest = np.clip(np.searchsorted(trace_t_s, guess), 1, m - 1)
    left_closer = np.abs(guess - trace_t_s[nearest - 1]) <= np.abs(trace_t_s[nearest] - guess)
    nearest = np.where(left_closer, nearest - 1, nearest)
    close = np.abs(trace_t_s[nearest] - guess) < 0.5 / rate_hz
    if not close.any():
        return out
    shifts = nearest[close] - np.flatnonzero(close)
    values, counts = np.unique(shifts, return_counts=True)
    shift = int(values[np.argmax(counts)])
    idx = np.arange(n) + shift
    inside = (idx >= 0) & (idx < m)
    rows = trace_t_s[np.clip(idx, 0, m - 1)]
    resid = rows - guess
    typical = float(np.median(resid[inside]))
    ok = inside & (np.abs(resid - typical) < 3.0 / rate_hz)
    out[ok] = rows[ok]
    return out


@dataclass(frozen=True)
class RoleDeliveries:
    """One role's delivered samples: their session times (NaN: not in the trace) and delivery times."""

    session_t_s: FloatArray
    delivered_monotonic_s: FloatArray
    rate_hz: float

    def completed_at(self, t_s: float, decision_hz: float | None = None) -> float | None:
        """When the first sample the pipeline waits for to decide ``t_s`` was delivered (see the module
        docstring; ``decision_hz=None``: the old reading, one sample period past ``t_s``)."""
        need = t_s + 1.0 / self.rate_hz - 1e-6
        if decision_hz is not None:
            j = math.floor(t_s * decision_hz + 1e-6)
            need = max((j + 1) / decision_hz, j / decision_hz + 1.0 / self.rate_hz) - 1e-6
        ok = np.isfinite(self.session_t_s) & (self.session_t_s >= need)
        if not ok.any():
            return None
        return float(self.delivered_monotonic_s[int(np.argmax(ok))])


def decision_hz_for(posture_hz: float) -> float:
    """The pipeline's decision grid for ``posture_hz`` (as :class:`coach.pipeline.SessionPipeline`)."""
    from coach.pipeline import PipelineConfig

    ratio = max(1, math.ceil(PipelineConfig().decision_hz / posture_hz - 1e-9))
    return posture_hz * ratio


def decided_at(
    t_s: float, roles: Mapping[str, RoleDeliveries], decision_hz: float | None = None
) -> float | None:
    """The delivery time of the last piece an event at ``t_s`` waited for (``None``: never complete)."""
    times = [r.completed_at(t_s, decision_hz) for r in roles.values()]
    if not times or any(x is None for x in times):
        return None
    return max(x for x in times if x is not None)
