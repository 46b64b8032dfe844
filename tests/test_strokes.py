"""The default stroke detector on simulated sessions: span invariance, the slot contract, and that it
finds strokes (and their direction) where there are some and none where there are none."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.scoring import TrueStroke, Truth, score_session
from coach.pipeline import PipelineConfig, SessionPipeline
from coach.signal.strokes import StrokeDetector, create_detector
from coach.signal.strokes.api import MAX_STROKE_LATENCY_S, RoleSignals, Stroke, StrokeContext, StrokeStep
from simulators import random_scenario, simulate


@dataclass(repr=False)
class Captured:
    context: StrokeContext
    steps: list[StrokeStep]
    labels: dict[str, Any]

    def __repr__(self) -> str:
        return f"Captured({self.context.roles}, {len(self.steps)} steps)"


class _Recorder:
    def __init__(self, ctx: StrokeContext, out: list[Captured], labels: dict[str, Any]) -> None:
        self.cap = Captured(ctx, [], labels)
        out.append(self.cap)

    def process(self, step: StrokeStep) -> list[Stroke]:
        self.cap.steps.append(step)
        return []

    def finish(self, t_end_s: float) -> list[Stroke]:
        return []


def _capture(seed: int, **overrides: Any) -> Captured:
    session = simulate(random_scenario(seed, **overrides), seed=seed)
    out: list[Captured] = []
    labels = session.truth
    pipe = SessionPipeline(
        session.meta, PipelineConfig(stroke_detector=lambda ctx: _Recorder(ctx, out, labels))
    )
    for block in session.blocks.values():
        pipe.feed(block)
    pipe.finish()
    return out[0]


@pytest.fixture(scope="module")
def with_stroker() -> Captured:
    return _reference()[0]


@pytest.fixture(scope="module")
def no_strokes() -> Captured:
    return _capture(
        12, duration_s=180.0, roles=("treated",), **{"strokes.enabled": False, "fidgets.per_10min": 40.0}
    )


def _roles_cat(steps: list[StrokeStep]) -> dict[str, RoleSignals]:
    out: dict[str, RoleSignals] = {}
    for role in {r for s in steps for r in s.roles}:
        parts = [s.roles[role] for s in steps if role in s.roles]
        first = parts[0]
        out[role] = RoleSignals(
            role,
            first.rate_hz,
            *[
                np.concatenate([getattr(p, f) for p in parts])
                for f in (
                    "t_s",
                    "valid",
                    "acc_mps2",
                    "gyr_rps",
                    "quat",
                    "up",
                    "x_earth",
                    "acc_lin_earth_mps2",
                    "elevation_deg",
                )
            ],
        )
    return out


def _resplit(cap: Captured, cut_times: list[float]) -> list[StrokeStep]:
    whole = _roles_cat(cap.steps)
    t_from, t_to = cap.steps[0].t_from_s, cap.steps[-1].t_to_s
    bounds = [t_from, *sorted(c for c in set(cut_times) if t_from < c < t_to), t_to]
    steps = []
    for a, b in itertools.pairwise(bounds):
        roles = {}
        for role, s in whole.items():
            sel = (s.t_s >= a) & (s.t_s < b)
            if role == "treated" or sel.any():
                roles[role] = RoleSignals(
                    role,
                    s.rate_hz,
                    *[
                        getattr(s, f)[sel]
                        for f in (
                            "t_s",
                            "valid",
                            "acc_mps2",
                            "gyr_rps",
                            "quat",
                            "up",
                            "x_earth",
                            "acc_lin_earth_mps2",
                            "elevation_deg",
                        )
                    ],
                )
        steps.append(StrokeStep(a, b, roles))
    return steps


def _run(cap: Captured, steps: list[StrokeStep]) -> list[Stroke]:
    det = create_detector(cap.context)
    out: list[Stroke] = []
    for step in steps:
        got = det.process(step)
        for s in got:  # the slot contract
            assert step.t_from_s <= s.decided_s < step.t_to_s
            assert s.t_end_s <= s.decided_s <= s.t_end_s + MAX_STROKE_LATENCY_S + 1e-9
            assert s.t_start_s < s.t_end_s
            assert 0.0 <= s.confidence <= 1.0
            assert s.direction in ("proximal", "distal", "unknown")
        out += got
    out += det.finish(steps[-1].t_to_s)
    return out


def _truth(cap: Captured) -> Truth:
    strokes = tuple(TrueStroke(s["t_start"], s["t_end"], s["direction"]) for s in cap.labels["strokes"])
    return Truth(strokes, None, *cap.labels["active"])


def _events(strokes: list[Stroke]) -> list[dict[str, Any]]:
    return [
        {
            "type": "stroke",
            "t": s.decided_s,
            "t_start": s.t_start_s,
            "t_end": s.t_end_s,
            "direction": s.direction,
        }
        for s in strokes
    ]


_CACHE: dict[str, tuple[Captured, list[Stroke]]] = {}


def _reference() -> tuple[Captured, list[Stroke]]:
    """The stroker session and its strokes in the pipeline's own spans (kept out of hypothesis' reprs)."""
    if "ref" not in _CACHE:
        cap = _capture(11, duration_s=100.0, roles=("treated", "stroker"), rate_hz=100.0, device_class="good")
        _CACHE["ref"] = (cap, _run(cap, cap.steps))
    return _CACHE["ref"]


@settings(max_examples=8, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=0, max_size=40), st.floats(0.005, 3.0))
def test_same_strokes_whatever_the_spans(fracs: list[float], step_s: float) -> None:
    cap, reference = _reference()
    t0, t1 = cap.steps[0].t_from_s, cap.steps[-1].t_to_s
    # random cuts, plus a regular grid of step_s over the first 5 s (tiny live-like spans)
    cuts = [t0 + f * (t1 - t0) for f in fracs] + list(np.arange(t0, t0 + 5.0, step_s))
    got = _run(cap, _resplit(cap, cuts))
    assert got == reference
    assert len(reference) > 10


def test_finds_the_strokes_and_their_direction_with_a_stroker(with_stroker: Captured) -> None:
    strokes = _run(with_stroker, with_stroker.steps)
    s = score_session(_events(strokes), _truth(with_stroker))
    assert s.strokes_true > 20
    assert s.f1 >= 0.9, (s.precision, s.recall)
    assert s.direction_accuracy >= 0.9
    assert all(x.sensor in ("treated", "stroker") for x in strokes)


@pytest.mark.xfail(
    strict=True,
    reason="known weakness (docs/strokes.md, failure modes): with fidgets every 15 s and no massage the "
    "shipped model reports about 3 false strokes per minute; weighting fidgets more in training brings it "
    "to 1 per minute but costs 0.01 of treated-alone F1 on the tune seeds",
)
def test_few_false_strokes_without_massage(no_strokes: Captured) -> None:
    assert no_strokes.labels["strokes"] == []
    assert len(no_strokes.labels["fidgets"]) >= 6
    strokes = _run(no_strokes, no_strokes.steps)
    minutes = (no_strokes.steps[-1].t_to_s - no_strokes.steps[0].t_from_s) / 60.0
    assert len(strokes) / minutes <= 1.0


def test_finish_reports_nothing_in_contact_and_records_contacts(with_stroker: Captured) -> None:
    cap = with_stroker
    det = StrokeDetector(cap.context, record=True)
    t_cut = cap.labels["strokes"][10]["t_start"] + 0.5  # inside a contact
    steps = _resplit(cap, [t_cut])
    reported = det.process(steps[0])
    assert det.finish(t_cut) == []
    assert all(s.t_end_s <= t_cut for s in reported)
    assert det.records is not None and len(det.records) == len(reported)
