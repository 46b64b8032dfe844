"""The direction evidence's shortcuts give the numbers of the plain numpy they replace, bit for bit.

``direction.py`` keeps each window's double integral by sample range (``SampleRing.displacement``),
and replaces ``np.linspace``, ``np.linalg.norm``, ``np.stack`` and ``ok.mean()`` by cheaper forms of
the same operations; the golden replays check the events, these check the numbers on odd inputs.
"""

from __future__ import annotations

import numpy as np

from coach.signal.strokes import direction as dr


def _ring(t_s: np.ndarray, **cols: np.ndarray) -> dr.SampleRing:
    ring = dr.SampleRing()
    ring.push(t_s, cols)
    return ring


def _same(a: object, b: object) -> bool:
    return bool(np.asarray(a, dtype=np.float64).tobytes() == np.asarray(b, dtype=np.float64).tobytes())


def test_linspace_and_norm_give_numpys_bits() -> None:
    rng = np.random.default_rng(3)
    cases = [(0.0, 0.0, 5), (0.0, -0.0, 4), (1.0, 1.0, 3), (0.0, 5e-324, 7), (-2.5, 3.0, 0), (-2.5, 3.0, 1)]
    cases += [(0.0, 2.0, 2), (float("nan"), 1.0, 4), (0.0, float("inf"), 5)]
    cases += [
        (float(a), float(b), int(n))
        for a, b, n in zip(*rng.normal(0, 1e3, (2, 200)), rng.integers(0, 300, 200), strict=True)
    ]
    for start, stop, num in cases:
        with np.errstate(invalid="ignore"):  # 0 * inf, in both
            got, want = dr._linspace(start, stop, num), np.linspace(start, stop, num)
        assert _same(got, want), (start, stop, num)
    for n in (2, 3, 17):
        for x in rng.normal(0.0, 10.0 ** rng.uniform(-8, 8, (50, 1)), (50, n)):
            x = np.ascontiguousarray(x)
            assert dr._norm(x) == float(np.linalg.norm(x))
    assert np.isnan(dr._norm(np.array([np.nan, 1.0, 2.0])))
    assert dr._norm(np.array([np.inf, 1.0])) == np.inf


def test_a_kept_integral_is_forgotten_when_the_samples_change() -> None:
    """The integrals are kept by sample range: after a trim or a push the same range holds other
    samples, and the kept one must not be returned."""
    rng = np.random.default_rng(5)
    t = np.arange(6000) / 100.0
    lx = rng.normal(0.0, 1.0, t.size)
    ring = _ring(t, lx=lx, el=rng.normal(0.0, 5.0, t.size))
    _, first = ring.lx_displacement(0.0, 0.5, 10)
    assert first is not None and _same(first, dr._double_integral(t[:50], lx[:50]))
    ring.trim_before(25.0)  # 2500 samples cut: sample range (0, 50) now holds t = 25.0 ... 25.49
    t_now, again = ring.lx_displacement(25.0, 25.5, 10)
    assert again is not None and _same(again, dr._double_integral(t[2500:2550], lx[2500:2550]))
    assert not _same(again, first) and float(t_now[0]) == 25.0
    ring.push(t[:10] + 60.0, {"lx": lx[:10], "el": lx[:10]})
    ring.cols["lx"] = ring.cols["lx"] * 2.0  # what a push may bring: new arrays behind the same ranges
    _, doubled = ring.lx_displacement(25.0, 25.5, 10)
    assert doubled is not None and _same(doubled, dr._double_integral(t[2500:2550], 2.0 * lx[2500:2550]))
    assert ring.lx_displacement(25.0, 25.09, 10)[1] is None  # 9 samples


def _contacts(rng: np.random.Generator, end_s: float) -> list[tuple[float, float]]:
    starts = np.sort(rng.uniform(1.5, end_s - 3.0, 40))
    return [(float(a), float(a + rng.uniform(0.05, 2.5))) for a in starts]


def test_the_treated_evidence_with_kept_integrals_equals_a_fresh_ring_per_call() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(3000) / 100.0
    lx = rng.normal(0.0, 0.5, t.size).cumsum() * 0.01
    el = 20.0 + rng.normal(0.0, 2.0, t.size)
    lx[rng.integers(0, t.shape[0], 60)] = np.nan
    el[rng.integers(0, t.shape[0], 60)] = np.nan
    shared = _ring(t, lx=lx, el=el)
    for t_a, t_b in _contacts(rng, 30.0):
        for fn in (dr.treated_evidence, dr.treated_shape_evidence):
            assert _same(fn(shared, t_a, t_b), fn(_ring(t, lx=lx, el=el), t_a, t_b)), (fn, t_a, t_b)


