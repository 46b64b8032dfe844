"""``coach monitor``: admin subcommands and the server as a real process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.mosquitto import MosquittoBroker, free_port


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The monitor's data folder (its secret key file) in the test's own folder, never the home."""
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)


def _coach(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coach", "monitor", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_admin_commands_create_accounts_and_show_secrets_once(tmp_path: Path) -> None:
    db = f"--db=sqlite:///{tmp_path}/m.sqlite3"
    done = _coach(
        db, "add-therapist", "alice", "--name", "Alice Moreau", "--password-stdin", stdin="long-enough-pw\n"
    )
    assert done.returncode == 0, done.stderr
    short = _coach(db, "add-therapist", "bob", "--name", "Bob", "--password-stdin", stdin="short\n")
    assert (
        short.returncode == 2 and "at least 10 characters" in short.stderr and "Traceback" not in short.stderr
    )
    added = _coach(db, "add-patient", "p-0042", "--name", "Zoë Example", "--sessions-per-day", "2")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert secret not in added.stderr
    again = _coach(db, "add-patient", "p-0042", "--name", "Other")
    assert again.returncode == 2 and "exists already" in again.stderr
    bad = _coach(db, "add-patient", "Zoë Example", "--name", "x")
    assert bad.returncode == 2 and "patient id" in bad.stderr
    secret_file = tmp_path / "p-0043.secret"
    filed = _coach(db, "add-patient", "p-0043", "--name", "Sam", "--secret-file", str(secret_file))
    assert filed.returncode == 0 and filed.stdout == ""
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600 and len(secret_file.read_text().strip()) == 64
    assert _coach(db, "assign", "alice", "p-0042").returncode == 0
    missing = _coach(db, "assign", "nobody", "p-0042")
    assert missing.returncode == 2 and "no therapist" in missing.stderr
    listed = _coach(db, "list")
    assert "alice" in listed.stdout and "p-0042" in listed.stdout and "Zoë Example" in listed.stdout
    assert secret not in listed.stdout
    rotated = _coach(db, "new-secret", "p-0042")
    assert rotated.returncode == 0 and rotated.stdout.strip() != secret


@pytest.mark.mqtt
def test_the_server_runs_as_a_process_and_stops_on_sigterm(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    port = free_port()
    env = {**os.environ, "COACH_DATA_DIR": str(tmp_path / "data"), "COACH_RUNTIME_DIR": str(tmp_path / "run")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coach",
            "monitor",
            "--broker",
            mosquitto.url,
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        health: dict[str, object] = {}
        for _ in range(100):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                health = json.load(r)
            if health["ingest"] and health["ingest"]["connected"]:  # type: ignore[index]
                break
            time.sleep(0.05)
        assert health["ingest"]["connected"] is True  # type: ignore[index]
        assert (tmp_path / "data" / "monitor.sqlite3").exists()  # the default database location
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/patients", timeout=5)
        assert info.value.code == 401
        info.value.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            err = proc.stderr.read()
            proc.stderr.close()
            assert "Traceback" not in err


def test_the_default_broker_is_the_embedded_one_a_coach_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json as _json
    import socket

    from coach.monitor.broker import DEFAULT_BROKER_URL, default_broker_url

    monkeypatch.setenv("COACH_RUNTIME_DIR", str(tmp_path / "run"))
    assert default_broker_url() == DEFAULT_BROKER_URL  # no runtime file
    with socket.socket() as listener:  # stands in for the embedded broker's port, taken while it runs
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        (tmp_path / "run").mkdir(exist_ok=True)
        (tmp_path / "run" / "broker.json").write_text(
            _json.dumps({"url": f"mqtt://127.0.0.1:{port}", "pid": os.getpid()})
        )
        assert default_broker_url() == f"mqtt://127.0.0.1:{port}"
    assert default_broker_url() == DEFAULT_BROKER_URL  # a stale file (nobody listens) is ignored


@pytest.mark.mqtt
async def test_a_monitor_started_before_the_coach_says_so_and_moves_to_its_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from coach.monitor import broker as broker_module
    from coach.monitor import server as server_module
    from coach.monitor.server import Monitor, MonitorConfig
    from coach.monitor.web import MonitorContext, link_info
    from coach.mqtt.embedded_broker import embedded_broker_supervised
    from tests.fixtures.mosquitto import free_port

    monkeypatch.setenv("COACH_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "data"))
    fallback = f"mqtt://127.0.0.1:{free_port()}"  # the default 1883 may be another broker on this machine
    monkeypatch.setattr(broker_module, "DEFAULT_BROKER_URL", fallback)
    monkeypatch.setattr(server_module, "DEFAULT_BROKER_URL", fallback)
    monitor = Monitor(MonitorConfig(broker_url=None, db_url=f"sqlite:///{tmp_path}/m.sqlite3", port=0))
    await monitor.start()
    try:
        line = monitor.broker_line()
        assert "no coach on this machine runs an embedded broker yet" in line and fallback in line
        async with embedded_broker_supervised() as broker:  # the coach starts, with its broker
            assert monitor.ingest is not None
            await asyncio.wait_for(monitor.ingest.connected.wait(), 30)
            assert monitor.db is not None
            info = link_info(MonitorContext(db=monitor.db, ingest=monitor.ingest))
            assert info["broker"] == broker.url and info["connected"]
            assert "the embedded broker of a coach on this machine" in monitor.broker_line()
    finally:
        await monitor.stop()
