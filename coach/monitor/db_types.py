"""What the modules below :mod:`coach.monitor.db` need of a database, as protocols.

:mod:`coach.monitor.db` runs the Python data migrations (:func:`coach.monitor.db.data_migrations`:
encrypting enrolment secrets, chaining the audit log), so the modules that hold them
(:mod:`coach.monitor.secret_box`, :mod:`coach.monitor.clinic.audit_chain`) type their database by
these protocols instead of importing db.py: no import cycle. :class:`coach.monitor.db.Tx` and
:class:`coach.monitor.db.Database` have everything named here.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Tx(Protocol):
    """One open transaction."""

    async def fetchall(self, sql: str, params: Any = ()) -> list[dict[str, Any]]: ...

    async def fetchone(self, sql: str, params: Any = ()) -> dict[str, Any] | None: ...

    async def execute(self, sql: str, params: Any = ()) -> int: ...


class Database(Protocol):
    """A connection (pool) to one monitor database."""

    dialect: str
    secret_box: Any

    def transaction(self, *, batch_writes: bool = False) -> AbstractAsyncContextManager[Any]: ...

    async def fetchall(self, sql: str, params: Any = ()) -> list[dict[str, Any]]: ...

    async def fetchone(self, sql: str, params: Any = ()) -> dict[str, Any] | None: ...

    async def execute(self, sql: str, params: Any = ()) -> int: ...
