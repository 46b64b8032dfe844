"""The embedded MQTT broker (amqtt, MQTT 3.1.1): used when no broker is configured.

``coach run`` and ``coach demo`` start it as a child process (:func:`embedded_broker_process`: its own
event loop and CPU, so a busy session never delays its acknowledgements; it exits with the coach);
:class:`EmbeddedBroker` runs it inside the current event loop. It listens on 127.0.0.1 only, at the
first free port from 18830, and writes its address to
``<runtime dir>/broker.json`` (see :mod:`coach.paths`) so that ``coach monitor`` on the same
machine finds it (:func:`find_running`).

Differences from a clinic's Mosquitto, on purpose or by amqtt's design:

- any client on loopback may connect, with or without a username (it is a single-user machine's
  private broker). amqtt keeps no queued messages for *anonymous* persistent sessions, so the plugin
  here marks every client as authenticated, which makes ``clean_session=False`` work as the spec says;
- sessions, queued messages and retained messages live in memory: they survive network gaps, not the
  broker process. A child broker that dies is started again on the same port
  (:class:`BrokerSupervisor`); what it held is gone, and the coach's spool sends again every event no
  monitor has confirmed (docs/mqtt.md, "End to end").

Run it alone with ``python -m coach.mqtt.embedded_broker [--port N]`` (used by tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

from coach.paths import runtime_dir

FIRST_PORT = 18830
PORT_ATTEMPTS = 50
RUNTIME_FILE = "broker.json"

log = logging.getLogger(__name__)


class LoopbackAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt's base class is untyped (Any)
    """Accept every client (the listener is loopback-only) as authenticated, not anonymous, so that
    amqtt keeps QoS 1 messages for persistent sessions that are offline."""

    async def authenticate(self, *, session: Session) -> bool:
        session.is_anonymous = False
        return True


def _patched_broker_class() -> type[Any]:
    """amqtt's Broker with one fix: on connect, amqtt 0.12 sends a client the retained messages of
    every topic filter *any* client subscribed to (it loops over all subscriptions, not the client's),
    so a coach would receive other patients' retained status and summaries. Here a client gets
    retained messages only for filters it subscribed to itself."""
    from amqtt.broker import Broker

    class _Broker(Broker):  # type: ignore[misc]  # amqtt's Broker is untyped (Any)
        async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Session
        ) -> None:
            subscribers = self._subscriptions.get(subscription[0], [])
            if not any(s is session for s, _ in subscribers):
                return
            await super()._publish_retained_messages_for_subscription(subscription, session)

    return _Broker


def broker_config(port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}", "max_connections": 1000}},
        "plugins": {f"{__name__}.LoopbackAuthPlugin": {}},
    }


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def _port_free(port: int) -> bool:
    """Nobody listens on the port (connections of a dead listener waiting out TIME_WAIT do not count,
    as for the server itself, which binds with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class EmbeddedBroker:
    """``async with EmbeddedBroker() as broker: broker.url`` starts amqtt and writes the runtime file."""

    def __init__(self, port: int | None = None, *, write_runtime_file: bool = True) -> None:
        self._wanted_port = port
        self._write_runtime_file = write_runtime_file
        self._broker: Any = None
        self.address: BrokerAddress | None = None

    @property
    def url(self) -> str:
        if self.address is None:
            raise RuntimeError("the embedded broker is not running")
        return self.address.url

    async def start(self) -> BrokerAddress:
        _quiet_amqtt_logs()
        Broker = _patched_broker_class()
        ports = [self._wanted_port] if self._wanted_port else range(FIRST_PORT, FIRST_PORT + PORT_ATTEMPTS)
        last_error: Exception | None = None
        for port in ports:
            if not _port_free(port):
                continue
            broker = Broker(broker_config(port))
            try:
                await broker.start()
            except Exception as exc:  # amqtt wraps the bind error in its own BrokerError
                last_error = exc
                with contextlib.suppress(Exception):
                    await broker.shutdown()
                continue
            self._broker = broker
            self.address = BrokerAddress("127.0.0.1", port)
            if self._write_runtime_file:
                _write_runtime(self.address)
            return self.address
        raise OSError(
            errno.EADDRINUSE,
            f"no free port for the embedded broker in {ports!r}" + (f" ({last_error})" if last_error else ""),
        )

    async def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            with contextlib.suppress(asyncio.CancelledError):
                await broker.shutdown()
        if self._write_runtime_file and self.address is not None:
            _remove_runtime(self.address)

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _quiet_amqtt_logs() -> None:
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def runtime_file() -> Path:
    return runtime_dir() / RUNTIME_FILE


def _write_runtime(address: BrokerAddress) -> None:
    path = runtime_file()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": address.url, "pid": os.getpid()}), encoding="utf-8")
    tmp.replace(path)


def _remove_runtime(address: BrokerAddress) -> None:
    path = runtime_file()
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("url") == address.url and doc.get("pid") == os.getpid():
            path.unlink()


def find_running() -> str | None:
    """The URL of an embedded broker running on this machine (from the runtime file), or ``None``.

    Checks that the process is alive and the port is taken, so a stale file is ignored.
    """
    try:
        doc = json.loads(runtime_file().read_text(encoding="utf-8"))
        url, pid = str(doc["url"]), int(doc["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    # A port we can bind is a port nobody listens on: the file is stale. (A test connection would
    # do too, but amqtt leaks the server side of a connection that never sends CONNECT.)
    if _port_free(int(url.rsplit(":", 1)[1])):
        return None
    return url


@contextlib.asynccontextmanager
async def embedded_broker(port: int | None = None) -> AsyncIterator[EmbeddedBroker]:
    """The broker in this process's event loop."""
    broker = EmbeddedBroker(port)
    async with broker:
        yield broker


async def _spawn(port: int | None, start_timeout_s: float) -> tuple[asyncio.subprocess.Process, str]:
    args = [sys.executable, "-m", "coach.mqtt.embedded_broker", "--watch-stdin"]
    if port is not None:
        args += ["--port", str(port)]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        # Its own session: a Ctrl-C at the terminal goes to the coach, which ends the session and
        # drains its spool through this broker; the broker stops when the coach closes its stdin.
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), start_timeout_s)
    except TimeoutError:
        line = b""
    url = line.decode().strip()
    if not url.startswith("mqtt://"):
        await _end(proc)
        raise OSError(f"the embedded broker did not start (exit status {proc.returncode})")
    return proc, url


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class BrokerSupervisor:
    """Keeps the embedded broker's child process alive: one that dies (killed, crashed) is started
    again on the same port, so the coach and a monitor on this machine reconnect to the same address.
    What the dead broker held in memory is gone; the coach's spool sends again what no monitor
    confirmed (docs/mqtt.md)."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, start_timeout_s: float) -> None:
        self.proc = proc
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.restarts = 0
        self._start_timeout_s = start_timeout_s
        self._task = asyncio.create_task(self._watch(), name="embedded-broker-watch")

    async def _watch(self) -> None:
        while True:
            status = await self.proc.wait()
            log.warning("the embedded broker on %s ended (status %s); starting it again", self.url, status)
            delay_s = 0.1
            while True:
                try:
                    self.proc, _ = await _spawn(self.port, self._start_timeout_s)
                    break
                except OSError as exc:
                    log.warning("restarting the embedded broker failed: %s", exc)
                    await asyncio.sleep(delay_s)
                    delay_s = min(delay_s * 2, 5.0)
            self.restarts += 1

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await _end(self.proc)


@contextlib.asynccontextmanager
async def embedded_broker_supervised(
    port: int | None = None, start_timeout_s: float = 30.0
) -> AsyncIterator[BrokerSupervisor]:
    """The broker in a child process (its own event loop and CPU, so a busy session cannot delay its
    acknowledgements), started again on the same port if it dies. The child stops when this context
    exits, and by itself when the parent dies (it watches its stdin, a pipe from the parent, for end
    of file)."""
    proc, url = await _spawn(port, start_timeout_s)
    supervisor = BrokerSupervisor(proc, url, start_timeout_s)
    try:
        yield supervisor
    finally:
        await supervisor.close()


@contextlib.asynccontextmanager
async def embedded_broker_process(
    port: int | None = None, start_timeout_s: float = 30.0
) -> AsyncIterator[str]:
    """:func:`embedded_broker_supervised`, yielding only the broker's URL."""
    async with embedded_broker_supervised(port, start_timeout_s) as supervisor:
        yield supervisor.url


def main(argv: list[str] | None = None) -> int:
    """Run the embedded broker in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m coach.mqtt.embedded_broker", description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="port (default: first free from 18830)")
    parser.add_argument("--no-runtime-file", action="store_true", help="do not write broker.json")
    parser.add_argument(
        "--watch-stdin",
        action="store_true",
        help="print the URL on stdout, and stop when stdin reaches end of file (the parent went away)",
    )
    args = parser.parse_args(argv)

    async def serve() -> None:
        broker = EmbeddedBroker(args.port, write_runtime_file=not args.no_runtime_file)
        address = await broker.start()
        print(f"embedded broker listening on {address.url}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.watch_stdin:
            print(address.url, flush=True)

            def on_stdin() -> None:
                if not os.read(sys.stdin.fileno(), 4096):
                    loop.remove_reader(sys.stdin.fileno())
                    stop.set()

            loop.add_reader(sys.stdin.fileno(), on_stdin)
        await stop.wait()
        await broker.stop()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
