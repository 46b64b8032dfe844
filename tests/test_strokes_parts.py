"""Parts of the stroke detector: the frame stream, glide integration, the segment chooser, the glide axis,
the model file."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coach.signal.strokes import DetectorModel
from coach.signal.strokes.api import RoleSignals
from coach.signal.strokes.direction import GlideAxis, _linspace
from coach.signal.strokes.feature_names import TREATED_FEATURES
from coach.signal.strokes.frames import SETTLE_FRAMES, Frames, FrameStream
from coach.signal.strokes.mlp import sigmoid
from coach.signal.strokes.scoring import segment_logits
from coach.signal.strokes.segmenter import Segmenter
from coach.signal.strokes.segments import (
    DURATIONS,
    FrameHistory,
    glide_displacement,
    segment_features,
)
from coach.signal.strokes.trained import SOURCE_PATH, ModelFileError, model_text, read_model, write_model


def _role(t: np.ndarray, rng: np.random.Generator, valid: np.ndarray | None = None) -> RoleSignals:
    n = t.size
    acc = rng.normal(0, 0.05, (n, 3)) + np.array([0, 0, 9.80665])
    up = np.tile([0.0, 0.0, 1.0], (n, 1))
    ok = np.ones(n, dtype=bool) if valid is None else valid
    nan3 = np.where(ok[:, None], 1.0, np.nan)
    return RoleSignals(
        "treated",
        100.0,
        t,
        ok,
        acc * nan3,
        rng.normal(0, 0.01, (n, 3)) * nan3,
        np.tile([1.0, 0, 0, 0], (n, 1)) * np.where(ok[:, None], 1.0, np.nan),
        up * nan3,
        np.tile([1.0, 0, 0], (n, 1)) * nan3,
        (acc - [0, 0, 9.80665]) * nan3,
        np.where(ok, 20.0, np.nan),
    )


def _split(s: RoleSignals, cuts: list[int]) -> list[RoleSignals]:
    out = []
    bounds = [0, *sorted(set(cuts)), len(s)]
    for a, b in itertools.pairwise(bounds):
        if b > a:
            out.append(
                RoleSignals(
                    s.role,
                    s.rate_hz,
                    s.t_s[a:b],
                    s.valid[a:b],
                    s.acc_mps2[a:b],
                    s.gyr_rps[a:b],
                    s.quat[a:b],
                    s.up[a:b],
                    s.x_earth[a:b],
                    s.acc_lin_earth_mps2[a:b],
                    s.elevation_deg[a:b],
                )
            )
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 1999), max_size=12))
def test_frames_do_not_depend_on_span_boundaries(cuts: list[int]) -> None:
    rng = np.random.default_rng(1)
    t = 5.0 + np.arange(2000) / 100.0
    valid = np.ones(2000, dtype=bool)
    valid[700:730] = False
    sig = _role(t, rng, valid)
    one = FrameStream("treated", 100.0).push(sig)
    fs = FrameStream("treated", 100.0)
    parts = [fs.push(p) for p in _split(sig, cuts)]
    assert sum(len(p) for p in parts) == len(one) == 200
    for name in one.cols:
        got = np.concatenate([p.cols[name] for p in parts])
        np.testing.assert_allclose(got, one.cols[name], rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(np.concatenate([p.valid for p in parts]), one.valid)
    # the gap (frames 70-72) and the settling frames after it are invalid, the rest valid
    bad = np.flatnonzero(~one.valid)
    assert bad[0] == 70 and bad[-1] == 72 + SETTLE_FRAMES


def test_glide_displacement_of_a_minimum_jerk_glide_ignores_constant_bias() -> None:
    frame_s = 0.1
    n = 30
    tau = np.linspace(0, 1, n + 1)
    length = np.array([0.20, -0.05, 0.10])
    pos = (10 * tau**3 - 15 * tau**4 + 6 * tau**5)[:, None] * length
    vel = np.gradient(pos, frame_s, axis=0)
    acc = np.gradient(vel, frame_s, axis=0)[:n]  # frame means ~ samples at frame starts
    acc_biased = acc + np.array([0.3, -0.2, 0.15])
    d = glide_displacement(acc_biased, np.array([0]), np.array([n]), frame_s)[0]
    np.testing.assert_allclose(d, length, atol=0.02)
    d0 = glide_displacement(acc, np.array([0]), np.array([n]), frame_s)[0]
    np.testing.assert_allclose(d, d0, atol=1e-12)  # a constant bias cancels exactly


def _history(n: int = 400, seed: int = 5) -> FrameHistory:
    rng = np.random.default_rng(seed)
    h = FrameHistory(0.1, 100.0)
    cols = {k: rng.normal(size=n) for k in ("hf", "lf", "el", "gm", "lz", "lx", "ex", "ey", "wx", "wy", "wz")}
    valid = np.ones(n, dtype=bool)
    valid[150:155] = False
    h.add_treated(Frames(0, np.asarray(10.0 + 0.1 * np.arange(n), dtype=np.float64), valid, cols))
    return h


def test_candidate_evidence_does_not_depend_on_the_batch() -> None:
    h = _history()
    ends = np.arange(60, 398)
    whole = segment_features(h, ends)
    for lo, hi in ((60, 61), (61, 200), (200, 398)):
        part = segment_features(h, np.arange(lo, hi))
        k = slice(lo - 60, hi - 60)
        np.testing.assert_array_equal(part.x_treated, whole.x_treated[k])
        np.testing.assert_array_equal(part.ok, whole.ok[k])
    # every candidate touching the invalid frames (and their look-back/ahead) is out
    a = ends[:, None] - DURATIONS[None, :]
    touches = (a - 5 < 155) & (ends[:, None] + 3 > 150)
    assert not whole.ok[touches].any()
    assert whole.ok[~touches & (a - 5 >= 70)].all()  # floors exist from the second block on


def test_windows_masked_frame_by_frame_are_the_windows_masked() -> None:
    """Consecutive ends inside the history mask each column once per frame and view the result as
    windows (_Windows.masked); ends that are not consecutive gather their windows and mask those: the
    same evidence, ``ok`` and context bit for bit, the stroker's and the hand's included (their own
    invalid frames)."""
    h = _history()
    rng = np.random.default_rng(6)
    n = int(h.t_s.shape[0])
    s_valid = np.ones(n)
    s_valid[[30, 200, 201, 260]] = 0.0
    h.cols.update({k: rng.normal(size=n) for k in ("s_ax", "s_ay", "s_az", "s_gm")})
    h.cols["s_valid"] = s_valid
    # the hand's columns (without its own history: its treated part is left at zero)
    h.cols.update({k: rng.normal(size=n) for k in ("h_hf", "h_lf", "h_el", "h_gm")})
    h_valid = np.ones(n)
    h_valid[[90, 91, 300]] = 0.0
    h.cols["h_valid"] = h_valid
    ends = np.arange(61, 380)
    strided = segment_features(h, ends)
    for i in range(0, ends.shape[0], 7):
        e = int(ends[i])
        gathered = segment_features(h, np.array([e, e + 2]))  # not consecutive: gathered windows
        one = segment_features(h, np.array([e]))  # one end: a plain slice
        for got in (gathered, one):
            for name in ("x_treated", "x_stroker", "ok", "stroker_ok", "context", "x_hand"):
                ref = np.ascontiguousarray(getattr(strided, name)[i])
                assert np.ascontiguousarray(getattr(got, name)[0]).tobytes() == ref.tobytes(), (e, name)


def test_window_means_read_through_slices_are_the_gathered_means() -> None:
    """_Range reads one repeated row, or consecutive rows either way, through a slice instead of a
    gather: the same means as window_ops.cmean, bit for bit, for every pattern of positions."""
    from coach.signal.strokes.segments import _WLEN, _Range
    from coach.signal.strokes.window_ops import cmean

    rng = np.random.default_rng(9)
    c = np.cumsum(rng.normal(size=(_WLEN + 1, 37)), axis=0)
    k = 48
    patterns = {
        "one row": (np.full(k, 20), np.full(k, 23)),
        "down": (np.arange(60, 60 - k, -1), np.full(k, 61)),
        "up": (np.arange(3, 3 + k), np.arange(5, 5 + k)),
        "clipped": (np.arange(10, 10 - k, -1), np.arange(_WLEN + 5 - k, _WLEN + 5)),
        "to row 0": (np.arange(k - 1, -1, -1), np.full(k, k)),
        "irregular": (rng.integers(0, _WLEN, k), rng.integers(0, _WLEN, k)),
    }
    for name, (lo, hi) in patterns.items():
        got = _Range(lo, hi).mean(c)
        assert got.shape == (k, 37), name
        assert got.tobytes() == cmean(c, lo, hi).tobytes(), name


def test_candidate_evidence_written_in_place_is_the_same() -> None:
    # The hand's pass writes its treated evidence into the hand networks' input and skips the context.
    h = _history()
    ends = np.arange(60, 398)
    ref = segment_features(h, ends)
    buf = np.full((len(TREATED_FEATURES), DURATIONS.shape[0], ends.shape[0]), -123.0)
    got = segment_features(h, ends, buf, with_context=False)
    assert np.shares_memory(got.x_treated, buf)
    np.testing.assert_array_equal(buf.transpose(2, 1, 0), ref.x_treated)
    np.testing.assert_array_equal(got.ok, ref.ok)
    assert got.context.size == 0 and ref.context.shape == (*ref.ok.shape, 2)


def _run_segmenter(rows: dict[int, np.ndarray], n: int, max_late: int = 2) -> list[tuple[int, int, int]]:
    seg = Segmenter(max_late)
    seg.start_at(0)
    out = []
    for e in range(n):
        row = rows.get(e, np.full(DURATIONS.shape, -5.0))
        out += [(s.a, s.b, s.committed_at) for s in seg.step(e, row)]
    return out


def _row(scores: dict[int, float]) -> np.ndarray:
    row = np.full(DURATIONS.shape, -5.0)
    for d, v in scores.items():
        row[d - DURATIONS[0]] = v
    return row


def test_segmenter_prefers_the_best_non_overlapping_set_and_commits_one_frame_later() -> None:
    # Candidates ending at 20: [10, 20) scores 3; ending at 22: [12, 22) scores 1 (overlaps, worse).
    rows = {20: _row({10: 3.0}), 22: _row({10: 1.0})}
    assert _run_segmenter(rows, 40) == [(10, 20, 21)]
    # Two short ones beat one long one that covers both.
    rows = {15: _row({5: 2.0}), 25: _row({5: 2.0, 15: 3.0})}
    assert _run_segmenter(rows, 40) == [(10, 15, 16), (20, 25, 26)]


def test_segmenter_commits_before_a_later_overlapping_candidate_is_seen() -> None:
    # Streaming: [10, 20) is committed at frame 21; a better [10, 30) seen at 30 can no longer win.
    rows = {20: _row({10: 1.0}), 30: _row({20: 5.0})}
    assert _run_segmenter(rows, 40) == [(10, 20, 21)]


def test_glide_axis_learns_the_proximal_direction_from_clear_strokes() -> None:
    axis = GlideAxis()
    proximal_h = np.array([np.cos(0.7), np.sin(0.7)])
    for k in range(6):
        sign = 1.0 if k % 2 == 0 else -1.0  # proximal, distal alternately
        glide = np.concatenate((0.15 * sign * proximal_h, [-0.06 * sign]))  # proximal goes down
        axis.learn(glide, sin_elev=0.5)
    assert axis.weight == 1.0
    flat = np.concatenate((0.15 * proximal_h, [0.0]))
    assert axis.cos_to(flat) == pytest.approx(1.0, abs=1e-6)
    assert axis.cos_to(-flat) == pytest.approx(-1.0, abs=1e-6)
    # near horizontal the vertical cue is not clear enough to teach anything
    before = axis.count
    axis.learn(np.array([0.1, 0.0, -0.01]), sin_elev=0.05)
    assert axis.count == before


def test_the_shipped_model_file_is_data_with_provenance_and_round_trips_exactly(tmp_path: Path) -> None:
    parameters, provenance = read_model()
    # The file is exactly what the writer makes of what it holds: the floats read back bit for bit.
    assert SOURCE_PATH.read_text(encoding="utf-8") == model_text(parameters, provenance)
    copy = tmp_path / "model.json"
    write_model(copy, parameters, provenance)
    assert read_model(copy) == (parameters, provenance)
    for key in ("command", "train_sessions", "tune_seeds", "date", "commit", "figures"):
        assert key in provenance
    model = DetectorModel.from_dict(parameters)
    assert model.treated.w1.shape[0] == len(TREATED_FEATURES)
    with pytest.raises(ValueError, match="round trip"):
        write_model(tmp_path / "bad.json", {"w": (1.0, 2.0)}, provenance)
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ModelFileError, match="not a retro-coach-stroke-model file"):
        read_model(tmp_path / "other.json")


def test_the_one_clipped_sigmoid() -> None:
    assert sigmoid(0.0) == 0.5
    assert sigmoid(1e6) == sigmoid(40.0) and sigmoid(-1e6) == sigmoid(-40.0) > 0.0
    assert sigmoid(2.0) == pytest.approx(1.0 / (1.0 + np.exp(-2.0)), rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 200), st.booleans(), st.integers(0, 2**16)), min_size=1, max_size=12),
    st.integers(0, 80),
)
def test_skipping_frames_without_candidates_is_the_same_as_stepping_through_them(
    runs: list[tuple[int, bool, int]], max_late: int
) -> None:
    """Segmenter.skip (a gap in the data) leaves the programme exactly as stepping with empty rows would:
    same commitments, same state, whatever was pending when the gap began."""
    stepped, skipping = Segmenter(max_late), Segmenter(max_late)
    empty = np.full(DURATIONS.shape[0], -np.inf)
    e = 0
    got_a: list[tuple[int, int, int]] = []
    got_b: list[tuple[int, int, int]] = []
    for length, is_gap, seed in runs:
        rng = np.random.default_rng(seed)
        stop = e + length
        if is_gap:
            for f in range(e, stop):
                got_a += [(s.a, s.b, s.committed_at) for s in stepped.step(f, empty)]
            got_b += [(s.a, s.b, s.committed_at) for s in skipping.skip(stop)]
        else:
            for f in range(e, stop):
                row = np.where(
                    rng.random(DURATIONS.shape[0]) < 0.05, rng.normal(0.0, 2.0, DURATIONS.shape[0]), -np.inf
                )
                got_a += [(s.a, s.b, s.committed_at) for s in stepped.step(f, row)]
                got_b += [(s.a, s.b, s.committed_at) for s in skipping.step(f, row)]
        e = stop
        assert got_a == got_b
        assert (stepped.base, stepped.next_end, stepped._n) == (skipping.base, skipping.next_end, skipping._n)
        n = stepped._n
        np.testing.assert_array_equal(stepped._best[:n], skipping._best[:n])
        assert stepped._last[:n] == skipping._last[:n]
        assert sorted(stepped._rows) == sorted(skipping._rows)


@pytest.mark.parametrize("which", ["treated", "with_stroker"])
def test_the_network_screen_drops_only_candidates_the_network_cannot_put_above_the_floor(which: str) -> None:
    """Mlp.may_exceed (the cheap screen before the exact network) keeps every row whose exact log-odds
    exceed the floor, including rows a hair above it, and drops most rows far below it."""
    net = getattr(DetectorModel.from_dict(read_model()[0]), which)
    assert net is not None
    rng = np.random.default_rng(7)
    k = net.lo.shape[0]
    span = net.hi - net.lo
    x = net.lo + span * rng.uniform(-0.2, 1.2, size=(20_000, k))  # some rows outside the clip box
    x[:50, 0] = np.nan
    exact = net.logit(x)
    for floor in (-2.0, 0.0, float(np.nanmedian(exact))):
        keep = net.may_exceed(x, floor)
        assert keep[exact > floor].all()
        assert keep[np.isnan(exact)].all()
        assert (~keep[exact < floor - 1e-6]).mean() > 0.99
    # right at the boundary: the floor one ulp below a row's exact log-odds keeps that row
    fin = np.flatnonzero(np.isfinite(exact))[:200]
    for i in fin:
        floor = float(np.nextafter(exact[i], -np.inf))
        assert net.may_exceed(x[i : i + 1], floor)[0]


def test_scoring_with_a_floor_changes_no_log_odds_above_it() -> None:
    model = DetectorModel.from_dict(read_model()[0])
    batch = segment_features(_history(600, seed=11), np.arange(60, 598))
    raw = segment_logits(batch, model.treated, None, 0.0)
    bias = -float(np.median(raw[np.isfinite(raw)]))  # a prior that puts half the candidates above 0
    full = segment_logits(batch, model.treated, None, bias)
    floored = segment_logits(batch, model.treated, None, bias, floor=0.0)
    above = full > 0.0
    assert 0.3 < above[np.isfinite(full)].mean() < 0.7
    np.testing.assert_array_equal(floored[above], full[above])
    assert not (floored[~above] > 0.0).any()
    assert np.isneginf(floored[~above]).mean() > 0.5  # the screen did drop candidates


def test_the_direction_evidence_linspace_is_numpys_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    for i in range(3000):
        a, b = rng.normal(size=2) * 10.0 ** rng.integers(-8, 8, size=2)
        a = 0.0 if i % 11 == 0 else float(a)
        b = a if i % 7 == 0 else (np.nan if i % 13 == 0 else float(b))
        n = int(rng.integers(0, 300))
        assert _linspace(a, b, n).tobytes() == np.linspace(a, b, n).tobytes(), (a, b, n)
