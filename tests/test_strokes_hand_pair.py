"""The live detector's one end a frame with a ``hand`` sensor: the hand history's treated evidence worked
out as the second column of the ``treated`` history's window computation
(:mod:`coach.signal.strokes.window_pair`) is, bit for bit, what its own call gives, and what a batch of
ends gives (span invariance)."""

from __future__ import annotations

import numpy as np
import pytest

from coach.pipeline import PipelineConfig, SessionPipeline
from coach.signal.strokes import StrokeDetector, segments
from coach.signal.strokes.segments import FrameHistory, SegmentBatch, segment_features
from simulators import simulate
from simulators.families import family_scenario
from tests.test_strokes import Captured, _Recorder

SEED = 21901  # a regions-family seed outside every documented split (as tests/test_strokes_hand.py)


def _history() -> FrameHistory:
    session = simulate(family_scenario(SEED, ("regions",), roles=("treated", "hand", "stroker")), seed=SEED)
    out: list[Captured] = []
    pipe = SessionPipeline(
        session.meta, PipelineConfig(stroke_detector=lambda ctx: _Recorder(ctx, out, session.truth))
    )
    for block in session.blocks.values():
        pipe.feed(block)
    pipe.finish()
    det = StrokeDetector(out[0].context, keep_frames=True)
    for step in out[0].steps:
        det.process(step)
    h = det.history
    assert h.hand_hist is not None and "h_valid" in h.cols and "s_valid" in h.cols
    return h


def _fields(b: SegmentBatch, row: int) -> list[np.ndarray]:
    arrays = [b.x_treated, b.x_stroker, b.ok, b.stroker_ok, b.context, b.x_hand, b.hand_ok]
    return [np.ascontiguousarray(np.asarray(a)[row]) for a in arrays if a is not None]


def test_the_hand_history_as_a_second_column_is_its_own_call_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = _history()
    assert h.hand_hist is not None
    h.valid[200:204] = False  # a gap of each sensor: candidates across them are not ok
    h.hand_hist.valid[400:403] = False
    ends = np.arange(h.start + 70, h.end - 3, 7, dtype=np.int64)
    batch = segment_features(h, ends)  # many ends: no pair, the hand history's own call
    paired = 0
    real_pair = segments._hand_pair
    for row, b in enumerate(ends.tolist()):
        end = np.array([b], dtype=np.int64)
        paired += real_pair(h, end, segments._Windows(end - h.start, int(h.t_s.shape[0]))) is not None
        one = segment_features(h, end)
        with monkeypatch.context() as m:
            m.setattr(segments, "_hand_pair", lambda *args: None)
            own = segment_features(h, end)
        for a, x, y in zip(_fields(one, 0), _fields(own, 0), _fields(batch, row), strict=True):
            assert a.dtype == x.dtype and a.shape == x.shape == y.shape
            assert a.tobytes() == x.tobytes() == y.tobytes(), b
    assert paired > 0.9 * ends.shape[0]  # the pair path is the one these ends took
    assert batch.ok.any() and not batch.ok.all()
    assert batch.hand_ok is not None and batch.hand_ok.any() and not (batch.hand_ok | ~batch.ok).all()
