"""Clinic sign-in in a real browser against a real identity provider (panva's oidc-provider, started
by the test from the locked tests/node packages): authorization code with PKCE, a mapped identity
reaching the therapist's overview, an unmapped one refused with the admin command to run, the
session working after the cross-site return. Also the login page's first-run hint."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from coach.monitor.clinic import oidc
from coach.monitor.db import open_database
from coach.monitor.server import Monitor, MonitorConfig
from tests.browser.test_monitor_browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.monitor_seed import seed_clinic
from tests.fixtures.node_services import oidc_provider

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CLIENT_SECRET = "test-client-secret-0123456789"


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: run scripts/system-deps.sh"
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def _monitor(db_url: str) -> Monitor:
    m = Monitor(MonitorConfig(broker_url="mqtt://127.0.0.1:1", db_url=db_url, port=0, ingest=False))
    await m.start()
    return m


async def test_a_therapist_signs_in_through_the_clinic_provider(tmp_path: Path, browser: Any) -> None:
    db_url = f"sqlite:///{tmp_path}/monitor.sqlite3"
    db = await open_database(db_url)
    await seed_clinic(db, history_days=2)
    await db.close()
    monitor = await _monitor(db_url)
    try:
        callback = f"{monitor.url}/auth/oidc/clinic/callback"
        client = {"client_id": "retro-monitor", "client_secret": CLIENT_SECRET, "redirect_uris": [callback]}
        with oidc_provider([client]) as idp:
            assert monitor.db is not None
            await oidc.add_provider(
                monitor.db,
                "clinic",
                issuer=idp.issuer,
                client_id="retro-monitor",
                redirect_uri=callback,
                client_secret=CLIENT_SECRET,
                label="Sign in with Clinic ID",
            )
            await oidc.map_identity(monitor.db, "clinic", "dr-alice", "alice")
            context = await browser.new_context(viewport={"width": 1100, "height": 800})
            page = await context.new_page()
            seen: list[str] = []
            page.on("request", lambda req: seen.append(req.url))
            await page.goto(f"{monitor.url}/patient/p-anna")
            await page.wait_for_url(re.compile(r".*/login.*"))
            await page.get_by_role("link", name="Sign in with Clinic ID").click()
            await page.wait_for_url(re.compile(re.escape(idp.issuer) + r"/interaction/.*"))
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "clinic-idp-login.png"))
            await page.locator("input[name=login]").fill("dr-alice")
            await page.locator("input[name=password]").fill("anything")
            await page.locator("button[type=submit]").click()
            await page.get_by_role("button", name=re.compile("Continue", re.I)).click()
            await page.wait_for_url(f"{monitor.url}/patient/p-anna", timeout=15000)
            await page.locator("#sessions-table").wait_for()
            assert "Alice Moreau" in await page.locator("header .who").inner_text()
            await page.screenshot(path=str(ARTIFACTS / "clinic-signed-in.png"))
            auth = next(u for u in seen if u.startswith(f"{idp.issuer}/auth?"))
            assert "code_challenge_method=S256" in auth and "code_challenge=" in auth and "nonce=" in auth
            assert "response_type=code" in auth
            actions = await monitor.db.fetchall(
                "SELECT actor, action FROM audit_log WHERE action LIKE 'login%'"
            )
            assert {"actor": "alice", "action": "login_oidc"} in actions
            # An identity the clinic has not mapped to a therapist is refused, with the admin's command.
            other = await browser.new_context()
            page2 = await other.new_page()
            await page2.goto(f"{monitor.url}/login")
            await page2.get_by_role("link", name="Sign in with Clinic ID").click()
            await page2.locator("input[name=login]").fill("stranger")
            await page2.locator("input[name=password]").fill("anything")
            await page2.locator("button[type=submit]").click()
            await page2.get_by_role("button", name=re.compile("Continue", re.I)).click()
            await page2.wait_for_url(re.compile(r".*/login\?error=.*"), timeout=15000)
            alert = await page2.get_by_role("alert").inner_text()
            assert "not linked" in alert and "oidc-map clinic stranger" in alert
            assert (await page2.request.get(f"{monitor.url}/api/patients")).status == 401
            await page2.screenshot(path=str(ARTIFACTS / "clinic-sign-in-refused.png"))
            await other.close()
            await context.close()
    finally:
        await monitor.stop()


async def test_the_login_page_says_how_to_make_the_first_account(tmp_path: Path, browser: Any) -> None:
    monitor = await _monitor(f"sqlite:///{tmp_path}/empty.sqlite3")
    try:
        page = await browser.new_page(viewport={"width": 420, "height": 800})
        await page.goto(f"{monitor.url}/login")
        hint = page.locator(".notice.info")
        await hint.wait_for()
        assert "coach monitor add-therapist" in await hint.inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "clinic-first-run-login.png"), full_page=True)
    finally:
        await monitor.stop()
