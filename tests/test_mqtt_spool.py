"""The on-disk spool: order, removal on ack (other rows) or on a monitor's receipt (session events),
delivery numbers, sending again, the disk bound, survival across reopen and a killed writer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from coach.mqtt.confirmations import Receipt, parse_stored, render_stored, stored_runs
from coach.mqtt.spool import Spool


def test_rows_come_back_in_append_order_and_leave_only_when_acked(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    seqs = [spool.append("a/b", f"m{k}".encode(), retain=k == 2) for k in range(5)]
    assert seqs == sorted(seqs)
    rows = spool.pending(limit=3)
    assert [r.payload for r in rows] == [b"m0", b"m1", b"m2"] and rows[2].retain
    assert [r.payload for r in spool.pending(after_seq=rows[-1].seq)] == [b"m3", b"m4"]
    spool.ack([rows[0].seq, rows[2].seq])
    assert [r.payload for r in spool.pending()] == [b"m1", b"m3", b"m4"]
    assert len(spool) == 3
    spool.close()


def test_spool_survives_reopen_and_numbers_keep_growing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    first = spool.append("t", b"x")
    spool.ack([first])
    spool.append("t", b"y")
    spool.close()
    again = Spool(path)
    later = again.append("t", b"z")
    assert later > first + 1  # AUTOINCREMENT never reuses a sequence number
    assert [r.payload for r in again.pending()] == [b"y", b"z"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again.close()


def test_appends_committed_before_a_sigkill_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    code = (
        "import sys\n"
        "from coach.mqtt.spool import Spool\n"
        f"s = Spool({str(path)!r})\n"
        "k = 0\n"
        "while True:\n"
        "    k += 1\n"
        "    s.append('t', str(k).encode())\n"
        "    print(k, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    last = 0
    for line in proc.stdout:
        last = int(line)
        if last >= 500:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for line in proc.stdout.read().splitlines():  # it ran on until the signal landed
        last = int(line)
    proc.stdout.close()
    spool = Spool(path)
    payloads = [int(r.payload) for r in spool.pending(limit=10**9)]
    # Everything reported committed is there, in order, without holes (one more may have landed).
    assert payloads[:last] == list(range(1, last + 1))
    assert len(payloads) - last in (0, 1)
    spool.close()


EVENTS = "coach/v1/p-1/s-1/events"


def _event(k: int) -> bytes:
    return json.dumps({"type": "cue", "t": k, "id": f"cue-{k}", "code": "x", "message": "m"}).encode()


def test_session_events_get_delivery_numbers_and_stay_until_a_receipt(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    for k in range(1, 6):
        spool.append_event(EVENTS, "p-1", "s-1", _event(k))
    spool.append_event("coach/v1/p-1/s-2/events", "p-1", "s-2", _event(1))
    other = spool.append("coach/v1/p-1/cmd_result", b"{}")
    rows = spool.pending(limit=10)
    assert [json.loads(r.payload)["seq"] for r in rows[:6]] == [1, 2, 3, 4, 5, 1]
    assert [r.sseq for r in rows] == [1, 2, 3, 4, 5, 1, None]
    spool.ack([r.seq for r in rows])  # the broker has them: the cmd_result leaves, the events stay sent
    assert spool.unsent() == 0 and len(spool) == 6 and other not in [r.seq for r in spool.pending()]
    seen_before_a_receipt = spool.monitor_seen  # a local: mypy keeps a property narrowed past confirm()
    assert not seen_before_a_receipt
    assert spool.confirm("p-1", "s-1", 2, [(4, 4)]) == 3  # 1, 2 and 4 are stored
    assert spool.monitor_seen and spool.unconfirmed() == 3
    waiting = {w.session: w.rows for w in spool.waiting()}
    assert waiting == {"s-1": 2, "s-2": 1}
    assert spool.requeue("p-1", "s-1", sseq_range=(1, 4)) == 1  # only 3, below the highest stored
    assert [r.sseq for r in spool.pending()] == [3]
    assert spool.requeue() == 2  # everything sent and unconfirmed: 5 of s-1, 1 of s-2
    assert [r.sseq for r in spool.pending()] == [3, 5, 1]
    spool.close()
    again = Spool(tmp_path / "s.sqlite3")  # numbers go on after a restart, never reused
    again.append_event(EVENTS, "p-1", "s-1", _event(6))
    assert again.pending()[-1].sseq == 6
    again.close()


def test_the_disk_bound_drops_old_unconfirmed_events_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_bytes=10_000, keep_s=30 * 86400.0)
    for k in range(1, 21):
        spool.append_event(EVENTS, "p-1", "s-1", _event(k))
    spool.ack([r.seq for r in spool.pending(limit=10)], now_unix_s=time.time() - 31 * 86400.0)
    assert spool.prune() == 10  # sent 31 days ago and never confirmed: dropped
    assert spool.unconfirmed() == 10 and spool.dropped == 10
    for k in range(21, 200):  # about 90 bytes each: over 10 kB, the oldest go (sent before unsent)
        spool.append_event(EVENTS, "p-1", "s-1", _event(k))
    spool.prune()
    sizes = sum(len(r.payload) for r in spool.pending(limit=1000))
    assert sizes <= 10_000 and spool.pending(limit=1000)[-1].sseq == 199
    assert spool.dropped > 10
    spool.close()


def test_receipts_round_trip_and_refuse_garbage() -> None:
    receipt = stored_runs([1, 2, 3, 5, 6, 9], 0)
    assert receipt == Receipt(3, ((5, 6), (9, 9)))
    assert stored_runs([4, 5], 3) == Receipt(5, ())
    doc = render_stored({"s-1": receipt, "s-2": Receipt(7)}, "2026-01-01T00:00:00Z")
    assert parse_stored(doc) == {"s-1": receipt, "s-2": Receipt(7)}
    for bad in (b"", b"[]", b'{"sessions": 1}', b'{"sessions": {"s 1": {"through": 1}}}',
                b'{"sessions": {"s": {"through": -1}}}', b'{"sessions": {"s": {"through": 1e400}}}',
                b'{"sessions": {"s": {"through": 3, "ranges": [[5, 4]]}}}', b"\xff"):  # fmt: skip
        try:
            parse_stored(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")
