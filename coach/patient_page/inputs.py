"""The session page as the session's input: screening answers, pain and swelling, stop and pause.

:class:`PageInputs` holds what the page's buttons answer. :class:`SharedAnswers` and
:class:`SharedSelfReport` ask on the page and on other sources at once (the terminal, the demo's
simulated patient): the first answer wins and the page shows it as it happens, so whoever answers
where, the page and the session agree. A source that cannot answer (``None``: no terminal, end of
input) does not end the question while another one still can.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from typing import Generic, Protocol, TypeVar

from coach.patient_page.state import PageView

T = TypeVar("T")


class QuestionLike(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def text(self) -> str: ...


Q = TypeVar("Q", bound=QuestionLike)
Q_contra = TypeVar("Q_contra", bound=QuestionLike, contravariant=True)


class AnswerSourceLike(Protocol[Q_contra]):
    async def ask(self, question: Q_contra) -> bool | None: ...


class SelfReportLike(Protocol):
    async def report(self) -> tuple[int | None, int | None]: ...


class SessionControls(Protocol):
    """What the page's Stop and Pause buttons do to a live session."""

    def request_stop(self, reason: str = ...) -> None: ...

    def pause_by_person(self) -> bool: ...

    def resume_by_person(self) -> bool: ...


class PageInputs:
    """Pending questions and what the page answered; ``reveal_s``: how long an answer given elsewhere
    stays visible on the page before the next screen."""

    def __init__(self, view: PageView, *, reveal_s: float = 0.8, answer_wait_s: float = 600.0) -> None:
        self.view = view
        self.reveal_s = reveal_s
        self.answer_wait_s = answer_wait_s
        self.controls: SessionControls | None = None
        self._answer: tuple[str, asyncio.Future[bool | None]] | None = None
        self._score: tuple[str, asyncio.Future[int | None]] | None = None

    # -- from the page -----------------------------------------------------------------------------
    def answer(self, code: str, value: bool) -> bool:
        """The page answered question ``code``; ``False`` when that question is not being asked."""
        pending = self._answer
        if pending is None or pending[0] != code or pending[1].done():
            return False
        pending[1].set_result(value)
        return True

    def score(self, step: str, value: int | None) -> bool:
        """The page gave pain or swelling (``None``: skipped); ``False`` when not asked now."""
        pending = self._score
        if pending is None or pending[0] != step or pending[1].done():
            return False
        pending[1].set_result(value)
        return True

    def stop(self) -> bool:
        if self.controls is None:
            return False
        self.view.person_stopped()
        self.controls.request_stop("stopped by the person (session page)")
        return True

    def pause(self, paused: bool) -> bool:
        if self.controls is None:
            return False
        ok = self.controls.pause_by_person() if paused else self.controls.resume_by_person()
        if ok:
            self.view.person_paused(paused)
        return ok

    # -- for the session ---------------------------------------------------------------------------
    async def wait_answer(self, question: QuestionLike) -> bool | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool | None] = loop.create_future()
        self._answer = (question.code, future)
        self.view.ask_question(question.code, question.text)
        try:
            return await asyncio.wait_for(future, self.answer_wait_s)
        except TimeoutError:
            return None
        finally:
            self._answer = None

    async def wait_score(self, step: str) -> int | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        self._score = (step, future)
        self.view.ask_report(step)
        try:
            return await asyncio.wait_for(future, self.answer_wait_s)
        except TimeoutError:
            return None
        finally:
            self._score = None


async def _first(page: Awaitable[T], others: Sequence[Awaitable[T | None]]) -> tuple[T | None, bool]:
    """The first non-``None`` result of ``page`` and ``others``; ``(result, from_page)``."""
    page_task = asyncio.ensure_future(page)
    tasks = [page_task, *(asyncio.ensure_future(o) for o in others)]
    pending = set(tasks)
    result: T | None = None
    winner: asyncio.Future[T | None] | None = None
    try:
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:  # in order: the page first when both came at once
                ok = task in done and not task.cancelled() and task.exception() is None
                if ok and (task.result() is not None or task is page_task):
                    winner, result = task, task.result()
                    break
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return result, winner is page_task


class SharedAnswers(Generic[Q]):
    """Screening answers from the page or any of ``others``, whichever comes first (an
    ``AnswerSource`` for the session)."""

    def __init__(self, page: PageInputs, others: Sequence[AnswerSourceLike[Q]] = ()) -> None:
        self.page = page
        self.others = list(others)

    async def ask(self, question: Q) -> bool | None:
        view = self.page.view
        answer, from_page = await _first(
            self.page.wait_answer(question), [o.ask(question) for o in self.others]
        )
        view.show_answer(question.code, answer)
        if not from_page and answer is not None:
            await asyncio.sleep(self.page.reveal_s)
        view.question_done()
        return answer


class SharedSelfReport:
    """Pain and swelling from the page (one screen each) or from ``others`` (a ``SelfReport``)."""

    def __init__(self, page: PageInputs, others: Sequence[SelfReportLike] = ()) -> None:
        self.page = page
        self.others = list(others)

    async def _page_report(self) -> tuple[int | None, int | None]:
        pain = await self.page.wait_score("pain")
        swelling = await self.page.wait_score("swelling")
        return pain, swelling

    async def _other(self, source: SelfReportLike) -> tuple[int | None, int | None] | None:
        pain, swelling = await source.report()
        return None if pain is None and swelling is None else (pain, swelling)

    async def report(self) -> tuple[int | None, int | None]:
        view = self.page.view
        result, from_page = await _first(self._page_report(), [self._other(o) for o in self.others])
        pain, swelling = result if result is not None else (None, None)
        view.report.update(pain=pain, swelling=swelling)
        if not from_page and result is not None:
            view.ask_report(None)
            await asyncio.sleep(self.page.reveal_s)
        view.ask_report(None)
        return pain, swelling


class DelayedAnswers(Generic[Q]):
    """Another source's answers, each after ``delay_s`` (the demo's simulated patient takes a moment,
    so that a person watching the page sees every question and answer)."""

    def __init__(self, source: AnswerSourceLike[Q], delay_s: float) -> None:
        self.source = source
        self.delay_s = delay_s

    async def ask(self, question: Q) -> bool | None:
        await asyncio.sleep(self.delay_s)
        return await self.source.ask(question)


class DelayedSelfReport:
    def __init__(self, source: SelfReportLike, delay_s: float) -> None:
        self.source = source
        self.delay_s = delay_s

    async def report(self) -> tuple[int | None, int | None]:
        await asyncio.sleep(self.delay_s)
        return await self.source.report()
