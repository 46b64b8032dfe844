"""Corpora of the physics variant families for training and evaluation (docs/simulator.md, "Seeds").

    from benchmarks.family_corpus import draw_sessions, ensure_trace
    train = draw_sessions("train", "mix", exclude_family="contact", count=200)       # wide mix, one left out
    held = draw_sessions("report", "contact", sensors="treated+stroker")             # the left-out family
    tune = draw_sessions("tune", ["regions", "helper"], count=10)                    # 10 per family
    for spec in train:
        trace = ensure_trace(spec)        # simulated once, cached under benchmarks/out/families/
        labels = trace.with_name(trace.name.replace(".csv", ".labels.json"))

A :class:`SessionSpec` names everything that fixes a session (seed, families, sensor set, massage-free);
its scenario comes from :mod:`simulators.families` only (the simulator's public API), so the detector side
never sees simulator internals: it reads the trace, a scorer reads the labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simulators.families import (
    FAMILY_INDEX,
    MIX_SEEDS,
    SENSOR_SETS,
    mix_families,
    mix_scenario,
    seed_range,
)
from simulators.scenario import Scenario

OUT_DIR = Path(__file__).resolve().parent / "out" / "families"


def physics_digest() -> str:
    """A digest of the simulator's source: cached sessions of another physics are never reused."""
    import hashlib

    import simulators

    h = hashlib.sha256()
    for path in sorted(Path(simulators.__file__).parent.rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


#: Every name ``draw_sessions`` accepts as a family.
FAMILY_NAMES: tuple[str, ...] = (*FAMILY_INDEX, "mix")


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """One corpus session: ``family`` is its corpus (a family, ``massage_free`` or ``mix``)."""

    seed: int
    family: str
    roles: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()

    @property
    def families(self) -> tuple[str, ...]:
        """The physics families on in this session."""
        if self.family == "mix":
            return mix_families(self.seed, self.exclude)
        if self.family == "massage_free":
            return ("movement",)
        return () if self.family == "baseline" else (self.family,)

    @property
    def massage_free(self) -> bool:
        return self.family == "massage_free" or (
            self.family == "mix" and self.scenario().strokes.enabled is False
        )

    @property
    def name(self) -> str:
        roles = "x" if self.roles is None else "-".join(r[0] for r in self.roles)
        excl = "" if not self.exclude else "-no-" + "-".join(self.exclude)
        return f"{self.family}{excl}-s{self.seed}-{roles}"

    def scenario(self) -> Scenario:
        from simulators.families import family_scenario
        from simulators.scenario import random_scenario

        if self.family == "mix":
            return mix_scenario(self.seed, self.exclude, self.roles)
        if self.family == "baseline":
            return (
                random_scenario(self.seed)
                if self.roles is None
                else random_scenario(self.seed, roles=self.roles)
            )
        return family_scenario(
            self.seed,
            () if self.family == "massage_free" else (self.family,),
            roles=self.roles,
            massage_free=self.family == "massage_free",
        )


def _roles(sensors: str | Sequence[str] | None, i: int) -> tuple[str, ...] | None:
    if sensors is None:
        return None
    if sensors == "cycle":
        return tuple(list(SENSOR_SETS.values())[i % len(SENSOR_SETS)])
    if isinstance(sensors, str):
        if sensors not in SENSOR_SETS:
            raise ValueError(f"unknown sensor set {sensors!r} (known: {', '.join(SENSOR_SETS)}, cycle)")
        return SENSOR_SETS[sensors]
    roles = tuple(sensors)
    if "treated" not in roles:
        raise ValueError("a sensor set needs 'treated'")
    return roles


def draw_sessions(
    split: str,
    families: str | Sequence[str] = "all",
    *,
    exclude_family: str | Sequence[str] | None = None,
    sensors: str | Sequence[str] | None = None,
    seeds: Sequence[int] | range | None = None,
    count: int | None = None,
) -> list[SessionSpec]:
    """Sessions of a split (``tune``, ``report`` or ``train``) by family mix, sensor set and seed range.

    ``families``: one name, a list, or ``"all"`` (every family, ``massage_free`` and ``baseline``);
    ``"mix"`` draws the randomised mix (seeds 40000–49999; for training). ``exclude_family`` drops
    that family from the list and from every mix session. ``sensors``: a sensor set (``treated``,
    ``treated+hand``, ``treated+stroker``, ``all``), a tuple of roles, ``"cycle"`` (the four sets in
    turn) or None (the scenario's own draw). ``seeds`` replaces each family's documented range;
    ``count`` keeps the first ``count`` seeds of each.
    """
    excl = (exclude_family,) if isinstance(exclude_family, str) else tuple(exclude_family or ())
    names = (
        list(FAMILY_NAMES[:-1])
        if families == "all"
        else ([families] if isinstance(families, str) else list(families))
    )
    unknown = [f for f in [*names, *excl] if f not in FAMILY_NAMES]
    if unknown:
        raise ValueError(f"unknown families {unknown} (known: {', '.join(FAMILY_NAMES)})")
    out: list[SessionSpec] = []
    for fam in names:
        if fam in excl:
            continue
        if seeds is not None:
            rng_seeds: Sequence[int] = list(seeds)
        elif fam == "mix":
            base = {"tune": 40000, "report": 45000, "train": 41000}[split]
            rng_seeds = range(base, min(MIX_SEEDS.stop, base + (4000 if split == "train" else 40)))
        else:
            rng_seeds = seed_range(fam, split)
        chosen = list(rng_seeds)[: count if count is not None else None]
        for i, seed in enumerate(chosen):
            out.append(SessionSpec(seed, fam, _roles(sensors, i), excl if fam == "mix" else ()))
    return out


def trace_path(spec: SessionSpec, directory: Path | None = None) -> Path:
    """Where the session is cached: ``benchmarks/out/families/<physics digest>/<name>.csv``."""
    return (directory or OUT_DIR / physics_digest()) / f"{spec.name}.csv"


def ensure_trace(spec: SessionSpec, directory: Path | None = None) -> Path:
    """The session's trace (and labels beside it), simulated once and cached."""
    from benchmarks.corpus import labels_path
    from simulators import simulate

    path = trace_path(spec, directory)
    directory = path.parent
    if path.exists() and labels_path(path).exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.csv")
    session = simulate(spec.scenario(), seed=spec.seed)
    session.write(tmp, labels_path(path))
    tmp.replace(path)
    return path
