"""Targets and commands a therapist sends to a patient's coach (docs/design.md §7 ``targets`` and ``cmd``).

The arguments are checked with the coach's own validators (:data:`coach.commands.COMMANDS`), so
the monitor never sends what the coach would refuse; every command is signed with the patient's
enrolment secret (:func:`coach.mqtt.commands.sign_command`), stored, audited, and its ``cmd_result``
shown when it comes back.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Final

from coach.clock import format_utc, utc_now
from coach.commands import COMMANDS
from coach.errors import ValidationError
from coach.monitor.accounts import Therapist, enrolment_secret
from coach.monitor.db import Database
from coach.mqtt.commands import NEXT_SESSION, canonical_json, command_envelope, sign_command, signature
from coach.mqtt.topics import PatientTopics

Publish = Callable[[str, bytes, int, bool], Awaitable[None]]
#: How long a command the monitor sends stays valid (the coach accepts at most
#: :data:`coach.commands.MAX_VALIDITY`): a pause, resume or stop is for now; a clearance or a
#: setting waits a day for a coach that is offline.
VALIDITY: Final = {
    "pause": timedelta(minutes=5),
    "resume": timedelta(minutes=5),
    "stop": timedelta(minutes=5),
}
DEFAULT_VALIDITY: Final = timedelta(hours=24)


def _validated(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
    validator = COMMANDS.get(cmd)
    if validator is None:
        raise ValidationError(f"unknown command {cmd!r}; known: {', '.join(COMMANDS)}")
    try:
        return validator(args)
    except ValueError as exc:
        raise ValidationError(f"{cmd}: {exc}") from None


async def _secret(db: Database, patient_id: str) -> str:
    secret = await enrolment_secret(db, patient_id)
    if not secret:
        raise ValidationError(
            f"patient {patient_id!r} has no enrolment secret: create one with the admin CLI"
        )
    return secret


async def send_command(
    db: Database,
    publish: Publish,
    therapist: Therapist,
    patient_id: str,
    cmd: str,
    args: dict[str, Any],
    *,
    session: str = NEXT_SESSION,
) -> dict[str, Any]:
    """Validate, sign, store and publish one command (QoS 1, not retained) bound to ``session`` (a
    session id, or ``"next"``) and valid for :data:`VALIDITY`; returns the stored record."""
    clean = _validated(cmd, args)
    secret = await _secret(db, patient_id)
    body = command_envelope(
        f"cmd-{uuid.uuid4().hex[:24]}",
        cmd,
        clean,
        by=therapist.username,
        session=session,
        valid_for=VALIDITY.get(cmd, DEFAULT_VALIDITY),
    )
    signed = sign_command(body, secret)
    await db.execute(
        "INSERT INTO commands (cmd_id, patient_id, cmd, args, issued_at, by_user, published_unix_s,"
        " session_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (body["id"], patient_id, cmd, json.dumps(clean), body["issued_at"], therapist.username, time.time(),
         session, body["expires_at"]),
    )  # fmt: skip
    await publish(PatientTopics(patient_id).cmd, canonical_json(signed), 1, False)
    return {
        "cmd_id": body["id"],
        "cmd": cmd,
        "args": clean,
        "issued_at": body["issued_at"],
        "expires_at": body["expires_at"],
        "session": session,
    }


async def set_targets(
    db: Database,
    publish: Publish,
    therapist: Therapist,
    patient_id: str,
    *,
    target_duration_s: float | None = None,
    cadence_spm: tuple[float, float] | None = None,
    thresholds: dict[str, float] | None = None,
    sessions_per_day: int | None = None,
) -> dict[str, Any]:
    """Publish the retained, signed ``targets`` document and one signed command per changed target."""
    doc: dict[str, Any] = {}
    planned: list[tuple[str, dict[str, Any]]] = []
    if target_duration_s is not None:
        args = _validated("set_target_duration", {"target_duration_s": target_duration_s})
        doc["target_duration_s"] = args["target_duration_s"]
        planned.append(("set_target_duration", args))
    if cadence_spm is not None:
        args = _validated("set_cadence_range", {"min_spm": cadence_spm[0], "max_spm": cadence_spm[1]})
        doc["cadence_spm"] = args
        planned.append(("set_cadence_range", args))
    if thresholds:
        args = _validated("set_thresholds", dict(thresholds))
        doc["thresholds"] = args
        planned.append(("set_thresholds", args))
    if sessions_per_day is not None and not 1 <= sessions_per_day <= 10:
        raise ValidationError("sessions per day: 1 to 10")
    if not doc and sessions_per_day is None:
        raise ValidationError("nothing to set")
    secret = await _secret(db, patient_id)
    if sessions_per_day is not None:
        await db.execute(
            "UPDATE patients SET sessions_per_day = ? WHERE patient_id = ?", (sessions_per_day, patient_id)
        )
    sent: list[dict[str, Any]] = []
    if doc:
        previous = await db.fetchone("SELECT payload FROM targets WHERE patient_id = ?", (patient_id,))
        merged = (
            {k: v for k, v in json.loads(previous["payload"]).items() if k not in ("sig",)}
            if previous
            else {}
        )
        merged.update(doc)
        merged["issued_at"] = format_utc(utc_now())
        merged["by"] = therapist.username
        merged["sig"] = signature(merged, secret)
        await db.execute(
            "INSERT INTO targets (patient_id, payload, set_by, set_unix_s) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (patient_id) DO UPDATE SET payload = excluded.payload, set_by = excluded.set_by,"
            " set_unix_s = excluded.set_unix_s",
            (patient_id, canonical_json(merged).decode(), therapist.username, time.time()),
        )
        await publish(PatientTopics(patient_id).targets, canonical_json(merged), 1, True)
        for cmd, args in planned:
            sent.append(await send_command(db, publish, therapist, patient_id, cmd, args))
    return {"targets": doc, "sessions_per_day": sessions_per_day, "commands": sent}


async def current_targets(db: Database, patient_id: str) -> dict[str, Any] | None:
    row = await db.fetchone(
        "SELECT payload, set_by, set_unix_s FROM targets WHERE patient_id = ?", (patient_id,)
    )
    if row is None:
        return None
    doc = {k: v for k, v in json.loads(row["payload"]).items() if k != "sig"}
    return {"doc": doc, "set_by": row["set_by"], "set_unix_s": row["set_unix_s"]}


async def recent_commands(db: Database, patient_id: str, limit: int = 20) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT c.cmd_id, c.cmd, c.args, c.issued_at, c.expires_at, c.session_id, c.by_user,"
        " c.published_unix_s, r.ok, r.reason,"
        " r.received_unix_s AS result_unix_s FROM commands c LEFT JOIN cmd_results r ON r.cmd_id = c.cmd_id"
        " WHERE c.patient_id = ? ORDER BY c.published_unix_s DESC LIMIT ?",
        (patient_id, limit),
    )
    return [
        {
            **{
                k: r[k]
                for k in (
                    "cmd_id",
                    "cmd",
                    "issued_at",
                    "expires_at",
                    "session_id",
                    "by_user",
                    "published_unix_s",
                    "reason",
                )
            },
            "args": json.loads(r["args"]),
            "ok": None if r["ok"] is None else bool(r["ok"]),
            "result_unix_s": r["result_unix_s"],
        }
        for r in rows
    ]
