"""The numeric fitting behind ``benchmarks/stroke_training.py``: a one-hidden-layer ReLU network and
a logistic regression, in numpy (the parameters they return are what ``model.json`` stores and
:class:`coach.signal.strokes.mlp.Mlp` reads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Hidden units of the candidate networks.
HIDDEN = 16


def train_mlp(
    x: np.ndarray,
    y: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    hidden: int = HIDDEN,
    epochs: int = 25,
    seed: int = 0,
    batch: int = 4096,
    group: Sequence[int] = (),
    group_zero: float = 0.0,
    group_flip: float = 0.0,
    group_scale: float = 0.0,
    group_noise: float = 0.0,
) -> dict[str, Any]:
    """A one-hidden-layer ReLU network with logistic loss (Adam, L2 1e-4).

    ``group``: input columns that are perturbed together during training (group dropout): in each batch
    a share ``group_zero`` of the rows has them all at 0 and a share ``group_flip`` all sign-flipped
    (in the inputs' own units; the standardisation and clip box are those of the unperturbed rows), so
    the network learns not to stake the answer on that group alone. Without it the fit is unchanged.
    """
    rng = np.random.default_rng(seed)
    x = x.astype(np.float64)
    sw = np.ones(len(y)) if weight is None else weight
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    cols = np.asarray(group, dtype=np.int64)
    perturb = cols.shape[0] > 0 and (group_zero > 0.0 or group_flip > 0.0)
    stretch = cols.shape[0] > 0 and (group_scale > 0.0 or group_noise > 0.0)
    # in standardised units: x -> 0 is z -> -mean/scale; x -> -x is z -> -z - 2·mean/scale
    z_zero = -mean[cols] / scale[cols]
    params = {
        "w1": rng.normal(0, 1 / math.sqrt(z.shape[1]), (z.shape[1], hidden)),
        "b1": np.zeros(hidden),
        "w2": rng.normal(0, 1 / math.sqrt(hidden), hidden),
        "b2": np.zeros(1),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    lr, l2, bs, step = 3e-3, 1e-4, batch, 0
    for epoch in range(epochs):
        if epoch == int(epochs * 0.7):
            lr /= 3
        order = rng.permutation(z.shape[0])
        for i in range(0, z.shape[0], bs):
            j = order[i : i + bs]
            xb, yb, wb = z[j], y[j], sw[j]
            if perturb:
                u = rng.random(len(j))
                zero, flip = u < group_zero, (u >= group_zero) & (u < group_zero + group_flip)
                xb = xb.copy()
                xb[np.ix_(zero, cols)] = z_zero
                xb[np.ix_(flip, cols)] = -xb[np.ix_(flip, cols)] + 2.0 * z_zero
            if stretch:
                xb = xb.copy()
                g = xb[:, cols] - z_zero  # the group in its own units over its scale
                if group_scale > 0.0:
                    g = g * rng.uniform(0.0, group_scale, (len(j), 1))
                if group_noise > 0.0:
                    g = g + rng.normal(0.0, group_noise, g.shape)
                xb[:, cols] = g + z_zero
            pre = xb @ params["w1"] + params["b1"]
            hid = np.maximum(pre, 0.0)
            logit = hid @ params["w2"] + params["b2"][0]
            p = 1 / (1 + np.exp(-np.clip(logit, -40, 40)))
            g = wb * (p - yb) / len(j)
            grads = {"w2": hid.T @ g + l2 * params["w2"], "b2": np.array([g.sum()])}
            dh = np.outer(g, params["w2"]) * (pre > 0)
            grads["w1"] = xb.T @ dh + l2 * params["w1"]
            grads["b1"] = dh.sum(0)
            step += 1
            for k in params:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                params[k] = params[k] - lr * (m[k] / (1 - 0.9**step)) / (
                    np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8
                )
    return {
        "clip_lo": np.percentile(x, 0.1, axis=0).tolist(),
        "clip_hi": np.percentile(x, 99.9, axis=0).tolist(),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "w1": params["w1"].tolist(),
        "b1": params["b1"].tolist(),
        "w2": params["w2"].tolist(),
        "b2": float(params["b2"][0]),
    }


def merge_networks(nets: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean log-odds of networks fitted by :func:`train_mlp` to the same rows (different seeds), as
    one network with their hidden units side by side and the output weights divided by their count: the
    same numbers, so the detector reads an ensemble as it reads one network. The rows fix the input
    standardisation and clip box, which must therefore be equal."""
    first = nets[0]
    for net in nets[1:]:
        for key in ("mean", "scale", "clip_lo", "clip_hi"):
            if net[key] != first[key]:
                raise ValueError(f"networks fitted to different rows ({key} differs)")
    k = len(nets)
    return {
        **{key: first[key] for key in ("clip_lo", "clip_hi", "mean", "scale")},
        "w1": [[w for net in nets for w in net["w1"][i]] for i in range(len(first["w1"]))],
        "b1": [b for net in nets for b in net["b1"]],
        "w2": [w / k for net in nets for w in net["w2"]],
        "b2": sum(float(net["b2"]) for net in nets) / k,
    }


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton steps (L2 on the weights, not the intercept)."""
    x1 = np.column_stack((x, np.ones(len(x))))
    w = np.zeros(x1.shape[1])
    reg = np.full(x1.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(x1 @ w, -40, 40)))
        g = x1.T @ (p - y) + reg * w
        hess = (x1 * (p * (1 - p))[:, None]).T @ x1 + np.diag(reg) + 1e-9 * np.eye(len(w))
        delta = np.linalg.solve(hess, g)
        w -= delta
        if np.abs(delta).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


#: Hidden units of the region networks.
REGION_HIDDEN = 12
#: The regions of the labels (simulators/variants/strokes.py REGIONS), one network each.
REGIONS = ("finger", "between_fingers", "back_of_hand", "palm", "forearm")


def fit_region(model: dict[str, Any], matched: list[dict[str, Any]], figures: dict[str, Any]) -> None:
    """P(region) of a committed contact, one-vs-rest networks per region and per evidence set (direction
    evidence and duration; with ``stroker`` its glide evidence too), from sessions with region labels."""
    r_rows = [r for r in matched if r.get("region") is not None]
    model["region"] = None
    if len(r_rows) < 200:
        print(f"region: only {len(r_rows)} labelled contacts, no region model", flush=True)
        return
    out: dict[str, dict[str, Any]] = {"treated": {}, "stroker": {}}
    xr = np.array([r["treated"] + [r["duration_s"]] for r in r_rows])
    rs = [r for r in r_rows if r["stroker"] is not None]
    xs = np.array([r["treated"] + [r["duration_s"]] + r["stroker"] for r in rs])
    for k, reg in enumerate(REGIONS):
        yr = np.array([float(r["region"] == reg) for r in r_rows])
        out["treated"][reg] = train_mlp(xr, yr, hidden=REGION_HIDDEN, epochs=40, batch=256, seed=10 + k)
        if len(rs) >= 200:
            ys = np.array([float(r["region"] == reg) for r in rs])
            out["stroker"][reg] = train_mlp(xs, ys, hidden=REGION_HIDDEN, epochs=40, batch=256, seed=20 + k)
    model["region"] = out
    share = {reg: sum(r["region"] == reg for r in r_rows) / len(r_rows) for reg in REGIONS}
    figures.update(region_rows=len(r_rows), region_rows_with_stroker=len(rs), region_share=share)
    print(f"region rows: {len(r_rows)} ({len(rs)} with stroker), shares {share}", flush=True)
