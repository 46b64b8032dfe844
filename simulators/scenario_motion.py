# ruff: noqa: RUF009  (_spec() returns dataclasses.field(...) with metadata; ruff cannot tell)
"""Scenario sections for what the person does: strokes, limb motion, posture episodes, fidgets and
mounting faults."""

from __future__ import annotations

from dataclasses import dataclass

from coach.samples import ROLES
from simulators.scenario_fields import (
    EPISODE_KINDS,
    Span,
    _FieldError,
    _Section,
    _spec,
)


@dataclass(frozen=True)
class StrokeSpec(_Section):
    """Strokes of the massaging hand (docs/design.md §6)."""

    enabled: bool = _spec(True, kind="bool", doc="simulate strokes at all")
    cadence_spm: Span = _spec(
        (12.0, 30.0),
        kind="span",
        unit="1/min",
        lo=4.0,
        hi=60.0,
        doc="session draw: stroking rate inside bouts",
    )
    period_cv: float = _spec(
        0.12, kind="float", lo=0.0, hi=0.5, doc="per-stroke relative variation (σ) of the stroke period"
    )
    duty: Span = _spec(
        (0.4, 0.65), kind="span", lo=0.1, hi=0.9, doc="session draw: contact share of the stroke period"
    )
    contact_s: Span = _spec(
        (0.8, 4.0),
        kind="span",
        unit="s",
        lo=0.2,
        hi=10.0,
        doc="bounds of a stroke's contact (glide) duration",
    )
    return_s: Span = _spec(
        (0.5, 2.0),
        kind="span",
        unit="s",
        lo=0.2,
        hi=10.0,
        doc="per-stroke draw: return (no contact) duration, shortened to what the period leaves",
    )
    length_m: Span = _spec(
        (0.08, 0.30), kind="span", unit="m", lo=0.02, hi=0.5, doc="bounds of the glide length"
    )
    speed_mps: Span = _spec(
        (0.05, 0.25),
        kind="span",
        unit="m/s",
        lo=0.01,
        hi=1.0,
        doc="session draw of the typical mean glide speed; also bounds each stroke's mean speed",
    )
    speed_cv: float = _spec(
        0.15, kind="float", lo=0.0, hi=1.0, doc="per-stroke relative variation (σ) of the glide speed"
    )
    force_n: Span = _spec(
        (2.0, 20.0),
        kind="span",
        unit="N",
        lo=0.5,
        hi=50.0,
        doc="session draw of the typical peak normal force (light to firm); also bounds each stroke's force",
    )
    force_cv: float = _spec(
        0.2, kind="float", lo=0.0, hi=1.0, doc="per-stroke relative variation (σ) of the normal force"
    )
    ramp_s: Span = _spec(
        (0.2, 0.5),
        kind="span",
        unit="s",
        lo=0.02,
        hi=2.0,
        doc="per-stroke draws: force ramp-on and ramp-off times",
    )
    friction_mu: Span = _spec(
        (0.1, 0.4),
        kind="span",
        lo=0.0,
        hi=1.5,
        doc="session draw: friction coefficient between hand and skin (with lotion)",
    )
    distal_fraction: float = _spec(
        0.25,
        kind="float",
        lo=0.0,
        hi=1.0,
        doc="probability that a stroke goes distal (toward the fingertips: wrong)",
    )
    bout_strokes: Span = _spec(
        (5.0, 30.0), kind="span", lo=1.0, hi=1000.0, doc="per-bout draw: strokes in a bout (rounded)"
    )
    pause_s: Span = _spec(
        (5.0, 40.0), kind="span", unit="s", lo=0.0, hi=3600.0, doc="per-pause draw: pause between bouts"
    )
    start_delay_s: Span = _spec(
        (2.0, 8.0),
        kind="span",
        unit="s",
        lo=0.0,
        hi=600.0,
        doc="session draw: from the end of calibration to the first stroke",
    )
    lift_m: Span = _spec(
        (0.02, 0.08),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.3,
        doc="session draw: height of the return arc over the limb",
    )
    contact_angle_deg: Span = _spec(
        (-40.0, 40.0),
        kind="span",
        unit="°",
        lo=-180.0,
        hi=180.0,
        doc="per-stroke draw: contact surface around the long axis (0 = dorsal, + toward segment +y)",
    )
    hand_yaw_deg: Span = _spec(
        (-180.0, 180.0),
        kind="span",
        unit="°",
        lo=-180.0,
        hi=180.0,
        doc="session draw: massaging hand's fingers about the limb normal (0 = fingers distal)",
    )


