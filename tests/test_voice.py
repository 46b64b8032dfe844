"""Spoken cues: the queue's rules (one at a time, urgent first, stale ones dropped), the computer's
voice through a stand-in ``espeak-ng`` on PATH, and the real espeak-ng speaking each shipped language."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from coach.cue_texts import PIPELINE_CUES as MESSAGES
from coach.feedback.voice import MachineVoice, Utterance, VoiceQueue
from coach.i18n import LANGUAGES, texts


def test_the_queue_says_one_thing_at_a_time_urgent_first() -> None:
    q = VoiceQueue(max_age_s=8.0, max_waiting=3)
    assert not q.add(Utterance("raise", "raise_hand", created_s=0.0))
    first = q.next(0.0)
    assert first is not None and first.code == "raise_hand"
    assert q.next(0.1) is None  # never two at once
    assert not q.add(Utterance("wrist", "straighten_wrist", created_s=0.2))
    assert not q.add(Utterance("five", "five_minutes_left", created_s=0.3))
    # An urgent one cuts off the normal one being spoken and goes before the waiting ones.
    assert q.add(Utterance("lost", "sensor_lost", urgent=True, created_s=0.4))
    assert q.add(Utterance("stop", "session_stopped", urgent=True, created_s=0.5))
    q.finished()
    order = []
    while (u := q.next(1.0)) is not None:
        order.append(u.code)
        q.finished()
    assert order == ["sensor_lost", "session_stopped", "straighten_wrist", "five_minutes_left"]
    # An urgent one never cuts off another urgent one.
    q.add(Utterance("lost", "sensor_lost", urgent=True, created_s=2.0))
    assert q.next(2.0) is not None
    assert not q.add(Utterance("blocked", "screening_blocked", urgent=True, created_s=2.1))


def test_the_queue_drops_repeats_overflow_and_stale_cues() -> None:
    q = VoiceQueue(max_age_s=8.0, max_waiting=3)
    q.add(Utterance("speaking", "a", created_s=0.0))
    q.next(0.0)
    q.add(Utterance("old raise", "raise_hand", created_s=0.1))
    q.add(Utterance("new raise", "raise_hand", created_s=0.2))  # the same cue again: the newer replaces it
    for i in range(4):
        q.add(Utterance(f"n{i}", f"c{i}", created_s=0.3 + i))
    assert [u.text for u in q.waiting] == ["n1", "n2", "n3"]  # at most three wait, the oldest go
    q.finished()
    assert q.next(9.0) is not None and q.next(9.0) is None  # n1 (created 1.3) is still fresh at 9.0
    q.finished()
    assert q.next(12.0) is None  # n2 and n3 waited too long: dropped unspoken
    assert q.dropped == 5  # the replaced repeat, two overflowed, two stale


def _fake_espeak(bin_dir: Path, log: Path) -> None:
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "espeak-ng"
    fake.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do last="$a"; done\n'
        f'echo "start $2 $last" >> {log}\n'
        f"trap 'echo \"cut $last\" >> {log}; exit 0' TERM\n"
        "sleep 0.4 &\nwait $!\n"
        f'echo "end $last" >> {log}\n'
    )
    fake.chmod(0o755)


async def test_the_computer_speaks_in_the_session_language_one_cue_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "spoken.log"
    _fake_espeak(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    voice = MachineVoice(texts("de"), out=io.StringIO())
    assert voice.speaker is not None and voice.speaker.program.startswith(str(tmp_path))
    voice.on_event(
        {"type": "cue", "t": 1.0, "id": "c1", "code": "raise_hand", "message": MESSAGES["raise_hand"]}
    )
    await asyncio.sleep(0.15)
    voice.on_event({"type": "cue", "t": 2.0, "id": "c2", "code": "slower", "message": MESSAGES["slower"]})
    voice.on_event(
        {"type": "cue", "t": 3.0, "id": "c3", "code": "sensor_lost", "role": "hand", "message": "x"}
    )
    await voice.aclose(drain_s=5.0)
    lines = log.read_text(encoding="utf-8").splitlines()
    kinds = [line.split(" ", 1)[0] for line in lines]
    # Never overlapping: every start is followed by its end or its cut before the next start.
    assert kinds == ["start", "cut", "start", "end", "start", "end"], lines
    assert lines[0] == "start de Heben Sie die Hand etwas an: Halten Sie sie über Herzhöhe."
    assert lines[2].startswith(
        "start de Der Sensor an Ihrer Hand hat die Verbindung verloren"
    )  # urgent first
    assert lines[4].startswith("start de Langsamer")


async def test_the_computer_stays_quiet_while_a_page_is_open_and_says_once_when_it_cannot_speak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "spoken.log"
    _fake_espeak(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    page_open = True
    voice = MachineVoice(texts("en"), page_open=lambda: page_open, out=io.StringIO())
    voice.on_event(
        {"type": "cue", "t": 1.0, "id": "c1", "code": "raise_hand", "message": MESSAGES["raise_hand"]}
    )
    await voice.aclose()
    assert not log.exists()  # the page speaks it
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = io.StringIO()
    mute = MachineVoice(texts("es"), out=out)
    for i in range(3):
        mute.on_event({"type": "cue", "t": i, "id": f"c{i}", "code": "slower", "message": MESSAGES["slower"]})
    assert out.getvalue().count("\n") == 1 and out.getvalue().startswith("coach: espeak-ng no está")  # once
    off = MachineVoice(texts("en"), enabled=False, out=out)
    assert off.speaker is None


def test_the_real_espeak_ng_speaks_every_shipped_language(tmp_path: Path) -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is missing: run scripts/system-deps.sh (apt-get install espeak-ng)")
    for lang in LANGUAGES:
        wav = tmp_path / f"{lang}.wav"
        text = texts(lang)(MESSAGES["raise_hand"])
        subprocess.run([exe, "-v", lang, "-s", "150", "-w", str(wav), "--", text], check=True, timeout=60)
        with wave.open(str(wav)) as w:
            seconds = w.getnframes() / w.getframerate()
        assert 2.0 < seconds < 12.0, (lang, seconds)
