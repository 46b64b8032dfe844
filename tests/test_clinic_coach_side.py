"""Coach-side exports: a Motion-BIDS dataset that the official BIDS validator (bids-validator-deno)
accepts, and a patient's local files exported with a manifest and erased with a kept record."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coach.mqtt.spool import Spool
from coach.session.store import LocalStore

REPO = Path(__file__).resolve().parents[1]


def _coach(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "coach", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trace")
    path = folder / "s-0001.csv"
    env = {**os.environ, "COACH_DATA_DIR": str(folder / "data")}
    _coach(
        "simulate", "-o", str(path), "--duration", "45", "--roles", "treated,hand", "--seed", "11", env=env
    )
    return path


def _validate(dataset: Path) -> list[dict[str, Any]]:
    exe = shutil.which("bids-validator-deno", path=str(Path(sys.executable).parent))
    assert exe, "bids-validator-deno is missing: pip install -e .[dev]"
    out = subprocess.run(
        [exe, str(dataset), "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    issues: list[dict[str, Any]] = json.loads(out.stdout)["issues"]["issues"]
    return issues


def test_motion_bids_export_passes_the_bids_validator(trace: Path, tmp_path: Path) -> None:
    env = {**os.environ, "COACH_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "dataset"
    _coach("bids-export", "--out", str(out), "--trace", str(trace), "--as", "p-anna", env=env)
    errors = [i for i in _validate(out) if i["severity"] == "error"]
    assert errors == []
    motion = out / "sub-panna" / "ses-s0001" / "motion"
    stem = "sub-panna_ses-s0001_task-retrogrademassage"
    with open(motion / f"{stem}_tracksys-treated_channels.tsv", encoding="utf-8") as f:
        channels = list(csv.DictReader(f, delimiter="\t"))
    assert [(c["name"], c["type"], c["units"]) for c in channels[:4]] == [
        ("latency", "LATENCY", "s"),
        ("acc_x", "ACCEL", "m/s^2"),
        ("acc_y", "ACCEL", "m/s^2"),
        ("acc_z", "ACCEL", "m/s^2"),
    ]
    assert {c["units"] for c in channels if c["type"] == "GYRO"} == {"rad/s"}
    rows = (motion / f"{stem}_tracksys-treated_motion.tsv").read_text().splitlines()
    samples = sum(1 for line in trace.read_text().splitlines() if line.split(",")[1:2] == ["treated"])
    assert len(rows) == samples and len(rows[0].split("\t")) == len(channels)
    with open(motion / f"{stem}_events.tsv", encoding="utf-8") as f:
        events = list(csv.DictReader(f, delimiter="\t"))
    kinds = [e["trial_type"] for e in events]
    assert {"calibration_still", "calibration_rotate"} <= set(kinds) and kinds.count("stroke") >= 5
    assert all(
        e["direction"] in ("proximal", "distal", "unknown") for e in events if e["trial_type"] == "stroke"
    )
    onsets = [float(e["onset"]) for e in events]
    assert onsets == sorted(onsets)
    participants = (out / "participants.tsv").read_text()
    assert participants == "participant_id\tsource_id\nsub-panna\tp-anna\n"
    # The validator is not a rubber stamp: a channels file without units fails it.
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    bad = broken / "sub-panna" / "ses-s0001" / "motion" / f"{stem}_tracksys-hand_channels.tsv"
    bad.write_text(
        "\n".join("\t".join(line.split("\t")[:-1]) for line in bad.read_text().splitlines()) + "\n"
    )
    assert [i for i in _validate(broken) if i["severity"] == "error"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_patient_files_export_and_erase(trace: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = data / "patients" / "p-anna"
    store = LocalStore(folder)
    store.update_settings({"target_duration_s": 600.0}, "2026-11-24T09:00:00Z")
    store.audit("screening", outcome="passed")
    store.close()
    spool = Spool(folder / "spool.sqlite3")
    spool.append("coach/v1/p-anna/s-0001/events", b'{"type":"cue","t":1.0,"id":"c1"}')
    sessions = folder / "sessions"
    sessions.mkdir()
    shutil.copy(trace, sessions / "s-0001.csv")
    (sessions / "s-0001.events.jsonl").write_text('{"type":"state","t":0.0,"id":"e1","state":"active"}\n')
    env = {**os.environ, "COACH_DATA_DIR": str(data)}
    out = tmp_path / "export"
    _coach("patient-data", "export", "p-anna", "--out", str(out), env=env)
    spool.close()
    manifest = json.loads((out / "p-anna" / "manifest.json").read_text())
    assert manifest["format"] == "retro-coach-coach-patient-export" and manifest["patient_id"] == "p-anna"
    by_path = {f["path"]: f for f in manifest["files"]}
    assert {
        by_path[p]["kind"] for p in ("sessions/s-0001.csv", "sessions/s-0001.events.jsonl", "audit.jsonl")
    } == {
        "trace",
        "events",
        "audit",
    }
    for f in manifest["files"]:
        assert _sha(out / "p-anna" / f["path"]) == f["sha256"]
        assert (out / "p-anna" / f["path"]).stat().st_mode & 0o077 == 0
    spooled = json.loads((out / "p-anna" / "spool.sqlite3.json").read_text())["tables"]["outbox"]
    assert spooled[0]["topic"] == "coach/v1/p-anna/s-0001/events" and '"c1"' in spooled[0]["payload"]
    settings = json.loads((out / "p-anna" / "state.sqlite3.json").read_text())["tables"]["settings"]
    assert settings[0]["key"] == "target_duration_s"
    refused = _coach("patient-data", "erase", "p-anna", "--confirm", "p-ben", env=env, check=False)
    assert refused.returncode == 2 and folder.exists()
    _coach("patient-data", "erase", "p-anna", "--confirm", "p-anna", env=env)
    assert not folder.exists()
    record = json.loads((data / "erasures.jsonl").read_text().splitlines()[-1])
    assert record["patient_id"] == "p-anna" and record["files"] >= 5
    again = _coach("patient-data", "erase", "p-anna", "--confirm", "p-anna", env=env, check=False)
    assert again.returncode == 2 and "holds no data" in again.stderr and "Traceback" not in again.stderr
