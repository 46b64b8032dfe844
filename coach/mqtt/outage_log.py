"""How a publisher tells the log about a broker it cannot reach: once per outage, not once per retry.

A coach on a patient's laptop without network retries the broker with backoff for the whole session; a
warning per attempt buries everything else in the log. The first failure of an outage is a warning, the
same failure again is a debug line with a reminder at warning level every ``REMINDER_S``, and the link
coming back says how long it was away and how many attempts it took.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: Seconds between "still cannot reach the broker" reminders during one outage.
REMINDER_S = 300.0


class OutageLog:
    """Logs connection failures and recoveries of one broker link, an outage at a time."""

    def __init__(
        self, log: logging.Logger, url: str, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = log
        self._url = url
        self._monotonic = monotonic
        self._began_s: float | None = None
        self._attempts = 0
        self._last_said_s = 0.0
        self._last_error: str | None = None

    def failed(self, error: str) -> None:
        """One connection attempt failed, or the link was lost, with ``error``."""
        now_s = self._monotonic()
        self._attempts += 1
        if self._began_s is None or error != self._last_error:
            if self._began_s is None:
                self._began_s = now_s
            self._log.warning("MQTT link to %s lost or refused: %s", self._url, error)
            self._last_said_s = now_s
        elif now_s - self._last_said_s >= REMINDER_S:
            away_min = (now_s - self._began_s) / 60.0
            self._log.warning(
                "MQTT link to %s still lost or refused after %.0f min and %d attempts: %s",
                self._url,
                away_min,
                self._attempts,
                error,
            )
            self._last_said_s = now_s
        else:
            self._log.debug("MQTT link to %s: attempt %d failed: %s", self._url, self._attempts, error)
        self._last_error = error

    def connected(self, client_id: str) -> None:
        """The link is up as ``client_id`` (a pseudonymous id): say so, and how long it was away if it was."""
        if self._began_s is None:
            self._log.info("connected to %s as %s", self._url, client_id)
        else:
            self._log.info(
                "connected to %s as %s again after %.0f s and %d failed attempts",
                self._url,
                client_id,
                self._monotonic() - self._began_s,
                self._attempts,
            )
        self._began_s = None
        self._attempts = 0
        self._last_error = None
