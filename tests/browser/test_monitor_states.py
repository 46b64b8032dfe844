"""A dashboard that never looks more certain than it is (issue 11, item 3), in Debian's Chromium.

Each state a therapist can meet: the broker link down (banner with the broker's address), a session
gone silent (lost contact, live values cleared) or whose coach's connection dropped (its last will),
an aborted session (its reason, kept out of adherence), a finished one (its summary, no "live"
button), the start time from the session's own clock, and tiles that show what the latest event says.
Screenshots of each at phone and desktop width go to ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from coach.events import to_json
from coach.monitor import live_card
from coach.monitor.db import open_database
from coach.monitor.server import Monitor, MonitorConfig
from tests.browser.test_monitor_browser import ARTIFACTS, _login, _private_data_dir, browser
from tests.fixtures.event_feed import synthetic_session
from tests.fixtures.monitor_seed import PASSWORD_ALICE, seed_clinic
from tests.fixtures.mosquitto import MosquittoBroker

__all__ = ["_private_data_dir", "browser"]
pytestmark = [pytest.mark.browser, pytest.mark.mqtt, pytest.mark.slow]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
HAND = "p-ben"


@pytest.fixture
async def monitor(tmp_path: Path, mosquitto: MosquittoBroker) -> AsyncIterator[Monitor]:
    db_url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    db = await open_database(db_url)
    await seed_clinic(db, history_days=3)
    await db.close()
    m = Monitor(MonitorConfig(broker_url=mosquitto.url, db_url=db_url, port=0))
    await m.start()
    assert m.ingest is not None
    await asyncio.wait_for(m.ingest.connected.wait(), 10)
    try:
        yield m
    finally:
        await m.stop()


async def _shots(browser: Any, base: str, path: str, name: str, ready: str) -> None:
    """Screenshots of ``path`` at phone and desktop width, once ``ready`` (a selector) shows."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        context = await browser.new_context(viewport=viewport)
        page = await context.new_page()
        await _login(page, base, "alice", PASSWORD_ALICE)
        if path != "/":
            await page.goto(base + path)
        await page.locator(ready).first.wait_for(timeout=15000)
        await page.screenshot(path=str(ARTIFACTS / f"monitor-state-{name}-{size}.png"), full_page=True)
        await context.close()


async def _publish(
    port: int, patient: str, session: str, events: list[dict[str, Any]], status: dict[str, Any] | None = None
) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"coach-{patient}-test") as client:
        for e in events:
            await client.publish(f"coach/v1/{patient}/{session}/events", to_json(e).encode(), qos=1)
        if status is not None:
            await client.publish(
                f"coach/v1/{patient}/status", json.dumps(status).encode(), qos=1, retain=True
            )


def _status(state: str, session: str, **extra: Any) -> dict[str, Any]:
    wall = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    sensors = {"treated": {"link": "up", "battery_pct": 80}}
    return {"state": state, "session": session, "wall_utc": wall, "sensors": sensors, **extra}


async def test_broker_link_down_shows_a_banner_with_the_broker(
    monitor: Monitor, browser: Any, mosquitto: MosquittoBroker
) -> None:
    page = await browser.new_page(viewport=SIZES["desktop"])
    await _login(page, monitor.url, "alice", PASSWORD_ALICE)
    await page.locator('[data-patient="p-anna"]').wait_for()
    assert await page.locator("#link-banner.link-down").count() == 0
    assert mosquitto.url in await page.locator("#broker-line").inner_text()
    mosquitto.kill()
    try:
        banner = page.locator("#link-banner.link-down")
        await banner.wait_for(timeout=15000)
        assert f"No connection to the broker {mosquitto.url}" in await banner.inner_text()
        assert "not live" in await page.locator("#live-state").inner_text()
        await _shots(browser, monitor.url, "/", "broker-down", "#link-banner.link-down")
    finally:
        mosquitto.start()
    await page.locator("#link-banner.link-down").wait_for(state="detached", timeout=30000)


