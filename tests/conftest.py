"""Shared pytest fixtures. Private brokers: tests/fixtures/mosquitto.py and tests/fixtures/embedded.py."""

from tests.fixtures.embedded import embedded_broker_process
from tests.fixtures.mosquitto import mosquitto, mosquitto_factory

__all__ = ["embedded_broker_process", "mosquitto", "mosquitto_factory"]
