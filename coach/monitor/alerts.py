"""Alert rules for therapists: pure functions over what the monitor stored.

- ``hand_low``: the hand has been below the elevation margin for more than ``hand_low_s`` in a session
  that is still running;
- ``distal_strokes``: at least ``distal_min`` of the last ``distal_window`` strokes went toward the
  fingertips;
- ``sensor_lost``: a sensor's link is down while a session runs; ``coach_offline``: the coach's last will
  arrived in the middle of a session;
- ``screening_blocked``: the screening questions stopped the session (docs/design.md §1);
- ``missed_sessions``: a patient who did sessions in the last ``missed_active_days`` stayed below the
  prescribed sessions per day on each of the last ``missed_days`` full days;
- ``swelling_not_improving``: over the last ``swelling_window_days``, at least ``swelling_min_reports``
  swelling ratings on as many different days, whose trend does not fall and whose latest is at least
  ``swelling_min_level``: the patient should see a hand specialist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

RUNNING_STATES: Final = ("screening", "calibrating", "active", "paused")


@dataclass(frozen=True, slots=True)
class AlertConfig:
    hand_low_s: float = 30.0
    distal_window: int = 5
    distal_min: int = 3
    swelling_window_days: float = 7.0
    swelling_min_reports: int = 3
    swelling_min_level: float = 3.0
    missed_days: int = 2
    missed_active_days: int = 14


def alert(code: str, message: str, level: str = "warning", **extra: Any) -> dict[str, Any]:
    return {"code": code, "level": level, "message": message, **extra}


def session_alerts(
    cfg: AlertConfig,
    *,
    state: str | None,
    state_reason: str | None,
    low_for_s: float | None,
    last_strokes: Sequence[str],
    status: dict[str, Any] | None,
    screening_blocked: bool,
) -> list[dict[str, Any]]:
    """Alerts about one session from its latest state, posture run, strokes and the coach's status."""
    out: list[dict[str, Any]] = []
    running = state in RUNNING_STATES
    if screening_blocked:
        out.append(
            alert(
                "screening_blocked",
                "Screening blocked the session: the patient answered yes to a contraindication question.",
                "danger",
            )
        )
    if running and low_for_s is not None and low_for_s > cfg.hand_low_s:
        out.append(alert("hand_low", f"Hand low for {low_for_s:.0f} s.", low_for_s=round(low_for_s, 1)))
    recent = list(last_strokes[: cfg.distal_window])
    distal = sum(1 for d in recent if d == "distal")
    if distal >= cfg.distal_min:
        out.append(
            alert("distal_strokes", f"{distal} of the last {len(recent)} strokes went toward the fingertips.")
        )
    if status is not None and running:
        if status.get("state") == "offline":
            out.append(alert("coach_offline", "The coach went offline during the session.", "danger"))
        for role, info in sorted((status.get("sensors") or {}).items()):
            if isinstance(info, dict) and info.get("link") == "down":
                out.append(alert("sensor_lost", f"Sensor '{role}' lost.", "danger", role=role))
    return out


def swelling_alert(
    cfg: AlertConfig, reports: Sequence[tuple[float, float]], now_unix_s: float
) -> dict[str, Any] | None:
    """``reports``: (unix time, swelling 0–10). The alert when swelling does not improve over days."""
    window = [(t, s) for t, s in reports if now_unix_s - t <= cfg.swelling_window_days * 86400.0]
    days = {int(t // 86400) for t, _ in window}
    if len(window) < cfg.swelling_min_reports or len(days) < cfg.swelling_min_reports:
        return None
    window.sort()
    ts = [(t - window[0][0]) / 86400.0 for t, _ in window]
    ss = [s for _, s in window]
    mean_t, mean_s = sum(ts) / len(ts), sum(ss) / len(ss)
    var_t = sum((t - mean_t) ** 2 for t in ts)
    slope_per_day = sum((t - mean_t) * (s - mean_s) for t, s in zip(ts, ss, strict=True)) / var_t
    if slope_per_day < 0 or ss[-1] < cfg.swelling_min_level:
        return None
    return alert(
        "swelling_not_improving",
        f"Swelling has not improved over {len(days)} days (latest {ss[-1]:g}/10): "
        "consider a review by a hand specialist.",
        "danger",
        slope_per_day=round(slope_per_day, 3),
    )


def missed_sessions_alert(
    cfg: AlertConfig, completed_per_day: Sequence[int], dose: int
) -> dict[str, Any] | None:
    """``completed_per_day``: completed sessions on each of the last full days, oldest first, covering
    ``missed_active_days``. The alert when the last ``missed_days`` all fell short of ``dose`` in a
    patient who did sessions in that period (one who never started, or stopped long ago, is not
    flagged every day)."""
    recent = list(completed_per_day[-cfg.missed_days :])
    if len(recent) < cfg.missed_days or not any(completed_per_day) or any(n >= dose for n in recent):
        return None
    return alert(
        "missed_sessions",
        f"Below the prescribed {dose} session(s) a day on each of the last {cfg.missed_days} days "
        f"({', '.join(str(n) for n in recent)}).",
    )
