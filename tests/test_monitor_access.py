"""Access done right (issue 11, item 4): live streams end with the assignment, login limits hold under
concurrency without letting strangers lock a therapist out, private files, session-bound commands."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from coach.events import to_json
from coach.monitor import accounts
from coach.monitor.clinic.oidc import safe_next
from coach.monitor.db import open_database
from coach.monitor.ingest_store import Received, store_batch
from coach.monitor.messages import parse_message
from coach.monitor.report import export_report
from coach.monitor.server import Monitor, MonitorConfig
from coach.mqtt.commands import CommandError, parse_command
from tests.fixtures.event_feed import synthetic_session
from tests.fixtures.monitor_seed import PASSWORD_ALICE, seed_clinic
from tests.fixtures.mosquitto import MosquittoBroker


@pytest.fixture
async def monitor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Monitor]:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "data"))
    db_url = f"sqlite:///{tmp_path}/data/monitor.sqlite3"
    db = await open_database(db_url)
    await seed_clinic(db, history_days=2)
    await db.close()
    m = Monitor(MonitorConfig(broker_url="mqtt://127.0.0.1:1", db_url=db_url, port=0, ingest=False))
    await m.start()
    yield m
    await m.stop()


def _received(topic: str, events: list[dict[str, object]]) -> list[Received]:
    return [Received(parse_message(topic, to_json(e).encode()), time.time()) for e in events]


def _client(local: str = "127.0.0.1") -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(local, 0), force_close=True)
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector)


async def _login(http: aiohttp.ClientSession, base: str, user: str, password: str) -> int:
    async with http.post(f"{base}/api/login", json={"username": user, "password": password}) as r:
        return r.status


async def test_a_live_stream_ends_when_the_assignment_ends(monitor: Monitor) -> None:
    assert monitor.db is not None
    sid = "s-live"
    events = synthetic_session(7, active_s=30.0)
    await store_batch(monitor.db, _received(f"coach/v1/p-anna/{sid}/events", events[:40]))
    async with _client() as http:
        assert await _login(http, monitor.url, "alice", PASSWORD_ALICE) == 200
        url = f"{monitor.url}/api/stream/patients/p-anna/sessions/{sid}"
        async with http.get(url) as stream:
            assert stream.status == 200
            first = await stream.content.readuntil(b"\n\n")
            assert first.startswith(b"event: session")
            await accounts.assign(monitor.db, "alice", "p-anna", remove=True)
            unassigned = time.monotonic()
            rest = b""
            async with asyncio.timeout(5):
                async for chunk in stream.content.iter_any():
                    rest += chunk
            ended_after_s = time.monotonic() - unassigned
    assert b"event: forbidden" in rest and ended_after_s < 3.0
    assert b'"posture"' not in rest  # no patient data after the assignment ended


async def test_concurrent_logins_cannot_bypass_the_limits(monitor: Monitor) -> None:
    async with _client() as http:
        statuses = await asyncio.gather(
            *(_login(http, monitor.url, "bob", f"wrong-password-{k}") for k in range(60))
        )
        assert statuses.count(401) == 5 and statuses.count(429) == 55  # 5 checked per name and address
    async with _client("127.0.0.3") as http:
        statuses = await asyncio.gather(
            *(_login(http, monitor.url, f"nobody{k}", "wrong-password-x") for k in range(40))
        )
        assert statuses.count(401) == 20 and statuses.count(429) == 20  # 20 checked per address


async def test_strangers_cannot_lock_a_therapist_out(monitor: Monitor) -> None:
    async with _client("127.0.0.4") as stranger:
        statuses = [await _login(stranger, monitor.url, "alice", f"guess-{k}-guess") for k in range(8)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    async with _client("127.0.0.1") as alice:  # alice, from her own address, signs in at once
        assert await _login(alice, monitor.url, "alice", PASSWORD_ALICE) == 200


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_files_are_private(monitor: Monitor, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _mode(data) == 0o700
    files = sorted(data.glob("monitor.sqlite3*"))
    assert {f.name for f in files} >= {"monitor.sqlite3", "monitor.sqlite3-wal", "monitor.sqlite3-shm"}
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


async def test_report_export_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for Chromium records the modes of the files the export writes for it."""
    seen = tmp_path / "seen.json"
    fake = tmp_path / "chromium"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, stat, sys\n"
        "page = sys.argv[-1].removeprefix('file://')\n"
        "out = next(a.split('=', 1)[1] for a in sys.argv if a.startswith('--print-to-pdf='))\n"
        "open(out, 'wb').write(b'%PDF-1.4 stand-in')\n"
        f"json.dump({{'page': stat.S_IMODE(os.stat(page).st_mode), 'folder': "
        f"stat.S_IMODE(os.stat(os.path.dirname(page)).st_mode)}}, open({str(seen)!r}, 'w'))\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setenv("COACH_CHROMIUM", str(fake))
    data: dict[str, Any] = {
        "patient_id": "p-1", "session_id": "s-1", "display_name": "x", "summary": None, "posture": [],
        "cadence": [], "strokes": [], "states": [], "cues": [],
    }  # fmt: skip
    assert (await export_report(data, "pdf")).startswith(b"%PDF")
    assert json.loads(seen.read_text()) == {"page": 0o600, "folder": 0o700}


