"""The treated limb's answer to each stroke: a damped spring driven by the massaging hand.

Per stroke, on a local 1 kHz grid covering the contact plus the spring's decay:

- normal force ``F(t)``: min-jerk ramps on and off, a slight wobble on the plateau;
- glide position ``s(t)`` along the limb (min-jerk from ``s_start`` to ``s_end``);
- three inputs, each passed through the same second-order system (natural frequency ω, damping ζ,
  unit static gain: ``x'' + 2ζω x' + ω² x = ω² u``):

  - *slide* along the forearm x-axis: ``u = drag · μ · F · direction`` (m); its acceleration ``x''`` is
    what the sensors feel at onset and (opposite) at release;
  - *press* (pitch) about ``cos κ·y − sin κ·z`` of the forearm: ``u = c_pitch · F · s`` (rad), the
    lever arm from the elbow being the contact's distance ``s``;
  - *wrist flexion* while the hand itself is pressed: ``u = c_wrist · F · max(0, s − L) · max(0, cos κ)``;

- rubbing vibration: three independent band-limited Gaussian noises (unit RMS, the stroke's 8 Hz band
  inside 20–40 Hz) times an envelope ``rms · sqrt(F/F_peak) · sqrt(|v|/v_peak)``.

Linear responses superpose exactly, so overlapping windows (a tail into the next stroke) just add.
Orientation terms are evaluated through C² cubic splines (the sensors' accelerations are second
differences of positions); directly-added accelerations use linear interpolation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from scipy import signal
from scipy.interpolate import CubicSpline

from coach.samples import FloatArray
from simulators.frames import min_jerk, min_jerk_rate
from simulators.plan import LimbParams, StrokePlan
from simulators.processes import rng_for

_FS_HZ = 1000.0


@dataclass
class _Window:
    t0_s: float
    t1_s: float
    slide_acc_mps2: FloatArray  # on the local 1 kHz grid
    envelope: FloatArray  # vibration RMS envelope on the local grid
    centre_hz: float
    press: CubicSpline  # rad about the stroke's press axis
    wrist: CubicSpline | None
    press_axis: FloatArray  # (3,) in the forearm frame
    vibration: FloatArray | None = None  # (n, 3), made on first use
    # Variant families only (None in today's physics; see simulators/variants/response.py):
    push_acc_mps2: FloatArray | None = None  # acceleration along push_axis on the local grid
    push_axis: FloatArray | None = None  # (3,) forearm frame
    rock: CubicSpline | None = None  # treated device tilt about forearm y (rad)
    role_gain: dict[str, FloatArray] = field(default_factory=dict)  # vibration gain per role (local grid)


@dataclass(frozen=True)
class StrokeTruthFeatures:
    """What each stroke did to the limb (for the labels): peaks of the slide acceleration at onset and
    release, the largest press rotation, and the largest slide."""

    onset_acc_mps2: FloatArray
    release_acc_mps2: FloatArray
    press_deg: FloatArray
    slide_mm: FloatArray


class LimbResponse:
    """All strokes' effects on the treated limb, evaluable at any times."""

    def __init__(
        self,
        strokes: StrokePlan,
        limb: LimbParams,
        forearm_length_m: float,
        seed: int,
        sensor_s_m: dict[str, float] | None = None,
        hand_length_m: float = 0.19,
        strap_half_width_m: float = 0.025,
    ) -> None:
        self._windows: list[_Window] = []
        self._seed = seed
        w = 2.0 * np.pi * limb.natural_hz
        zeta = limb.damping_ratio
        den = [1.0, 2.0 * zeta * w, w * w]
        self._bx, self._ax = signal.bilinear([w * w], den, fs=_FS_HZ)
        self._ba, self._aa = signal.bilinear([w * w, 0.0, 0.0], den, fs=_FS_HZ)
        tail_s = min(3.0, 6.0 / (zeta * w))
        n = len(strokes)
        onset = np.zeros(n)
        release = np.zeros(n)
        press_peak = np.zeros(n)
        slide_peak = np.zeros(n)
        # Orientation terms are slow (< 10 Hz): C² splines on every 4th sample (250 Hz) are exact enough.
        knots = slice(None, None, 4)
        for i in range(n):
            if strokes.extra is not None:
                from simulators.variants.response import variant_window

                wd, feats = variant_window(
                    strokes,
                    i,
                    limb,
                    forearm_length_m,
                    hand_length_m,
                    sensor_s_m or {},
                    strap_half_width_m,
                )
                self._windows.append(wd)
                onset[i], release[i], press_peak[i], slide_peak[i] = feats
                continue
            t0 = float(strokes.t_start_s[i]) - 0.02
            t1 = float(strokes.t_end_s[i]) + tail_s
            t = t0 + np.arange(int(np.ceil((t1 - t0) * _FS_HZ)) + 1) / _FS_HZ
            force, s_m, v_mps = stroke_profiles(strokes, i, t)
            direction = float(strokes.direction[i])
            kappa = float(strokes.contact_angle_rad[i])
            slide_in = limb.drag_m_per_n * limb.friction_mu * force * direction
            slide = signal.lfilter(self._bx, self._ax, slide_in)
            slide_acc = signal.lfilter(self._ba, self._aa, slide_in)
            press = signal.lfilter(self._bx, self._ax, limb.pitch_rad_per_nm * force * s_m)
            on_hand = np.maximum(0.0, s_m - forearm_length_m) * max(0.0, np.cos(kappa))
            wrist = None
            if np.any(on_hand > 0):
                wrist_x = signal.lfilter(self._bx, self._ax, limb.wrist_rad_per_nm * force * on_hand)
                wrist = CubicSpline(t[knots], wrist_x[knots])
            f_peak = max(float(force.max()), 1e-9)
            v_peak = max(float(np.abs(v_mps).max()), 1e-9)
            shape = np.clip(force / f_peak, 0.0, None) * np.abs(v_mps) / v_peak
            env = strokes.vibration_rms_mps2[i] * np.sqrt(shape)
            self._windows.append(
                _Window(
                    t0_s=t0,
                    t1_s=float(t[-1]),
                    slide_acc_mps2=slide_acc,
                    envelope=env,
                    centre_hz=float(strokes.vibration_centre_hz[i]),
                    press=CubicSpline(t[knots], press[knots]),
                    wrist=wrist,
                    press_axis=np.array([0.0, np.cos(kappa), -np.sin(kappa)]),
                )
            )
            ts, te = float(strokes.t_start_s[i]), float(strokes.t_end_s[i])
            ramp_on, ramp_off = float(strokes.ramp_on_s[i]), float(strokes.ramp_off_s[i])
            on_mask = (t >= ts) & (t <= ts + ramp_on + 0.25)
            off_mask = (t >= te - ramp_off) & (t <= te + 0.25)
            onset[i] = float(np.abs(slide_acc[on_mask]).max()) if on_mask.any() else 0.0
            release[i] = float(np.abs(slide_acc[off_mask]).max()) if off_mask.any() else 0.0
            press_peak[i] = float(np.rad2deg(np.abs(press).max()))
            slide_peak[i] = float(np.abs(slide).max() * 1e3)
        self._starts = np.array([wd.t0_s for wd in self._windows])
        self._ends = np.array([wd.t1_s for wd in self._windows])
        self._max_len = float((self._ends - self._starts).max()) if self._windows else 0.0
        self.features = StrokeTruthFeatures(onset, release, press_peak, slide_peak)

    def _overlapping(self, t_lo: float, t_hi: float) -> range:
        if not self._windows:
            return range(0)
        first = int(np.searchsorted(self._starts, t_lo - self._max_len, side="left"))
        last = int(np.searchsorted(self._starts, t_hi, side="right"))
        return range(first, last)

    def _vibration(self, i: int) -> FloatArray:
        wd = self._windows[i]
        if wd.vibration is None:
            # One generator per stroke: the same noise whatever order the windows are first used in.
            noise = _band_noise(rng_for(self._seed, "vibration", str(i)), len(wd.envelope), wd.centre_hz)
            wd.vibration = noise * wd.envelope[:, None]
        return wd.vibration

    def evaluate(
        self, t_s: FloatArray, accelerations: bool = True, role: str | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """At sorted times: slide acceleration along forearm x (m/s²), press rotation vector in the
        forearm frame (rad, (n, 3)), extra palmar wrist flexion (rad), vibration (m/s², (n, 3), unit
        mix). With ``accelerations=False`` slide and vibration stay zero (orientation only)."""
        n = len(t_s)
        slide_acc = np.zeros(n)
        press = np.zeros((n, 3))
        wrist = np.zeros(n)
        vib = np.zeros((n, 3))
        if n == 0:
            return slide_acc, press, wrist, vib
        for i in self._overlapping(float(t_s[0]), float(t_s[-1])):
            wd = self._windows[i]
            a = int(np.searchsorted(t_s, wd.t0_s, side="left"))
            b = int(np.searchsorted(t_s, wd.t1_s, side="right"))
            if b <= a:
                continue
            tt = t_s[a:b]
            press[a:b] += wd.press(tt)[:, None] * wd.press_axis[None, :]
            if wd.wrist is not None:
                wrist[a:b] += wd.wrist(tt)
            if not accelerations:
                continue
            grid = wd.t0_s + np.arange(len(wd.slide_acc_mps2)) / _FS_HZ
            slide_acc[a:b] += np.interp(tt, grid, wd.slide_acc_mps2)
            vibration = self._vibration(i)
            if role is not None and role in wd.role_gain:
                gain = np.interp(tt, grid, wd.role_gain[role])
                for k in range(3):
                    vib[a:b, k] += np.interp(tt, grid, vibration[:, k]) * gain
                continue
            for k in range(3):
                vib[a:b, k] += np.interp(tt, grid, vibration[:, k])
        return slide_acc, press, wrist, vib

    def evaluate_extra(self, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Variant families only: the support's push acceleration (m/s², forearm frame, (n, 3)) and the
        treated device's rocking tilt about forearm y (rad, (n,))."""
        n = len(t_s)
        push = np.zeros((n, 3))
        rock = np.zeros(n)
        if n == 0:
            return push, rock
        for i in self._overlapping(float(t_s[0]), float(t_s[-1])):
            wd = self._windows[i]
            if wd.push_acc_mps2 is None and wd.rock is None:
                continue
            a = int(np.searchsorted(t_s, wd.t0_s, side="left"))
            b = int(np.searchsorted(t_s, wd.t1_s, side="right"))
            if b <= a:
                continue
            tt = t_s[a:b]
            if wd.push_acc_mps2 is not None and wd.push_axis is not None:
                grid = wd.t0_s + np.arange(len(wd.push_acc_mps2)) / _FS_HZ
                push[a:b] += np.interp(tt, grid, wd.push_acc_mps2)[:, None] * wd.push_axis[None, :]
            if wd.rock is not None:
                rock[a:b] += wd.rock(tt)
        return push, rock


def stroke_profiles(
    strokes: StrokePlan, i: int, t_s: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Normal force (N), position along the limb (m) and glide velocity (m/s) of stroke ``i`` at ``t_s``."""
    ts, te = float(strokes.t_start_s[i]), float(strokes.t_end_s[i])
    ex = strokes.extra
    if ex is not None and np.isfinite(ex.regrip_u[i]):
        from simulators.variants.response import regrip_profiles

        return regrip_profiles(strokes, i, t_s)
    dur = te - ts
    ramp_on, ramp_off = float(strokes.ramp_on_s[i]), float(strokes.ramp_off_s[i])
    on = min_jerk((t_s - ts) / ramp_on)
    off = 1.0 - min_jerk((t_s - (te - ramp_off)) / ramp_off)
    wobble = 1.0 + 0.06 * np.sin(2.0 * np.pi * (t_s - ts) / dur)
    force = float(strokes.force_n[i]) * on * off * wobble
    force = np.where((t_s >= ts) & (t_s <= te), force, 0.0)
    u = (t_s - ts) / dur
    s0, s1 = float(strokes.s_start_m[i]), float(strokes.s_end_m[i])
    s_m = s0 + (s1 - s0) * min_jerk(u)
    v = (s1 - s0) / dur * min_jerk_rate(u)
    return force, s_m, v


def _band_noise(rng: np.random.Generator, n: int, centre_hz: float) -> FloatArray:
    """Three independent unit-RMS Gaussian noises band-limited to centre ± 4 Hz at 1 kHz."""
    centre = round(2.0 * centre_hz) / 2.0  # 0.5 Hz steps: few filter designs, all cached
    sos = _band_sos(centre)
    pad = 400
    white = rng.normal(0.0, 1.0, (n + pad, 3))
    band = signal.sosfilt(sos, white, axis=0)[pad:]
    return np.asarray(band / _noise_gain(centre), dtype=np.float64)


@functools.lru_cache(maxsize=512)
def _noise_gain(centre_hz: float) -> float:
    """RMS gain of the band filter for unit white noise (its theoretical value, not a realisation's)."""
    _, h = signal.sosfreqz(_band_sos(centre_hz), worN=4096, fs=_FS_HZ)
    return float(np.sqrt(np.mean(np.abs(h) ** 2)))


@functools.lru_cache(maxsize=512)
def _band_sos(centre_hz: float) -> FloatArray:
    return np.asarray(
        signal.butter(
            4, [max(1.0, centre_hz - 4.0), centre_hz + 4.0], btype="bandpass", fs=_FS_HZ, output="sos"
        )
    )
