"""One concrete session drawn from a :class:`~simulators.scenario.Scenario` and a seed.

:func:`plan_session` fixes everything that happens: the body and limb parameters, the calibration
phases (prompted and as performed), every stroke (times, direction, path, force), fidgets and
posture episodes. The body model (:mod:`simulators.body`) then turns the plan into motion.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from coach.samples import FloatArray
from simulators.processes import rng_for
from simulators.scenario import Episode, Scenario, draw, span_bounds
from simulators.variants.strokes import StrokeExtras

if TYPE_CHECKING:
    from simulators.variants.apply import VariantPlan

#: Glides stay this far from the elbow end of the forearm (m).
_S_MIN_M = 0.05


@dataclass(frozen=True)
class BodyParams:
    """Session draws of the arm's geometry and habits (SI units, radians)."""

    arm: str
    duration_s: float
    forearm_length_m: float
    elbow_to_heart_m: float
    hand_length_m: float
    forearm_radius_m: float
    treated_sensor_m: float
    hand_sensor_m: float
    heading_rad: float
    height_m: float
    fatigue_m: float
    roll0_rad: float
    flexion0_rad: float
    deviation0_rad: float
    tremor_mps2: float
    tremor_hz: float
    breathing_hz: float
    breathing_rad: float
    breathing_phase: float


@dataclass(frozen=True)
class LimbParams:
    """Session draws of the limb's answer to a stroke."""

    natural_hz: float
    damping_ratio: float
    drag_m_per_n: float
    pitch_rad_per_nm: float
    wrist_rad_per_nm: float
    friction_mu: float
    vibration_band_hz: tuple[float, float]


@dataclass(frozen=True)
class CalibrationPlan:
    """Prompted phases (written to meta) and the rotation as the person performed it."""

    enabled: bool
    in_meta: bool
    lead_in_s: float
    still: tuple[float, float]
    rotate: tuple[float, float]
    rotate_performed: tuple[float, float]
    rotate_rad: float
    turns: int
    settle_elevation_rad: float
    settle_roll_rad: float
    #: The still pose held again when the coach asked for it (:class:`RecalibrationPlan`).
    recalibrations: tuple[RecalibrationPlan, ...] = ()

    @property
    def end_s(self) -> float:
        """End of calibration: start of the active session."""
        return self.rotate[1] if self.enabled else 0.0


@dataclass(frozen=True)
class RecalibrationPlan:
    """The person obeying a request for the still pose (``calibration.recalibration_requests_s``): no
    stroke starts after ``request_s`` until the hold is over; from ``move_s`` the arm goes over
    ``ramp_s`` into the session's still pose (its usual height, palm down, wrist in its still pose),
    holds it until ``end_s - ramp_s`` and goes back to the massage pose by ``end_s``."""

    request_s: float
    move_s: float
    ramp_s: float
    end_s: float

    def weight(self, t_s: FloatArray) -> FloatArray:
        """0 outside the hold, 1 while it is held, min-jerk ramps between."""
        from simulators.frames import min_jerk

        up = min_jerk((t_s - self.move_s) / self.ramp_s)
        down = 1.0 - min_jerk((t_s - (self.end_s - self.ramp_s)) / self.ramp_s)
        return np.asarray(up * down)


@dataclass(frozen=True)
class StrokePlan:
    """All strokes, as arrays (one entry per stroke, in time order).

    ``direction`` is +1 for a distal glide (toward +x of the forearm) and −1 for a proximal one.
    ``s_start_m``/``s_end_m`` are positions along the limb axis from the elbow pivot.
    """

    t_start_s: FloatArray
    t_end_s: FloatArray
    direction: FloatArray
    s_start_m: FloatArray
    s_end_m: FloatArray
    force_n: FloatArray
    ramp_on_s: FloatArray
    ramp_off_s: FloatArray
    contact_angle_rad: FloatArray
    hand_yaw_rad: FloatArray
    hand_tilt_rad: FloatArray
    return_s: FloatArray
    vibration_rms_mps2: FloatArray
    vibration_centre_hz: FloatArray
    bout: FloatArray
    lift_m: float
    hand_yaw0_rad: float
    #: Variant families only: per-contact physics (None: today's physics for every stroke).
    extra: StrokeExtras | None = None

    def __len__(self) -> int:
        return int(self.t_start_s.shape[0])

    @property
    def length_m(self) -> FloatArray:
        return np.abs(self.s_end_m - self.s_start_m)

    @property
    def contact_s(self) -> FloatArray:
        return self.t_end_s - self.t_start_s


