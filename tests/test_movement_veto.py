"""The movement veto (coach/signal/strokes/movement.py): its data file, its features' causality, and that
it is wired into the detector (a veto that keeps everything changes nothing; one that keeps nothing
reports nothing)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from coach.pipeline import PipelineConfig, SessionPipeline
from coach.samples import FloatArray
from coach.signal.strokes import StrokeDetector, default_model
from coach.signal.strokes.api import Stroke, StrokeContext, StrokeStep
from coach.signal.strokes.frames import Frames
from coach.signal.strokes.movement import (
    CONTEXT_FEATURES,
    NETWORK_FEATURES,
    ContactContext,
    MovementVeto,
    Rhythm,
    Tails,
    VetoFileError,
    continues_rhythm,
    read_veto,
    write_veto,
)
from coach.signal.strokes.segments import FrameHistory
from simulators import random_scenario, simulate


def test_the_shipped_veto_names_its_features_and_provenance() -> None:
    parameters, provenance = read_veto()
    assert tuple(parameters["features"]) in (NETWORK_FEATURES, CONTEXT_FEATURES)
    assert len(parameters["net"]["mean"]) == len(parameters["features"])
    for key in ("command", "train_sessions", "tune_sessions", "date", "commit", "figures"):
        assert provenance.get(key), key
    assert default_model().veto is not None


def test_a_bad_veto_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "veto.json"
    bad.write_text(json.dumps({"format": "something else"}), encoding="utf-8")
    with pytest.raises(VetoFileError, match=r"veto\.json"):
        read_veto(bad)
    parameters, _ = read_veto()
    with pytest.raises(ValueError, match="features"):
        MovementVeto.from_dict({**parameters, "features": list(CONTEXT_FEATURES[:-1])})


def _history(n: int, seed: int) -> FrameHistory:
    rng = np.random.default_rng(seed)
    h = FrameHistory(0.1, 100.0, keep_all=True)
    cols = {k: rng.normal(size=n) for k in ("gm", "wx", "wy", "wz", "ex", "ey", "hf", "lf", "lz", "lx")}
    cols["el"] = 20.0 + rng.normal(size=n)
    t_s = 0.1 * np.arange(n, dtype=np.float64)
    h.add_treated(Frames(0, t_s, np.ones(n, dtype=bool), cols))
    return h


def test_context_features_use_no_frame_after_the_decision() -> None:
    a, b, decided = 700, 720, 723
    h1, h2 = _history(900, 1), _history(900, 1)
    for name in h2.cols:  # everything after the decision differs wildly
        h2.cols[name][decided + 1 :] = 1e6
    drag = np.arange(6.0)
    x1 = ContactContext().features(h1, a, b, decided, 3.0, drag)
    x2 = ContactContext().features(h2, a, b, decided, 3.0, drag)
    assert x1.shape == (len(CONTEXT_FEATURES),)
    np.testing.assert_array_equal(x1, x2)
    h2.cols["gm"][a - 10] = 50.0  # ...while the approach counts
    assert not np.array_equal(ContactContext().features(h2, a, b, decided, 3.0, drag), x1)


def test_the_bout_of_earlier_contacts_counts() -> None:
    h = _history(900, 2)
    ctx = ContactContext()
    drag = np.zeros(6)
    first = ctx.features(h, 500, 520, 523, 2.0, drag)
    second = ctx.features(h, 540, 560, 563, 2.0, drag)
    i = CONTEXT_FEATURES.index("bout_contacts")
    assert (first[i], second[i]) == (0.0, 1.0)
    j = CONTEXT_FEATURES.index("since_last_contact_s")
    assert second[j] == pytest.approx(2.0)


def _capture() -> tuple[StrokeContext, list[StrokeStep]]:
    session = simulate(random_scenario(11, duration_s=60.0, roles=("treated",)), seed=11)
    got: list[tuple[StrokeContext, list[StrokeStep]]] = []

    class _Rec:
        def __init__(self, ctx: StrokeContext) -> None:
            got.append((ctx, []))

        def process(self, step: StrokeStep) -> list[Stroke]:
            got[-1][1].append(step)
            return []

        def finish(self, t_end_s: float) -> list[Stroke]:
            return []

    pipe = SessionPipeline(session.meta, PipelineConfig(stroke_detector=_Rec))
    for block in session.blocks.values():
        pipe.feed(block)
    pipe.finish()
    return got[0]


def test_the_detector_obeys_its_veto() -> None:
    ctx, steps = _capture()
    base = default_model()
    assert base.veto is not None
    shipped_veto = base.veto

    def run(least: float | None) -> tuple[list[Stroke], StrokeDetector]:
        veto = None if least is None else dataclasses.replace(shipped_veto, least=least)
        det = StrokeDetector(ctx, model=dataclasses.replace(base, veto=veto), record=True)
        out = [s for step in steps for s in det.process(step)]
        return out, det

    plain, plain_det = run(None)
    assert len(plain) > 5
    assert run(-np.inf)[0] == plain
    none, det = run(np.inf)
    assert none == []
    # Every committed contact is recorded: the reported ones and those merged into the stroke before
    # them (a split stroke, MERGE_GAP_S); with nothing reported nothing merges.
    assert det.records is not None and len(det.records) == len(plain) + plain_det.merged
    assert not any(r.reported for r in det.records)
    shipped, det = run(shipped_veto.least)
    assert det.records is not None
    assert len(shipped) + det.merged == sum(r.reported for r in det.records)


def test_a_contact_window_gives_the_same_features_without_the_history() -> None:
    """The trainer keeps each contact's window and recomputes the features from it (no replay): the
    same contacts in the same order give the same features bit for bit."""
    h = _history(900, 3)
    live = ContactContext()
    live.windows = []
    spans = [(100, 120, 123), (140, 170, 173), (200, 228, 231), (700, 720, 723)]
    x_live = [live.features(h, a, b, d, 1.5, np.arange(6.0)) for a, b, d in spans]
    again = ContactContext()
    x_again = [again.window_features(w) for w in live.windows]
    for x1, x2 in zip(x_live, x_again, strict=True):
        np.testing.assert_array_equal(x1, x2)


def _bout(durations_s: list[float], starts_s: list[float]) -> FloatArray:
    h = _history(1200, 4)
    ctx = ContactContext()
    x = np.empty(0)
    for d, t in zip(durations_s, starts_s, strict=True):
        a = round(t / 0.1)
        b = a + round(d / 0.1)
        x = ctx.features(h, a, b, b + 2, 2.0, np.zeros(6))
    return x


def test_a_steady_rhythm_reads_as_one_and_an_irregular_one_does_not() -> None:
    """Strokes of one length at one pace (massage) against short jerks at uneven gaps (scratching)."""
    steady = _bout([1.5] * 5, [10.0, 12.5, 15.0, 17.5, 20.0])
    jerky = _bout([0.3, 1.6, 0.4, 2.5, 0.3], [10.0, 10.6, 13.4, 14.0, 19.5])
    cv_d, cv_g = CONTEXT_FEATURES.index("bout_duration_cv"), CONTEXT_FEATURES.index("bout_gap_cv")
    assert steady[cv_d] == pytest.approx(0.0, abs=1e-9) and steady[cv_g] == pytest.approx(0.0, abs=1e-6)
    assert jerky[cv_d] > 0.5 and jerky[cv_g] > 0.5
    out = CONTEXT_FEATURES.index("log_duration_outside_design")
    assert steady[out] == 0.0 and jerky[out] > 0.9  # 0.3 s is far below the 0.8 s of a stroke


def _strokes_per_min(trace: Path) -> tuple[int, float]:
    from benchmarks.corpus import replay

    events = replay(trace, posture_hz=1.0)
    duration = events[-1].get("duration_s")
    minutes = float(duration) / 60.0 if isinstance(duration, int | float) else 0.0
    return sum(1 for e in events if e["type"] == "stroke"), minutes


@pytest.mark.slow
def test_real_recordings_without_massage_give_few_strokes() -> None:
    """Real wrist and handheld recordings that the veto never trained or tuned on (tests/data/README.md,
    benchmarks/data/spsw_har/README.md): the x-io handheld recording gives 4.4 strokes/min without
    the veto and must stay at most 1/min (the ordinary-movement target); the SP-SW-HAR report subjects
    (sit, stand up, walk, turn, sit down; 11.8 min) at most 0.3/min (the massage-free target)."""
    from benchmarks.real_data import XIO_TRACE

    n, minutes = _strokes_per_min(XIO_TRACE)
    assert minutes > 2.0
    assert n / minutes <= 1.0, (n, minutes)
    report = sorted(
        (Path(__file__).resolve().parents[1] / "benchmarks/data/spsw_har/report").glob("*.csv.gz")
    )
    assert len(report) == 6
    counts = [_strokes_per_min(p) for p in report]
    total_n, total_min = sum(c[0] for c in counts), sum(c[1] for c in counts)
    assert total_min > 10.0
    assert total_n / total_min <= 0.3, counts


def _rhythm(least: float = -2.0) -> Rhythm:
    return Rhythm(contacts=2, ratio=2.5, gap_cv=1.0, weight=0.0, least=least)


def test_a_contact_continues_a_rhythm_only_of_alike_reported_strokes() -> None:
    """Strokes of 1.5 s every 2.5 s: the next one continues them; one that comes too soon, lasts too
    long, follows a single stroke, or follows strokes the veto dropped does not."""
    r = _rhythm()
    bout = [(10.0, 11.5), (12.5, 14.0), (15.0, 16.5)]
    assert continues_rhythm(bout, 17.5, 19.0, r)
    assert not continues_rhythm(bout, 15.6, 17.1, r)  # 0.6 s after the last start: 4 times too soon
    assert not continues_rhythm(bout, 17.5, 22.0, r)  # 4.5 s long: 3 times the bout's strokes
    assert not continues_rhythm(bout[-1:], 17.5, 19.0, r)  # one stroke is no rhythm
    assert not continues_rhythm(bout, 35.0, 36.5, r)  # the bout ended 15 s before
    uneven = [(0.0, 0.3), (0.4, 0.7), (0.8, 1.1), (1.2, 1.5), (9.2, 9.5)]  # gaps 0.4, 0.4, 0.4, 8 s
    assert not continues_rhythm(uneven, 9.7, 10.0, r)  # its gap fits their median, but they are no rhythm
    assert continues_rhythm(uneven[:4], 1.6, 1.9, r)
    h = _history(1200, 5)
    ctx = ContactContext()
    for a in (100, 125, 150, 175):
        ctx.features(h, a, a + 15, a + 17, 2.0, np.zeros(6))
        steady = ctx.steady(r)
        ctx.decided(False)  # the veto dropped every one: nothing establishes a rhythm
        assert not steady
    assert not ctx.steady(None)


def test_a_session_decided_at_once_is_decided_as_in_a_replay() -> None:
    """:meth:`MovementVeto.decide` (the trainer's) takes the same decisions as the detector's contact by
    contact :meth:`ContactContext.steady`, :meth:`MovementVeto.keep` and :meth:`ContactContext.decided`,
    and a rhythm changes some of them."""
    parameters, _ = read_veto()
    base = MovementVeto.from_dict(parameters)
    h = _history(3000, 6)
    spans = [(a, a + 12 + (a % 7)) for a in range(100, 2800, 23)]
    ctx = ContactContext()
    xs = np.array([ctx.features(h, a, b, b + 3, 2.0 + (a % 5), np.arange(6.0)) for a, b in spans])
    t = np.array([[0.1 * a, 0.1 * b] for a, b in spans])
    z0 = np.array([base.keep(x)[1] for x in xs])
    veto = dataclasses.replace(base, least=float(np.median(z0)), rhythm=_rhythm(float(np.min(z0)) - 1.0))
    keep, _ = veto.decide(xs, t)
    replayed = ContactContext()
    for (a, b), x, k_all in zip(spans, xs, keep, strict=True):
        np.testing.assert_array_equal(replayed.features(h, a, b, b + 3, 2.0 + (a % 5), np.arange(6.0)), x)
        k, _ = veto.keep(x, replayed.steady(veto.rhythm))
        replayed.decided(k)
        assert k == k_all
    plain, _ = dataclasses.replace(veto, rhythm=None).decide(xs, t)
    assert keep.sum() > plain.sum()  # contacts in the rhythm of those reported before them kept
    assert (z0 >= veto.least).sum() == plain.sum()


def test_a_veto_file_keeps_its_rhythm(tmp_path: Path) -> None:
    parameters, provenance = read_veto()
    rhythm = {"contacts": 2, "ratio": 2.5, "gap_cv": 1.0, "weight": 0.0, "least": -2.0}
    path = tmp_path / "veto.json"
    write_veto(path, {**parameters, "rhythm": rhythm}, provenance)
    veto = MovementVeto.from_dict(read_veto(path)[0])
    assert veto.rhythm == _rhythm()
    without = {k: v for k, v in parameters.items() if k != "rhythm"}
    assert MovementVeto.from_dict(without).rhythm is None
    assert MovementVeto.from_dict(parameters).rhythm is not None  # the shipped veto has one


def test_the_joint_envelope_takes_off_only_for_many_tails_at_once(tmp_path: Path) -> None:
    """:class:`Tails`: nothing inside the outer tails; nats of improbability summed over features; only
    the sum beyond ``free`` costs log-odds; a veto file keeps them, and one without decides as before."""
    levels = np.array([0.01, 0.001])
    lo = np.array([[0.0, -1.0], [0.0, -1.0]])
    hi = np.array([[1.0, 2.0], [1.0, 2.0]])
    tails = Tails(levels, lo, hi, free=3.0, weight=2.0)
    assert tails.nats(np.array([0.5, 0.0])) == 0.0
    one = tails.nats(np.array([-1.0, 0.5]))  # the 0.1 % value on one feature: log(0.01 / 0.001)
    assert one == pytest.approx(np.log(10.0))
    assert tails.nats(np.array([-50.0, 0.5])) == pytest.approx(np.log(10.0))  # at most the last level
    assert tails.nats(np.array([-0.5, 1.5])) == pytest.approx(np.log(10.0))  # half-way in log share each
    assert tails.loss(np.array([-1.0, 0.5])) == 0.0  # one tail: free
    assert tails.loss(np.array([-1.0, 2.0])) == pytest.approx(2.0 * (2.0 * np.log(10.0) - 3.0))
    parameters, provenance = read_veto()
    env = parameters["envelope"]
    n = len(env["features"])
    table = {
        "levels": [0.01, 0.001],
        "lo": [[-1e9, -2e9]] * n,
        "hi": [[1e9, 2e9]] * n,
        "free": 0.0,
        "weight": 1.0,
    }
    path = tmp_path / "veto.json"
    write_veto(path, {**parameters, "envelope": {**env, "tails": table}}, provenance)
    veto = MovementVeto.from_dict(read_veto(path)[0])
    assert veto.tails is not None and veto.tails.free == 0.0
    h = _history(3000, 6)
    ctx = ContactContext()
    x = ctx.features(h, 500, 515, 518, 2.0, np.arange(6.0))
    assert veto.keep(x) == dataclasses.replace(veto, tails=None).keep(x)  # tails nothing reaches
    assert MovementVeto.from_dict(parameters).tails is not None  # the shipped veto has them


def test_the_tails_go_on_beyond_their_last_level_only_when_asked() -> None:
    """:attr:`Tails.beyond` (fifth round): beyond the table's last level a value scores more, as many nats
    per unit as the table's width takes, up to ``beyond`` per feature; inside the table, and without
    ``beyond``, nothing changes; a table of zero width (a point mass) gives the cap at once."""
    levels = np.array([0.01, 0.001])
    lo = np.array([[0.0, -1.0], [0.0, 0.0]])
    hi = np.array([[1.0, 2.0], [1.0, 1.0]])
    last = np.log(10.0)
    old = Tails(levels, lo, hi, free=0.0, weight=1.0)
    new = dataclasses.replace(old, beyond=2.5 * last)
    for v in ([0.5, 0.5], [-0.5, 0.5], [1.5, 0.5], [-1.0, 0.5]):
        assert new.nats(np.array(v)) == pytest.approx(old.nats(np.array(v)))
    assert old.nats(np.array([-2.0, 0.5])) == pytest.approx(last)  # capped at the last level
    assert new.nats(np.array([-2.0, 0.5])) == pytest.approx(2.0 * last)  # one table width further
    assert new.nats(np.array([3.0, 0.5])) == pytest.approx(2.0 * last)  # the high side alike
    assert new.nats(np.array([-50.0, 0.5])) == pytest.approx(2.5 * last)  # at most ``beyond``
    assert new.nats(np.array([0.5, 1.01])) == pytest.approx(2.5 * last)  # zero width: the cap
    assert new.nats(np.array([0.5, -1e-9])) == pytest.approx(2.5 * last)
    table = {"levels": [0.01, 0.001], "lo": lo.tolist(), "hi": hi.tolist(), "free": 0.0, "weight": 1.0}
    assert Tails.from_dict(table).beyond is None
    assert Tails.from_dict({**table, "beyond": 3.0}).beyond == 3.0


def test_prepared_contacts_give_the_same_features_bit_for_bit() -> None:
    """:meth:`ContactContext.prepare` works out the window statistics of many contacts at once (numpy's
    pairwise sums across the windows): every feature is the same as one contact at a time, with
    NaN and ±inf in some windows, windows cut by the history's start, empty parts and long ones."""
    rng = np.random.default_rng(11)
    for seed in range(6):
        h = _history(900, 30 + seed)
        for name in ("gm", "el", "lx", "hfr", "frame_ok"):
            if name in h.cols and seed % 2:
                h.cols[name][rng.integers(0, 900, size=3)] = rng.choice([np.nan, np.inf, -np.inf], size=3)
        h.cols["gm"][rng.integers(0, 900, size=20)] = 0.0
        contacts: list[tuple[int, int, int]] = []
        for _ in range(25):
            a = int(rng.integers(0, 840))
            b = a + int(rng.integers(1, 55))
            contacts.append((a, b, min(899, b + int(rng.integers(0, 5)))))
        contacts.sort()
        one, many = ContactContext(), ContactContext()
        with np.errstate(all="ignore"):  # inf in a window: the one-by-one way warns (its inf - inf)
            many.prepare(h, contacts)
            for k, (a, b, decided) in enumerate(contacts):
                drag = rng.normal(size=6)
                x1 = one.features(h, a, b, decided, float(k), drag)
                x2 = many.features(h, a, b, decided, float(k), drag)
                assert x1.tobytes() == x2.tobytes(), (seed, a, b, decided)
        assert not many._prepared  # every prepared contact was used
