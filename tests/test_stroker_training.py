"""The stroker network's trainer refuses tune, report and left-out sessions (benchmarks.stroker_training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.stroke_sessions import parse_keys
from benchmarks.stroker_training import check_train_keys
from coach.signal.strokes.trained import read_model


def test_training_seeds_pass() -> None:
    check_train_keys(parse_keys("3000-3009,nostroke3200-3209,fam:helper@all:33000-33003,fam:mix:41000-41003"))


@pytest.mark.parametrize(
    "key",
    [
        "fam:helper@treated+stroker:13002",
        "fam:regions@all:21000",
        "1003",
        "2005",
        "fam:mix:40002",
        "fam:mix:45001",
    ],
)
def test_tune_and_report_seeds_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a training seed"):
        check_train_keys(parse_keys(key))


def test_left_out_family_refused() -> None:
    with pytest.raises(ValueError, match="left-out family"):
        check_train_keys(parse_keys("fam:helper@all:33000"), "helper")
    # 41001 mixes contact and helper (simulators.families.mix_families); 41000 is sensors alone
    with pytest.raises(ValueError, match="left-out family"):
        check_train_keys(parse_keys("fam:mix:41001"), "helper")
    check_train_keys(parse_keys("fam:mix:41000,fam:regions:31000"), "helper")


MODELS = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "models"


@pytest.mark.parametrize("path", [None, *sorted(MODELS.glob("stroker-*.json"))], ids=str)
def test_stroker_networks_trained_on_training_seeds(path: Path | None) -> None:
    """The shipped model's and the candidates' stroker networks name only training sessions (and none
    of their left-out family): a refit's own provenance, else (the shipped model as stroke_training
    wrote it) the whole model's."""
    _, provenance = read_model(path)
    refit = provenance.get("with_stroker") or provenance
    check_train_keys(parse_keys(refit["train_sessions"]), refit.get("left_out_family") or "")
    assert refit["train_sessions"] in refit["command"]


def test_return_intervals_are_the_labelled_returns_and_short_gaps_between_strokes() -> None:
    from benchmarks.stroke_sessions import return_intervals

    labels = {
        "strokes": [
            {"t_start": 10.0, "t_end": 11.5},
            {"t_start": 12.3, "t_end": 13.8},  # 0.8 s after the first: a return between them
            {"t_start": 30.0, "t_end": 31.0},  # 16 s later: a pause, not a return
        ],
        "returns": [{"t_start": 13.9, "t_end": 14.6}],
    }
    assert return_intervals(labels) == [(13.9, 14.6), (11.5, 12.3)]
    assert return_intervals(labels, max_gap_s=0.5) == [(13.9, 14.6)]
    assert return_intervals({"strokes": []}) == []
