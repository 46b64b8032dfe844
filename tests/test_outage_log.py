"""The broker-outage log: one warning per outage and a reminder now and then, never one per retry."""

from __future__ import annotations

import logging

import pytest

from coach.mqtt.outage_log import REMINDER_S, OutageLog


class _Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_hour_of_retries_warns_once_then_reminds_every_few_min(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    outage = OutageLog(logging.getLogger("test.outage"), "mqtt://broker:1883", monotonic=clock)
    with caplog.at_level(logging.DEBUG, logger="test.outage"):
        for _ in range(360):  # a retry every 10 s for an hour
            outage.failed("ConnectionRefusedError: refused")
            clock.now_s += 10.0
    said = _warnings(caplog)
    assert said[0] == "MQTT link to mqtt://broker:1883 lost or refused: ConnectionRefusedError: refused"
    reminders = said[1:]
    assert len(reminders) == int(3600 // REMINDER_S) - 1
    assert all("still lost or refused" in line for line in reminders)
    assert "after 5 min and 31 attempts" in reminders[0]
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 360 - len(said)


def test_a_new_error_is_said_and_recovery_says_how_long_the_link_was_away(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    outage = OutageLog(logging.getLogger("test.outage"), "mqtt://broker:1883", monotonic=clock)
    with caplog.at_level(logging.INFO, logger="test.outage"):
        outage.connected("coach-p-0001")
        outage.failed("MqttError: lost")
        clock.now_s += 5.0
        outage.failed("MqttError: lost")
        clock.now_s += 5.0
        outage.failed("SSLError: certificate verify failed")
        clock.now_s += 20.0
        outage.connected("coach-p-0001")
        outage.failed("MqttError: lost")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "connected to mqtt://broker:1883 as coach-p-0001",
        "MQTT link to mqtt://broker:1883 lost or refused: MqttError: lost",
        "MQTT link to mqtt://broker:1883 lost or refused: SSLError: certificate verify failed",
        "connected to mqtt://broker:1883 as coach-p-0001 again after 30 s and 3 failed attempts",
        "MQTT link to mqtt://broker:1883 lost or refused: MqttError: lost",
    ]
