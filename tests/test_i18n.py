"""The message catalogues: complete in every shipped language, placeholders that match, compiled
files in step with their sources, English where a translation is missing, and every text a person
sees or hears going through them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo

from coach.contraindications import QUESTIONS
from coach.cue_texts import CALIBRATION_TEXTS, cue_source, cue_text, english, sensor_name
from coach.cue_texts import PIPELINE_CUES as MESSAGES
from coach.feedback.terminal import TerminalView, format_summary
from coach.i18n import LANGUAGES, LanguageError, Texts, placeholders, resolve_language, texts
from coach.i18n.tools import DOMAINS, check, extract, load_mo, po_path, read_catalog, translated_languages
from coach.monitor.report_text import REPORT_TEXT, report_texts
from coach.patient_page.texts import PAGE_TEXTS, page_texts
from coach.session.guided_calibration import PROMPTS


def test_every_catalogue_is_complete_consistent_and_compiled() -> None:
    for domain in DOMAINS:
        assert [str(p) for p in check(domain)] == []


@pytest.mark.parametrize(("domain", "at_least"), [("patient", 150), ("monitor", 50)])
def test_every_message_exists_in_every_shipped_language_with_the_same_placeholders(
    domain: str, at_least: int
) -> None:
    template = extract(domain)
    ids = [m.id for m in template if m.id]
    assert len(ids) >= at_least
    assert set(translated_languages()) == set(LANGUAGES) - {"en"} and {"de", "es"} <= set(LANGUAGES)
    for lang in translated_languages():
        tr = texts(lang, domain)
        catalog = {m.id: m for m in read_catalog(po_path(lang, domain), lang) if m.id}
        for mid in ids:
            message = catalog[mid]
            singulars = (mid,) if isinstance(mid, str) else tuple(mid)  # plural ids are tuples
            strings = tuple(message.string) if isinstance(message.string, tuple | list) else (message.string,)
            want = set().union(*(placeholders(s) for s in singulars))
            for s in strings:
                assert s and placeholders(s) == want, (lang, mid, s)
            if isinstance(mid, str):
                assert tr.has(mid) and tr.template(mid) == strings[0]  # the compiled file has it


def test_a_missing_translation_falls_back_to_english(tmp_path: Path) -> None:
    catalog = read_catalog(po_path("de", "patient"), "de")
    missing = QUESTIONS[1].text
    catalog.delete(missing)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    from gettext import NullTranslations

    translations = load_mo(buf.getvalue())
    translations.add_fallback(NullTranslations())
    tr = Texts("de", translations)
    assert tr(missing) == missing  # English, not an error or an empty string
    assert not tr.has(missing)
    assert tr(QUESTIONS[0].text).startswith("Gibt es eine neue Schwellung")
    # A translation whose placeholders do not fit is replaced by the English text, filled in.
    assert Texts("de", NullTranslations())("{n} left", n=3) == "3 left"


def test_every_report_text_is_a_monitor_message_and_a_missing_one_falls_back_to_english() -> None:
    ids = {m.id for m in extract("monitor") if m.id}
    assert set(REPORT_TEXT.values()) == ids  # the report's texts are the monitor catalogue, all of it
    for lang in translated_languages():
        words = report_texts(texts(lang, "monitor"))
        assert set(words) == set(REPORT_TEXT)
        same = {key for key, text in words.items() if text == REPORT_TEXT[key]}
        assert same <= {"per_min", "row_proximal", "row_distal"}, (lang, same)  # the same in every language
    assert report_texts(texts("de", "monitor"))["cues_heading"] == "Hinweise an die behandelte Person"
    catalog = read_catalog(po_path("de", "monitor"), "de")
    catalog.delete(REPORT_TEXT["cues_heading"])
    buf = io.BytesIO()
    write_mo(buf, catalog)
    from gettext import NullTranslations

    translations = load_mo(buf.getvalue())
    translations.add_fallback(NullTranslations())
    words = report_texts(Texts("de", translations))
    assert words["cues_heading"] == "Cues given to the patient"  # English, not empty
    assert words["title"] == "Sitzungsbericht – retrograde Massage"
    assert Texts("de", translations)(REPORT_TEXT["more"], n=3) == "+3 weitere"


def test_language_choice() -> None:
    assert resolve_language("de") == "de" and resolve_language("es-MX") == "es"
    assert resolve_language("de_AT") == "de" and resolve_language("Español") == "es"
    with pytest.raises(LanguageError, match="not available; choose one of en"):
        resolve_language("fr")


def test_texts_the_session_shows_come_from_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    de, es = texts("de"), texts("es")
    assert de(QUESTIONS[-1].text) == "Haben Sie gerade Schmerzen in dieser Hand oder diesem Arm?"
    assert es(MESSAGES["raise_hand"]).startswith("Levante un poco la mano")
    # The English the events carry is the catalogue's English (one source of truth).
    assert {code: CALIBRATION_TEXTS[code] for code in PROMPTS} == PROMPTS
    for code, text in MESSAGES.items():
        assert cue_source(code) == text
    assert english("sensor_lost", role="hand").startswith("The sensor on your hand lost its connection")
    # Cues are translated by code; in helper mode the stroke cues speak to the helper.
    event = {"type": "cue", "code": "stroke_toward_elbow", "message": MESSAGES["stroke_toward_elbow"]}
    assert cue_text(de, event).startswith("Streichen Sie zum Ellbogen")
    assert cue_text(de, event, helper=True).startswith("Hilfsperson:")
    assert cue_text(de, {"code": "sensor_lost", "role": "stroker"}, helper=True).startswith(
        "Der Sensor am Handgelenk der Hilfsperson"
    )
    assert cue_text(de, {"code": "something_new", "message": "As it came."}) == "As it came."
    assert sensor_name(es, "treated") == "Antebrazo"
    # The page's own words, placeholders kept for its script.
    words = page_texts(es)
    assert (
        set(words) == set(PAGE_TEXTS)
        and words["question_progress"] == "Pregunta de seguridad {index} de {count}"
    )


def test_the_terminal_view_speaks_the_session_language() -> None:
    out = io.StringIO()
    view = TerminalView(out, interactive=False, status_every_s=0.0, tr=texts("de"))
    view.model.state = "active"
    view.on_event(
        {"type": "cue", "t": 65.0, "id": "cue-1", "code": "raise_hand", "message": MESSAGES["raise_hand"]}
    )
    view.on_event({"type": "state", "t": 66.0, "id": "state-1", "state": "paused", "reason": "x"})
    view.set_sensor("hand", "down", 40.0)
    text = out.getvalue()
    assert "[01:05] Heben Sie die Hand etwas an" in text and "Sitzung: pausiert" in text
    assert "Sensor Hand: Verbindung verloren" in text
    assert "Hand getrennt" in view.status_line()
    panel = "\n".join(TerminalView(io.StringIO(), interactive=True, tr=texts("es")).panel())
    assert "Pulse q (o la barra espaciadora) para parar." in panel
    summary = format_summary({"duration_s": 600.0, "strokes_total": 3, "elevated_fraction": 0.5}, texts("es"))
    assert summary.startswith("Resumen de la sesión") and "50% del tiempo" in summary