@dataclass(frozen=True)
class FidgetPlan:
    """Fidgets: out-and-back movements of the treated arm with no contact."""

    t_start_s: FloatArray
    duration_s: FloatArray
    translation_m: FloatArray  # (n, 3) in the heading frame: x along the forearm's horizontal direction, z up
    elevation_rad: FloatArray
    heading_rad: FloatArray
    kind: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.t_start_s.shape[0])


@dataclass(frozen=True)
class EpisodePlan:
    """One posture episode: weight ramps in over ``ramp_in_s``, holds, ramps out over ``ramp_out_s``."""

    kind: str
    t_start_s: float
    t_end_s: float
    ramp_in_s: float
    ramp_out_s: float
    height_m: float | None = None
    flexion_rad: float | None = None
    deviation_rad: float | None = None
    roll_rad: float | None = None
    explicit: bool = False


@dataclass(frozen=True)
class SessionPlan:
    scenario: Scenario
    seed: int
    body: BodyParams
    limb: LimbParams
    calibration: CalibrationPlan
    strokes: StrokePlan
    fidgets: FidgetPlan
    episodes: tuple[EpisodePlan, ...]
    drift: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (sigma, tau_s)
    variant: VariantPlan | None = None  # physics variant families (None: baseline)

    @property
    def active(self) -> tuple[float, float]:
        """The active session after calibration: ``[end of calibration, duration]``."""
        return self.calibration.end_s, self.body.duration_s


def plan_session(scenario: Scenario, seed: int) -> SessionPlan:
    """Draw one concrete session (deterministic in ``seed``)."""
    body = _draw_body(scenario, seed)
    limb = _draw_limb(scenario, body, seed)
    cal = _draw_calibration(scenario, body, seed)
    variant = None
    if scenario.variants:
        from simulators.variants.apply import plan_variant_strokes

        strokes, variant = plan_variant_strokes(scenario, body, limb, cal, seed, _draw_strokes)
    else:
        strokes = _draw_strokes(scenario, body, limb, cal, seed)
    fidgets = _draw_fidgets(scenario, body, cal, strokes, seed)
    episodes = _draw_episodes(scenario, body, cal, seed)
    if variant is not None:
        from simulators.variants.apply import finish_variant

        episodes = finish_variant(variant, scenario, body, cal, strokes, fidgets, episodes, seed)
    if scenario.calibration.recalibration_requests_s:
        cal, strokes, fidgets = _obey_recalibrations(scenario, body, cal, strokes, fidgets, seed)
    rng = rng_for(seed, "drift-params")
    post = scenario.posture
    drift = {
        "height": (draw(post.height_drift_m, rng), float(rng.uniform(30.0, 90.0))),
        "heading": (np.deg2rad(draw(post.heading_drift_deg, rng)), float(rng.uniform(30.0, 90.0))),
        "roll": (np.deg2rad(draw(post.roll_drift_deg, rng)), float(rng.uniform(20.0, 60.0))),
        "flexion": (np.deg2rad(draw(post.wrist_drift_deg, rng)), float(rng.uniform(20.0, 60.0))),
    }
    drift["deviation"] = (drift["flexion"][0] / 2.0, float(rng.uniform(20.0, 60.0)))
    return SessionPlan(scenario, seed, body, limb, cal, strokes, fidgets, episodes, drift, variant)


def stroke_plan_from_columns(cols: dict[str, Any], lift_m: float, yaw0_rad: float, extra: Any) -> StrokePlan:
    """A :class:`StrokePlan` from column arrays (the variant families build their plans this way)."""
    return StrokePlan(**cols, lift_m=lift_m, hand_yaw0_rad=yaw0_rad, extra=extra)


