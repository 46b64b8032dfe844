"""How a live session runs: the ``coach run`` configuration file (TOML: patient, devices and roles,
broker, targets), and :class:`LiveConfig`, the settings of one :class:`~coach.session.flow.LiveSession`.

``coach run --example-config`` prints a documented example (``example_session.toml``). Errors name the
file and the key. Secrets are never read from this file: only paths to 0600 files, or the environment.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from coach.clock import format_utc
from coach.commands import (
    CADENCE_SPM,
    DEFAULT_SETTINGS,
    TARGET_DURATION_S,
    THRESHOLD_RANGES,
    check_target_duration,
)
from coach.errors import ConfigError, ValidationError
from coach.ids import check_id
from coach.samples import ROLES
from coach.trace import TraceMeta

PROFILES = ("metamotion", "polar-verity", "witmotion", "movesense", "thingy52", "coach-imu")
_TOP_KEYS = {
    "patient",
    "arm",
    "target_duration_min",
    "target_duration_s",
    "posture_hz",
    "audio",
    "voice",
    "language",
    "helper",
    "page",
    "record_dir",
    "devices",
    "body",
    "thresholds",
    "cadence",
    "broker",
    "enrolment",
    "simulation",
}


@dataclass(frozen=True)
class DeviceConfig:
    role: str
    profile: str
    address: str
    rate_hz: float | None = None


@dataclass(frozen=True)
class BrokerConfig:
    url: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True)
class RunConfig:
    """A validated ``coach run`` configuration."""

    source: str
    patient: str
    devices: tuple[DeviceConfig, ...]
    arm: str | None = None
    target_duration_s: float = DEFAULT_SETTINGS["target_duration_s"]
    posture_hz: float = 1.0
    #: Every cue spoken (the page's browser, else espeak-ng here); ``audio`` is the older name.
    voice: bool = True
    record_dir: Path | None = None
    body: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    cadence_spm: tuple[float, float] | None = None
    broker: BrokerConfig | None = None
    enrolment_secret_file: Path | None = None
    simulation: dict[str, Any] = field(default_factory=dict)
    #: The session's language (coach.i18n.LANGUAGES); ``None``: the computer's, else English.
    language: str | None = None
    #: A family member does the massage (wears ``stroker``): stroke cues speak to them.
    helper: bool = False
    #: ``[page]``: ``enabled``, ``network``, ``host``, ``port`` (see coach.patient_page.PageOptions).
    page: dict[str, Any] = field(default_factory=dict)

    @property
    def roles(self) -> list[str]:
        return [d.role for d in self.devices]


@dataclass
class LiveConfig:
    """How a live session runs (see docs/live-sessions.md for the matching TOML keys)."""

    patient: str
    arm: str | None = None
    body: dict[str, float] | None = None
    target_duration_s: float = DEFAULT_SETTINGS["target_duration_s"]
    cadence_spm: tuple[float, float] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    posture_hz: float = 1.0
    #: A sensor whose link is up counts as silent after this many wall seconds without a sample, in
    #: healthy loop time (this process's own stalls do not count: coach.session.pacing).
    silence_s: float = 0.6
    #: A clock tick later than ``tick_s`` by more than this is the loop's own stall (not counted).
    loop_tolerance_s: float = 0.05
    #: Wall seconds between clock ticks.
    tick_s: float = 0.1
    #: Wall seconds between two writes of the recorded trace (one formatting call and one write for
    #: all the rows every sensor has reached; a crash loses at most this much of the trace's tail).
    trace_flush_s: float = 1.0
    #: Feed the pipeline at most this often (wall seconds; 0: as soon as a notification is in). Larger
    #: values cost less CPU and add up to that much latency (benchmarks/bench_live.py measures both).
    feed_interval_s: float = 0.0
    #: Decide in steps of at most this many points of the decision grid (sample time, 50 Hz: 0.02 s a
    #: point): a step ends at a multiple of it, at a regular posture event's point and where the
    #: stroke detector completes a frame, so those events are not held back; a cue, a state change or
    #: a posture change between them waits up to ``step_points - 1`` points. 1 decides every point as
    #: soon as every sensor's samples for it are in. The pipeline's cost is mostly per step
    #: (docs/performance.md, "Live steps on the posture grid"; ``./run bench steps``).
    step_points: int = 5
    #: Send a step's posture and state events before the stroke detector runs on it (the rest of the
    #: step follows a few event-loop turns later; the same events in the same order either way:
    #: SessionPipeline.complete). False: the whole step in one call.
    split_steps: bool = True
    #: After a blocking screening answer, how long to wait for a therapist's clearance.
    screening_wait_s: float = 600.0
    #: Wait this long at the start for the broker and the retained targets (wall seconds).
    connect_wait_s: float = 3.0
    self_report: bool = True
    self_report_wait_s: float = 300.0
    end_at_target: bool = True
    #: A session never runs longer than this many target durations (plus calibration).
    max_duration_factor: float = 2.0
    record_dir: Path | None = None
    session_id: str | None = None
    #: Options of the guided calibration at the start (:class:`~coach.session.guided_calibration.
    #: GuidedCalibration`: ``still_s``, ``attempt_s``, ``max_attempts``, ...).
    guided_calibration: dict[str, Any] = field(default_factory=dict)
    drain_timeout_s: float = 10.0
    #: SIGINT/SIGTERM end the session properly (the commands set this; tests and embedders need not).
    handle_signals: bool = False

    def __post_init__(self) -> None:
        check_id(self.patient, "patient id")
        if self.session_id is not None:
            check_id(self.session_id, "session id")
        check_target_duration(self.target_duration_s)

    def trace_meta(
        self,
        settings: Mapping[str, float],
        sensors: Mapping[str, Mapping[str, Any]],
        session_id: str,
        start: datetime,
        still: tuple[float, float] | None = None,
        rotate: tuple[float, float] | None = None,
    ) -> TraceMeta:
        """The trace ``meta`` of a session with these settings (target, thresholds, cadence range in
        force), sensors, start and, when both were found, the guided calibration's phase times."""
        raw: dict[str, Any] = {
            "start_utc": format_utc(start),
            "sensors": {role: dict(info) for role, info in sensors.items()},
            "target_duration_s": settings["target_duration_s"],
            "session_id": session_id,
        }
        if self.arm is not None:
            raw["arm"] = self.arm
        if self.body:
            raw["body"] = dict(self.body)
        thresholds = {k: settings[k] for k in THRESHOLD_RANGES if k in settings}
        if thresholds:
            raw["thresholds"] = thresholds
        if "cadence_min_spm" in settings and "cadence_max_spm" in settings:
            raw["cadence_spm"] = {
                "min_spm": settings["cadence_min_spm"],
                "max_spm": settings["cadence_max_spm"],
            }
        if still is not None and rotate is not None:
            raw["calibration"] = {"still": list(still), "rotate": list(rotate)}
        return TraceMeta(raw)


