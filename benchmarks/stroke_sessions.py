"""Session keys of the stroke trainer (benchmarks/stroke_training.py): which sessions, where their
labelled traces are, and what in them must not count as a stroke.

Keys: ``3000`` and ``nostroke3200`` (today's physics, benchmarks/corpus.py); ``fam:<corpus>:<seed>``
(the variant families, benchmarks/family_corpus.py); ``real:<dir>/<name>`` (labelled real recordings in
benchmarks/data).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any, Final

from benchmarks.corpus import ensure_session, parse_seeds

REPO = Path(__file__).resolve().parents[1]


def parse_keys(text: str) -> list[str]:
    """Session keys, comma-separated: ``3000-3159`` and ``nostroke3200-3239`` ranges (today's physics);
    ``fam:<corpus>:<a>-<b>`` sessions of a variant-family corpus (``fam:mix:41000-41099``,
    ``fam:mix-no-contact:41000-41099``, ``fam:massage_free:36000-36039``; benchmarks/family_corpus.py;
    ``fam:regions@treated+hand:31000-31019``: with that sensor set instead of the scenario's own draw);
    ``real:<dir>`` every labelled trace in ``benchmarks/data/<dir>`` (``real:spsw_har/train``)."""
    out: list[str] = []
    for part in text.split(","):
        if part.startswith("fam:"):
            _, corpus, seeds = part.split(":")
            out.extend(f"fam:{corpus}:{s}" for s in parse_seeds(seeds))
            continue
        if part.startswith("real:"):
            folder = REPO / "benchmarks" / "data" / part[5:]
            found = sorted(folder.glob("*.csv.gz"))
            if not found:
                raise SystemExit(f"no traces in {folder} (from {part!r})")
            out.extend(f"real:{part[5:]}/{p.name.removesuffix('.csv.gz')}" for p in found)
            continue
        head = part.split("-")[0].rstrip("0123456789")
        body = part[len(head) :]
        out.extend(f"{head}{s}" for s in parse_seeds(body))
    return out


def _session(key: str) -> tuple[int, str]:
    """``"3000"`` → (3000, ""); ``"nostroke3200"`` → (3200, "nostroke"); ``"fam:mix:41000"`` → (41000,
    "fam:mix"); ``"real:spsw_har/train/s01"`` → (a number from the name, the key)."""
    if key.startswith("real:"):
        return int.from_bytes(key.encode()[-4:], "little") % 100000, key
    head = key.rstrip("0123456789")
    return int(key[len(head) :]), head.rstrip(":")


def _spec(corpus: str, seed: int) -> Any:
    from benchmarks.family_corpus import SessionSpec
    from simulators.families import SENSOR_SETS

    corpus, _, sensors = corpus.partition("@")
    roles = SENSOR_SETS[sensors] if sensors else None
    family, _, excl = corpus.partition("-no-")
    return SessionSpec(seed, family, roles, tuple(e for e in excl.split("-") if e) if family == "mix" else ())


def session_trace(key: str) -> Path:
    """The labelled trace of a session key (simulated once and cached; see :func:`parse_keys`)."""
    seed, variant = _session(key)
    if variant.startswith("fam:"):
        from benchmarks.family_corpus import ensure_trace

        return ensure_trace(_spec(variant[4:], seed))
    if variant.startswith("real:"):
        return REPO / "benchmarks" / "data" / (key[5:] + ".csv.gz")
    return ensure_session(seed, variant=variant)


def _cache_name(key: str) -> str:
    """A file name for a key's cached evidence; family sessions carry the simulator's digest."""
    safe = key.replace(":", "_").replace("/", "_")
    if key.startswith("fam:"):
        from benchmarks.family_corpus import physics_digest

        safe += "_" + physics_digest()
    return safe


def _negative_intervals(labels: dict[str, Any]) -> list[tuple[float, float]]:
    """Fidgets and ordinary movement (families, real recordings): contacts there must not count."""
    out = [(float(f["t_start"]), float(f["t_end"])) for f in labels.get("fidgets", [])]
    out += [(float(m["t_start"]), float(m["t_end"])) for m in labels.get("movements", [])]
    return out


#: Between two true strokes at most this far apart the helper's hand is on its way back (the return).
RETURN_MAX_GAP_S: Final = 3.0


def return_intervals(
    labels: dict[str, Any], max_gap_s: float = RETURN_MAX_GAP_S
) -> list[tuple[float, float]]:
    """The returns between strokes, which must not count either (docs/strokes.md, sixth session): the
    labelled returns in light contact (``returns``, the ``helper`` family) and every gap shorter than
    ``max_gap_s`` between the end of one true stroke and the start of the next (the hand travelling back
    in the air, where the helper's wrist moves as in a glide)."""
    out = [(float(r["t_start"]), float(r["t_end"])) for r in labels.get("returns", [])]
    ends = sorted((float(s["t_start"]), float(s["t_end"])) for s in labels.get("strokes", []))
    out += [(e0, s1) for (_, e0), (s1, _) in pairwise(ends) if 0.0 < s1 - e0 < max_gap_s]
    return out
