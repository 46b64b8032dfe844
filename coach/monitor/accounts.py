"""Therapists, patients, assignments, enrolment secrets, login sessions and the audit log.

Passwords are hashed with Argon2id (argon2-cffi). Login session tokens are random, stored only as their
SHA-256, and expire both after a fixed lifetime and after inactivity (automatic logoff). Enrolment
secrets are the HMAC keys a patient's coach shares with the monitor; they are shown once when created,
never logged, and stored encrypted (``coach.monitor.secret_box``).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from coach.errors import ValidationError
from coach.ids import ID_PATTERN
from coach.monitor.db import Database
from coach.monitor.secret_box import secret_box

SESSION_LIFETIME_S: Final = 8 * 3600.0
SESSION_IDLE_S: Final = 30 * 60.0
USERNAME_PATTERN: Final = ID_PATTERN
MIN_PASSWORD_CHARS: Final = 10

_hasher = PasswordHasher()
#: Verifying against this keeps a login for an unknown user as slow as one for a known user.
_DUMMY_HASH: Final = _hasher.hash("not-a-real-password-used-for-timing")


@dataclass(frozen=True, slots=True)
class Therapist:
    id: int
    username: str
    display_name: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class WebSession:
    therapist: Therapist
    csrf_token: str
    expires_unix_s: float


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _therapist(row: dict[str, Any]) -> Therapist:
    return Therapist(int(row["id"]), row["username"], row["display_name"], bool(row["is_admin"]))


async def create_therapist(
    db: Database, username: str, display_name: str, password: str, *, is_admin: bool = False
) -> Therapist:
    if not USERNAME_PATTERN.match(username):
        raise ValidationError(f"username {username!r}: use letters, digits, '.', '_' or '-' (≤ 64)")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValidationError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    if await db.fetchone("SELECT id FROM therapists WHERE username = ?", (username,)):
        raise ValidationError(f"therapist {username!r} exists already")
    row = await db.fetchone(
        "INSERT INTO therapists (username, display_name, password_hash, is_admin, created_unix_s)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id, username, display_name, is_admin",
        (username, display_name, _hasher.hash(password), int(is_admin), time.time()),
    )
    assert row is not None
    return _therapist(row)


async def set_password(db: Database, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValidationError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    n = await db.execute(
        "UPDATE therapists SET password_hash = ? WHERE username = ?", (_hasher.hash(password), username)
    )
    if n == 0:
        raise ValidationError(f"no therapist {username!r}")
    await db.execute(
        "DELETE FROM web_sessions WHERE therapist_id IN (SELECT id FROM therapists WHERE username = ?)",
        (username,),
    )


async def verify_login(db: Database, username: str, password: str) -> Therapist | None:
    """The therapist when the password matches, else ``None`` (same work either way)."""
    row = await db.fetchone(
        "SELECT id, username, display_name, is_admin, password_hash FROM therapists WHERE username = ?",
        (username,),
    )
    stored = row["password_hash"] if row else _DUMMY_HASH

    def check() -> bool:
        try:
            return bool(_hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    # Argon2 takes tens of milliseconds of CPU: off the event loop, so logins run concurrently
    # (the limiter counts each one before this) and pages and ingest do not stall.
    if not await asyncio.to_thread(check):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(stored):
        await db.execute(
            "UPDATE therapists SET password_hash = ? WHERE id = ?", (_hasher.hash(password), row["id"])
        )
    return _therapist(row)


def new_enrolment_secret() -> str:
    """32 random bytes as hex: the HMAC-SHA256 key shared by the monitor and one patient's coach."""
    return secrets.token_hex(32)


async def create_patient(
    db: Database, patient_id: str, display_name: str, *, sessions_per_day: int = 1
) -> str:
    """Register a patient under a pseudonymous id; returns the new enrolment secret (show it once)."""
    if not ID_PATTERN.match(patient_id):
        raise ValidationError(f"patient id {patient_id!r}: use letters, digits, '.', '_' or '-' (≤ 64)")
    if not 1 <= sessions_per_day <= 10:
        raise ValidationError("sessions per day: 1 to 10")
    if await db.fetchone("SELECT patient_id FROM patients WHERE patient_id = ?", (patient_id,)):
        raise ValidationError(f"patient {patient_id!r} exists already")
    secret = new_enrolment_secret()
    sealed = (await secret_box(db)).encrypt(patient_id, secret)
    await db.execute(
        "INSERT INTO patients (patient_id, display_name, enrolment_secret, sessions_per_day, created_unix_s)"
        " VALUES (?, ?, ?, ?, ?)",
        (patient_id, display_name, sealed, sessions_per_day, time.time()),
    )
    return secret


async def set_enrolment_secret(db: Database, patient_id: str, secret: str) -> None:
    """Store ``secret`` (encrypted) as the patient's enrolment secret."""
    sealed = (await secret_box(db)).encrypt(patient_id, secret)
    n = await db.execute(
        "UPDATE patients SET enrolment_secret = ? WHERE patient_id = ?", (sealed, patient_id)
    )
    if n == 0:
        raise ValidationError(f"no patient {patient_id!r}")


async def rotate_enrolment_secret(db: Database, patient_id: str) -> str:
    secret = new_enrolment_secret()
    await set_enrolment_secret(db, patient_id, secret)
    return secret


