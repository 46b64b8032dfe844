"""A patient's data on the coach's machine: export all of it, or erase all of it (data rights).

What the coach keeps per patient lives in ``<data dir>/patients/<patient id>/``: recorded sessions
(``sessions/<s>.csv`` trace, ``.events.jsonl``, ``.commands.jsonl``, ``.summary.json``), the local
state (``state.sqlite3``: therapist settings, applied commands, clearances), the audit log
(``audit.jsonl``) and the MQTT spool of messages not yet sent (``spool.sqlite3``).

The export copies every file into ``<out>/<patient id>/`` (SQLite databases through SQLite's backup
API, so a running coach's WAL is included, and also as JSON: ``<name>.sqlite3.json``, every table's
rows) and writes ``manifest.json`` (format ``retro-coach-coach-patient-export`` version 1: each
file's path, kind, size and SHA-256). The erasure deletes the folder and appends one line to
``<data dir>/erasures.jsonl`` (pseudonymous id, time, how many files and bytes), which survives.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from coach.errors import ConfigError, ValidationError
from coach.ids import check_id
from coach.paths import data_dir

EXPORT_FORMAT: Final = "retro-coach-coach-patient-export"
EXPORT_VERSION: Final = 1
ERASURE_LOG: Final = "erasures.jsonl"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def patient_folder(patient_id: str, base: Path | None = None) -> Path:
    folder = (base or data_dir()) / "patients" / check_id(patient_id, "patient id")
    if not folder.is_dir():
        raise ValidationError(f"this coach holds no data for {patient_id!r} ({folder} does not exist)")
    return folder


def kind_of(relative: str) -> str:
    name = relative.rsplit("/", 1)[-1]
    for suffix, kind in (
        (".events.jsonl", "events"),
        (".commands.jsonl", "commands"),
        (".summary.json", "summary"),
        (".csv", "trace"),
        (".csv.gz", "trace"),
    ):
        if name.endswith(suffix):
            return kind
    return {"state.sqlite3": "local-state", "spool.sqlite3": "spool", "audit.jsonl": "audit"}.get(
        name, "other"
    )


def _private_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out)


def _sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy (WAL included) through SQLite's backup API, plus every table as JSON."""
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        source.backup(target)
        target.close()
        tables: dict[str, list[dict[str, Any]]] = {}
        names = [r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in names:
            cur = source.execute(f'SELECT * FROM "{name}"')
            cols = [d[0] for d in cur.description or ()]
            tables[name] = [
                {c: _json_value(v) for c, v in zip(cols, row, strict=True)} for row in cur.fetchall()
            ]
    finally:
        source.close()
    fd = os.open(dst.with_name(dst.name + ".json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"tables": tables}, f, ensure_ascii=False, indent=1)


def _json_value(v: Any) -> Any:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(v).decode()}
    return v


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_patient_files(patient_id: str, out: Path, base: Path | None = None) -> Path:
    """Copy everything the coach holds on ``patient_id`` to ``out/<patient id>/``; returns the manifest."""
    folder = patient_folder(patient_id, base)
    target = out / patient_id
    if target.exists():
        raise ConfigError(f"{target} exists; choose a new output folder")
    target.mkdir(parents=True, mode=0o700)
    files: list[dict[str, Any]] = []
    for src in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = src.relative_to(folder).as_posix()
        if rel.endswith(("-wal", "-shm", "-journal")):
            continue  # folded into the database copy by the backup API
        dst = target / rel
        if src.suffix == ".sqlite3":
            _sqlite_copy(src, dst)
            extra = dst.with_name(dst.name + ".json")
            files.append(
                {
                    "path": f"{rel}.json",
                    "kind": kind_of(rel) + "-json",
                    "bytes": extra.stat().st_size,
                    "sha256": _sha256(extra),
                }
            )
        else:
            _private_copy(src, dst)
        files.append({"path": rel, "kind": kind_of(rel), "bytes": dst.stat().st_size, "sha256": _sha256(dst)})
    manifest = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "patient_id": patient_id,
        "exported_utc": _now(),
        "source": "coach data folder",
        "files": files,
    }
    path = target / "manifest.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    return path


def erase_patient_files(patient_id: str, base: Path | None = None) -> dict[str, Any]:
    """Delete everything the coach holds on ``patient_id``; the erasure is logged and the log kept."""
    folder = patient_folder(patient_id, base)
    files = [p for p in folder.rglob("*") if p.is_file()]
    record = {
        "wall_utc": _now(),
        "what": "patient_erased",
        "patient_id": patient_id,
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
    }
    shutil.rmtree(folder)
    log = (base or data_dir()) / ERASURE_LOG
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
    finally:
        os.close(fd)
    return record
