"""After a session: a short encouraging sentence and how today compares with the last sessions.

The past comes from the coach's own store: the ``<session>.summary.json`` files a live session writes
into the patient's sessions folder. A past session counts when it ran at least a minute and had
strokes (a blocked screening or an early stop is not a session to compare with). Today is compared
with the mean of the last :data:`LAST_N` such sessions; pain and swelling with the last value given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coach.i18n import N_, NN_, Texts

LAST_N = 5

GOOD_SENTENCES = {
    "direction_better": N_("More of your strokes went the right way than last time. Well done!"),
    "raised_better": N_("Your hand stayed up longer than last time. Well done!"),
    "excellent": N_("Excellent: your hand stayed up and almost every stroke went toward the elbow."),
    "good": N_("Good work: most of your strokes went toward the elbow."),
    "keep_going": N_(
        "Well done for doing your session today. Next time, try to stroke toward the elbow every time."
    ),
    "thanks": N_("Thank you for your session today. Every session helps your hand."),
}
STREAK = NN_(
    "You have done {n} session in the last 7 days.", "You have done {n} sessions in the last 7 days."
)
FIRST_TIME = N_("This was your first session with the coach.")

ROW_LABELS = {
    "proximal": N_("Strokes toward the elbow"),
    "distal": N_("Strokes the wrong way"),
    "raised": N_("Hand raised"),
    "wrist": N_("Wrist straight"),
    "pain": N_("Pain (0–10)"),
    "swelling": N_("Swelling (0–10)"),
}
CHANGE_WORDS = {
    "better": N_("better than before"),
    "worse": N_("less good than before"),
    "same": N_("about the same"),
}
PERCENT = N_("{pct}%")


@dataclass(frozen=True)
class Row:
    """One line of the comparison: ``change`` is ``better``, ``worse``, ``same`` or ``""`` (no past)."""

    key: str
    label: str
    today: str
    before: str
    change: str
    change_words: str


@dataclass(frozen=True)
class Progress:
    code: str
    sentence: str
    streak: str
    rows: tuple[Row, ...]
    sessions_compared: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "sentence": self.sentence,
            "streak": self.streak,
            "sessions_compared": self.sessions_compared,
            "rows": [vars(r) for r in self.rows],
        }


def counts(summary: Mapping[str, Any]) -> bool:
    """Whether a past summary is a session to compare with."""
    duration = summary.get("duration_s")
    strokes = summary.get("strokes_total")
    return isinstance(duration, int | float) and duration >= 60 and isinstance(strokes, int) and strokes > 0


def load_history(directory: Path | None, exclude: str | None = None, limit: int = 30) -> list[dict[str, Any]]:
    """Past summaries (oldest first, at most ``limit``) from ``directory``'s ``*.summary.json``.

    Unreadable or foreign files are skipped: the history is a nicety, never a reason to fail.
    """
    if directory is None or not directory.is_dir():
        return []
    found: list[dict[str, Any]] = []
    for path in directory.glob("*.summary.json"):
        if exclude and path.name == f"{exclude}.summary.json":
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and counts(doc) and isinstance(doc.get("wall_utc"), str):
            found.append(doc)
    found.sort(key=lambda d: str(d["wall_utc"]))
    return found[-limit:]


def _share(summary: Mapping[str, Any], key: str) -> float | None:
    total = summary.get("strokes_total") or 0
    value = summary.get(key)
    if not total or not isinstance(value, int | float):
        return None
    return float(value) / float(total)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _parse(wall: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(wall).replace("Z", "+00:00"))
    except ValueError:
        return None


def assess(summary: Mapping[str, Any], history: Sequence[Mapping[str, Any]], tr: Texts) -> Progress:
    """Today's sentence, the week's count and the comparison rows, in ``tr``'s language."""
    past = [h for h in history if counts(h)][-LAST_N:]
    last = past[-1] if past else None
    prox_today = _share(summary, "strokes_proximal")
    raised_today = _num(summary.get("elevated_fraction"))
    code = "thanks"
    if (summary.get("strokes_total") or 0) > 0:
        p = None if last is None else _share(last, "strokes_proximal")
        if prox_today is not None and p is not None and prox_today - p >= 0.10:
            code = "direction_better"
        if code == "thanks" and last is not None and raised_today is not None:
            r = _num(last.get("elevated_fraction"))
            if r is not None and raised_today - r >= 0.10:
                code = "raised_better"
        if code == "thanks" and prox_today is not None:
            if prox_today >= 0.9 and (raised_today or 0.0) >= 0.8:
                code = "excellent"
            elif prox_today >= 0.7:
                code = "good"
            else:
                code = "keep_going"
    now = _parse(summary.get("wall_utc")) or datetime.now(UTC)
    week = [
        h for h in history if counts(h) and (w := _parse(h.get("wall_utc"))) and now - w <= timedelta(days=7)
    ]
    streak = tr.plural(*STREAK, n=len(week) + 1) if past else tr(FIRST_TIME)

    def pct(v: float | None) -> str:
        return "–" if v is None else tr(PERCENT, pct=f"{100 * v:.0f}")

    def whole(v: float | None) -> str:
        return "–" if v is None else f"{v:.0f}"

    rows: list[Row] = []

    def past_mean(key: str) -> float | None:
        return _mean([_num(h.get(key)) for h in past])

    specs: list[tuple[str, float | None, float | None, bool, float, Any]] = [
        ("proximal", _num(summary.get("strokes_proximal")), past_mean("strokes_proximal"), True, 2.0, whole),
        ("distal", _num(summary.get("strokes_distal")), past_mean("strokes_distal"), False, 2.0, whole),
        ("raised", raised_today, past_mean("elevated_fraction"), True, 0.05, pct),
        (
            "wrist",
            _num(summary.get("wrist_neutral_fraction")),
            past_mean("wrist_neutral_fraction"),
            True,
            0.05,
            pct,
        ),
    ]
    for key in ("pain", "swelling"):
        given = [_num(h.get(f"{key}_0_10")) for h in past]
        before = next((v for v in reversed(given) if v is not None), None)
        specs.append((key, _num(summary.get(f"{key}_0_10")), before, False, 0.5, whole))
    for key, today, before, higher_better, tolerance, fmt in specs:
        if today is None and key in ("wrist", "pain", "swelling"):
            continue
        change = ""
        if today is not None and before is not None:
            diff = today - before
            if abs(diff) < tolerance:
                change = "same"
            else:
                change = "better" if (diff > 0) == higher_better else "worse"
        rows.append(
            Row(
                key,
                tr(ROW_LABELS[key]),
                fmt(today),
                fmt(before),
                change,
                tr(CHANGE_WORDS[change]) if change else "",
            )
        )
    return Progress(code, tr(GOOD_SENTENCES[code]), streak, tuple(rows), len(past))
