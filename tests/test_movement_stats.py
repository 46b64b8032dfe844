"""The movement veto's stand-ins for numpy's statistics give numpy's exact numbers."""

from __future__ import annotations

import numpy as np

from coach.signal.strokes.contact_stats import _correlation, _median, _periodicity
from coach.signal.strokes.window_stats import stat as _stat


def _ref_stat(x: np.ndarray, fn: str, empty: float) -> float:
    v = x[np.isfinite(x)]
    if v.shape[0] == 0:
        return empty
    return float({"max": v.max(), "std": v.std(), "range": v.max() - v.min(), "mean": v.mean()}[fn])


def _ref_periodicity(x: np.ndarray) -> float:
    v = np.nan_to_num(x - np.nanmean(x)) if np.isfinite(x).any() else np.zeros(0)
    n = v.shape[0]
    den = float(v @ v)
    if n < 16 or den <= 1e-12:
        return 0.0
    best = max(float(v[:-k] @ v[k:]) / den * n / (n - k) for k in range(8, min(40, n // 2) + 1))
    return float(np.clip(best, -1.0, 1.0))


def _bits(x: float) -> bytes:
    return np.float64(x).tobytes()


def test_stats_bit_for_bit_against_numpy() -> None:
    rng = np.random.default_rng(7)
    with np.errstate(all="ignore"):
        for i in range(3000):
            n = int(rng.integers(0, 400))
            x = rng.normal(size=n) * 10 ** rng.uniform(-3, 3)
            if i % 5 == 0:
                x = np.round(x)
            if i % 3 == 0 and n:
                x[rng.integers(0, n, size=3)] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0], size=3)
            clean = bool(np.isfinite(x).all())
            for fn in ("max", "std", "range", "mean"):
                assert _bits(_stat(x, fn, -7.0, clean)) == _bits(_ref_stat(x, fn, -7.0))
            assert _bits(_periodicity(x, clean)) == _bits(_ref_periodicity(x))
            part = x[np.isfinite(x)].tolist()[: int(rng.integers(1, 9))]
            if part:
                if i % 4 == 0:
                    part[0] = 0.0 if i % 8 else -0.0
                if i % 11 == 0:
                    part[-1] = float("nan")
                assert _bits(_median(part)) == _bits(float(np.median(part)))


def test_the_stroker_coupling_is_numpys_corrcoef_bit_for_bit() -> None:
    """``_correlation`` against ``np.corrcoef(x, y)[0, 1]``: the stroker's acceleration against the
    forearm's vibration, of every length, scale and degree of coupling the veto's windows have."""
    rng = np.random.default_rng(9)
    checked = 0
    for i in range(3000):
        n = int(rng.integers(4, 400))
        x = np.abs(rng.normal(size=n)) * 10 ** rng.uniform(-3, 3)
        y = rng.normal(size=n) * 10 ** rng.uniform(-3, 3) + x * rng.normal() * (i % 2)
        if i % 7 == 0:
            y = np.round(y)
        if y.std() <= 1e-9:  # the veto's condition for a coupling at all
            continue
        assert _bits(_correlation(x, y)) == _bits(float(np.corrcoef(x, y)[0, 1]))
        checked += 1
    assert checked > 2500
    line = np.arange(5.0)  # perfectly coupled: numpy's roundings leave it just below 1
    assert _bits(_correlation(line, 2.0 * line)) == _bits(float(np.corrcoef(line, 2.0 * line)[0, 1]))


def test_list_means_and_cv_bit_for_bit_against_numpy() -> None:
    from coach.signal.strokes.contact_stats import _cv, _lmean
    from coach.signal.strokes.hand import _mean

    rng = np.random.default_rng(8)
    with np.errstate(all="ignore"):
        for i in range(3000):
            x = (rng.normal(size=int(rng.integers(1, 20))) * 10 ** rng.uniform(-3, 3)).tolist()
            if i % 7 == 0:
                x[0] = [float("nan"), float("inf"), -0.0][i % 3]
            assert _bits(_lmean(x)) == _bits(float(np.mean(x)))
            assert _bits(_mean(np.array(x))) == _bits(float(np.mean(x)))
            m = float(np.mean(x))
            ref = float(np.std(x)) / m if len(x) >= 2 and m > 1e-9 else 0.0
            assert _bits(_cv(x)) == _bits(ref)


def test_row_sums_are_numpys_sums_bit_for_bit() -> None:
    """``window_ops.row_sums`` (numpy's pairwise summation order, across many rows at once) against
    ``np.add.reduce`` of each row: lengths 0–300 (the recursive case above 128), magnitudes 1e-8–1e8,
    zeros of both signs; and the check that guards it against another numpy's order holds."""
    from coach.signal.strokes import window_ops

    assert window_ops._pairwise_matches_numpy()
    rng = np.random.default_rng(9)
    for _ in range(200):
        rows = int(rng.integers(1, 40))
        n = rng.integers(0, 301, size=rows)
        width = int(n.max()) + int(rng.integers(0, 9))
        v = rng.standard_normal((rows, width)) * 10.0 ** rng.integers(-8, 9, (rows, width))
        v[rng.random((rows, width)) < 0.05] = -0.0
        v = np.where(np.arange(width) < n[:, None], v, 0.0)
        ref = np.array([np.add.reduce(v[i, :k]) for i, k in enumerate(n.tolist())])
        assert window_ops._row_sums(v, n).tobytes() == ref.tobytes()
        assert window_ops.row_sums(v, n).tobytes() == ref.tobytes()
