"""Enrolment secrets at rest: encrypted with a server key kept outside the database.

The monitor must sign commands with each patient's enrolment secret, so it cannot keep only a hash;
instead the ``patients.enrolment_secret`` column holds ``v1:<base64(nonce ‖ AES-256-GCM ciphertext)>``,
with the patient id as associated data (a ciphertext copied to another patient's row does not open).
A database dump alone therefore reveals no secret.

The key (32 random bytes, 64 hex characters) comes from ``$COACH_MONITOR_SECRET_KEY`` or else from the
file ``monitor-secret.key`` in the monitor's data folder (mode 0600; refused when others may read it),
created on the first run that needs it. It is never logged. Several instances sharing one database
need the same key: the database keeps a key check (an HMAC of a fixed text under the key, not the key),
so an instance with another key stops at start with a clear error instead of writing secrets the
others cannot read, and no new key file is made for a database that already has one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from coach.errors import ConfigError
from coach.monitor.db_types import Database, Tx

KEY_ENV: Final = "COACH_MONITOR_SECRET_KEY"
KEY_FILE_NAME: Final = "monitor-secret.key"
PREFIX: Final = "v1:"
_NONCE_BYTES: Final = 12
_CHECK_TEXT: Final = b"retro-coach monitor: enrolment secret key check v1"


class SecretBox:
    """Encrypts and decrypts enrolment secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != 32:
            raise ConfigError(f"monitor secret key from {source}: need 32 bytes (64 hex characters)")
        self._aead = AESGCM(key)
        self.key_id = hmac.new(key, _CHECK_TEXT, hashlib.sha256).hexdigest()[:32]
        #: Where the key came from (an environment variable's name or a file path; never the key).
        self.source = source

    def encrypt(self, patient_id: str, secret: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), patient_id.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, patient_id: str, stored: str) -> str:
        if not is_encrypted(stored):
            raise ConfigError(f"patient {patient_id}: enrolment secret is not encrypted (migration missing?)")
        raw = base64.b64decode(stored[len(PREFIX) :])
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], patient_id.encode()).decode()
        except InvalidTag:
            raise ConfigError(
                f"patient {patient_id}: enrolment secret does not open with the key from {self.source}"
            ) from None


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def key_file_path() -> Path:
    from coach.paths import data_dir

    return data_dir() / KEY_FILE_NAME


def _parse_key(text: str, source: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"monitor secret key from {source}: not 64 hex characters") from None


def load_key(*, may_create: bool) -> SecretBox:
    """The key from the environment or the key file; a new key file only when ``may_create``."""
    env = os.environ.get(KEY_ENV)
    if env:
        return SecretBox(_parse_key(env, f"${KEY_ENV}"), f"${KEY_ENV}")
    path = key_file_path()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        if not may_create:
            raise ConfigError(
                f"this database's enrolment secrets were encrypted with a key this monitor does not have: "
                f"put that monitor's {KEY_FILE_NAME} at {path} (mode 0600) or set ${KEY_ENV}"
            ) from None
        return _create_key_file(path)
    with os.fdopen(fd, "r", encoding="ascii") as f:
        if os.fstat(f.fileno()).st_mode & 0o077:
            raise ConfigError(f"{path}: others may read the monitor's secret key; chmod 600 it")
        return SecretBox(_parse_key(f.read(), str(path)), str(path))


def _create_key_file(path: Path) -> SecretBox:
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile: use that one
        return load_key(may_create=False)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return SecretBox(key, str(path))


async def open_box(tx: Tx) -> SecretBox:
    """The key, checked against (or, on first use, recorded in) the database's key check."""
    row = await tx.fetchone("SELECT key_id FROM secret_key WHERE id = 1")
    box = load_key(may_create=row is None)
    if row is None:
        await tx.execute(
            "INSERT INTO secret_key (id, key_id, created_unix_s) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (box.key_id, time.time()),
        )
        row = await tx.fetchone("SELECT key_id FROM secret_key WHERE id = 1")
    if row is None or not hmac.compare_digest(str(row["key_id"]), box.key_id):
        raise ConfigError(
            f"the monitor secret key from {box.source} is not the one this database's enrolment secrets "
            f"were encrypted with: use the same {KEY_FILE_NAME} (or ${KEY_ENV}) on every instance"
        )
    return box


async def secret_box(db: Database) -> SecretBox:
    """The database's secret box (loaded and checked once per connection pool)."""
    if db.secret_box is None:
        async with db.transaction() as tx:
            db.secret_box = await open_box(tx)
    box: SecretBox = db.secret_box
    return box


async def encrypt_plaintext_secrets(tx: Tx) -> None:
    """Data migration: encrypt the enrolment secrets stored in plain text by schema versions ≤ 3."""
    rows = await tx.fetchall(
        "SELECT patient_id, enrolment_secret FROM patients WHERE enrolment_secret IS NOT NULL"
    )
    plain = [r for r in rows if not is_encrypted(r["enrolment_secret"])]
    if not plain:
        return
    box = await open_box(tx)
    for r in plain:
        await tx.execute(
            "UPDATE patients SET enrolment_secret = ? WHERE patient_id = ?",
            (box.encrypt(r["patient_id"], r["enrolment_secret"]), r["patient_id"]),
        )
