"""The payloads of issue 11 over a real Mosquitto: each is acknowledged, logged once with its topic and
reason, kept in the quarantine (``coach monitor quarantine`` lists it), never delivered again; the
connection stays up and the next good event is stored."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from coach.monitor.db import open_database
from coach.monitor.quarantine import entries
from tests.fixtures.delivery import monitor_ingest, wait_for
from tests.fixtures.mosquitto import MosquittoBroker
from tests.test_monitor_fuzz import KNOWN

pytestmark = pytest.mark.mqtt
REPO = Path(__file__).resolve().parents[1]


async def test_poison_is_quarantined_once_and_ingest_goes_on(
    mosquitto: MosquittoBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "data"))
    db_url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    db = await open_database(db_url)
    caplog.set_level(logging.WARNING, logger="coach.monitor.ingest")
    try:
        async with monitor_ingest(db, mosquitto.url) as ingest:
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="coach-p-fuzz") as coach:
                for topic, payload in KNOWN:
                    await coach.publish(topic, payload, qos=1)
                good = {
                    "type": "cue",
                    "t": 2.0,
                    "id": "cue-good",
                    "code": "check",
                    "message": "after the poison",
                }
                await coach.publish(KNOWN[0][0], json.dumps(good).encode(), qos=1)
            assert await wait_for(
                lambda: db.fetchone("SELECT 1 AS ok FROM events WHERE event_id = 'cue-good'"), 10
            )
            await asyncio.sleep(1.0)  # anything redelivered would arrive now
            assert ingest.stats.received == len(KNOWN) + 1  # each once: acknowledged, not redelivered
            assert ingest.stats.connects == 1  # the connection never dropped
            assert ingest.stats.malformed == len(KNOWN)
        rows = await entries(db)
    finally:
        await db.close()
    reasons = [r["reason"] for r in reversed(rows)]
    assert len(reasons) == len(KNOWN)
    assert "integer beyond ±2^53" in reasons[0]
    assert "control characters" in reasons[1]
    assert "swelling_0_10" in reasons[2] and "'abc'" in reasons[2]
    assert "wall_utc" in reasons[3]
    assert "duration_s" in reasons[4] and "duration_s" in reasons[5]
    quarantined = [r.getMessage() for r in caplog.records if "quarantined a message" in r.getMessage()]
    assert len(quarantined) == len(KNOWN)  # logged once each, with the topic
    assert all("coach/v1/p-fuzz/" in line for line in quarantined)
    listed = await asyncio.to_thread(_list_quarantine, db_url)
    assert listed.count("coach/v1/p-fuzz/s-f") == len(KNOWN)
    assert "swelling_0_10" in listed and "payload: " in listed


def _list_quarantine(db_url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "coach", "monitor", "--db", db_url, "quarantine", "--payload"],
        capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    return done.stdout
