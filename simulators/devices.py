"""Sensor error model per device class: what a real IMU does to the true specific force and rate.

Per device (drawn once per session, :func:`draw_device`):

- mounting: a rotation of the device away from the segment axes (angle from the scenario, random axis);
- the chip's digital low-pass before decimation to the output rate (aliasing is real when the filter
  is weak: the 'cheap' class uses the MPU-6050 DLPF setting of 44 Hz whatever the rate);
- scale-factor errors and axis misalignment (cross-axis sensitivity) as a 3×3 matrix per sensor;
- bias: an initial offset, a warm-up transient (the device warms on the skin, τ 2–6 min) and a slow
  random walk; gyro sensitivity to linear acceleration (g-sensitivity);
- white noise from the noise density and the filter's noise bandwidth;
- saturation at the full-scale range, and quantisation to 16-bit steps.

Datasheet figures (typical values) and what is assumed are listed in docs/simulator.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import signal
from scipy.spatial.transform import Rotation

from coach.samples import FloatArray
from coach.units import GRAVITY_MPS2
from simulators.scenario import SensorSpec, draw
from simulators.variants.sensors import SensorVariant, quantise

_DEG = np.pi / 180.0
_MG = 1e-3 * GRAVITY_MPS2


@dataclass(frozen=True)
class DeviceClass:
    """Error figures of one class of device (SI units; σ = one standard deviation across devices)."""

    name: str
    device: str  # default meta device name
    acc_noise_density: float  # m/s²/√Hz
    gyr_noise_density: float  # rad/s/√Hz
    acc_bias_sigma: tuple[float, float, float]  # m/s², per axis
    gyr_bias_sigma: float  # rad/s
    acc_tempco: float  # m/s² per K (warm-up shift σ per kelvin)
    gyr_tempco: float  # rad/s per K
    gyr_bias_walk: float  # rad/s per √s
    acc_bias_walk: float  # m/s² per √s
    scale_sigma: float  # relative
    cross_axis_sigma: float  # relative
    g_sensitivity: float  # rad/s per (m/s²)
    acc_range_g: float
    gyro_range_dps: float
    lpf_order: int
    lpf_fraction: float | None  # cutoff as a share of the output rate, or
    lpf_fixed_hz: float | None  # a fixed cutoff (DLPF setting)
    jitter_s: float
    clock_offset_s: float
    clock_drift_ppm: float
    rate_error_ppm: float


#: BMI270-class (MbientLab MetaMotion S): BMI270 datasheet BST-BMI270-DS000 typical values where known.
GOOD = DeviceClass(
    name="good",
    device="metamotion-s",
    acc_noise_density=160e-6 * GRAVITY_MPS2,  # 160 µg/√Hz (BMI270 DS)
    gyr_noise_density=0.007 * _DEG,  # 0.007 °/s/√Hz performance mode (BMI270 DS)
    acc_bias_sigma=(10 * _MG, 10 * _MG, 10 * _MG),  # assumed: ±20 mg offset read as 2σ
    gyr_bias_sigma=0.5 * _DEG,  # ±0.5 °/s zero-rate offset, 1σ (BMI270 DS; Bosch: typical = 1σ)
    acc_tempco=0.2 * _MG,  # assumed 0.2 mg/K
    gyr_tempco=0.015 * _DEG,  # 0.015 °/s/K (Bosch BMG160-class, CISS manual)
    gyr_bias_walk=0.04 * _DEG / 60.0,  # assumed 0.04 °/s/√h
    acc_bias_walk=0.5 * _MG / 60.0,  # assumed 0.5 mg/√h
    scale_sigma=0.005,  # assumed 0.5 %
    cross_axis_sigma=0.005,  # assumed 0.5 %
    g_sensitivity=0.02 * _DEG / GRAVITY_MPS2,  # assumed 0.02 °/s/g
    acc_range_g=8.0,  # MetaMotion default ±8 g
    gyro_range_dps=2000.0,
    lpf_order=4,
    lpf_fraction=0.4,
    lpf_fixed_hz=None,
    jitter_s=0.0005,
    clock_offset_s=0.005,
    clock_drift_ppm=10.0,
    rate_error_ppm=2000.0,
)

#: MPU-6050-class (WitMotion BWT901-like): MPU-6000/6050 Product Specification rev 3.4 typical values.
CHEAP = DeviceClass(
    name="cheap",
    device="witmotion-bwt901",
    acc_noise_density=400e-6 * GRAVITY_MPS2,  # 400 µg/√Hz (PS 6.2)
    gyr_noise_density=0.005 * _DEG,  # 0.005 °/s/√Hz (PS 6.1)
    acc_bias_sigma=(25 * _MG, 25 * _MG, 40 * _MG),  # ±50 mg x/y, ±80 mg z initial tolerance, read as 2σ
    gyr_bias_sigma=3.0 * _DEG,  # ±20 °/s initial ZRO tolerance is a limit; 3 °/s σ assumed
    acc_tempco=0.5 * _MG,  # ±35 mg over 0–70 °C (PS 6.2)
    gyr_tempco=0.05 * _DEG,  # assumed 0.05 °/s/K (PS: ±20 °/s over −40…85 °C at worst)
    gyr_bias_walk=0.2 * _DEG / 60.0,  # assumed 0.2 °/s/√h
    acc_bias_walk=2.0 * _MG / 60.0,  # assumed 2 mg/√h
    scale_sigma=0.015,  # ±3 % sensitivity tolerance (PS), read as 2σ
    cross_axis_sigma=0.01,  # ±2 % cross-axis sensitivity (PS), read as 2σ
    g_sensitivity=0.1 * _DEG / GRAVITY_MPS2,  # 0.1 °/s/g linear acceleration sensitivity (PS 6.1)
    acc_range_g=16.0,  # WitMotion default ±16 g
    gyro_range_dps=2000.0,
    lpf_order=2,
    lpf_fraction=None,
    lpf_fixed_hz=44.0,  # MPU-6050 DLPF_CFG = 3: 44 Hz accelerometer bandwidth
    jitter_s=0.004,
    clock_offset_s=0.02,
    clock_drift_ppm=50.0,
    rate_error_ppm=5000.0,
)

DEVICE_CLASSES: dict[str, DeviceClass] = {"good": GOOD, "cheap": CHEAP}

#: Fine-grid oversampling of the output rate before the chip's low-pass and decimation.
OVERSAMPLE = 4


@dataclass(frozen=True)
class DeviceErrors:
    """One device's drawn errors (what ground truth records about a sensor)."""

    device_class: DeviceClass
    device: str
    mount: Rotation  # R_segment_from_sensor
    acc_matrix: FloatArray  # (3, 3) scale and cross-axis
    gyr_matrix: FloatArray
    acc_bias0: FloatArray  # (3,)
    gyr_bias0: FloatArray
    acc_warmup: FloatArray  # (3,) shift reached after warm-up
    gyr_warmup: FloatArray
    warmup_tau_s: float
    g_sens: FloatArray  # (3, 3) rad/s per m/s²
    acc_noise_sigma: float  # m/s² per sample
    gyr_noise_sigma: float  # rad/s per sample
    acc_range_mps2: float
    gyr_range_rps: float
    lpf_hz: float
    noise_scale: float
    #: ``sensors`` variant family only: temperature drift and coarse quantisation (None: today's model).
    variant: SensorVariant | None = None

    @property
    def misalignment_deg(self) -> float:
        return float(np.rad2deg(self.mount.magnitude()))

    @property
    def x_axis_angle_deg(self) -> float:
        """Angle between the device x-axis and the segment's distal axis."""
        x = self.mount.apply([1.0, 0.0, 0.0])
        return float(np.rad2deg(np.arccos(np.clip(x[0], -1.0, 1.0))))


