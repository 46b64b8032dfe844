"""Secrets (enrolment secret, broker password) from the environment or from private files.

Secrets never come from the command line (other users see it in ``ps``) and never appear in logs:
:class:`Secret` hides its value in ``repr`` and ``str``. A secret file must not be readable by group
or others (mode 0600 or stricter), as ssh demands of its keys.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from coach.errors import ConfigError


class Secret:
    """A secret value; ``reveal()`` is the only way to read it."""

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str) -> None:
        if not value:
            raise ConfigError(f"{source}: the secret is empty")
        self._value = value
        self._source = source

    def reveal(self) -> str:
        return self._value

    @property
    def source(self) -> str:
        """Where the secret came from (an environment variable's name or a file path), for messages."""
        return self._source

    def __repr__(self) -> str:
        return f"Secret(from {self._source})"

    __str__ = __repr__


def read_secret_file(path: str | Path) -> Secret:
    """Read a secret from a file that only its owner can read; strips one trailing newline."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError as exc:
        raise ConfigError(f"secret file {p}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secret file {p} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {p}"
        )
    text = p.read_text(encoding="utf-8")
    return Secret(text.removesuffix("\n").removesuffix("\r"), str(p))


def secret_from(env: str | None = None, file: str | Path | None = None) -> Secret | None:
    """The secret in environment variable ``env`` if set, else in ``file`` if given, else ``None``.

    A ``<env>_FILE`` variable naming a file is honoured too (the Docker secrets convention).
    """
    if env:
        value = os.environ.get(env)
        if value:
            return Secret(value, f"${env}")
        file_env = os.environ.get(f"{env}_FILE")
        if file_env:
            return read_secret_file(file_env)
    if file is not None:
        return read_secret_file(file)
    return None


def write_secret_file(path: str | Path, value: str) -> Path:
    """Write ``value`` to ``path`` with mode 0600 (created that way: never briefly world-readable)."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (value + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return p
