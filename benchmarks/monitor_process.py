"""The monitor processes of the load benchmark (:mod:`benchmarks.bench_monitor`): start ``coach monitor``
on a free port, wait until its ingest is connected, read its CPU time and ``/healthz``, stop it; and the
benchmark's reads of the monitor's database."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class MonitorProcess:
    proc: subprocess.Popen[bytes]
    port: int
    cpu_start_s: float = 0.0
    profiler: subprocess.Popen[bytes] | None = None

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=10) as r:
            body: dict[str, Any] = json.load(r)
        return body

    def cpu_s(self) -> float:
        return cpu_s_of(self.proc.pid)


def cpu_s_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s() -> dict[int, float]:
    """CPU seconds of every PostgreSQL server process (the whole local cluster)."""
    out = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if (proc / "comm").read_text().strip() == "postgres":
                    out[int(proc.name)] = cpu_s_of(int(proc.name))
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_monitor(
    broker_url: str, db_url: str, workdir: Path, shared_group: str | None, name: str, inflight: int
) -> MonitorProcess:
    port = free_port()
    profile = os.environ.get("BENCH_MONITOR_PROFILE")  # a folder: run the monitor under cProfile
    prefix = ["-m", "cProfile", "-o", f"{profile}/monitor-{name}.prof"] if profile else []
    args = [sys.executable, *prefix, "-m", "coach", "monitor", "--broker", broker_url, "--db", db_url,
            "--listen", f"127.0.0.1:{port}", "--client-id", f"bench-monitor-{name}"]  # fmt: skip
    if shared_group:
        args += ["--shared-group", shared_group]  # MQTT 5: asks for its own in-flight window
    else:
        args += ["--mqtt-inflight", str(inflight)]
    data = os.environ.get("COACH_DATA_DIR", str(workdir / "data"))  # shared with the bench: one key
    env = {**os.environ, "COACH_DATA_DIR": data, "COACH_RUNTIME_DIR": str(workdir / "run")}
    log = open(workdir / f"monitor-{name}.log", "wb")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=env)
    log.close()
    m = MonitorProcess(proc, port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if m.health()["ingest"]["connected"]:
                m.cpu_start_s = m.cpu_s()
                pyspy = os.environ.get("BENCH_MONITOR_PYSPY")  # a folder: sample the monitor with py-spy
                if pyspy:
                    m.profiler = subprocess.Popen(
                        ["py-spy", "record", "--pid", str(proc.pid), "--rate", "200", "--nonblocking",
                         "--format", "raw", "-o", f"{pyspy}/monitor-{name}.txt"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                return m
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"monitor {name} did not connect; see {workdir}/monitor-{name}.log")


def stop_monitor(m: MonitorProcess) -> None:
    if m.profiler is not None:
        m.profiler.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
        with contextlib.suppress(subprocess.TimeoutExpired):
            m.profiler.wait(timeout=20)
    m.proc.terminate()
    try:
        m.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        m.proc.kill()
        m.proc.wait()


# --- the monitor's database -------------------------------------------------------------------


async def db_rows(db_url: str) -> tuple[list[dict[str, Any]], int]:
    from coach.monitor.db import open_database

    db = await open_database(db_url)
    try:
        rows = await db.fetchall(
            "SELECT patient_id, session_id, event_id, payload, received_unix_s, stored_unix_s FROM events"
        )
        statuses = await db.fetchone("SELECT COUNT(*) AS n FROM statuses")
        return rows, int(statuses["n"]) if statuses else 0
    finally:
        await db.close()


async def db_count(db_url: str) -> int:
    from coach.monitor.db import open_database

    db = await open_database(db_url)
    try:
        row = await db.fetchone("SELECT COUNT(*) AS n FROM events")
        return int(row["n"]) if row else 0
    finally:
        await db.close()
