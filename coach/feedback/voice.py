"""Spoken cues: one at a time, urgent ones first, in the session's language.

:class:`VoiceQueue` is the policy, with no clock or sound of its own (the session page's script follows
the same rules in the browser):

- never two at once: the next utterance starts only when the one before has ended;
- urgent ones (screening blocked, a sensor lost, calibration failed, stop) go before every waiting
  normal one, and cut off a normal one being spoken; an urgent one is never cut off;
- a normal cue waiting while the same cue comes again is replaced by the newer; at most
  ``max_waiting`` normal ones wait (the oldest goes), and one that waited longer than ``max_age_s`` is
  dropped unspoken (a stale cue is worse than none).

:class:`MachineVoice` speaks on the coach's computer with ``espeak-ng`` (or ``espeak``) when no session
page is open (an open page speaks in the browser instead); without either program it says so once.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from coach.cue_texts import cue_text, is_urgent
from coach.feedback.view import ViewModel, update_model
from coach.i18n import N_, Texts

NO_SPEECH = N_(
    "coach: espeak-ng is not installed, so this computer cannot speak the cues. Open the session page "
    "to hear them there, or install espeak-ng (sudo apt-get install espeak-ng)."
)


@dataclass
class Utterance:
    text: str
    code: str = ""
    urgent: bool = False
    created_s: float = 0.0


@dataclass
class VoiceQueue:
    """What to say next (see the module docstring). Times are seconds on any monotonic clock."""

    max_age_s: float = 8.0
    max_waiting: int = 3
    waiting: list[Utterance] = field(default_factory=list)
    speaking: Utterance | None = None
    dropped: int = 0

    def add(self, u: Utterance) -> bool:
        """Queue ``u``; ``True`` when the utterance being spoken must be cut off for it."""
        if u.urgent:
            at = sum(1 for w in self.waiting if w.urgent)
            self.waiting.insert(at, u)
            return self.speaking is not None and not self.speaking.urgent
        same = next(
            (i for i, w in enumerate(self.waiting) if not w.urgent and w.code and w.code == u.code), None
        )
        if same is not None:
            del self.waiting[same]
            self.dropped += 1
        self.waiting.append(u)
        normal = [w for w in self.waiting if not w.urgent]
        while len(normal) > self.max_waiting:
            self.waiting.remove(normal.pop(0))
            self.dropped += 1
        return False

    def next(self, now_s: float) -> Utterance | None:
        """The utterance to start now (``None``: nothing, or one is still being spoken)."""
        if self.speaking is not None:
            return None
        while self.waiting:
            u = self.waiting.pop(0)
            if not u.urgent and now_s - u.created_s > self.max_age_s:
                self.dropped += 1
                continue
            self.speaking = u
            return u
        return None

    def finished(self) -> None:
        self.speaking = None

    def clear(self) -> None:
        self.dropped += len(self.waiting)
        self.waiting.clear()


def speech_program() -> str | None:
    for name in ("espeak-ng", "espeak"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


class Speaker:
    """Runs the speech program for one utterance at a time; :meth:`cut` stops the current one."""

    def __init__(self, program: str, words_per_min: int = 150) -> None:
        self.program = program
        self.words_per_min = words_per_min
        self._proc: asyncio.subprocess.Process | None = None
        self.spoken = 0

    async def say(self, text: str, language: str) -> None:
        """Speak ``text`` and return when it has been said (or cut off)."""
        try:
            self._proc = await asyncio.create_subprocess_exec(
                self.program, "-v", language, "-s", str(self.words_per_min), "--", text,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:
            return
        self.spoken += 1
        try:
            await self._proc.wait()
        finally:
            self._proc = None

    def cut(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()


class MachineVoice:
    """A session view that speaks every cue on this computer while no session page is open.

    ``page_open`` tells whether a page is listening (then the browser speaks and this stays quiet).
    """

    def __init__(
        self,
        tr: Texts,
        *,
        enabled: bool = True,
        helper: bool = False,
        page_open: Callable[[], bool] = lambda: False,
        program: str | None = None,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tr = tr
        self.enabled = enabled
        self.helper = helper
        self.page_open = page_open
        self.out = out or sys.stderr
        self.clock = clock
        self.model = ViewModel()
        self.owns_model = True
        self.queue = VoiceQueue()
        exe = program or (speech_program() if enabled else None)
        self.speaker = Speaker(exe) if exe else None
        self._told_missing = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # -- the view's side -------------------------------------------------------------------------
    def on_event(self, event: Mapping[str, Any]) -> None:
        if self.owns_model:
            update_model(self.model, event)
        if event.get("type") == "cue":
            code = str(event.get("code", ""))
            self.speak(cue_text(self.tr, event, helper=self.helper), code=code, urgent=is_urgent(code))

    def set_sensor(self, role: str, link: str, battery_pct: float | None = None) -> None:
        return None

    def refresh(self, *, force: bool = False) -> None:
        return None

    def close(self) -> None:
        return None

    # -- speaking --------------------------------------------------------------------------------
    def speak(self, text: str, *, code: str = "", urgent: bool = False) -> None:
        """Queue ``text`` for this computer's voice (nothing while a page is open or voice is off)."""
        if not self.enabled or not text or self.page_open():
            return
        if self.speaker is None:
            if not self._told_missing:
                self._told_missing = True
                self.out.write(self.tr(NO_SPEECH) + "\n")
                self.out.flush()
            return
        if self.queue.add(Utterance(text, code, urgent, self.clock())):
            self.speaker.cut()
        self._ensure_running()
        assert self._wake is not None
        self._wake.set()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="machine-voice")

    async def _run(self) -> None:
        assert self._wake is not None and self.speaker is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (u := self.queue.next(self.clock())) is not None:
                try:
                    if self.page_open():
                        self.queue.clear()
                    else:
                        await self.speaker.say(u.text, self.tr.language)
                finally:
                    self.queue.finished()

    async def aclose(self, drain_s: float = 6.0) -> None:
        """Let what is being said and waiting finish (at most ``drain_s``), then stop."""
        task = self._task
        if task is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        while (self.queue.speaking is not None or self.queue.waiting) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if self.speaker is not None:
            self.speaker.cut()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
