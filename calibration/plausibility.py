"""Does the mounting make sense? Checks that say when a sensor is on backwards, on the other arm, or
the forearm and hand sensors are swapped, instead of coaching through a wrong mounting.

What each check relies on (measured figures in docs/signal.md, "Mounting that checks itself"):

- **On backwards** (device x toward the elbow): in the ``still`` pose the forearm rests raised (hand above
  heart level), so the calibrated long axis, signed toward the device's x, points up. A long axis that
  points down by more than :data:`BACKWARDS_ELEVATION_DEG` at ``still`` means the device is on backwards
  (or the arm was not raised; either way the mounting is not to be trusted). A hand device must point the
  same way as the watch in the ``still`` pose (wrist straight): the one pointing down is the backwards one.
- **The other arm**: the ``rotate`` phase starts palm down, and from palm down a forearm turns far one way
  only (supination, palm up, 90–180°; pronation goes a few degrees further at most). Supination is a
  positive turn about the distal x axis on a right arm and a negative one on a left arm, so the side of the
  big excursion names the arm. The check needs a ``rotate`` phase turning at least
  :data:`ARM_MIN_TURN_DEG` and an excursion :data:`ARM_RATIO` times the other side.
- **Swapped roles**: the hand sits on the wrist, a joint the forearm does not have, so the hand device
  rotates more about axes across its long axis than the watch (wrist flexion and deviation add to the
  forearm's motion). :class:`RoleSwapCheck` compares that rotation energy over the first
  :data:`SWAP_DECIDE_S` seconds of the session after calibration; ``treated`` rotating more than ``hand``
  by :data:`SWAP_RATIO` says the two are swapped.

The codes returned are cue codes (:data:`coach.cue_texts.MOUNTING_CUES` holds their words).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from calibration.mounting import SensorCalibration

FloatArray = np.ndarray

BACKWARDS_ELEVATION_DEG = -5.0
ARM_MIN_TURN_DEG = 60.0
ARM_RATIO = 2.0
SWAP_DECIDE_S = 120.0
SWAP_RATIO = 1.0

BACKWARDS_CODE = {"treated": "check_watch_backwards", "hand": "check_hand_sensor_backwards"}
WRONG_ARM_CODE = "check_sensor_arm"
SWAPPED_CODE = "check_sensor_roles"
#: The checks each finding turns off (summary ``checks_off``).
CHECKS_OFF = {
    "check_watch_backwards": ("elevation", "forearm_roll", "wrist_neutral"),
    "check_hand_sensor_backwards": ("wrist_neutral",),
    WRONG_ARM_CODE: ("forearm_roll",),
    SWAPPED_CODE: ("wrist_neutral",),
}


def still_elevation_deg(sc: SensorCalibration) -> float | None:
    """Elevation of the calibrated long axis in the ``still`` pose (deg), or ``None`` without one."""
    if sc.gravity_sensor is None:
        return None
    x = sc.mount[:, 0]
    return math.degrees(math.asin(float(np.clip(x @ sc.gravity_sensor, -1.0, 1.0))))


def backwards_roles(sensors: Mapping[str, SensorCalibration]) -> list[str]:
    """Worn devices whose long axis points down in the ``still`` pose."""
    out = []
    for role in ("treated", "hand"):
        sc = sensors.get(role)
        if sc is None:
            continue
        elev = still_elevation_deg(sc)
        if elev is not None and elev < BACKWARDS_ELEVATION_DEG:
            out.append(role)
    return out


def arm_from_rotate(sc: SensorCalibration) -> str | None:
    """The arm the ``rotate`` phase's turn says (``left``/``right``), or ``None`` when it cannot tell."""
    if sc.turn_range_rad is None:
        return None
    hi, lo = (math.degrees(v) for v in sc.turn_range_rad)
    if max(hi, -lo) < ARM_MIN_TURN_DEG:
        return None
    if hi >= ARM_RATIO * max(-lo, 1.0):
        return "right"
    if -lo >= ARM_RATIO * max(hi, 1.0):
        return "left"
    return None


def mounting_findings(arm: str, sensors: Mapping[str, SensorCalibration]) -> list[str]:
    """Cue codes of what calibration shows to be wrong with the mounting (empty: plausible)."""
    found = [BACKWARDS_CODE[r] for r in backwards_roles(sensors)]
    if "treated" in sensors and "treated" not in backwards_roles(sensors):
        said = arm_from_rotate(sensors["treated"])
        if said is not None and said != arm:
            found.append(WRONG_ARM_CODE)
    return found


class RoleSwapCheck:
    """Rotation energy across the long axis of ``treated`` and ``hand`` (segment frames, bias removed),
    judged once :data:`SWAP_DECIDE_S` seconds of both have been seen (see the module docstring)."""

    def __init__(self) -> None:
        self._energy = {"treated": 0.0, "hand": 0.0}
        self._seconds = {"treated": 0.0, "hand": 0.0}
        self.decided = False
        self.swapped = False
        self.ratio: float | None = None

    def feed(self, role: str, w_segment_rps: FloatArray, rate_hz: float) -> None:
        if self.decided or role not in self._energy or w_segment_rps.shape[0] == 0:
            return
        self._energy[role] += float(np.sum(w_segment_rps[:, 1] ** 2 + w_segment_rps[:, 2] ** 2)) / rate_hz
        self._seconds[role] += w_segment_rps.shape[0] / rate_hz

    def decide(self) -> bool:
        """Judge once enough is seen; True when it has just found the roles swapped."""
        if self.decided or min(self._seconds.values()) < SWAP_DECIDE_S:
            return False
        self.decided = True
        p_t = self._energy["treated"] / self._seconds["treated"]
        p_h = self._energy["hand"] / self._seconds["hand"]
        self.ratio = p_t / p_h if p_h > 0 else math.inf
        self.swapped = self.ratio > SWAP_RATIO
        return self.swapped
