"""Putting a live session together: broker (configured or embedded), local store and secret, sample
source (simulated or real devices), terminal view, audio and keyboard; used by ``coach run`` and
``coach demo``.

This is the composition root of ``--simulated``: the only module of the session that assembles
simulated devices (``simulators.ble.world``); everything else takes its sample source as given.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coach.clock import SessionClock
from coach.events import Event
from coach.feedback.audio import AudioCues
from coach.feedback.terminal import TerminalView
from coach.mqtt.broker_config import BrokerSettings
from coach.mqtt.embedded_broker import embedded_broker_process
from coach.mqtt.secrets import Secret, read_secret_file, secret_from
from coach.session.config import LiveConfig, RunConfig
from coach.session.console import Console
from coach.session.flow import LiveSession, SelfReport, SessionResult
from coach.session.hub_source import HubSource
from coach.session.screening import AnswerSource, TerminalAnswers, ask_score
from coach.session.sources import SampleSource
from coach.session.store import LocalStore, patient_dir

if TYPE_CHECKING:
    from simulators.ble.world import SimDevice, SimWorld

ENROLMENT_ENV = "COACH_ENROLMENT_SECRET"


def enrolment_secret(cfg: RunConfig, store: LocalStore) -> Secret | None:
    """``$COACH_ENROLMENT_SECRET``, else the configured 0600 file, else ``enrolment.secret`` in the
    patient's data folder, else ``None`` (then every therapist command is refused as unverifiable)."""
    secret = secret_from(ENROLMENT_ENV, cfg.enrolment_secret_file)
    if secret is not None:
        return secret
    default = store.directory / "enrolment.secret"
    return read_secret_file(default) if default.exists() else None


#: Simulated devices per role when the config names none: do-it-yourself coach-imu boards on the
#: forearm and the massaging wrist, a Movesense on the hand. Both stream several samples per
#: notification with device timestamps, so the drivers hold nothing back and an accelerated demo stays
#: light; single-sample profiles (MetaMotion) cost a notification per sample.
DEFAULT_SIM_PROFILES: dict[str, str] = {"treated": "coach-imu", "hand": "movesense", "stroker": "coach-imu"}


def simulated_world_for(
    cfg: RunConfig,
    *,
    seed: int,
    duration_s: float,
    speed: float = 1.0,
    motion_rate_hz: float = 200.0,
    profiles: dict[str, str] | None = None,
) -> tuple[SimWorld, list[SimDevice]]:
    """A simulated world for ``cfg``: one simulated device per configured role (its configured profile;
    all three roles with :data:`DEFAULT_SIM_PROFILES` when the config names no devices), measuring a
    simulated session.

    The person is the session simulator's (``simulators.simulate_motion``: calibration phases, strokes,
    posture episodes); the devices sample that motion on their own clocks and send it in their own byte
    formats, over a radio model, to the real driver code.
    """
    from simulators import Scenario, simulate_motion
    from simulators.ble.world import simulated_world

    if profiles is None:
        profiles = {d.role: d.profile for d in cfg.devices} if cfg.devices else dict(DEFAULT_SIM_PROFILES)
    base = Scenario().to_dict()
    base["duration_s"] = duration_s
    base["sensors"] = {role: {"rate_hz": motion_rate_hz} for role in profiles}
    if cfg.arm is not None:
        base["arm"] = cfg.arm
    scenario_path = cfg.simulation.get("scenario")
    scenario = (
        Scenario.from_file(Path(str(scenario_path)).expanduser()).replace(duration_s=duration_s)
        if scenario_path
        else Scenario.from_dict(base)
    )
    motion = simulate_motion(scenario, seed=seed)
    return simulated_world(profiles, motion.blocks, time_scale=speed, seed=seed)


def world_source(world: SimWorld, devices: list[SimDevice]) -> HubSource:
    """The simulated world's devices through the simulated bleak backend and the real drivers; the
    simulated person starts following the prompts at session ``t = 0``."""
    from simulators.ble.world import start_person

    return HubSource(
        [(d.role, d.address, d.profile) for d in devices],
        world.backend(),
        on_clock_start=lambda: start_person(world),
    )


