"""Safety screening before a session (DESIGN.md §1): the contraindication questions.

Any "yes" blocks the session and tells the person to consult a clinician. Only a therapist's signed
``clear_screening`` command (verified, audited; see :mod:`coach.mqtt.commands`) lets a session start
anyway, while the clearance is valid. A question left unanswered counts as a "yes": the coach never
starts a session it could not screen.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from coach.session.console import Console


@dataclass(frozen=True)
class Question:
    code: str
    text: str


#: The questions of DESIGN.md §1, in the order they are asked. Codes are stable (audit, status).
QUESTIONS: tuple[Question, ...] = (
    Question(
        "swelling_or_dvt",
        "Is there new swelling you cannot explain, or has anyone told you that you may have a blood clot "
        "(DVT) in this arm?",
    ),
    Question("heart_condition", "Do you have heart failure or another heart condition?"),
    Question("lymphatic_disease", "Do you have a disease of the lymphatic system (for example lymphoedema)?"),
    Question("infection_or_fever", "Do you have an infection, a red hot swollen area, or a fever?"),
    Question("kidney_or_liver_disease", "Do you have kidney or liver disease?"),
    Question("pain", "Do you have pain in this hand or arm right now?"),
)

BLOCKED_MESSAGE = (
    "Please do not do the massage today. One of your answers means it may not be safe: talk to your "
    "clinician or hand therapist first. Your therapist can clear you to continue."
)


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


class TerminalAnswers:
    """Asks on the console: ``y``/``yes`` or ``n``/``no``, asking again otherwise."""

    def __init__(self, console: Console, out: TextIO | None = None, attempts: int = 3) -> None:
        self.console = console
        self.out = out or sys.stderr
        self.attempts = attempts

    async def ask(self, question: Question) -> bool | None:
        for _ in range(self.attempts):
            self.out.write(f"{question.text} [y/n] ")
            self.out.flush()
            line = await self.console.readline()
            if line is None:
                self.out.write("(no answer)\n")
                return None  # end of input: unanswered
            reply = line.strip().lower()
            if reply in ("y", "yes"):
                return True
            if reply in ("n", "no"):
                return False
            self.out.write("Please answer y (yes) or n (no).\n")
        return None


async def run_screening(source: AnswerSource) -> ScreeningResult:
    """Ask every question (all of them, so the therapist sees every answer) and evaluate."""
    answers: dict[str, bool | None] = {}
    for question in QUESTIONS:
        answers[question.code] = await source.ask(question)
    return evaluate(answers)


async def ask_score(console: Console, out: TextIO, prompt: str, attempts: int = 3) -> int | None:
    """Ask for a whole number 0–10 on the console; ``None`` if none is given."""
    for _ in range(attempts):
        out.write(f"{prompt} (0–10, Enter to skip) ")
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
        out.write("Please type a whole number from 0 to 10.\n")
    return None
