"""Which broker the monitor connects to when ``--broker`` is not given.

The coach's own broker settings (:class:`coach.mqtt.broker_config.BrokerSettings`) parse the URL and
take credentials from the environment only. With no ``--broker``, the monitor uses the embedded broker
that a coach on this machine started (its runtime file, :func:`coach.mqtt.embedded_broker.find_running`),
else the local default ``mqtt://127.0.0.1:1883``.
"""

from __future__ import annotations

DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"


def default_broker_url() -> str:
    """The running embedded broker's address, else the local default."""
    from coach.mqtt.embedded_broker import find_running

    return find_running() or DEFAULT_BROKER_URL
