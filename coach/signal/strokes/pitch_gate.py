"""Watch-alone direction under contact physics the network never saw: a session-level pitch range gate.

The ``treated`` direction network reads the forearm's pitch over the contact (``lever_deg``,
``step_asym_deg`` and the elevation profiles). A press or a support it was not trained on (one that
pitches the forearm by where along it the hand presses) puts those inputs outside the range of its
training rows on most strokes of a session, and the network then extrapolates (docs/strokes.md, fifth and
sixth sessions). :class:`PitchRange` counts, over a session's kept contacts, the share whose pitch inputs
leave the pitch network's clip box (the 0.1–99.9 % range of its training rows); once
:attr:`PitchGate.min_contacts` are seen and that share exceeds :attr:`PitchGate.max_share` (fitted above
the share any training session reached), the direction comes from :attr:`PitchGate.free`, a network
fitted with the pitch inputs (and ``drag_dip``, which is built on the pitch dip) at zero: drag and
displacement evidence only. A session inside the range is judged as
without the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.signal.strokes.direction import DirectionModel, direction_model_from_dict

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PitchGate:
    """The trained gate (``direction_pitch_gate`` of a direction file)."""

    #: Positions of the pitch inputs in the ``treated`` direction input (evidence, then shape evidence).
    columns: IntArray
    #: The pitch network's clip box over those inputs: a contact is out of range beyond it.
    lo: FloatArray
    hi: FloatArray
    #: Above this share of out-of-range contacts in the session, the pitch-free network decides.
    max_share: float
    #: Contacts seen before the share is trusted.
    min_contacts: int
    #: P(distal) from the same input with :attr:`free_columns` at zero.
    free: DirectionModel
    #: The inputs the pitch-free network reads as zero: the pitch inputs and what is derived from the pitch
    #: (``drag_dip``, the displacement regressed on the pitch dip).
    free_columns: IntArray

    def out_of_range(self, x: FloatArray) -> bool:
        """Whether any pitch input of a direction input lies outside the training range."""
        p = x[self.columns]
        return bool(np.any(p < self.lo) or np.any(p > self.hi))

    def p_free(self, x: FloatArray) -> float:
        """P(distal) of the pitch-free network."""
        xf = np.array(x, dtype=np.float64)
        xf[self.free_columns] = 0.0
        return self.free.p(xf)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> PitchGate:
        return PitchGate(
            np.asarray(d["columns"], dtype=np.int64),
            np.asarray(d["lo"], dtype=np.float64),
            np.asarray(d["hi"], dtype=np.float64),
            float(d["max_share"]),
            int(d["min_contacts"]),
            direction_model_from_dict(d["free"]),
            np.asarray(d.get("free_columns", d["columns"]), dtype=np.int64),
        )


class PitchRange:
    """One session's count of contacts with pitch inputs out of range, and the choice of network."""

    __slots__ = ("gate", "outside", "seen")

    def __init__(self, gate: PitchGate | None) -> None:
        self.gate = gate
        self.seen = 0
        self.outside = 0

    @property
    def gated(self) -> bool:
        """Whether the session's pitch inputs are out of range often enough to judge without them."""
        g = self.gate
        return g is not None and self.seen >= g.min_contacts and self.outside > g.max_share * self.seen

    def p_distal(self, pitch: DirectionModel, x: FloatArray, *, learn: bool) -> float:
        """P(distal) of a contact's direction input ``x``: from ``pitch`` unless the session is gated.
        ``learn``: the contact counts toward the share first (a vetoed contact does not)."""
        g = self.gate
        if g is None:
            return pitch.p(x)
        if learn:
            self.seen += 1
            self.outside += g.out_of_range(x)
        return g.p_free(x) if self.gated else pitch.p(x)