def example_config() -> str:
    return resources.files("coach.session").joinpath("example_session.toml").read_text(encoding="utf-8")


def _num(doc: dict[str, Any], key: str, where: str, lo: float, hi: float) -> float:
    v = doc[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise ConfigError(f"{where}: '{key}' must be a number within {lo:g}–{hi:g}, not {v!r}")
    return float(v)


def _path(v: Any, where: str, key: str) -> Path:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}: '{key}' must be a path")
    return Path(v).expanduser()


def _table(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def parse_config(doc: dict[str, Any], source: str) -> RunConfig:
    """Validate a parsed TOML document (``source`` names it in errors)."""
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}")
    if "patient" not in doc:
        raise ConfigError(f"{source}: 'patient' (a pseudonymous id) is required")
    try:
        patient = check_id(doc["patient"], "patient")
    except ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    arm = doc.get("arm")
    if arm is not None and arm not in ("left", "right"):
        raise ConfigError(f"{source}: 'arm' must be 'left' or 'right', not {arm!r}")
    target_s = DEFAULT_SETTINGS["target_duration_s"]
    if "target_duration_min" in doc and "target_duration_s" in doc:
        raise ConfigError(f"{source}: give target_duration_min or target_duration_s, not both")
    if "target_duration_min" in doc:
        lo_min, hi_min = (v / 60.0 for v in TARGET_DURATION_S)
        target_s = 60.0 * _num(doc, "target_duration_min", source, lo_min, hi_min)
    elif "target_duration_s" in doc:
        target_s = _num(doc, "target_duration_s", source, *TARGET_DURATION_S)
    posture_hz = _num(doc, "posture_hz", source, 0.1, 100) if "posture_hz" in doc else 1.0
    voice = doc.get("voice", doc.get("audio", True))
    for key in ("voice", "audio", "helper"):
        if not isinstance(doc.get(key, False), bool):
            raise ConfigError(f"{source}: '{key}' must be true or false")
    language = doc.get("language")
    if language is not None:
        from coach.i18n import LanguageError, resolve_language

        try:
            language = resolve_language(str(language)) if isinstance(language, str) else None
        except LanguageError as exc:
            raise ConfigError(f"{source}: 'language': {exc}") from None
        if language is None:
            raise ConfigError(f"{source}: 'language' must be a string such as \"de\"")
    page = _table(doc, "page", source)
    extra = sorted(set(page) - {"enabled", "network", "host", "port"})
    if extra:
        raise ConfigError(f"{source}: [page] unknown key(s) {', '.join(extra)}")
    for key in ("enabled", "network"):
        if not isinstance(page.get(key, False), bool):
            raise ConfigError(f"{source}: [page] '{key}' must be true or false")
    if "port" in page:
        page["port"] = int(_num(page, "port", f"{source}: [page]", 0, 65535))
    if "host" in page and not isinstance(page["host"], str):
        raise ConfigError(f"{source}: [page] 'host' must be an address such as \"0.0.0.0\"")
    record_dir = _path(doc["record_dir"], source, "record_dir") if "record_dir" in doc else None

    devices_doc = doc.get("devices", [])
    if not isinstance(devices_doc, list):
        raise ConfigError(f"{source}: [[devices]] must be an array of tables")
    devices = []
    for i, d in enumerate(devices_doc, 1):
        where = f"{source}: devices #{i}"
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: must be a table")
        extra = sorted(set(d) - {"role", "profile", "address", "rate_hz"})
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}")
        role, profile, address = d.get("role"), d.get("profile"), d.get("address")
        if role not in ROLES:
            raise ConfigError(f"{where}: 'role' must be one of {', '.join(ROLES)}, not {role!r}")
        if profile not in PROFILES:
            raise ConfigError(f"{where}: 'profile' must be one of {', '.join(PROFILES)}, not {profile!r}")
        if not isinstance(address, str) or not address:
            raise ConfigError(f"{where}: 'address' (BLE address or advertised name) is required")
        rate = _num(d, "rate_hz", where, 1, 2000) if "rate_hz" in d else None
        devices.append(DeviceConfig(role, profile, address, rate))
    roles = [d.role for d in devices]
    if len(set(roles)) != len(roles):
        raise ConfigError(f"{source}: each role may have one device only")
    if devices and "treated" not in roles:
        raise ConfigError(f"{source}: a session needs a device with role 'treated'")

    body_doc = _table(doc, "body", source)
    body = {}
    for key, (lo, hi) in {"forearm_length_m": (0.05, 0.6), "elbow_to_heart_m": (-1.0, 1.0)}.items():
        if key in body_doc:
            body[key] = _num(body_doc, key, f"{source}: [body]", lo, hi)
    if set(body_doc) - {"forearm_length_m", "elbow_to_heart_m"}:
        raise ConfigError(f"{source}: [body] knows forearm_length_m and elbow_to_heart_m only")

    th_doc = _table(doc, "thresholds", source)
    thresholds = {}
    for key, value in th_doc.items():
        if key not in THRESHOLD_RANGES:
            known = ", ".join(THRESHOLD_RANGES)
            raise ConfigError(f"{source}: [thresholds] unknown key {key!r} (known: {known})")
        thresholds[key] = _num({key: value}, key, f"{source}: [thresholds]", *THRESHOLD_RANGES[key])
    cad_doc = _table(doc, "cadence", source)
    cadence = None
    if cad_doc:
        if set(cad_doc) != {"min_spm", "max_spm"}:
            raise ConfigError(f"{source}: [cadence] needs exactly min_spm and max_spm")
        lo = _num(cad_doc, "min_spm", f"{source}: [cadence]", *CADENCE_SPM)
        hi = _num(cad_doc, "max_spm", f"{source}: [cadence]", *CADENCE_SPM)
        if not lo < hi:
            raise ConfigError(f"{source}: [cadence] min_spm must be below max_spm")
        cadence = (lo, hi)

    broker = None
    b_doc = _table(doc, "broker", source)
    if b_doc:
        extra = sorted(set(b_doc) - {"url", "ca_file", "cert_file", "key_file"})
        if extra:
            bad = ", ".join(extra)
            hint = (
                " (credentials come from COACH_MQTT_USERNAME / COACH_MQTT_PASSWORD)"
                if any(k in ("username", "password") for k in extra)
                else ""
            )
            raise ConfigError(f"{source}: [broker] unknown key(s) {bad}{hint}")
        if not isinstance(b_doc.get("url"), str):
            raise ConfigError(f"{source}: [broker] needs 'url' (mqtt:// or mqtts://)")
        broker = BrokerConfig(
            b_doc["url"],
            *(
                _path(b_doc[k], f"{source}: [broker]", k) if k in b_doc else None
                for k in ("ca_file", "cert_file", "key_file")
            ),
        )
    e_doc = _table(doc, "enrolment", source)
    if set(e_doc) - {"secret_file"}:
        raise ConfigError(f"{source}: [enrolment] knows secret_file only (the secret itself never goes here)")
    secret_file = _path(e_doc["secret_file"], source, "secret_file") if "secret_file" in e_doc else None
    simulation = _table(doc, "simulation", source)
    if set(simulation) - {"seed", "speed", "scenario"}:
        raise ConfigError(f"{source}: [simulation] knows seed, speed and scenario")
    return RunConfig(
        source,
        patient,
        tuple(devices),
        arm,
        target_s,
        posture_hz,
        voice,
        record_dir,
        body,
        thresholds,
        cadence,
        broker,
        secret_file,
        dict(simulation),
        language,
        bool(doc.get("helper", False)),
        dict(page),
    )


def load_config(path: str | Path) -> RunConfig:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    return parse_config(doc, str(p))
