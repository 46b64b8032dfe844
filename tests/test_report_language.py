"""The session report in the clinic's language: which language, formats and paper a setting gives, the
figures and cues worded for it, and the served report (``coach monitor --language``, ``?lang=``).
The printed German report is checked in tests/browser/test_clinic_report.py."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coach.cli import main as coach_main
from coach.cue_texts import PIPELINE_CUES as MESSAGES
from coach.cue_texts import english
from coach.errors import ConfigError
from coach.i18n import LanguageError, texts
from coach.monitor.db import open_database
from coach.monitor.report import render_report, targets_in_force
from coach.monitor.report_view import ReportLocale, cue_words, m_ss, report_locale, report_view
from coach.monitor.server import Monitor, MonitorConfig, check_language
from tests.fixtures.monitor_seed import PASSWORD_ALICE, seed_clinic

US = {"LANG": "en_US.UTF-8"}


@pytest.mark.parametrize(
    ("setting", "override", "paper", "expected"),
    [
        (None, None, None, ("en", "en", "Letter")),  # no setting: English, paper from the environment
        ("de", None, None, ("de", "de_DE", "A4")),  # a bare language: its main territory, not the server's
        ("en", None, None, ("en", "en_US", "Letter")),
        ("en_GB.UTF-8", None, None, ("en", "en_GB", "A4")),
        ("de-AT", None, None, ("de", "de_AT", "A4")),
        ("Español", None, None, ("es", "es_ES", "A4")),
        ("es_MX", None, None, ("es", "es_MX", "Letter")),
        ("de_US", None, None, ("de", "de", "Letter")),  # no CLDR de_US: German formats, US paper
        ("de_AT", "es", None, ("es", "es", "A4")),  # ?lang= changes the language; the territory stays
        ("de_AT", "en_US", None, ("en", "en_US", "Letter")),
        ("de", None, "letter", ("de", "de_DE", "Letter")),  # ?paper= wins
        ("es_MX", None, "A4", ("es", "es_MX", "A4")),
        ("de", None, "tabloid", ("de", "de_DE", "A4")),  # an unknown paper is ignored
    ],
)
def test_the_locale_a_setting_gives(
    setting: str | None, override: str | None, paper: str | None, expected: tuple[str, str, str]
) -> None:
    loc = report_locale(setting, override=override, paper=paper, environ=US)
    assert (loc.language, loc.locale, loc.paper) == expected


def test_a_language_not_shipped_is_refused_with_the_choices() -> None:
    for bad in ("fr", "fr_CA", "de_XX"):
        with pytest.raises(LanguageError):
            report_locale(bad, environ={})
    with pytest.raises(LanguageError, match="choose one of en"):
        report_locale("de", override="pt_BR", environ={})
    with pytest.raises(ConfigError, match="--language: language 'fr' is not available; choose one of en"):
        check_language("fr")
    check_language("de_CH")
    assert report_locale(None, environ={}).paper == "A4"  # no locale anywhere: the world's default


def _data() -> dict[str, Any]:
    start = datetime(2026, 11, 24, 9, 30).timestamp()  # local time, as the report shows it
    return {
        "patient_id": "p-0042",
        "session_id": "s-20261124-0930",
        "display_name": "Anna Keller",
        "therapist": "Alice",
        "start_unix_s": start,
        "generated_unix_s": start + 3600.0,
        "summary": {
            "duration_s": 725.4,
            "strokes_total": 200,
            "strokes_proximal": 174,
            "strokes_distal": 20,
            "mean_cadence_spm": 17.26,
            "elevated_fraction": 0.912,
            "wrist_neutral_fraction": None,
            "pain_0_10": 3,
            "swelling_0_10": 4,
        },
        "strokes": [],
        "cues": [
            {"t": 65.0, "code": "raise_hand", "message": MESSAGES["raise_hand"]},
            {"t": 80.0, "code": "sensor_lost", "message": english("sensor_lost", role="hand")},
            {"t": 90.0, "code": "something_new", "message": "As it came."},
        ],
    }


def _view(setting: str, targets: dict[str, Any] | None = None) -> dict[str, Any]:
    loc = report_locale(setting, environ={})
    return report_view(_data(), targets_in_force(targets), loc, targets_sent=targets is not None)


def test_figures_dates_and_words_follow_the_locale() -> None:
    de = _view("de")
    assert dict(de["meta"])["Beginn"] == "24.11.2026, 09:30" and de["lang"] == "de-DE"
    assert de["header"] == "Patienten-ID p-0042 · Sitzung vom 24.11.2026"
    tiles = dict(de["tiles"])
    assert tiles["Dauer"] == "12:05" and tiles["Streichbewegungen"] == "200"
    assert tiles["Richtung Ellbogen"] == "87\xa0%" and tiles["Mittlere Frequenz"] == "17,3 /min"
    assert tiles["Handgelenk neutral"] == "nicht gemessen" and tiles["Schmerz / Schwellung"] == "3 / 4"
    assert "Unterarm angehoben ≥ 11,1°" in de["targets"] and de["targets"].endswith(
        "keine Zielwerte gesendet)"
    )
    assert de["footer"].startswith("Erstellt am 24.11.2026, 10:30 für Alice ")
    es = _view("es_MX", {"doc": {"thresholds": {"elevation_margin_m": 0.13}}})
    assert dict(es["meta"])["Inicio"].startswith("24 nov 2026, 9:30") and es["lang"] == "es-MX"
    assert dict(es["tiles"])["Ritmo medio"] == "17.3 /min"  # Mexico writes a decimal point
    assert "antebrazo elevado ≥ 30°" in es["targets"] and "por defecto" not in es["targets"]
    en = _view("en_GB")
    assert en["header"] == "Patient p-0042 · session of 24 Nov 2026"
    assert dict(en["tiles"])["Toward the elbow"] == "87%"
    assert m_ss(59.6) == "1:00" and m_ss(3599.7) == "60:00" and m_ss(-0.2) == "0:00"


def test_cues_are_shown_as_the_patients_catalogue_words_them() -> None:
    de = texts("de")
    cues = _data()["cues"]
    assert cue_words(de, cues[0]).startswith("Heben Sie die Hand etwas an")
    assert cue_words(de, cues[1]).startswith("Der Sensor an Ihrer Hand")  # the role, from the English
    assert cue_words(de, cues[2]) == "As it came."  # a code the catalogue does not know: as it came
    # A known code whose English differs (an older coach): translated by its code.
    assert cue_words(de, {"code": "raise_hand", "message": "Raise your hand."}).startswith("Heben Sie")
    assert cue_words(texts("en"), {"code": "raise_hand", "message": "Raise your hand."}) == "Raise your hand."
    assert _view("es")["cues"][0]["message"].startswith("Levante un poco la mano")


def _embedded(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
SUMMARY_KEYS = (
    "duration_s",
    "strokes_total",
    "strokes_proximal",
    "strokes_distal",
    "mean_cadence_spm",
    "elevated_fraction",
    "wrist_neutral_fraction",
    "pain_0_10",
    "swelling_0_10",
)


@settings(max_examples=150, deadline=None)
@given(
    summary=st.dictionaries(st.sampled_from(SUMMARY_KEYS), JSON) | JSON,
    start=JSON | st.floats(min_value=-1e20, max_value=1e20),
    cues=st.lists(st.dictionaries(st.sampled_from(("t", "code", "message", "role")), JSON), max_size=3),
    setting=st.sampled_from(("en", "de_AT", "es_MX")),
)
# Counts past the decimal context's 28 digits (found by hypothesis: Babel rounds in that context).
@example(summary={"duration_s": None, "strokes_total": 1e25}, start=0.0, cues=[], setting="en")
@example(summary={"strokes_total": 10**400, "elevated_fraction": 1e300}, start=0.0, cues=[], setting="de_AT")
def test_whatever_a_stored_session_holds_the_report_is_worded(
    summary: Any, start: Any, cues: list[dict[str, Any]], setting: str
) -> None:
    data = {**_data(), "summary": summary, "start_unix_s": start, "cues": cues}
    view = report_view(data, targets_in_force(None), report_locale(setting, environ={}), targets_sent=False)
    assert all(isinstance(v, str) and v for _, v in [*view["meta"], *view["tiles"]])
    assert all(isinstance(c["message"], str) for c in view["cues"]) and len(view["cues"]) == len(cues)
    json.dumps(view, allow_nan=False)  # embeddable in the page as it is


def test_the_page_carries_the_language() -> None:
    page = render_report(_data(), locale=ReportLocale("es", "es_ES", "A4"))
    assert '<html lang="es-ES">' in page
    assert "<title>Informe de sesión · p-0042 · s-20261124-0930</title>" in page
    data = _embedded(page)
    assert data["paper"] == "A4" and data["text"]["cues_heading"] == "Indicaciones dadas durante la sesión"
    english_page = render_report({**_data(), "paper": "letter"})  # no locale: English, ?paper= honoured
    assert '<html lang="en">' in english_page and '"paper":"Letter"' in english_page


async def test_the_served_report_is_in_the_clinics_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    monkeypatch.delenv("COACH_MONITOR_SECRET_KEY", raising=False)
    db_url = f"sqlite:///{tmp_path}/m.sqlite3"
    db = await open_database(db_url)
    try:
        clinic = await seed_clinic(db, history_days=2)
    finally:
        await db.close()
    cfg = MonitorConfig(broker_url="mqtt://127.0.0.1:1", db_url=db_url, port=0, ingest=False, language="de")
    async with Monitor(cfg) as monitor:
        base = f"{monitor.url}/report/p-anna/{clinic.history_sessions[-1]}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(
                f"{monitor.url}/api/login", json={"username": "alice", "password": PASSWORD_ALICE}
            ) as r:
                assert r.status == 200
            async with http.get(base) as r:
                page = html.unescape(await r.text())
                assert r.status == 200
            assert '<html lang="de-DE">' in page and "<title>Sitzungsbericht · p-anna" in page
            data = _embedded(page)
            assert data["text"]["title"] == "Sitzungsbericht – retrograde Massage" and data["paper"] == "A4"
            assert data["view"]["header"].startswith("Patienten-ID p-anna · Sitzung vom ")
            async with http.get(f"{base}?lang=es&paper=letter") as r:
                page = html.unescape(await r.text())
            data = _embedded(page)
            assert '<html lang="es">' in page and data["paper"] == "Letter"
            assert data["text"]["title"] == "Informe de la sesión de masaje retrógrado"
            async with http.get(f"{base}?lang=fr") as r:
                assert r.status == 400
                assert "choose one of en (English), de (Deutsch), es (Español)" in (await r.json())["error"]
            async with http.get(f"{base}/export.pdf?lang=fr") as r:
                assert r.status == 400  # refused before Chromium is started


def test_the_command_line_refuses_a_language_not_shipped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "coach-data"))
    assert coach_main(["monitor", "--language", "fr", "--listen", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "--language: language 'fr' is not available; choose one of en (English)" in err
