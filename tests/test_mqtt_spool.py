"""The on-disk spool: order, removal only on ack, survival across reopen and a killed writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

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
