"""Alert rules (pure functions) and login throttling (on a SQLite file) of the monitor."""

from __future__ import annotations

from pathlib import Path

from coach.monitor.alerts import AlertConfig, missed_sessions_alert, session_alerts, swelling_alert
from coach.monitor.db import open_database
from coach.monitor.security import LoginLimiter
from coach.monitor.views import active_time_s

CFG = AlertConfig(hand_low_s=30.0)
DAY_S = 86400.0


def _codes(**kwargs: object) -> set[str]:
    base: dict[str, object] = {
        "state": "active",
        "state_reason": None,
        "low_for_s": None,
        "last_strokes": [],
        "status": None,
        "screening_blocked": False,
    }
    base.update(kwargs)
    return {a["code"] for a in session_alerts(CFG, **base)}  # type: ignore[arg-type]


def test_hand_low_only_after_the_limit_and_only_while_running() -> None:
    assert _codes(low_for_s=29.0) == set()
    assert _codes(low_for_s=31.0) == {"hand_low"}
    assert _codes(low_for_s=300.0, state="finished") == set()


def test_repeated_distal_strokes() -> None:
    assert _codes(last_strokes=["distal", "proximal", "distal", "proximal", "proximal"]) == set()
    assert _codes(last_strokes=["distal", "distal", "proximal", "distal", "proximal"]) == {"distal_strokes"}
    # Only the last five count.
    assert _codes(last_strokes=["proximal"] * 5 + ["distal"] * 5) == set()


def test_sensor_lost_and_coach_offline_during_a_session() -> None:
    status = {"state": "active", "sensors": {"treated": {"link": "up"}, "hand": {"link": "down"}}}
    assert _codes(status=status) == {"sensor_lost"}
    assert _codes(status=status, state="finished") == set()
    assert _codes(status={"state": "offline"}) == {"coach_offline"}


def test_screening_blocked_shows_even_after_the_session() -> None:
    assert _codes(screening_blocked=True, state="aborted") == {"screening_blocked"}


def test_swelling_that_does_not_improve_over_days_asks_for_a_specialist() -> None:
    now = 100 * DAY_S
    improving = [(now - d * DAY_S, 8.0 - (6 - d)) for d in range(6, 0, -1)]
    assert swelling_alert(CFG.__class__(), improving, now) is None
    flat = [(now - d * DAY_S, 6.0) for d in range(6, 0, -1)]
    alert = swelling_alert(AlertConfig(), flat, now)
    assert alert is not None and alert["code"] == "swelling_not_improving"
    worse = [(now - d * DAY_S, 4.0 + (6 - d) * 0.5) for d in range(6, 0, -1)]
    assert swelling_alert(AlertConfig(), worse, now) is not None
    low = [(now - d * DAY_S, 1.0) for d in range(6, 0, -1)]
    assert swelling_alert(AlertConfig(), low, now) is None  # mild and stable: no referral
    same_day = [(now - 3600.0 * k, 7.0) for k in range(5)]
    assert swelling_alert(AlertConfig(), same_day, now) is None  # needs ratings on several days
    old = [(now - (30 + d) * DAY_S, 7.0) for d in range(5)]
    assert swelling_alert(AlertConfig(), old, now) is None  # outside the window


def test_active_time_counts_only_active_spans() -> None:
    states = [
        (0.0, "screening"),
        (3.0, "calibrating"),
        (12.0, "active"),
        (100.0, "paused"),
        (130.0, "active"),
    ]
    assert active_time_s(states, 200.0) == (100.0 - 12.0) + (200.0 - 130.0)
    assert active_time_s(states, 50.0) == 38.0


async def test_login_limiter_locks_a_pair_with_backoff_and_sprays_per_address(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path}/monitor.sqlite3")
    limiter = LoginLimiter(per_pair=3, per_remote=10, window_s=600.0, backoff_s=10.0)

    async def fail(name: str, addr: str, at: float) -> None:
        attempt, wait = await limiter.begin(db, name, addr, now=at)
        assert attempt is not None and wait == 0.0
        await limiter.finish(db, attempt, ok=False, now=at)

    try:
        for k in range(3):
            await fail("bob", "10.0.0.1", float(k))
        attempt, wait = await limiter.begin(db, "Bob", "10.0.0.1", now=3.0)  # no case games
        assert attempt is None and 8.0 < wait <= 10.0
        # a stranger's failures lock only the stranger's pair: bob from his own address still gets in
        attempt, wait = await limiter.begin(db, "bob", "10.0.0.2", now=3.0)
        assert attempt is not None and wait == 0.0
        await limiter.finish(db, attempt, ok=True, username="bob", remote="10.0.0.2", now=3.0)
        await fail("bob", "10.0.0.1", 12.5)  # after the first lock: one more try, then a longer lock
        attempt, wait = await limiter.begin(db, "bob", "10.0.0.1", now=13.0)
        assert attempt is None and 19.0 < wait <= 20.0
        for k in range(10):  # a spray over many names from one address
            await fail(f"user{k}", "10.0.0.9", 100.0)
        attempt, wait = await limiter.begin(db, "someone", "10.0.0.9", now=101.0)
        assert attempt is None and wait > 500.0
        await fail("carl", "10.0.0.5", 200.0)
        attempt, _ = await limiter.begin(db, "carl", "10.0.0.5", now=201.0)
        assert attempt is not None
        await limiter.finish(db, attempt, ok=True, username="carl", remote="10.0.0.5", now=201.0)
        rows = await db.fetchall("SELECT key FROM login_attempts WHERE key LIKE 'p:carl%'")
        assert rows == []  # carl's pair forgiven after his success
        attempt, _ = await limiter.begin(db, "bob", "10.0.0.1", now=700.0)
        assert attempt is not None  # the window moved on
    finally:
        await db.close()


def test_missed_sessions_only_for_a_patient_who_was_doing_them() -> None:
    cfg = AlertConfig(missed_days=2)
    assert missed_sessions_alert(cfg, [2, 2, 1, 2, 2], dose=2) is None
    alert = missed_sessions_alert(cfg, [2, 2, 2, 1, 0], dose=2)
    assert alert is not None and alert["code"] == "missed_sessions"
    assert missed_sessions_alert(cfg, [2, 2, 2, 2, 1], dose=2) is None  # one short day is not yet a pattern
    assert missed_sessions_alert(cfg, [0] * 14, dose=1) is None  # never started (or stopped long ago)
    assert missed_sessions_alert(cfg, [1, 0, 0], dose=1) is not None