async def enrolment_secret(db: Database, patient_id: str) -> str | None:
    row = await db.fetchone("SELECT enrolment_secret FROM patients WHERE patient_id = ?", (patient_id,))
    if row is None or row["enrolment_secret"] is None:
        return None
    return (await secret_box(db)).decrypt(patient_id, row["enrolment_secret"])


async def assign(db: Database, username: str, patient_id: str, *, remove: bool = False) -> None:
    therapist = await db.fetchone("SELECT id FROM therapists WHERE username = ?", (username,))
    if therapist is None:
        raise ValidationError(f"no therapist {username!r}")
    if await db.fetchone("SELECT patient_id FROM patients WHERE patient_id = ?", (patient_id,)) is None:
        raise ValidationError(f"no patient {patient_id!r}")
    if remove:
        await db.execute(
            "DELETE FROM assignments WHERE therapist_id = ? AND patient_id = ?", (therapist["id"], patient_id)
        )
    else:
        await db.execute(
            "INSERT INTO assignments (therapist_id, patient_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (therapist["id"], patient_id),
        )


async def is_assigned(db: Database, therapist: Therapist, patient_id: str) -> bool:
    row = await db.fetchone(
        "SELECT 1 AS ok FROM assignments WHERE therapist_id = ? AND patient_id = ?",
        (therapist.id, patient_id),
    )
    return row is not None


async def assigned_patients(db: Database, therapist: Therapist) -> list[dict[str, Any]]:
    return await db.fetchall(
        "SELECT p.patient_id, p.display_name, p.sessions_per_day FROM patients p"
        " JOIN assignments a ON a.patient_id = p.patient_id WHERE a.therapist_id = ? ORDER BY p.display_name",
        (therapist.id,),
    )


async def list_accounts(db: Database) -> dict[str, list[dict[str, Any]]]:
    return {
        "therapists": await db.fetchall(
            "SELECT username, display_name, is_admin FROM therapists ORDER BY username"
        ),
        "patients": await db.fetchall(
            "SELECT patient_id, display_name, sessions_per_day FROM patients ORDER BY patient_id"
        ),
        "assignments": await db.fetchall(
            "SELECT t.username, a.patient_id FROM assignments a JOIN therapists t ON t.id = a.therapist_id"
            " ORDER BY t.username, a.patient_id"
        ),
    }


# --- login sessions -----------------------------------------------------------------------------


async def start_session(db: Database, therapist: Therapist) -> tuple[str, WebSession]:
    """A new login session: returns the cookie token (only its hash is stored) and the session."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = time.time()
    expires = now + SESSION_LIFETIME_S
    await db.execute("DELETE FROM web_sessions WHERE expires_unix_s < ?", (now,))
    await db.execute(
        "INSERT INTO web_sessions (token_sha256, therapist_id, csrf_token, created_unix_s, last_seen_unix_s,"
        " expires_unix_s) VALUES (?, ?, ?, ?, ?, ?)",
        (_token_hash(token), therapist.id, csrf, now, now, expires),
    )
    return token, WebSession(therapist, csrf, expires)


async def resume_session(db: Database, token: str) -> WebSession | None:
    """The live session for a cookie token, or ``None`` when unknown, expired or idle too long."""
    now = time.time()
    row = await db.fetchone(
        "SELECT s.csrf_token, s.expires_unix_s, s.last_seen_unix_s, t.id, t.username, t.display_name,"
        " t.is_admin FROM web_sessions s JOIN therapists t ON t.id = s.therapist_id WHERE s.token_sha256 = ?",
        (_token_hash(token),),
    )
    if row is None:
        return None
    if row["expires_unix_s"] < now or row["last_seen_unix_s"] + SESSION_IDLE_S < now:
        await end_session(db, token)
        return None
    if now - row["last_seen_unix_s"] > 30.0:  # refresh the idle clock, not on every request
        await db.execute(
            "UPDATE web_sessions SET last_seen_unix_s = ? WHERE token_sha256 = ?", (now, _token_hash(token))
        )
    return WebSession(_therapist(row), row["csrf_token"], float(row["expires_unix_s"]))


async def end_session(db: Database, token: str) -> None:
    await db.execute("DELETE FROM web_sessions WHERE token_sha256 = ?", (_token_hash(token),))


# --- audit --------------------------------------------------------------------------------------


async def audit(
    db: Database,
    actor: str,
    action: str,
    *,
    patient_id: str | None = None,
    detail: str | None = None,
    remote: str | None = None,
) -> None:
    """Record who did what to which patient (views included), hash-chained (``clinic.audit_chain``)."""
    from coach.monitor.clinic.audit_chain import append

    await append(db, actor, action, patient_id=patient_id, detail=detail, remote=remote)


async def audit_entries(
    db: Database, *, patient_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    if patient_id is None:
        return await db.fetchall(
            "SELECT at_unix_s, actor, action, patient_id, detail, remote FROM audit_log"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
    return await db.fetchall(
        "SELECT at_unix_s, actor, action, patient_id, detail, remote FROM audit_log WHERE patient_id = ?"
        " ORDER BY id DESC LIMIT ?",
        (patient_id, limit),
    )
