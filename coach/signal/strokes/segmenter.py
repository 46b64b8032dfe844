"""Stroke detection, stage 2b: choosing among the scored candidates (a semi-Markov dynamic programme).

See :mod:`coach.signal.strokes.segments` for the candidates and their log-odds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coach.samples import FloatArray
from coach.signal.strokes.segments import D_MAX, DURATIONS


@dataclass(frozen=True, slots=True)
class Segment:
    """A committed contact: frames ``[a, b)`` (absolute), its log-odds, and the frame at which the path
    committed it."""

    a: int
    b: int
    logit: float
    committed_at: int


class Segmenter:
    """Semi-Markov dynamic programme over frames with commitment one frame after a candidate's end.

    ``best[e]`` is the largest total log-odds of non-overlapping candidates inside ``[base, e)``; a
    candidate is committed when the best path to the current frame keeps it (it ends before the current
    frame). The path before a committed candidate is final: ``base`` moves to its end and the
    programme restarts there. A path candidate that could no longer be reported in time (more than
    ``max_late`` frames after its end) is dropped instead. One Python step per 0.1 s frame, except
    through frames without any candidate (a gap in the data), which :meth:`skip` crosses at once.
    """

    def __init__(self, max_late: int) -> None:
        self.max_late = max_late
        self.base = 0
        self.next_end = 0  # the next frame index e to evaluate
        # Python floats and lists, not arrays: the programme reads a few numbers a frame, where numpy's
        # cost per call and per scalar is most of the work (the same IEEE additions and comparisons).
        self._best: list[float] = [0.0]  # index e - base
        self._n = 1  # entries of _best in use (best[base] = 0)
        self._last: list[tuple[int, int, float] | None] = [None]
        #: end frame → the durations (frames, increasing) of its positive candidates and their log-odds
        self._rows: dict[int, tuple[list[int], list[float]]] = {}

    def start_at(self, frame: int) -> None:
        self.base = self.next_end = frame
        self._n, self._last, self._rows = 1, [None], {}
        self._best[0] = 0.0

    def step(self, e: int, row: FloatArray) -> list[Segment]:
        """Evaluate the candidates ending at frame ``e`` (``e == next_end``); return commitments."""
        if e != self.next_end:
            raise ValueError(f"frame {e} out of order (expected {self.next_end})")
        self.next_end = e + 1
        if e == self.base:
            return []
        positive = np.flatnonzero(row > 0.0)
        if positive.shape[0]:
            self._rows[e] = (DURATIONS[positive].tolist(), row[positive].tolist())
        self._extend(e)
        out = self._commit(e)
        if self._best[e - self.base] == 0.0 and e - self.base > 2 * D_MAX:
            # The best path is empty, so every best value is 0: forget all but the last D_MAX frames.
            keep_from = e - D_MAX
            self._best[: D_MAX + 1] = [0.0] * (D_MAX + 1)
            self._last = [None] * (D_MAX + 1)
            self._n = D_MAX + 1
            self.base = keep_from
            self._rows = {k: v for k, v in self._rows.items() if k > keep_from}
        return out

    def skip(self, stop: int) -> list[Segment]:
        """Evaluate frames ``next_end`` … ``stop − 1``, none of which ends a candidate with positive
        log-odds: exactly what :meth:`step` would do with such rows, but in constant time once nothing
        is pending (a long gap costs no Python loop over its frames)."""
        out: list[Segment] = []
        empty = np.full(DURATIONS.shape[0], -np.inf)
        while self.next_end < stop and not self._quiet():
            out += self.step(self.next_end, empty)
        if self.next_end >= stop:
            return out
        # Quiet: every best value is 0 and no path is pending. Stepping on would only restart the
        # programme D_MAX frames back each time a frame lies more than 2·D_MAX past the base.
        base, last = self.base, stop - 1
        first_reset = max(self.next_end, base + 2 * D_MAX + 1)
        if first_reset <= last:
            base = first_reset + (last - first_reset) // (D_MAX + 1) * (D_MAX + 1) - D_MAX
        n = last - base + 1
        self._best = [0.0] * n
        self._last = [None] * n
        self._n, self.base, self.next_end = n, base, stop
        self._rows = {k: v for k, v in self._rows.items() if k > base}
        return out

    @property
    def idle(self) -> bool:
        """Nothing pending after the last evaluated frame ``e``: the next step (``e + 1``) cannot commit
        anything, whatever its row (a candidate ending there is committed one frame later at the
        earliest, and the best path before it is empty)."""
        return self._quiet()

    def _quiet(self) -> bool:
        """Nothing pending: the best path to the last evaluated frame is empty."""
        return (
            self.next_end > self.base and self._last[self._n - 1] is None and self._best[self._n - 1] == 0.0
        )

    def _extend(self, e: int) -> None:
        i = e - self.base
        best_at = self._best
        best, last = best_at[i - 1], self._last[i - 1]
        got = self._rows.get(e)
        if got is not None:
            # the positive candidates that start at or after the base (durations increase); the first
            # largest total wins, as np.argmax would pick it
            top, top_d, top_z = -math.inf, 0, 0.0
            for d, z in zip(*got, strict=True):
                if d > i:
                    break
                total = best_at[i - d] + z
                if total > top:
                    top, top_d, top_z = total, d, z
            if top > best:
                best = top
                last = (e - top_d, e, top_z)
        if i < len(best_at):
            best_at[i] = best
        else:
            best_at.extend([0.0] * (i - len(best_at)))
            best_at.append(best)
        if i < len(self._last):
            self._last[i] = last
        else:
            self._last.append(last)
        self._n = i + 1

    def _commit(self, e: int) -> list[Segment]:
        chain: list[tuple[int, int, float]] = []
        seg = self._last[e - self.base]
        while seg is not None and seg[0] >= self.base:
            if seg[1] < e:
                chain.append(seg)
            seg = self._last[seg[0] - self.base]
        if not chain:
            return []
        out = [Segment(a, b, lg, e) for a, b, lg in reversed(chain) if e - b <= self.max_late]
        self._rebase(chain[0][1], e)
        return out

    def _rebase(self, new_base: int, e: int) -> None:
        """Restart the programme at ``new_base`` and recompute the frames up to ``e``."""
        self.base = new_base
        self._n, self._last = 1, [None]
        self._best[0] = 0.0
        self._rows = {k: v for k, v in self._rows.items() if k > new_base}
        for f in range(new_base + 1, e + 1):
            self._extend(f)
