"""Live steps of several decision points end where events are due: a step ends at a regular posture
event's point and where the stroke detector completes a frame, so steps of 5 points return those
events in the same call as steps of 1 point, with the same stream as the replay; a split step leaves the
detector's run for its second half."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from coach.events import Event, to_json
from coach.pipeline import PipelineConfig, SessionPipeline
from coach.samples import SampleBlock
from coach.signal.strokes import detector as detector_module
from tests.fixtures.sessions import three_sensor_session

POSTURE_HZ = 10.0


@pytest.fixture(scope="module")
def session() -> Any:
    """60 s, three sensors at 100 Hz, a 2 s treated disconnection at t = 35 s, hand packet drops."""
    return three_sensor_session(11, 60.0, gap_at_s=35.0, gap_s=2.0)


@pytest.fixture(scope="module")
def on_grid(session: Any) -> Any:
    """The same session shifted in time (samples and calibration phases) so that calibration ends a
    point after a tenth of a second: the detector's frames, counted from there, then complete in the
    step of a posture event's point, where a step is split."""
    rotate = session.meta.phase("rotate")
    assert rotate is not None
    j_cal = math.ceil(rotate[1] * 50.0 - 1e-6)
    shift = ((1 - j_cal) % 5) * 0.02
    meta = session.meta.copy()
    for name in ("still", "rotate"):
        span = meta.phase(name)
        assert span is not None
        meta.set_phase(name, span[0] + shift, span[1] + shift)
    blocks = {r: dataclasses.replace(b, t_s=b.t_s + shift) for r, b in session.blocks.items()}
    return dataclasses.replace(session, meta=meta, blocks=blocks)


def _notes(session: Any) -> list[tuple[float, str, SampleBlock]]:
    return sorted(
        (float(b.t_s[min(a + 4, len(b)) - 1]), role, b.slice(a, min(a + 4, len(b))))
        for role, b in session.blocks.items()
        for a in range(0, len(b), 4)
    )


def _live(
    session: Any, step_points: int, split: bool, runs: list[float] | None = None
) -> tuple[list[str], dict[str, int], list[tuple[list[Event], int, int]], int]:
    """As the live intake: notifications held for their step, fed with ``feed_many``; a split step's
    second half completed at once. The events (JSON), per event id the notification whose step
    returned it, each deferred step's first half with the detector runs (counted in ``runs``) in its
    first and its second half, and the pipeline calls."""
    runs = [] if runs is None else runs
    p = SessionPipeline(session.meta, PipelineConfig(posture_hz=POSTURE_HZ))
    out: list[str] = []
    at: dict[str, int] = {}
    firsts: list[tuple[list[Event], int, int]] = []
    held: list[SampleBlock] = []
    latest: dict[str, float] = {}
    calls = 0

    def take(events: list[Event], i: int) -> None:
        for e in events:
            at[str(e["id"])] = i
            out.append(to_json(e))

    for i, (t_last, role, block) in enumerate(_notes(session)):
        held.append(block)
        latest[role] = t_last
        needs = p.next_point_needs_s(step_points)
        if needs is not None and any(latest.get(r, -math.inf) < v for r, v in needs.items()):
            continue
        before = len(runs)
        first = p.feed_many(held, split=split)
        held = []
        calls += 1
        take(first, i)
        if p.deferred:
            middle = len(runs)
            take(p.complete(), i)
            firsts.append((first, middle - before, len(runs) - middle))
    take(p.feed_many(held) + p.finish(), -1)
    return out, at, firsts, calls


def test_steps_of_five_return_grid_posture_and_strokes_in_the_same_call_as_steps_of_one(session: Any) -> None:
    one, at_one, _, calls_one = _live(session, 1, split=False)
    five, at_five, _, calls_five = _live(session, 5, split=False)
    whole = SessionPipeline(session.meta, PipelineConfig(posture_hz=POSTURE_HZ))
    replay = [to_json(e) for e in whole.feed_many(list(session.blocks.values())) + whole.finish()]
    assert one == five == replay
    events = [(str(e_id), kind, t) for e_id, kind, t in _kinds(five)]
    strokes = [e for e in events if e[1] in ("stroke", "cadence")]
    grid = [
        e for e in events if e[1] == "posture" and abs(e[2] * POSTURE_HZ - round(e[2] * POSTURE_HZ)) < 1e-6
    ]
    assert len(strokes) >= 3 and len(grid) > 400  # something to compare
    for e_id, _, _ in strokes + grid:
        assert at_five[e_id] == at_one[e_id], e_id  # not held back by the longer steps
    later = [at_five[e] - at_one[e] for e, _, _ in events if at_one[e] >= 0]
    assert min(later) >= 0
    # Fewer than two calls per 0.1 s (a step ends on the posture grid and at the detector's frame),
    # against five a 0.1 s with steps of one point.
    assert calls_five * 2 < calls_one
    assert calls_five < 2 * 10 * 60


def _kinds(lines: list[str]) -> list[tuple[str, str, float]]:
    import json

    return [(str(d["id"]), str(d["type"]), float(d["t"])) for d in map(json.loads, lines)]


def test_a_split_step_leaves_the_detector_for_its_second_half(
    on_grid: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps of 5 points, split: the stream is the replay's; the first half of a deferred step holds
    only ``state`` and ``posture`` events of its last point, and the detector has not run for that point
    until :meth:`SessionPipeline.complete`."""
    runs: list[float] = []
    original = detector_module.StrokeDetector.process

    def counted(self: Any, step: Any) -> Any:
        runs.append(step.t_to_s)
        return original(self, step)

    monkeypatch.setattr(detector_module.StrokeDetector, "process", counted)
    split, _, firsts, _ = _live(on_grid, 5, split=True, runs=runs)
    n_runs = len(runs)
    whole, _, _, _ = _live(on_grid, 5, split=False)
    assert split == whole
    # The detector runs about every other frame between contacts (quiet_until_s), at a posture
    # event's point; every such run is a split step's second half.
    assert len(firsts) > 150 and len(firsts) > 0.8 * n_runs
    # About 480 detector frames while active: one run each when the detector's quiet time ended at
    # its next frame, far fewer when an idle segmenter lets it skip one.
    assert n_runs < 350
    for first, in_first, in_second in firsts:
        assert first and {e["type"] for e in first} <= {"state", "posture"}
        assert len({e["t"] for e in first}) == 1
        assert (in_first, in_second) == (0, 1)
