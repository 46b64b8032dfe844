"""The live terminal view as a person's terminal shows it (pyte, a VT100 emulator), at 80 and 120
columns: lines in time order, the panel never copied into the scrollback, plain words, and after the
end a frozen panel with the summary (no time left, no stop key)."""

from __future__ import annotations

import io
from typing import Any

import pyte
import pytest

from coach.feedback.terminal import TerminalView


class Screen(io.StringIO):
    """A text stream that feeds a pyte terminal with history (what scrolled off stays readable)."""

    def __init__(self, columns: int, lines: int = 24) -> None:
        super().__init__()
        self.screen = pyte.HistoryScreen(columns, lines, history=2000)
        self.stream = pyte.Stream(self.screen)
        self.columns = columns

    def write(self, s: str) -> int:
        self.stream.feed(s.replace("\n", "\r\n"))
        return len(s)

    def fileno(self) -> int:
        raise OSError("not a real terminal")

    def everything(self) -> list[str]:
        """Scrollback and screen, top to bottom, trailing blanks cut."""
        history = ["".join(ch.data for ch in line.values()).rstrip() for line in self.screen.history.top]
        lines = [*history, *(line.rstrip() for line in self.screen.display)]
        while lines and not lines[-1]:
            lines.pop()
        return lines


def _events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "type": "state",
            "t": 0.0,
            "id": "state-1",
            "state": "calibrating",
            "reason": "calibration from meta",
        },
        {"type": "state", "t": 10.1, "id": "state-2", "state": "active", "reason": "calibrated (meta)"},
    ]
    for k in range(40):
        t = 11.0 + k
        out.append(
            {"type": "posture", "t": t, "id": f"posture-{k}", "elevated": True, "elevation_deg": 20.0,
             "wrist_neutral": True, "wrist_flexion_deg": 2.0, "wrist_deviation_deg": -1.0,
             "forearm_roll_deg": 3.0}
        )  # fmt: skip
        if k % 4 == 0:
            out.append(
                {"type": "stroke", "t": t, "id": f"stroke-{k}", "t_start": t - 2, "t_end": t,
                 "direction": "proximal", "confidence": 0.9, "sensor": "stroker"}
            )  # fmt: skip
        if k % 10 == 5:
            out.append({"type": "cue", "t": t, "id": f"cue-{k}", "code": "raise_hand", "severity": "warn"})
    out.append(
        {"type": "state", "t": 51.0, "id": "state-3", "state": "paused", "reason": "treated sensor silent"}
    )
    out.append(
        {"type": "state", "t": 53.0, "id": "state-4", "state": "active", "reason": "treated sensor back"}
    )
    out.append({"type": "state", "t": 60.0, "id": "state-5", "state": "finished", "reason": "target reached"})
    out.append(
        {"type": "summary", "t": 60.0, "id": "summary-1", "duration_s": 49.0, "strokes_total": 10,
         "strokes_proximal": 10, "strokes_distal": 0, "strokes_unknown": 0, "mean_cadence_spm": 12.0,
         "elevated_fraction": 1.0, "wrist_neutral_fraction": 1.0, "gaps": []}
    )  # fmt: skip
    return out


@pytest.mark.parametrize("columns", [80, 120])
def test_the_panel_reads_plainly_and_never_leaves_copies(columns: int) -> None:
    out = Screen(columns)
    view = TerminalView(out, interactive=True, redraw_s=0.0)
    m = view.model
    m.patient, m.session, m.speed, m.target_duration_s = "p-0001", "s-20261207T010000Z-abcd", 6.0, 60.0
    for role in ("treated", "hand", "stroker"):
        view.set_sensor(role, "up", 80.0)
    for e in _events():
        m.time_left_s = max(0.0, 60.0 - float(e["t"]))
        view.on_event(e)
        view.refresh(force=True)
    view.close()
    text = out.everything()
    joined = "\n".join(text)
    # The panel is there once, at the very end (frozen), never in the scrollback above.
    assert sum(1 for line in text if line.startswith("retro-coach")) == 1, joined
    assert sum(1 for line in text if line.startswith("Strokes")) == 1, joined
    assert text[-5].startswith("retro-coach"), joined  # the last thing on the screen: 5 lines
    # Frozen at the end: the summary above it, no time left and no stop key.
    panel_at = next(i for i, line in enumerate(text) if line.startswith("retro-coach"))
    assert "Session summary" in joined[: joined.index(text[panel_at])]
    assert "time left" not in "\n".join(text[panel_at:]) and "Press q" not in joined
    assert "FINISHED" in text[panel_at]
    # Plain words: sensors named where they sit, the battery called battery, no pipeline jargon.
    sensors = next(line for line in text if line.startswith("Sensors"))
    assert "Forearm" in sensors and "Hand" in sensors and "battery 80%" in sensors, sensors
    for jargon in ("meta", "treated", "stroker", "calibrated ("):
        assert jargon not in joined, jargon
    # Lines in time order: every "[mm:ss]" stamp above the panel is not earlier than the one before.
    stamps = [line[1:6] for line in text[:panel_at] if line.startswith("[") and line[3] == ":"]
    assert stamps == sorted(stamps) and len(stamps) >= 6, stamps
    # Nothing wrapped: no screen line is full to the last column.
    assert all(len(line) < columns for line in text), [line for line in text if len(line) >= columns]
