"""The calibrating state of a session (docs/design.md §4): when it ends, what it found, what it sets up.

Three ways to the sensor-to-segment alignment, by ``mounting``:

- ``meta``: the ``still`` and ``rotate`` phase times in the trace ``meta`` (a live session writes the
  times its guided calibration found, :mod:`coach.session.guided_calibration`); calibration ends at the
  later phase's end;
- ``auto``: phases found in the ``treated`` stream (:class:`calibration.phases.PhaseDetector`); ends when
  the detector has decided (``nominal`` when it found none);
- ``nominal``: device axes are segment axes; no calibrating state at all.

Then :func:`calibration.mounting.calibrate_sensor` gives each role's :class:`SensorCalibration` (gyro
bias, gravity, mounting; a saved profile may replace the ``rotate`` step), and :func:`posture_setup`
fixes the posture references of the ``still`` pose and the checks that cannot run. The outcome is a
:class:`CalibrationOutcome`, summarised in the ``summary`` event's ``calibration`` field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibration.mounting import SensorCalibration, calibrate_sensor, nominal
from calibration.phases import PhaseDetector
from calibration.plausibility import CHECKS_OFF, mounting_findings
from calibration.profiles import ProfileStore, device_key, profile_from_calibration
from coach.samples import FloatArray
from coach.signal import quaternion as quat
from coach.signal.posture import PostureSetup, still_reference
from coach.signal.roles import RoleStream
from coach.trace.meta import TraceMeta


@dataclass(slots=True)
class CalibrationOutcome:
    """What calibration found (for the summary and the posture setup)."""

    mounting: str
    still: tuple[float, float] | None = None
    rotate: tuple[float, float] | None = None
    sensors: dict[str, SensorCalibration] = field(default_factory=dict)
    checks_off: list[str] = field(default_factory=list)
    #: Mounting problems found (cue codes of :data:`coach.cue_texts.MOUNTING_CUES`), said to the person.
    warnings: list[str] = field(default_factory=list)


class Calibrating:
    """Decides when calibration ends and computes its outcome (see the module docstring)."""

    def __init__(self, meta: TraceMeta, mounting: str | None, decision_hz: float) -> None:
        self.meta = meta
        self.decision_hz = decision_hz
        has_phases = meta.phase("still") is not None or meta.phase("rotate") is not None
        self.requested = mounting or ("meta" if has_phases else "auto")
        #: The outcome, once calibration has ended (at once for ``nominal`` mounting).
        self.outcome: CalibrationOutcome | None = None
        #: The decision point at which calibration ends, once known.
        self.j_end: int | None = None
        self._detector: PhaseDetector | None = None
        if self.requested == "meta" and has_phases:
            ends = [p[1] for p in (meta.phase("still"), meta.phase("rotate")) if p is not None]
            self.j_end = math.ceil(max(ends) * decision_hz - 1e-6)
        elif self.requested == "meta":
            self.outcome = CalibrationOutcome("nominal", checks_off=["calibration_phases"])
        elif self.requested == "nominal":
            self.outcome = CalibrationOutcome("nominal")

    @property
    def mounting(self) -> str:
        return self.outcome.mounting if self.outcome is not None else self.requested

    def watch(self, stream: RoleStream, batch: Any) -> None:
        """Feed the phase detector what ``treated`` resampled (``auto`` mounting, while undecided)."""
        if stream.role != "treated" or self.outcome is not None or self.requested != "auto":
            return
        if self._detector is None and stream.started:
            self._detector = PhaseDetector(stream.rate_hz, stream.t0_s)
            # Everything resampled so far is in the pending buffer.
            p = stream.pending
            self._detector.feed(p.k, p.gyr_rps, p.acc_mps2, stream.resampler.next_k)
        elif self._detector is not None:
            self._detector.feed(batch.k, batch.gyr_rps, batch.acc_mps2, stream.resampler.next_k)

    def limit(self, j_next: int | None, final_end_s: float | None) -> int:
        """While calibration is undecided, how far the calibrating state is certain."""
        if self.j_end is not None:
            return self.j_end
        det = self._detector
        if det is None:
            return j_next or 0
        if det.result is not None:
            self.j_end = max(math.ceil(det.result.decided_s * self.decision_hz - 1e-6), j_next or 0)
            return self.j_end
        if final_end_s is not None:
            # The input ended during the search: stay calibrating to the end.
            return math.floor(final_end_s * self.decision_hz + 1e-6) + 1
        searched = det.window_time(det.searched_windows)
        return math.ceil(searched * self.decision_hz - 1e-6)

    def due(self, j_next: int, ready: int) -> bool:
        """Calibration ends now: its end is reached and every sample up to it is in."""
        return self.outcome is None and self.j_end is not None and j_next >= self.j_end and ready > self.j_end

    def calibrate(self, roles: Mapping[str, RoleStream], profiles: ProfileStore | None) -> CalibrationOutcome:
        """The phases are over: each started role's sensor calibration."""
        if self.requested == "meta":
            still, rotate, mounting = self.meta.phase("still"), self.meta.phase("rotate"), "meta"
        else:
            res = self._detector.result if self._detector is not None else None
            still = res.still if res is not None else None
            rotate = res.rotate if res is not None else None
            mounting = "auto" if still is not None else "nominal"
        cal = CalibrationOutcome(mounting, still, rotate)
        if mounting == "nominal":
            cal.checks_off.append("calibration_phases")
        for role, stream in roles.items():
            if not stream.started:
                continue
            pending = stream.pending
            sel_still = _phase_data(pending, still)
            sel_rot = _phase_data(pending, rotate) if role != "stroker" else None
            profile_axis = self._profile_axis(profiles, role) if role != "stroker" else None
            sc = calibrate_sensor(sel_still, sel_rot, stream.rate_hz, profile_axis)
            if role == "stroker":
                sc = SensorCalibration(np.eye(3), sc.gyro_bias_rps, sc.gravity_sensor, "device", sc.notes)
            cal.sensors[role] = sc
        cal.warnings = mounting_findings(self.meta.arm, cal.sensors)
        for code in cal.warnings:
            cal.checks_off += CHECKS_OFF[code]
        for role, sc in cal.sensors.items():
            if not cal.warnings:
                # A mounting found implausible is not kept for the next session.
                self._save_profile(profiles, role, sc)
        self.outcome = cal
        return cal

    def _profile_axis(self, store: ProfileStore | None, role: str) -> FloatArray | None:
        key = device_key(self.meta, role)
        if store is None or key is None:
            return None
        profile = store.load(key)
        return None if profile is None else np.asarray(profile.long_axis_sensor)

    def _save_profile(self, store: ProfileStore | None, role: str, sc: SensorCalibration) -> None:
        key = device_key(self.meta, role)
        if store is None or key is None or sc.axis_source != "rotate":
            return
        device = str(self.meta.sensor(role).device)
        store.save(profile_from_calibration(key, role, device, sc.mount, sc.gyro_bias_rps, sc.gravity_sensor))


