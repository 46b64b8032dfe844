"""Stroke detection, stage 2 (continued): the log-odds of the candidate contacts.

:func:`segment_logits` turns the evidence of :func:`coach.signal.strokes.segments.segment_features`
into log-odds with the trained networks (:class:`~coach.signal.strokes.mlp.Mlp`), with the cheap,
provably conservative screen before the network when only log-odds above a floor matter (the
segmenter's case: :mod:`coach.signal.strokes.segmenter` uses only positive ones).
"""

from __future__ import annotations

import numpy as np

from coach.samples import FloatArray
from coach.signal.strokes.hand import HandModel
from coach.signal.strokes.mlp import Mlp
from coach.signal.strokes.segments import BoolArray, SegmentBatch


def segment_logits(
    batch: SegmentBatch,
    treated: Mlp,
    with_stroker: Mlp | None,
    bias: float,
    bias_stroker: float | None = None,
    quiet_max: tuple[float, float] | None = None,
    screen: tuple[FloatArray, float, float] | None = None,
    floor: float | None = None,
    hand: HandModel | None = None,
    keep_treated: bool = False,
    treated_margin: float = 0.0,
) -> FloatArray:
    """Log-odds of every candidate (−inf where not ``ok``); the stroker model where its frames are valid.
    ``bias`` (and ``bias_stroker`` for the stroker model) shift the log-odds: the prior of a stroke.

    ``quiet_max``: a stroke is made on a supported forearm that is quiet between strokes (the return,
    docs/design.md §6). A candidate before which the limb was never as quiet as before the training strokes
    (continuous handling of the sensor) is not a stroke, whatever the network says.

    ``floor``: a candidate whose log-odds provably cannot exceed it may be given −inf instead (the
    segmenter only uses positive log-odds: ``floor=0``). :meth:`~coach.signal.strokes.mlp.Mlp.may_exceed`
    screens the candidates first and only the rest go through the exact network, so every log-odds
    above ``floor`` is the same number bit for bit. Each candidate goes through one network: the
    stroker model where its frames are valid, else the ``treated`` one.

    ``hand`` (the model's ``hand`` section): where the ``hand`` sensor's frames are valid, the candidate
    also goes through its networks (:func:`hand_logits`) and keeps the larger log-odds: a stroke the
    watch feels (the forearm) stays found as before, one only the hand feels (fingers, the hand) is
    found by the hand's evidence. Without a ``hand`` sensor nothing here changes.

    ``keep_treated``: where the stroker's frames are valid, the candidate keeps the larger of the stroker
    model's log-odds and the ``treated`` model's (as the hand's networks do): a helper whose wrist does
    not follow the glide (thumb-driven glides, grips away from the contact, docs/strokes.md) makes the
    stroker model miss strokes the watch alone finds. ``treated_margin``: there, the ``treated`` model's
    log-odds count less this much (a candidate the stroker model doubts needs the watch to be surer).
    """
    shape = batch.ok.shape
    out = np.full(shape, -np.inf)
    sel = batch.ok
    if quiet_max is not None:
        sel = sel & (batch.context[..., 0] <= quiet_max[0]) & (batch.context[..., 1] <= quiet_max[1])
    own = hand_logits(batch, hand, sel, floor) if hand is not None else None
    if screen is not None and sel.any():
        # A linear pre-screen that passes 99.9 % of the training strokes saves the network for the
        # rest (most candidates are plainly not strokes).
        w, b, least = screen
        score = np.full(shape, -np.inf)
        score[sel] = np.einsum("nk,k->n", batch.x_treated[sel], w) + b
        sel = sel & (score >= least)
    s_sel: BoolArray | None = None
    if with_stroker is not None and batch.x_stroker is not None:
        s_sel = batch.stroker_ok & sel
        # the stroker model's log-odds replace the treated model's (or, keep_treated, join them)
        t_sel = sel & ~s_sel
    else:
        t_sel = sel
    if t_sel.any():
        _score(out, t_sel, (batch.x_treated,), treated, bias, floor)
    if keep_treated and s_sel is not None and s_sel.any():
        _score(out, s_sel, (batch.x_treated,), treated, bias - treated_margin, floor)
    if s_sel is not None and s_sel.any():
        assert with_stroker is not None and batch.x_stroker is not None
        b_s = bias if bias_stroker is None else bias_stroker
        if keep_treated:
            both = np.full(shape, -np.inf)
            _score(both, s_sel, (batch.x_treated, batch.x_stroker), with_stroker, b_s, floor)
            np.maximum(out, both, out=out)
        else:
            _score(out, s_sel, (batch.x_treated, batch.x_stroker), with_stroker, b_s, floor)
    if own is not None:
        np.maximum(out, own, out=out)
    return out


def hand_logits(batch: SegmentBatch, hand: HandModel, sel: BoolArray, floor: float | None) -> FloatArray:
    """The hand networks' log-odds (their priors included) of the candidates in ``sel`` whose ``hand``
    frames are valid (``with_all`` where the stroker's are too); −inf elsewhere."""
    out = np.full(batch.ok.shape, -np.inf)
    if batch.x_hand is None or batch.hand_ok is None:
        return out
    h_sel = sel & batch.hand_ok
    a_sel: BoolArray | None = None
    if hand.with_all is not None and batch.x_stroker is not None:
        a_sel = h_sel & batch.stroker_ok
        h_sel = h_sel & ~a_sel
    if h_sel.any():
        _score(out, h_sel, (batch.x_treated, batch.x_hand), hand.with_hand, hand.bias_hand, floor)
    if a_sel is not None and a_sel.any():
        assert hand.with_all is not None and batch.x_stroker is not None
        parts = (batch.x_treated, batch.x_stroker, batch.x_hand)
        _score(out, a_sel, parts, hand.with_all, hand.bias_all, floor)
    return out


def _score(
    out: FloatArray, sel: BoolArray, parts: tuple[FloatArray, ...], net: Mlp, bias: float, floor: float | None
) -> None:
    """``out[sel] = net.logit(x[sel]) + bias`` for the evidence ``x`` = ``parts`` side by side; with a
    ``floor``, −inf where that provably cannot exceed it (the screen reads every candidate in
    feature-major order, without gathering rows; only the kept rows are gathered for the network)."""
    if floor is not None:
        n = sel.size
        # segment_features' evidence is a view of (feature, duration, end) arrays: read in that order
        reversed_axes = [p.T for p in parts]
        if all(f.flags.c_contiguous for f in reversed_axes):
            flat = [f.reshape(f.shape[0], n) for f in reversed_axes]
            keep = net.may_exceed_t(flat, floor - bias).reshape(sel.shape[::-1]).T
        else:
            flat = [np.moveaxis(p, -1, 0).reshape(p.shape[-1], n) for p in parts]
            keep = net.may_exceed_t(flat, floor - bias).reshape(sel.shape)
        out[sel & ~keep] = -np.inf
        sel = sel & keep
        if not sel.any():
            return
    x = parts[0][sel] if len(parts) == 1 else np.concatenate([p[sel] for p in parts], axis=-1)
    out[sel] = net.logit(x) + bias