def _glide_reference(
    ring: dr.SampleRing, treated: dr.SampleRing, t_a: float, t_b: float
) -> tuple[np.ndarray, float] | None:
    """``stroker_glide`` as it was written with numpy's general functions."""
    t, c = ring.window(t_a, t_b)
    if t.shape[0] < 5:
        return None
    acc = np.stack((c["ax"], c["ay"], c["az"]), axis=-1)
    ok = np.isfinite(acc).all(axis=1)
    if ok.mean() < 0.8:
        return None
    dur = t_b - t_a
    tau = (t[ok] - t_a) / dur
    k = 60.0 * tau - 180.0 * tau**2 + 120.0 * tau**3
    kk = float(k @ k)
    if kk <= 0.0:
        return None
    glide = dur * dur * (k @ acc[ok]) / kk
    _, tc = treated.window(t_a, t_b)
    el = tc["el"]
    if not np.isfinite(el).any():
        return None
    return glide, float(np.nanmean(np.sin(np.radians(el))))


def test_the_stroker_glide_and_its_shape_evidence_give_the_plain_numbers() -> None:
    rng = np.random.default_rng(11)
    t = np.arange(3000) / 100.0
    axes = {k: rng.normal(0.0, 1.0, t.size) for k in ("ax", "ay", "az")}
    for k, v in axes.items():  # runs of gaps, some windows above and some below 80 % valid
        for start in rng.integers(0, t.size - 40, 25 if k == "ax" else 10):
            v[start : start + rng.integers(1, 40)] = np.nan
    stroker = _ring(t, **axes)
    el = 20.0 + rng.normal(0.0, 3.0, t.size)
    el[rng.integers(0, t.shape[0], 300)] = np.nan
    treated = _ring(t, lx=np.zeros(t.shape[0]), el=el)
    axis, axis_ref = dr.GlideAxis(), dr.GlideAxis()
    seen = {True: 0, False: 0}
    for t_a, t_b in [*_contacts(rng, 30.0), (10.0, 10.03), (12.0, 12.5)]:
        got, ref = dr.stroker_glide(stroker, treated, t_a, t_b), _glide_reference(stroker, treated, t_a, t_b)
        seen[ref is None] += 1
        assert (got is None) == (ref is None)
        if got is None or ref is None:
            continue
        assert _same(got[0], ref[0]) and got[1] == ref[1]
        shape = dr.stroker_shape_evidence(stroker, treated, t_a, t_b, axis)
        want = np.zeros(len(dr.STROKER_SHAPE_FEATURES))
        dur = t_b - t_a
        for w, (fa, fb, pre, post) in enumerate(dr.STROKER_SHAPE_WINDOWS):
            g = _glide_reference(stroker, treated, t_a + fa * dur - pre, t_a + fb * dur + post)
            if g is not None:
                length = max(float(np.linalg.norm(g[0])), 0.02)
                share = float(g[0][2]) / length
                ev = np.array([share * g[1] * 10.0, share, g[1], axis_ref.cos_to(g[0]) * axis_ref.weight])
                want[4 * w : 4 * w + 3] = ev[[0, 1, 3]]
                want[4 * w + 3] = float(np.linalg.norm(g[0]))
        assert _same(shape, want)
        axis.learn(got[0], 0.6)
        axis_ref.learn(ref[0], 0.6)
    assert seen[True] > 0 and seen[False] > 0
    assert axis.count > 0 and _same(axis.vector, axis_ref.vector)


def test_glides_over_many_windows_at_once_are_each_windows_glide() -> None:
    """``stroker_glides`` gathers the samples of all its windows once: each window's glide and
    sin(elevation) must be the single window's bit for bit (windows overlapping, apart, past the
    ring's ends, with gaps; a forearm without an elevation column gives no glide)."""
    rng = np.random.default_rng(13)
    t = np.arange(2000) / 100.0
    axes = {k: rng.normal(0.0, 1.0, t.size) for k in ("ax", "ay", "az")}
    for v in axes.values():
        for start in rng.integers(0, t.size - 40, 15):
            v[start : start + rng.integers(1, 40)] = np.nan
    stroker = _ring(t, **axes)
    el = 20.0 + rng.normal(0.0, 3.0, t.size)
    el[rng.integers(0, t.shape[0], 200)] = np.nan
    el[700:800] = np.nan  # a second without any elevation
    treated, bare = _ring(t, el=el), _ring(t, lx=np.zeros(t.shape[0]))
    found = 0
    for _ in range(300):
        spans = [float(x) for x in np.sort(rng.uniform(-1.0, 21.0, 2 * int(rng.integers(1, 7))))]
        for fore in (treated, bare):
            got = dr.stroker_glides(stroker, fore, *spans)
            assert len(got) == len(spans) // 2
            for q, g in enumerate(got):
                one = dr.stroker_glide(stroker, fore, spans[2 * q], spans[2 * q + 1])
                ref = (
                    _glide_reference(stroker, fore, spans[2 * q], spans[2 * q + 1])
                    if fore is treated
                    else None
                )
                assert (g is None) == (one is None) == (ref is None)
                if g is not None and one is not None and ref is not None:
                    assert _same(g[0], one[0]) and _same(g[0], ref[0]) and g[1] == one[1] == ref[1]
                    found += 1
    assert found > 150  # windows compared with a glide (the rest: too few valid samples)
