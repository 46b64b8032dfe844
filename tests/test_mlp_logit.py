"""``Mlp.logit`` clips its inputs with np.maximum/np.minimum instead of np.clip when no clip bound is
zero: the same log-odds bit for bit (np.clip is min(max(x, lo), hi); only a zero's sign could differ,
against a zero bound, which keeps np.clip)."""

from __future__ import annotations

import numpy as np

from coach.signal.strokes.mlp import Mlp


def _net(rng: np.random.Generator, k: int, lo: np.ndarray, hi: np.ndarray) -> Mlp:
    h = 8
    return Mlp(
        rng.normal(size=k),
        rng.uniform(0.5, 2, k),
        rng.normal(size=(k, h)),
        rng.normal(size=h),
        rng.normal(size=h),
        float(rng.normal()),
        (lo, hi),
    )


def _odd_rows(rng: np.random.Generator, n: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    x = rng.normal(size=(n, lo.shape[0])) * 3
    m = rng.random(x.shape)
    x[m < 0.05] = 0.0
    x[(m >= 0.05) & (m < 0.1)] = -0.0
    x[(m >= 0.1) & (m < 0.12)] = np.nan
    x[(m >= 0.12) & (m < 0.14)] = np.inf
    x[(m >= 0.14) & (m < 0.16)] = -np.inf
    at_lo, at_hi = (m >= 0.16) & (m < 0.2), (m >= 0.2) & (m < 0.24)
    x[at_lo] = np.broadcast_to(lo, x.shape)[at_lo]
    x[at_hi] = np.broadcast_to(hi, x.shape)[at_hi]
    return x


def _reference_logit(net: Mlp, x: np.ndarray) -> np.ndarray:
    """The network as it was written: np.clip, then the same einsums."""
    xc = np.clip(x, net.lo, net.hi)
    hidden = np.maximum(np.einsum("nk,kh->nh", xc, net.w1) + net.b1, 0.0)
    out: np.ndarray = np.einsum("nh,h->n", hidden, net.w2) + net.b2
    return out


def test_logit_is_the_clipped_network_bit_for_bit() -> None:
    rng = np.random.default_rng(14)
    for trial in range(100):
        k = int(rng.integers(1, 30))
        lo = rng.normal(size=k) - 1.0
        hi = lo + rng.uniform(0.1, 3.0, size=k)
        lo[rng.random(k) < 0.1] = -np.inf
        hi[rng.random(k) < 0.1] = np.inf
        net = _net(rng, k, lo, hi)
        assert net._clip_by_max_min
        for n in (1, 2, 40):
            x = _odd_rows(rng, n, lo, hi)
            assert net.logit(x).tobytes() == _reference_logit(net, x).tobytes(), trial


def test_a_zero_bound_keeps_np_clip() -> None:
    rng = np.random.default_rng(3)
    lo, hi = np.array([0.0, -1.0, -2.0]), np.array([1.0, 0.0, 2.0])
    net = _net(rng, 3, lo, hi)
    assert not net._clip_by_max_min
    x = _odd_rows(rng, 50, lo, hi)
    assert net.logit(x).tobytes() == _reference_logit(net, x).tobytes()


def _screen_is_conservative(net: Mlp, x: np.ndarray) -> None:
    exact = net.logit(x)
    finite = np.isfinite(exact)
    for floor in (-2.0, 0.0, float(np.median(exact[finite]))):
        keep = net.may_exceed(x, floor)
        assert keep[exact > floor].all() and keep[np.isnan(exact)].all()
    for i in np.flatnonzero(finite)[:100]:  # the floor one ulp below a row's exact log-odds keeps it
        assert net.may_exceed(x[i : i + 1], float(np.nextafter(exact[i], -np.inf)))[0]


def test_the_float32_screen_keeps_every_row_the_exact_network_puts_above_the_floor() -> None:
    """The screen runs in float32 where its bound is finite; it must still keep every row whose exact
    (float64) log-odds exceed the floor, for the shipped networks and for random ones of every scale."""
    from coach.signal.strokes.detector import default_model

    model = default_model()
    assert model.hand is not None and model.hand.with_all is not None
    rng = np.random.default_rng(32)
    nets = [model.treated, model.hand.with_hand, model.hand.with_all]
    for scale in (1e-30, 1e-3, 1.0, 1e3, 1e8):
        k = int(rng.integers(2, 70))
        lo = -rng.uniform(0, 5, k) * scale
        hi = rng.uniform(0, 5, k) * scale
        nets.append(_net(rng, k, lo, hi))
    for net in nets:
        assert net._screen32 is not None
        span = net.hi - net.lo
        x = net.lo + span * rng.uniform(-0.2, 1.2, size=(5_000, net.lo.shape[0]))
        x[:20, 0] = np.nan
        _screen_is_conservative(net, x)
    # and where float32 could overflow or the box is open, the float64 screen
    assert _net(rng, 3, np.full(3, -1e35), np.full(3, 1e35))._screen32 is None
    assert _net(rng, 3, np.array([-np.inf, -1, -1]), np.ones(3))._screen32 is None
