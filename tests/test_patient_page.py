"""The session page's parts without a browser: pairing, the page's document through a session's
events, answers racing between the page and another source, the summary's comparison, the options."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.cli.session_options import add_person_options, person_settings
from coach.contraindications import QUESTIONS, Question
from coach.cue_texts import PIPELINE_CUES as MESSAGES
from coach.errors import ConfigError
from coach.feedback.progress import assess, load_history
from coach.i18n import texts
from coach.patient_page import PageOptions, PatientPage, qr_text
from coach.patient_page.inputs import DelayedAnswers, SharedAnswers, SharedSelfReport
from coach.patient_page.pairing import Pairing, ensure_certificate
from coach.patient_page.state import PageView
from coach.session.config import parse_config
from coach.session.flow import ScriptedSelfReport
from coach.session.screening import ScriptedAnswers


def test_pairing_codes_tokens_and_a_new_code_after_five_wrong_tries() -> None:
    shown: list[str] = []
    p = Pairing(digits=6, on_new_code=shown.append)
    first = p.code
    assert len(first) == 6 and first.isdigit()
    assert p.pair(" ".join(first[:3]) + first[3:]) is not None  # spaces typed in the code are fine
    wrong = "1" * 6 if first != "1" * 6 else "2" * 6
    for _ in range(4):
        assert p.pair(wrong) is None
    assert p.code == first and not shown
    assert p.pair(wrong) is None
    assert p.code != first and shown == [p.code]  # guessing is hopeless: a fresh code, on the console
    assert p.pair(first) is None
    token = p.pair(p.code)
    assert token is not None and p.valid(token) and not p.valid("nope") and not p.valid(None)
    local = Pairing(digits=None)
    assert len(local.code) >= 32


def test_the_pages_certificate_is_made_once_kept_private_and_reused(tmp_path: Path) -> None:
    cert, key = ensure_certificate(tmp_path / "tls", ["192.0.2.7", "coach-pc"])
    assert oct(cert.stat().st_mode & 0o777) == "0o600" and oct(key.stat().st_mode & 0o777) == "0o600"
    before = cert.read_bytes()
    assert ensure_certificate(tmp_path / "tls", ["coach-pc"])[0].read_bytes() == before  # reused
    assert ensure_certificate(tmp_path / "tls", ["other-host"])[0].read_bytes() != before  # new name: new
    assert "█" in qr_text("https://192.0.2.7:8760/pair?code=123456") or "▀" in qr_text("x")


def _cue(code: str, t: float, **fields: object) -> dict[str, object]:
    return {
        "type": "cue",
        "t": t,
        "id": f"cue-{t}",
        "code": code,
        "message": MESSAGES.get(code, "x"),
        **fields,
    }


def test_the_pages_document_follows_the_session() -> None:
    view = PageView(
        texts("es"), cadence_spm=(8.0, 40.0), body={"forearm_length_m": 0.3, "elbow_to_heart_m": 0.0}
    )
    said: list[dict[str, object]] = []
    client = view.listeners.add()
    assert view.snapshot()["screen"] == "starting"
    view.ask_question("pain", QUESTIONS[-1].text)
    doc = view.snapshot()
    assert doc["screen"] == "question" and doc["question"]["text"].startswith("¿Le duele ahora")
    view.show_answer("pain", False)
    view.question_done()
    for code, step in (("calibration_still", 1), ("calibration_rotate_retry", 2)):
        view.on_event(_cue(code, 1.0))
        assert view.snapshot()["calibration"]["step"] == step
    view.on_event({"type": "state", "t": 11.0, "id": "s1", "state": "active", "reason": ""})
    view.on_event({"type": "posture", "t": 12.0, "id": "p1", "elevated": True, "elevation_deg": 30.0,
                   "wrist_neutral": False})  # fmt: skip
    view.on_event({"type": "stroke", "t": 13.0, "id": "k1", "direction": "distal"})
    view.on_event({"type": "cadence", "t": 13.0, "id": "c1", "strokes_per_min": 45.0})
    view.on_event(_cue("sensor_lost", 14.0, role="hand"))
    view.on_event({"type": "state", "t": 14.5, "id": "s2", "state": "paused", "reason": "paused by command"})
    doc = view.snapshot()
    assert doc["screen"] == "paused" and doc["pause_reason"] == "sensor"
    assert doc["posture"]["height_m"] == pytest.approx(0.15) and doc["posture"]["wrist"] == "bent"
    assert doc["strokes"]["distal"] == 1 and doc["rhythm"] == {"spm": 45, "verdict": "fast"}
    # A live cadence the coach does not trust is shown without a verdict (no cue stands on it either).
    view.on_event({"type": "cadence", "t": 14.6, "id": "c2", "strokes_per_min": 50.0, "trusted": False})
    assert view.snapshot()["rhythm"] == {"spm": 50, "verdict": None}
    assert doc["cue"]["urgent"] and doc["cue"]["text"].startswith("El sensor de la mano ha perdido")
    said = list(client.says)
    assert [s["code"] for s in said] == ["question_pain", "calibration_still", "calibration_rotate_retry",
                                         "sensor_lost"]  # fmt: skip
    assert said[-1]["urgent"] and all(s["lang"] == "es" for s in said)
    view.on_event({"type": "state", "t": 30.0, "id": "s3", "state": "finished", "reason": "target"})
    view.on_event({"type": "summary", "t": 30.0, "id": "sum", "duration_s": 600.0, "strokes_total": 10,
                   "strokes_proximal": 9, "strokes_distal": 1, "elevated_fraction": 0.9,
                   "wrist_neutral_fraction": None, "wall_utc": "2026-11-30T10:00:00Z"})  # fmt: skip
    doc = view.snapshot()
    assert doc["screen"] == "summary" and doc["summary"]["progress"]["code"] == "excellent"


def test_progress_compares_with_the_last_sessions(tmp_path: Path) -> None:
    import json

    for day, (prox, dist, swell) in enumerate([(50, 50, 6), (60, 40, 5)], start=1):
        doc = {
            "wall_utc": f"2026-11-2{day}T09:00:00Z",
            "duration_s": 700,
            "strokes_total": prox + dist,
            "strokes_proximal": prox,
            "strokes_distal": dist,
            "elevated_fraction": 0.7,
            "swelling_0_10": swell,
        }
        (tmp_path / f"s-{day}.summary.json").write_text(json.dumps(doc))  # fmt: skip
    (tmp_path / "s-3.summary.json").write_text('{"duration_s": 5, "strokes_total": 0, "wall_utc": "x"}')  # no
    (tmp_path / "broken.summary.json").write_text("{")
    history = load_history(tmp_path, exclude="s-2")
    assert [h["strokes_proximal"] for h in history] == [50]
    history = load_history(tmp_path)
    today = {"wall_utc": "2026-11-25T09:00:00Z", "duration_s": 700, "strokes_total": 100,
             "strokes_proximal": 80, "strokes_distal": 20, "elevated_fraction": 0.7,
             "swelling_0_10": 5}  # fmt: skip
    progress = assess(today, history, texts("en"))
    assert progress.code == "direction_better" and progress.sessions_compared == 2
    assert progress.streak == "You have done 3 sessions in the last 7 days."
    rows = {r.key: r for r in progress.rows}
    assert rows["proximal"].change == "better" and rows["distal"].change == "better"
    assert (
        rows["raised"].change == "same"
        and rows["swelling"].change == "same"
        and rows["swelling"].before == "5"
    )
    assert assess(today, [], texts("de")).streak == "Das war Ihre erste Sitzung mit dem Coach."


async def test_answers_race_between_the_page_and_another_source() -> None:
    page = PatientPage(texts("en"), PageOptions(port=0), reveal_s=0.05)
    answers = page.answers([DelayedAnswers(ScriptedAnswers({"pain": True}), 0.2)])
    # The other source answers first: the page shows the answer as it happens.
    assert await answers.ask(Question("pain", QUESTIONS[-1].text)) is True
    assert page.view.question is not None and page.view.question["answer"] is True
    # The page answers first: the other source is cancelled.
    task = asyncio.create_task(answers.ask(Question("heart_condition", QUESTIONS[1].text)))
    await asyncio.sleep(0.05)
    assert page.inputs.answer("heart_condition", False) and not page.inputs.answer("heart_condition", True)
    assert await task is False
    # A source that cannot answer (no terminal) leaves the question to the page.
    closed = SharedAnswers(page.inputs, [ScriptedAnswers(default=None)])
    task = asyncio.create_task(closed.ask(Question("pain", QUESTIONS[-1].text)))
    await asyncio.sleep(0.05)
    assert not task.done() and page.inputs.answer("pain", False)
    assert await task is False
    report = SharedSelfReport(page.inputs, [ScriptedSelfReport(None, None)])
    report_task = asyncio.create_task(report.report())
    await asyncio.sleep(0.05)
    assert page.view.snapshot()["report"]["step"] == "pain" and page.inputs.score("pain", 4)
    await asyncio.sleep(0.01)
    assert page.inputs.score("swelling", None)  # skipped
    assert await report_task == (4, None)
    assert page.inputs.stop() is False  # no session bound: nothing to stop


def test_options_and_config_for_the_person() -> None:
    parser = argparse.ArgumentParser()
    add_person_options(parser)
    got = person_settings(
        parser.parse_args(["--language", "de-AT", "--mute", "--helper", "--page-network"]), {}
    )
    assert got["language"] == "de" and got["voice"] is False and got["helper"] is True
    assert got["page"].network and got["page"].enabled
    assert person_settings(parser.parse_args(["--no-page"]), {"port": 9000})["page"] == PageOptions(
        enabled=False, port=9000
    )
    with pytest.raises(ConfigError, match="--language: language 'klingon'"):
        person_settings(parser.parse_args(["--language", "klingon"]), {})
    cfg = parse_config(
        {"patient": "p-1", "language": "Español", "helper": True, "page": {"network": True}}, "s"
    )
    assert cfg.language == "es" and cfg.helper and cfg.voice and cfg.page == {"network": True}
    assert not parse_config({"patient": "p-1", "audio": False}, "s").voice
    with pytest.raises(ConfigError, match=r"\[page\] unknown key\(s\) colour"):
        parse_config({"patient": "p-1", "page": {"colour": "red"}}, "s")
    with pytest.raises(ConfigError, match="'language': language 'fr'"):
        parse_config({"patient": "p-1", "language": "fr"}, "s")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
PATHS = ("/api/answer", "/api/report", "/api/pause", "/api/helper", "/api/pair", "/api/stop")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(PATHS), JSON | st.binary(max_size=40)), min_size=1, max_size=25))
def test_no_request_breaks_the_page_or_answers_for_the_person(requests: list[tuple[str, object]]) -> None:
    """Whatever a browser (or anything on the network) sends, the server answers with a clear 4xx,
    never a 500, and no question is answered but with a proper answer to the question being asked."""
    import json as jsonlib

    import aiohttp

    async def run() -> None:
        page = PatientPage(texts("en"), PageOptions(port=0, host="127.0.0.1"))
        url = await page.start()
        base = url.split("/?")[0]
        asking = asyncio.create_task(page.inputs.wait_answer(Question("pain", QUESTIONS[-1].text)))
        try:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                async with http.get(url) as r:
                    assert r.status == 200
                for path, body in requests:
                    data = body if isinstance(body, bytes) else jsonlib.dumps(body).encode()
                    async with http.post(
                        base + path, data=data, headers={"Content-Type": "application/json"}
                    ) as r:
                        assert r.status < 500, (path, body, r.status)
                        valid = (
                            path == "/api/answer" and isinstance(body, dict) and body.get("code") == "pain"
                            and isinstance(body.get("answer"), bool)
                        )  # fmt: skip
                        if r.status == 200 and path == "/api/answer":
                            assert valid
                        if valid and not asking.done():
                            assert r.status == 200
                    if asking.done():
                        break
                async with http.get(base + "/api/state") as r:
                    assert r.status == 200 and (await r.json())["screen"] in ("question", "starting")
        finally:
            asking.cancel()
            await page.stop()

    asyncio.run(run())
