"""Sample streams of simulated devices as a host would receive them: for clock tests and benchmarks.

Each device samples on its own clock (offset, drift), packs samples into packets, and the packets go
through :func:`simulators.ble.radio.deliver_packets`. The result keeps the truth (the true time of every
sample) next to what a host sees (arrival times, and device timestamps where the profile sends them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coach.samples import FloatArray
from simulators.ble.radio import RadioModel, deliver_packets, draw_stalls


@dataclass(frozen=True, slots=True)
class DeviceClockModel:
    """A device's sampling clock: nominal ``rate_hz``, relative ``drift`` (+1e-4: 100 ppm fast), the true
    time of its first sample ``start_s`` and the offset of its timestamp clock ``time_offset_s``."""

    rate_hz: float
    samples_per_packet: int
    drift: float = 0.0
    start_s: float = 0.0
    time_offset_s: float = 0.0
    timestamps: bool = False


@dataclass(frozen=True, slots=True)
class SimStream:
    """Packets of one device as received: per packet ``arrival_s`` (NaN if lost), first sample index,
    device time of each sample (if sent), and the truth: the true time of every sample."""

    model: DeviceClockModel
    radio: RadioModel
    true_t_s: FloatArray  # (n_samples,)
    device_t_s: FloatArray  # (n_samples,) device clock readings (meaningful if model.timestamps)
    arrival_s: FloatArray  # (n_packets,)
    first_index: np.ndarray  # (n_packets,)

    @property
    def n_packets(self) -> int:
        return len(self.arrival_s)


def simulate_stream(
    model: DeviceClockModel, radio: RadioModel, duration_s: float, rng: np.random.Generator
) -> SimStream:
    period_true = 1.0 / (model.rate_hz * (1.0 + model.drift))
    n = int(duration_s / period_true) // model.samples_per_packet * model.samples_per_packet
    k = np.arange(n, dtype=np.float64)
    true_t = model.start_s + k * period_true
    device_t = model.time_offset_s + (true_t - model.start_s) * (1.0 + model.drift)
    first = np.arange(0, n, model.samples_per_packet)
    ready = true_t[first + model.samples_per_packet - 1]
    stalls = draw_stalls(duration_s + 5.0, radio, rng)
    arrival, _ = deliver_packets(ready, radio, rng, stalls)
    return SimStream(model, radio, true_t, device_t, arrival, first)
