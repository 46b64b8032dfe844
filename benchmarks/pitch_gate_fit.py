"""Fit the watch-alone direction's pitch range gate (:mod:`coach.signal.strokes.pitch_gate`).

:func:`fit_pitch_gate` is called by ``python -m benchmarks.direction_training --pitch-gate``: a second
``treated`` network fitted the same way as the pitch network but with the pitch inputs (and ``drag_dip``)
at zero, the pitch network's clip box over the pitch inputs, and the share of out-of-range contacts above
which a session is judged without them: the largest share that any training session reached once it had
:data:`MIN_CONTACTS` contacts (counted as the detector counts, contact by contact), so no session of the
physics the pitch network was trained on is gated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np

#: Contacts a session must have before its out-of-range share is trusted.
MIN_CONTACTS: Final = 5


def pitch_columns() -> list[int]:
    """The pitch inputs of the ``treated`` direction input: ``lever_deg``, ``step_asym_deg`` and the
    elevation profiles (``el_prof*``, ``el_wide*``)."""
    from coach.signal.strokes.direction import TREATED_DIRECTION_FEATURES, TREATED_SHAPE_FEATURES

    names = (*TREATED_DIRECTION_FEATURES, *TREATED_SHAPE_FEATURES)
    return [i for i, n in enumerate(names) if n in ("lever_deg", "step_asym_deg") or n.startswith("el_")]


def free_columns() -> list[int]:
    """The inputs the pitch-free network reads as zero: :func:`pitch_columns` and ``drag_dip`` (the
    displacement regressed on the pitch dip: pitch evidence too)."""
    from coach.signal.strokes.direction import TREATED_DIRECTION_FEATURES

    return sorted({*pitch_columns(), TREATED_DIRECTION_FEATURES.index("drag_dip")})


def largest_share(sessions: Sequence[np.ndarray], min_contacts: int = MIN_CONTACTS) -> float:
    """The largest running share of out-of-range contacts that any session (a boolean per contact, in
    order) reaches from its ``min_contacts``-th contact on (0 when none has that many)."""
    top = 0.0
    for out in sessions:
        if out.shape[0] < min_contacts:
            continue
        share = np.cumsum(out) / np.arange(1, out.shape[0] + 1)
        top = max(top, float(share[min_contacts - 1 :].max()))
    return top


def fit_pitch_gate(
    pitch_net: dict[str, Any],
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    sessions: Sequence[np.ndarray],
    fit: Callable[[np.ndarray, np.ndarray], dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The gate's parameters and a provenance note. ``x_fit``/``y_fit``: the rows the pitch network was
    fitted to; ``sessions``: every training session's contacts' direction inputs, in order (matched or
    not, as the detector sees them); ``fit``: the pitch network's fit (seeds, epochs, hidden units)."""
    cols = pitch_columns()
    lo = np.asarray(pitch_net["clip_lo"], dtype=np.float64)[cols]
    hi = np.asarray(pitch_net["clip_hi"], dtype=np.float64)[cols]
    zero = free_columns()
    x_free = np.array(x_fit, dtype=np.float64)
    x_free[:, zero] = 0.0
    free = fit(x_free, y_fit)
    outs = [np.asarray(((x[:, cols] < lo) | (x[:, cols] > hi)).any(axis=1)) for x in sessions if x.shape[0]]
    share = largest_share(outs)
    gate = {
        "columns": cols,
        "lo": lo.tolist(),
        "hi": hi.tolist(),
        "max_share": share,
        "min_contacts": MIN_CONTACTS,
        "free": free,
        "free_columns": zero,
    }
    note = {
        "pitch_gate_sessions": len(outs),
        "pitch_gate_max_share": share,
        "pitch_gate_mean_share": float(np.mean([o.mean() for o in outs])) if outs else None,
    }
    return gate, note


def gated_accuracy(fitted: dict[str, Any], rows: Sequence[dict[str, Any]]) -> tuple[float | None, float]:
    """Watch-alone direction accuracy (``unknown`` counts wrong) over the matched rows, with the
    detector's own :class:`~coach.signal.strokes.pitch_gate.PitchRange` run over each session's contacts
    in order (every row counts toward the share; the detector skips vetoed contacts), and the share of
    matched rows the pitch-free network judged."""
    from coach.signal.strokes.direction import (
        MIN_DIRECTION_PROB,
        direction_model_from_dict,
        treated_direction_input,
    )
    from coach.signal.strokes.pitch_gate import PitchGate, PitchRange

    pitch = direction_model_from_dict(fitted["direction_treated"])
    gate = PitchGate.from_dict(fitted["direction_pitch_gate"])
    ranges: dict[str, PitchRange] = {}
    ok = gated = n = 0
    for r in rows:
        state = ranges.setdefault(r["key"], PitchRange(gate))
        x = treated_direction_input(
            np.asarray(r["treated"], dtype=np.float64),
            np.asarray(r["treated_shape"], dtype=np.float64),
            pitch.n_inputs,
        )
        p = state.p_distal(pitch, x, learn=True)
        if not r["matched"]:
            continue
        n += 1
        gated += state.gated
        ok += bool(p >= MIN_DIRECTION_PROB if r["distal"] else p <= 1.0 - MIN_DIRECTION_PROB)
    return (ok / n if n else None), (gated / n if n else 0.0)
