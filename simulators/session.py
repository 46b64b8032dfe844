"""Simulate a whole session: :func:`simulate` (what a recorder writes) and :func:`simulate_motion`
(what the simulated BLE devices measure, before any transport effect).

Both are deterministic in ``(scenario, seed)``. The trace carries only what a real session would:
samples, and ``meta`` with ``arm``, ``start_utc``, ``sensors`` (rate and device), ``calibration`` (the
prompted phase times) and ``body``. Everything else is ground truth, in the labels file
(``<trace>.labels.json``, schema in docs/simulator.md), for scorers and tests only.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from coach.samples import ROLES, SampleBlock
from coach.trace import TraceMeta, TraceWriter
from simulators.body import BodyModel
from simulators.devices import DeviceErrors, DeviceNoise, draw_device, with_variant
from simulators.frames import quat_wxyz
from simulators.motion import render_role
from simulators.plan import SessionPlan, plan_session
from simulators.processes import rng_for
from simulators.scenario import Scenario
from simulators.transport import Clock, Faults, deliver, draw_clock, draw_faults, ideal_clock
from simulators.truth import (
    ELEVATION_MARGIN_M,
    WRIST_DEVIATION_MAX_DEG,
    WRIST_FLEXION_MAX_DEG,
    posture_labels,
    stroke_labels,
    summary_labels,
    variant_labels,
)

LABELS_FORMAT = "coach-sim-labels"
LABELS_VERSION = 1


def labels_path_for(trace_path: str | Path) -> Path:
    """``trace.csv`` → ``trace.labels.json`` (also for ``.csv.gz``)."""
    p = Path(trace_path)
    name = p.name
    for suffix in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".labels.json")


@dataclass
class SensorTruth:
    """What the simulator knows about one sensor beyond its samples."""

    errors: DeviceErrors
    clock: Clock
    faults: Faults | None
    samples_taken: int = 0
    samples_delivered: int = 0
    dropped_samples: int = 0

    def to_labels(self) -> dict[str, Any]:
        e = self.errors
        return {
            "device": e.device,
            "device_class": e.device_class.name,
            "mounting_wxyz": [round(float(v), 6) for v in quat_wxyz(e.mount)],
            "misalignment_deg": round(e.misalignment_deg, 3),
            "x_axis_angle_deg": round(e.x_axis_angle_deg, 3),
            "acc_bias0_mps2": [round(float(v), 5) for v in e.acc_bias0],
            "gyr_bias0_rps": [round(float(v), 6) for v in e.gyr_bias0],
            "acc_warmup_mps2": [round(float(v), 5) for v in e.acc_warmup],
            "gyr_warmup_rps": [round(float(v), 6) for v in e.gyr_warmup],
            "warmup_tau_s": round(e.warmup_tau_s, 2),
            "acc_noise_mps2": round(e.acc_noise_sigma, 6),
            "gyr_noise_rps": round(e.gyr_noise_sigma, 7),
            "lowpass_hz": round(e.lpf_hz, 3),
            "acc_range_mps2": round(e.acc_range_mps2, 3),
            "gyr_range_rps": round(e.gyr_range_rps, 4),
            "clock": {
                "first_sample_s": round(self.clock.t0_s, 6),
                "actual_rate_hz": round(1.0 / self.clock.period_s, 6),
                "offset_s": round(self.clock.offset_s, 6),
                "drift_ppm": round(self.clock.drift_ppm, 3),
                "jitter_s": round(self.clock.jitter_s, 6),
            },
            "gaps": [] if self.faults is None else [[round(a, 4), round(b, 4)] for a, b in self.faults.gaps],
            "drop_rate": 0.0 if self.faults is None else self.faults.drop_rate,
            "samples_taken": self.samples_taken,
            "samples_delivered": self.samples_delivered,
            "dropped_samples": self.dropped_samples,
            **({} if e.variant is None else {"variant": e.variant.labels()}),
        }


@dataclass
class SimulatedSession:
    """A simulated session: ``meta`` and ``blocks`` are what a trace carries; the rest is truth.

    Attributes:
        scenario, seed: what it was made from.
        meta: the trace's ``meta`` (documented keys only).
        blocks: per role, the samples a device delivers on the session clock.
        sensors: per role, the drawn device errors, clock and faults.
        model: the body model (truth at any time; for tests and scorers, never for the coach).
    """

    scenario: Scenario
    seed: int
    meta: TraceMeta
    blocks: dict[str, SampleBlock]
    sensors: dict[str, SensorTruth]
    model: BodyModel
    _labels: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def plan(self) -> SessionPlan:
        return self.model.plan

    @property
    def truth(self) -> dict[str, Any]:
        """The labels document (built on first use)."""
        if self._labels is None:
            self._labels = build_labels(self)
        return self._labels

    def write(self, trace_path: str | Path, labels_path: str | Path | None = None) -> Path:
        """Write the trace and its labels; return the labels path (default ``<trace>.labels.json``)."""
        _write_trace_in_windows(trace_path, self.meta, self.blocks)
        out = Path(labels_path) if labels_path is not None else labels_path_for(trace_path)
        with open(out, "w", encoding="utf-8") as f:
            json.dump(self.truth, f, allow_nan=False, separators=(",", ":"))
            f.write("\n")
        return out


def _write_trace_in_windows(
    path: str | Path, meta: TraceMeta, blocks: dict[str, SampleBlock], window_s: float = 30.0
) -> None:
    """Write the trace a time window at a time (rows stay in time order; memory stays small)."""
    ordered = [blocks[r] for r in ROLES if r in blocks]
    end = max((float(b.t_s[-1]) for b in ordered if len(b)), default=0.0)
    with TraceWriter(path, meta) as writer:
        edges = [*np.arange(0.0, end, window_s), np.inf]
        for lo, hi in itertools.pairwise(edges):
            parts = []
            for b in ordered:
                i0, i1 = np.searchsorted(b.t_s, [lo, hi], side="left")
                parts.append(b.slice(int(i0), int(i1)))
            writer.write_blocks(parts)


def _meta(scenario: Scenario, plan: SessionPlan, devices: dict[str, DeviceErrors]) -> TraceMeta:
    faults = scenario.mounting_faults
    arm = scenario.arm
    if faults.wrong_arm:
        arm = "left" if arm == "right" else "right"
    names = {"treated": "hand", "hand": "treated"} if faults.swap_roles else {}
    raw: dict[str, Any] = {
        "arm": arm,
        "start_utc": scenario.start_utc,
        "sensors": {
            names.get(role, role): {"rate_hz": spec.rate_hz, "device": devices[role].device}
            for role, spec in scenario.sensors.items()
        },
    }
    cal = plan.calibration
    if cal.enabled and cal.in_meta:
        raw["calibration"] = {
            "still": [round(cal.still[0], 3), round(cal.still[1], 3)],
            "rotate": [round(cal.rotate[0], 3), round(cal.rotate[1], 3)],
        }
    raw["body"] = {
        "forearm_length_m": round(plan.body.forearm_length_m, 4),
        "elbow_to_heart_m": round(plan.body.elbow_to_heart_m, 4),
    }
    return TraceMeta(raw)


def _prepare(scenario: Scenario, seed: int) -> tuple[BodyModel, dict[str, DeviceErrors]]:
    plan = plan_session(scenario, seed)
    model = BodyModel(plan)
    devices = {
        role: draw_device(spec, rng_for(seed, "device", role)) for role, spec in scenario.sensors.items()
    }
    if plan.variant is not None and plan.variant.sensors:
        devices = {role: with_variant(d, plan.variant.sensors[role]) for role, d in devices.items()}
    back = scenario.mounting_faults.backwards
    if back is not None and back in devices:
        # On backwards: the device turned 180° about its own z (x toward the elbow, face still up).
        d = devices[back]
        devices[back] = dataclasses.replace(d, mount=d.mount * Rotation.from_euler("z", 180.0, degrees=True))
    return model, devices


def _swap_roles(
    scenario: Scenario, blocks: dict[str, SampleBlock], sensors: dict[str, SensorTruth]
) -> tuple[dict[str, SampleBlock], dict[str, SensorTruth]]:
    """The ``swap_roles`` mounting fault: the trace's treated rows are the hand device's and back."""
    if not scenario.mounting_faults.swap_roles:
        return blocks, sensors
    names = {"treated": "hand", "hand": "treated"}
    out = {}
    for role, b in blocks.items():
        new = names.get(role, role)
        out[new] = dataclasses.replace(b, role=new)
    swapped = {names.get(role, role): s for role, s in sensors.items()}
    return {r: out[r] for r in ROLES if r in out}, {r: swapped[r] for r in ROLES if r in swapped}


def simulate(scenario: Scenario, seed: int = 0) -> SimulatedSession:
    """Simulate a session as a recorder would store it: full sensor model, transport faults, session clock."""
    model, devices = _prepare(scenario, seed)
    plan = model.plan
    quiet = [(0.0, plan.calibration.end_s + 1.0)] if plan.calibration.enabled else []
    blocks: dict[str, SampleBlock] = {}
    sensors: dict[str, SensorTruth] = {}
    for role, spec in scenario.sensors.items():
        errors = devices[role]
        if scenario.transport_faults:
            clock = draw_clock(spec, errors.device_class, rng_for(seed, "clock", role))
            faults: Faults | None = draw_faults(
                spec, rng_for(seed, "faults", role), scenario.duration_s, quiet, clock.jitter_s
            )
        else:
            clock, faults = ideal_clock(spec.rate_hz), None
        tau = clock.true_times(scenario.duration_s)
        noise = DeviceNoise(errors, rng_for(seed, "noise", role), enabled=scenario.sensor_errors)
        acc, gyr = render_role(model, role, errors, clock.t0_s, clock.period_s, len(tau), noise)
        keep, t_rep, dropped = deliver(tau, clock, faults, rng_for(seed, "deliver", role))
        blocks[role] = SampleBlock(role, t_rep, acc[keep], gyr[keep])
        sensors[role] = SensorTruth(errors, clock, faults, len(tau), int(keep.sum()), dropped)
    blocks, sensors = _swap_roles(scenario, blocks, sensors)
    return SimulatedSession(scenario, seed, _meta(scenario, plan, devices), blocks, sensors, model)


def simulate_motion(
    scenario: Scenario, seed: int = 0, *, sensor_errors: bool | None = None
) -> SimulatedSession:
    """What each device measures on its own uniform grid ``t = k / rate_hz`` (true time), with mounting,
    the chip's low-pass and (by default as the scenario says) the device errors, but no transport
    effects: no rate error, jitter, drops, gaps or clock offsets. For the simulated BLE backend, which
    encodes these samples and adds its own transport faults. ``truth`` is the same as :func:`simulate`'s.
    """
    model, devices = _prepare(scenario, seed)
    errors_on = scenario.sensor_errors if sensor_errors is None else sensor_errors
    blocks: dict[str, SampleBlock] = {}
    sensors: dict[str, SensorTruth] = {}
    for role, spec in scenario.sensors.items():
        clock = ideal_clock(spec.rate_hz)
        tau = clock.true_times(scenario.duration_s)
        noise = DeviceNoise(devices[role], rng_for(seed, "noise", role), enabled=errors_on)
        acc, gyr = render_role(model, role, devices[role], 0.0, clock.period_s, len(tau), noise)
        blocks[role] = SampleBlock(role, tau, acc, gyr)
        sensors[role] = SensorTruth(devices[role], clock, None, len(tau), len(tau), 0)
    blocks, sensors = _swap_roles(scenario, blocks, sensors)
    return SimulatedSession(scenario, seed, _meta(scenario, model.plan, devices), blocks, sensors, model)


def build_labels(session: SimulatedSession) -> dict[str, Any]:
    """The labels document (schema in docs/simulator.md)."""
    model = session.model
    plan = model.plan
    cal = plan.calibration
    b = plan.body
    posture = posture_labels(model)
    strokes = stroke_labels(model)
    fid = plan.fidgets
    return {
        "format": LABELS_FORMAT,
        "version": LABELS_VERSION,
        "seed": session.seed,
        "scenario": session.scenario.to_dict(),
        "arm": b.arm,
        "roles": list(session.scenario.sensors),
        "duration_s": b.duration_s,
        "clock": "true session time (trace timestamps differ by each sensor's clock offset, drift, jitter)",
        "calibration": {
            "enabled": cal.enabled,
            "in_meta": cal.enabled and cal.in_meta,
            "still": [round(cal.still[0], 4), round(cal.still[1], 4)] if cal.enabled else None,
            "rotate": [round(cal.rotate[0], 4), round(cal.rotate[1], 4)] if cal.enabled else None,
            "rotate_performed": [round(v, 4) for v in cal.rotate_performed] if cal.enabled else None,
            "rotate_deg": round(float(np.rad2deg(cal.rotate_rad)), 2),
            "turns": cal.turns,
            **(
                {
                    "recalibrations": [
                        {
                            "request": round(r.request_s, 4),
                            "move": round(r.move_s, 4),
                            "hold": [round(r.move_s + r.ramp_s, 4), round(r.end_s - r.ramp_s, 4)],
                            "end": round(r.end_s, 4),
                        }
                        for r in cal.recalibrations
                    ]
                }
                if cal.recalibrations
                else {}
            ),
        },
        "active": [round(plan.active[0], 4), round(plan.active[1], 4)],
        "thresholds": {
            "elevation_margin_m": ELEVATION_MARGIN_M,
            "wrist_flexion_max_deg": WRIST_FLEXION_MAX_DEG,
            "wrist_deviation_max_deg": WRIST_DEVIATION_MAX_DEG,
        },
        "body": {
            "forearm_length_m": round(b.forearm_length_m, 4),
            "elbow_to_heart_m": round(b.elbow_to_heart_m, 4),
            "hand_length_m": round(b.hand_length_m, 4),
            "forearm_radius_m": round(b.forearm_radius_m, 4),
            "treated_sensor_m": round(b.treated_sensor_m, 4),
            "hand_sensor_m": round(b.hand_sensor_m, 4),
            "tremor_mps2": round(b.tremor_mps2, 4),
            "tremor_hz": round(b.tremor_hz, 3),
            "breathing_hz": round(b.breathing_hz, 3),
        },
        "limb": {
            "natural_hz": round(plan.limb.natural_hz, 3),
            "damping_ratio": round(plan.limb.damping_ratio, 3),
            "drag_mm_per_n": round(plan.limb.drag_m_per_n * 1e3, 4),
            "friction_mu": round(plan.limb.friction_mu, 3),
        },
        "strokes": strokes,
        "fidgets": [
            {
                "t_start": round(float(fid.t_start_s[i]), 4),
                "t_end": round(float(fid.t_start_s[i] + fid.duration_s[i]), 4),
                "kind": fid.kind[i],
                "translation_m": round(float(np.linalg.norm(fid.translation_m[i])), 4),
                "elevation_deg": round(float(np.rad2deg(fid.elevation_rad[i])), 3),
                "heading_deg": round(float(np.rad2deg(fid.heading_rad[i])), 3),
                "role": "treated",
            }
            for i in range(len(fid))
        ]
        + [
            {
                "t_start": round(start, 4),
                "t_end": round(start + dur, 4),
                "kind": "reach",
                "translation_m": round(float(np.linalg.norm(move)), 4),
                "rotation_deg": round(float(np.rad2deg(np.linalg.norm(turn))), 3),
                "role": "stroker",
            }
            for start, dur, move, turn in (
                model.stroker_reaches if "stroker" in session.scenario.sensors else []
            )
        ],
        "episodes": [
            {
                "kind": e.kind,
                "t_start": round(e.t_start_s, 4),
                "t_end": round(e.t_end_s, 4),
                "ramp_in_s": round(e.ramp_in_s, 3),
                "ramp_out_s": round(e.ramp_out_s, 3),
                "height_m": None if e.height_m is None else round(e.height_m, 4),
                "flexion_deg": None if e.flexion_rad is None else round(float(np.rad2deg(e.flexion_rad)), 3),
                "deviation_deg": None
                if e.deviation_rad is None
                else round(float(np.rad2deg(e.deviation_rad)), 3),
                "roll_deg": None if e.roll_rad is None else round(float(np.rad2deg(e.roll_rad)), 3),
                "explicit": e.explicit,
            }
            for e in plan.episodes
        ],
        "stroker_path": [
            {"kind": k, "t_start": round(max(a, 0.0), 4), "t_end": round(min(b_, b.duration_s), 4)}
            for k, a, b_ in model.stroker_segments()
            if b_ > 0.0 and a < b.duration_s
        ]
        if "stroker" in session.scenario.sensors
        else [],
        "posture": posture,
        "sensors": {role: s.to_labels() for role, s in session.sensors.items()},
        "gaps": {
            role: [] if s.faults is None else [[round(a, 4), round(b, 4)] for a, b in s.faults.gaps]
            for role, s in session.sensors.items()
        },
        "summary": summary_labels(posture, strokes, plan.active, "hand" in session.scenario.sensors),
        **({} if plan.variant is None else variant_labels(model)),
    }
