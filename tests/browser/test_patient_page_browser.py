"""The patient's session page in a real browser (Debian's headless Chromium driven by Playwright).

A whole accelerated session is driven through the page (the safety questions, the calibration steps,
live cues, pause, stop, pain and swelling, the summary), a blocked screening, pairing refused without
the code over HTTPS, and a dropped connection the page recovers from by itself. Every screen is
checked with axe-core (no serious or critical violation) and photographed at phone (390×844) and
tablet (820×1180) size into ``tests/artifacts/patient-page-<screen>-<size>.png``; the speech the page
makes is recorded through a stand-in for the browser's speech engine. One browser serves the module.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.fixtures.patient_page import FAKE_SPEECH, PageSession, start_page_session

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

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
SIZES = {"phone": {"width": 390, "height": 844}, "tablet": {"width": 820, "height": 1180}}
#: Every screen's axe-core result, written to tests/artifacts/patient-page-axe.json at the end.
AXE_RESULTS: dict[str, dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
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
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "patient-page-axe.json").write_text(
                json.dumps(AXE_RESULTS, indent=1, sort_keys=True)
            )


async def _pages(browser: Any, *, https: bool = False, speech_ms: int = 150) -> dict[str, Any]:
    pages = {}
    for name, viewport in SIZES.items():
        context = await browser.new_context(
            viewport=viewport, ignore_https_errors=https, has_touch=name == "phone"
        )
        await context.add_init_script(FAKE_SPEECH % speech_ms)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.errors = errors
        pages[name] = page
    return pages


async def _axe(page: Any, screen: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    from axe_playwright_python.async_playwright import Axe

    await page.evaluate(Axe().axe_script)
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    violations = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]
    AXE_RESULTS[screen] = {
        "serious_or_critical": sum(1 for v in violations if v["impact"] in ("serious", "critical")),
        "violations": violations,
        "passes": len(result.get("passes", [])),
    }
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{screen}: {bad}"


async def _shoot(pages: dict[str, Any], screen: str, *, axe: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, page in pages.items():
        await page.screenshot(path=str(ARTIFACTS / f"patient-page-{screen}-{size}.png"))  # what one sees
    if axe:
        await _axe(pages["phone"], screen)


async def _screen(page: Any, screen: str, timeout_ms: float = 20000) -> None:
    await page.locator(f"body[data-screen='{screen}']").wait_for(state="attached", timeout=timeout_ms)


async def _open(ps: PageSession, pages: dict[str, Any]) -> None:
    for page in pages.values():
        await page.goto(ps.url)


async def test_a_whole_session_through_the_page(browser: Any, tmp_path: Path) -> None:
    history = [
        {"wall_utc": f"2026-11-2{d}T09:00:00Z", "duration_s": 700.0, "strokes_total": 100,
         "strokes_proximal": 70, "strokes_distal": 30, "strokes_unknown": 0, "elevated_fraction": 0.6,
         "wrist_neutral_fraction": 0.8,
         "pain_0_10": 3, "swelling_0_10": 4}
        for d in (1, 2, 3)
    ]  # fmt: skip
    # Long enough that the page's own pace (screenshots, axe) never races the session's clock.
    ps = await start_page_session(tmp_path, speed=3.0, target_duration_s=150.0, history=history, data_s=200.0)
    pages = await _pages(browser)
    phone, tablet = pages["phone"], pages["tablet"]
    try:
        await _open(ps, pages)
        # The safety questions, one per screen, answered with the large buttons (touch and keyboard).
        for i in range(6):
            await _screen(phone, "question")
            await phone.locator("#q-progress").filter(has_text=f"{i + 1} of 6").wait_for()
            await tablet.locator("#q-progress").filter(has_text=f"{i + 1} of 6").wait_for()
            if i == 0:
                assert "blood clot" in await phone.locator("#q-text").inner_text()
                await _shoot(pages, "question")
            no = phone.get_by_role("button", name="No")
            if i % 2:
                await no.focus()
                await phone.keyboard.press("Enter")  # operable by keyboard
            else:
                await no.tap()  # and by touch
        # The guided calibration with its pose picture and progress.
        for step in (1, 2):
            await phone.locator(f"#cal-progress[value='{step}']").wait_for(state="attached", timeout=20000)
            await _shoot(pages, f"calibration-{step}")
        # The massage: cues arrive, the gauge, tally and ring move.
        await _screen(phone, "active")
        seen = await phone.evaluate("window.coachSeen")
        assert {"calibration-1", "calibration-2"} <= set(seen)  # step 3 comes with the start itself
        await phone.wait_for_function(
            "() => !(document.querySelector('#cue').dataset.code || 'calibration').startsWith('calibration')",
            timeout=60000,
        )
        cue_text = await phone.locator("#cue").inner_text()
        assert len(cue_text) > 10
        font_px = await phone.eval_on_selector("#cue", "e => parseFloat(getComputedStyle(e).fontSize)")
        assert font_px >= 32
        await phone.wait_for_function(
            "() => Number(document.querySelector('#strokes-total').textContent) > 0"
        )
        await _shoot(pages, "active")
        # Helper mode: the massaging wrist is the helper's, and the stroke cues speak to the helper.
        await phone.get_by_role("button", name="I massage myself").click()
        await phone.locator("#helper[aria-pressed='true']").wait_for()
        await phone.locator("#sensor-list").filter(has_text="Helper's wrist").wait_for()
        assert ps.page.view.helper
        if ps.page.view.cue is not None and ps.page.view.cue["code"] == "stroke_toward_elbow":
            await phone.locator("#cue").filter(has_text="Helper:").wait_for()
        # Pause and resume from the page.
        await phone.get_by_role("button", name="Pause").click()
        await _screen(phone, "paused")
        assert "You paused" in await phone.locator("#paused-text").inner_text()
        await _shoot(pages, "paused")
        await phone.get_by_role("button", name="Resume").click()
        await _screen(phone, "active")
        # Stop: as good as the terminal's stop key.
        await phone.get_by_role("button", name="Stop").click()
        await _screen(phone, "report")
        assert "pain" in (await phone.locator("#report-q").inner_text()).lower()
        await _shoot(pages, "report-pain")
        await phone.get_by_role("button", name="3", exact=True).tap()
        await phone.locator("#report-q").filter(has_text="swollen").wait_for()
        await _shoot(pages, "report-swelling")
        await phone.get_by_role("button", name="2", exact=True).focus()
        await phone.keyboard.press("Enter")
        await _screen(phone, "summary")
        await _screen(tablet, "summary")
        await _shoot(pages, "summary")
        summary_text = await phone.locator("#s-summary").inner_text()
        assert "better than before" in summary_text or "about the same" in summary_text
        result = await ps.finish()
        assert result.state == "finished" and "stopped by the person" in result.reason
        assert result.summary["pain_0_10"] == 3 and result.summary["swelling_0_10"] == 2
        # Every cue, question and the summary was spoken, in English, never two at once.
        spoken = await phone.evaluate("window.fakeSpeech.log")
        texts = [s.get("text") for s in spoken if "text" in s]
        assert any("blood clot" in t for t in texts) and any(t.startswith("Calibration done") for t in texts)
        assert cue_text in texts or any(t.startswith(cue_text[:20]) for t in texts)
        assert all(s["lang"] == "en" for s in spoken if "text" in s)
        assert await phone.evaluate("window.fakeSpeech.max()") == 1
        # Each cue reached the page at once (same machine, same clock): median well under 0.5 s.
        delays = sorted(await phone.evaluate("window.coachCueDelays"))
        AXE_RESULTS["_cue_delays_ms"] = {
            "n": len(delays),
            "median": delays[len(delays) // 2],
            "max": delays[-1],
        }
        assert len(delays) >= 4 and delays[len(delays) // 2] < 500
        for page in pages.values():
            assert page.errors == []
    finally:
        for page in pages.values():
            await page.context.close()
        if not ps.task.done():
            ps.session.request_stop("test cleanup")
            await ps.finish()


async def test_a_blocked_screening_says_what_to_do_next(browser: Any, tmp_path: Path) -> None:
    ps = await start_page_session(tmp_path, language="de", screening_wait_s=4.0)
    pages = await _pages(browser)
    phone = pages["phone"]
    try:
        await _open(ps, pages)
        await _screen(phone, "question")
        assert await phone.evaluate("document.documentElement.lang") == "de"
        await phone.get_by_role("button", name="Ja").click()  # unexplained swelling: yes
        for _ in range(5):
            await phone.locator("#q-yes[aria-pressed='false']").wait_for()
            await phone.get_by_role("button", name="Nein").click()
        await _screen(phone, "blocked")
        text = await phone.locator("#s-blocked").inner_text()
        assert "keine Massage" in text and "Ärztin" in text
        await _shoot(pages, "blocked")
        spoken = await phone.evaluate("window.fakeSpeech.log")
        assert any("keine Massage" in s.get("text", "") and s["lang"] == "de" for s in spoken)
        result = await ps.finish()
        assert result.state == "aborted"
        await _screen(phone, "blocked")  # the advice stays on screen after the coach gave up waiting
    finally:
        for page in pages.values():
            await page.context.close()


async def test_pairing_is_refused_without_the_code_and_nothing_is_readable(
    browser: Any, tmp_path: Path
) -> None:
    ps = await start_page_session(tmp_path, network=True)
    assert ps.url.startswith("https://")
    pages = await _pages(browser, https=True)
    phone = pages["phone"]
    try:
        for page in pages.values():
            await page.goto(ps.base + "/")
        await phone.wait_for_url("**/pair")
        html = await phone.content()
        assert "p-0001" not in html and "blood clot" not in html
        for path in ("/api/state", "/api/events"):
            response = await phone.request.get(ps.base + path)
            assert response.status == 401 and "blood clot" not in await response.text()
        refused = await phone.request.post(ps.base + "/api/answer", data={"code": "pain", "answer": False})
        assert refused.status == 401
        await _shoot(pages, "pair")
        await phone.get_by_label("Pairing code").fill(
            "000000" if ps.page.pairing.code != "000000" else "111111"
        )
        await phone.get_by_role("button", name="Connect").click()
        await phone.locator("#pair-error").filter(has_text="not right").wait_for()
        await _shoot(pages, "pair-wrong", axe=False)
        await phone.get_by_label("Pairing code").fill(ps.page.pairing.code)
        await phone.get_by_role("button", name="Connect").click()
        await _screen(phone, "question")
        assert "blood clot" in await phone.locator("#q-text").inner_text()
        cookie = next(c for c in await phone.context.cookies() if c["name"] == "coach_page")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    finally:
        for page in pages.values():
            await page.context.close()
        ps.session.request_stop("test over")
        await ps.finish()


async def test_the_page_recovers_by_itself_from_a_dropped_connection(browser: Any, tmp_path: Path) -> None:
    from aiohttp import web

    ps = await start_page_session(tmp_path)
    pages = await _pages(browser)
    phone = pages["phone"]
    server = ps.page.server
    try:
        await phone.goto(ps.url)
        await _screen(phone, "question")
        assert await phone.evaluate("document.body.dataset.connection") == "open"
        # The network goes: the listener stops and every live connection is cut.
        port = server.port
        assert server._site is not None and server._runner is not None
        await server._site.stop()
        assert await server.drop_connections() == 1
        await phone.locator("body[data-connection='lost']").wait_for(state="attached", timeout=10000)
        assert "Reconnecting" in await phone.locator("#conn").inner_text()
        await _shoot({"phone": phone}, "reconnecting")
        # Meanwhile the session moves on (the question is answered elsewhere, e.g. on the terminal).
        assert ps.page.inputs.answer("swelling_or_dvt", False)
        await asyncio.sleep(2.0)
        server._site = web.TCPSite(server._runner, "127.0.0.1", port)
        await server._site.start()
        # The page reconnects by itself and shows the current state without a reload.
        await phone.locator("body[data-connection='open']").wait_for(state="attached", timeout=15000)
        await phone.locator("#q-progress").filter(has_text="2 of 6").wait_for(timeout=15000)
        assert phone.errors == []
    finally:
        for page in pages.values():
            await page.context.close()
        ps.session.request_stop("test over")
        await ps.finish()
