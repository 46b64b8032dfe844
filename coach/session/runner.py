"""Putting a live session together: broker (configured or embedded), local store and secret, sample
source (simulated or real devices), the views (terminal, session page, voice) in the session's
language, and the inputs (keyboard, page); used by ``coach run`` and ``coach demo``.

This is the composition root of ``--simulated``: the only module of the session that assembles
simulated devices (``simulators.ble.world``); everything else takes its sample source as given.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coach.clock import SessionClock
from coach.contraindications import QUESTIONS
from coach.cue_texts import SELF_REPORT_INTRO, SELF_REPORT_PAIN, SELF_REPORT_SWELLING
from coach.events import Event
from coach.feedback.progress import load_history
from coach.feedback.terminal import TerminalView
from coach.feedback.view import SessionView, Views
from coach.feedback.voice import MachineVoice
from coach.i18n import Texts, texts
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

    def __init__(self, console: Console, out: Any, tr: Texts | None = None) -> None:
        self.console = console
        self.out = out
        self.tr = tr or texts("en")

    async def report(self) -> tuple[int | None, int | None]:
        if self.console.closed:
            return None, None
        tr = self.tr
        self.out.write(tr(SELF_REPORT_INTRO) + "\n")
        pain = await ask_score(self.console, self.out, tr(SELF_REPORT_PAIN), tr=tr)
        swelling = await ask_score(self.console, self.out, tr(SELF_REPORT_SWELLING), tr=tr)
        return pain, swelling


@dataclass
class SessionRun:
    """Everything a session run needs besides the config."""

    source: SampleSource
    answers: AnswerSource | None = None
    self_report: SelfReport | None = None
    speed: float = 1.0
    interactive_view: bool | None = None
    #: Speak every cue (``None``: the config's ``voice``).
    voice: bool | None = None
    #: The session's language (``None``: the config's, else the computer's, else English).
    language: str | None = None
    #: Helper mode (``None``: the config's ``helper``).
    helper: bool | None = None
    #: The session page (``None``: from the config's ``[page]``); ``open_page``: open it in a browser.
    page: Any = None
    open_page: bool = False
    #: Called with the lines that tell where the session page is (default: printed on stderr).
    on_page: Callable[[list[str]], None] | None = None
    on_broker: Callable[[str], None] | None = None
    on_event: Callable[[Event], None] | None = None
    live_overrides: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None


def page_options(cfg: RunConfig, override: Any = None) -> Any:
    """The session page's options: ``override`` (a ``PageOptions``), else the config's ``[page]``."""
    from coach.patient_page import PageOptions

    if override is not None:
        return override
    return PageOptions(**{k: v for k, v in cfg.page.items() if k in ("enabled", "network", "host", "port")})


async def run_session(cfg: RunConfig, run: SessionRun) -> SessionResult:
    """Run one live session to its end (see :class:`~coach.session.flow.LiveSession`)."""
    tr = texts(run.language or cfg.language)
    helper = cfg.helper if run.helper is None else run.helper
    store = LocalStore(patient_dir(cfg.patient, run.data_dir))
    console = Console()
    terminal = TerminalView(sys.stderr, interactive=run.interactive_view, tr=tr, helper=helper)
    answers: AnswerSource = run.answers or TerminalAnswers(console, sys.stderr, tr=tr)
    self_report: SelfReport = run.self_report or TerminalSelfReport(console, sys.stderr, tr)
    views: list[SessionView] = [terminal]
    page = None
    options = page_options(cfg, run.page)
    if options.enabled:
        from coach.patient_page import PatientPage

        settings_now = store.settings()
        cadence = cfg.cadence_spm
        if "cadence_min_spm" in settings_now and "cadence_max_spm" in settings_now:
            cadence = (settings_now["cadence_min_spm"], settings_now["cadence_max_spm"])
        page = PatientPage(
            tr,
            options,
            helper=helper,
            body=cfg.body,
            cadence_spm=cadence or (8.0, 40.0),
            elevation_margin_m=settings_now.get(
                "elevation_margin_m", cfg.thresholds.get("elevation_margin_m")
            ),
            history=load_history(cfg.record_dir or store.directory / "sessions"),
            question_count=len(QUESTIONS),
            console=sys.stderr,
        )
        views.append(page.view)
        answers = page.answers([answers])
        self_report = page.self_report([self_report])
    voice = MachineVoice(
        tr,
        enabled=cfg.voice if run.voice is None else run.voice,
        helper=helper,
        page_open=page.is_open if page is not None else (lambda: False),
    )
    views.append(voice)
    if page is not None:
        page.server.on_helper.append(lambda on: setattr(voice, "helper", on))
        page.server.on_helper.append(lambda on: setattr(terminal, "helper", on))
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
        if page is not None:
            url = await page.start()
            stack.push_async_callback(page.stop)
            lines = page.console_lines()
            if run.on_page is not None:
                run.on_page(lines)
            else:
                print("\n".join(lines), file=sys.stderr)
            if run.open_page:
                import webbrowser

                await asyncio.to_thread(webbrowser.open, url)
        stack.push_async_callback(voice.aclose)
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
            answers=answers,
            store=store,
            self_report=self_report,
            broker=settings,
            secret=secret,
            clock=SessionClock(run.speed),
            console=console,
            view=Views(views),
            on_event=run.on_event,
        )
        if page is not None:
            page.bind(session)
        print(
            f"coach: session {session.session_id} for {cfg.patient}; broker {settings.url}; "
            f"recording to {session.recorder.directory}",
            file=sys.stderr,
        )
        try:
            return await session.run()
        finally:
            store.close()
