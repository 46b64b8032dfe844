"""Shared pytest fixtures. Private brokers: tests/fixtures/mosquitto.py and tests/fixtures/embedded.py."""

import pytest

from tests.fixtures.embedded import embedded_broker_process
from tests.fixtures.mosquitto import mosquitto, mosquitto_factory

__all__ = ["embedded_broker_process", "mosquitto", "mosquitto_factory"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--snapshot-update",
        action="store_true",
        default=False,
        help="take new golden digests (tests/test_golden_replay.py) instead of comparing with them",
    )