def _draw_body(sc: Scenario, seed: int) -> BodyParams:
    rng = rng_for(seed, "body")
    b, p = sc.body, sc.posture
    length = draw(b.forearm_length_m, rng)
    return BodyParams(
        arm=sc.arm,
        duration_s=sc.duration_s,
        forearm_length_m=length,
        elbow_to_heart_m=draw(b.elbow_to_heart_m, rng),
        hand_length_m=draw(b.hand_length_m, rng),
        forearm_radius_m=draw(b.forearm_radius_m, rng),
        treated_sensor_m=min(draw(b.treated_sensor_m, rng), 0.5 * length),
        hand_sensor_m=draw(b.hand_sensor_m, rng),
        heading_rad=float(np.deg2rad(draw(p.heading_deg, rng))),
        height_m=draw(p.height_m, rng),
        fatigue_m=draw(p.fatigue_m, rng),
        roll0_rad=float(np.deg2rad(rng.normal(0.0, 4.0))),
        flexion0_rad=float(np.deg2rad(rng.normal(0.0, 4.0))),
        deviation0_rad=float(np.deg2rad(rng.normal(0.0, 3.0))),
        tremor_mps2=draw(p.tremor_mps2, rng),
        tremor_hz=draw(p.tremor_hz, rng),
        breathing_hz=draw(p.breathing_hz, rng),
        breathing_rad=float(np.deg2rad(draw(p.breathing_deg, rng))),
        breathing_phase=float(rng.uniform(0.0, 2.0 * np.pi)),
    )


def _draw_limb(sc: Scenario, body: BodyParams, seed: int) -> LimbParams:
    rng = rng_for(seed, "limb")
    lm = sc.limb
    pitch_deg = draw(lm.pitch_deg_per_12n, rng)
    wrist_deg = draw(lm.wrist_deg_per_10n, rng)
    return LimbParams(
        natural_hz=draw(lm.natural_hz, rng),
        damping_ratio=draw(lm.damping_ratio, rng),
        drag_m_per_n=draw(lm.drag_mm_per_n, rng) * 1e-3,
        # pitch_deg_per_12n is quoted for 12 N at the wrist, i.e. a lever of one forearm length.
        pitch_rad_per_nm=float(np.deg2rad(pitch_deg) / (12.0 * body.forearm_length_m)),
        wrist_rad_per_nm=float(np.deg2rad(wrist_deg) / (10.0 * 0.05)),
        friction_mu=draw(sc.strokes.friction_mu, rng),
        vibration_band_hz=span_bounds(lm.vibration_hz),
    )


def _draw_calibration(sc: Scenario, body: BodyParams, seed: int) -> CalibrationPlan:
    rng = rng_for(seed, "calibration")
    c = sc.calibration
    lead = draw(c.lead_in_s, rng)
    still = draw(c.still_s, rng)
    rotate = draw(c.rotate_s, rng)
    reaction = min(draw(c.reaction_s, rng), 0.3 * rotate)
    performed = (rotate - reaction) * float(rng.uniform(0.85, 0.98))
    a = lead
    b = a + still
    e = b + rotate
    if e > body.duration_s - 5.0 and c.enabled:
        raise ValueError(f"duration_s {body.duration_s:g} is too short for a {e:.1f} s calibration")
    return CalibrationPlan(
        enabled=c.enabled,
        in_meta=c.in_meta,
        lead_in_s=lead,
        still=(a, b),
        rotate=(b, e),
        rotate_performed=(b + reaction, b + reaction + performed),
        rotate_rad=float(np.deg2rad(draw(c.rotate_deg, rng))),
        turns=c.rotate_turns,
        settle_elevation_rad=float(np.deg2rad(rng.uniform(-20.0, -5.0))),
        settle_roll_rad=float(np.deg2rad(rng.uniform(-20.0, 20.0))),
    )