async def test_a_silent_session_loses_contact_and_its_values_are_cleared(
    monitor: Monitor, browser: Any, mosquitto: MosquittoBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_card, "LOST_CONTACT_S", 3.0)  # the stated 30 s, shortened for the test
    events = synthetic_session(11, active_s=120.0, start_utc=datetime.now(UTC) - timedelta(seconds=40))
    running = [e for e in events if e["t"] <= 40.0]
    page = await browser.new_page(viewport=SIZES["desktop"])
    await _login(page, monitor.url, "alice", PASSWORD_ALICE)
    await _publish(mosquitto.port, HAND, "s-silent", running, _status("active", "s-silent", time_left_s=200))
    card = page.locator(f'[data-patient="{HAND}"]')
    await page.locator(f'[data-patient="{HAND}"][data-phase="active"]').wait_for(timeout=10000)
    assert "–" not in await card.locator('[data-field="hand"]').inner_text()
    silent_at = time.monotonic()
    await page.locator(f'[data-patient="{HAND}"][data-phase="lost_contact"]').wait_for(timeout=10000)
    assert time.monotonic() - silent_at < 3.0 + 3.0  # the stated time plus a refresh
    for field in ("hand", "wrist", "cadence", "time-left"):
        assert await card.locator(f'[data-field="{field}"]').inner_text() == "–", field
    text = await card.inner_text()
    assert "lost contact" in text and "Lost contact" in text
    assert "Hand low" not in text
    await _shots(
        browser, monitor.url, "/", "lost-contact", f'[data-patient="{HAND}"][data-phase="lost_contact"]'
    )

    # The coach's last will: lost contact at once, whatever the time since its last event.
    more = [e for e in events if 40.0 < e["t"] <= 60.0]
    await _publish(mosquitto.port, HAND, "s-silent", more, _status("active", "s-silent", time_left_s=180))
    await page.locator(f'[data-patient="{HAND}"][data-phase="active"]').wait_for(timeout=10000)
    await _publish(mosquitto.port, HAND, "s-silent", [], {"state": "offline"})
    await page.locator(f'[data-patient="{HAND}"][data-phase="lost_contact"]').wait_for(timeout=2500)
    assert "connection dropped" in await card.inner_text()


