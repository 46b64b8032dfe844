"""The summary's cadence estimate (coach.signal.cadence.estimate_mean_cadence) against the §5 definition."""

from __future__ import annotations

import numpy as np
import pytest

from coach.signal.cadence import estimate_mean_cadence, mean_cadence_spm


def _steady(t0_s: float, period_s: float, n: int) -> list[float]:
    return [t0_s + period_s * i for i in range(n)]


def test_a_steady_bout_seen_fully_is_the_definition() -> None:
    starts = _steady(10.0, 3.0, 12)
    est = estimate_mean_cadence(starts)
    assert est.spm == pytest.approx(mean_cadence_spm(starts)) == pytest.approx(20.0)
    assert (est.strokes_counted, est.strokes_inferred, est.starts_merged) == (12, 0, 0)


def test_one_stroke_missed_in_a_steady_rhythm_is_counted_in() -> None:
    made = _steady(10.0, 3.0, 12)
    found = made[:5] + made[6:]  # the sensors missed the sixth stroke
    assert mean_cadence_spm(found) == pytest.approx(60.0 * 11 / 36.0)  # the definition on what was found
    est = estimate_mean_cadence(found)
    assert est.strokes_inferred == 1
    assert est.spm == pytest.approx(mean_cadence_spm(made))


def test_a_pause_of_two_periods_is_not_filled() -> None:
    # A steady patient who waits two periods mid-bout (a gap of 3 periods, 9 s < the 10 s bout gap):
    # the definition counts the pause as active time; the estimate must not invent two strokes.
    starts = _steady(10.0, 3.0, 8) + _steady(10.0 + 7 * 3.0 + 9.0, 3.0, 8)
    est = estimate_mean_cadence(starts)
    assert est.strokes_inferred == 0
    assert est.spm == pytest.approx(mean_cadence_spm(starts))


def test_many_misses_allow_longer_gaps() -> None:
    # Every other stroke of a 2 s rhythm missed, and one gap of 3 periods: a bout the sensors do not
    # see fully, so the 3-period gap is two missed strokes, not a pause.
    made = _steady(0.0, 2.0, 21)
    found = [made[i] for i in (0, 1, 2, 4, 5, 7, 8, 10, 13, 14, 16, 18, 19, 20)]
    est = estimate_mean_cadence(found)
    assert est.strokes_counted == 21
    assert est.spm == pytest.approx(mean_cadence_spm(made))


def test_a_split_stroke_is_counted_once_but_a_pressed_return_is_a_stroke() -> None:
    made = _steady(10.0, 3.0, 10)
    split = sorted([*made, made[4] + 0.4])
    assert estimate_mean_cadence(split).starts_merged == 1
    assert estimate_mean_cadence(split).spm == pytest.approx(mean_cadence_spm(made))
    dirs = ["proximal"] * len(split)
    dirs[5] = "distal"  # the second start goes the other way: the helper's pressed return
    est = estimate_mean_cadence(split, dirs)
    assert est.starts_merged == 0
    assert est.spm == pytest.approx(mean_cadence_spm(split))
    assert estimate_mean_cadence(split, ["proximal"] * len(split)).starts_merged == 1


def test_short_bouts_and_empty_input_keep_the_definition() -> None:
    assert estimate_mean_cadence([]).spm is None
    assert estimate_mean_cadence([5.0]).spm is None
    assert estimate_mean_cadence([5.0]).strokes_counted == 0
    assert estimate_mean_cadence([0.0, 7.0]).spm == pytest.approx(mean_cadence_spm([0.0, 7.0]))
    with pytest.raises(ValueError, match="one direction"):
        estimate_mean_cadence([0.0, 1.0], ["proximal"])


def test_irregular_true_rhythm_stays_near_the_definition() -> None:
    # A patient's own rhythm (lognormal periods, cv 0.12, as the simulator draws them) with bouts and
    # pauses: on the strokes made, the estimate stays within 0.5 spm of the definition.
    rng = np.random.default_rng(3)
    for _ in range(50):
        period = 60.0 / rng.uniform(8.0, 40.0)
        t, starts = 10.0, []
        for _ in range(int(rng.integers(2, 6))):
            for _ in range(int(rng.integers(5, 30))):
                starts.append(t)
                t += period * float(np.exp(rng.normal(0.0, 0.12)))
            t += float(rng.uniform(4.0, 30.0))
        d = mean_cadence_spm(starts)
        e = estimate_mean_cadence(starts).spm
        assert d is not None and e is not None
        assert abs(e - d) < 0.5


def test_the_summary_reports_the_estimate_and_what_it_counts() -> None:
    from coach.summary import SummaryBuilder, calibration_summary

    made = _steady(10.0, 3.0, 24)  # enough gaps for the cadence confidence gate (tests/test_cadence_gate.py)
    b = SummaryBuilder(dt_s=0.1)
    for i, t in enumerate(made):
        if i != 5:  # one stroke the sensors missed
            b.add_stroke(t, "proximal")
    event = b.event(90.0, 90.0, None, calibration_summary("meta", None, None, []))
    assert event["strokes_total"] == 23
    assert event["strokes_in_bouts_counted"] == 24
    assert event["mean_cadence_spm"] == pytest.approx(20.0)
