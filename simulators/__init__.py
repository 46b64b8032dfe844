"""Kinematic session simulator and sensor model (docs/design.md §6); the simulated bleak backend lives in
``simulators.ble``.

    from simulators import Scenario, random_scenario, simulate
    session = simulate(random_scenario(7), seed=7)
    session.write("trace.csv")          # also writes trace.labels.json (ground truth)

See docs/simulator.md for the scenario fields, the physics, the sensor model and the labels schema.
"""

from simulators.scenario import (
    BodySpec,
    CalibrationSpec,
    Episode,
    FidgetSpec,
    LimbSpec,
    PostureSpec,
    Scenario,
    SensorSpec,
    StrokeSpec,
    random_scenario,
)
from simulators.session import SimulatedSession, labels_path_for, simulate, simulate_motion

__all__ = [
    "BodySpec",
    "CalibrationSpec",
    "Episode",
    "FidgetSpec",
    "LimbSpec",
    "PostureSpec",
    "Scenario",
    "SensorSpec",
    "SimulatedSession",
    "StrokeSpec",
    "labels_path_for",
    "random_scenario",
    "simulate",
    "simulate_motion",
]