def posture_setup(
    cal: CalibrationOutcome,
    roles: Mapping[str, RoleStream],
    expected: set[str],
    meta: TraceMeta,
    t_end_s: float,
    strokes_on: bool,
) -> tuple[PostureSetup, dict[str, FloatArray]]:
    """Start the orientation filters with the calibrated bias; fix the posture references of the
    ``still`` pose; note the checks that cannot run. Returns the posture setup and each role's mounting
    (sensor-to-segment rotation)."""
    mounts: dict[str, FloatArray] = {}
    mounts_q: dict[str, FloatArray] = {}
    for role, stream in roles.items():
        sc = cal.sensors.get(role) or nominal()
        cal.sensors[role] = sc
        if stream.tracker is None and stream.started:
            stream.start_filter(sc.gyro_bias_rps)
        mounts[role] = sc.mount
        mounts_q[role] = quat.from_matrix(sc.mount)
    treated = cal.sensors.get("treated") or nominal()
    hand_sc = cal.sensors.get("hand")
    roll_ref = 0.0
    hand_mount_q = mounts_q.get("hand") if "hand" in expected else None
    if "hand" in expected and hand_mount_q is None:
        hand_mount_q = quat.IDENTITY.copy()
    delta0: float | None = None
    t_ref = t_end_s
    if cal.still is not None and treated.calibrated:
        q_t, q_h = _still_quats(roles["treated"], roles.get("hand"), cal.still)
        if q_t is not None:
            use_hand = q_h is not None and hand_sc is not None and hand_sc.calibrated
            roll_ref, eff, d0 = still_reference(
                q_t,
                mounts_q["treated"],
                q_h if use_hand else None,
                hand_mount_q if use_hand else None,
            )
            if eff is not None:
                hand_mount_q, delta0, t_ref = eff, d0, cal.still[1]
    off = cal.checks_off
    if treated.gyro_bias_rps is None:
        off += ["gyro_bias", "roll_reference"]
    if treated.axis_source not in ("rotate", "profile"):
        off.append("forearm_axis")
    if "hand" not in expected:
        off.append("wrist_neutral")
    elif delta0 is None:
        off.append("wrist_reference")
    if not strokes_on:
        off.append("strokes")
    setup = PostureSetup(
        meta.arm,
        meta.body,
        mounts_q.get("treated", quat.IDENTITY.copy()),
        roll_ref,
        hand_mount_q,
        delta0,
        t_ref,
    )
    return setup, mounts


def _phase_data(buf: Any, span: tuple[float, float] | None) -> tuple[FloatArray, FloatArray] | None:
    if span is None:
        return None
    sel = buf.between(span[0], span[1])
    if len(sel) < 3:
        return None
    return sel.gyr_rps, sel.acc_mps2


def _still_quats(
    treated: RoleStream, hand: RoleStream | None, span: tuple[float, float]
) -> tuple[FloatArray | None, FloatArray | None]:
    """Orientations over the ``still`` phase: treated's, and hand's at the same times (rows where both
    exist), or ``None``."""
    if treated.tracker is None:
        return None, None
    sel = treated.out.between(span[0], span[1])
    if len(sel) < 3:
        return None, None
    if hand is None or hand.tracker is None:
        return sel.quat, None
    h = hand.interpolate(sel.t_s)
    if int(h.valid.sum()) < 3:
        return sel.quat, None
    return sel.quat[h.valid], h.quat[h.valid]