def _obey_recalibrations(
    sc: Scenario, body: BodyParams, cal: CalibrationPlan, strokes: StrokePlan, fidgets: FidgetPlan, seed: int
) -> tuple[CalibrationPlan, StrokePlan, FidgetPlan]:
    """The holds of the still pose the coach asked for, and the strokes and fidgets they stop. Drawn
    from generators of their own, after everything else, so the session before a request is the one
    without it (every other draw is unchanged)."""
    c = sc.calibration
    holds = []
    for i, t_req in enumerate(c.recalibration_requests_s):
        rng = rng_for(seed, "recalibration", str(i))
        move = t_req + draw(c.recalibration_reaction_s, rng)
        ramp = float(rng.uniform(1.0, 1.5))
        end = min(move + 2.0 * ramp + draw(c.recalibration_hold_s, rng), body.duration_s)
        holds.append(RecalibrationPlan(t_req, move, ramp, end))
    stopped = np.zeros(len(strokes), dtype=bool)
    quiet = np.zeros(len(fidgets), dtype=bool)
    for h in holds:
        # A stroke under way when the request comes is finished; none starts until the hold is over.
        stopped |= (strokes.t_start_s >= h.request_s) & (strokes.t_start_s < h.end_s + 0.5)
        quiet |= (fidgets.t_start_s >= h.request_s) & (fidgets.t_start_s < h.end_s + 0.5)
    if stopped.any():
        keep = np.flatnonzero(~stopped)
        cols = {
            f.name: getattr(strokes, f.name)[keep]
            for f in dataclasses.fields(strokes)
            if isinstance(getattr(strokes, f.name), np.ndarray)
        }
        extra = strokes.extra.take(keep.tolist()) if strokes.extra is not None else None
        strokes = dataclasses.replace(strokes, **cols, extra=extra)
    if quiet.any():
        keep = np.flatnonzero(~quiet)
        fidgets = FidgetPlan(
            fidgets.t_start_s[keep],
            fidgets.duration_s[keep],
            fidgets.translation_m[keep],
            fidgets.elevation_rad[keep],
            fidgets.heading_rad[keep],
            tuple(fidgets.kind[i] for i in keep),
        )
    return dataclasses.replace(cal, recalibrations=tuple(holds)), strokes, fidgets


def _lognormal(rng: np.random.Generator, centre: float, cv: float) -> float:
    return float(centre * np.exp(rng.normal(0.0, cv) - 0.5 * cv * cv)) if cv > 0 else centre


def _draw_strokes(
    sc: Scenario, body: BodyParams, limb: LimbParams, cal: CalibrationPlan, seed: int
) -> StrokePlan:
    rng = rng_for(seed, "strokes")
    st = sc.strokes
    cadence = draw(st.cadence_spm, rng)
    duty = draw(st.duty, rng)
    speed0 = draw(st.speed_mps, rng)
    force0 = draw(st.force_n, rng)
    lift = draw(st.lift_m, rng)
    yaw0 = float(np.deg2rad(draw(st.hand_yaw_deg, rng)))
    vib_coef = draw(sc.limb.vibration_mps2, rng)
    c_lo, c_hi = span_bounds(st.contact_s)
    r_lo, _ = span_bounds(st.return_s)
    len_lo, len_hi = span_bounds(st.length_m)
    v_lo, v_hi = span_bounds(st.speed_mps)
    f_lo, f_hi = span_bounds(st.force_n)
    vib_lo, vib_hi = span_bounds(sc.limb.vibration_limits_mps2)
    band_lo, band_hi = limb.vibration_band_hz
    s_max = body.forearm_length_m + body.hand_length_m - 0.02

    rows: list[tuple[float, ...]] = []
    t = cal.end_s + draw(st.start_delay_s, rng)
    end = body.duration_s - 1.0
    bout = 0
    while st.enabled and t < end:
        n_bout = max(1, round(draw(st.bout_strokes, rng)))
        for _ in range(n_bout):
            period = max(c_lo + r_lo, _lognormal(rng, 60.0 / cadence, st.period_cv))
            contact = float(np.clip(duty * period, c_lo, max(c_lo, min(c_hi, period - r_lo))))
            ret = float(np.clip(draw(st.return_s, rng), r_lo, max(r_lo, period - contact)))
            if t + contact > end:
                t = end
                break
            speed = _lognormal(rng, speed0, st.speed_cv)
            lo = max(len_lo, v_lo * contact)
            hi = min(len_hi, v_hi * contact, s_max - _S_MIN_M)
            length = float(np.clip(speed * contact, lo, hi)) if lo <= hi else 0.5 * (lo + hi)
            direction = 1.0 if rng.random() < st.distal_fraction else -1.0
            # Distal end of the path: around the wrist, on the distal forearm or the hand.
            far = float(rng.uniform(body.forearm_length_m - 0.05, min(s_max, body.forearm_length_m + 0.15)))
            far = float(np.clip(far, _S_MIN_M + length, s_max))
            near = far - length
            s0, s1 = (near, far) if direction > 0 else (far, near)
            force = float(np.clip(_lognormal(rng, force0, st.force_cv), f_lo, f_hi))
            ramp_on = min(draw(st.ramp_s, rng), contact / 2.5)
            ramp_off = min(draw(st.ramp_s, rng), contact / 2.5)
            kappa = float(np.deg2rad(draw(st.contact_angle_deg, rng)))
            mean_speed = length / contact
            vib = float(
                np.clip(vib_coef * np.sqrt(force / 12.0) * np.sqrt(mean_speed / 0.15), vib_lo, vib_hi)
            )
            centre = float(rng.uniform(min(band_lo + 4.0, band_hi), max(band_hi - 4.0, band_lo)))
            rows.append(
                (
                    t,
                    t + contact,
                    direction,
                    s0,
                    s1,
                    force,
                    ramp_on,
                    ramp_off,
                    kappa,
                    yaw0 + float(np.deg2rad(rng.normal(0.0, 8.0))),
                    float(np.deg2rad(rng.normal(0.0, 6.0))),
                    ret,
                    vib,
                    centre,
                    float(bout),
                )
            )
            t += period
        bout += 1
        t += draw(st.pause_s, rng)
    c = np.array(rows, dtype=np.float64).reshape(-1, 15).T
    return StrokePlan(
        t_start_s=c[0],
        t_end_s=c[1],
        direction=c[2],
        s_start_m=c[3],
        s_end_m=c[4],
        force_n=c[5],
        ramp_on_s=c[6],
        ramp_off_s=c[7],
        contact_angle_rad=c[8],
        hand_yaw_rad=c[9],
        hand_tilt_rad=c[10],
        return_s=c[11],
        vibration_rms_mps2=c[12],
        vibration_centre_hz=c[13],
        bout=c[14],
        lift_m=lift,
        hand_yaw0_rad=yaw0,
    )


