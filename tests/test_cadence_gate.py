"""The cadence confidence gate: the summary abstains and the live cadence brings no slower/faster cue
when the found strokes keep no rhythm (coach.signal.cadence.cadence_trusted, live_cadence_trusted)."""

from __future__ import annotations

import numpy as np

from coach.events import Event
from coach.pipeline.coaching import Coaching
from coach.pipeline.commands import Targets
from coach.signal.cadence import (
    LIVE_WINDOW_S,
    TRUST_MIN_SHARE,
    cadence_trusted,
    estimate_mean_cadence,
    live_cadence_trusted,
)
from coach.signal.posture import PostureFrame, Thresholds
from coach.signal.strokes.api import Stroke
from coach.summary import SummaryBuilder, calibration_summary


def _steady(t0_s: float, period_s: float, n: int) -> list[float]:
    return [t0_s + period_s * i for i in range(n)]


def _ragged(n: int, seed: int = 1) -> list[float]:
    """Found starts that keep no rhythm: gaps of 2.2, 4.5 and 7 s shuffled (strokes missed and split all
    along; under the 10 s bout gap): whichever is the period, the others are no whole number of it."""
    rng = np.random.default_rng(seed)
    gaps = rng.permutation(np.resize([2.2, 4.5, 7.0], n - 1))
    return [10.0, *(10.0 + np.cumsum(gaps)).tolist()]


def test_a_steady_rhythm_is_trusted_even_with_a_missed_stroke() -> None:
    made = _steady(10.0, 3.0, 20)
    est = estimate_mean_cadence(made[:7] + made[8:])
    assert est.rhythm_gaps == 18 and est.one_period_gaps == 17
    assert cadence_trusted(est)


def test_found_strokes_without_a_rhythm_are_not_trusted() -> None:
    est = estimate_mean_cadence(_ragged(40))
    assert est.spm is not None  # the estimate has a number ...
    assert est.one_period_gaps < TRUST_MIN_SHARE * est.rhythm_gaps
    assert not cadence_trusted(est)  # ... but nothing to stand on


def test_too_few_gaps_in_a_rhythm_are_not_trusted() -> None:
    # Bouts of two strokes each have a definition cadence but no rhythm the estimate can check.
    starts = [0.0, 3.0, 20.0, 23.0, 40.0, 43.0]
    est = estimate_mean_cadence(starts)
    assert est.spm is not None and est.rhythm_gaps == 0
    assert not cadence_trusted(est)
    assert not cadence_trusted(estimate_mean_cadence([]))


def _summary(starts: list[float]) -> dict[str, object]:
    b = SummaryBuilder(dt_s=0.1)
    for t in starts:
        b.add_stroke(t, "proximal")
    event = b.event(200.0, 200.0, None, calibration_summary("meta", None, None, ["finger_strokes"]))
    return dict(event)


def test_the_summary_abstains_and_names_cadence_in_checks_off() -> None:
    off = _summary(_ragged(40))
    assert off["mean_cadence_spm"] is None
    cal = off["calibration"]
    assert isinstance(cal, dict) and cal["checks_off"] == ["cadence", "finger_strokes"]
    on = _summary(_steady(10.0, 3.0, 40))
    assert on["mean_cadence_spm"] == 20.0
    cal = on["calibration"]
    assert isinstance(cal, dict) and cal["checks_off"] == ["finger_strokes"]


def test_live_trust_reads_the_window_only() -> None:
    steady = _steady(0.0, 2.0, 30)  # 0 … 58 s
    assert live_cadence_trusted(steady, 58.0)
    assert not live_cadence_trusted(steady[:3], 4.0)  # two gaps: too few to call a rhythm
    ragged = [t + 60.0 for t in _ragged(16)]
    mixed = steady + ragged
    assert not live_cadence_trusted(mixed, ragged[-1])
    # Once the window has moved past the ragged part, a steady rhythm is trusted again.
    later = _steady(ragged[-1] + 2.0, 2.0, int(LIVE_WINDOW_S / 2.0) + 2)
    assert live_cadence_trusted(mixed + later, later[-1])


