"""Whole sessions of the physics variant families, drawn from a seed, and the project's seed ranges.

    from simulators.families import family_scenario, mix_scenario
    sc = family_scenario(21003, ("regions",), roles=("treated", "hand"))   # one family (report seed)
    sc = mix_scenario(40017, exclude=("movement",))                        # wide training mix, one left out

Seed ranges (docs/simulator.md, "Seeds"): today's physics keeps its tune 1000–1039, report 2000–2039
and training 3000+ seeds. Family ``k`` (see :data:`FAMILY_INDEX`) uses tune ``10000 + 1000·k + i``,
report ``20000 + 1000·k + i`` (i < 40) and training ``30000 + 1000·k + i`` (i < 1000); massage-free
sessions have their own block (index 6), and the randomised training mix uses 40000–49999.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulators.processes import rng_for
from simulators.scenario import FAMILIES, Scenario, random_scenario

#: Family -> index in the seed blocks. ``baseline`` is today's physics (random_scenario alone).
FAMILY_INDEX: dict[str, int] = {
    "baseline": 0,
    **{f: i + 1 for i, f in enumerate(FAMILIES)},
    "massage_free": 6,
}
SPLITS: tuple[str, ...] = ("tune", "report", "train")
#: Sensor sets of the benchmark tables.
SENSOR_SETS: dict[str, tuple[str, ...]] = {
    "treated": ("treated",),
    "treated+hand": ("treated", "hand"),
    "treated+stroker": ("treated", "stroker"),
    "all": ("treated", "hand", "stroker"),
}
MIX_SEEDS = range(40000, 50000)


def seed_range(family: str, split: str) -> range:
    """The documented seeds of one family and split (today's physics keeps its historic ranges)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    if family == "baseline":
        return {"tune": range(1000, 1040), "report": range(2000, 2040), "train": range(3000, 4000)}[split]
    if family not in FAMILY_INDEX:
        raise ValueError(f"unknown family {family!r} (known: {', '.join(FAMILY_INDEX)})")
    k = FAMILY_INDEX[family]
    base = {"tune": 10000, "report": 20000, "train": 30000}[split] + 1000 * k
    return range(base, base + (1000 if split == "train" else 40))


def family_of_seed(seed: int) -> tuple[str, str] | None:
    """(family, split) of a documented seed, or None."""
    for fam in FAMILY_INDEX:
        for split in SPLITS:
            if seed in seed_range(fam, split):
                return fam, split
    return None


def family_scenario(
    seed: int,
    families: Iterable[str],
    roles: Iterable[str] | None = None,
    massage_free: bool = False,
    **overrides: Any,
) -> Scenario:
    """``random_scenario(seed)`` with the named families on, and what each family needs of a session:

    - ``regions``: at least 4 minutes (a whole cycle of regions);
    - ``movement``: pauses of 10–45 s between bouts, where the movements happen;
    - ``sensors``: every device of the cheap (MPU-6050) class;
    - ``massage_free``: no strokes at all, with the ``movement`` family on.
    """
    fams = [f for f in families if f != "baseline"]
    if massage_free and "movement" not in fams:
        fams.append("movement")
    unknown = [f for f in fams if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown} (known: baseline, {', '.join(FAMILIES)})")
    base = random_scenario(seed)
    extra: dict[str, Any] = {"variants": fams}
    if "regions" in fams:
        extra["duration_s"] = max(base.duration_s, 240.0)
    if "movement" in fams:
        extra["strokes.pause_s"] = [10.0, 45.0]
    if "sensors" in fams:
        extra["device_class"] = "cheap"
    if massage_free:
        extra["strokes.enabled"] = False
    if roles is not None:
        extra["roles"] = tuple(roles)
    return base.replace(**{**extra, **overrides})


def mix_families(seed: int, exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """The families of one session of the wide training mix: each family on with probability 1/2 (at
    least one), then the excluded ones removed (so a left-out family never reaches training)."""
    rng = rng_for(seed, "family-mix")
    on = [f for f in FAMILIES if rng.random() < 0.5]
    if not on:
        on = [FAMILIES[int(rng.integers(0, len(FAMILIES)))]]
    return tuple(f for f in on if f not in set(exclude))


def mix_scenario(seed: int, exclude: Iterable[str] = (), roles: Iterable[str] | None = None) -> Scenario:
    """One session of the randomised family mix (seeds 40000–49999), 10 % of them massage-free."""
    ex = tuple(exclude)
    fams = mix_families(seed, ex)
    massage_free = bool(rng_for(seed, "family-mix", "free").random() < 0.1) and "movement" not in ex
    return family_scenario(seed, fams, roles=roles, massage_free=massage_free)