def _free_windows(busy: list[tuple[float, float]], span: tuple[float, float]) -> list[tuple[float, float]]:
    """Sub-intervals of ``span`` not covered by ``busy``."""
    out = []
    cur = span[0]
    for a, b in sorted(busy):
        if a > cur:
            out.append((cur, min(a, span[1])))
        cur = max(cur, b)
        if cur >= span[1]:
            break
    if cur < span[1]:
        out.append((cur, span[1]))
    return [(a, b) for a, b in out if b > a]


def _draw_fidgets(
    sc: Scenario, body: BodyParams, cal: CalibrationPlan, strokes: StrokePlan, seed: int
) -> FidgetPlan:
    rng = rng_for(seed, "fidgets")
    fs = sc.fidgets
    active = (cal.end_s + 1.0, body.duration_s - 1.0)
    rate = draw(fs.per_10min, rng)
    n = int(rng.poisson(rate * max(0.0, active[1] - active[0]) / 600.0))
    busy = [(float(a) - 0.4, float(b) + 0.4) for a, b in zip(strokes.t_start_s, strokes.t_end_s, strict=True)]
    rows = []
    kinds = []
    for _ in range(n):
        dur = draw(fs.duration_s, rng)
        windows = [(a, b - dur) for a, b in _free_windows(busy, active) if b - a > dur]
        total = sum(b - a for a, b in windows)
        if total <= 0:
            break
        x = rng.uniform(0.0, total)
        for a, b in windows:
            if x <= b - a:
                start = a + x
                break
            x -= b - a
        # Direction: along the forearm (the most stroke-like), lifted, or sideways, mixed.
        kind = str(rng.choice(["slide", "lift", "swing", "tilt"]))
        base = {
            "slide": [1.0, 0.2, 0.3],
            "lift": [0.3, 0.2, 1.0],
            "swing": [0.2, 1.0, 0.2],
            "tilt": [0.3, 0.3, 0.3],
        }[kind]
        vec = np.asarray(base) * rng.uniform(0.5, 1.0, 3) * rng.choice([-1.0, 1.0], 3)
        vec = vec / np.linalg.norm(vec) * draw(fs.translation_m, rng) * (0.3 if kind == "tilt" else 1.0)
        rot = np.deg2rad(draw(fs.rotation_deg, rng))
        d_el = rot * (1.0 if kind == "tilt" else 0.4) * float(rng.choice([-1.0, 1.0]))
        d_hd = rot * (0.3 if kind == "tilt" else 0.2) * float(rng.choice([-1.0, 1.0]))
        rows.append((start, dur, *vec, d_el, d_hd))
        kinds.append(kind)
        busy.append((start - 0.3, start + dur + 0.3))
    order = np.argsort([r[0] for r in rows], kind="stable")
    arr = np.array([rows[i] for i in order], dtype=np.float64).reshape(-1, 7)
    return FidgetPlan(arr[:, 0], arr[:, 1], arr[:, 2:5], arr[:, 5], arr[:, 6], tuple(kinds[i] for i in order))


