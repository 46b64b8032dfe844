"""Safety screening before a session (docs/design.md §1): the contraindication questions.

Any "yes" blocks the session and tells the person to consult a clinician. Only a therapist's signed
``clear_screening`` command (verified, audited; see :mod:`coach.mqtt.commands`) lets a session start
anyway, while the clearance is valid. A question left unanswered counts as a "yes": the coach never
starts a session it could not screen.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from coach.contraindications import QUESTIONS, Question
from coach.i18n import N_, Texts, texts
from coach.session.console import Console

# TRANSLATORS: the letters and words a person may type for yes and for no, separated by "|"; English
# "y|yes" and "n|no" are always understood as well.
YES_WORDS = N_("y|yes")
NO_WORDS = N_("n|no")
ASK_YES_NO = N_("[y/n]")
NO_ANSWER = N_("(no answer)")
ANSWER_YES_OR_NO = N_("Please answer y (yes) or n (no).")
SCORE_HINT = N_("(0–10, Enter to skip)")
SCORE_AGAIN = N_("Please type a whole number from 0 to 10.")


@dataclass(frozen=True)
class ScreeningResult:
    """Answers by question code (``None``: not answered) and the codes that block."""

    answers: dict[str, bool | None]
    blocked_by: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        return bool(self.blocked_by)


def evaluate(answers: Mapping[str, bool | None]) -> ScreeningResult:
    """Block on every "yes" and every unanswered question."""
    full = {q.code: answers.get(q.code) for q in QUESTIONS}
    return ScreeningResult(full, tuple(code for code, a in full.items() if a is not False))


class AnswerSource(Protocol):
    """Asks one yes/no question; ``None`` when no answer can be had (no terminal, end of input)."""

    async def ask(self, question: Question) -> bool | None: ...


class ScriptedAnswers:
    """Fixed answers (the demo's simulated patient says "no" to everything)."""

    def __init__(self, answers: Mapping[str, bool] | None = None, default: bool | None = False) -> None:
        self.answers = dict(answers or {})
        self.default = default
        self.asked: list[str] = []

    async def ask(self, question: Question) -> bool | None:
        self.asked.append(question.code)
        return self.answers.get(question.code, self.default)


def _words(tr: Texts, msgid: str) -> set[str]:
    return {w.strip().casefold() for w in (msgid + "|" + tr(msgid)).split("|") if w.strip()}


class TerminalAnswers:
    """Asks on the console, in the session's language: ``y``/``yes`` or ``n``/``no`` (and the
    language's own words), asking again otherwise."""

    def __init__(
        self, console: Console, out: TextIO | None = None, attempts: int = 3, tr: Texts | None = None
    ) -> None:
        self.console = console
        self.out = out or sys.stderr
        self.attempts = attempts
        self.tr = tr or texts("en")

    async def ask(self, question: Question) -> bool | None:
        tr = self.tr
        yes, no = _words(tr, YES_WORDS), _words(tr, NO_WORDS)
        for _ in range(self.attempts):
            self.out.write(f"{tr(question.text)} {tr(ASK_YES_NO)} ")
            self.out.flush()
            try:
                line = await self.console.readline()
            except asyncio.CancelledError:
                self.out.write("\n")  # answered elsewhere (the session page): end the prompt's line
                raise
            if line is None:
                self.out.write(tr(NO_ANSWER) + "\n")
                return None  # end of input: unanswered
            reply = line.strip().casefold()
            if reply in yes:
                return True
            if reply in no:
                return False
            self.out.write(tr(ANSWER_YES_OR_NO) + "\n")
        return None


async def run_screening(source: AnswerSource) -> ScreeningResult:
    """Ask every question (all of them, so the therapist sees every answer) and evaluate."""
    answers: dict[str, bool | None] = {}
    for question in QUESTIONS:
        answers[question.code] = await source.ask(question)
    return evaluate(answers)


async def ask_score(
    console: Console, out: TextIO, prompt: str, attempts: int = 3, tr: Texts | None = None
) -> int | None:
    """Ask for a whole number 0–10 on the console (``prompt`` already in the person's language);
    ``None`` if none is given."""
    tr = tr or texts("en")
    for _ in range(attempts):
        out.write(f"{prompt} {tr(SCORE_HINT)} ")
        out.flush()
        line = await console.readline()
        if line is None or not line.strip():
            return None
        try:
            value = int(line.strip())
        except ValueError:
            value = -1
        if 0 <= value <= 10:
            return value
        out.write(tr(SCORE_AGAIN) + "\n")
    return None
