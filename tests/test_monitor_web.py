"""The monitor's web server over real HTTP: login, access control, CSRF, audit, history, signed targets."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import aiomqtt
import pytest

from coach.events import JsonObject
from coach.monitor.db import Database, open_database
from coach.monitor.server import Monitor, MonitorConfig
from coach.mqtt.commands import parse_command, parse_targets
from tests.fixtures.event_feed import FeedPublisher, synthetic_session
from tests.fixtures.monitor_seed import PASSWORD_ALICE, PASSWORD_BOB, Clinic, seed_clinic
from tests.fixtures.monitor_services import fresh_postgres_database
from tests.fixtures.mosquitto import MosquittoBroker, make_test_pki


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The monitor's data folder (its secret key file) in the test's own folder, never the home."""
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)


@dataclass
class Running:
    monitor: Monitor
    clinic: Clinic
    url: str

    @property
    def db(self) -> Database:
        assert self.monitor.db is not None
        return self.monitor.db


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


async def _start(db_url: str, broker_url: str, **kwargs: object) -> tuple[Monitor, Clinic]:
    db = await open_database(db_url)
    try:
        clinic = await seed_clinic(db)
    finally:
        await db.close()
    cfg = MonitorConfig(broker_url=broker_url, db_url=db_url, port=0, **kwargs)  # type: ignore[arg-type]
    monitor = Monitor(cfg)
    await monitor.start()
    return monitor, clinic


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def running(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: MosquittoBroker
) -> AsyncIterator[Running]:
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    else:
        db_url = request.getfixturevalue("pg_url")
        db = await open_database(db_url)
        async with db.transaction() as tx:
            await tx.script(
                "TRUNCATE events, coach_sessions, statuses, cmd_results, commands, targets, audit_log,"
                " web_sessions, assignments, patients, therapists, login_attempts, quarantine, secret_key"
            )
        await db.close()
    monitor, clinic = await _start(db_url, mosquitto.url)
    try:
        yield Running(monitor, clinic, monitor.url)
    finally:
        await monitor.stop()


def _client() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for an IP-address host (127.0.0.1), as a browser does.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _login(http: aiohttp.ClientSession, base: str, user: str, password: str) -> dict[str, object]:
    async with http.post(f"{base}/api/login", json={"username": user, "password": password}) as r:
        assert r.status == 200, await r.text()
        body: dict[str, object] = await r.json()
        return body


async def test_everything_needs_a_login(running: Running) -> None:
    async with _client() as http:
        for path in (
            "/api/patients",
            "/api/patients/p-anna",
            "/api/me",
            "/api/stream/overview",
            "/api/audit",
        ):
            async with http.get(running.url + path) as r:
                assert r.status == 401, path
        async with http.post(f"{running.url}/api/patients/p-anna/targets", json={}) as r:
            assert r.status == 401
        async with http.get(f"{running.url}/patient/p-anna", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"].startswith("/login")
        async with http.get(
            f"{running.url}/report/p-anna/{running.clinic.history_sessions[0]}", allow_redirects=False
        ) as r:
            assert r.status == 302
        async with http.get(f"{running.url}/login") as r:
            assert r.status == 200
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]
            assert r.headers["X-Frame-Options"] == "DENY"


async def test_login_cookie_and_wrong_password(running: Running) -> None:
    async with _client() as http:
        async with http.post(
            f"{running.url}/api/login", json={"username": "alice", "password": "nope-nope-nope"}
        ) as r:
            assert r.status == 401
        async with http.post(
            f"{running.url}/api/login", json={"username": "alice", "password": PASSWORD_ALICE}
        ) as r:
            assert r.status == 200
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert PASSWORD_ALICE not in cookie
        async with http.get(f"{running.url}/api/me") as r:
            assert (await r.json())["username"] == "alice"
        me = await _login(http, running.url, "alice", PASSWORD_ALICE)
        async with http.post(
            f"{running.url}/api/logout", headers={"X-CSRF-Token": str(me["csrf_token"])}
        ) as r:
            assert r.status == 200
        async with http.get(f"{running.url}/api/me") as r:
            assert r.status == 401
    stored = await running.db.fetchall("SELECT password_hash FROM therapists")
    assert all(row["password_hash"].startswith("$argon2id$") for row in stored)


