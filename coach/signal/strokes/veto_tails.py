"""The movement veto's envelope taken jointly (:class:`Tails`, docs/strokes.md "the movement veto,
fourth round"): how improbable a committed contact is as a true stroke on all the envelope's features at
once. Read by :class:`coach.signal.strokes.movement.MovementVeto`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coach.samples import FloatArray


@dataclass(frozen=True, slots=True)
class Tails:
    """The massage envelope taken jointly (docs/strokes.md, "fourth round"): how improbable a contact
    is as a true stroke on all the envelope's features at once. For each envelope feature, the values
    below which (``lo``) and above which (``hi``) the given shares (``levels``, e.g. 1 % down to
    0.05 %) of the training sessions' true strokes lie. A value in the outer ``levels[0]`` of a side
    scores ``log(levels[0] / p)``, ``p`` its tail share (interpolated in log share between the
    levels, at most the last level's): nats of improbability. The scores are summed over the
    features (as if they were independent), and the sum beyond ``free`` (what the tune sessions' true
    strokes reach, so chosen without looking at any movement) is taken off the log-odds, ``weight``
    per nat. A contact that is a little unusual on one feature loses nothing; one that lies in the
    outer tails of many at once (a still arm that is tapped, a walk) loses much, whatever movement
    the network was shown. Numpy's ``interp`` is enough here: the table is a few numbers per feature."""

    levels: FloatArray
    lo: FloatArray
    hi: FloatArray
    free: float
    weight: float
    #: At most this many nats per feature (fifth round): beyond the last level the tail is taken to go on
    #: falling as it does on average over the table (exponentially: as many nats per unit beyond it as
    #: the table's nats over its width). None: the last level's score (the fourth round's table).
    beyond: float | None = None

    def nats(self, v: FloatArray) -> float:
        """The summed tail scores of the envelope features' values ``v``."""
        logp = np.log(self.levels)
        top = float(logp[0])
        total = 0.0
        for j in range(v.shape[0]):
            x = float(v[j])
            lo, hi = self.lo[j], self.hi[j]
            if x < lo[0]:  # lo falls with the level: interp needs rising values
                total += top - float(np.interp(x, lo[::-1], logp[::-1]))
                if self.beyond is not None and x < lo[-1]:
                    total += self._further(float(lo[0] - lo[-1]), float(lo[-1]) - x, top - float(logp[-1]))
            elif x > hi[0]:
                total += top - float(np.interp(x, hi, logp))
                if self.beyond is not None and x > hi[-1]:
                    total += self._further(float(hi[-1] - hi[0]), x - float(hi[-1]), top - float(logp[-1]))
        return total

    def _further(self, width: float, past: float, last: float) -> float:
        """The nats beyond the last level's ``last``: ``past`` beyond it, the table ``width`` wide."""
        cap = max(0.0, (self.beyond or 0.0) - last)
        return cap if width <= 0.0 else min(cap, last * past / width)

    def loss(self, v: FloatArray) -> float:
        """The log-odds taken off for the envelope features' values ``v``."""
        return self.weight * max(0.0, self.nats(v) - self.free)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Tails:
        return Tails(
            np.asarray(d["levels"], dtype=np.float64),
            np.asarray(d["lo"], dtype=np.float64),
            np.asarray(d["hi"], dtype=np.float64),
            float(d["free"]),
            float(d["weight"]),
            None if d.get("beyond") is None else float(d["beyond"]),
        )


__all__ = ["Tails"]
