"""The direction evidence of a replay's committed contacts, timed in two source trees side by side.

    python -m benchmarks.direction_evidence_speed TRACE OTHER_TREE [--rounds 5]

Replays ``TRACE`` once with this checkout's detector, keeping the ring windows each committed contact
reads (two seconds before its start to one after its end, per role), then runs ``treated_evidence``,
``treated_shape_evidence``, the stroker's glide, ``stroker_evidence`` (teaching the glide axis as the
detector does) and ``stroker_shape_evidence``, and the hand's ``treated_evidence`` on those windows
with ``coach/signal/strokes/direction.py`` of this checkout and of ``OTHER_TREE`` (for instance
``git archive BASE coach calibration`` unpacked), in turn, ``--rounds`` times each. Prints whether both
gave the same numbers bit for bit, and the CPU time of each round (``time.process_time``): a
comparison that a loaded machine disturbs less than whole processes (docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from coach.cli import main as coach_main
from coach.samples import FloatArray
from coach.signal.strokes import detector as det
from coach.signal.strokes.direction import SampleRing

REPO = Path(__file__).resolve().parents[1]
Window = tuple[FloatArray, dict[str, FloatArray]] | None
Contact = tuple[float, float, Window, Window, Window]


def capture(trace: Path) -> list[Contact]:
    """Each committed contact's (start, end) and its treated, stroker and hand ring windows."""
    contacts: list[Contact] = []
    original = det.StrokeDetector._stroke

    def cut(ring: SampleRing | None, t_a: float, t_b: float) -> Window:
        if ring is None:
            return None
        i, j = ring.t_s.searchsorted((t_a - 2.0, t_b + 1.0)).tolist()
        return ring.t_s[i:j].copy(), {k: v[i:j].copy() for k, v in ring.cols.items()}

    def stroke(self: det.StrokeDetector, seg: Any) -> Any:
        t_a, t_b = self._frame_t(seg.a), self._frame_t(seg.b)
        contacts.append(
            (t_a, t_b, cut(self._ring_t, t_a, t_b), cut(self._ring_s, t_a, t_b), cut(self._ring_h, t_a, t_b))
        )
        return original(self, seg)

    det.StrokeDetector._stroke = stroke  # type: ignore[method-assign]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coach_main(["replay", str(trace)])
    finally:
        det.StrokeDetector._stroke = original  # type: ignore[method-assign]
    return contacts


def load(tree: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        name, tree / "coach" / "signal" / "strokes" / "direction.py"
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"{tree}: no coach/signal/strokes/direction.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def evidence(m: ModuleType, contacts: list[Contact]) -> list[FloatArray]:
    """Every number the detector's direction evidence computes for these contacts."""

    def ring(w: Window) -> Any:
        if w is None:
            return None
        r = m.SampleRing()
        r.push(w[0], w[1])
        return r

    out: list[FloatArray] = []
    axis = m.GlideAxis()
    for t_a, t_b, wt, ws, wh in contacts:
        rt, rs, rh = ring(wt), ring(ws), ring(wh)
        out += [m.treated_evidence(rt, t_a, t_b), m.treated_shape_evidence(rt, t_a, t_b)]
        if rs is not None:
            g = m.stroker_glide(rs, rt, t_a, t_b)
            if g is not None:
                out += [m.stroker_evidence(g[0], g[1], axis), g[0], np.array([g[1]])]
                axis.learn(g[0], g[1])
            out.append(m.stroker_shape_evidence(rs, rt, t_a, t_b, axis))
        if rh is not None:
            out.append(m.treated_evidence(rh, t_a, t_b))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("other_tree", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    contacts = capture(args.trace)
    trees = {"this checkout": REPO, str(args.other_tree): args.other_tree}
    mods = {label: load(tree, f"_direction_{k}") for k, (label, tree) in enumerate(trees.items())}
    outs = [evidence(m, contacts) for m in mods.values()]
    same = len(outs[0]) == len(outs[1]) and all(
        a.tobytes() == b.tobytes() for a, b in zip(*outs, strict=True)
    )
    print(f"{len(contacts)} contacts, {len(outs[0])} arrays; the same numbers in both trees: {same}")
    times: dict[str, list[float]] = {label: [] for label in mods}
    for _ in range(args.rounds):
        for label, m in mods.items():
            start = time.process_time()
            evidence(m, contacts)
            times[label].append(time.process_time() - start)
    for label, ts in times.items():
        print(f"{label}: CPU s per round {' '.join(f'{t:.3f}' for t in ts)}; min {min(ts):.3f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
