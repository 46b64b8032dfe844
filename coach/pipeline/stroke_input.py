"""The pipeline's side of the stroke-detector seam (:mod:`coach.signal.strokes.api`).

Which detector (the default one, a factory, or none); per span of decision points, each role's
calibrated signals in the segment frame (acceleration, bias-free angular rate, orientation, the up
vector, the forearm axis in the earth frame, linear acceleration, elevation); and the timing contract
held: a stroke is decided inside its span, at most 0.5 s after its end (else clamped and counted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

import numpy as np

from coach.errors import ValidationError
from coach.samples import FloatArray
from coach.signal import quaternion as quat
from coach.signal.roles import RoleStream
from coach.signal.strokes import create_detector
from coach.signal.strokes.api import (
    MAX_STROKE_LATENCY_S,
    DetectorFactory,
    RoleSignals,
    Stroke,
    StrokeContext,
    StrokeDetector,
    StrokeStep,
)
from coach.units import GRAVITY_MPS2

_EPS: Final = 1e-9
_E_X: Final = np.array([1.0, 0.0, 0.0])
_E_Z: Final = np.array([0.0, 0.0, 1.0])
_GRAVITY_EARTH: Final = np.array([0.0, 0.0, GRAVITY_MPS2])


_AXES: dict[int, tuple[FloatArray, FloatArray]] = {}


def _three_vectors(acc: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``e_x``, ``acc`` and ``e_z``, one row per row of ``acc`` (the axes' rows kept per row count: a
    live session's frames all have the same)."""
    n = acc.shape[0]
    axes = _AXES.get(n)
    if axes is None:
        axes = _AXES[n] = (np.tile(_E_X, (n, 1)), np.tile(_E_Z, (n, 1)))
        if len(_AXES) > 64:
            _AXES.clear()
    return axes[0], acc, axes[1]


def load_default_detector() -> DetectorFactory | None:
    """The default stroke detector's factory, :func:`coach.signal.strokes.create_detector`."""
    return create_detector


def resolve_detector(choice: str | DetectorFactory | None) -> DetectorFactory | None:
    if choice is None:
        return None
    if choice == "default":
        return load_default_detector()
    if isinstance(choice, str):
        raise ValidationError(f"stroke_detector must be 'default', a factory or None, not {choice!r}")
    return choice


