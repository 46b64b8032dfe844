"""The filed report: one A4 page for a typical session (Letter under a US locale), the patient id and
session date on every page of a long one, the PNG showing the whole page without buttons, m:ss times,
the targets in force in degrees, the report in the clinic's language (German: texts, dates, numbers,
A4); and the patient page's dated ratings axis and targets form.
The PDF pages are rendered with pdftoppm to tests/artifacts/ for a person to look at."""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from coach.events import to_json
from coach.monitor import accounts
from coach.monitor.db import Database, open_database
from coach.monitor.ingest_store import Received, store_batch
from coach.monitor.messages import parse_message
from coach.monitor.report import export_report, render_report, targets_in_force
from coach.monitor.report_view import paper_for_locale, report_locale
from coach.monitor.server import Monitor, MonitorConfig
from coach.monitor.views import session_detail
from tests.browser.test_monitor_browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.event_feed import synthetic_session
from tests.fixtures.monitor_seed import PASSWORD_ALICE, seed_clinic

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
A4_PT, LETTER_PT = (595, 842), (612, 792)


@pytest.fixture(autouse=True)
def _private_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)
    for name in ("LC_ALL", "LC_PAPER", "LANG"):
        monkeypatch.delenv(name, raising=False)


async def _session_data(db: Database, session: str, active_s: float) -> dict[str, Any]:
    topic = f"coach/v1/p-anna/{session}/events"
    events = synthetic_session(5, active_s=active_s)
    await store_batch(db, [Received(parse_message(topic, to_json(e).encode()), time.time()) for e in events])
    data = await session_detail(db, "p-anna", session)
    assert data is not None
    data.update(
        display_name="Anna Keller", generated_unix_s=time.time(), therapist="Alice", targets=None, paper=None
    )
    return data


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite:///{tmp_path}/m.sqlite3")
    await accounts.create_patient(database, "p-anna", "Anna Keller")
    try:
        yield database
    finally:
        await database.close()


def _pages(pdf: bytes, path: Path) -> list[Any]:
    path.write_bytes(pdf)
    return list(PdfReader(path).pages)


def _size(page: Any) -> tuple[int, int]:
    return round(float(page.mediabox.width)), round(float(page.mediabox.height))


