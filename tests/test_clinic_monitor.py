"""Clinic features over real HTTP (SQLite): remote-monitoring accounting, the FHIR export (model
round trip + the official FHIR R4 JSON schema), the full data export, erasure (SQLite and PostgreSQL)
and the first-run hint."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import jsonschema
import pytest
from fhir.resources.R4B.bundle import Bundle

from coach.events import to_json
from coach.monitor.clinic import audit_chain, rtm
from coach.monitor.clinic.patient_data import erase_patient, patient_tables
from coach.monitor.db import Database, open_database
from coach.monitor.ingest_store import Quarantined, Received, store_batch
from coach.monitor.messages import parse_message
from coach.monitor.server import Monitor, MonitorConfig
from coach.mqtt.topics import PatientTopics
from tests.fixtures.monitor_seed import PASSWORD_ALICE, PASSWORD_BOB, seed_clinic
from tests.fixtures.monitor_services import fresh_postgres_database
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.node_services import fhir_r4_schema


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)


@pytest.fixture
async def monitor(tmp_path: Path) -> AsyncIterator[Monitor]:
    db_url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    db = await open_database(db_url)
    await seed_clinic(db, history_days=40)
    await db.close()
    m = Monitor(MonitorConfig(broker_url="mqtt://127.0.0.1:1", db_url=db_url, port=0, ingest=False))
    await m.start()
    try:
        yield m
    finally:
        await m.stop()


def _db(m: Monitor) -> Database:
    assert m.db is not None
    return m.db


async def _client(base: str, user: str, password: str) -> tuple[aiohttp.ClientSession, str]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{base}/api/login", json={"username": user, "password": password}) as r:
        assert r.status == 200
        csrf = (await r.json())["csrf_token"]
    return http, csrf


def test_codes_follow_the_2026_rtm_thresholds() -> None:
    assert [rtm.device_code(n) for n in (0, 1, 2, 15, 16, 30)] == [
        None,
        None,
        "98985",
        "98985",
        "98977",
        "98977",
    ]
    assert rtm.management_codes(9, True) == []
    assert rtm.management_codes(10, True) == rtm.management_codes(19, True) == ["98979"]
    assert rtm.management_codes(20, True) == rtm.management_codes(39, True) == ["98980"]
    assert rtm.management_codes(65, True) == ["98980", "98981", "98981"]
    assert rtm.management_codes(60, False) == []  # no live exchange that month: no management code


def test_periods_are_consecutive_30_day_windows() -> None:
    start = date(2026, 1, 1)
    days = {start + timedelta(days=i) for i in range(0, 40, 2)}  # every other day for 40 days
    out = rtm.periods(start, days, date(2026, 2, 15))
    assert [(p.start, p.end, p.days_with_data, p.complete) for p in out] == [
        (date(2026, 1, 1), date(2026, 1, 30), 15, True),
        (date(2026, 1, 31), date(2026, 3, 1), 5, False),
    ]
    assert [p.device_code for p in out] == ["98985", "98985"]


async def test_accounting_counts_days_with_therapeutic_data(monitor: Monitor) -> None:
    db = _db(monitor)
    # A session blocked at screening (state events only) transmits no therapeutic data: no day.
    day = date.today() - timedelta(days=4)  # a day the seed left empty (day % 7 == 4)
    start = time.mktime(day.timetuple()) + 10 * 3600
    blocked = [
        {
            "type": "state",
            "t": 0.0,
            "id": "e1",
            "state": "screening",
            "reason": "session_start",
            "wall_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
        },
        {
            "type": "state",
            "t": 1.0,
            "id": "e2",
            "state": "aborted",
            "reason": "screening blocked",
            "wall_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 1)),
        },
    ]
    topic = "coach/v1/p-anna/s-blocked/events"
    await store_batch(db, [Received(parse_message(topic, to_json(e).encode()), time.time()) for e in blocked])
    rows = await db.fetchall(
        "SELECT start_unix_s FROM coach_sessions WHERE patient_id = 'p-anna' AND session_id != 's-blocked'"
    )
    expected = {rtm.local_date(float(r["start_unix_s"])) for r in rows}
    assert day not in expected and len(expected) > 30
    base = monitor.url
    http, csrf = await _client(base, "alice", PASSWORD_ALICE)
    async with http:
        async with http.get(f"{base}/api/patients/p-anna/rtm") as r:
            data = await r.json()
        assert data["monitoring_start"] == min(expected).isoformat() and not data["start_set_explicitly"]
        assert sum(p["days_with_data"] for p in data["periods"]) == len(expected)
        first = data["periods"][0]
        assert first["complete"] and first["days_with_data"] >= 16 and first["device_code"] == "98977"
        # Management time: 12 min with a live exchange -> 98979; 10 more -> 98980.
        headers = {"X-CSRF-Token": csrf}
        today = date.today().isoformat()
        body = {
            "service_date": today,
            "minutes": 12,
            "interactive": True,
            "note": "reviewed stroke technique",
        }
        async with http.post(f"{base}/api/patients/p-anna/rtm/time", json=body, headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["months"][0]["codes"] == ["98979"]
        body = {**body, "minutes": 10, "interactive": False, "note": "adjusted targets"}
        async with http.post(f"{base}/api/patients/p-anna/rtm/time", json=body, headers=headers) as r:
            month = (await r.json())["months"][0]
            assert (month["minutes"], month["interactive"], month["codes"]) == (22, True, ["98980"])
        for bad in ({**body, "minutes": 0}, {**body, "note": " "}, {**body, "service_date": "soon"}):
            async with http.post(f"{base}/api/patients/p-anna/rtm/time", json=bad, headers=headers) as r:
                assert r.status == 400
        async with http.post(
            f"{base}/api/patients/p-anna/rtm/start",
            json={"start_date": min(expected).isoformat()},
            headers=headers,
        ) as r:
            assert (await r.json())["start_set_explicitly"] is True
        # The clinic-wide table as CSV: every patient for an admin.
        month_text = date.today().strftime("%Y-%m")
        async with http.get(f"{base}/api/clinic/rtm.csv?month={month_text}&table=months") as r:
            assert r.headers["Content-Type"].startswith("text/csv")
            table = list(csv.DictReader(io.StringIO(await r.text())))
        assert [t["patient_id"] for t in table] == ["p-anna", "p-ben", "p-carl"]
        assert (
            table[0]["minutes"] == "22" and table[0]["codes"] == "98980" and table[0]["interactive"] == "yes"
        )
        async with http.get(f"{base}/api/clinic/rtm.csv?month={month_text}&table=periods") as r:
            periods = list(csv.DictReader(io.StringIO(await r.text())))
        assert periods and {p["patient_id"] for p in periods} == {"p-anna"}
    bob, _ = await _client(base, "bob", PASSWORD_BOB)
    async with bob:
        async with bob.get(f"{base}/api/patients/p-anna/rtm") as r:
            assert r.status == 403
        async with bob.get(f"{base}/api/clinic/rtm?month={month_text}") as r:
            assert [m["patient_id"] for m in (await r.json())["months"]] == ["p-carl"]


def _validate_r4(doc: dict[str, Any]) -> None:
    schema = fhir_r4_schema()
    validator = jsonschema.Draft6Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]


async def test_fhir_bundle_is_valid_r4_and_pseudonymous(monitor: Monitor) -> None:
    base = monitor.url
    http, _ = await _client(base, "alice", PASSWORD_ALICE)
    async with http, http.get(f"{base}/api/patients/p-anna/fhir") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("application/fhir+json")
        text = await r.text()
    doc = json.loads(text)
    # 1. The model classes accept it, and a round trip through them changes nothing.
    bundle = Bundle.model_validate_json(text)
    assert json.loads(bundle.model_dump_json(exclude_none=True, by_alias=True)) == doc
    # 2. The official FHIR R4 JSON schema accepts it.
    _validate_r4(doc)
    # 3. What is in it.
    kinds: dict[str, list[dict[str, Any]]] = {}
    for entry in doc["entry"]:
        kinds.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
        assert entry["request"]["method"] == "PUT" and entry["fullUrl"].startswith("urn:uuid:")
    sessions = await _db(monitor).fetchall(
        "SELECT session_id FROM coach_sessions WHERE patient_id = 'p-anna' AND summary IS NOT NULL"
    )
    assert len(kinds["Observation"]) == len(sessions) > 20
    (patient,) = kinds["Patient"]
    assert patient["identifier"] == [{"system": "urn:retro-coach:patient-id", "value": "p-anna"}]
    assert "name" not in patient and "Anna" not in text and "Keller" not in text
    assert {d["type"]["coding"][0]["code"] for d in kinds["Device"]} >= {"sensor-treated"}
    obs = kinds["Observation"][0]
    codes = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in obs["component"]}
    assert codes["55411-3"]["code"] == "s" and codes["55411-3"]["system"] == "http://unitsofmeasure.org"
    assert {"strokes-proximal", "strokes-distal", "mean-cadence", "elevated-fraction"} <= set(codes)
    assert codes["elevated-fraction"]["code"] == "%"
    ratings = [q for q in kinds["QuestionnaireResponse"] if q["questionnaire"].endswith("self-report")]
    assert ratings and all(i["answer"][0]["valueInteger"] >= 0 for q in ratings for i in q["item"])
    pain_q = next(q for q in kinds["Questionnaire"] if q["url"].endswith("self-report"))
    assert pain_q["item"][0]["code"][0] == {
        "system": "http://loinc.org",
        "code": "72514-3",
        "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
    }
    (code_system,) = kinds["CodeSystem"]
    defined = {c["code"] for c in code_system["concept"]}
    used = {
        c["code"]
        for o in kinds["Observation"]
        for comp in [o, *o["component"]]
        for c in comp["code"]["coding"]
        if c["system"] == code_system["url"]
    }
    assert used <= defined
    bob, _ = await _client(base, "bob", PASSWORD_BOB)
    async with bob:
        async with bob.get(f"{base}/api/patients/p-anna/fhir") as r:
            assert r.status == 403
        async with bob.get(f"{base}/api/patients/p-anna/export") as r:
            assert r.status == 403


async def test_fhir_device_names_the_model_the_coach_reported(monitor: Monitor) -> None:
    """The coach's status names each sensor's device profile (``sensors.<role>.device``, also in its
    offline status at the end): the FHIR Device carries it instead of "model not reported"."""
    base = monitor.url
    http, _ = await _client(base, "alice", PASSWORD_ALICE)

    async def devices() -> dict[str, str]:
        async with http.get(f"{base}/api/patients/p-anna/fhir") as r:
            assert r.status == 200
            doc = await r.json(content_type=None)
        found = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Device"]
        return {d["type"]["coding"][0]["code"]: d["deviceName"][0]["name"] for d in found}

    async with http:
        assert "model not reported" in (await devices())["sensor-treated"]
        status = {
            "state": "offline",
            "session": "s-device-check",
            "wall_utc": "2026-01-05T09:45:00.000Z",
            "sensors": {
                "treated": {"link": "down", "battery_pct": 80, "device": "witmotion-bwt901"},
                "hand": {"link": "down", "battery_pct": None, "device": "movesense"},
            },
        }
        payload = json.dumps(status).encode()
        await store_batch(
            _db(monitor), [Received(parse_message("coach/v1/p-anna/status", payload), time.time())]
        )
        named = await devices()
    assert named["sensor-treated"] == "witmotion-bwt901" and named["sensor-hand"] == "movesense"


async def test_the_r4_schema_check_catches_a_broken_resource() -> None:
    """The schema check is not a rubber stamp: a wrong element fails it."""
    bad = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": {"resourceType": "Patient", "gender": 3}}],
    }
    with pytest.raises(AssertionError):
        _validate_r4(bad)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_database("coach_clinic_erase") as url:
        yield url


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_export_then_erase_leaves_only_the_audit_trail(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/m.sqlite3" if engine == "sqlite" else request.getfixturevalue("pg_url")
    db = await open_database(url)
    try:
        await seed_clinic(db, history_days=3)
        await rtm.log_time(
            db, "p-anna", "alice", service_date=date.today(), minutes=5, interactive=True, note="call"
        )
        poison = b'{"type": "posture", "t": NaN, "id": "x", "note": "Anna K.", "deep": [[[[[[[[[[1]]]]]]]]]]}'
        await store_batch(  # a quarantined message about p-anna: exported as received, erased with her
            db,
            [],
            quarantined=[
                Quarantined("coach/v1/p-anna/s-1/events", "t: not finite", poison, time.time()),
                Quarantined("coach/v1/p-ben/status", "state: not a name", b"{}", time.time()),
            ],
        )
        from coach.monitor.clinic.patient_data import export_patient

        doc = await export_patient(db, "p-anna")
        assert [q["payload"] for q in doc["tables"]["quarantine"]] == [poison.decode()]
        json.dumps(doc, allow_nan=False)  # the CLI writes it so: the quarantined NaN stays text
        assert doc["tables"]["patients"][0]["display_name"] == "Anna Keller"
        assert doc["tables"]["patients"][0]["enrolment_secret"] == "(held encrypted; not exported)"
        assert len(doc["tables"]["events"]) > 50 and isinstance(doc["tables"]["events"][0]["payload"], dict)
        assert doc["tables"]["rtm_time_entries"][0]["note"] == "call"
        counts = await erase_patient(db, "p-anna", "cli:test")
        assert counts["events"] == len(doc["tables"]["events"])
        for table in await patient_tables(db):
            left = await db.fetchone(f'SELECT COUNT(*) AS n FROM "{table}" WHERE patient_id = ?', ("p-anna",))
            assert left is not None
            assert (int(left["n"]) > 0) == (table == "audit_log"), table
        erased = await db.fetchone("SELECT detail FROM audit_log WHERE action = 'patient_erased'")
        assert erased is not None and json.loads(erased["detail"])["rows"]["events"] == counts["events"]
        assert (await audit_chain.verify(db)).ok
        assert await db.fetchone("SELECT display_name FROM patients WHERE patient_id = 'p-ben'") is not None
        kept = await db.fetchall("SELECT topic FROM quarantine")
        assert kept == [{"topic": "coach/v1/p-ben/status"}]
    finally:
        await db.close()


async def test_first_run_hint_until_a_therapist_exists(tmp_path: Path) -> None:
    m = Monitor(
        MonitorConfig(
            broker_url="mqtt://127.0.0.1:1", db_url=f"sqlite:///{tmp_path}/e.sqlite3", port=0, ingest=False
        )
    )
    await m.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{m.url}/api/clinic/first-run") as r:
                first = await r.json()
            assert first["needs_first_therapist"] and "coach monitor add-therapist" in first["command"]
            from coach.monitor import accounts

            await accounts.create_therapist(_db(m), "alice", "Alice", PASSWORD_ALICE, is_admin=True)
            async with http.get(f"{m.url}/api/clinic/first-run") as r:
                assert (await r.json()) == {"needs_first_therapist": False, "command": None}
    finally:
        await m.stop()


@pytest.mark.mqtt
async def test_erasure_clears_the_patients_retained_messages(mosquitto: MosquittoBroker) -> None:
    """``erase-patient --broker`` leaves nothing of the patient retained on the broker: status, targets,
    the monitor's delivery receipt (it lists the session ids) and each session's summary; another
    patient's stay."""
    from coach.cli.monitor_clinic import _clear_retained

    anna, ben = PatientTopics("p-anna"), PatientTopics("p-ben")
    retained = [anna.status, anna.targets, anna.stored, anna.summary("s-1"), ben.stored]
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="setup") as c:
        for topic in retained:
            await c.publish(topic, b'{"x": 1}', qos=1, retain=True)
    assert await _clear_retained(mosquitto.url, "p-anna", ["s-1"]) == 4

    async def still_retained() -> set[str]:
        seen: set[str] = set()
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="check") as c:
            await c.subscribe("coach/v1/#", qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    async for message in c.messages:
                        if message.payload:
                            seen.add(str(message.topic))
        return seen

    assert await still_retained() == {ben.stored}