def _place(
    rng: np.random.Generator, length: float, span: tuple[float, float], taken: list[tuple[float, float]]
) -> float | None:
    """A start time for an interval of ``length`` inside ``span`` overlapping nothing in ``taken``."""
    if span[1] - span[0] < length:
        return None
    for _ in range(60):
        start = float(rng.uniform(span[0], span[1] - length))
        if all(start + length + 1.0 <= a or start >= b + 1.0 for a, b in taken):
            return start
    return None


def _draw_episodes(
    sc: Scenario, body: BodyParams, cal: CalibrationPlan, seed: int
) -> tuple[EpisodePlan, ...]:
    rng = rng_for(seed, "episodes")
    p = sc.posture
    span = (cal.end_s + 2.0, body.duration_s - 1.0)
    active_s = max(0.0, span[1] - span[0])
    tracks: dict[str, list[tuple[float, float]]] = {"height": [], "wrist": [], "roll": []}
    track_of = {"lowered": "height", "sag": "height", "wrist": "wrist", "roll": "roll"}
    out: list[EpisodePlan] = []
    for ep in p.episodes:
        out.append(_explicit_episode(ep))
        tracks[track_of[ep.kind]].append((ep.t_start_s, ep.t_start_s + ep.duration_s))

    for _ in range(int(rng.poisson(draw(p.lowered_per_10min, rng) * active_s / 600.0))):
        sag = rng.random() < p.sag_share
        hold = draw(p.lowered_s, rng) * (0.5 if sag else 1.0)
        trans = draw(p.transition_s, rng)
        ramp_in = draw(p.sag_ramp_s, rng) if sag else trans
        total = ramp_in + hold + trans
        start = _place(rng, total, span, tracks["height"])
        if start is None:
            continue
        tracks["height"].append((start, start + total))
        out.append(
            EpisodePlan(
                "sag" if sag else "lowered",
                start,
                start + total,
                ramp_in,
                trans,
                height_m=draw(p.lowered_height_m, rng),
            )
        )
    for _ in range(int(rng.poisson(draw(p.wrist_per_10min, rng) * active_s / 600.0))):
        total = draw(p.wrist_s, rng)
        trans = min(draw(p.transition_s, rng), total / 3.0)
        start = _place(rng, total, span, tracks["wrist"])
        if start is None:
            continue
        tracks["wrist"].append((start, start + total))
        which = rng.random()
        flex = np.deg2rad(draw(p.flexion_deg, rng)) * float(rng.choice([-1.0, 1.0])) if which < 0.75 else None
        dev = (
            np.deg2rad(draw(p.deviation_deg, rng)) * float(rng.choice([-1.0, 1.0])) if which > 0.45 else None
        )
        out.append(
            EpisodePlan("wrist", start, start + total, trans, trans, flexion_rad=flex, deviation_rad=dev)
        )
    for _ in range(int(rng.poisson(draw(p.roll_per_10min, rng) * active_s / 600.0))):
        total = draw(p.roll_s, rng)
        trans = min(draw(p.transition_s, rng), total / 3.0)
        start = _place(rng, total, span, tracks["roll"])
        if start is None:
            continue
        tracks["roll"].append((start, start + total))
        roll = np.deg2rad(draw(p.roll_deg, rng)) * float(rng.choice([-1.0, 1.0]))
        out.append(EpisodePlan("roll", start, start + total, trans, trans, roll_rad=roll))
    return tuple(sorted(out, key=lambda e: e.t_start_s))


def _explicit_episode(ep: Episode) -> EpisodePlan:
    ramp_in = ep.transition_s
    if ep.kind == "sag":
        ramp_in = max(ep.duration_s - ep.transition_s, 0.1) * 0.8
    return EpisodePlan(
        ep.kind,
        ep.t_start_s,
        ep.t_start_s + ep.duration_s,
        ramp_in,
        ep.transition_s,
        height_m=ep.height_m,
        flexion_rad=None if ep.flexion_deg is None else float(np.deg2rad(ep.flexion_deg)),
        deviation_rad=None if ep.deviation_deg is None else float(np.deg2rad(ep.deviation_deg)),
        roll_rad=None if ep.roll_deg is None else float(np.deg2rad(ep.roll_deg)),
        explicit=True,
    )
