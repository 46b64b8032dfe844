"""``coach demo``: a whole accelerated session on simulated sensors, with nothing to set up.

An embedded MQTT broker, three simulated sensors (treated forearm, hand, massaging wrist), a simulated
patient who answers the screening questions "no" and logs pain and swelling at the end (the answers
show on the session page as they are given), the live terminal view, the session page and spoken
cues, and the therapist's web monitor watching the same broker. Runs without a terminal
(stdin closed), ends by itself (about a minute and a half with the defaults, always under 3 minutes),
and prints where the trace, events and summary were written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coach.cli.session_options import add_person_options, person_settings

HELP = "a whole simulated session: embedded broker, simulated sensors, live view, web monitor"

DEMO_PATIENT = "p-demo"
DEMO_THERAPIST = "demo-therapist"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--minutes", type=float, default=6.0, help="session target in session minutes (default 6)"
    )
    parser.add_argument("--speed", type=float, default=6.0, help="session clock speed (default 6× real time)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    add_person_options(parser)
    parser.add_argument("--no-monitor", action="store_true", help="do not start the therapist web monitor")
    parser.add_argument(
        "--keep-monitor",
        action="store_true",
        help="keep the web monitor (and the embedded broker) running after the session until Ctrl-C",
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from coach.errors import ConfigError
    from coach.mqtt.secrets import write_secret_file
    from coach.paths import data_dir
    from coach.patient_page.inputs import DelayedAnswers, DelayedSelfReport
    from coach.session.config import RunConfig
    from coach.session.flow import ScriptedSelfReport
    from coach.session.runner import SessionRun, run_session, simulated_source
    from coach.session.screening import ScriptedAnswers
    from coach.session.store import patient_dir

    if not 1 <= args.minutes <= 30 or not 1 <= args.speed <= 50:
        raise ConfigError("--minutes must be within 1–30 and --speed within 1–50")
    if args.minutes * 60 / args.speed > 150:
        raise ConfigError("that would run longer than the demo's 3 minutes: raise --speed or lower --minutes")
    demo_dir = data_dir() / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret_file = patient_dir(DEMO_PATIENT, demo_dir) / "enrolment.secret"
    if not secret_file.exists():
        import secrets

        write_secret_file(secret_file, secrets.token_hex(32))
    cfg = RunConfig(
        source="coach demo",
        patient=DEMO_PATIENT,
        devices=(),
        arm="right",
        target_duration_s=args.minutes * 60.0,
        enrolment_secret_file=secret_file,
    )
    print(
        f"coach demo: simulating a {args.minutes:g}-minute session with three sensors (treated, hand, "
        f"stroker), clock ×{args.speed:g}",
        file=sys.stderr,
    )
    source = simulated_source(cfg, seed=args.seed, duration_s=cfg.target_duration_s + 60.0, speed=args.speed)
    monitor = None if args.no_monitor else _DemoMonitor(demo_dir, secret_file)

    def on_broker(url: str) -> None:
        if monitor is not None:
            monitor.start(url)

    def on_page(lines: list[str]) -> None:
        for line in lines:
            print(f"coach demo: {line}", file=sys.stderr)

    # The simulated patient answers every question "no" and logs pain 2, swelling 3, each after a
    # moment, so that the session page shows every question and answer as it is given.
    run = SessionRun(
        source,
        answers=DelayedAnswers(ScriptedAnswers(default=False), 0.8),
        self_report=DelayedSelfReport(ScriptedSelfReport(pain_0_10=2, swelling_0_10=3), 1.0),
        speed=args.speed,
        on_broker=on_broker,
        on_page=on_page,
        **person_settings(args, {}),
        data_dir=demo_dir,
        live_overrides={"connect_wait_s": 5.0},
    )

    async def main() -> object:
        try:
            result = await run_session(cfg, run)
            if monitor is not None and monitor.url is not None:
                await asyncio.sleep(1.0)  # let the monitor store the summary before it stops
                if args.keep_monitor:
                    print(f"coach demo: monitor still at {monitor.url}; Ctrl-C to end", file=sys.stderr)
                    await asyncio.Event().wait()
            return result
        finally:
            if monitor is not None:
                monitor.stop()

    try:
        result = asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    from coach.session.flow import SessionResult

    assert isinstance(result, SessionResult)
    print(f"\ncoach demo: session {result.session_id} {result.state} ({result.reason})", file=sys.stderr)
    if result.trace_path is not None:
        print(f"  trace:    {result.trace_path}", file=sys.stderr)
        print(f"  replay:   coach replay {result.trace_path}", file=sys.stderr)
    print(f"  events:   {result.events_path}", file=sys.stderr)
    print(f"  summary:  {result.summary_path}", file=sys.stderr)
    if result.commands_path.exists():
        print(f"  commands: {result.commands_path}", file=sys.stderr)
    sent = "all events sent" if result.spool_empty else f"{result.unsent} events kept, sent next time"
    print(f"coach demo: session {result.state} ({result.reason}); {sent}", file=sys.stderr)
    return 0 if result.state == "finished" else 1


class _DemoMonitor:
    """The therapist web monitor on the demo's broker, with a throwaway demo login."""

    def __init__(self, demo_dir: Path, secret_file: Path) -> None:
        self.demo_dir = demo_dir
        self.secret_file = secret_file
        self.db = demo_dir / "monitor.sqlite3"
        self.log = demo_dir / "monitor.log"
        self.login_file = demo_dir / "monitor-login.txt"
        self.url: str | None = None
        self._proc: object | None = None
        self._ready = False
        try:
            import coach.cli.monitor  # noqa: F401
        except ImportError:
            print("coach demo: the web monitor is not part of this build; skipping it", file=sys.stderr)
            return
        self._ready = self._setup()

    def _admin(self, *argv: str, stdin: str | None = None) -> bool:
        import subprocess

        result = subprocess.run(
            [sys.executable, "-m", "coach", "monitor", "--db", f"sqlite:///{self.db}", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(result.stderr)
        return result.returncode == 0

    def _setup(self) -> bool:
        import secrets

        from coach.mqtt.secrets import write_secret_file

        for stale in self.demo_dir.glob("monitor.sqlite3*"):
            stale.unlink()
        self.log.unlink(missing_ok=True)
        password = secrets.token_urlsafe(12)
        ok = (
            self._admin(
                "add-therapist",
                DEMO_THERAPIST,
                "--name",
                "Demo Therapist",
                "--password-stdin",
                stdin=password + "\n",
            )
            and self._admin(
                "add-patient",
                DEMO_PATIENT,
                "--name",
                "Demo patient",
                "--secret-file",
                str(self.demo_dir / ".unused.secret"),
            )
            and self._admin("import-secret", DEMO_PATIENT, "--secret-file", str(self.secret_file))
            and self._admin("assign", DEMO_THERAPIST, DEMO_PATIENT)
        )
        (self.demo_dir / ".unused.secret").unlink(missing_ok=True)
        if not ok:
            print(
                f"coach demo: could not set up the web monitor (see {self.log}); going on without it",
                file=sys.stderr,
            )
            return False
        write_secret_file(self.login_file, f"user: {DEMO_THERAPIST}\npassword: {password}")
        return True

    def start(self, broker_url: str) -> None:
        if not self._ready:
            return
        import socket
        import subprocess

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(self.log, "a", encoding="utf-8")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "coach", "monitor", "--broker", broker_url, "--db", f"sqlite:///{self.db}",
             "--listen", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )  # fmt: skip
        log.close()
        self.url = f"http://127.0.0.1:{port}/"
        print(
            f"coach demo: therapist web monitor at {self.url} (login in {self.login_file})",
            file=sys.stderr,
        )

    def stop(self) -> None:
        import subprocess

        proc = self._proc
        if isinstance(proc, subprocess.Popen):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self._proc = None