@dataclass(frozen=True)
class LimbSpec(_Section):
    """How the supported limb answers the massaging hand (session draws)."""

    natural_hz: Span = _spec(
        (3.0, 6.0),
        kind="span",
        unit="Hz",
        lo=0.5,
        hi=20.0,
        doc="natural frequency of the limb on its support",
    )
    damping_ratio: Span = _spec((0.3, 0.6), kind="span", lo=0.05, hi=2.0, doc="damping ratio of that spring")
    drag_mm_per_n: Span = _spec(
        (0.6, 1.5),
        kind="span",
        unit="mm/N",
        lo=0.0,
        hi=5.0,
        doc="static displacement along the glide per newton of friction",
    )
    pitch_deg_per_12n: Span = _spec(
        (0.5, 1.5),
        kind="span",
        unit="°",
        lo=0.0,
        hi=5.0,
        doc="pitch change from 12 N pressing at the wrist (scales with the lever arm from the elbow)",
    )
    wrist_deg_per_10n: Span = _spec(
        (1.0, 3.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=10.0,
        doc="palmar flexion from 10 N pressing on the hand 5 cm past the wrist",
    )
    vibration_mps2: Span = _spec(
        (0.03, 0.18),
        kind="span",
        unit="m/s²",
        lo=0.0,
        hi=1.0,
        doc="session draw: rubbing vibration RMS at the treated sensor for 12 N at 0.15 m/s; each stroke "
        "scales it by sqrt(F/12 N)·sqrt(v/0.15 m/s), clipped to vibration_limits_mps2",
    )
    vibration_limits_mps2: Span = _spec(
        (0.02, 0.2), kind="span", unit="m/s²", lo=0.0, hi=2.0, doc="bounds of a stroke's vibration RMS"
    )
    vibration_hz: Span = _spec(
        (20.0, 40.0), kind="span", unit="Hz", lo=5.0, hi=200.0, doc="band of the rubbing vibration"
    )


@dataclass(frozen=True)
class Episode(_Section):
    """One explicit posture episode (times on the true session clock)."""

    kind: str = _spec(
        "lowered",
        kind="choice",
        choices=EPISODE_KINDS,
        doc="lowered: hand lowered and raised again; sag: slow sag then quick correction; "
        "wrist: bent wrist; roll: forearm turned",
    )
    t_start_s: float = _spec(0.0, kind="float", unit="s", lo=0.0, doc="start of the episode")
    duration_s: float = _spec(20.0, kind="float", unit="s", lo=0.1, doc="whole episode, transitions included")
    transition_s: float = _spec(
        1.5, kind="float", unit="s", lo=0.05, hi=120.0, doc="in and out transition (for sag: the recovery)"
    )
    height_m: float | None = _spec(
        None,
        kind="optfloat",
        unit="m",
        lo=-0.5,
        hi=0.5,
        doc="lowered/sag: wrist height over the heart reached",
    )
    flexion_deg: float | None = _spec(
        None, kind="optfloat", unit="°", lo=-80.0, hi=80.0, doc="wrist: flexion reached (+ palmar)"
    )
    deviation_deg: float | None = _spec(
        None, kind="optfloat", unit="°", lo=-40.0, hi=40.0, doc="wrist: deviation reached (+ radial)"
    )
    roll_deg: float | None = _spec(
        None, kind="optfloat", unit="°", lo=-120.0, hi=120.0, doc="roll: forearm roll reached (+ supination)"
    )

    def _cross_check(self) -> None:
        need = {"lowered": ("height_m",), "sag": ("height_m",), "wrist": (), "roll": ("roll_deg",)}[self.kind]
        for name in need:
            if getattr(self, name) is None:
                raise _FieldError(name, f"a {self.kind} episode needs {name}")
        if self.kind == "wrist" and self.flexion_deg is None and self.deviation_deg is None:
            raise _FieldError("flexion_deg", "a wrist episode needs flexion_deg and/or deviation_deg")
        if 2 * self.transition_s > self.duration_s and self.kind != "sag":
            raise _FieldError("transition_s", "two transitions must fit in duration_s")


@dataclass(frozen=True)
class PostureSpec(_Section):
    """Posture of the treated arm over the session: drift, fatigue, episodes, tremor, breathing."""

    height_m: Span = _spec(
        (0.08, 0.20),
        kind="span",
        unit="m",
        lo=-0.3,
        hi=0.5,
        doc="session draw: wrist height over the heart in the prescribed elevated pose",
    )
    height_drift_m: Span = _spec(
        (0.003, 0.012),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.2,
        doc="session draw: σ of the slow height drift (correlation time 30–90 s)",
    )
    fatigue_m: Span = _spec(
        (0.0, 0.04),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.3,
        doc="session draw: height lost to fatigue over the session (linear)",
    )
    heading_deg: Span = _spec(
        (-180.0, 180.0),
        kind="span",
        unit="°",
        lo=-360.0,
        hi=360.0,
        doc="session draw: heading of the forearm in the earth frame",
    )
    heading_drift_deg: Span = _spec(
        (1.0, 4.0), kind="span", unit="°", lo=0.0, hi=45.0, doc="session draw: σ of the slow heading drift"
    )
    lowered_per_10min: Span = _spec(
        (0.5, 4.0),
        kind="span",
        lo=0.0,
        hi=60.0,
        doc="session draw: rate of random lowering episodes (lowered or sag)",
    )
    lowered_s: Span = _spec(
        (5.0, 60.0), kind="span", unit="s", lo=0.5, hi=3600.0, doc="per-episode draw: time held low"
    )
    lowered_height_m: Span = _spec(
        (-0.15, 0.03),
        kind="span",
        unit="m",
        lo=-0.5,
        hi=0.5,
        doc="per-episode draw: wrist height over the heart when lowered",
    )
    sag_share: float = _spec(
        0.4, kind="float", lo=0.0, hi=1.0, doc="share of random lowering episodes that are slow sags"
    )
    sag_ramp_s: Span = _spec(
        (15.0, 60.0), kind="span", unit="s", lo=1.0, hi=600.0, doc="per-episode draw: duration of a slow sag"
    )
    transition_s: Span = _spec(
        (0.8, 3.0),
        kind="span",
        unit="s",
        lo=0.1,
        hi=30.0,
        doc="per-episode draw: transition into and out of an episode",
    )
    wrist_per_10min: Span = _spec(
        (0.5, 4.0), kind="span", lo=0.0, hi=60.0, doc="session draw: rate of random bent-wrist episodes"
    )
    wrist_s: Span = _spec(
        (3.0, 40.0),
        kind="span",
        unit="s",
        lo=0.5,
        hi=3600.0,
        doc="per-episode draw: duration of a bent-wrist episode",
    )
    flexion_deg: Span = _spec(
        (8.0, 45.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=80.0,
        doc="per-episode draw: flexion magnitude (sign random: flexion or extension)",
    )
    deviation_deg: Span = _spec(
        (5.0, 25.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=40.0,
        doc="per-episode draw: deviation magnitude (sign random: radial or ulnar)",
    )
    wrist_drift_deg: Span = _spec(
        (1.0, 4.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=30.0,
        doc="session draw: σ of the slow flexion drift (deviation drifts half as much)",
    )
    roll_per_10min: Span = _spec(
        (0.0, 2.0), kind="span", lo=0.0, hi=60.0, doc="session draw: rate of random forearm-roll episodes"
    )
    roll_s: Span = _spec(
        (5.0, 40.0),
        kind="span",
        unit="s",
        lo=0.5,
        hi=3600.0,
        doc="per-episode draw: duration of a roll episode",
    )
    roll_deg: Span = _spec(
        (15.0, 60.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=120.0,
        doc="per-episode draw: roll magnitude (sign random)",
    )
    roll_drift_deg: Span = _spec(
        (1.0, 5.0), kind="span", unit="°", lo=0.0, hi=45.0, doc="session draw: σ of the slow roll drift"
    )
    tremor_mps2: Span = _spec(
        (0.005, 0.04),
        kind="span",
        unit="m/s²",
        lo=0.0,
        hi=1.0,
        doc="session draw: physiological tremor amplitude at the treated sensor",
    )
    tremor_hz: Span = _spec(
        (8.0, 12.0), kind="span", unit="Hz", lo=1.0, hi=30.0, doc="session draw: tremor centre frequency"
    )
    breathing_hz: Span = _spec(
        (0.2, 0.3), kind="span", unit="Hz", lo=0.05, hi=1.0, doc="session draw: breathing rate"
    )
    breathing_deg: Span = _spec(
        (0.05, 0.4),
        kind="span",
        unit="°",
        lo=0.0,
        hi=5.0,
        doc="session draw: breathing sway amplitude of the forearm",
    )
    episodes: tuple[Episode, ...] = _spec(
        kind="episodes", factory=tuple, doc="explicit episodes, in addition to random ones"
    )


@dataclass(frozen=True)
class FidgetSpec(_Section):
    """Quick out-and-back arm movements with no contact: they must not count as strokes."""

    per_10min: Span = _spec((0.0, 4.0), kind="span", lo=0.0, hi=120.0, doc="session draw: rate of fidgets")
    duration_s: Span = _spec(
        (0.6, 1.8), kind="span", unit="s", lo=0.2, hi=5.0, doc="per-fidget draw: out-and-back duration"
    )
    translation_m: Span = _spec(
        (0.01, 0.08),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.4,
        doc="per-fidget draw: how far the arm moves (direction random)",
    )
    rotation_deg: Span = _spec(
        (3.0, 20.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=90.0,
        doc="per-fidget draw: how far the forearm tilts/turns",
    )
    stroker_per_10min: Span = _spec(
        (0.0, 4.0),
        kind="span",
        lo=0.0,
        hi=120.0,
        doc="session draw: rate of reaches of the massaging hand (for lotion, a scratch) during its rests "
        "between bouts: stroker motion without contact",
    )


@dataclass(frozen=True)
class MountingFaultSpec(_Section):
    """Opt-in mounting mistakes (none by default): what the coach's mounting checks must say."""

    backwards: str | None = _spec(
        None,
        kind="optchoice",
        choices=ROLES,
        doc="this role's device is strapped on backwards: turned 180° about its z axis, x toward the elbow",
    )
    swap_roles: bool = _spec(
        False,
        kind="bool",
        doc="the treated and hand devices are swapped: the trace's treated rows come from the hand",
    )
    wrong_arm: bool = _spec(False, kind="bool", doc="the sensors are on the other arm than meta.arm says")

    def _cross_check(self) -> None:
        if self.backwards == "stroker":
            raise _FieldError("backwards", "only a worn sensor (treated or hand) can be on backwards")

    @property
    def any(self) -> bool:
        return self.backwards is not None or self.swap_roles or self.wrong_arm
