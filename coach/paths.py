"""Where the coach keeps its local state: spool, audit log, runtime files.

- data folder: ``$COACH_DATA_DIR``, else ``$XDG_DATA_HOME/retro-coach``, else ``~/.local/share/retro-coach``
  (spool databases, audit logs, recorded sessions);
- runtime folder: ``$COACH_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/retro-coach``, else
  ``~/.local/state/retro-coach/run`` (the embedded broker's address file).

Folders are created with mode 0700: they hold health data and the broker address.
"""

from __future__ import annotations

import os
from pathlib import Path


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def data_dir() -> Path:
    """The coach's data folder (created, mode 0700)."""
    explicit = os.environ.get("COACH_DATA_DIR")
    if explicit:
        return _private_dir(Path(explicit))
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return _private_dir(base / "retro-coach")


def runtime_dir() -> Path:
    """The coach's runtime folder (created, mode 0700)."""
    explicit = os.environ.get("COACH_RUNTIME_DIR")
    if explicit:
        return _private_dir(Path(explicit))
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return _private_dir(Path(xdg) / "retro-coach")
    return _private_dir(Path.home() / ".local" / "state" / "retro-coach" / "run")
