"""No payload stops ingest or breaks a page (issue 11, item 2), on SQLite and on PostgreSQL.

A property test throws generated JSON (valid events with fields replaced by any JSON value: integers
of any size, NaN and Infinity, NUL, control characters and lone surrogates, dates out of range,
oversized strings, nesting) and raw bytes at the real ingest (``Ingest._handle``, what paho's callback
calls, and its real batch writer), then a good event, and asserts that ingest goes on, the good event
is stored, and every page and API route of that patient answers 200. Seeded and bounded: it costs a
few seconds per engine in CI.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from coach.events import to_json
from coach.monitor import accounts
from coach.monitor.db import Database, open_database
from coach.monitor.ingest import Ingest
from coach.monitor.web import MonitorContext, build_app
from coach.mqtt.broker_config import BrokerSettings
from tests.fixtures.event_feed import synthetic_session
from tests.fixtures.monitor_services import fresh_postgres_database

T = TypeVar("T")
PATIENT = "p-fuzz"
PASSWORD = "fuzz-therapist-password-1"
SESSIONS = ("s-f1", "s-f2")
#: One valid event of each type, to mutate.
TEMPLATES: list[dict[str, Any]] = []
for _e in synthetic_session(5, active_s=40.0):
    if _e["type"] not in {t["type"] for t in TEMPLATES}:
        TEMPLATES.append(_e)
TEMPLATES.append(
    {"type": "self_report", "t": 52.0, "id": "session-self_report-1", "pain_0_10": 2, "swelling_0_10": 3}
)
STATUS = {"state": "active", "session": "s-f1", "wall_utc": "2026-11-24T09:30:00Z",
          "sensors": {"treated": {"link": "up", "battery_pct": 80}}, "time_left_s": 300}  # fmt: skip


class Loop:
    """An event loop on its own thread: hypothesis drives the examples synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Rig:
    loop: Loop
    db: Database
    ingest: Ingest
    base: str
    http: aiohttp.ClientSession
    good: int = 0


async def _open(db_url: str) -> tuple[Database, Ingest, web.AppRunner, str, aiohttp.ClientSession, Any]:
    db = await open_database(db_url)
    await accounts.create_therapist(db, "fuzzer", "Fuzz Therapist", PASSWORD)
    await accounts.create_patient(db, PATIENT, "Fuzz Patient")
    await accounts.assign(db, "fuzzer", PATIENT)
    ingest = Ingest(db, BrokerSettings.from_url("mqtt://127.0.0.1:1"), client_id="fuzz", batch_wait_s=0.005)
    writer = asyncio.create_task(ingest._write_loop())
    runner = web.AppRunner(build_app(MonitorContext(db=db, ingest=ingest)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{base}/api/login", json={"username": "fuzzer", "password": PASSWORD}) as r:
        assert r.status == 200
    return db, ingest, runner, base, http, writer


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    loop = Loop()
    with _database_url(request.param, tmp_path_factory.mktemp("fuzz")) as url:
        db, ingest, runner, base, http, writer = loop.run(_open(url))
        try:
            yield Rig(loop, db, ingest, base, http)
        finally:

            async def close() -> None:
                writer.cancel()
                await http.close()
                await runner.cleanup()
                await db.close()

            loop.run(close())
    loop.close()


class _database_url:  # noqa: N801 - used like a function
    def __init__(self, engine: str, folder: Path) -> None:
        self.engine, self.folder = engine, folder
        self._pg: Any = None

    def __enter__(self) -> str:
        if self.engine == "sqlite":
            return f"sqlite:///{self.folder}/monitor.sqlite3"
        self._pg = fresh_postgres_database("coach_monitor_fuzz")
        return str(self._pg.__enter__())

    def __exit__(self, *exc: object) -> None:
        if self._pg is not None:
            self._pg.__exit__(*exc)


# --- generated payloads -------------------------------------------------------------------------

_special_text = st.sampled_from(
    ["", "\x00", "a\x00b", "\ud800", "\x1b[31m", "\u202e", "x" * 5000, "abc", "NaN", "0001-01-01T00:00:00Z",
     "9999-12-31T23:59:59+14:00", "2026-13-45T99:99:99Z", "1e400", "<script>alert(1)</script>"]
)  # fmt: skip
_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**420).map(lambda n: n * (-1 if n % 2 else 1)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.5e308, -1.5e308, 2**53 + 1, -(2**63), 11, -1, 0.5, 1e-320]),
)
_scalars = st.one_of(st.none(), st.booleans(), _numbers, st.text(max_size=40), _special_text)
#: What replaces a field: mostly the values that broke ingest or pages before.
_hostile = st.one_of(_numbers, _special_text, _numbers, _special_text, _scalars)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, bytes]:
    """One hostile message: a valid event, status or command result with fields replaced, or bytes."""
    session = draw(st.sampled_from(SESSIONS))
    kind = draw(st.sampled_from(["event", "event", "summary", "summary", "status", "cmd_result", "bytes"]))
    topic = f"coach/v1/{PATIENT}/{session}/events"
    if kind == "bytes":
        return topic, draw(st.binary(max_size=300))
    if kind == "status":
        doc: dict[str, Any] = dict(STATUS, session=session)
        topic = f"coach/v1/{PATIENT}/status"
    elif kind == "cmd_result":
        doc = {"cmd_id": "cmd-1", "ok": True, "reason": None}
        topic = f"coach/v1/{PATIENT}/cmd_result"
    else:
        doc = dict(draw(st.sampled_from(TEMPLATES)))
        if kind == "summary":
            doc = dict(next(t for t in TEMPLATES if t["type"] == "summary"))
            topic = f"coach/v1/{PATIENT}/{session}/summary"
        doc["id"] = f"{doc['id']}-{draw(st.integers(0, 5))}"
    for key in draw(st.lists(st.sampled_from([*doc, "extra"]), min_size=1, max_size=3)):
        action = draw(st.sampled_from(["hostile", "hostile", "hostile", "json", "drop"]))
        if action == "drop" and key != "extra":
            doc.pop(key, None)
        else:
            doc[key] = draw(_hostile if action == "hostile" else _json)
    text = json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans()))
    return topic, text.encode("utf-8", "surrogatepass")


