# ruff: noqa: RUF009  (_spec() returns dataclasses.field(...) with metadata; ruff cannot tell)
"""Scenario sections for the devices and the body: sensors, body size and the calibration routine."""

from __future__ import annotations

from dataclasses import dataclass

from simulators.scenario_fields import (
    DEVICE_CLASSES,
    Span,
    _Section,
    _spec,
)


@dataclass(frozen=True)
class SensorSpec(_Section):
    """One worn sensor (a role): device class, rate, mounting and transport faults."""

    rate_hz: float = _spec(
        100.0,
        kind="float",
        unit="Hz",
        lo=10.0,
        hi=1000.0,
        doc="nominal output data rate (the design corpus uses 50, 100 and 200)",
    )
    device_class: str = _spec(
        "good",
        kind="choice",
        choices=DEVICE_CLASSES,
        doc="sensor error model: 'good' (BMI270-class) or 'cheap' (MPU-6050-class); see docs/simulator.md",
    )
    device: str | None = _spec(
        None,
        kind="optstr",
        doc="device name written to meta.sensors.<role>.device; default by class "
        "(good: metamotion-s, cheap: witmotion-bwt901)",
    )
    noise_scale: float = _spec(
        1.0, kind="float", lo=0.0, hi=20.0, doc="multiplier on the class's white noise"
    )
    misalignment_deg: Span = _spec(
        (0.0, 20.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=45.0,
        doc="session draw: angle of the mounting rotation away from nominal (device axes = segment axes), "
        "about a random axis; <= 45 keeps device x within 45° of distal",
    )
    acc_range_g: float | None = _spec(
        None,
        kind="optfloat",
        unit="g",
        lo=1.0,
        hi=32.0,
        doc="accelerometer full scale (saturation); default by class",
    )
    gyro_range_dps: float | None = _spec(
        None,
        kind="optfloat",
        unit="°/s",
        lo=60.0,
        hi=4000.0,
        doc="gyroscope full scale (saturation); default by class",
    )
    drop_rate: Span = _spec(
        0.0,
        kind="span",
        lo=0.0,
        hi=0.5,
        doc="session draw: share of BLE packets lost (each loses samples_per_packet samples)",
    )
    samples_per_packet: int = _spec(
        1, kind="int", lo=1, hi=16, doc="samples carried by one BLE notification (drops come in such runs)"
    )
    gaps_per_10min: Span = _spec(
        0.0,
        kind="span",
        lo=0.0,
        hi=30.0,
        doc="session draw: rate of random whole disconnections, placed outside the calibration phases",
    )
    gap_s: Span = _spec(
        (1.0, 10.0),
        kind="span",
        unit="s",
        lo=0.05,
        hi=600.0,
        doc="per-gap draw: duration of a random disconnection",
    )
    gaps: tuple[tuple[float, float], ...] = _spec(
        (),
        kind="gaps",
        unit="s",
        doc="explicit disconnections as [start_s, duration_s] pairs (true time), in addition to random ones",
    )
    jitter_s: Span | None = _spec(
        None,
        kind="optspan",
        unit="s",
        lo=0.0,
        hi=0.1,
        doc="session draw: σ of timestamp jitter; default by class",
    )
    clock_offset_s: Span | None = _spec(
        None,
        kind="optspan",
        unit="s",
        lo=-1.0,
        hi=1.0,
        doc="session draw: constant offset of this sensor's timestamps from true time; default by class",
    )
    clock_drift_ppm: Span | None = _spec(
        None,
        kind="optspan",
        unit="ppm",
        lo=-5000.0,
        hi=5000.0,
        doc="session draw: drift of this sensor's timestamps against true time; default by class",
    )
    rate_error_ppm: Span | None = _spec(
        None,
        kind="optspan",
        unit="ppm",
        lo=-50000.0,
        hi=50000.0,
        doc="session draw: deviation of the actual sampling rate from rate_hz (device oscillator); "
        "default by class",
    )


@dataclass(frozen=True)
class BodySpec(_Section):
    """The treated arm's geometry (session draws)."""

    forearm_length_m: Span = _spec(
        0.26, kind="span", unit="m", lo=0.15, hi=0.40, doc="elbow pivot to wrist joint (written to meta.body)"
    )
    elbow_to_heart_m: Span = _spec(
        0.0,
        kind="span",
        unit="m",
        lo=-0.3,
        hi=0.3,
        doc="height of the supported elbow over the heart (written to meta.body)",
    )
    hand_length_m: Span = _spec(
        (0.17, 0.21), kind="span", unit="m", lo=0.10, hi=0.26, doc="wrist joint to fingertips"
    )
    forearm_radius_m: Span = _spec(
        (0.025, 0.035),
        kind="span",
        unit="m",
        lo=0.01,
        hi=0.06,
        doc="skin surface to forearm long axis (contact and sensor height)",
    )
    treated_sensor_m: Span = _spec(
        (0.02, 0.06),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.12,
        doc="treated sensor centre, proximal of the wrist joint",
    )
    hand_sensor_m: Span = _spec(
        (0.04, 0.07),
        kind="span",
        unit="m",
        lo=0.01,
        hi=0.10,
        doc="hand sensor centre (3rd metacarpal), distal of the wrist joint",
    )


@dataclass(frozen=True)
class CalibrationSpec(_Section):
    """The guided start of docs/design.md §4: ``still`` then ``rotate``."""

    enabled: bool = _spec(True, kind="bool", doc="perform the still and rotate phases at the session start")
    in_meta: bool = _spec(
        True,
        kind="bool",
        doc="write the prompted phase times to meta.calibration (false: a trace without them)",
    )
    lead_in_s: Span = _spec(
        (0.5, 2.0),
        kind="span",
        unit="s",
        lo=0.0,
        hi=60.0,
        doc="session draw: from t = 0 to the still prompt (arm settles into the pose)",
    )
    still_s: Span = _spec(
        (3.0, 5.0), kind="span", unit="s", lo=3.0, hi=60.0, doc="session draw: prompted still duration"
    )
    rotate_s: Span = _spec(
        6.0, kind="span", unit="s", lo=3.0, hi=30.0, doc="session draw: prompted rotate duration"
    )
    rotate_turns: int = _spec(2, kind="int", lo=1, hi=5, doc="palm-down/palm-up turns in the rotate phase")
    rotate_deg: Span = _spec(
        (120.0, 170.0),
        kind="span",
        unit="°",
        lo=20.0,
        hi=200.0,
        doc="session draw: supination reached at each turn (palm up)",
    )
    reaction_s: Span = _spec(
        (0.2, 0.8),
        kind="span",
        unit="s",
        lo=0.0,
        hi=3.0,
        doc="session draw: delay of the performed rotation after its prompt",
    )
    recalibration_requests_s: tuple[float, ...] = _spec(
        (),
        kind="times",
        unit="s",
        lo=0.0,
        doc="times at which the coach asked for the still pose again (a cue the simulated person obeys: "
        "the helper stops stroking, the person holds the still pose; the bench fills these in from the "
        "coach's own cues)",
    )
    recalibration_reaction_s: Span = _spec(
        (1.0, 3.0),
        kind="span",
        unit="s",
        lo=0.0,
        hi=10.0,
        doc="per-request draw: from the request to moving into the still pose",
    )
    recalibration_hold_s: Span = _spec(
        (5.0, 8.0),
        kind="span",
        unit="s",
        lo=1.0,
        hi=30.0,
        doc="per-request draw: how long the still pose is held (the request asks for 5 seconds)",
    )