async def test_therapists_see_only_their_patients(running: Running) -> None:
    other_session = "s-carl-1"
    async with _client() as http:
        await _login(http, running.url, "alice", PASSWORD_ALICE)
        async with http.get(f"{running.url}/api/patients") as r:
            ids = sorted(c["patient_id"] for c in (await r.json())["patients"])
        assert ids == ["p-anna", "p-ben"]
        for path in (
            "/api/patients/p-carl",
            f"/api/patients/p-carl/sessions/{other_session}",
            "/api/patients/p-carl/commands",
            "/api/patients/p-nobody",
            "/api/patients/..%2Fp-carl",
            f"/api/stream/patients/p-carl/sessions/{other_session}",
        ):
            async with http.get(running.url + path) as r:
                assert r.status in (403, 404), path
                assert r.status == 403 or "p-carl" not in path
        async with http.get(f"{running.url}/report/p-carl/{other_session}") as r:
            assert r.status == 403
        async with http.get(f"{running.url}/patient/p-carl") as r:
            assert r.status == 403 and "not assigned to you" in await r.text()
        async with http.get(f"{running.url}/api/patients/p-anna") as r:
            assert r.status == 200
    async with _client() as http:
        await _login(http, running.url, "bob", PASSWORD_BOB)
        async with http.get(f"{running.url}/api/patients") as r:
            assert [c["patient_id"] for c in (await r.json())["patients"]] == ["p-carl"]
        async with http.get(f"{running.url}/api/patients/p-anna") as r:
            assert r.status == 403
        async with http.get(f"{running.url}/api/audit") as r:
            assert r.status == 403  # bob is no administrator
    audit = await running.db.fetchall("SELECT actor, action, patient_id FROM audit_log ORDER BY id")
    entries = {(a["actor"], a["action"], a["patient_id"]) for a in audit}
    assert ("alice", "denied", "p-carl") in entries
    assert ("alice", "view_patient", "p-anna") in entries
    assert ("bob", "denied", "p-anna") in entries
    assert not any(
        a["actor"] == "alice" and a["action"] == "view_patient" and a["patient_id"] == "p-carl" for a in audit
    )


async def test_state_changes_need_the_csrf_token(running: Running) -> None:
    async with _client() as http:
        me = await _login(http, running.url, "alice", PASSWORD_ALICE)
        body = {"target_duration_s": 600}
        async with http.post(f"{running.url}/api/patients/p-anna/targets", json=body) as r:
            assert r.status == 403 and "CSRF" in (await r.json())["error"]
        async with http.post(
            f"{running.url}/api/patients/p-anna/targets", json=body, headers={"X-CSRF-Token": "forged"}
        ) as r:
            assert r.status == 403
        async with http.post(f"{running.url}/api/logout") as r:
            assert r.status == 403  # even logging out needs the token
        async with http.post(
            f"{running.url}/api/login",
            json={"username": "alice", "password": PASSWORD_ALICE},
            headers={"Origin": "https://evil.example"},
        ) as r:
            assert r.status == 403
        assert me["csrf_token"]
    assert await running.db.fetchone("SELECT * FROM targets") is None


async def test_login_is_rate_limited(running: Running) -> None:
    async with _client() as http:
        for _ in range(5):
            async with http.post(
                f"{running.url}/api/login", json={"username": "bob", "password": "guess-guess"}
            ) as r:
                assert r.status == 401
        async with http.post(
            f"{running.url}/api/login", json={"username": "bob", "password": PASSWORD_BOB}
        ) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        await _login(http, running.url, "alice", PASSWORD_ALICE)  # another user is not locked out
    throttled = await running.db.fetchall("SELECT actor FROM audit_log WHERE action = 'login_throttled'")
    assert [t["actor"] for t in throttled] == ["bob"]


async def test_the_login_limit_is_shared_by_two_instances(running: Running, tmp_path: Path) -> None:
    """Behind a load balancer: failures counted on either instance lock the name on both."""
    db_url = running.monitor.cfg.db_url
    second = Monitor(MonitorConfig(broker_url="mqtt://127.0.0.1:1", db_url=db_url, port=0, ingest=False))
    await second.start()
    try:
        async with _client() as http:
            for k in range(5):  # alternate between the two instances
                base = running.url if k % 2 else second.url
                async with http.post(
                    f"{base}/api/login", json={"username": "bob", "password": "guess-guess"}
                ) as r:
                    assert r.status == 401
            for base in (running.url, second.url):
                async with http.post(
                    f"{base}/api/login", json={"username": "bob", "password": PASSWORD_BOB}
                ) as r:
                    assert r.status == 429, base
    finally:
        await second.stop()


async def test_idle_sessions_expire(running: Running) -> None:
    async with _client() as http:
        await _login(http, running.url, "alice", PASSWORD_ALICE)
        async with http.get(f"{running.url}/api/patients") as r:
            assert r.status == 200
        await running.db.execute("UPDATE web_sessions SET last_seen_unix_s = ?", (time.time() - 3600.0,))
        async with http.get(f"{running.url}/api/patients") as r:
            assert r.status == 401
    assert await running.db.fetchone("SELECT * FROM web_sessions") is None