def draw_device(spec: SensorSpec, rng: np.random.Generator) -> DeviceErrors:
    """Draw one device's mounting and errors for a sensor spec."""
    cls = DEVICE_CLASSES[spec.device_class]
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    mount = Rotation.from_rotvec(axis * np.deg2rad(draw(spec.misalignment_deg, rng)))

    def matrix() -> FloatArray:
        m = np.eye(3) + np.diag(rng.normal(0.0, cls.scale_sigma, 3))
        off = rng.normal(0.0, cls.cross_axis_sigma, (3, 3))
        np.fill_diagonal(off, 0.0)
        return np.asarray(m + off)

    delta_t_k = float(rng.uniform(4.0, 12.0))  # skin warms the device by this much
    rate = spec.rate_hz
    cutoff = cls.lpf_fixed_hz if cls.lpf_fixed_hz is not None else (cls.lpf_fraction or 0.4) * rate
    cutoff = min(cutoff, 0.9 * OVERSAMPLE * rate / 2.0)
    # Equivalent noise bandwidth of an n-th order Butterworth: fc · (π / 2n) / sin(π / 2n).
    x = np.pi / (2.0 * cls.lpf_order)
    enbw = cutoff * x / np.sin(x)
    acc_range = (spec.acc_range_g or cls.acc_range_g) * GRAVITY_MPS2
    gyr_range = np.deg2rad(spec.gyro_range_dps or cls.gyro_range_dps)
    return DeviceErrors(
        device_class=cls,
        device=spec.device or cls.device,
        mount=mount,
        acc_matrix=matrix(),
        gyr_matrix=matrix(),
        acc_bias0=rng.normal(0.0, 1.0, 3) * np.asarray(cls.acc_bias_sigma),
        gyr_bias0=rng.normal(0.0, cls.gyr_bias_sigma, 3),
        acc_warmup=rng.normal(0.0, cls.acc_tempco * delta_t_k, 3),
        gyr_warmup=rng.normal(0.0, cls.gyr_tempco * delta_t_k, 3),
        warmup_tau_s=float(rng.uniform(120.0, 360.0)),
        g_sens=rng.normal(0.0, cls.g_sensitivity / np.sqrt(3.0), (3, 3)),
        acc_noise_sigma=cls.acc_noise_density * np.sqrt(enbw) * spec.noise_scale,
        gyr_noise_sigma=cls.gyr_noise_density * np.sqrt(enbw) * spec.noise_scale,
        acc_range_mps2=float(acc_range),
        gyr_range_rps=float(gyr_range),
        lpf_hz=float(cutoff),
        noise_scale=spec.noise_scale,
    )