def _coach(starts: list[float], span_s: float) -> list[Event]:
    """Strokes at ``starts`` through the coaching with a 30–40 spm range; its events over ``span_s``."""
    targets = Targets(Thresholds(), 30.0, 40.0, None)
    coaching = Coaching(targets, SummaryBuilder(dt_s=0.1), 0.1, 10.0, True, 1.0, 10.0)
    pending: list[Event] = []
    t = np.arange(0.0, span_s, 0.1)
    ones = np.ones(t.shape[0], dtype=bool)
    nan = np.full(t.shape[0], np.nan)
    frame = PostureFrame(t, ones, ones, nan, nan, nan, nan, ones, ones)
    strokes = [Stroke(s, s + 0.8, "proximal", 0.9, "treated", s + 1.2) for s in starts]
    coaching.strokes(strokes, ones, t, pending)
    coaching.span(t, frame, ones, pending)
    return pending


def test_no_cadence_cue_stands_on_an_untrusted_live_cadence() -> None:
    # A steady 20 spm (below the 30–40 range): trusted, and the person hears "faster".
    steady = _coach(_steady(1.0, 3.0, 25), 80.0)
    cadence = [e for e in steady if e["type"] == "cadence"]
    assert cadence and all(e["trusted"] for e in cadence[3:] if e["type"] == "cadence")
    assert [e for e in steady if e["type"] == "cue" and e["code"] == "faster"]
    # Found strokes without a rhythm (about 13 spm, as far below the range): said, not trusted, no cue.
    ragged = _coach(_ragged(25), 120.0)
    cadence = [e for e in ragged if e["type"] == "cadence"]
    assert cadence and not any(e["trusted"] for e in cadence if e["type"] == "cadence")
    assert not [e for e in ragged if e["type"] == "cue" and e["code"] in ("faster", "slower")]


def test_the_benchmark_reports_abstentions_beside_the_error() -> None:
    from benchmarks.scoring import Score, TrueStroke, Truth, score_session
    from benchmarks.scoring_families import cadence_coverage, live_cadence_trusted_mae_spm, live_trusted_share

    true = tuple(TrueStroke(a, a + 1.0, "proximal") for a in _steady(0.0, 3.0, 20))  # 20 spm
    truth = Truth(true, None, 0.0, 100.0)
    given = score_session(
        [
            {"type": "cadence", "t": 10.2, "id": "c1", "strokes_per_min": 21.0, "trusted": True},
            {"type": "cadence", "t": 13.2, "id": "c2", "strokes_per_min": 30.0, "trusted": False},
            {"type": "summary", "t": 70.0, "id": "s", "mean_cadence_spm": 19.0},
        ],
        truth,
    )
    abstained = score_session([{"type": "summary", "t": 70.0, "id": "s", "mean_cadence_spm": None}], truth)
    pooled = Score.pooled([given, abstained])
    assert pooled.cadence_abs_err_spm == [1.0]  # the error is over the session that gave a cadence ...
    assert cadence_coverage(pooled) == 0.5  # ... and the one that abstained is counted beside it
    assert live_trusted_share(pooled) == 0.5
    assert live_cadence_trusted_mae_spm(pooled) == 1.0  # 21 against the 20 spm of the strokes ended by 10.2


def test_the_tuning_rule_keeps_baseline_covered_and_families_under_one_spm() -> None:
    from benchmarks.cadence_gate import choose, grid

    rows = [{"family": "baseline", "err": 0.1, "share": 0.95, "gaps": 40} for _ in range(9)]
    rows.append({"family": "baseline", "err": 6.0, "share": 0.62, "gaps": 30})  # a bad baseline session
    rows += [{"family": "regions", "err": 0.5, "share": 0.9, "gaps": 30}]
    rows += [{"family": "regions", "err": 4.0, "share": 0.72, "gaps": 30} for _ in range(3)]
    share, gaps = choose(grid(rows))
    # Abstaining on the rhythmless sessions (share < 0.75) brings both families under 1 spm while
    # baseline keeps 90 % coverage; a stricter gate would cover less.
    assert (share, gaps) == (0.75, 4)