async def test_history_adherence_and_report(running: Running) -> None:
    async with _client() as http:
        await _login(http, running.url, "alice", PASSWORD_ALICE)
        async with http.get(f"{running.url}/api/patients/p-anna") as r:
            data = await r.json()
        assert data["display_name"] == "Anna Keller" and data["sessions_per_day"] == 2
        assert len(data["calendar"]) == 56
        by_day: dict[str, int] = {}
        for s in data["sessions"]:
            by_day[s["date"]] = by_day.get(s["date"], 0) + 1
        cal = {c["date"]: c["sessions"] for c in data["calendar"]}
        assert all(cal[d] == n for d, n in by_day.items() if d in cal)
        assert sum(cal.values()) == len(running.clinic.history_sessions)
        assert any(c["sessions"] == 0 for c in data["calendar"][-14:-1])  # the seeded missed days
        assert sum(w["sessions"] for w in data["weeks"]) == len(running.clinic.history_sessions)
        assert all(0 <= w["elevated_fraction"] <= 1 for w in data["weeks"])
        swell = [r["swelling"] for r in data["self_reports"]]
        assert swell and swell[0] > swell[-1]  # improving: no specialist alert
        codes = {a["code"] for a in data["live"]["alerts"]}
        assert "swelling_not_improving" not in codes and "missed_sessions" not in codes
        sid = running.clinic.history_sessions[-1]
        async with http.get(f"{running.url}/api/patients/p-anna/sessions/{sid}") as r:
            detail = await r.json()
        assert detail["summary"]["strokes_total"] == len(detail["strokes"])
        assert len(detail["posture"]) > 100 and detail["states"][-1]["state"] == "finished"
        async with http.get(f"{running.url}/report/p-anna/{sid}") as r:
            page = await r.text()
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        assert "Anna Keller" in page and '<script type="application/json" id="report-data">' in page
        assert "</script><script>alert" not in page
    views = await running.db.fetchall(
        "SELECT action FROM audit_log WHERE actor = 'alice' AND patient_id = 'p-anna'"
    )
    assert {"view_patient", "view_session", "view_report"} <= {v["action"] for v in views}


@pytest.mark.mqtt
async def test_targets_and_commands_are_signed_and_their_results_shown(
    running: Running, mosquitto: MosquittoBroker
) -> None:
    assert running.monitor.ingest is not None
    await asyncio.wait_for(running.monitor.ingest.connected.wait(), 10)
    secret = running.clinic.secrets["p-anna"]
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as coach:  # plays the patient's coach
        await coach.subscribe("coach/v1/p-anna/#", qos=1)
        async with _client() as http:
            me = await _login(http, running.url, "alice", PASSWORD_ALICE)
            csrf = {"X-CSRF-Token": str(me["csrf_token"])}
            body = {
                "target_duration_s": 660,
                "min_spm": 12,
                "max_spm": 24,
                "wrist_flexion_deg": 20,
                "sessions_per_day": 3,
            }
            async with http.post(f"{running.url}/api/patients/p-anna/targets", json=body, headers=csrf) as r:
                assert r.status == 200, await r.text()
                sent = await r.json()
            assert [c["cmd"] for c in sent["commands"]] == [
                "set_target_duration",
                "set_cadence_range",
                "set_thresholds",
            ]
            got: dict[str, list[bytes]] = {}
            async with asyncio.timeout(10):
                async for msg in coach.messages:
                    got.setdefault(str(msg.topic), []).append(bytes(msg.payload))
                    if len(got.get("coach/v1/p-anna/cmd", [])) == 3 and "coach/v1/p-anna/targets" in got:
                        break
            targets = parse_targets(got["coach/v1/p-anna/targets"][0], secret)  # verifies the signature
            assert (
                targets.target_duration_s == 660
                and targets.cadence_spm == (12.0, 24.0)
                and targets.by == "alice"
            )
            commands = [parse_command(p, secret, session="s-any") for p in got["coach/v1/p-anna/cmd"]]
            assert {c.session for c in commands} == {"next"}  # settings: for whichever session runs next
            assert {c.cmd for c in commands} == {"set_target_duration", "set_cadence_range", "set_thresholds"}
            with pytest.raises(Exception, match="signature"):
                parse_command(got["coach/v1/p-anna/cmd"][0], running.clinic.secrets["p-ben"], session="s-any")
            # The coach answers; the monitor shows the results.
            await coach.publish(
                "coach/v1/p-anna/cmd_result",
                json.dumps({"cmd_id": commands[0].id, "ok": True, "reason": None}),
                qos=1,
            )
            await coach.publish(
                "coach/v1/p-anna/cmd_result",
                json.dumps({"cmd_id": commands[1].id, "ok": False, "reason": "session running"}),
                qos=1,
            )
            results: dict[str, object] = {}
            for _ in range(100):
                async with http.get(f"{running.url}/api/patients/p-anna/commands") as r:
                    results = {c["cmd_id"]: (c["ok"], c["reason"]) for c in (await r.json())["commands"]}
                if results.get(commands[1].id) != (None, None):
                    break
                await asyncio.sleep(0.05)
            assert results[commands[0].id] == (True, None)
            assert results[commands[1].id] == (False, "session running")
            assert results[commands[2].id] == (None, None)
            bad = {"target_duration_s": 5}
            async with http.post(f"{running.url}/api/patients/p-anna/targets", json=bad, headers=csrf) as r:
                assert r.status == 400 and "target_duration_s" in (await r.json())["error"]
            async with http.post(f"{running.url}/api/patients/p-carl/targets", json=body, headers=csrf) as r:
                assert r.status == 403
    row = await running.db.fetchone("SELECT sessions_per_day FROM patients WHERE patient_id = 'p-anna'")
    assert row == {"sessions_per_day": 3}
    async with _client() as http:  # two sessions a day no longer meet the new dose of three
        await _login(http, running.url, "alice", PASSWORD_ALICE)
        async with http.get(f"{running.url}/api/patients/p-anna") as r:
            codes = {a["code"] for a in (await r.json())["live"]["alerts"]}
    assert "missed_sessions" in codes