class DeviceFilter:
    """The chip's causal digital low-pass on the fine grid, with state carried across chunks."""

    def __init__(self, errors: DeviceErrors, fine_rate_hz: float) -> None:
        cls = errors.device_class
        self._sos = signal.butter(cls.lpf_order, errors.lpf_hz, fs=fine_rate_hz, output="sos")
        self._zi: FloatArray | None = None

    def __call__(self, x: FloatArray) -> FloatArray:
        """Filter ``x`` of shape (n, channels) along time."""
        if self._zi is None:
            zi0 = signal.sosfilt_zi(self._sos)  # (sections, 2): steady state for a unit step
            self._zi = zi0[:, :, None] * x[0][None, None, :]
        y, self._zi = signal.sosfilt(self._sos, x, axis=0, zi=self._zi)
        return np.asarray(y)


class DeviceNoise:
    """Scale, bias (with warm-up and random walk), g-sensitivity, noise, saturation and quantisation,
    applied at the output rate; random-walk state carries across chunks."""

    def __init__(self, errors: DeviceErrors, rng: np.random.Generator, enabled: bool = True) -> None:
        self.e = errors
        self.rng = rng
        self.enabled = enabled
        self._walk_acc = np.zeros(3)
        self._walk_gyr = np.zeros(3)
        self._last_t: float | None = None

    def __call__(self, t_s: FloatArray, acc: FloatArray, gyr: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Measured (acc, gyr) at true times ``t_s`` from true sensor-frame specific force and rate."""
        if not self.enabled or len(t_s) == 0:
            return acc, gyr
        e = self.e
        cls = e.device_class
        n = len(t_s)
        t_prev = self._last_t if self._last_t is not None else float(t_s[0])
        dt = np.diff(np.concatenate([[t_prev], t_s]))
        self._last_t = float(t_s[-1])
        steps_a = self.rng.normal(0.0, 1.0, (n, 3)) * (cls.acc_bias_walk * np.sqrt(dt))[:, None]
        steps_g = self.rng.normal(0.0, 1.0, (n, 3)) * (cls.gyr_bias_walk * np.sqrt(dt))[:, None]
        walk_a = self._walk_acc + np.cumsum(steps_a, axis=0)
        walk_g = self._walk_gyr + np.cumsum(steps_g, axis=0)
        self._walk_acc, self._walk_gyr = walk_a[-1], walk_g[-1]
        warm = (1.0 - np.exp(-np.asarray(t_s) / e.warmup_tau_s))[:, None]
        acc_b = e.acc_bias0 + warm * e.acc_warmup + walk_a
        gyr_b = e.gyr_bias0 + warm * e.gyr_warmup + walk_g
        acc_m = acc @ e.acc_matrix.T + acc_b + self.rng.normal(0.0, e.acc_noise_sigma, (n, 3))
        gyr_m = (
            gyr @ e.gyr_matrix.T + gyr_b + acc @ e.g_sens.T + self.rng.normal(0.0, e.gyr_noise_sigma, (n, 3))
        )
        if e.variant is not None:
            v = e.variant
            temp = v.temperature_k(t_s)[:, None]
            acc_m = acc_m + temp * v.acc_tempco_mps2_per_k
            gyr_m = gyr_m + temp * v.gyr_tempco_rps_per_k
            acc_m = quantise(np.clip(acc_m, -e.acc_range_mps2, e.acc_range_mps2), e.acc_range_mps2, v.bits)
            gyr_m = quantise(np.clip(gyr_m, -e.gyr_range_rps, e.gyr_range_rps), e.gyr_range_rps, v.bits)
            return acc_m, gyr_m
        acc_m = _quantise(np.clip(acc_m, -e.acc_range_mps2, e.acc_range_mps2), e.acc_range_mps2)
        gyr_m = _quantise(np.clip(gyr_m, -e.gyr_range_rps, e.gyr_range_rps), e.gyr_range_rps)
        return acc_m, gyr_m


def with_variant(errors: DeviceErrors, v: SensorVariant) -> DeviceErrors:
    """A device's errors with a ``sensors``-family draw: large gyro offsets, the MPU-6050's default
    ranges, temperature drift and coarse quantisation."""
    return dataclasses.replace(
        errors,
        gyr_bias0=np.asarray(v.gyr_offset_rps, dtype=np.float64),
        acc_range_mps2=float(v.acc_range_g * GRAVITY_MPS2),
        gyr_range_rps=float(np.deg2rad(v.gyro_range_dps)),
        variant=v,
    )


def _quantise(x: FloatArray, full_scale: float) -> FloatArray:
    """Round to the steps of a signed 16-bit converter spanning ± full scale."""
    lsb = full_scale / 32768.0
    return np.asarray(np.round(x / lsb) * lsb)