# --- the property -------------------------------------------------------------------------------


async def _feed_and_check(r: Rig, batch: list[tuple[str, bytes]]) -> None:
    r.good += 1
    for topic, payload in batch:
        r.ingest._handle(topic, payload, 0, 1, None)
    good = {"type": "cue", "t": 1.0, "id": f"good-{r.good}", "code": "check", "message": "still here"}
    r.ingest._handle(f"coach/v1/{PATIENT}/s-f1/events", to_json(good).encode(), 0, 1, None)
    deadline = time.monotonic() + 20
    while await r.db.fetchone("SELECT 1 AS ok FROM events WHERE event_id = ?", (good["id"],)) is None:
        assert time.monotonic() < deadline, "ingest stopped: the good event after the fuzz was not stored"
        await asyncio.sleep(0.01)
    sessions = [row["session_id"] for row in await r.db.fetchall(
        "SELECT session_id FROM coach_sessions WHERE patient_id = ?", (PATIENT,))]  # fmt: skip
    paths = ["/", f"/patient/{PATIENT}", "/api/patients", f"/api/patients/{PATIENT}",
             f"/api/patients/{PATIENT}/commands", "/api/me"]  # fmt: skip
    for s in sessions:
        paths += [
            f"/api/patients/{PATIENT}/sessions/{s}",
            f"/report/{PATIENT}/{s}",
            f"/patient/{PATIENT}/session/{s}",
        ]
    for path in paths:
        async with r.http.get(r.base + path) as response:
            body = await response.read()
            assert response.status == 200, (path, response.status, body[:300])
            if path.startswith("/api/"):
                json.loads(body)  # strict JSON: no NaN slipped through


def _summary(**over: Any) -> bytes:
    doc = dict(next(t for t in TEMPLATES if t["type"] == "summary"), **over)
    return json.dumps(doc, allow_nan=True).encode()


_EVENTS = f"coach/v1/{PATIENT}/s-f1/events"
#: The payloads of the issue, always tried first.
KNOWN = [
    (_EVENTS, b'{"type":"cadence","t":1,"id":"cadence-x","strokes_per_min":' + b"9" * 401 + b"}"),
    (_EVENTS, b'{"type":"cue","t":1,"id":"cue-\\u0000","code":"x","message":"m"}'),
    (_EVENTS, _summary(id="summary-abc", swelling_0_10="abc")),
    (f"coach/v1/{PATIENT}/s-f2/events", _summary(id="summary-y1", wall_utc="0001-01-01T00:00:00Z")),
    (_EVENTS, _summary(id="summary-big1", duration_s=1.5e308)),
    (f"coach/v1/{PATIENT}/s-f2/events", _summary(id="summary-big2", duration_s=1.5e308)),
]


@seed(20261124)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@example(batch=KNOWN)
@given(batch=st.lists(messages(), min_size=1, max_size=6))
def test_no_payload_stops_ingest_or_breaks_a_page(rig: Rig, batch: list[tuple[str, bytes]]) -> None:
    rig.loop.run(_feed_and_check(rig, batch))
    assert rig.ingest.stats.db_errors == 0 or rig.ingest.stats.batches > 0