@pytest.mark.mqtt
async def test_live_overview_streams_a_new_session(running: Running, mosquitto: MosquittoBroker) -> None:
    assert running.monitor.ingest is not None
    await asyncio.wait_for(running.monitor.ingest.connected.wait(), 10)
    events = synthetic_session(11, active_s=60.0)
    async with _client() as http:
        await _login(http, running.url, "alice", PASSWORD_ALICE)
        async with http.get(f"{running.url}/api/stream/overview") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")

            async def next_overview() -> JsonObject:
                data = b""
                async for line in stream.content:
                    if line.startswith(b"data: "):
                        data = line[6:]
                    elif line == b"\n" and data:
                        parsed: JsonObject = json.loads(data)
                        return parsed
                raise AssertionError("stream ended")

            first = await asyncio.wait_for(next_overview(), 20)
            ben = next(c for c in first["patients"] if c["patient_id"] == "p-ben")
            assert ben["session"] is None
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as coach:
                feed = FeedPublisher(coach, "p-ben", "s-live", events)
                await feed.publish_status("active", battery_pct=55.0, link="down")
                for event in events[:40]:
                    await feed.publish_event(event)
                while True:
                    update = await asyncio.wait_for(next_overview(), 20)  # a hang, not a speed check
                    ben = next(c for c in update["patients"] if c["patient_id"] == "p-ben")
                    if ben["session"] and ben["session"]["t_s"] == events[39]["t"]:
                        break
    assert ben["session"]["session_id"] == "s-live"
    assert ben["status"]["sensors"]["treated"] == {"link": "down", "battery_pct": 55.0}
    codes = {a["code"] for a in ben["alerts"]}
    assert "sensor_lost" in codes


@pytest.mark.slow
async def test_https_and_pdf_export(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    pki = make_test_pki(tmp_path / "pki")
    monitor, clinic = await _start(
        f"sqlite:///{tmp_path}/m.sqlite3", mosquitto.url, tls_cert=pki.server_cert, tls_key=pki.server_key
    )
    try:
        assert monitor.url.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(ssl=ctx)
        ) as http:
            async with http.post(
                f"{monitor.url}/api/login", json={"username": "alice", "password": PASSWORD_ALICE}
            ) as r:
                assert r.status == 200
                assert "Secure" in r.headers["Set-Cookie"]
                assert r.headers["Strict-Transport-Security"].startswith("max-age=")
            sid = clinic.history_sessions[-1]
            async with http.get(f"{monitor.url}/report/p-anna/{sid}/export.pdf") as r:
                assert r.status == 200, await r.text()
                pdf = await r.read()
            assert pdf.startswith(b"%PDF-") and len(pdf) > 5000
            async with http.get(f"{monitor.url}/report/p-anna/{sid}/export.png") as r:
                png = await r.read()
            assert png.startswith(b"\x89PNG")
        with pytest.raises(aiohttp.ClientError):  # plain HTTP is not served on the TLS port
            async with (
                aiohttp.ClientSession() as plain,
                plain.get(monitor.url.replace("https", "http") + "/login"),
            ):
                pass
    finally:
        await monitor.stop()
