"""The family corpus API (benchmarks/family_corpus.py), its seed ranges, and the real negatives."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from benchmarks.corpus import labels_path, load_truth
from benchmarks.family_corpus import FAMILY_NAMES, draw_sessions
from coach.trace import read_trace
from simulators.families import FAMILY_INDEX, SENSOR_SETS, mix_families, seed_range
from simulators.scenario import FAMILIES

REAL = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "spsw_har"


def test_seed_ranges_are_disjoint_and_keep_the_historic_ones() -> None:
    ranges = [(f, s, seed_range(f, s)) for f in FAMILY_INDEX for s in ("tune", "report", "train")]
    for (f1, s1, r1), (f2, s2, r2) in itertools.combinations(ranges, 2):
        assert not set(r1) & set(r2), (f1, s1, f2, s2)
    assert seed_range("baseline", "tune") == range(1000, 1040)
    assert seed_range("baseline", "report") == range(2000, 2040)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "simulator.md").read_text()
    for fam in FAMILY_INDEX:
        r = seed_range(fam, "report")
        assert f"{r.start}–{r.stop - 1}" in docs, fam


def test_leaving_a_family_out_removes_it_everywhere() -> None:
    specs = draw_sessions("train", ["mix", "contact", "regions"], exclude_family="contact", count=150)
    assert {s.family for s in specs} == {"mix", "regions"}
    mixed = [s for s in specs if s.family == "mix"]
    assert len(mixed) == 150
    assert all("contact" not in s.families for s in mixed)
    assert all("contact" not in s.scenario().variants for s in mixed[:20])
    # Without the exclusion the same seeds do draw it sometimes: the exclusion is what removed it.
    assert any("contact" in mix_families(s.seed) for s in mixed)


def test_sensor_sets_and_seed_choice() -> None:
    specs = draw_sessions("report", "helper", sensors="cycle", count=8)
    assert [s.roles for s in specs[:4]] == list(SENSOR_SETS.values())
    assert [s.seed for s in specs] == list(seed_range("helper", "report"))[:8]
    fixed = draw_sessions("tune", ["sensors"], sensors="treated+stroker", seeds=[7, 9])
    assert [(s.seed, s.roles) for s in fixed] == [(7, ("treated", "stroker")), (9, ("treated", "stroker"))]
    assert fixed[0].scenario().roles == ("treated", "stroker")
    assert set(FAMILY_NAMES) >= set(FAMILIES)
    with pytest.raises(ValueError, match="unknown families"):
        draw_sessions("report", "wobble")
    with pytest.raises(ValueError, match="unknown sensor set"):
        draw_sessions("report", "regions", sensors="wrist")


def test_massage_free_sessions_have_movement_and_no_strokes() -> None:
    spec = draw_sessions("report", "massage_free", count=1)[0]
    sc = spec.scenario()
    assert sc.strokes.enabled is False and "movement" in sc.variants


def test_real_negatives_are_traces_with_labels_and_a_held_out_part() -> None:
    parts = {p: sorted((REAL / p).glob("*.csv.gz")) for p in ("train", "report")}
    assert len(parts["train"]) >= 6 and len(parts["report"]) >= 5
    assert not {p.name for p in parts["train"]} & {p.name for p in parts["report"]}
    trace = parts["report"][0]
    tr = read_trace(trace)
    assert set(tr.blocks) == {"treated"} and len(tr.blocks["treated"]) > 5000
    labels = json.loads(labels_path(trace).read_text())
    assert labels["strokes"] == [] and labels["massage_free"] is True
    truth = load_truth(trace)
    assert truth.massage_free and truth.strokes == ()
    assert {k for k, _, _ in truth.movements} >= {"walk", "stand_up", "sit_down"}
    assert "CC BY 4.0" in (REAL / "README.md").read_text()


def test_sensor_ablation_changes_only_the_sensor_model() -> None:
    """benchmarks.sensor_ablation compares sensor models on the same sessions: the strokes, fidgets and
    body of a seed stay, only the device class and the ``sensors`` variant change."""
    from benchmarks.sensor_ablation import MODELS, scenario

    roles = ("treated", "hand")
    sc = {m: scenario(m, 15003, roles) for m in MODELS}
    for m in MODELS:
        assert sc[m].strokes == sc["family"].strokes
        assert sc[m].fidgets == sc["family"].fidgets
        assert sc[m].duration_s == sc["family"].duration_s
        assert tuple(sc[m].sensors) == roles
    classes = {m: {s.device_class for s in sc[m].sensors.values()} for m in MODELS}
    assert classes["family"] == classes["cheap"] == {"cheap"}
    assert classes["variant"] == {"good"}
    assert "sensors" in sc["family"].variants and "sensors" in sc["variant"].variants
    assert "sensors" not in sc["cheap"].variants and "sensors" not in sc["drawn"].variants
    with pytest.raises(ValueError, match="unknown sensor model"):
        scenario("perfect", 15003, roles)
