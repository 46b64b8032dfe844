"""The therapist monitor in a real browser: Debian's headless Chromium driven by Playwright.

A therapist logs in, watches a simulated session appear and update live (a light publisher replays an
event stream to a private Mosquitto), opens a patient's history and a session report, and is refused
another therapist's patient, in the page and at the API. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from coach.monitor.db import open_database
from coach.monitor.server import Monitor, MonitorConfig
from tests.fixtures.event_feed import FeedPublisher, synthetic_session
from tests.fixtures.monitor_seed import PASSWORD_ALICE, PASSWORD_BOB, seed_clinic
from tests.fixtures.mosquitto import MosquittoBroker

pytestmark = [pytest.mark.browser, pytest.mark.mqtt, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TALLY_OF_BEN = 'document.querySelector(\'[data-patient="p-ben"] [data-field="tally"]\').textContent'
TIME_LEFT = "document.querySelector('[data-field=\"time-left\"]').textContent"


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The monitor's data folder (its secret key file) in the test's own folder, never the home."""
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)


@pytest.fixture
async def monitor(tmp_path: Path, mosquitto: MosquittoBroker) -> AsyncIterator[Monitor]:
    db_url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    db = await open_database(db_url)
    await seed_clinic(db)
    await db.close()
    m = Monitor(MonitorConfig(broker_url=mosquitto.url, db_url=db_url, port=0))
    await m.start()
    assert m.ingest is not None
    await asyncio.wait_for(m.ingest.connected.wait(), 10)
    try:
        yield m
    finally:
        await m.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 - one stat before the browser starts
        pytest.fail("Debian's chromium is missing: run scripts/system-deps.sh (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def _login(page: Any, base: str, user: str, password: str) -> None:
    await page.goto(f"{base}/")
    await page.wait_for_url(re.compile(r".*/login.*"))
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/")


async def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"monitor-{name}.png"), full_page=True)


async def test_a_therapist_follows_a_live_session_and_reads_the_history(
    monitor: Monitor, browser: Any, mosquitto: MosquittoBroker
) -> None:
    base = monitor.url
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await _login(page, base, "alice", PASSWORD_ALICE)
    await page.locator('[data-patient="p-anna"]').wait_for()
    ben = page.locator('[data-patient="p-ben"]')
    await ben.wait_for()
    assert "no session" in await ben.inner_text()
    assert await page.locator('[data-patient="p-carl"]').count() == 0

    # A coach starts a session for Ben: it appears on the overview without a reload.
    events = synthetic_session(7, active_s=100.0)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        feed = FeedPublisher(client, "p-ben", "s-live-1", events, speed=8.0)
        playing = asyncio.create_task(feed.play(status_period_s=0.25))
        try:
            await page.locator('[data-patient="p-ben"] .badge.active').wait_for(timeout=15000)
            tally = ben.locator('[data-field="tally"]')
            await page.wait_for_function(
                f"() => /↑ [1-9]/.test({TALLY_OF_BEN})",
                timeout=15000,
            )
            first = await tally.inner_text()
            await page.wait_for_function(
                f"(first) => {TALLY_OF_BEN} !== first",
                arg=first,
                timeout=15000,
            )  # the stroke tally moved on by itself: the page is live
            await _shot(page, "overview-live")

            # The live session page: tiles and charts update as events arrive.
            await ben.get_by_role("link", name="Watch live").click()
            await page.wait_for_url(f"{base}/patient/p-ben/session/s-live-1")
            await page.locator("#charts svg").first.wait_for()
            t0 = await page.locator('[data-field="time-left"]').inner_text()
            await page.wait_for_function(
                "(t0) => document.querySelector('[data-field=\"time-left\"]').textContent !== t0",
                arg=t0,
                timeout=15000,
            )
            assert await page.locator("#charts svg").count() == 4
            await _shot(page, "session-live")
            await asyncio.wait_for(playing, 60)
        finally:
            playing.cancel()
    # When the coach finishes, the summary shows up on the open page.
    await page.locator("#summary-values").wait_for(timeout=15000)
    assert str(events[-1]["strokes_total"]) in await page.locator("#summary-values").inner_text()
    await _shot(page, "session-finished")

    # History and adherence of Anna, then one of her session reports.
    await page.goto(f"{base}/patient/p-anna")
    await page.locator("#sessions-table").wait_for()
    assert await page.locator("#calendar .cell.l2, #calendar .cell.l1").count() >= 10
    assert await page.locator("#trend-quality svg").count() == 1
    rows = await page.locator("#sessions-table tbody tr").count()
    assert rows >= 20
    await _shot(page, "patient-history")
    await page.locator("#sessions-table tbody tr").first.get_by_role("link", name="Report").click()
    await page.wait_for_url(re.compile(r".*/report/p-anna/s-.*"))
    await page.locator("body[data-ready='1']").wait_for()
    assert await page.locator("#charts svg").count() == 4
    assert "Anna Keller" in await page.locator("#meta").inner_text()
    await _shot(page, "report")
    assert errors == []


async def test_another_therapists_patient_is_refused(monitor: Monitor, browser: Any) -> None:
    base = monitor.url
    context = await browser.new_context(viewport={"width": 1100, "height": 700})
    page = await context.new_page()
    await _login(page, base, "bob", PASSWORD_BOB)
    await page.locator('[data-patient="p-carl"]').wait_for()
    assert await page.locator("[data-patient]").count() == 1
    # The page refuses Anna (alice's patient), and so does the API with bob's own session cookie.
    response = await page.goto(f"{base}/patient/p-anna")
    assert response.status == 403
    assert await page.locator("#forbidden").is_visible()
    await _shot(page, "refused")
    api = await page.request.get(f"{base}/api/patients/p-anna")
    assert api.status == 403
    api_session = await page.request.get(f"{base}/api/patients/p-anna/sessions/s-x")
    assert api_session.status == 403
    report = await page.request.get(f"{base}/report/p-anna/s-x")
    assert report.status == 403
    # After logging out, the API answers 401 and pages lead to the login.
    await page.goto(f"{base}/")
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(re.compile(r".*/login.*"))
    assert (await page.request.get(f"{base}/api/patients")).status == 401
    await context.close()