async def _pdftoppm(pdf: Path, prefix: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm is missing: run scripts/system-deps.sh (apt-get install poppler-utils)"
    proc = await asyncio.create_subprocess_exec(
        pdftoppm, "-r", "80", "-png", str(pdf), str(ARTIFACTS / prefix)
    )
    assert await proc.wait() == 0
    return ARTIFACTS / f"{prefix}-1.png"


def test_paper_follows_the_locale_and_targets_show_in_degrees() -> None:
    assert [
        paper_for_locale(x) for x in ("de_DE.UTF-8", "en_US.UTF-8", "en_GB", "es_MX", "fr_CA.UTF-8", None)
    ] == [
        "A4",
        "Letter",
        "A4",
        "Letter",
        "Letter",
        "A4",
    ]
    f = targets_in_force(None)
    assert f["elevation_deg"] == 11.1 and f["wrist_flexion_deg"] == 15.0 and len(f["defaults"]) == 6
    sent = {
        "doc": {"thresholds": {"elevation_margin_m": 0.13}, "cadence_spm": {"min_spm": 10, "max_spm": 30}}
    }
    f = targets_in_force(sent)
    assert f["elevation_deg"] == 30.0 and (f["min_spm"], f["max_spm"]) == (10, 30)
    assert "elevation_margin_m" not in f["defaults"] and "target_duration_s" in f["defaults"]


async def test_a_typical_session_is_one_page_with_header(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    data = await _session_data(db, "s-typical", 720.0)  # 12 minutes: the prescribed session
    pages = _pages(await export_report(data, "pdf"), tmp_path / "typical.pdf")
    assert len(pages) == 1 and _size(pages[0]) == A4_PT
    text = pages[0].extract_text()
    assert "Patient p-anna · session of Nov 24, 2026" in text and "1 / 1" in text
    assert not re.search(r"\b\d+:60\b", text)
    assert (await _pdftoppm(tmp_path / "typical.pdf", "report-a4-page")).exists()
    png = await export_report(data, "png")
    (ARTIFACTS / "report-export.png").write_bytes(png)
    width, height = struct.unpack(">II", png[16:24])
    assert width == 1000 and height > 1300  # the whole page, not the first screenful


async def test_the_report_in_the_clinics_language(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A German clinic (``coach monitor --language de``) on a server whose own locale is US English:
    German texts, cues, dates and decimal commas, on A4; a Mexican one: Spanish on one Letter page."""
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    data = await _session_data(db, "s-de", 720.0)
    pages = _pages(await export_report(data, "pdf", locale=report_locale("de")), tmp_path / "de.pdf")
    assert len(pages) == 1 and _size(pages[0]) == A4_PT
    text = " ".join(pages[0].extract_text().split())
    assert "Patienten-ID p-anna · Sitzung vom 24.11.2026" in text and "1 / 1" in text  # every page's header
    assert "Sitzungsbericht – retrograde Massage" in text and "Hinweise an die behandelte Person" in text
    assert "Beginn 24.11.2026, " in text and "Unterarm angehoben ≥ 11,1°" in text
    assert "Heben Sie die Hand etwas an" in text  # the patient's cue, as the catalogue words it in German
    assert "Cues given" not in text and "Nov 24" not in text and "Raise your hand" not in text
    assert (await _pdftoppm(tmp_path / "de.pdf", "report-de-a4-page")).exists()
    # Mexico: Spanish on US Letter, still one page (the charts are lower on the shorter sheet).
    pages = _pages(await export_report(data, "pdf", locale=report_locale("es_MX")), tmp_path / "es.pdf")
    assert len(pages) == 1 and _size(pages[0]) == LETTER_PT
    assert "Paciente p-anna · sesión del 24 nov 2026" in " ".join(pages[0].extract_text().split())


async def test_a_long_session_has_the_header_on_every_letter_page(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    data = await _session_data(db, "s-long", 720.0)
    data["cues"] = [
        {"t": 7.0 * i, "code": f"cue_{i % 40}", "message": f"Cue number {i % 40}: keep going."}
        for i in range(400)
    ]
    pages = _pages(await export_report(data, "pdf"), tmp_path / "long.pdf")
    assert len(pages) >= 2
    for n, page in enumerate(pages, 1):
        assert _size(page) == LETTER_PT
        text = page.extract_text()
        assert "Patient p-anna · session of Nov 24, 2026" in text and f"{n} / {len(pages)}" in text


async def test_export_page_has_no_buttons_and_times_never_read_60(db: Database, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    data = await _session_data(db, "s-x", 120.0)
    page_file = tmp_path / "export.html"
    page_file.write_text(render_report(data, inline=True, export=True), encoding="utf-8")
    served = tmp_path / "served.html"
    served.write_text(render_report(data, inline=True), encoding="utf-8")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(page_file.as_uri())
            await page.locator("body[data-ready='1']").wait_for()
            assert not await page.locator("#print").is_visible()
            assert await page.locator("#cues table").is_visible()
            times = await page.evaluate("[59.4, 59.6, 119.5, 600, 3599.7].map(Charts.fmtTime)")
            assert times == ["0:59", "1:00", "2:00", "10:00", "60:00"]
            await page.goto(served.as_uri())
            await page.locator("body[data-ready='1']").wait_for()
            assert await page.locator("#print").is_visible()  # the served page keeps its buttons
        finally:
            await browser.close()


async def test_patient_page_dates_the_ratings_and_shows_targets_in_degrees(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    db_url = f"sqlite:///{tmp_path}/p.sqlite3"
    database = await open_database(db_url)
    await seed_clinic(database, history_days=10)
    await database.close()
    monitor = Monitor(MonitorConfig(broker_url="mqtt://127.0.0.1:1", db_url=db_url, port=0, ingest=False))
    await monitor.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await page.goto(f"{monitor.url}/login")
                await page.get_by_label("User name").fill("alice")
                await page.get_by_label("Password").fill(PASSWORD_ALICE)
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_url(f"{monitor.url}/")
                await page.goto(f"{monitor.url}/patient/p-anna")
                await page.locator("#reports svg").wait_for()
                labels = await page.locator("#reports svg text").evaluate_all(
                    "els => els.map((e) => e.textContent)"
                )
                assert any(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", t) for t in labels), labels
                assert not any(t.startswith("day ") for t in labels)
                assert await page.locator("input[name=elevation_deg]").input_value() == "11.1"
                assert await page.locator("input[name=wrist_flexion_deg]").input_value() == "15"
                assert await page.locator("input[name=elevation_margin_cm]").count() == 0
                await page.locator("#rtm-periods").wait_for()
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "clinic-patient-page.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        await monitor.stop()
