"""What the monitor load benchmark watches during a run: the broker's queue, lock waits in PostgreSQL,
and the dashboard's live overview stream as a therapist sees it."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any


def watch_broker_queue(port: int, stop: threading.Event, out: list[int]) -> None:
    """Mosquitto's $SYS counters (every second): messages it holds minus the retained ones, i.e. the
    QoS 1 messages queued or in flight for subscribers that have not acknowledged them yet."""
    import paho.mqtt.client as mqtt

    counts = {"stored": 0, "retained": 0}

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        key = "stored" if msg.topic.endswith("store/messages/count") else "retained"
        counts[key] = int(msg.payload)
        out.append(counts["stored"] - counts["retained"])

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sys-watch")  # type: ignore[attr-defined]
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe([("$SYS/broker/store/messages/count", 0), ("$SYS/broker/retained messages/count", 0)])
    client.loop_start()
    stop.wait()
    client.loop_stop()
    client.disconnect()


def watch_lock_waits(db_url: str, stop: threading.Event, out: list[int]) -> None:
    """Every 100 ms: how many of the run database's sessions wait on a lock (row locks between
    instances would show here)."""
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(db_url, autocommit=True) as conn:
        while not stop.wait(0.1):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                (name,),
            ).fetchone()
            out.append(int(row[0]) if row else 0)


# --- the dashboard's live view, watched during a run --------------------------------------------

WATCHER_PASSWORD = "bench-watcher-password"


async def seed_watcher(db_url: str) -> None:
    """A therapist following the first simulated patient, so the run can watch its live card."""
    from coach.monitor import accounts
    from coach.monitor.db import open_database

    db = await open_database(db_url)
    try:
        await accounts.create_therapist(db, "bench", "Bench Watcher", WATCHER_PASSWORD)
        await accounts.create_patient(db, "p-00000", "Watched Patient")
        await accounts.assign(db, "bench", "p-00000")
    finally:
        await db.close()


def watch_dashboard(port: int, start_unix_s: float, stop: threading.Event, out: list[float]) -> None:
    """Log in, follow the overview stream, and time each new ``t`` of patient p-00000's session
    against when its coach was scheduled to publish that event (coach 0 starts at ``start_unix_s``)."""
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/login", json.dumps({"username": "bench", "password": WATCHER_PASSWORD}),
                     {"Content-Type": "application/json"})  # fmt: skip
        resp = conn.getresponse()
        cookie = resp.getheader("Set-Cookie", "").split(";", 1)[0]
        resp.read()
        conn.request("GET", "/api/stream/overview", headers={"Cookie": cookie})
        stream = conn.getresponse()
        last_t = -1.0
        while not stop.is_set():
            line = stream.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue
            cards = json.loads(line[6:])["patients"]
            session = cards[0]["session"] if cards else None
            if session and session["t_s"] > last_t:
                last_t = session["t_s"]
                out.append(time.time() - (start_unix_s + last_t))
        conn.close()
    except (OSError, ValueError, KeyError) as exc:
        print(f"  dashboard watcher stopped: {exc}", file=sys.stderr)