def simulated_source(
    cfg: RunConfig,
    *,
    seed: int,
    duration_s: float,
    speed: float = 1.0,
    motion_rate_hz: float = 200.0,
    profiles: dict[str, str] | None = None,
) -> HubSource:
    """Simulated devices measuring a simulated session (:func:`simulated_world_for`), as a source."""
    world, devices = simulated_world_for(
        cfg, seed=seed, duration_s=duration_s, speed=speed, motion_rate_hz=motion_rate_hz, profiles=profiles
    )
    return world_source(world, devices)


def device_source(cfg: RunConfig) -> HubSource:
    """Real BLE devices through the drivers hub (bleak)."""
    return HubSource([(d.role, d.address, d.profile) for d in cfg.devices])


class TerminalSelfReport:
    """Pain and swelling typed at the console after the session."""

    def __init__(self, console: Console, out: Any) -> None:
        self.console = console
        self.out = out

    async def report(self) -> tuple[int | None, int | None]:
        if self.console.closed:
            return None, None
        self.out.write("Before you go: how do your hand and arm feel now?\n")
        pain = await ask_score(self.console, self.out, "Pain")
        swelling = await ask_score(self.console, self.out, "Swelling")
        return pain, swelling


@dataclass
class SessionRun:
    """Everything a session run needs besides the config."""

    source: SampleSource
    answers: AnswerSource | None = None
    self_report: SelfReport | None = None
    speed: float = 1.0
    interactive_view: bool | None = None
    audio: bool = False
    on_broker: Callable[[str], None] | None = None
    on_event: Callable[[Event], None] | None = None
    live_overrides: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None


async def run_session(cfg: RunConfig, run: SessionRun) -> SessionResult:
    """Run one live session to its end (see :class:`~coach.session.live.LiveSession`)."""
    store = LocalStore(patient_dir(cfg.patient, run.data_dir))
    console = Console()
    view = TerminalView(sys.stderr, interactive=run.interactive_view)
    secret = enrolment_secret(cfg, store)
    if secret is None:
        print(
            f"coach: no enrolment secret (${ENROLMENT_ENV} or [enrolment] secret_file): therapist "
            "commands will be refused as unverifiable",
            file=sys.stderr,
        )
    async with contextlib.AsyncExitStack() as stack:
        if cfg.broker is None:
            settings = BrokerSettings.from_url(await stack.enter_async_context(embedded_broker_process()))
        else:
            settings = BrokerSettings.from_url(
                cfg.broker.url,
                ca_file=cfg.broker.ca_file,
                cert_file=cfg.broker.cert_file,
                key_file=cfg.broker.key_file,
            )
        if run.on_broker is not None:
            run.on_broker(settings.url)
        live = LiveConfig(
            patient=cfg.patient,
            arm=cfg.arm,
            body=cfg.body or None,
            target_duration_s=cfg.target_duration_s,
            cadence_spm=cfg.cadence_spm,
            thresholds=dict(cfg.thresholds),
            posture_hz=cfg.posture_hz,
            record_dir=cfg.record_dir,
            handle_signals=True,
            **run.live_overrides,
        )
        session = LiveSession(
            live,
            run.source,
            answers=run.answers or TerminalAnswers(console, sys.stderr),
            store=store,
            self_report=run.self_report or TerminalSelfReport(console, sys.stderr),
            broker=settings,
            secret=secret,
            clock=SessionClock(run.speed),
            console=console,
            view=view,
            audio=AudioCues(run.audio or cfg.audio),
            on_event=run.on_event,
        )
        print(
            f"coach: session {session.session_id} for {cfg.patient}; broker {settings.url}; "
            f"recording to {session.recorder.directory}",
            file=sys.stderr,
        )
        try:
            return await session.run()
        finally:
            store.close()
