"""Run the monitor: database, MQTT ingest and the web server in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from coach.errors import ConfigError
from coach.monitor.alerts import AlertConfig
from coach.monitor.broker import DEFAULT_BROKER_URL, default_broker_url
from coach.monitor.db import Database, describe_url, open_database
from coach.monitor.ingest import ChangeFeed, Ingest
from coach.monitor.secret_box import secret_box
from coach.monitor.web import MonitorContext, build_app
from coach.mqtt.broker_config import BrokerSettings

log = logging.getLogger("coach.monitor")


@dataclass
class MonitorConfig:
    #: ``None``: the embedded broker of a coach on this machine (followed when it appears or moves),
    #: else ``mqtt://127.0.0.1:1883`` (:mod:`coach.monitor.broker`).
    broker_url: str | None
    db_url: str
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    shared_group: str | None = None
    client_id: str | None = None
    ingest: bool = True
    alerts: AlertConfig = field(default_factory=AlertConfig)
    batch_wait_s: float = 0.05
    #: The broker's in-flight window for this connection (``None``: the protocol's default).
    mqtt_inflight: int | None = None
    #: How often, at most, a patient's delivery receipt is published (docs/mqtt.md).
    receipt_interval_s: float = 5.0
    #: The clinic's language and locale for reports (``de``, ``de_AT``, ``en_GB``...; ``None``: English).
    language: str | None = None


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--listen {text!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", int(port)


def check_language(language: str | None) -> None:
    """A ConfigError for a clinic language that is not shipped (or a territory that does not exist)."""
    from coach.i18n import LanguageError
    from coach.monitor.report_view import report_locale

    try:
        report_locale(language)
    except LanguageError as exc:
        raise ConfigError(f"--language: {exc}") from None


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS certificate {cert} / key {key}: {exc}") from None
    return ctx


def default_client_id(cfg: MonitorConfig) -> str:
    """Stable per instance (the persistent session is keyed by it), distinct for two instances."""
    return f"coach-monitor-{socket.gethostname()}-{cfg.port}"[:64]


class Monitor:
    """``async with Monitor(cfg) as m:`` opens everything; ``m.url`` is where the dashboard is."""

    def __init__(self, cfg: MonitorConfig) -> None:
        self.cfg = cfg
        self.db: Database | None = None
        self.ingest: Ingest | None = None
        self._ingest_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.port = cfg.port

    @property
    def url(self) -> str:
        scheme = "https" if self.cfg.tls_cert else "http"
        return f"{scheme}://{self.cfg.host}:{self.port}"

    async def start(self) -> None:
        cfg = self.cfg
        ssl_ctx = None
        if cfg.tls_cert or cfg.tls_key:
            if not (cfg.tls_cert and cfg.tls_key):
                raise ConfigError("HTTPS needs both --tls-cert and --tls-key")
            ssl_ctx = tls_context(cfg.tls_cert, cfg.tls_key)
        resolver = None
        if cfg.ingest and cfg.broker_url is None:

            def resolver() -> BrokerSettings:
                return BrokerSettings.from_url(default_broker_url())

        broker = None
        if cfg.ingest:
            broker = resolver() if resolver is not None else BrokerSettings.from_url(str(cfg.broker_url))
        check_language(cfg.language)
        self.db = await open_database(cfg.db_url)
        try:  # load (on the first run: create) the enrolment secrets' key now, and check it fits
            await secret_box(self.db)
        except ConfigError:
            await self.stop()
            raise
        changes = ChangeFeed()
        if broker is not None:
            self.ingest = Ingest(
                self.db,
                broker,
                client_id=cfg.client_id or default_client_id(cfg),
                shared_group=cfg.shared_group,
                changes=changes,
                batch_wait_s=cfg.batch_wait_s,
                inflight_window=cfg.mqtt_inflight,
                receipt_interval_s=cfg.receipt_interval_s,
                broker_resolver=resolver,
            )
            self._ingest_task = asyncio.create_task(self.ingest.run(), name="monitor-ingest")
        ctx = MonitorContext(
            db=self.db,
            ingest=self.ingest,
            changes=changes,
            alerts=cfg.alerts,
            secure_cookies=ssl_ctx is not None,
            language=cfg.language,
        )
        self._runner = web.AppRunner(build_app(ctx), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.port, ssl_context=ssl_ctx)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise ConfigError(f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror}") from None
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info(
            "monitor: dashboard on %s, database %s, broker %s",
            self.url,
            describe_url(cfg.db_url),
            broker.url if broker else "(none)",
        )

    def broker_line(self) -> str:
        """Which broker this instance listens on, and why that one (printed at start)."""
        if self.ingest is None:
            return "no ingest (--no-ingest): this instance serves the dashboard only"
        url = self.ingest.broker.url
        if self.cfg.broker_url is not None:
            return f"listening on the broker {url} (--broker)"
        if url != DEFAULT_BROKER_URL:
            return f"listening on the broker {url} (the embedded broker of a coach on this machine)"
        return (
            f"listening on the broker {url}: no coach on this machine runs an embedded broker yet; the "
            "monitor switches to it when one starts (or give --broker URL)"
        )

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._ingest_task is not None:
            task, self._ingest_task = self._ingest_task, None
            task.cancel()
            # Bounded (asyncio.wait, unlike wait_for, does not wait for a cancellation to finish): a
            # broker or database that does not answer must not keep the process alive.
            done, _ = await asyncio.wait({task}, timeout=20.0)
            if not done:
                log.warning("monitor: ingest did not stop within 20 s; leaving it")
            elif not task.cancelled() and task.exception() is not None:
                log.error("monitor: ingest ended with %r", task.exception())
        if self.db is not None:
            db, self.db = self.db, None
            closing = asyncio.ensure_future(db.close())
            done, _ = await asyncio.wait({closing}, timeout=15.0)
            if not done:
                log.warning("monitor: the database did not close within 15 s")
            elif closing.exception() is not None:
                log.error("monitor: closing the database failed: %r", closing.exception())

    async def __aenter__(self) -> Monitor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(cfg: MonitorConfig) -> None:
    """Run until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Monitor(cfg) as monitor:
        print(f"coach monitor: dashboard on {monitor.url}", flush=True)
        print(f"coach monitor: {monitor.broker_line()}", flush=True)
        if monitor.db is not None:
            from coach.monitor.clinic.routes import first_run_hint

            hint = await first_run_hint(monitor.db)
            if hint:
                print(hint, file=sys.stderr, flush=True)
        await stop.wait()