class StrokeInput:
    """The detector of a session, attached once calibration has ended."""

    def __init__(self, choice: str | DetectorFactory | None) -> None:
        self.factory = resolve_detector(choice)
        self.detector: StrokeDetector | None = None
        self._mounts: dict[str, FloatArray] = {}
        self._mount_q: dict[str, tuple[FloatArray, FloatArray]] = {}  # per role: (matrix, quaternion)
        #: Strokes whose decision time broke the slot contract (clamped).
        self.contract_violations = 0
        # Spans held back from the detector (see :meth:`strokes`): start, end, the roles given.
        self._held: tuple[float, float, tuple[str, ...]] | None = None

    @property
    def mounts(self) -> dict[str, FloatArray]:
        """Per role, the sensor-to-segment rotation (rows: sensor axes in segment axes)."""
        return self._mounts

    @mounts.setter
    def mounts(self, value: dict[str, FloatArray]) -> None:
        self._mounts = value
        self._mount_q = {}

    def attach(self, context: StrokeContext) -> None:
        if self.factory is not None:
            self.detector = self.factory(context)

    @property
    def held_from_s(self) -> float | None:
        """Start of the spans held back from the detector (``None``: none); the role buffers must keep
        their samples from there on."""
        return None if self._held is None else self._held[0]

    def strokes(self, roles: Mapping[str, RoleStream], t_from: float, t_to: float) -> list[Stroke]:
        """The strokes the detector decides in ``[t_from, t_to)``.

        A span the detector says cannot return a stroke (``quiet_until_s``, :mod:`~coach.signal.strokes.api`)
        is held and handed over joined with the next (a live session's spans are one decision point,
        the detector's frames five): the same strokes, returned in the same call, for one detector call
        and one set of signals per frame instead of per point. Only the roles the detector reads
        (``roles_read``) are worked out."""
        detector = self.detector
        if detector is None:
            return []
        read = getattr(detector, "roles_read", None)
        names = tuple(r for r, s in roles.items() if s.started and (read is None or r in read))
        out: list[Stroke] = []
        held = self._held
        if held is not None and held[2] != names:
            out += self._release(roles)  # a role started: the held spans go with the roles they had
            held = None
        start = t_from if held is None else held[0]
        quiet = getattr(detector, "quiet_until_s", None)
        if quiet is not None and t_to <= quiet():
            self._held = (start, t_to, names)
            return out
        self._held = None
        return out + self._run(roles, start, t_to, names, t_from)

    def _quiet_until_s(self) -> float | None:
        """The detector's ``quiet_until_s`` (``None``: no detector, or one that does not say)."""
        quiet = getattr(self.detector, "quiet_until_s", None)
        return None if quiet is None else float(quiet())

    def run_point(self, decision_hz: float) -> int | None:
        """The first decision point ``j`` whose span (ending at ``(j + 1) / decision_hz``) makes the
        detector run (``None``: not known). Only a live step's length depends on it, never an event."""
        quiet = self._quiet_until_s()
        return None if quiet is None or not math.isfinite(quiet) else math.floor(quiet * decision_hz)

    def runs_only_at_last(self, j0: int, j1: int, dt_s: float) -> bool:
        """Whether the detector runs for the span of points ``[j0, j1)`` but not for the span without its
        last point (so a split at the last point leaves the detector for the second half)."""
        if self.detector is None:
            return False
        quiet = self._quiet_until_s()
        if quiet is None:
            return True
        return j1 * dt_s > quiet and (j1 - j0 == 1 or (j1 - 1) * dt_s <= quiet)

    def finish(self, roles: Mapping[str, RoleStream], end_t: float) -> list[Stroke]:
        """Strokes the detector still holds at the end of the input (held spans handed over first)."""
        if self.detector is None:
            return []
        return self._release(roles) + self.detector.finish(end_t)

    def _release(self, roles: Mapping[str, RoleStream]) -> list[Stroke]:
        held, self._held = self._held, None
        return [] if held is None else self._run(roles, held[0], held[1], held[2], held[0])

    def _run(
        self,
        roles: Mapping[str, RoleStream],
        t_from: float,
        t_to: float,
        names: tuple[str, ...],
        last_from: float,
    ) -> list[Stroke]:
        """The detector on ``[t_from, t_to)``; its strokes held to the contract of the last span given,
        ``[last_from, t_to)`` (as without holding)."""
        assert self.detector is not None
        step = StrokeStep(t_from, t_to, {r: self._role_signals(roles[r], t_from, t_to) for r in names})
        return [self._clamp(s, last_from, t_to) for s in self.detector.process(step)]

    def _clamp(self, s: Stroke, t_from: float, t_to: float) -> Stroke:
        """Hold a detector to the slot contract: decided inside the span, at most 0.5 s after the end."""
        decided = s.decided_s
        ok_latency = s.t_end_s - _EPS <= decided <= s.t_end_s + MAX_STROKE_LATENCY_S + _EPS
        if ok_latency and t_from - _EPS <= decided < t_to:
            return s
        self.contract_violations += 1
        decided = min(max(decided, t_from), t_to - 1e-6)
        return Stroke(
            min(s.t_start_s, decided), min(s.t_end_s, decided), s.direction, s.confidence, s.sensor, decided
        )

    def _role_signals(self, stream: RoleStream, t_from: float, t_to: float) -> RoleSignals:
        rate, t0 = stream.rate_hz, stream.t0_s
        k_a = math.ceil((t_from - t0) * rate - 1e-6)
        k_b = math.ceil((t_to - t0) * rate - 1e-6)
        k = np.arange(max(k_a, 0), max(k_b, 0), dtype=np.int64)
        n = k.shape[0]
        buf = stream.out
        pos = np.searchsorted(buf.k, k)
        pos_c = np.minimum(pos, max(len(buf) - 1, 0))
        valid = (pos < len(buf)) & (buf.k[pos_c] == k) if len(buf) else np.zeros(n, bool)
        src = pos_c[valid]
        m, mq = self._mount(stream.role)

        if valid.all():  # the usual step: every sample there (no NaN rows to fill)
            acc = buf.acc_mps2[src] @ m
            gyr = (buf.gyr_rps[src] - buf.bias_rps[src]) @ m
            q = quat.multiply(buf.quat[src], mq)
        else:

            def full(width: int) -> FloatArray:
                return np.full((n, width), np.nan)

            acc, gyr, q = full(3), full(3), full(4)
            acc[valid] = buf.acc_mps2[src] @ m
            gyr[valid] = (buf.gyr_rps[src] - buf.bias_rps[src]) @ m
            q[valid] = quat.multiply(buf.quat[src], mq)
        # The three rotations as one (rows of q, q and q*, vectors e_x, acc and e_z): each row's own
        # arithmetic, as three calls would do it, for a third of the numpy calls.
        rot = quat.rotate(np.concatenate((q, q, quat.conjugate(q))), np.concatenate(_three_vectors(acc)))
        x_earth, lin, up = rot[:n], rot[n : 2 * n] - _GRAVITY_EARTH, rot[2 * n :]
        elev = np.degrees(np.arcsin(np.clip(up[:, 0], -1.0, 1.0)))
        return RoleSignals(stream.role, rate, t0 + k / rate, valid, acc, gyr, q, up, x_earth, lin, elev)

    def _mount(self, role: str) -> tuple[FloatArray, FloatArray]:
        """The role's mount matrix and its quaternion, computed once per calibration (the stroker's
        signals stay in its sensor frame)."""
        cached = self._mount_q.get(role)
        if cached is None:
            m = np.eye(3) if role == "stroker" else self._mounts.get(role, np.eye(3))
            cached = self._mount_q[role] = (m, quat.from_matrix(m))
        return cached
