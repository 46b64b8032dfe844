"""Guided calibration at the start of a live session (docs/design.md §4): prompts and checks.

1. ``still``: "rest your arm raised, palm down, and hold still". Done when every sensor has been still
   for ``still_s`` (3 s), "still" as the pipeline's phase detector defines it (calibration.phases: small
   gyro and accelerometer spread per 0.1 s, gravity of the right size, no tilt step, no slow turn).
2. ``rotate``: "turn your palm up and down twice, slowly". Done when the ``treated`` gyro turned at
   least ``rotate_min_deg`` about one dominant axis (two 120–180° turns give 480–720°) and then came
   to rest, or ``rotate_max_s`` after the turning began.

A phase not done within ``attempt_s`` of its prompt is prompted again with a clearer cue; after
``max_attempts`` the calibration has failed. The phase times found go into the trace ``meta``
(``calibration.still`` and ``calibration.rotate``), so the pipeline and any later replay use them.
The checks read only samples; the rotation is measured after taking off the gyro bias seen while still.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from calibration import phases
from coach.samples import FloatArray, SampleBlock
from coach.units import GRAVITY_MPS2

PROMPTS: dict[str, str] = {
    "calibration_still": (
        "Calibration: rest your elbow, raise your hand above heart level, palm down, wrist straight, "
        "and hold still."
    ),
    "calibration_still_retry": "Please hold your arm completely still for 3 seconds, palm down.",
    "calibration_rotate": "Now turn your palm up and down twice, slowly, keeping your elbow resting.",
    "calibration_rotate_retry": (
        "Turn your forearm slowly so your palm faces up, then down again; do it twice. "
        "Keep the elbow resting."
    ),
    "calibration_done": (
        "Calibration done. Start the massage: stroke from your fingertips toward your elbow."
    ),
    "calibration_failed": (
        "Calibration did not work. Check the sensors are strapped on firmly and start again."
    ),
}


@dataclass(frozen=True)
class Prompt:
    """A calibration prompt shown and spoken at ``t_s`` (trace seconds)."""

    code: str
    t_s: float

    @property
    def message(self) -> str:
        return PROMPTS[self.code]


@dataclass
class _RoleBuffer:
    t: list[FloatArray] = field(default_factory=list)
    gyr: list[FloatArray] = field(default_factory=list)
    acc: list[FloatArray] = field(default_factory=list)

    def add(self, block: SampleBlock) -> None:
        self.t.append(np.asarray(block.t_s, dtype=float))
        self.gyr.append(np.asarray(block.gyr_rps, dtype=float))
        self.acc.append(np.asarray(block.acc_mps2, dtype=float))

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        if not self.t:
            return np.empty(0), np.empty((0, 3)), np.empty((0, 3))
        if len(self.t) > 1:
            self.t = [np.concatenate(self.t)]
            self.gyr = [np.concatenate(self.gyr)]
            self.acc = [np.concatenate(self.acc)]
        return self.t[0], self.gyr[0], self.acc[0]


class GuidedCalibration:
    """Feed it every block; call :meth:`step` on every clock tick; read :attr:`phase` and the times."""

    def __init__(
        self,
        roles: Sequence[str],
        *,
        still_s: float = 3.0,
        still_gyro_rps: float = 0.3,
        rotate_min_deg: float = 200.0,
        rotate_max_s: float = 10.0,
        rotate_start_rps: float = 0.5,
        rotate_rest_rps: float = 0.3,
        rotate_rest_s: float = 0.7,
        attempt_s: float = 12.0,
        max_attempts: int = 3,
    ) -> None:
        if "treated" not in roles:
            raise ValueError("calibration needs the treated sensor")
        self.roles = list(roles)
        self.still_s = still_s
        self.still_gyro_rps = still_gyro_rps
        self.rotate_min_deg = rotate_min_deg
        self.rotate_max_s = rotate_max_s
        self.rotate_start_rps = rotate_start_rps
        self.rotate_rest_rps = rotate_rest_rps
        self.rotate_rest_s = rotate_rest_s
        self.attempt_s = attempt_s
        self.max_attempts = max_attempts
        self.phase = "idle"
        self.still: tuple[float, float] | None = None
        self.rotate: tuple[float, float] | None = None
        self.attempts = 0
        self._buffers = {role: _RoleBuffer() for role in self.roles}
        self._phase_start_s = 0.0
        self._prompted_s = 0.0
        self._bias: FloatArray = np.zeros(3)

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def failed(self) -> bool:
        return self.phase == "failed"

    def begin(self, t_s: float) -> list[Prompt]:
        self.phase = "still"
        self.attempts = 1
        self._phase_start_s = self._prompted_s = t_s
        return [Prompt("calibration_still", t_s)]

    def feed(self, block: SampleBlock) -> None:
        buffer = self._buffers.get(block.role)
        if buffer is not None and len(block):
            buffer.add(block)

    def step(self, t_now_s: float) -> list[Prompt]:
        """Check the data so far; return the prompts due at ``t_now_s``."""
        if self.phase == "still":
            found = self._find_still(self._phase_start_s)
            if found is not None:
                self.still = found
                t, gyr, _ = self._buffers["treated"].arrays()
                sel = (t >= found[0]) & (t <= found[1])
                self._bias = gyr[sel].mean(axis=0) if np.any(sel) else np.zeros(3)
                self.phase = "rotate"
                self.attempts = 1
                self._phase_start_s = found[1]
                self._prompted_s = t_now_s
                return [Prompt("calibration_rotate", t_now_s)]
            return self._maybe_retry(t_now_s, "calibration_still_retry")
        if self.phase == "rotate":
            found = self._find_rotate(self._phase_start_s, t_now_s)
            if found is not None:
                self.rotate = found
                self.phase = "done"
                return [Prompt("calibration_done", t_now_s)]
            return self._maybe_retry(t_now_s, "calibration_rotate_retry")
        return []

    def _maybe_retry(self, t_now_s: float, code: str) -> list[Prompt]:
        if t_now_s - self._prompted_s < self.attempt_s:
            return []
        if self.attempts >= self.max_attempts:
            self.phase = "failed"
            return [Prompt("calibration_failed", t_now_s)]
        self.attempts += 1
        self._prompted_s = t_now_s
        return [Prompt(code, t_now_s)]

    # -- the checks --------------------------------------------------------------------------------
    def _windows(self, role: str, t0_s: float) -> tuple[FloatArray, FloatArray, np.ndarray, FloatArray]:
        """Per ``WINDOW_S`` window from ``t0_s``: start times, end times, still flags, mean gyro.

        "Still" is the definition the pipeline's own phase detector uses (calibration.phases): small
        gyro and accelerometer spread, gravity of the right size, no tilt step, enough samples.
        """
        t, gyr, acc = self._buffers[role].arrays()
        sel = t >= t0_s
        t, gyr, acc = t[sel], gyr[sel], acc[sel]
        if t.shape[0] == 0:
            empty = np.empty(0)
            return empty, empty, np.empty(0, dtype=bool), np.empty((0, 3))
        idx = np.floor((t - t0_s) / phases.WINDOW_S).astype(np.int64)
        n_win = int(idx[-1])  # the last window may still be filling: leave it out
        starts: FloatArray = np.asarray(t0_s + np.arange(n_win) * phases.WINDOW_S, dtype=np.float64)
        ok = np.zeros(n_win, dtype=bool)
        means = np.zeros((n_win, 3))
        bounds = np.searchsorted(idx, np.arange(n_win + 1))
        last_up: FloatArray | None = None
        for w in range(n_win):
            a, b = int(bounds[w]), int(bounds[w + 1])
            if b - a < 2:
                last_up = None
                continue
            g_w, a_w = gyr[a:b], acc[a:b]
            mean_acc = a_w.mean(axis=0)
            g = float(np.linalg.norm(mean_acc))
            up = mean_acc / g if g > 0 else mean_acc
            tilt_ok = (
                last_up is None or float(np.arccos(np.clip(up @ last_up, -1, 1))) < phases.STILL_TILT_STEP_RAD
            )
            last_up = up
            means[w] = g_w.mean(axis=0)
            ok[w] = (
                tilt_ok
                and float(np.linalg.norm(g_w.std(axis=0))) < phases.STILL_GYRO_STD_RPS
                and float(np.linalg.norm(a_w.std(axis=0))) < phases.STILL_ACC_STD_MPS2
                and abs(g - GRAVITY_MPS2) < phases.STILL_GRAVITY_TOL_MPS2
                and float(np.linalg.norm(means[w])) < self.still_gyro_rps
            )
        ends: FloatArray = starts + phases.WINDOW_S
        return starts, ends, ok, means

    def _find_still(self, t0_s: float) -> tuple[float, float] | None:
        """The first span of ``still_s`` from ``t0_s`` in which every sensor is still."""
        starts, ends, ok, means = self._windows("treated", t0_s)
        need = round(self.still_s / phases.WINDOW_S)
        run_start: int | None = None
        for w in range(starts.shape[0]):
            if ok[w] and run_start is not None and w - run_start >= phases.STILL_BIAS_WINDOWS:
                # A slow turn: small spread, but the mean drifts away from the run's (the bias).
                bias = means[run_start:w].mean(axis=0)
                if float(np.linalg.norm(means[w] - bias)) > phases.STILL_TURN_RPS:
                    run_start = None
            if not ok[w]:
                run_start = None
                continue
            if run_start is None:
                run_start = w
            if w + 1 - run_start >= need:
                span = (float(starts[run_start]), float(ends[w]))
                if self._others_still(*span):
                    return round(span[0], 3), round(span[1], 3)
                run_start = None
        return None

    def _others_still(self, start: float, end: float) -> bool:
        for role in self.roles:
            if role == "treated":
                continue
            starts, _, ok, _ = self._windows(role, start)
            sel = starts < end - 1e-9
            if np.count_nonzero(sel) < round((end - start) / phases.WINDOW_S) - 1 or not bool(
                np.all(ok[sel])
            ):
                return False
        return True

    def _find_rotate(self, t0_s: float, t_now_s: float) -> tuple[float, float] | None:
        t, gyr, _ = self._buffers["treated"].arrays()
        sel = t >= t0_s
        t, gyr = t[sel], gyr[sel] - self._bias
        if t.shape[0] < 3:
            return None
        speed = np.linalg.norm(gyr, axis=1)
        moving = np.flatnonzero(speed > self.rotate_start_rps)
        if moving.size == 0:
            return None
        a = int(moving[0])
        start = float(t[a])
        # The end: rest for rotate_rest_s after enough turning, or the cap.
        rest = speed < self.rotate_rest_rps
        end_idx: int | None = None
        for i in range(a + 1, t.shape[0]):
            if t[i] - start >= self.rotate_max_s:
                end_idx = i
                break
            if rest[i]:
                j = i
                while j < t.shape[0] and rest[j] and t[j] - t[i] < self.rotate_rest_s:
                    j += 1
                if j < t.shape[0] and t[j] - t[i] >= self.rotate_rest_s and self._turned(t, gyr, a, i):
                    end_idx = i
                    break
        if end_idx is None:
            return None
        if not self._turned(t, gyr, a, end_idx):
            return None
        return round(start, 3), round(float(t[end_idx]), 3)

    def _turned(self, t: FloatArray, gyr: FloatArray, a: int, b: int) -> bool:
        """Enough rotation about one dominant axis between samples ``a`` and ``b``."""
        w = gyr[a : b + 1]
        if w.shape[0] < 3:
            return False
        # Dominant axis: principal direction of the angular-rate vectors.
        _, s, vt = np.linalg.svd(w, full_matrices=False)
        axis = vt[0]
        energy = float(np.sum(s**2))
        if energy <= 0 or float(s[0] ** 2) / energy < 0.6:
            return False
        dt = np.diff(t[a : b + 1], prepend=t[a])
        turned_deg = float(np.degrees(np.sum(np.abs(w @ axis) * dt)))
        return turned_deg >= self.rotate_min_deg