@pytest.mark.mqtt
async def test_commands_are_bound_to_the_running_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mosquitto: MosquittoBroker
) -> None:
    """pause/resume/stop go to the session the therapist sees running, valid for 5 minutes; without a
    running session there is nothing to bind them to (409)."""
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "data"))
    db_url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    db = await open_database(db_url)
    clinic = await seed_clinic(db, history_days=2)
    await db.close()
    m = Monitor(MonitorConfig(broker_url=mosquitto.url, db_url=db_url, port=0))
    await m.start()
    try:
        assert m.ingest is not None and m.db is not None
        await asyncio.wait_for(m.ingest.connected.wait(), 10)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="coach-p-anna") as coach:
            await coach.subscribe("coach/v1/p-anna/cmd", qos=1)
            async with _client() as http:
                assert await _login(http, m.url, "alice", PASSWORD_ALICE) == 200
                async with http.get(f"{m.url}/api/me") as r:
                    csrf = {"X-CSRF-Token": (await r.json())["csrf_token"]}
                base = f"{m.url}/api/patients/p-anna/commands"
                async with http.post(base, json={"cmd": "pause"}, headers=csrf) as r:
                    assert r.status == 409  # the history's sessions are all over
                running = synthetic_session(9, active_s=30.0)[:30]
                await store_batch(m.db, _received("coach/v1/p-anna/s-now/events", running))
                async with http.post(base, json={"cmd": "pause"}, headers=csrf) as r:
                    assert r.status == 200, await r.text()
                    assert (await r.json())["session"] == "s-now"
            async with asyncio.timeout(10):
                message = await anext(aiter(coach.messages))
        payload = bytes(message.payload)
    finally:
        await m.stop()
    command = parse_command(payload, clinic.secrets["p-anna"], session="s-now")
    assert command.expires is not None and 299 <= (command.expires - command.issued).total_seconds() <= 300
    with pytest.raises(CommandError, match="wrong session"):
        parse_command(payload, clinic.secrets["p-anna"], session="s-later")


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/patient/p-anna", "/patient/p-anna"),
        ("/patient/p-anna/session/s-1?x=1#live", "/patient/p-anna/session/s-1?x=1#live"),
        ("/%5Cevil.example/", "/%5Cevil.example/"),  # a path on this site (the browser keeps %5C)
        ("/\\evil.example/", "/"),  # a browser reads "\\" as "/": another site
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\tevil", "/"),
        (None, "/"),
    ],
)
def test_clinic_sign_in_returns_only_to_this_site(asked: str | None, goes_to: str) -> None:
    """The clinic sign-in (OpenID Connect) keeps the same rule for ``next=`` as the login page."""
    assert safe_next(asked) == goes_to
