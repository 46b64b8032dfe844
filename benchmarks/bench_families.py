"""Stroke judgement across the physics variant families, real negatives and a left-out family.

    ./run bench families                               # report seeds, 40 sessions per corpus (~25 min CPU)
    ./run bench families -- --quick                    # 8 sessions per corpus (~5 min CPU)
    ./run bench families -- --exclude-family contact   # the left-out family beside the in-family figure
    ./run bench families -- --labelled DIR             # also score labelled recordings (trace + .labels.json)
    ./run bench families -- --split tune --count 40 --families sensors,contact --no-real --list-false
                                                       # every false stroke in ordinary movement, one by one

Corpora (benchmarks/family_corpus.py, seeds in docs/simulator.md): today's physics (``baseline``), each
family alone (``regions``, ``contact``, ``helper``, ``movement``, ``sensors``), the randomised ``mix`` of
families, and massage-free sessions;
the four sensor sets (treated; treated+hand; treated+stroker; all) are taken in turn over the seeds.
Each session is replayed through the real pipeline as ``coach replay --posture-hz 10`` does and scored
with docs/design.md §9 (:mod:`benchmarks.scoring`, :mod:`benchmarks.scoring_families`). Printed: per family,
per sensor set, per region (and region × sensor set), false strokes per kind of ordinary movement, the
real recordings without massage, the issue-9 targets, and the left-out family beside the in-family one.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import labels_path, load_truth, replay
from benchmarks.family_corpus import SessionSpec, draw_sessions, ensure_trace
from benchmarks.scoring import Score, score_session
from benchmarks.scoring_families import cadence_coverage, live_cadence_trusted_mae_spm, live_trusted_share
from simulators.families import SENSOR_SETS
from simulators.variants.strokes import REGIONS

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPORA: tuple[str, ...] = (
    "baseline",
    "regions",
    "contact",
    "helper",
    "movement",
    "sensors",
    "mix",
    "massage_free",
)
TARGETS: dict[str, tuple[float, bool]] = {  # value, higher is better (issue 9)
    "stroke F1 (regions the sensor set can see)": (0.95, True),
    "stroke F1, all regions": (math.inf, True),
    "direction, watch alone, forearm strokes": (0.95, True),
    "direction, with helper's sensor, all regions": (0.98, True),
    "false strokes / min, massage-free": (0.3, False),
    "false strokes / min, ordinary movement": (1.0, False),
    "cue precision": (0.95, True),
    "wrong-direction cues / 10 min correct massage": (math.inf, False),
    "cadence |error| (spm), sessions given a cadence": (1.0, False),
    "  cadence coverage: share of sessions given one (abstained: the rest)": (math.inf, True),
    "cadence |error|, regions the sensor set can see (spm)": (math.inf, False),
    "live cadence: share of events trusted (slower/faster cues only on those)": (math.inf, True),
    "live cadence |error|, trusted events (spm)": (math.inf, False),
    "live cadence |error|, all events (spm)": (math.inf, False),
    "wrist-neutral agreement through strap tugs": (0.95, True),
    "stroke latency p95 (s)": (0.5, False),
}

Result = tuple[str, str, Score, float]  # corpus, sensor set, score, CPU seconds


def _set_name(roles: tuple[str, ...]) -> str:
    for name, rs in SENSOR_SETS.items():
        if set(rs) == set(roles):
            return name
    return "+".join(roles)


#: ``--model``: a model file instead of the shipped one (set before the workers fork).
_MODEL_FILE: Path | None = None


#: ``--veto``: a movement-veto file, or ``"none"`` for no veto (None: the model's own, or the shipped one).
_VETO: str | None = None


#: ``--direction``: a direction-network file (``benchmarks.direction_training``) over the model's own.
_DIRECTION: Path | None = None


def _detector() -> Any:
    """The stroke detector factory of the run: the default (the shipped model and veto), or the
    ``--model`` file's parameters (with its own veto, if any: the shipped veto was fitted to the shipped
    networks' contacts), with ``--veto``'s veto instead when given."""
    if _MODEL_FILE is None and _VETO is None and _DIRECTION is None:
        return "default"
    from coach.signal.strokes import DetectorModel, StrokeDetector
    from coach.signal.strokes.movement import read_veto
    from coach.signal.strokes.trained import read_direction, read_model

    params = dict(read_model(_MODEL_FILE)[0])
    direction = read_direction(_DIRECTION) if _DIRECTION is not None else None
    if direction is not None:
        params.update(direction[0])
    elif _MODEL_FILE is None and (shipped := read_direction()) is not None:
        params.update(shipped[0])
    if _VETO == "none":
        params.pop("movement_veto", None)
    elif _VETO is not None:
        params["movement_veto"] = read_veto(_VETO)[0]
    elif _MODEL_FILE is None:
        params["movement_veto"] = read_veto()[0]
    model = DetectorModel.from_dict(params)
    return lambda ctx: StrokeDetector(ctx, model=model)


def _one(spec: SessionSpec) -> Result:
    t0 = time.process_time()
    trace = ensure_trace(spec)
    events = replay(trace, posture_hz=10.0, stroke_detector=_detector())
    score = score_session(events, load_truth(trace))
    roles = spec.roles if spec.roles is not None else tuple(spec.scenario().roles)
    return spec.family, _set_name(roles), score, time.process_time() - t0


def _labelled(path: Path) -> Result:
    t0 = time.process_time()
    events = replay(path, posture_hz=10.0, stroke_detector=_detector())
    score = score_session(events, load_truth(path))
    return path.parent.name, "treated", score, time.process_time() - t0


def _run(fn: Callable[[Any], Result], items: list[Any], jobs: int) -> list[Result]:
    if jobs <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with get_context("fork").Pool(jobs) as pool:
        return list(pool.imap(fn, items, chunksize=1))


def _f(x: float, nd: int = 3) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "-"
    return "inf" if math.isinf(x) else f"{x:.{nd}f}"


def _table(title: str, head: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print(
            "  "
            + "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )


STROKE_COLS: list[tuple[str, Callable[[Score], str]]] = [
    ("sess", lambda s: str(s.sessions)),
    ("strokes", lambda s: str(s.strokes_true)),
    ("F1", lambda s: _f(s.f1)),
    ("F1 seen", lambda s: _f(s.f1_seen)),
    ("prec", lambda s: _f(s.precision)),
    ("recall", lambda s: _f(s.recall)),
    ("dir", lambda s: _f(s.direction_accuracy)),
    ("distal rec", lambda s: _f(s.distal_recall)),
    ("cad err", lambda s: _f(s.cadence_mae_spm, 2)),
    ("cad cov", lambda s: _f(cadence_coverage(s), 2)),
    ("lat p95", lambda s: _f(s.stroke_latency_p95_s, 2)),
    ("free /min", lambda s: _f(s.massage_free_false_per_min, 2)),
    ("move /min", lambda s: _f(s.movement_false_per_min(), 2)),
    ("cue prec", lambda s: _f(s.cue_precision)),
    ("wrong cue/10min", lambda s: _f(s.wrong_cues_per_10min, 2)),
    ("wrist agr", lambda s: _f(s.wrist_agreement)),
    ("strap wrist", lambda s: _f(s.strap_wrist_agreement)),
]


def _stroke_rows(groups: dict[str, Score]) -> list[list[str]]:
    return [[k] + [fn(s) for _, fn in STROKE_COLS] for k, s in groups.items()]


def _target_values(results: list[Result]) -> dict[str, float]:
    massage = [r for r in results if r[0] != "massage_free"]
    pooled = Score.pooled(r[2] for r in massage)
    alone = Score.pooled(r[2] for r in massage if r[1] == "treated")
    withs = Score.pooled(r[2] for r in massage if "stroker" in r[1] or r[1] == "all")
    # Strokes without a region label (every family but ``regions``) are on the forearm up to the wrist.
    forearm_alone = alone.forearm_direction_accuracy
    everything = Score.pooled(r[2] for r in results)
    return {
        "stroke F1 (regions the sensor set can see)": pooled.f1_seen,
        "stroke F1, all regions": pooled.f1,
        "direction, watch alone, forearm strokes": forearm_alone,
        "direction, with helper's sensor, all regions": withs.direction_accuracy,
        "false strokes / min, massage-free": everything.massage_free_false_per_min,
        "false strokes / min, ordinary movement": everything.movement_false_per_min(),
        "cue precision": everything.cue_precision,
        "wrong-direction cues / 10 min correct massage": pooled.wrong_cues_per_10min,
        "cadence |error| (spm), sessions given a cadence": pooled.cadence_mae_spm,
        "  cadence coverage: share of sessions given one (abstained: the rest)": cadence_coverage(pooled),
        "cadence |error|, regions the sensor set can see (spm)": pooled.cadence_seen_mae_spm,
        "live cadence: share of events trusted (slower/faster cues only on those)": live_trusted_share(
            pooled
        ),
        "live cadence |error|, trusted events (spm)": live_cadence_trusted_mae_spm(pooled),
        "live cadence |error|, all events (spm)": pooled.live_cadence_mae_spm,
        "wrist-neutral agreement through strap tugs": everything.strap_wrist_agreement,
        "stroke latency p95 (s)": pooled.stroke_latency_p95_s,
    }


def print_targets(columns: dict[str, list[Result]]) -> None:
    values = {name: _target_values(res) for name, res in columns.items()}
    rows = []
    for key, (target, higher) in TARGETS.items():
        row = [key] + [_f(v[key]) for v in values.values()]
        row.append("(shown)" if math.isinf(target) else ("≥ " if higher else "≤ ") + f"{target:g}")
        rows.append(row)
    _table("issue-9 targets", ["figure", *columns, "target"], rows)


def print_report(results: list[Result], title: str) -> None:
    by_corpus: dict[str, Score] = defaultdict(Score)
    by_set: dict[str, Score] = defaultdict(Score)
    for corpus, sset, score, _ in results:
        by_corpus[corpus] = by_corpus[corpus] + score
        if corpus != "massage_free":
            by_set[sset] = by_set[sset] + score
    order = [c for c in CORPORA if c in by_corpus] + [c for c in by_corpus if c not in CORPORA]
    _table(
        f"{title}: per family",
        ["family", *[c for c, _ in STROKE_COLS]],
        _stroke_rows({c: by_corpus[c] for c in order}),
    )
    _table(
        f"{title}: per sensor set (families with massage)",
        ["sensor set", *[c for c, _ in STROKE_COLS]],
        _stroke_rows({k: by_set[k] for k in SENSOR_SETS if k in by_set}),
    )
    region_sets: dict[str, Score] = defaultdict(Score)
    for _, sset, score, _ in results:
        region_sets[sset] = region_sets[sset] + score
    total = Score.pooled(r[2] for r in results)
    if sum(total.region_true.values()):
        rows = []
        for reg in REGIONS:
            row = [
                reg,
                str(total.region_true[reg]),
                _f(total.region_recall(reg)),
                _f(total.region_direction_accuracy(reg)),
                _f(total.region_distal_recall(reg)),
                _f(total.region_named_share(reg)),
                _f(total.region_named_accuracy(reg)),
            ]
            row += [_f(region_sets[k].region_recall(reg)) for k in SENSOR_SETS]
            row += [_f(region_sets[k].region_direction_accuracy(reg)) for k in SENSOR_SETS]
            row += [_f(total.region_latency_p95_s(reg), 2)]
            row += [_f(region_sets[k].region_latency_p95_s(reg), 2) for k in SENSOR_SETS]
            rows.append(row)
        head = ["region", "strokes", "recall", "dir", "distal rec", "named", "named right"]
        head += [f"rec {k}" for k in SENSOR_SETS] + [f"dir {k}" for k in SENSOR_SETS]
        head += ["lat p95"] + [f"lat {k}" for k in SENSOR_SETS]
        _table(f"{title}: per region (regions family), and by sensor set", head, rows)
    print_latency_breakdown(results, title)
    kinds = sorted(total.movement_ms)
    if kinds:
        rows = [
            [
                k,
                _f(total.movement_ms[k] / 60000.0, 1),
                str(total.movement_false[k]),
                _f(total.movement_false_per_min(k), 2),
            ]
            for k in kinds
        ]
        rows.append(
            [
                "all",
                _f(sum(total.movement_ms.values()) / 60000.0, 1),
                str(sum(total.movement_false.values())),
                _f(total.movement_false_per_min(), 2),
            ]
        )
        _table(
            f"{title}: false strokes during ordinary movement, by kind",
            ["kind", "minutes", "false strokes", "per min"],
            rows,
        )


def print_latency_breakdown(results: list[Result], title: str) -> None:
    """Stroke latency per true region and sensor set, split into its two parts: the decision delay
    after the detected end (latency − end error) and how late the detected end is (end error)."""
    groups: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    for corpus, sset, score, _ in results:
        if corpus != "massage_free":
            for region, *timing in score.stroke_timing_s:
                groups[(region or "unlabelled", sset)].append((timing[0], timing[1], timing[2]))
    order = [*REGIONS, "unlabelled"]
    rows = []
    for reg in order:
        for sset in SENSOR_SETS:
            got = groups.get((reg, sset))
            if not got:
                continue
            lat, end, start = (np.array(c, dtype=np.float64) for c in zip(*got, strict=True))
            rows.append(
                [
                    reg,
                    sset,
                    str(lat.size),
                    _f(float(np.percentile(lat, 95.0, method="inverted_cdf")), 2),
                    _f(float(np.mean(lat > 0.5)), 3),
                    _f(float(np.median(lat - end)), 2),
                    _f(float(np.median(end)), 2),
                    _f(float(np.percentile(end, 90.0)), 2),
                    _f(float(np.median(start)), 2),
                ]
            )
    head = ["region", "sensor set", "matched", "lat p95", "> 0.5 s", "delay p50", "end late p50"]
    head += ["end late p90", "start late p50"]
    _table(f"{title}: stroke latency = delay after the detected end + how late that end is (s)", head, rows)


def print_false_in_movement(specs: list[SessionSpec], results: list[Result]) -> None:
    """Every false stroke during ordinary movement, one by one (``--list-false``): its session, sensor
    set, kind of movement, span and the direction it was called."""
    rows = [
        [spec.name, sset, kind, _f(a, 2), _f(b, 2), direction]
        for spec, (_, sset, score, _) in zip(specs, results, strict=True)
        for kind, a, b, direction in score.movement_false_at
    ]
    if rows:
        _table(
            "false strokes during ordinary movement, one by one",
            ["session", "sensor set", "kind", "t_start", "t_end", "direction"],
            rows,
        )
    else:
        print("\nno false strokes during ordinary movement")


def real_recordings(extra: list[Path], jobs: int) -> list[Result]:
    paths = sorted((DATA_DIR / "spsw_har").glob("*/*.csv.gz"))
    for d in extra:
        paths += sorted(p for p in d.rglob("*.csv*") if labels_path(p).exists())
    return _run(_labelled, paths, jobs)


def print_real(results: list[Result]) -> None:
    groups: dict[str, Score] = defaultdict(Score)
    for name, _, score, _ in results:
        groups[name] = groups[name] + score
    rows = []
    for name, s in groups.items():
        kinds = ", ".join(f"{k} {s.movement_false_per_min(k):.2f}" for k in sorted(s.movement_ms))
        distal = str(s.massage_free_distal)
        rows.append(
            [
                name,
                str(s.sessions),
                _f(s.massage_free_minutes, 1),
                str(s.massage_free_strokes),
                _f(s.massage_free_false_per_min, 2),
                distal,
                str(s.cues_direction),
                kinds,
            ]
        )
    _table(
        "real recordings without massage (SP-SW-HAR: train part and held-out report part)",
        [
            "part",
            "files",
            "minutes",
            "strokes",
            "per min",
            "of them distal",
            "elbow cues",
            "per min by activity",
        ],
        rows,
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="./run bench families --", description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="report", choices=("report", "tune"))
    ap.add_argument("--count", type=int, default=40, help="sessions per corpus (default 40)")
    ap.add_argument("--quick", action="store_true", help="8 sessions per corpus")
    ap.add_argument("--families", default=",".join(CORPORA), help="corpora to run (comma-separated)")
    ap.add_argument(
        "--exclude-family", default="", help="the family left out of training: shown beside the rest"
    )
    ap.add_argument("--labelled", action="append", default=[], type=Path, help="directory of labelled traces")
    ap.add_argument("--no-real", action="store_true", help="skip the real recordings")
    ap.add_argument("--model", type=Path, default=None, help="a model file instead of the shipped model.json")
    ap.add_argument(
        "--veto",
        default=None,
        help="a movement-veto file, or 'none' (default: the shipped one; with --model, the file's own)",
    )
    ap.add_argument(
        "--direction", type=Path, default=None, help="a direction-network file over the model's own"
    )
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument(
        "--list-false", action="store_true", help="list every false stroke during ordinary movement"
    )
    args = ap.parse_args(argv)
    count = 8 if args.quick else args.count
    global _MODEL_FILE, _VETO, _DIRECTION
    _MODEL_FILE, _VETO, _DIRECTION = args.model, args.veto, args.direction
    corpora = [c for c in args.families.split(",") if c]
    # With --model, what --veto/--direction do not name comes from that file, not from the shipped ones.
    own = "default" if args.model is None else "the --model file's own (not the shipped one)"
    print(
        f"settings: split {args.split}, {count} sessions per corpus, corpora {', '.join(corpora)}, "
        f"sensor sets in turn, replay as `coach replay --posture-hz 10`, "
        f"detector {'default' if args.model is None else args.model}, veto {args.veto or own}, "
        f"direction {args.direction or own}; "
        f"{args.jobs} jobs"
    )
    t_wall = time.perf_counter()
    excl = args.exclude_family or None
    specs = draw_sessions(args.split, corpora, exclude_family=excl, sensors="cycle", count=count)
    if excl:  # the mix of the in-family corpora leaves it out; the left-out family is reported alone
        specs += draw_sessions(args.split, excl, sensors="cycle", count=count)
    results = _run(_one, specs, args.jobs)
    cpu = sum(r[3] for r in results)
    print(
        f"{len(results)} sessions simulated (cached in benchmarks/out/families) and replayed: "
        f"{cpu:.0f} s CPU in the workers"
    )
    if args.exclude_family:
        left = [r for r in results if r[0] == args.exclude_family]
        rest = [r for r in results if r[0] != args.exclude_family]
        print_report(rest, "in-family")
        print_report(left, f"left-out family {args.exclude_family}")
        print_targets({"in-family": rest, f"left out: {args.exclude_family}": left})
    else:
        print_report(results, args.split)
        print_targets({c: [r for r in results if r[0] == c] for c in corpora} | {"all": results})
    if args.list_false:
        print_false_in_movement(specs, results)
    if not args.no_real:
        real = real_recordings(args.labelled, args.jobs)
        print_real(real)
        from benchmarks.bench_accuracy import real_false_positives

        others = real_false_positives()  # the project's other real recordings, where present
        if others:
            _table(
                "the project's other real recordings without massage (x-io, BROAD; unlabelled)",
                ["recording", "minutes", "strokes", "per min"],
                [[n, _f(m, 1), str(k), _f(r, 2)] for n, m, k, r in others],
            )
    print(
        f"\nwall time {time.perf_counter() - t_wall:.0f} s (machine shared; CPU figures above are steadier)"
    )
    return 0