async def test_aborted_finished_start_time_and_tiles(
    monitor: Monitor, browser: Any, mosquitto: MosquittoBroker
) -> None:
    assert monitor.db is not None
    # Yesterday 09:15 by the session's own clock, received only now (a coach that was offline).
    yesterday = (datetime.now().astimezone() - timedelta(days=1)).replace(
        hour=9, minute=15, second=0, microsecond=0
    )
    aborted = synthetic_session(21, active_s=60.0, start_utc=yesterday.astimezone(UTC))
    cut = next(i for i, e in enumerate(aborted) if e["type"] == "state" and e["state"] == "active")
    end_wall = (yesterday + timedelta(seconds=12)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    reason = "calibration failed: arm not still"
    end = {
        "type": "state",
        "t": 12.0,
        "id": "state-9",
        "state": "aborted",
        "reason": reason,
        "wall_utc": end_wall,
    }
    aborted = [*aborted[:cut], end]
    await _publish(mosquitto.port, "p-anna", "s-aborted", aborted)
    finished = synthetic_session(22, active_s=60.0, start_utc=datetime.now(UTC) - timedelta(minutes=5))
    await _publish(mosquitto.port, HAND, "s-done", finished, _status("finished", "s-done"))
    await _publish(mosquitto.port, HAND, "s-done", [], {"state": "offline", "session": "s-done"})

    page = await browser.new_page(viewport=SIZES["desktop"])
    await _login(page, monitor.url, "alice", PASSWORD_ALICE)
    # Finished: its summary, "finished", never "offline", and no live button.
    ben = page.locator(f'[data-patient="{HAND}"][data-phase="finished"]')
    await ben.wait_for(timeout=15000)
    text = await ben.inner_text()
    assert "finished" in text and "offline" not in text
    assert str(finished[-1]["strokes_total"]) in await ben.locator('[data-field="summary"]').inner_text()
    assert await ben.get_by_role("link", name="Watch live").count() == 0
    await _shots(browser, monitor.url, "/", "finished", f'[data-patient="{HAND}"][data-phase="finished"]')

    # Aborted, with its reason; not on the adherence calendar; "When" is its own start time.
    await page.goto(f"{monitor.url}/patient/p-anna")
    row = page.locator('[data-session="s-aborted"]')
    await row.wait_for(timeout=15000)
    assert "aborted: calibration failed: arm not still" in await row.inner_text()
    expected = await page.evaluate("(t) => App.dateTime(t)", yesterday.timestamp())
    assert expected in await row.inner_text()
    day = yesterday.date().isoformat()
    finished_yesterday = await monitor.db.fetchall(
        "SELECT session_id, start_unix_s FROM coach_sessions"
        " WHERE patient_id = 'p-anna' AND end_state = 'finished'"
    )
    on_day = sum(
        1 for r in finished_yesterday if datetime.fromtimestamp(r["start_unix_s"]).date().isoformat() == day
    )
    cell = page.locator(f'#calendar [data-date="{day}"]')
    assert (await cell.inner_text()).strip() == (str(on_day) if on_day else "")
    await _shots(browser, monitor.url, "/patient/p-anna", "aborted", '[data-session="s-aborted"]')


async def test_tiles_show_what_the_latest_event_says(
    monitor: Monitor, browser: Any, mosquitto: MosquittoBroker
) -> None:
    assert monitor.db is not None
    events = synthetic_session(
        31, active_s=200.0, start_utc=datetime.now(UTC) - timedelta(seconds=30), hand=False
    )
    running = [e for e in events if e["t"] <= 30.0]
    page = await browser.new_page(viewport=SIZES["desktop"])
    await _login(page, monitor.url, "alice", PASSWORD_ALICE)
    await _publish(mosquitto.port, HAND, "s-tiles", running, _status("active", "s-tiles", time_left_s=300))
    for _ in range(200):  # the session page needs the session to exist
        if await monitor.db.fetchone("SELECT 1 AS ok FROM coach_sessions WHERE session_id = 's-tiles'"):
            break
        await asyncio.sleep(0.05)
    await page.goto(f"{monitor.url}/patient/{HAND}/session/s-tiles")
    await page.locator('#tiles[data-phase="active"]').wait_for(timeout=15000)
    for k, (elevated, deg) in enumerate(((True, 34.6), (False, -21.4), (True, 12.2))):
        posture = {"type": "posture", "t": 31.0 + k, "id": f"posture-x{k}", "elevated": elevated,
                   "elevation_deg": deg, "wrist_neutral": None, "wrist_flexion_deg": None,
                   "wrist_deviation_deg": None, "forearm_roll_deg": 3.0}  # fmt: skip
        await _publish(
            mosquitto.port, HAND, "s-tiles", [posture], _status("active", "s-tiles", time_left_s=290 - k)
        )
        want = f"{'raised' if elevated else 'low'} ({round(deg)}°)"
        await page.wait_for_function(
            "(want) => document.querySelector('[data-field=\"hand\"] .value').textContent === want",
            arg=want,
            timeout=10000,
        )
        # the wrist has no sensor here: the event says null, and so does the tile
        assert await page.locator('[data-field="wrist"] .value').inner_text() == "not measured"
        latest = await monitor.db.fetchone(
            "SELECT payload FROM events WHERE session_id = 's-tiles' AND type = 'posture'"
            " ORDER BY t_s DESC LIMIT 1"
        )
        assert latest is not None and json.loads(latest["payload"])["elevation_deg"] == deg
    await _shots(browser, monitor.url, f"/patient/{HAND}/session/s-tiles", "tiles", "#tiles[data-phase]")
